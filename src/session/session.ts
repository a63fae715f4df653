// One tracing session: open → configure → load → attach → consume → enforce → detach.
// Every kernel resource is owned by exactly one object and released on every path (normal end,
// error, signal, breach, kill switch) through a DisposableStack, in reverse order of creation.
import { randomBytes } from "node:crypto";
import {
  BpfLink,
  BpfObject,
  BpfStatsHandle,
  EventReader,
  shedExecutablePages,
  LoadError,
  captureLibbpfLog,
  drainLibbpfLog,
  RingBufferReader,
  type BpfMap,
  type BpfProgram,
} from "../libbpf";
import { EbpfctlError, ExitCode, SessionCancelled } from "../errors";
import { onStopSignal, pendingStopSignal, signalCheckpoint } from "../early-signals";
import type { Alternative, Probe } from "../recipe/manifest";
import type { VerifiedRecipe } from "../recipe/verified";
import type { Budgets, BudgetName } from "../budget/budgets";
import { BudgetMonitor, type Breach } from "../budget/monitor";
import { SessionStatsReader } from "./stats";
import { NO_OUTPUT_LOSSES, type Accounting, type KernelCounts, type OutputLosses } from "../budget/accounting";
import { attachAlternative, HOOK_ENTRY_NS, KernelAttachRefused, type AttachContext } from "./attach";
import { verifierError } from "../verifier/verifier-report";
import type { ParameterValues } from "../recipe/params";
import { OutputClosedError, OutputWriteError, type EventRenderer, type EventSink } from "./event-sink";
import type { CoreBtfCache } from "../kernel/core-btf";
import { loadSessionObjects, setBssVar, type LoadedObject, type SessionLoads } from "./object-loader";
import { AlternativeFailed, attachFailure, describeFailure, fallBack, loadFailure, type AlternativeFailure } from "./variant-fallback";

export interface ProbeChoice {
  probe: Probe;
  alternative: Alternative;
  /** index of the alternative in the probe's preference order (0 = preferred) */
  index: number;
}

export type EndReason = "completed" | "SIGINT" | "SIGTERM" | "SIGHUP" | "breach" | "kill-switch" | "output-closed" | "error";

export interface SessionHooks {
  /** Audit record; throws if it cannot be written. Durable when it returns, except "loaded", which beforeAttach() makes durable. */
  record(event: string, fields: Record<string, unknown>): void;
  /** Lifecycle message for the user (stderr). */
  lifecycle(kind: string, fields: Record<string, unknown>): void;
  /** Periodic status (about once a second). */
  status?(s: SessionStatus): void;
  /** Set `reason` when the session must stop from outside (kill switch, ebpfctl stop). */
  externalStop?: { reason: EndReason | undefined; detail?: string };
  /** Runs once every probe is attached, before the `attached` record (e.g. drop capabilities). Returns fields for that record. */
  afterAttach?(): Record<string, unknown>;
  /** Called once before the first attach: the audit log makes its deferred records durable. */
  beforeAttach?(): void;
  /** About once a second whatever statusIntervalMs is (live-session registry). */
  heartbeat?(s: SessionStatus): void;
  /** An alternative was refused at run time and the session moves on to `next` (before it loads). */
  fallback?(failure: AlternativeFailure, next: ProbeChoice): void;
}

