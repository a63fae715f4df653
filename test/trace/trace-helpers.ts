// Runs the real CLI as a child process against the real kernel: start a trace, wait until its
// probes are attached (the "attached" lifecycle record on stderr), run a workload with known
// ground truth, then end the trace with SIGINT (which still detaches, drains and snapshots).
// The CLI is the source entry by default; EBPFCTL_TEST_CLI=dist runs dist/ebpfctl instead.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll } from "bun:test";
import { kernelSkipReason, kernelTest } from "../kernel/helpers";

export const ROOT = join(import.meta.dir, "../..");
export const BUN = join(ROOT, "node_modules/.bin/bun");
export const FIXTURES = join(ROOT, "build/fixtures");

export const cli = (): string[] => (process.env.EBPFCTL_TEST_CLI === "dist" ? [join(ROOT, "dist/ebpfctl")] : [BUN, join(ROOT, "src/cli/main.ts")]);

let fixtureError: string | undefined;
/** Build test/fixtures (gcc) once per file; recipe tests also need build/embedded.ts (bash scripts/build). */
export function useFixtures(): void {
  beforeAll(() => {
    const r = Bun.spawnSync(["bash", join(ROOT, "test/fixtures/build.sh")], { stderr: "pipe" });
    if (r.exitCode !== 0) fixtureError = `fixtures did not build: ${r.stderr.toString()}`;
    else if (!existsSync(join(ROOT, "build/embedded.ts"))) fixtureError = "no build/embedded.ts: run bash scripts/build";
  });
}

/** A kernel test (skips locally without root/BTF, fails under CI=true) that also needs the fixtures. */
export function recipeTest(name: string, fn: () => Promise<void>, timeoutMs = 30_000): void {
  kernelTest(
    name,
    async () => {
      if (fixtureError) throw new Error(fixtureError);
      await fn();
    },
    timeoutMs,
  );
}
export { kernelSkipReason };

export interface TraceResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines (when --output json) */
  records: Record<string, unknown>[];
  /** the lifecycle "end" record (JSON mode) */
  end?: { accounting: Record<string, number | boolean | string>; reason: string; exit_code: number };
}

export interface TraceOptions {
  /** Extra settle time after the workload, before SIGINT (lets the last events land). */
  settleMs?: number;
  /** Upper bound for the trace (-d), in seconds; the trace normally ends earlier by SIGINT. */
  maxSeconds?: number;
  json?: boolean;
  /** Extra environment (e.g. EBPFCTL_CONFIG_DIR for a host policy). */
  env?: Record<string, string>;
}

/** Run `ebpfctl trace <args>`; `workload` runs once the probes are attached. */
export async function traceDuring(args: string[], workload: () => Promise<unknown> | unknown, opts: TraceOptions = {}): Promise<TraceResult> {
  const dir = mkdtempSync(join(tmpdir(), "ebpfctl-recipe-test-"));
  const json = opts.json ?? true;
  const argv = [...cli(), "trace", ...args, ...(json ? ["--output", "json"] : []), "-d", String(opts.maxSeconds ?? 20)];
  const p = Bun.spawn(argv, {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1", EBPFCTL_AUDIT_LOG: join(dir, "audit.jsonl"), ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const stdoutP = new Response(p.stdout).text();
  let stderr = "";
  const reader = p.stderr.getReader();
  const decoder = new TextDecoder();
  // Wait for "attached" (JSON: {"kind":"attached"}, table: "attached <recipe> ...").
  const attached = /"kind":"attached"|^attached /m;
  const deadline = Date.now() + 15_000;
  let ok = false;
  while (Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    stderr += decoder.decode(value, { stream: true });
    if (attached.test(stderr)) {
      ok = true;
      break;
    }
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stderr += decoder.decode(value, { stream: true });
    }
  })();
  if (!ok) {
    p.kill("SIGKILL");
    await p.exited;
    await rest;
    throw new Error(`trace ${args.join(" ")} never attached:\n${stderr}`);
  }
  try {
    await workload();
    await Bun.sleep(opts.settleMs ?? 300);
  } finally {
    p.kill("SIGINT");
  }
  const code = await p.exited;
  await rest;
  const stdout = await stdoutP;
  const records = json
    ? stdout
        .split("\n")
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
  const endLine = stderr.split("\n").find((l) => l.startsWith('{"kind":"end"'));
  return { code, stdout, stderr, records, end: endLine ? JSON.parse(endLine) : undefined };
}

/** Run a command to completion; returns its exit code and stdout. */
export async function run(cmd: string[], opts: { stdin?: string } = {}): Promise<{ code: number; stdout: string; pid: number }> {
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "inherit", stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore" });
  const stdout = await new Response(p.stdout).text();
  return { code: await p.exited, stdout, pid: p.pid };
}

/** The accounting identity every session must keep: produced = delivered + dropped + sampled. */
export function expectIdentity(r: TraceResult): void {
  const a = r.end?.accounting;
  if (!a) throw new Error(`no end record:\n${r.stderr}`);
  if (!a.identity_holds) throw new Error(`accounting identity broken: ${JSON.stringify(a)}`);
}

// bpftrace on the same workload (test/trace/oneliner*.test.ts): the same one-liner, its output parsed.
const BPFTRACE = "/usr/bin/bpftrace";

/**
 * bpftrace running `prog` alongside (undefined where it is not installed); stop() ends it (SIGINT)
 * and returns what it printed. userSymbols: let it symbolise user stacks (off by default: it
 * otherwise reads every binary's symbols at start, slowly); settleMs after its "Attaching" line.
 */
export async function startBpftrace(prog: string, opts: { userSymbols?: boolean; settleMs?: number } = {}): Promise<{ stop(): Promise<string> } | undefined> {
  if (!existsSync(BPFTRACE)) return undefined;
  const p = Bun.spawn([BPFTRACE, "-e", prog], { stdout: "pipe", stderr: "pipe", env: { ...process.env, ...(opts.userSymbols ? {} : { BPFTRACE_NO_USER_SYMBOLS: "1" }) } });
  const reader = p.stdout.getReader();
  const dec = new TextDecoder();
  let out = "";
  const deadline = Date.now() + 20_000;
  while (!/Attaching \d+ probes?/.test(out) && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    out += dec.decode(value, { stream: true });
  }
  if (!/Attaching/.test(out)) {
    p.kill("SIGKILL");
    throw new Error(`bpftrace did not attach: ${out}${await new Response(p.stderr).text()}`);
  }
  // bpftrace reports "Attaching" just before it attaches: give it a moment.
  await Bun.sleep(opts.settleMs ?? 500);
  return {
    async stop() {
      p.kill("SIGINT");
      // Bounded: bpftrace that does not exit within 20 s is killed, and the comparison says so.
      const killer = setTimeout(() => p.kill("SIGKILL"), 20_000);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        out += dec.decode(value, { stream: true });
      }
      await p.exited;
      clearTimeout(killer);
      return out;
    },
  };
}

/** "@name[key]: N" lines of either tool. */
export function scalarLines(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of text.split("\n")) {
    const x = /^(@\w*(?:\[.*\])?): (-?\d+)$/.exec(l.trim());
    if (x) m.set(x[1]!, Number(x[2]));
  }
  return m;
}

/** Histogram buckets ("[2, 4)" → count) of either tool's output. */
export function histBuckets(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of text.split("\n")) {
    const x = /^(\[[^\]]*[\])]|\([^)]*\))\s+(\d+) \|/.exec(l);
    if (x && Number(x[2]) > 0) m.set(x[1]!, Number(x[2]));
  }
  return m;
}
