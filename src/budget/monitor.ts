// Holds a running session to its budgets. Called from the session loop (every ≤50 ms); the
// cheap checks (duration, output) run every call, the kernel reads (rate, CPU, memory) once a
// second. Returns the first breach; the session detaches on it.
import type { BpfMap, BpfProgram } from "../libbpf";
import type { Budgets, BudgetName } from "./budgets";
import { BPF_MAP_TYPE_RINGBUF, mapMemlock, processMemory, processRss } from "./memory";
import { NO_OUTPUT_LOSSES, verdictOf, type Accounting, type KernelCounts, type OutputLosses } from "./accounting";

export interface Breach {
  budget: BudgetName;
  observed: number;
  limit: number;
  detectedAt?: number;
}

interface MonitorContext {
  maps: BpfMap[];
  programs: { prog: BpfProgram; entryNs: number }[];
  attachedAt: number;
  /**
   * The ring buffer this process maps and reads, if any: its pages are in the RSS (so its memlock
   * is not added again), and its data pages twice (mapped twice for wrap-around reads).
   */
  mappedRing?: { fd: number; size: number };
  sampling: "drop" | "sample" | "detach";
  setSampleEvery(n: number): void;
}

const INTERVAL_MS = 1000;
/**
 * The resident set is also read this often between the once-a-second ticks (statm, a few µs):
 * VmHWM cannot tell a burst within the second once the start-up peak is higher, and resetting it
 * (clear_refs) would hide the process's real peak from getrusage and /usr/bin/time.
 */
const RSS_SAMPLE_MS = 20;
/** A rate or CPU excess must last this many consecutive intervals to count as sustained. */
const SUSTAINED = 2;

export class BudgetMonitor {
  lastRate = 0;
  private lastTick: number;
  private lastCounts: KernelCounts = { produced: 0, submitted: 0, droppedRate: 0, droppedRingbuf: 0, sampledOut: 0 };
  private lastBpfNs = 0;
  private lastCpu = process.cpuUsage();
  /** VmHWM at the last sample: a rise means a new peak in the last interval, which the budget counts. */
  private lastHwm = processMemory().peak;
  /** The highest RSS read between two ticks. */
  private burstRss = 0;
  private nextRssSample = 0;
  private rateExcess = 0;
  private cpuExcess = 0;
  private sampleEvery = 1;
  private peakRate = 0;
  private peakMapMemory = 0;
  private peakRss = 0;
  private bpfNs = 0;
  private bpfRunCnt = 0;
  private cpuPercent = 0;
  private cpuTotalMs = 0;
  private memoryNow = 0;
  private outputNow = 0;

  constructor(private readonly budgets: Budgets, private readonly ctx: MonitorContext) {
    this.lastTick = ctx.attachedAt;
    this.sampleMemory();
  }

  /** `readCounts` is called only on the once-a-second tick (reading them costs bpf syscalls). */
  check(now: number, readCounts: () => KernelCounts, outputBytes: number): Breach | undefined {
    this.outputNow = outputBytes;
    const elapsed = now - this.ctx.attachedAt;
    if (elapsed > this.budgets.max_duration) return { budget: "max_duration", observed: Math.round(elapsed), limit: this.budgets.max_duration, detectedAt: now };
    if (outputBytes > this.budgets.max_output) return { budget: "max_output", observed: outputBytes, limit: this.budgets.max_output, detectedAt: now };
    if (now >= this.nextRssSample) {
      this.burstRss = Math.max(this.burstRss, processRss());
      this.nextRssSample = now + RSS_SAMPLE_MS;
    }
    if (now - this.lastTick < INTERVAL_MS) return undefined;
    const counts = readCounts();

    const dt = (now - this.lastTick) / 1000;
    this.lastTick = now;
    const offered = (counts.produced - this.lastCounts.produced) / dt;
    const rateDropped = counts.droppedRate - this.lastCounts.droppedRate;
    this.lastRate = (counts.submitted - this.lastCounts.submitted) / dt;
    this.peakRate = Math.max(this.peakRate, this.lastRate);
    this.lastCounts = counts;

    // Rate: the kernel already caps it; a sustained excess triggers the recipe's declared action.
    this.rateExcess = rateDropped > 0 ? this.rateExcess + 1 : 0;
    if (this.rateExcess >= SUSTAINED) {
      if (this.ctx.sampling === "detach") return { budget: "max_rate", observed: Math.round(offered), limit: this.budgets.max_rate, detectedAt: now };
      if (this.ctx.sampling === "sample") {
        const n = Math.max(2, Math.ceil((offered * this.sampleEvery) / this.budgets.max_rate));
        if (n !== this.sampleEvery) {
          this.sampleEvery = n;
          this.ctx.setSampleEvery(n);
        }
      }
    }

    // CPU: BPF run time (+ per-hit entry cost) in the traced tasks, plus this process's own CPU.
    let bpfNs = 0;
    let runCnt = 0;
    for (const { prog, entryNs } of this.ctx.programs) {
      const i = prog.info();
      bpfNs += Number(i.runTimeNs) + Number(i.runCnt) * entryNs;
      runCnt += Number(i.runCnt);
    }
    const cpu = process.cpuUsage(this.lastCpu);
    this.lastCpu = process.cpuUsage();
    const procNs = (cpu.user + cpu.system) * 1000;
    const pct = ((bpfNs - this.lastBpfNs + procNs) / (dt * 1e9)) * 100;
    this.lastBpfNs = bpfNs;
    this.bpfNs = bpfNs;
    this.bpfRunCnt = runCnt;
    this.cpuPercent = pct;
    this.cpuTotalMs += procNs / 1e6;
    this.cpuExcess = pct > this.budgets.max_cpu ? this.cpuExcess + 1 : 0;
    if (this.cpuExcess >= SUSTAINED) return { budget: "max_cpu", observed: +pct.toFixed(2), limit: this.budgets.max_cpu, detectedAt: now };

    const mem = this.sampleMemory();
    if (mem > this.budgets.max_memory) return { budget: "max_memory", observed: mem, limit: this.budgets.max_memory, detectedAt: now };
    return undefined;
  }

