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

/** Events lost in user space, after the kernel submitted them, by the cause that stopped output. */
export interface OutputLosses {
  /** over --max-output: the output budget was spent, nothing more is written */
  dropped_output_budget: number;
  /** the reader of the output went away (EPIPE, `| head -1`) */
  dropped_reader_closed: number;
  /** a write to the output failed (ENOSPC, EIO…) */
  dropped_write_error: number;
}

/**
 * Why the data is or is not the whole story (README "Data-quality verdict"): complete (every
 * event produced was written), sampled (1-in-N sampling kept a known share), lossy (the kernel
 * dropped events: rate cap, ring buffer or map full — or the identity does not hold), truncated
 * (the output stopped early: budget spent, reader closed or a write failed).
 */
export type Verdict = "complete" | "sampled" | "lossy" | "truncated";

/** The end-of-session accounting: produced = delivered + every drop cause. */
export interface Accounting extends OutputLosses {
  produced: number;
  /** events whose whole line reached the sink (aggregates: counted in a snapshot that was written) */
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
  verdict: Verdict;
}

export const NO_OUTPUT_LOSSES: OutputLosses = { dropped_output_budget: 0, dropped_reader_closed: 0, dropped_write_error: 0 };

/** The identity and the verdict, from the kernel's counts and what reached the output. */
export function verdictOf(a: Pick<Accounting, "produced" | "delivered" | "dropped_rate" | "dropped_ringbuf" | "sampled_out"> & OutputLosses): { identity_holds: boolean; verdict: Verdict } {
  const output = a.dropped_output_budget + a.dropped_reader_closed + a.dropped_write_error;
  const identity_holds = a.produced === a.delivered + a.dropped_rate + a.dropped_ringbuf + a.sampled_out + output;
  const verdict: Verdict = output > 0 ? "truncated" : a.dropped_rate + a.dropped_ringbuf > 0 || !identity_holds ? "lossy" : a.sampled_out > 0 ? "sampled" : "complete";
  return { identity_holds, verdict };
}
