// Feature-probe primitives for src/kernel/features.ts: libbpf's own probes (which only ask whether
// the kernel knows a program type, map type or helper) and the perf_event_open(2) needed to try a
// real perf_event attach. Results are raw (1 / 0 / -errno); the caller decides what they mean.
import { ptr } from "bun:ffi";
import { lib, libc, errno } from "./ffi";

/** enum bpf_prog_type values (linux/bpf.h; UAPI, never renumbered). */
export const BpfProgType = { KPROBE: 2, TRACEPOINT: 5, PERF_EVENT: 7, RAW_TRACEPOINT: 17, TRACING: 26, LSM: 29 } as const;
/** enum bpf_map_type values (linux/bpf.h). */
export const BpfMapType = {
  HASH: 1,
  ARRAY: 2,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  STACK_TRACE: 7,
  LRU_HASH: 9,
  RINGBUF: 27,
} as const;

/** 1 = supported, 0 = not supported, < 0 = -errno (the probe itself failed: inconclusive). */
export function probeProgType(progType: number): number {
  return lib().libbpf_probe_bpf_prog_type(progType, null);
}
export function probeMapType(mapType: number): number {
  return lib().libbpf_probe_bpf_map_type(mapType, null);
}
/** Whether the verifier accepts a call to helper `helperId` from a program of `progType`. */
export function probeHelper(progType: number, helperId: number): number {
  return lib().libbpf_probe_bpf_helper(progType, helperId, null);
}

const PERF_EVENT_OPEN_NR: Partial<Record<string, bigint>> = { x64: 298n, arm64: 241n };
const PERF_ATTR_SIZE = 112; // PERF_ATTR_SIZE_VER5
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_CPU_CLOCK = 0n;
const PERF_FLAG_FD_CLOEXEC = 8n;

/**
 * A disabled software cpu-clock event on one CPU with a 1000 s sample period, for an attach test
 * that can never fire. Returns the fd, or -errno.
 */
export function openQuietPerfEvent(cpu: number): number {
  const nr = PERF_EVENT_OPEN_NR[process.arch];
  if (nr === undefined) return -95; // EOPNOTSUPP: no syscall number known for this architecture
  const attr = new Uint8Array(PERF_ATTR_SIZE);
  const dv = new DataView(attr.buffer);
  dv.setUint32(0, PERF_TYPE_SOFTWARE, true);
  dv.setUint32(4, PERF_ATTR_SIZE, true);
  dv.setBigUint64(8, PERF_COUNT_SW_CPU_CLOCK, true);
  dv.setBigUint64(16, 1_000_000_000_000n, true); // sample_period in ns
  dv.setBigUint64(40, 1n, true); // flags: disabled
  const fd = Number(libc.syscall(nr, ptr(attr), -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
  return fd < 0 ? -errno() : fd;
}

export function closeFd(fd: number): void {
  if (fd >= 0) libc.close(fd);
}
