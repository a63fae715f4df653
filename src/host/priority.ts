// The consumer yields the CPU to the traced workload. On Linux nice is per thread, and Bun starts
// its helper threads (garbage collector, I/O) before any of our code runs, so every thread of the
// process is reniced, not only the caller. Measured (docs/benchmarks.md): at ~1.5 M events/s on
// 2 vCPUs the collector's threads preempted the workload and added ~150 ns to each of its calls.
import { readdirSync } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { usageError } from "../errors";

/**
 * Raise every thread's nice value to at least `nice` (lowering is never attempted: it needs
 * privilege). Returns the threads changed. A thread started during a pass by one not yet reniced
 * would start at the old value: passes repeat until one changes nothing (new threads inherit).
 */
export function yieldCpu(nice: number): number {
  let changed = 0;
  for (let pass = 0; pass < 5; pass++) {
    let now = 0;
    for (const name of readdirSync("/proc/self/task")) {
      const tid = Number(name);
      try {
        if (getPriority(tid) >= nice) continue;
        setPriority(tid, nice);
        now++;
      } catch {
        // The thread exited between the listing and the call.
      }
    }
    changed += now;
    if (now === 0) break;
  }
  return changed;
}

/** Parses --nice: an integer 0..19. */
export function parseNice(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || n > 19) throw usageError(`--nice: expected an integer from 0 to 19, got "${v}"`);
  return n;
}
