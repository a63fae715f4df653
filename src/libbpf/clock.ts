// CLOCK_MONOTONIC, the clock bpf_ktime_get_ns() reads. Bun's process.hrtime and performance.now
// count from process start, so they cannot place a kernel timestamp on the wall clock.
import { libc } from "./ffi";

const CLOCK_MONOTONIC = 1;
const ts = new BigInt64Array(2);

/** Nanoseconds of CLOCK_MONOTONIC (time since boot, without suspend). */
export function monotonicNs(): bigint {
  libc.clock_gettime(CLOCK_MONOTONIC, ts);
  return ts[0]! * 1_000_000_000n + ts[1]!;
}
