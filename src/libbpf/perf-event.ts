// perf_event_open(2) for sampling programs (the profile recipe): one software cpu-clock event per
// CPU, at a frequency. libc has no wrapper, so it goes through syscall(2) (ffi.ts declares it).
//
// Ownership: a PerfEvent owns its fd until it is attached. libbpf's perf link takes the fd over:
// bpf_link_perf_detach() (libbpf >= 0.5, so 1.1) disables the event and closes perf_event_fd as
// well as the link fd when the link is destroyed. Closing it here too would be a double close
// (and could close an unrelated fd reused in between), so a successful attach hands the fd over
// with `release()`; on a failed attach libbpf leaves the fd alone and we close it.
import { libc, errno } from "./ffi";
import { LibbpfError } from "./error";
import { ClosedHandleError } from "./object";
import type { BpfLink } from "./link";
import type { BpfProgram } from "./object";

const SYS_perf_event_open = 298n; // x86_64
const PERF_TYPE_SOFTWARE = 1;
const PERF_COUNT_SW_CPU_CLOCK = 0;
/** PERF_ATTR_SIZE_VER7 (Linux 5.13+); older kernels accept a bigger size if the tail is zero. */
const ATTR_SIZE = 128;
const ATTR_FREQ = 1n << 10n;
const PERF_FLAG_FD_CLOEXEC = 8n;

export class PerfEvent {
  private fdValue: number;

  private constructor(fd: number, readonly cpu: number, readonly description: string) {
    this.fdValue = fd;
  }

  /** A cpu-clock sampling event on one CPU for every task, firing about freqHz times a second. */
  static openCpuClock(cpu: number, freqHz: number): PerfEvent {
    const attr = new Uint8Array(ATTR_SIZE);
    const dv = new DataView(attr.buffer);
    dv.setUint32(0, PERF_TYPE_SOFTWARE, true); // type
    dv.setUint32(4, ATTR_SIZE, true); // size
    dv.setBigUint64(8, BigInt(PERF_COUNT_SW_CPU_CLOCK), true); // config
    dv.setBigUint64(16, BigInt(freqHz), true); // sample_freq (union with sample_period)
    dv.setBigUint64(40, ATTR_FREQ, true); // flags: freq=1 (enabled from the start: disabled=0)
    const rc = Number(libc.syscall(SYS_perf_event_open, attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
    if (rc < 0) throw new LibbpfError("perf_event_open", errno(), `cpu-clock cpu ${cpu} @ ${freqHz} Hz`);
    return new PerfEvent(rc, cpu, `cpu-clock/cpu${cpu}@${freqHz}Hz`);
  }

  get fd(): number {
    if (this.fdValue < 0) throw new ClosedHandleError(`perf event ${this.description} used after close`);
    return this.fdValue;
  }

  get isOpen(): boolean {
    return this.fdValue >= 0;
  }

  /** Attach a perf_event program; on success the link owns (and will close) the fd. */
  attach(prog: BpfProgram): BpfLink {
    const link = prog.attachPerfEvent(this.fd, this.description);
    this.fdValue = -1; // handed over to the link (bpf_link_perf_detach closes it)
    return link;
  }

  /** Idempotent; a no-op once attached (the link closes the fd). */
  close(): void {
    if (this.fdValue < 0) return;
    const fd = this.fdValue;
    this.fdValue = -1;
    libc.close(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** CPUs listed in a sysfs cpu list such as "0-3,6" (/sys/devices/system/cpu/online). */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(",")) {
    if (!part) continue;
    const [a, b] = part.split("-").map(Number);
    for (let c = a!; c <= (b ?? a!); c++) out.push(c);
  }
  return out;
}
