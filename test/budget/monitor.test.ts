// The memory budget sees a burst that comes and goes between two once-a-second ticks, even when
// the process's start-up peak (VmHWM before attach) is higher than the burst. Ground truth is
// /proc/self/status of this very process: the test makes the peak and the burst itself.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BudgetMonitor } from "../../src/budget/monitor";

const MiB = 1 << 20;
const statusKb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync("/proc/self/status", "utf8"))![1]) * 1024;
const zeroCounts = () => ({ produced: 0, submitted: 0, droppedRate: 0, droppedRingbuf: 0, sampledOut: 0 });

/** Touches `bytes` of fresh memory, keeps it for `holdMs` while `during` runs, then frees it. */
function burst(bytes: number, holdMs: number, during: () => void): number {
  const held: Buffer[] = [Buffer.alloc(bytes, 1)];
  const seen = statusKb("VmRSS");
  const end = performance.now() + holdMs;
  while (performance.now() < end) {
    during();
    Bun.sleepSync(5);
  }
  held.length = 0;
  Bun.gc(true);
  return seen;
}

test("a memory burst between two ticks breaches the budget although the start-up peak was higher", () => {
  // The start-up peak: 320 MiB touched and released before "attach".
  burst(320 * MiB, 0, () => {});
  const baseline = statusKb("VmRSS");
  expect(statusKb("VmHWM") - baseline).toBeGreaterThan(250 * MiB);

  const limit = baseline + 100 * MiB;
  const attachedAt = performance.now();
  const monitor = new BudgetMonitor(
    { max_duration: 60_000, max_rate: 1e6, max_memory: limit, max_cpu: 10_000, max_output: 1 << 30 },
    { maps: [], programs: [], attachedAt, sampling: "drop", setSampleEvery: () => {} },
  );
  // Between ticks: 200 MiB held for 150 ms while the session loop calls check() as it does after
  // each batch, then released before the tick.
  const inBurst = burst(200 * MiB, 150, () => expect(monitor.check(performance.now(), zeroCounts, 0)).toBeUndefined());
  expect(inBurst).toBeGreaterThan(limit);
  expect(statusKb("VmRSS")).toBeLessThan(limit);
  expect(statusKb("VmHWM")).toBeGreaterThan(inBurst); // the high-water mark did not rise: only sampling sees the burst

  const breach = monitor.check(attachedAt + 1500, zeroCounts, 0);
  expect(breach?.budget).toBe("max_memory");
  expect(breach!.observed).toBeGreaterThan(limit);
  expect(breach!.observed).toBeLessThanOrEqual(statusKb("VmHWM"));
});

test("a tick after a quiet second counts the RSS of that second, not an earlier burst", () => {
  const baseline = statusKb("VmRSS");
  const limit = baseline + 100 * MiB;
  const attachedAt = performance.now();
  const monitor = new BudgetMonitor(
    { max_duration: 60_000, max_rate: 1e6, max_memory: limit, max_cpu: 10_000, max_output: 1 << 30 },
    { maps: [], programs: [], attachedAt, sampling: "drop", setSampleEvery: () => {} },
  );
  burst(200 * MiB, 100, () => monitor.check(performance.now(), zeroCounts, 0));
  expect(monitor.check(attachedAt + 1100, zeroCounts, 0)?.budget).toBe("max_memory");
  // The next second is quiet: no breach carried over.
  expect(monitor.check(attachedAt + 2200, zeroCounts, 0)).toBeUndefined();
});
