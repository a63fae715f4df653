// Real sessions as child processes, each test in its own run/config/audit directories.
import { mkdtempSync, readdirSync, readFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const ROOT = resolve(import.meta.dir, "../..");
export const BUN = join(ROOT, "node_modules/.bin/bun");
export const MAIN = join(ROOT, "src/cli/main.ts");

export interface Env {
  dir: string;
  env: Record<string, string>;
  audit: string;
  run: string;
  config: string;
}

export function governanceEnv(): Env {
  const dir = mkdtempSync(join(tmpdir(), "ebpfctl-gov-"));
  chmodSync(dir, 0o755);
  const audit = join(dir, "audit.jsonl");
  const run = join(dir, "run");
  const config = join(dir, "etc");
  return { dir, audit, run, config, env: { ...process.env, NO_COLOR: "1", EBPFCTL_AUDIT_LOG: audit, EBPFCTL_RUN_DIR: run, EBPFCTL_CACHE_DIR: join(dir, "cache"), EBPFCTL_CONFIG_DIR: config } as Record<string, string> };
}

export async function cli(e: Env, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([BUN, MAIN, ...args], { cwd: ROOT, env: e.env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}

export interface Running {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  id: string;
  pid: number;
  stdout: Promise<string>;
  stderr: Promise<string>;
}

/** Start `trace` and wait until its registry entry says running (every probe attached). */
export async function startTrace(e: Env, args: string[], timeoutMs = 15_000): Promise<Running> {
  const proc = Bun.spawn([BUN, MAIN, "trace", ...args, "--output", "json", "--status-interval", "0"], { cwd: ROOT, env: e.env, stdout: "pipe", stderr: "pipe" });
  const stdout = new Response(proc.stdout).text();
  const stderr = new Response(proc.stderr).text();
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    const entry = registry(e).find((x) => x.pid === proc.pid);
    if (entry?.state === "running") return { proc, id: entry.id, pid: proc.pid, stdout, stderr };
    if (proc.exitCode !== null) throw new Error(`trace exited ${proc.exitCode} before attaching: ${await stderr}`);
    await Bun.sleep(25);
  }
  proc.kill("SIGKILL");
  throw new Error(`trace did not attach within ${timeoutMs} ms: ${await stderr}`);
}

export function registry(e: Env): { id: string; pid: number; state: string; prog_ids: number[]; link_ids: number[]; usage: { delivered: number; rate: number; memory: number; cpu_percent: number } | null }[] {
  try {
    return readdirSync(join(e.run, "sessions"))
      .filter((f) => f.endsWith(".json"))
      .flatMap((f) => {
        try {
          return [JSON.parse(readFileSync(join(e.run, "sessions", f), "utf8"))];
        } catch {
          return [];
        }
      });
  } catch {
    return [];
  }
}

export function auditRecords(e: Env): Record<string, unknown>[] {
  try {
    return readFileSync(e.audit, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  } catch {
    return [];
  }
}

/** Make some exec() events. */
export function execs(n = 5): void {
  for (let i = 0; i < n; i++) Bun.spawnSync(["/bin/true"]);
}