export interface SessionPlan {
  recipe: VerifiedRecipe;
  params: ParameterValues;
  budgets: Budgets;
  choices: ProbeChoice[];
  /** Stop normally after this many ms (-d). */
  durationMs?: number;
  sink: EventSink;
  renderer?: EventRenderer;
  attach?: Omit<AttachContext, "params">;
  /** Aggregation recipes: called at intervals and at the end with the loaded object. */
  aggregate?: {
    intervalMs?: number;
    snapshot(obj: BpfObject, final: boolean): string[];
    /** Called with performance.now() once every probe is attached: the first interval starts there. */
    attached?(at: number): void;
    /** False when the last snapshot only passed on messages, not the counts (profile between intervals). Default true. */
    lastSnapshotHadData?(): boolean;
  };
  sessionId?: string;
  /** Status interval; the loop itself wakes at least every 50 ms. */
  statusIntervalMs?: number;
  /** Keep 1 event in N from the start (--profile reduced); rate-breach sampling never goes below it. */
  sampleEvery?: number;
  /** False on a kernel without fetching atomics (the atomic_fetch feature): see libbpf/fetch-atomics.ts. */
  fetchAtomics?: boolean;
  /** This kernel's minimised BTF for the object and programs: used if cached, made after detach if not. */
  coreBtf?: CoreBtfCache;
  /** Per probe, every alternative the kernel supports in preference order: where a refused choice falls back. */
  fallbacks?: Map<string, ProbeChoice[]>;
  /** Per probe, why the alternatives the kernel lacks were not tried (named when none works). */
  unsupported?: Map<string, string[]>;
  /** Whole .rodata variables (a one-liner's compiled tables), written before load. */
  rodataBytes?: Record<string, Uint8Array>;
  /**
   * One load per choice instead of one for all (a one-liner that tells tracepoints apart on a
   * kernel without the attach cookie): each load's .rodata, by choice; loads after the first share its maps.
   */
  perAttachmentRodata?: Record<string, Uint8Array>[];
  /** Map sizes for this run over the manifest's (a one-liner's stack map). */
  mapEntries?: Record<string, number>;
}

export interface SessionStatus {
  elapsedMs: number;
  /** When the session ends by itself (-d), from attach; the duration budget bounds it either way. */
  endMs?: number;
  rate: number;
  counts: KernelCounts & { delivered: number };
  usage: Record<BudgetName, number>;
  budgets: Budgets;
}


export interface SessionResult {
  sessionId: string;
  reason: EndReason;
  breach?: Breach;
  accounting: Accounting;
  exitCode: number;
  error?: EbpfctlError;
  /** Alternatives the kernel refused at run time, in order, before the ones that ran. */
  fallbacks?: AlternativeFailure[];
}

const POLL_MS = 50;
/**
 * Records rendered per ring round before they are written: what the consumer holds is bounded by
 * this (~1 MiB of lines for opensnoop), whatever the rate. One unbounded round at the rate ceiling
 * never emptied the ring and kept every line of it in memory (214 MB RSS at 150k opens/s).
 */
const BATCH_RECORDS = 4096;
/** A collection after every batch: what the heap holds stays about one batch (bench-stream's CPU figures). */
const GC_EVERY_RECORDS = BATCH_RECORDS;
/** How often, under a backlog, clean pages of the executable are shed again (resident.ts). */
const SHED_MS = 250;

interface Attempt {
  obj: BpfObject;
  loaded: LoadedObject;
  programs: { choice: ProbeChoice; prog: BpfProgram }[];
  statsReader: SessionStatsReader;
  reader: RingBufferReader | undefined;
  links: BpfLink[];
  /** The maps the loads after the first own (their .rodata tables; the rest are the first's). */
  otherLoadsMaps: BpfMap[];
}

export class TraceSession {
  readonly id: string;
  private reason: EndReason | undefined;

  constructor(private readonly plan: SessionPlan, private readonly hooks: SessionHooks) {
    this.id = plan.sessionId ?? randomBytes(8).toString("hex");
  }

