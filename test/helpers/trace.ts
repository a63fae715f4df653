// Drives the real compiled binary (dist/ebpfctl) as a child process, the way an SRE or a script
// does: events on stdout, lifecycle JSON records on stderr.
import { spawn, type Subprocess } from "bun";
import { mkdtempSync, existsSync } from "node:fs";
import { join } from "node:path";

export const repoRoot = new URL("../../", import.meta.url).pathname;
export const EBPFCTL = join(repoRoot, "dist/ebpfctl");
export const FIXTURES = join(repoRoot, "build/fixtures");

export function tempDir(prefix = "ebpfctl-t-"): string {
  return mkdtempSync(join("/tmp", prefix));
}

/** Environment isolating a test: its own audit log, run dir and cache dir. */
export function isolatedEnv(extra: Record<string, string> = {}): Record<string, string> {
  const dir = tempDir();
  return {
    ...(process.env as Record<string, string>),
    EBPFCTL_AUDIT_LOG: join(dir, "audit.jsonl"),
    EBPFCTL_RUN_DIR: join(dir, "run"),
    EBPFCTL_CACHE_DIR: join(dir, "cache"),
    NO_COLOR: "1",
    ...extra,
  };
}

export interface LifecycleRecord {
  kind: string;
  [k: string]: unknown;
}

export class TraceProcess {
  readonly proc: Subprocess<"ignore", "pipe", "pipe">;
  stdout = "";
  stderr = "";
  private waiters: { kind: string; resolve: (r: LifecycleRecord) => void }[] = [];
  readonly exited: Promise<number>;

  constructor(args: string[], env: Record<string, string>, opts: { cwd?: string; bin?: string } = {}) {
    const proc = spawn([opts.bin ?? EBPFCTL, ...args], { env, cwd: opts.cwd ?? "/", stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.proc = proc;
    const stdoutDone = this.pump(proc.stdout, (s) => (this.stdout += s));
    const stderrDone = this.pump(proc.stderr, (s) => {
      this.stderr += s;
      this.notify();
    });
    this.exited = (async () => {
      const code = await proc.exited;
      await Promise.all([stdoutDone, stderrDone]);
      return code;
    })();
  }

  private async pump(stream: ReadableStream<Uint8Array>, sink: (s: string) => void): Promise<void> {
    const dec = new TextDecoder();
    for await (const chunk of stream) sink(dec.decode(chunk, { stream: true }));
  }

  records(): LifecycleRecord[] {
    return this.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as LifecycleRecord);
  }

  events<T = Record<string, unknown>>(): T[] {
    return this.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as T);
  }

  private notify(): void {
    const recs = this.records();
    this.waiters = this.waiters.filter((w) => {
      const r = recs.find((x) => x.kind === w.kind);
      if (r) w.resolve(r);
      return !r;
    });
  }

  /** Resolves with the first lifecycle record of this kind (JSON mode), rejects if the process ends first. */
  waitFor(kind: string, timeoutMs = 15_000): Promise<LifecycleRecord> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no "${kind}" record within ${timeoutMs} ms; stderr:\n${this.stderr}`)), timeoutMs);
      this.waiters.push({
        kind,
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
      });
      this.notify();
      this.exited.then(() => {
        clearTimeout(t);
        reject(new Error(`exited before "${kind}"; stderr:\n${this.stderr}`));
      });
    });
  }
}

export function trace(args: string[], env = isolatedEnv(), opts: { cwd?: string; bin?: string } = {}): TraceProcess {
  return new TraceProcess(["trace", ...args], env, opts);
}

/** Runs to completion; returns exit code and both streams. */
export async function ebpfctl(args: string[], env = isolatedEnv(), opts: { cwd?: string; bin?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = new TraceProcess(args, env, opts);
  const code = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}

/** Whether the kernel still has this BPF program / link (bpftool asks the bpf syscall). */
export function progExists(id: number): boolean {
  return Bun.spawnSync(["bpftool", "prog", "show", "id", String(id)], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}
export function linkExists(id: number): boolean {
  return Bun.spawnSync(["bpftool", "link", "show", "id", String(id)], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
}

/** Polls until none of the ids exist (the kernel frees programs asynchronously after close). */
export async function waitGone(progIds: number[], linkIds: number[], timeoutMs = 3000): Promise<{ progs: number[]; links: number[] }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const progs = progIds.filter(progExists);
    const links = linkIds.filter(linkExists);
    if ((!progs.length && !links.length) || Date.now() > end) return { progs, links };
    await Bun.sleep(50);
  }
}

export function assertBuilt(): void {
  if (!existsSync(EBPFCTL)) throw new Error(`${EBPFCTL} is missing: run "npm test" (it builds first) or "bash scripts/build"`);
  if (!existsSync(join(FIXTURES, "open_storm"))) {
    const r = Bun.spawnSync(["bash", join(repoRoot, "test/fixtures/build.sh")]);
    if (r.exitCode !== 0) throw new Error(`building test fixtures failed: ${r.stderr}`);
  }
}

export function attachedIds(rec: LifecycleRecord): { progs: number[]; links: number[] } {
  const links = rec.links as { link_id: number; prog_id: number }[];
  return { progs: links.map((l) => l.prog_id), links: links.map((l) => l.link_id) };
}

/** Ids of programs loaded since `before` whose names are among `names` (other activity on the host is ignored). */
export function newProgramsNamed(before: Set<number>, names: string[]): number[] {
  const r = Bun.spawnSync(["bpftool", "prog", "show", "-j"]);
  const progs = JSON.parse(r.stdout.toString() || "[]") as { id: number; name?: string }[];
  return progs.filter((p) => !before.has(p.id) && p.name !== undefined && names.some((n) => n.startsWith(p.name!))).map((p) => p.id);
}
