// The `trace` use case end to end, callable without the CLI:
// audit open (fail closed) → session_start → verify recipe → parameters and budgets → kernel
// profile (compat record) → session → session_end and summary.
import { EbpfctlError, ExitCode, SessionCancelled, asEbpfctlError, parameterInvalid } from "../errors";
import { claimStopSignals, signalCheckpoint } from "../early-signals";
import { cgroupId } from "../kernel/cgroup";
import { AuditLog, newSessionId } from "../audit/audit-log";
import { invokingUser } from "../audit/sessions";
import { loadVerifiedRecipe, setTrustDecisionHook } from "../recipe/trust";
import { loadPolicy } from "../recipe/policy";
import { resolveBudgets, type BudgetFlags } from "../budget/budgets";
import { parseDuration } from "../units";
import { kernelFeatures } from "../kernel/features";
import { mayLoadTracing, readKernelFacts } from "../kernel/facts";
import { selectProfile, compatRecord, featuresNeeded } from "../kernel/profile";
import { VariantOutcomes, type VariantOutcome } from "../kernel/variant-outcomes";
import { describeFailure, fallbackPlan } from "../session/variant-fallback";
import { CoreBtfCache, kernelImageId, moduleBtfDigest } from "../kernel/core-btf";
import { cacheDir } from "../host/host-paths";
import { OutputSink } from "../output/sink";
import { JsonLinesRenderer, TableRenderer, bootToWallOffsetMs } from "../output/event-renderer";
import { LifecycleReporter } from "../output/lifecycle";
import { resolveParameters } from "../recipe/params";
import { TraceSession, type ProbeChoice, type SessionResult } from "../session/session";
import { binarySha256, versionReport } from "../forensics/version-report";
import { aggregatePlan, type AggregateOptions } from "../output/aggregate";
import { attachHelpers } from "../session/attach-helpers";
import type { VerifiedRecipe } from "../recipe/verified";
import { cannotDropEveryThread, killSwitchEngaged, notRoot, usageError } from "../errors";
import { usdtNeedsCookie } from "../oneliner/errors";
import { isPositionIndependent } from "../symbols/usdt-notes";
import { KillSwitchWatcher, describeKillSwitch, readKillSwitch } from "../host/kill-switch";
import { SessionRegistration } from "../host/registry";
import { releaseHostBudget, reserveHostBudget } from "../host/host-budget";
import { canDropOnEveryThread, dropPrivileges, unionOfEffective } from "../host/privileges";
import { parseNice, yieldCpu } from "../host/priority";
import { Kallsyms } from "../symbols/kallsyms";
import { reducedProfile, type ReducedProfile } from "../session/reduced-profile";
import { checkModeFlags, type OutputFormat } from "./mode-flags";
import { OpenMetricsWriter } from "../output/openmetrics";
import type { Column } from "../recipe/manifest";
import { checkedCost, compileForHost, describeCost, oneLinerChoices, oneLinerDuration, oneLinerMapEntries, oneLinerParams } from "./oneliner";
import { attachCpuClock } from "../session/attach-helpers";
import { oneLoadPerTracepoint, perAttachmentRodata, rodataOf, type CompiledOneLiner } from "../oneliner/compile";
import { oneLinerMapPlan, oneLinerPrintfRenderer } from "../output/oneliner-maps";
import { oneLinerMetricsPlan } from "../output/oneliner-metrics";

/**
 * Records on the way to the first attach are fsync'd together by the flush just before it (one
 * fsync instead of six; docs/benchmarks.md). A refusal's records are fsync'd as they are written,
 * which also makes everything deferred before them durable.
 */
const DEFER = { defer: true } as const;

export const recipeUnsupported = (recipe: string, reasons: string[]) =>
  new EbpfctlError("EBPFCTL-E0602", `${recipe} cannot run on this kernel: ${reasons.join("; ")}`, ExitCode.UNSUPPORTED, "run ebpfctl doctor for the evidence");