  async run(): Promise<SessionResult> {
    const { plan, hooks } = this;
    const manifest = plan.recipe.manifest;
    using stack = new DisposableStack();
    // Stop signals are caught from process start (src/early-signals.ts); one that came before
    // this session existed counts too.
    this.reason ??= pendingStopSignal();
    stack.defer(onStopSignal((sig) => {
      this.reason ??= sig;
    }));

    // libbpf's own messages are kept, not spilled onto the terminal; warnings become lifecycle records.
    captureLibbpfLog();
    drainLibbpfLog();
    const libbpfWarnings = () => {
      for (const l of drainLibbpfLog()) if (l.level === "warn") hooks.lifecycle("warning", { source: "libbpf", message: l.text.replace(/^libbpf: /, "").trim() });
    };

    // 3. Statistics on for the session (closing the fd turns them off).
    let stats: BpfStatsHandle | undefined;
    try {
      stats = stack.use(BpfStatsHandle.enable());
    } catch {
      hooks.lifecycle("warning", { message: "BPF run-time statistics unavailable; CPU budget counts only this process" });
    }

    // 1-2, 4. Open, configure, load, attach; a refused alternative falls back to the next one the
    // kernel supports (variant-fallback.ts), each attempt's resources released before the next.
    // Set once output stops early (budget spent, reader gone, write failed): the events the kernel
    // submitted but that never reached the sink are then counted under that cause, not as delivered.
    let outputStopped: keyof OutputLosses | undefined;
    // delivered counts events whose whole line reached the sink (not events decoded): the sink
    // says how many lines of a batch it wrote, and the batch's leading header lines are no events.
    let delivered = 0;
    let pending: string[] = [];
    let pendingHeader = 0;
    let choices = plan.choices;
    const failures: AlternativeFailure[] = [];
    let attempt: Attempt;
    for (;;) {
      const own = new DisposableStack();
      try {
        attempt = await this.loadAndAttach(choices, failures.length ? { ...plan, coreBtf: undefined } : plan, own, libbpfWarnings, (line) => {
          if (!outputStopped) pending.push(line);
        }, (lines) => {
          pending.push(...lines);
          pendingHeader = pending.length;
        });
        stack.use(own.move());
        break;
      } catch (e) {
        own.dispose();
        pending = [];
        pendingHeader = 0;
        if (!(e instanceof AlternativeFailed)) throw e;
        failures.push(e.failure);
        const next = fallBack(manifest.name, choices, plan.fallbacks ?? new Map(), e, failures, plan.unsupported ?? new Map());
        hooks.fallback?.(e.failure, next.find((c) => c.probe.name === e.failure.probe)!);
        choices = next;
      }
    }
    const { obj, loaded, programs, statsReader, reader, links, otherLoadsMaps } = attempt;
    libbpfWarnings();
    // The CO-RE BTF cache for the next run is built now, on a miss only: it runs bpftool, and once
    // afterAttach has dropped privileges the seccomp filter denies exec (docs/least-privilege.md).
    const coreBtfBuild = loaded.coreBtfReference ? plan.coreBtf!.build(plan.recipe.object, loaded.coreBtfReference) : undefined;
    const extra = hooks.afterAttach?.() ?? {};
    const attachedFields = {
      ...extra,
      links: links.map((l) => ({ link_id: l.info.id || null, prog_id: l.info.progId, program: l.program, attach_type: l.info.type, ...(l.info.attachedBy !== "bpf_link" ? { attached_by: l.info.attachedBy } : {}), target: l.target })),
    };
    hooks.record("attached", { ...attachedFields, ...(failures.length ? { fallbacks: failures.map(describeFailure) } : {}) });
    hooks.lifecycle("attached", { session: this.id, recipe: manifest.name, probes: choices.map((c) => `${c.probe.name}:${c.alternative.type}`), ...(failures.length ? { fallbacks: failures } : {}), ...attachedFields });
    // Start-up is over: its garbage (BTF, verification) is collected and its pages of the
    // executable need not stay resident while we stream (resident.ts).
    Bun.gc(true);
    shedExecutablePages();
    const attachedAt = performance.now();
    plan.aggregate?.attached?.(attachedAt);

    // 4. Consume and enforce.
    const monitor = new BudgetMonitor(plan.budgets, {
      maps: [...obj.maps(), ...otherLoadsMaps],
      // One program attached several times (a one-liner's tracepoints) is counted once.
      programs: programs.filter((p, i) => programs.findIndex((q) => q.prog === p.prog) === i).map(({ choice, prog }) => ({ prog, entryNs: HOOK_ENTRY_NS[choice.alternative.type] })),
      attachedAt,
      // The ring this process reads: in the RSS already, its data pages twice (wrap-around reads).
      ...(reader && manifest.event ? { mappedRing: { fd: obj.map(manifest.event.ringbuf).fd, size: obj.map(manifest.event.ringbuf).maxEntries } } : {}),
      sampling: manifest.budgets.on_rate_breach,
      setSampleEvery: (n) => setBssVar(obj, "sample_every", Math.max(n, plan.sampleEvery ?? 1)),
    });

    let breach: Breach | undefined;
    let error: EbpfctlError | undefined;
    const deadline = plan.durationMs !== undefined ? attachedAt + plan.durationMs : undefined;
    const wrote = (lines: number) => {
      delivered += Math.max(0, lines - pendingHeader);
      pendingHeader = Math.max(0, pendingHeader - lines);
    };
    const flush = (): boolean => {
      if (outputStopped) {
        pending = [];
        return false;
      }
      if (!pending.length) return true;
      const lines = pending;
      pending = [];
      try {
        const n = plan.sink.writeLines(lines);
        wrote(n);
        if (n < lines.length) {
          breach ??= { budget: "max_output", observed: plan.sink.bytesWritten + lines.slice(n).reduce((a, l) => a + Buffer.byteLength(l) + 1, 0), limit: plan.budgets.max_output };
          outputStopped = "dropped_output_budget";
          return false;
        }
      } catch (e) {
        if (e instanceof OutputClosedError) {
          wrote(e.linesWritten);
          this.reason ??= "output-closed";
          outputStopped = "dropped_reader_closed";
          return false;
        }
        if (e instanceof OutputWriteError) {
          wrote(e.linesWritten);
          error ??= e;
          this.reason ??= "error";
          outputStopped = "dropped_write_error";
          return false;
        }
        throw e;
      }
      return true;
    };
    // Aggregates: delivered is what the kernel had counted when the last snapshot with the
    // counts was written whole (the final one, normally).
    let aggregateDelivered = 0;
    const flushSnapshot = (final: boolean): boolean => {
      pending.push(...plan.aggregate!.snapshot(obj, final));
      const hadData = final || (plan.aggregate!.lastSnapshotHadData?.() ?? true);
      const submitted = hadData ? statsReader.read().submitted : 0;
      if (!flush()) return false;
      if (hadData) aggregateDelivered = submitted;
      return true;
    };
    let nextSnapshot = plan.aggregate?.intervalMs ? attachedAt + plan.aggregate.intervalMs : Infinity;
    let nextStatus = attachedAt + (plan.statusIntervalMs ?? 1000);
    let nextHeartbeat = attachedAt + 1000;
    let backlog = false;
    let deliveredAtGc = 0;
    let nextShed = attachedAt;

    try {
      while (!this.reason && !breach) {
        const now = performance.now();
        if (deadline !== undefined && now >= deadline) {
          this.reason = "completed";
          break;
        }
        const wait = Math.max(0, Math.min(POLL_MS, (deadline ?? Infinity) - now, nextSnapshot - now));
        // A full batch means more is pending: write it and come straight back (no wait).
        if (reader) backlog = reader.poll(backlog ? 0 : Math.ceil(wait), BATCH_RECORDS) >= BATCH_RECORDS;
        else Bun.sleepSync(Math.ceil(wait));
        if (!flush()) break;
        // Every event leaves an object and strings behind; left to its own pacing the GC let the
        // heap grow by ~70 MB in a few seconds at the rate ceiling. A collection every few batches
        // keeps it bounded (its cost is in bench-stream's end-to-end figures).
        if (delivered - deliveredAtGc >= GC_EVERY_RECORDS) {
          Bun.gc(true);
          deliveredAtGc = delivered;
        }
        const t = performance.now();
        // Under a storm the runtime faults in code it used once (GC, JIT tiers); shed it again
        // every SHED_MS while events flow, so the whole-process memory the budget counts stays flat.
        if (backlog && t >= nextShed) {
          shedExecutablePages();
          nextShed = t + SHED_MS;
        }
        if (plan.aggregate && t >= nextSnapshot) {
          nextSnapshot += plan.aggregate.intervalMs!;
          if (!flushSnapshot(false)) break;
        }
        // The kernel counters (a bpf syscall per counter) are read only when something uses them:
        // the monitor's once-a-second tick, a status record or the heartbeat.
        let counts: KernelCounts | undefined;
        const readCounts = () => (counts ??= statsReader.read());
        breach = monitor.check(t, readCounts, plan.sink.bytesWritten);
        if (breach) break;
        if (t >= nextStatus) {
          hooks.status?.({ elapsedMs: t - attachedAt, endMs: plan.durationMs, rate: monitor.lastRate, counts: { ...readCounts(), delivered }, usage: monitor.usage(), budgets: plan.budgets });
          nextStatus = t + (plan.statusIntervalMs ?? 1000);
        }
        if (hooks.heartbeat && t >= nextHeartbeat) {
          hooks.heartbeat({ elapsedMs: t - attachedAt, rate: monitor.lastRate, counts: { ...readCounts(), delivered }, usage: monitor.usage(), budgets: plan.budgets });
          nextHeartbeat = t + 1000;
        }
        const ext = hooks.externalStop?.reason;
        if (ext) this.reason = ext;
        // Let signal handlers and watchers run between polls.
        await new Promise<void>((r) => setImmediate(r));
      }
    } catch (e) {
      error ??= e instanceof EbpfctlError ? e : new EbpfctlError("EBPFCTL-E0000", `session failed: ${(e as Error).message}`, ExitCode.INTERNAL);
      this.reason = "error";
    }

    // 5. Detach first, then account: no probe outlives the decision to stop.
    const reason: EndReason = breach ? "breach" : (this.reason ?? "completed");
    const stopAt = performance.now();
    const detach = BpfLink.closeAll(links.splice(0));
    const detachedAt = stopAt + detach.disabledMs;
    stats?.close();
    const detachTimes = {
      // From the decision to stop: no probe fires after detach_ms; the kernel released every link at release_ms.
      detach_ms: +(detachedAt - (breach?.detectedAt ?? stopAt)).toFixed(1),
      release_ms: +(stopAt + detach.releasedMs - (breach?.detectedAt ?? stopAt)).toFixed(1),
    };
    if (breach) hooks.lifecycle("budget_breach", { budget: breach.budget, observed: breach.observed, limit: breach.limit, ...detachTimes });
    try {
      if (breach) hooks.record("budget_breach", { budget: breach.budget, observed: breach.observed, limit: breach.limit });
      hooks.record("detached", { reason: reason === "breach" ? "breach" : reason, detail: breach?.budget ?? hooks.externalStop?.detail ?? error?.message, ...detachTimes });
    } catch (e) {
      error ??= e as EbpfctlError;
    }
    const breachBeforeDrain = breach;
    // Final drain: everything submitted before detach is written, batch by batch, unless output
    // already stopped (then the ring is not even decoded: what is left counts under that cause).
    if (reader && !outputStopped) {
      for (;;) {
        const n = reader.consume(BATCH_RECORDS);
        flush();
        if (n < BATCH_RECORDS || outputStopped) break;
      }
    }
    if (plan.aggregate && !outputStopped) flushSnapshot(true);
    // The last lines did not fit the output budget (everything was already detached): still said.
    if (breach && !breachBeforeDrain) {
      hooks.lifecycle("budget_breach", { budget: breach.budget, observed: breach.observed, limit: breach.limit, after_detach: true });
      try {
        hooks.record("budget_breach", { budget: breach.budget, observed: breach.observed, limit: breach.limit, after_detach: true });
      } catch (e) {
        error ??= e as EbpfctlError;
      }
    }
    const counts = statsReader.read();
    if (manifest.kind === "aggregate") delivered = aggregateDelivered;
    // Submitted by the kernel but never written whole: the cause that stopped the output owns them.
    const losses: OutputLosses = { ...NO_OUTPUT_LOSSES };
    if (outputStopped) losses[outputStopped] = Math.max(0, counts.submitted - delivered);
    const accounting = monitor.accounting(counts, delivered, detachedAt - attachedAt, plan.sink.bytesWritten, losses);
    // The next run's cheaper load (built right after attach, recorded now).
    if (coreBtfBuild && !error) {
      try {
        hooks.record("core_btf", { ...coreBtfBuild });
      } catch (e) {
        error ??= e as EbpfctlError;
      }
    }
    return {
      sessionId: this.id,
      reason,
      breach,
      accounting,
      error,
      ...(failures.length ? { fallbacks: failures } : {}),
      exitCode: error ? error.exitCode : breach ? ExitCode.BUDGET_BREACH : reason === "kill-switch" ? ExitCode.KILL_SWITCH : ExitCode.OK,
    };
  }

