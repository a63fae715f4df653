// Stop signals from the first instruction: SIGTERM, SIGINT and SIGHUP at random moments in the
// first 500 ms of `trace execsnoop` (start-up, verification, load, attach, consume). Every
// session_start in the audit log has its session_end, a session stopped before attach is
// "cancelled" with nothing attached, and the exit code is the documented one: 0 for a stop
// signal. The one exception the kernel leaves: a signal that lands before the runtime runs the
// first JavaScript statement ends the process by the default action; then nothing was recorded
// yet, and the test checks exactly that (no session_start from that pid).
import { beforeAll, describe, expect } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { kernelTest } from "../kernel/helpers";
import { assertBuilt, EBPFCTL, isolatedEnv } from "../helpers/trace";

beforeAll(() => assertBuilt());

const SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
const NUMBER = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
type Rec = { event: string; session: string; pid: number; reason?: string; exit_code?: number; signal?: string };

function readLog(path: string): Rec[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, "utf8").trim();
  return text ? text.split("\n").map((l) => JSON.parse(l) as Rec) : [];
}

interface Trial {
  signal: (typeof SIGNALS)[number];
  delayMs: number;
  exitCode: number | null;
  signalCode: string | null;
  records: Rec[];
}

async function trial(signal: (typeof SIGNALS)[number], delayMs: number): Promise<Trial> {
  const env = isolatedEnv();
  const p = Bun.spawn([process.env.EBPFCTL_BIN ?? EBPFCTL, "trace", "execsnoop", "-d", "5", "-o", "json"], { env, stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  await Bun.sleep(delayMs);
  p.kill(signal);
  const killer = setTimeout(() => p.kill("SIGKILL"), 8000);
  await p.exited;
  clearTimeout(killer);
  return { signal, delayMs, exitCode: p.exitCode, signalCode: p.signalCode === null ? null : String(p.signalCode), records: readLog(env.EBPFCTL_AUDIT_LOG!) };
}

describe("stop signals from process start", () => {
  kernelTest(
    "45 trials at random delays 0–500 ms (and 9 after attach), each signal: every session_start has its session_end, exit codes as documented",
    async () => {
      const trials: Trial[] = [];
      // 45 in the first 500 ms (start-up, verification, load), 9 later (after attach, on most runs).
      for (let i = 0; i < 45; i++) trials.push(await trial(SIGNALS[i % 3]!, Math.floor(Math.random() * 500)));
      for (let i = 0; i < 9; i++) trials.push(await trial(SIGNALS[i % 3]!, 1500 + Math.floor(Math.random() * 1000)));
      const problems: string[] = [];
      let cancelled = 0;
      let detached = 0;
      let beforeRuntime = 0;
      for (const t of trials) {
        const label = `${t.signal} at ${t.delayMs} ms`;
        const starts = t.records.filter((r) => r.event === "session_start");
        const ends = t.records.filter((r) => r.event === "session_end");
        for (const s of starts) if (!ends.some((e) => e.session === s.session)) problems.push(`${label}: session ${s.session} has no session_end`);
        if (t.signalCode !== null || t.exitCode === 128 + NUMBER[t.signal]) {
          // Killed by the default action: only acceptable before anything was recorded.
          beforeRuntime++;
          if (starts.length) problems.push(`${label}: died by ${t.signalCode ?? `exit ${t.exitCode}`} after writing session_start`);
          continue;
        }
        if (t.exitCode !== 0) problems.push(`${label}: exit ${t.exitCode}, expected 0`);
        const end = ends[0];
        if (end?.reason === "cancelled") {
          cancelled++;
          expect(end.signal).toBe(t.signal);
          if (t.records.some((r) => r.event === "attached")) problems.push(`${label}: cancelled after an attached record`);
        } else if (t.records.some((r) => r.event === "detached")) {
          detached++;
          const d = t.records.find((r) => r.event === "detached")!;
          if (d.reason !== t.signal) problems.push(`${label}: detached with reason ${d.reason}, expected ${t.signal}`);
        }
      }
      console.log(`signal trials: ${trials.length}; cancelled before attach ${cancelled}, detached after attach ${detached}, before the runtime ran ${beforeRuntime}; problems ${problems.length}`);
      expect(problems).toEqual([]);
      // The window that used to lose session_end (the first ~370 ms) is exercised, not skipped.
      expect(cancelled).toBeGreaterThan(5);
      expect(detached).toBeGreaterThan(0);
    },
    240_000,
  );
});