export interface TraceRequest {
  recipe?: string;
  recipeFile?: string;
  allowUnsigned?: boolean;
  params: Record<string, string | boolean | undefined>;
  budgets: BudgetFlags;
  output: OutputFormat;
  /** -T: a TIME column first (stream recipes). */
  timestamp?: boolean;
  outputFile?: string;
  auditLogPath: string;
  auditSyslog?: boolean;
  /** Status records: interval (e.g. "5s"); "0" turns them off. */
  statusInterval?: string;
  aggregate?: AggregateOptions;
  argv: string[];
  /** "reduced": sampling plus optional probes dropped (highest cost first). */
  profile?: "full" | "reduced";
  /** Keep 1 event in N under --profile reduced (default 10). */
  sampleEvery?: number;
  /** --nice: the nice value every thread takes once attached (default 10). */
  nice?: string;
  /** -e: a one-liner, compiled to the tables of a signed generic recipe (src/oneliner). */
  oneliner?: string;
}

export interface TraceIO {
  stderr: NodeJS.WritableStream;
  stderrIsTTY: boolean;
  color: boolean;
}

export async function runTrace(req: TraceRequest, io: TraceIO): Promise<number> {
  const session = newSessionId();
  const json = req.output === "json";
  const life = new LifecycleReporter(io.stderr, { json, color: io.color, tty: io.stderrIsTTY, session, recipe: req.recipe ?? null });
  try {
    return await traceSteps(req, io, session, life);
  } catch (e) {
    // JSON mode: the error is a record on stderr and an `end` record follows, whatever the path.
    if (!json) throw e;
    const err = asEbpfctlError(e);
    if (!life.hasEnded) {
      life.error(err);
      life.refusedEnd(err);
    }
    return err.exitCode;
  } finally {
    life.close();
  }
}

