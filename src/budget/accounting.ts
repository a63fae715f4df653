// What a session counts, and the accounting it reports at its end: budget concepts (the monitor
// holds a session to them), shared by the session that fills them and the output that shows them.

/** Counters the BPF side keeps (bpf/ebpfctl.bpf.h), read from the session's stats map. */
export interface KernelCounts {
  produced: number;
  submitted: number;
  droppedRate: number;
  droppedRingbuf: number;
  sampledOut: number;
}

/** The end-of-session accounting: produced = delivered + every drop cause. */
export interface Accounting {
  produced: number;
  delivered: number;
  dropped_rate: number;
  dropped_ringbuf: number;
  sampled_out: number;
  identity_holds: boolean;
  duration_ms: number;
  peak_rate: number;
  mean_rate: number;
  bpf_cpu_ns: number;
  bpf_run_cnt: number;
  cpu_percent: number;
  peak_map_memory: number;
  peak_rss: number;
  output_bytes: number;
  verdict: "complete" | "sampled" | "lossy";
}
