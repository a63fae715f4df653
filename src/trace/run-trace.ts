// The `trace` use case end to end, callable without the CLI:
// audit open (fail closed) → session_start → verify recipe → parameters and budgets → kernel
// profile (compat record) → session → session_end and summary.
import { EbpfctlError, ExitCode, asEbpfctlError } from "../errors";
import { AuditLog, newSessionId } from "../audit/audit-log";
import { invokingUser } from "../audit/sessions";
import { loadVerifiedRecipe, setTrustDecisionHook } from "../recipe/trust";
import { loadPolicy } from "../recipe/policy";
import { resolveBudgets, type BudgetFlags } from "../budget/budgets";
import { parseDuration } from "../units";
import { kernelFeatures } from "../kernel/features";
import { readKernelFacts } from "../kernel/facts";
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
import { killSwitchEngaged } from "../errors";
import { KillSwitchWatcher, describeKillSwitch, readKillSwitch } from "../host/kill-switch";
import { SessionRegistration } from "../host/registry";
import { releaseHostBudget, reserveHostBudget } from "../host/host-budget";
import { dropPrivileges } from "../host/privileges";
import { parseNice, yieldCpu } from "../host/priority";
import { Kallsyms } from "../symbols/kallsyms";
import { reducedProfile, type ReducedProfile } from "../session/reduced-profile";
import { checkedCost, compileForHost, describeCost, oneLinerChoices } from "./oneliner";
import type { CompiledOneLiner } from "../oneliner/compile";
import { oneLinerMapPlan, oneLinerPrintfRenderer } from "../output/oneliner-maps";

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
  output: "table" | "json";
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
  const life = new LifecycleReporter(io.stderr, { json, color: io.color, tty: io.stderrIsTTY, session });
  const recipeLabel = req.recipe ?? req.recipeFile ?? (req.oneliner !== undefined ? "oneliner" : "?");

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
    if (policyError) refuse(policyError);
    // The kill switch refuses before anything is verified or loaded.
    const engaged = readKillSwitch();
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
    audit.append("recipe_verified", {
      recipe: manifest.name,
      version: manifest.version,
      object_sha256: recipe.objectSha256,
      key: recipe.signer?.keyId ?? null,
      trusted_comment: recipe.signer?.trustedComment ?? null,
      origin: recipe.source.origin,
    }, DEFER);

    let params, budgets, durationMs: number | undefined, statusMs: number, nice: number;
    try {
      nice = parseNice(req.nice ?? "10");
      params = resolveParameters(manifest, req.params);
      budgets = resolveBudgets(manifest, req.budgets);
      durationMs = req.budgets.durationSeconds !== undefined ? parseDuration(req.budgets.durationSeconds) : undefined;
      statusMs = req.statusInterval !== undefined ? parseDuration(req.statusInterval) : io.stderrIsTTY && !json ? 1000 : 5000;
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

    if (recipe.signer) life.info("verified", `${manifest.name} ${manifest.version} signed by ${recipe.signer.keyId}: ${recipe.signer.trustedComment}`, { recipe: manifest.name, key: recipe.signer.keyId, trusted_comment: recipe.signer.trustedComment });
    else life.warn("unsigned", `${manifest.name} is unsigned; running because --allow-unsigned and the host policy allow it`);

    // Kernel reality: pick each probe's variant from what this kernel really does.
    const facts = readKernelFacts();
    // Only what this recipe's alternatives need: a first run after boot probes those, not everything.
    const features = kernelFeatures({ facts, only: featuresNeeded(manifest) });
    // What this kernel image's verifier already refused at run time is skipped from the start.
    const outcomes = new VariantOutcomes({ image: kernelImageId(facts), kernel: facts.release, dir: cacheDir() });
    const refusedNow = new Map<string, VariantOutcome>();
    const refused = (alt: { program: string }) => refusedNow.get(alt.program) ?? outcomes.refusal(recipe.objectSha256, alt.program);
    const selection = selectProfile(manifest, features, refused);
    const compat = compatRecord(manifest, facts, features, selection);
    audit.append("compat", compat as unknown as Record<string, unknown>, DEFER);
    life.compat(compat);
    if (selection.profile === "disabled") return refuse(recipeUnsupported(manifest.name, selection.reasons));
    let choices: ProbeChoice[] = selection.probes
      .filter((p) => p.chosen)
      .map((p) => ({ probe: manifest.probes.find((x) => x.name === p.name)!, alternative: p.chosen!, index: p.chosenIndex }));
    const { fallbacks, unsupported } = fallbackPlan(manifest, features, selection);
    const perTracepoint = oneliner && choices[0] ? oneLinerChoices(oneliner, choices[0]) : undefined;
    if (perTracepoint) choices = perTracepoint.choices;
    let reduced: ReducedProfile | undefined;
    if (req.profile === "reduced") {
      reduced = reducedProfile(manifest, choices, req.sampleEvery);
      choices = reduced.choices;
      audit.append("profile", { profile: "reduced", sample_every: reduced.sampleEvery, dropped_probes: reduced.dropped }, DEFER);
      life.info("profile", `reduced profile: keeping 1 event in ${reduced.sampleEvery}${reduced.dropped.length ? `; dropped optional probes ${reduced.dropped.map((d) => `${d.probe} (cost ${d.cost ?? "?"})`).join(", ")}` : ""}`, { profile: "reduced", sample_every: reduced.sampleEvery, dropped_probes: reduced.dropped });
    }

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
      }),
    );
    if (externalStop.reason) return refuse(killSwitchEngaged(externalStop.detail!));

    const sink = new OutputSink(req.outputFile, budgets.max_output);
    // Events and the live status line share the terminal: lift the status line around each write.
    if (!req.outputFile && io.stderrIsTTY && !json && (process.stdout as { isTTY?: boolean }).isTTY) {
      sink.around = { before: () => life.clearStatus(), after: () => life.redrawStatus() };
    }
    const bootToWall = bootToWallOffsetMs();
    const renderer = oneliner && manifest.kind === "stream" ? oneLinerPrintfRenderer(oneliner, json) : manifest.kind === "stream" ? (json ? new JsonLinesRenderer(manifest.columns, bootToWall) : new TableRenderer(manifest.columns, bootToWall, io.color && !req.outputFile && Boolean((process.stdout as { isTTY?: boolean }).isTTY))) : undefined;
    let result: SessionResult;
    try {
      let aggregate = manifest.kind === "aggregate" ? aggregatePlan(manifest, params, { ...req.aggregate, json }) : undefined;
      if (oneliner && aggregate) aggregate = oneLinerMapPlan(oneliner, { json, intervalMs: aggregate.intervalMs });
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
          attach: { ...attachHelpers(manifest, params), ...(perTracepoint ? { tracepointCookies: perTracepoint.cookies } : {}) },
          ...(oneliner ? { rodataBytes: { gtp_cfg: oneliner.table, gtp_single: new Uint8Array([oneliner.tracepoints.length === 1 ? 1 : 0]) } } : {}),
          aggregate,
          sampleEvery: reduced?.sampleEvery,
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
            if (event === "attached") registration.update({ state: "running", link_ids: (fields.links as { link_id: number }[]).map((l) => l.link_id) });
            if (event === "detached") registration.update({ state: "stopping" });
          },
          lifecycle: (kind, fields) => life.event(kind, fields),
          fallback: (failure, next) => {
            const outcome = { status: failure.stage === "load" ? "rejected" : "attach_failed", stage: failure.stage, reason: failure.reason, ...(failure.log ? { log: failure.log } : {}) } as const;
            if (failure.kernelCaused) {
              refusedNow.set(failure.program, { ...outcome, at: new Date().toISOString() });
              outcomes.remember(recipe.objectSha256, failure.program, outcome);
            }
            const revised = compatRecord(manifest, facts, features, selectProfile(manifest, features, refused));
            audit.append("fallback", { ...failure, next: { program: next.alternative.program, type: next.alternative.type, ...(next.alternative.target ? { target: next.alternative.target } : {}) }, remembered: failure.kernelCaused });
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
            registration.update({ capabilities: caps.effective });
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
      drops: a.dropped_rate + a.dropped_ringbuf,
      duration_ms: a.duration_ms,
      accounting: a,
      ...(result.breach ? { breach: result.breach } : {}),
    });
    life.summary(manifest.name, result);
    if (result.error) throw result.error;
    return result.exitCode;
  } finally {
    audit.close();
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