async function traceSteps(req: TraceRequest, io: TraceIO, session: string, life: LifecycleReporter): Promise<number> {
  const json = req.output === "json";
  const recipeLabel = req.recipe ?? req.recipeFile ?? (req.oneliner !== undefined ? "oneliner" : "?");
  // From here a stop signal is remembered, not fatal: the session it interrupts still gets its
  // session_end (cancelled before attach; detached with the signal as reason after).
  claimStopSignals();

  // Fail closed: nothing is verified or loaded unless the audit log takes records.
  let policy: ReturnType<typeof loadPolicy> | undefined;
  let policyError: unknown;
  try {
    policy = loadPolicy();
  } catch (e) {
    policyError = e;
  }
  const audit = AuditLog.open({ path: req.auditLogPath, session, syslog: Boolean(req.auditSyslog || policy?.audit_syslog) });
  try {
    const user = invokingUser();
    audit.append("session_start", {
      recipe: recipeLabel,
      user: user.user,
      uid: process.getuid?.() ?? -1,
      euid: process.geteuid?.() ?? -1,
      loginuid: readLoginUid(),
      sudo_user: process.env.SUDO_USER ?? null,
      tty: ttyName(),
      argv: req.argv,
      cwd: process.cwd(),
      version: versionReport().version,
      binary_sha256: binarySha256(),
      parameters: Object.fromEntries(Object.entries(req.params).filter(([, v]) => v !== undefined && v !== false)),
    }, DEFER);
    const refuse = (e: unknown, recorded = false): never => {
      const err = asEbpfctlError(e);
      if (!recorded) audit.append("refused", { recipe: recipeLabel, reason: err.message, code: err.code });
      audit.append("session_end", { exit_code: err.exitCode, events: 0, drops: 0, duration_ms: 0, refused: true });
      throw err;
    };
    // Fail closed on space: the records that must follow an attach (attached … session_end) get
    // their disk blocks now, before anything is verified, loaded or attached (src/audit/reserve.ts).
    try {
      audit.reserveForAttach();
    } catch (e) {
      refuse(e);
    }
    // A stop signal before attach ends the session "cancelled", with its session_end.
    const cancel = (e: SessionCancelled): number => {
      audit.append("cancelled", { recipe: recipeLabel, signal: e.signal, stage: e.stage });
      audit.append("session_end", { exit_code: e.exitCode, reason: "cancelled", signal: e.signal, events: 0, drops: 0, duration_ms: 0 });
      life.info("cancelled", e.message, { signal: e.signal, stage: e.stage });
      return e.exitCode;
    };
    const checkpoint = async (stage: string): Promise<SessionCancelled | undefined> => {
      const sig = await signalCheckpoint();
      return sig ? new SessionCancelled(sig, stage) : undefined;
    };
    let stop = await checkpoint("before the recipe was verified");
    if (stop) return cancel(stop);
    if (policyError) refuse(policyError);
    // The kill switch (host-wide, or this recipe's own) refuses before anything is verified or loaded.
    const engaged = readKillSwitch(req.recipe);
    if (engaged) refuse(killSwitchEngaged(describeKillSwitch(engaged)));

    // A one-liner is compiled (policy, tracepoints, fields) before anything is verified or loaded.
    let oneliner: CompiledOneLiner | undefined;
    if (req.oneliner !== undefined) {
      try {
        oneliner = compileForHost(req.oneliner, policy!);
      } catch (e) {
        return refuse(e);
      }
    }

    // Trust decisions (refusals, unsigned runs) land in the audit log as they happen.
    let trustRecorded = false;
    setTrustDecisionHook((d) => {
      trustRecorded = d.event === "refused";
      audit.append(d.event, { recipe: recipeLabel, reason: d.reason, file: d.file });
    });
    let recipe: VerifiedRecipe;
    try {
      recipe = loadVerifiedRecipe({ name: oneliner?.recipe ?? req.recipe, file: req.recipeFile }, { allowUnsigned: req.allowUnsigned });
    } catch (e) {
      return refuse(e, trustRecorded);
    } finally {
      setTrustDecisionHook(undefined);
    }
    const manifest = recipe.manifest;
    if ((stop = await checkpoint("after the recipe was verified"))) return cancel(stop);
    life.setRecipe(manifest.name);
    // A --recipe-file names its recipe only once verified: its own switch refuses it here.
    const recipeSwitch = manifest.name !== req.recipe ? readKillSwitch(manifest.name) : undefined;
    if (recipeSwitch) return refuse(killSwitchEngaged(describeKillSwitch(recipeSwitch)));
    audit.append("recipe_verified", {
      recipe: manifest.name,
      version: manifest.version,
      object_sha256: recipe.objectSha256,
      key: recipe.signer?.keyId ?? null,
      trusted_comment: recipe.signer?.trustedComment ?? null,
      origin: recipe.source.origin,
    }, DEFER);

    let params, budgets, durationMs: number | undefined, statusMs: number, nice: number;
    let endedBy: string | undefined;
    try {
      nice = parseNice(req.nice ?? "10");
      checkModeFlags(manifest, { ...req.aggregate, timestamp: req.timestamp, output: req.output });
      if (req.output === "openmetrics" && !req.outputFile) throw usageError("-o openmetrics needs --output-file PATH", "e.g. --output-file /var/lib/prometheus/node-exporter/ebpfctl_runqlat.prom -i 15s (node_exporter's textfile directory)");
      if (req.output === "openmetrics" && oneliner?.analysed.action.kind === "map" && oneliner.analysed.action.keys.some((k) => k.stack)) throw usageError("-o openmetrics: a stack key (kstack, ustack) is not a metric label", "use -o json, or the table, for stacks");
      params = resolveParameters(manifest, withCgroupId(manifest, { ...req.params, ...(oneliner ? oneLinerParams(oneliner) : {}) }));
      budgets = resolveBudgets(manifest, req.budgets);
      durationMs = req.budgets.durationSeconds !== undefined ? parseDuration(req.budgets.durationSeconds) : undefined;
      if (oneliner) ({ durationMs, endedBy } = oneLinerDuration(oneliner, durationMs));
      statusMs = req.statusInterval !== undefined ? parseStatusInterval(req.statusInterval) : io.stderrIsTTY && !json ? 1000 : 5000;
    } catch (e) {
      return refuse(e);
    }
    if (oneliner) {
      // Its text, compiled tables and worst-case cost are recorded (and refused if too costly) before load.
      let cost;
      try {
        cost = checkedCost(oneliner, manifest, budgets);
      } catch (e) {
        audit.append("oneliner", { text: oneliner.text, tables: oneliner.tables }, DEFER);
        return refuse(e);
      }
      audit.append("oneliner", { text: oneliner.text, tables: oneliner.tables, cost }, DEFER);
      life.info("cost", describeCost(cost), { cost });
    }

    if (recipe.signer) life.info("verified", `${manifest.name} ${manifest.version} signed by key ${recipe.signer.keyId}`, { recipe: manifest.name, key: recipe.signer.keyId, trusted_comment: recipe.signer.trustedComment });
    else life.warn("unsigned", `${manifest.name} is unsigned; running because --allow-unsigned and the host policy allow it`);

    // Kernel reality: pick each probe's variant from what this kernel really does.
    const facts = readKernelFacts();
    // A missing privilege is the kernel refusing (exit 5), not a kernel without the feature (9):
    // without CAP_BPF+CAP_PERFMON every feature probe is refused, so say so before probing.
    if (!mayLoadTracing(facts)) return refuse(notRoot());
    // Fail closed on least privilege too: refuse before loading if no thread but the main one
    // could be made unprivileged after attach.
    if (!canDropOnEveryThread()) return refuse(cannotDropEveryThread());
    // Only what this recipe's alternatives need: a first run after boot probes those, not everything.
    const features = kernelFeatures({ facts, only: [...featuresNeeded(manifest), "atomic_fetch", ...(oneliner ? ["bpf_get_attach_cookie"] : [])] });
    // Tracepoints whose entries differ, or that one load would tell apart by a cookie this kernel
    // lacks (before 5.15): one load each, with its own entry and probe id, the maps shared.
    const perAttachment = Boolean(oneliner && oneLoadPerTracepoint(oneliner, features.features.bpf_get_attach_cookie?.status !== "no"));
    if (oneliner && features.features.bpf_get_attach_cookie?.status === "no") {
      if (oneliner.target?.kind === "usdt" && isPositionIndependent(oneliner.target.binary)) return refuse(usdtNeedsCookie(oneliner.target.binary));
    }
    // What this kernel image's verifier already refused at run time is skipped from the start.
    const outcomes = new VariantOutcomes({ image: kernelImageId(facts), kernel: facts.release, dir: cacheDir() });
    const refusedNow = new Map<string, VariantOutcome>();
    // A generic program's verdict depends on its table (one-liner), not only on the object and the
    // kernel: what another table got is neither remembered nor recalled for it.
    const refused = (alt: { program: string }) => refusedNow.get(alt.program) ?? (oneliner ? undefined : outcomes.refusal(recipe.objectSha256, alt.program));
    const selection = selectProfile(manifest, features, refused);
    const compat = compatRecord(manifest, facts, features, selection);
    audit.append("compat", compat as unknown as Record<string, unknown>, DEFER);
    life.compat(compat);
    if (selection.profile === "disabled") return refuse(recipeUnsupported(manifest.name, selection.reasons));
    let choices: ProbeChoice[] = selection.probes
      .filter((p) => p.chosen)
      .map((p) => ({ probe: manifest.probes.find((x) => x.name === p.name)!, alternative: p.chosen!, index: p.chosenIndex }));
    const { fallbacks, unsupported } = fallbackPlan(manifest, features, selection);
    const perTracepoint = oneliner && !oneliner.profileHz && choices[0] ? oneLinerChoices(oneliner, choices[0], perAttachment) : undefined;
    if (perTracepoint) choices = perTracepoint.choices;
    let reduced: ReducedProfile | undefined;
    if (req.profile === "reduced") {
      reduced = reducedProfile(manifest, choices, req.sampleEvery);
      choices = reduced.choices;
      audit.append("profile", { profile: "reduced", sample_every: reduced.sampleEvery, dropped_probes: reduced.dropped }, DEFER);
      life.info("profile", `reduced profile: keeping 1 event in ${reduced.sampleEvery}${reduced.dropped.length ? `; dropped optional probes ${reduced.dropped.map((d) => `${d.probe} (cost ${d.cost ?? "?"})`).join(", ")}` : ""}`, { profile: "reduced", sample_every: reduced.sampleEvery, dropped_probes: reduced.dropped });
    }

    if ((stop = await checkpoint("before anything was loaded"))) return cancel(stop);
    // Host governance: a share of the host budget, a live-session entry and a kill-switch watch,
    // all before anything loads; all released on every path below.
    using governance = new DisposableStack();
    try {
      const r = reserveHostBudget({ session, recipe: manifest.name, budgets }, policy!.host);
      governance.defer(() => releaseHostBudget(session));
      audit.append("host_budget", {
        reserved: { memory: r.reservation.memory, rate: r.reservation.rate, cpu: r.reservation.cpu },
        in_use: r.before,
        ceilings: policy!.host,
        ...(r.reclaimed.length ? { reclaimed: r.reclaimed.map((x) => ({ session: x.session, pid: x.pid, recipe: x.recipe })) } : {}),
      }, DEFER);
    } catch (e) {
      return refuse(e);
    }
    const registration = governance.use(
      new SessionRegistration({ id: session, recipe: manifest.name, user: user.user, uid: user.uid, started: new Date().toISOString(), profile: reduced ? "reduced" : "full", limits: budgets }),
    );
    const externalStop: { reason: "kill-switch" | undefined; detail?: string } = { reason: undefined };
    governance.use(
      new KillSwitchWatcher((s) => {
        const lag = Date.now() - Date.parse(s.at);
        externalStop.detail = `${describeKillSwitch(s)}${Number.isFinite(lag) ? ` (seen ${lag} ms after it was engaged)` : ""}`;
        externalStop.reason = "kill-switch";
      }, manifest.name),
    );
    if (externalStop.reason) return refuse(killSwitchEngaged(externalStop.detail!));

    // openmetrics: the file is rewritten whole at each snapshot (atomically), not appended to.
    const metrics = req.output === "openmetrics" ? new OpenMetricsWriter(manifest, req.outputFile!) : undefined;
    let sink: OutputSink;
    try {
      sink = new OutputSink(metrics ? undefined : req.outputFile, budgets.max_output);
    } catch (e) {
      const c = (e as NodeJS.ErrnoException).code;
      return refuse(usageError(`--output-file ${req.outputFile}: ${c === "EEXIST" || c === "ELOOP" ? "is a symbolic link; refusing to follow it" : (e as Error).message}`, "name a new file, or a regular file of yours to overwrite"));
    }
    // Events and the live status line share the terminal: lift the status line around each write.
    if (!req.outputFile && io.stderrIsTTY && !json && (process.stdout as { isTTY?: boolean }).isTTY) {
      sink.around = { before: () => life.clearStatus(), after: () => life.redrawStatus() };
    }
    const bootToWall = bootToWallOffsetMs();
    const stdoutTTY = Boolean((process.stdout as { isTTY?: boolean }).isTTY);
    const columns: Column[] = req.timestamp ? [{ field: "ts_ns", header: "TIME", format: "ns_ts" }, ...manifest.columns] : manifest.columns;
    const renderer = oneliner && manifest.kind === "stream" ? oneLinerPrintfRenderer(oneliner, json, { recipe: manifest.name, session }) : manifest.kind === "stream" ? (json ? new JsonLinesRenderer(manifest.columns, bootToWall, { recipe: manifest.name, session }) : new TableRenderer(columns, bootToWall, io.color && !req.outputFile && stdoutTTY, !req.outputFile && stdoutTTY ? () => (process.stdout as { columns?: number }).columns ?? 0 : undefined)) : undefined;
    let result: SessionResult;
    try {
      let aggregate = manifest.kind === "aggregate" ? aggregatePlan(manifest, params, { ...req.aggregate, json: json || Boolean(metrics), session, maxMemory: budgets.max_memory }) : undefined;
      if (oneliner && aggregate) aggregate = metrics ? oneLinerMetricsPlan(oneliner, req.outputFile!, aggregate.intervalMs) : oneLinerMapPlan(oneliner, { json, intervalMs: aggregate.intervalMs, recipe: manifest.name, session });
      else if (aggregate && metrics) {
        const plan = aggregate;
        aggregate = { ...plan, snapshot: (obj, final) => (metrics.update(plan.snapshot(obj, final)), []) };
      }
      const ts = new TraceSession(
        {
          recipe,
          params,
          budgets,
          choices,
          durationMs,
          sink,
          renderer,
          sessionId: session,
          statusIntervalMs: statusMs > 0 ? statusMs : Infinity,
          attach: {
            ...attachHelpers(manifest, params),
            ...(perTracepoint ? { tracepointCookies: perTracepoint.cookies } : {}),
            ...(oneliner?.target?.kind === "usdt" ? { usdtProbe: { provider: oneliner.target.provider, name: oneliner.target.name } } : {}),
            // profile:hz:N: cpu-clock events on every online CPU at N Hz, as the profile recipe's.
            ...(oneliner?.profileHz ? { attachPerfEvents: (prog: Parameters<typeof attachCpuClock>[0]) => attachCpuClock(prog, oneliner.profileHz!) } : {}),
          },
          ...(oneliner ? { rodataBytes: rodataOf(oneliner), mapEntries: oneLinerMapEntries(oneliner, manifest) } : {}),
          ...(oneliner && perAttachment ? { perAttachmentRodata: perAttachmentRodata(oneliner) } : {}),
          aggregate,
          sampleEvery: reduced?.sampleEvery,
          // Unknown counts as present: the verifier then decides, as for everything else.
          fetchAtomics: features.features.atomic_fetch?.status !== "no",
          fallbacks,
          unsupported,
          coreBtf: new CoreBtfCache(cacheDir(), {
            kernel: facts.release,
            image: kernelImageId(facts),
            moduleBtf: moduleBtfDigest(facts.btf.moduleNames),
            objectSha256: recipe.objectSha256,
            programs: choices.map((c) => c.alternative.program),
          }),
        },
        {
          record: (event, fields) => {
            audit.append(event, fields, event === "loaded" ? DEFER : {});
            // The live-session entry carries the kernel ids `ebpfctl stop` verifies are gone.
            if (event === "loaded") registration.update({ prog_ids: (fields.programs as { prog_id: number }[]).map((p) => p.prog_id) });
            if (event === "attached") registration.update({ state: "running", link_ids: (fields.links as { link_id: number | null }[]).flatMap((l) => (l.link_id ? [l.link_id] : [])) });
            if (event === "detached") registration.update({ state: "stopping" });
          },
          lifecycle: (kind, fields) => life.event(kind, fields),
          fallback: (failure, next) => {
            const outcome = { status: failure.stage === "load" ? "rejected" : "attach_failed", stage: failure.stage, reason: failure.reason, ...(failure.log ? { log: failure.log } : {}) } as const;
            if (failure.kernelCaused) {
              refusedNow.set(failure.program, { ...outcome, at: new Date().toISOString() });
              if (!oneliner) outcomes.remember(recipe.objectSha256, failure.program, outcome);
            }
            const revised = compatRecord(manifest, facts, features, selectProfile(manifest, features, refused));
            audit.append("fallback", { ...failure, next: { program: next.alternative.program, type: next.alternative.type, ...(next.alternative.target ? { target: next.alternative.target } : {}) }, remembered: failure.kernelCaused && !oneliner });
            audit.append("compat", { ...revised, revised: true } as unknown as Record<string, unknown>);
            life.event("fallback", { ...failure, failed: describeFailure(failure), next: `${next.alternative.type}${next.alternative.target ? ` ${next.alternative.target}` : ""} (${next.alternative.program})` });
          },
          beforeAttach: () => audit.flush(),
          status: statusMs > 0 ? (s) => life.status(s) : undefined,
          externalStop,
          afterAttach: () => {
            // Least privilege: every link exists; nothing left needs a capability. Kernel stack
            // symbols are read first: /proc/kallsyms hides addresses from a reader without CAP_SYSLOG.
            if (manifest.aggregate?.render === "stacks") {
              try {
                Kallsyms.load();
              } catch {
                /* symbolisation reports its own problem later */
              }
            }
            // (profile keeps CAP_SYS_PTRACE: reading /proc/PID/maps to symbolise user stacks.)
            // Before the drop: renicing the other threads is refused without CAP_SYS_NICE afterwards.
            yieldCpu(nice);
            const caps = dropPrivileges(aggregate?.keepCapabilities);
            registration.update({ capabilities: unionOfEffective(caps.threads) });
            return { capabilities: caps, nice };
          },
          heartbeat: (s) =>
            registration.update({
              usage: {
                elapsed_ms: Math.round(s.elapsedMs),
                rate: Math.round(s.rate),
                memory: s.usage.max_memory,
                cpu_percent: +s.usage.max_cpu.toFixed(3),
                output_bytes: s.usage.max_output,
                produced: s.counts.produced,
                delivered: s.counts.delivered,
                dropped: s.counts.droppedRate + s.counts.droppedRingbuf,
                sampled_out: s.counts.sampledOut,
              },
            }),
        },
      );
      result = await ts.run();
    } catch (e) {
      // Everything the session owned is closed by now (its DisposableStack ran): report after detach.
      if (e instanceof SessionCancelled) return cancel(e);
      const err = asEbpfctlError(e);
      life.clearStatus();
      try {
        audit.append("detached", { reason: "error", detail: err.message });
      } catch {
        /* the audit failure itself is what we report */
      }
      return refuse(err);
    } finally {
      sink.close();
    }
    life.clearStatus();
    const a = result.accounting;
    audit.append("session_end", {
      exit_code: result.exitCode,
      reason: result.reason,
      events: a.delivered,
      drops: a.dropped_rate + a.dropped_ringbuf + a.dropped_output_budget + a.dropped_reader_closed + a.dropped_write_error,
      duration_ms: a.duration_ms,
      ...(endedBy && result.reason === "completed" ? { ended_by: endedBy } : {}),
      accounting: a,
      ...(result.breach ? { breach: result.breach } : {}),
    });
    if (result.error) life.error(asEbpfctlError(result.error));
    // Who engaged the kill switch and why, not only "ended: kill-switch".
    if (result.reason === "kill-switch" && externalStop.detail) life.warn("kill_switch", `stopped by the host kill switch: ${externalStop.detail}`, { detail: externalStop.detail });
    life.summary(manifest.name, result, endedBy && result.reason === "completed" ? endedBy : undefined);
    if (result.error) throw result.error;
    return result.exitCode;
  } finally {
    audit.close();
  }
}

/** --cgroup PATH becomes the id the kernel compares (for recipes that take it; others refuse the flag). */
function withCgroupId(manifest: { parameters: Record<string, unknown> }, params: TraceRequest["params"]): TraceRequest["params"] {
  const path = params.cgroup;
  if (typeof path !== "string" || !("cgroup" in manifest.parameters)) return params;
  try {
    return { ...params, cgroup: String(cgroupId(path)) };
  } catch (e) {
    throw parameterInvalid(`--cgroup: ${(e as Error).message}`, "give a cgroup v2 directory, e.g. /sys/fs/cgroup/system.slice/nginx.service, or --unit nginx.service");
  }
}

function parseStatusInterval(raw: string): number {
  try {
    return parseDuration(raw);
  } catch (e) {
    throw usageError(`--status-interval: ${(e as Error).message}`, "a duration such as 5s, or 0 to turn status records off");
  }
}

function readLoginUid(): number | null {
  try {
    const v = Number(require("node:fs").readFileSync("/proc/self/loginuid", "utf8"));
    return v === 4294967295 ? null : v;
  } catch {
    return null;
  }
}

function ttyName(): string | null {
  try {
    return require("node:fs").readlinkSync("/proc/self/fd/0");
  } catch {
    return null;
  }
}