  /** One attempt: load `choices`, record `loaded`, make the consumer, attach every probe. Everything goes on `own`. */
  private async loadAndAttach(choices: ProbeChoice[], plan: SessionPlan, own: DisposableStack, libbpfWarnings: () => void, onLine: (line: string) => void, onHeader: (lines: string[]) => void): Promise<Attempt> {
    const { hooks } = this;
    const manifest = plan.recipe.manifest;
    const names = choices.map((c) => c.alternative.program);
    let loads: SessionLoads;
    try {
      loads = loadSessionObjects({ ...plan, programs: names }, names, plan.perAttachmentRodata, own);
    } catch (e) {
      throw loadFailure(e, manifest.name, choices) ?? (e instanceof LoadError ? verifierError(manifest.name, e.program, e.errno, e.verifierLog) : e);
    }
    const { loaded, objects, otherLoadsMaps, estimate } = loads;
    const { obj } = loaded;
    libbpfWarnings();
    const programs = choices.map((c, i) => ({ choice: c, prog: objects[i]!.program(c.alternative.program) }));
    hooks.record("loaded", {
      programs: programs.filter((p, i) => programs.findIndex((q) => q.prog === p.prog) === i).map(({ prog }) => {
        const i = prog.info();
        return { name: prog.name, prog_id: i.id, type: i.type, verified_insns: i.verifiedInsns };
      }),
      map_memory_estimate: estimate,
      core_btf: loaded.coreBtf,
      ...(loaded.coreBtfFallback ? { core_btf_fallback: loaded.coreBtfFallback } : {}),
    });

    // The consumer exists before the first probe fires: events that arrive while the attached
    // record is written are drained by the first poll, not dropped by a ring that filled meanwhile.
    // Loading is done: shed the start-up pages of the executable before the ring's pages join the resident set.
    shedExecutablePages();
    const statsReader = new SessionStatsReader(obj.map("session_stats"));
    let reader: RingBufferReader | undefined;
    if (manifest.kind === "stream") {
      const ev = manifest.event!;
      const decoder = new EventReader(obj.btf(), ev.struct, Object.fromEntries(Object.entries(ev.strings ?? {}).map(([k, v]) => [k, { lengthField: v.length_field }])));
      const renderer = plan.renderer!;
      onHeader(renderer.header());
      // -o json: the line straight from the record when the renderer can generate it, else decode + render.
      const direct = renderer.recordLine?.(decoder);
      const line = direct && decoder.reading(direct);
      reader = own.use(new RingBufferReader(obj.map(ev.ringbuf), line ? (p, size) => onLine(line(p, size)) : (p, size) => onLine(renderer.render(decoder.decode(p, size)))));
    }

    // Last look before the first probe: a signal that arrived while loading (synchronous work, so
    // its handler has not run yet) ends the session here, with nothing attached.
    await signalCheckpoint();
    if (this.reason === "SIGINT" || this.reason === "SIGTERM" || this.reason === "SIGHUP") throw new SessionCancelled(this.reason, "while loading");
    hooks.beforeAttach?.();
    const links: BpfLink[] = [];
    own.defer(() => BpfLink.closeAll(links.splice(0)));
    for (const { choice, prog } of programs) {
      try {
        links.push(...attachAlternative(prog, choice.alternative, { params: plan.params, ...plan.attach }));
      } catch (e) {
        // Only the kernel's refusal moves on to another alternative; a target the user got wrong is reported as it is.
        if (!(e instanceof KernelAttachRefused)) throw e;
        throw attachFailure(e, choice, e.errno);
      }
    }
    return { obj, loaded, programs, statsReader, reader, links, otherLoadsMaps };
  }
}

export type { Breach };
