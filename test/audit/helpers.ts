import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { AuditLog } from "../../src/audit/audit-log";

export const ROOT = resolve(import.meta.dir, "../..");
export const BUN = join(ROOT, "node_modules/.bin/bun");
export const CLI_ENTRY = join(ROOT, "test/audit/cli-entry.ts");

export const tmp = (prefix = "ebpfctl-audit-") => mkdtempSync(join(tmpdir(), prefix));

/** A log with `n` records from one session; returns its path. */
export function makeLog(n: number, dir = tmp()): string {
  const path = join(dir, "audit.jsonl");
  const log = AuditLog.open({ path, session: "feedc0de00000001" });
  log.append("session_start", { recipe: "execsnoop", user: "alice", uid: 1000 });
  for (let i = 1; i < n - 1; i++) log.append("attached", { program: `p${i}`, target: "sched/sched_process_exec" });
  log.append("session_end", { exit_code: 0, events: 42, drops: 0, duration_ms: 1500 });
  log.close();
  return path;
}

export const lines = (path: string) => readFileSync(path, "utf8").split("\n").slice(0, -1);
export const writeLines = (path: string, ls: string[]) => writeFileSync(path, ls.map((l) => l + "\n").join(""));

/** A prerequisite a test cannot run without: skip locally, but fail under CI=true. */
export function prerequisite(ok: boolean, what: string): boolean {
  if (ok) return true;
  if (process.env.CI === "true") throw new Error(`prerequisite missing under CI: ${what}`);
  console.warn(`skipping: ${what}`);
  return false;
}

export async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn([BUN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1", ...env }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, stdout, stderr };
}
