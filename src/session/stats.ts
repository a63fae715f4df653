// Reads the per-CPU session_stats counters every recipe keeps (bpf/ebpfctl.h: enum session_stat).
import { possibleCpus, type BpfMap } from "../libbpf";
import type { KernelCounts } from "../budget/accounting";

const STAT = { SUBMITTED: 0, DROPPED_RATE: 1, DROPPED_RINGBUF: 2, SAMPLED_OUT: 3 } as const;

export class SessionStatsReader {
  private readonly cpus = possibleCpus();
  private readonly key = new Uint8Array(4);
  private readonly value: Uint8Array;
  private readonly view: DataView;

  constructor(private readonly map: BpfMap) {
    this.value = new Uint8Array(this.cpus * 8);
    this.view = new DataView(this.value.buffer);
  }

  private sum(index: number): number {
    new DataView(this.key.buffer).setUint32(0, index, true);
    if (!this.map.lookup(this.key, this.value)) return 0;
    let total = 0;
    for (let c = 0; c < this.cpus; c++) total += Number(this.view.getBigUint64(c * 8, true));
    return total;
  }

  read(): KernelCounts {
    const submitted = this.sum(STAT.SUBMITTED);
    const droppedRate = this.sum(STAT.DROPPED_RATE);
    const droppedRingbuf = this.sum(STAT.DROPPED_RINGBUF);
    const sampledOut = this.sum(STAT.SAMPLED_OUT);
    // Every event past the filters ends as exactly one outcome (bpf/ebpfctl.h), so the kernel
    // keeps no separate "produced" counter. delivered = submitted is still checked by the session.
    return { produced: submitted + droppedRate + droppedRingbuf + sampledOut, submitted, droppedRate, droppedRingbuf, sampledOut };
  }
}