  /**
   * The whole process's resident memory (symbol indexes, decode buffers, the runtime itself) plus
   * kernel memory pinned by maps that are not mapped into it (the read ring's pages are in the RSS
   * already, and counted once although mapped twice). The RSS counted is the highest of: now, the
   * RSS read every RSS_SAMPLE_MS since the last tick, and the high-water mark if it rose since then.
   * So a burst that came and went within the second is not missed, even when the start-up peak is
   * higher. The start-up peak before attach is not held to the budget; peak_rss (VmHWM) reports it.
   */
  private sampleMemory(): number {
    let maps = 0;
    let unmapped = 0;
    for (const m of this.ctx.maps) {
      const b = mapMemlock(m.fd);
      maps += b;
      if (!(m.type === BPF_MAP_TYPE_RINGBUF && m.fd === this.ctx.mappedRing?.fd)) unmapped += b;
    }
    const { rss, peak } = processMemory();
    const resident = Math.max(peak > this.lastHwm ? peak : rss, this.burstRss);
    this.lastHwm = peak;
    this.burstRss = 0;
    this.peakMapMemory = Math.max(this.peakMapMemory, maps);
    this.peakRss = Math.max(this.peakRss, peak);
    this.memoryNow = unmapped + Math.max(0, resident - (this.ctx.mappedRing?.size ?? 0));
    return this.memoryNow;
  }

  /** The real peak at the end (VmHWM once more: the last interval is not missed). */
  private finalPeakRss(): number {
    return Math.max(this.peakRss, processMemory().peak);
  }

  usage(): Record<BudgetName, number> {
    return {
      max_duration: performance.now() - this.ctx.attachedAt,
      max_rate: this.lastRate,
      max_memory: this.memoryNow,
      max_cpu: this.cpuPercent,
      max_output: this.outputNow,
    };
  }

  accounting(counts: KernelCounts, delivered: number, durationMs: number, outputBytes: number, losses: OutputLosses = NO_OUTPUT_LOSSES): Accounting {
    let bpfNs = 0;
    let runCnt = 0;
    for (const { prog } of this.ctx.programs) {
      try {
        const i = prog.info();
        bpfNs += Number(i.runTimeNs);
        runCnt += Number(i.runCnt);
      } catch {
        bpfNs = this.bpfNs;
        runCnt = this.bpfRunCnt;
      }
    }
    const seconds = Math.max(durationMs / 1000, 1e-3);
    return {
      produced: counts.produced,
      delivered,
      dropped_rate: counts.droppedRate,
      dropped_ringbuf: counts.droppedRingbuf,
      sampled_out: counts.sampledOut,
      ...losses,
      ...verdictOf({ produced: counts.produced, delivered, dropped_rate: counts.droppedRate, dropped_ringbuf: counts.droppedRingbuf, sampled_out: counts.sampledOut, ...losses }),
      duration_ms: Math.round(durationMs),
      peak_rate: Math.round(Math.max(this.peakRate, delivered / seconds)),
      mean_rate: Math.round(delivered / seconds),
      bpf_cpu_ns: bpfNs,
      bpf_run_cnt: runCnt,
      cpu_percent: +(((bpfNs + this.cpuTotalMs * 1e6) / (seconds * 1e9)) * 100).toFixed(3),
      peak_map_memory: this.peakMapMemory,
      peak_rss: this.finalPeakRss(),
      output_bytes: outputBytes,
    };
  }
}
