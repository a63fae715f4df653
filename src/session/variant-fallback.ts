// When the kernel refuses the chosen alternative of a probe at run time — the verifier rejects it
// at load, or its attach fails — the session takes the next alternative the kernel supports, in
// the recipe's preference order, and says so. A kernel update must never turn a recipe with a
// working fallback into a refusal; the recipe is refused only when no alternative works.
import { EbpfctlError, ExitCode, asEbpfctlError } from "../errors";
import { LoadError } from "../libbpf";
import type { AttachType, Manifest } from "../recipe/manifest";
import { ATTACH_FEATURE, type ProfileSelection } from "../kernel/profile";
import type { FeatureReport } from "../kernel/features";
import { explainVerifierLog, saveVerifierLog, verifierReason } from "../verifier/verifier-report";
import type { ProbeChoice } from "./session";

export interface AlternativeFailure {
  probe: string;
  program: string;
  type: AttachType;
  target?: string;
  stage: "load" | "attach";
  /** One line: the verifier's explaining line, or the attach error. */
  reason: string;
  /** The whole verifier log, saved. */
  log?: string;
  /** Caused by the kernel, not by a target the user named (a uprobe binary, perf events): worth remembering per kernel image. */
  kernelCaused: boolean;
}

/** A refusal of one alternative, carrying what a fallback needs to know. */
export class AlternativeFailed extends EbpfctlError {
  constructor(readonly failure: AlternativeFailure, base: EbpfctlError) {
    super(base.code, base.message, base.exitCode, base.hint);
  }
}

const describe = (f: Pick<AlternativeFailure, "program" | "type" | "target">) => `${f.type}${f.target ? ` ${f.target}` : ""} (${f.program})`;

export function describeFailure(f: AlternativeFailure): string {
  return `${describe(f)}: ${f.stage === "load" ? "rejected by the verifier" : "attach failed"}: ${f.reason}${f.log ? ` (log: ${f.log})` : ""}`;
}

export const noAlternativeWorks = (recipe: string, probe: string, lines: string[]) =>
  new EbpfctlError(
    "EBPFCTL-E0024",
    `${recipe} cannot run here: no alternative of probe ${probe} works: ${lines.join("; ")}`,
    ExitCode.KERNEL,
    "the saved verifier logs are named above; ebpfctl doctor --check-load shows every variant's verdict on this kernel",
  );

/** The failure a LoadError describes, if it names one of the chosen programs; else undefined. */
export function loadFailure(e: unknown, recipe: string, choices: ProbeChoice[]): AlternativeFailed | undefined {
  if (!(e instanceof LoadError) || !e.program) return undefined;
  const choice = choices.find((c) => c.alternative.program === e.program);
  if (!choice) return undefined;
  const log = e.verifierLog ? saveVerifierLog(recipe, e.program, e.verifierLog) : undefined;
  const why = e.verifierLog ? explainVerifierLog(e.verifierLog) : [];
  const truncated = e.logTruncated
    ? ` (verifier log truncated at ${e.logBufferBytes >> 20} MiB after one retry with a larger buffer; ${/processed \d+ insns/.test(e.verifierLog) ? "its last part was kept" : "its first part was kept, so the verdict may be missing"})`
    : "";
  const reason = (e.verifierLog ? verifierReason(e.verifierLog) : `errno ${e.errno}, no verifier log`) + truncated;
  const base = new EbpfctlError(
    "EBPFCTL-E0021",
    `the verifier rejected ${recipe}:${e.program}: ${why.length ? why.join(" | ") : `errno ${e.errno}`}`,
    ExitCode.KERNEL,
    log ? `full verifier log saved to ${log}` : "run ebpfctl doctor to see which program types this kernel allows",
  );
  return new AlternativeFailed({ ...choiceFields(choice), stage: "load", reason, log, kernelCaused: Boolean(e.verifierLog) }, base);
}

/** Attach errnos that say "this kernel has no such hook, or will not take this program there": ENOENT, ESRCH, EINVAL, EOPNOTSUPP, ENOTSUPP. */
const LASTING_ATTACH_ERRNOS = new Set([2, 3, 22, 95, 524]);

/**
 * An attach error of `choice` as a failure. Remembered per kernel image only when the kernel
 * refused for a lasting reason (not EMFILE, EBUSY…) and the target is the recipe's, not the
 * user's (a uprobe binary, perf events).
 */
export function attachFailure(e: unknown, choice: ProbeChoice, kernelErrno: number | undefined): AlternativeFailed {
  const base = asEbpfctlError(e);
  const userTarget = choice.alternative.type === "uprobe" || choice.alternative.type === "uretprobe" || choice.alternative.type === "usdt" || choice.alternative.type === "perf_event";
  const lasting = kernelErrno !== undefined && LASTING_ATTACH_ERRNOS.has(kernelErrno);
  return new AlternativeFailed({ ...choiceFields(choice), stage: "attach", reason: base.message, kernelCaused: lasting && !userTarget }, base);
}

function choiceFields(c: ProbeChoice) {
  return { probe: c.probe.name, program: c.alternative.program, type: c.alternative.type, ...(c.alternative.target ? { target: c.alternative.target } : {}) };
}

/**
 * Replaces the failed probe's choice with its next alternative from `fallbacks` (those the kernel
 * supports, in preference order); throws noAlternativeWorks when there is none left.
 */
export function fallBack(recipe: string, choices: ProbeChoice[], fallbacks: Map<string, ProbeChoice[]>, failed: AlternativeFailed, history: AlternativeFailure[], skipped: Map<string, string[]>): ProbeChoice[] {
  const probe = failed.failure.probe;
  const rest = fallbacks.get(probe) ?? [];
  const current = choices.find((c) => c.probe.name === probe)!;
  const next = rest.find((c) => c.index > current.index);
  if (!next) {
    const lines = [...(skipped.get(probe) ?? []), ...history.filter((h) => h.probe === probe).map(describeFailure)];
    throw noAlternativeWorks(recipe, probe, lines);
  }
  return choices.map((c) => (c.probe.name === probe ? next : c));
}

/**
 * Per probe, every alternative whose attach kind this kernel has, in preference order (where a
 * refused choice falls back, remembered refusals included: they were refused once, not forever),
 * and the one-line reasons the others are not tried.
 */
export function fallbackPlan(manifest: Pick<Manifest, "probes">, features: FeatureReport, selection: ProfileSelection): { fallbacks: Map<string, ProbeChoice[]>; unsupported: Map<string, string[]> } {
  const fallbacks = new Map<string, ProbeChoice[]>();
  const unsupported = new Map<string, string[]>();
  for (const probe of manifest.probes) {
    const usable: ProbeChoice[] = [];
    const lines: string[] = [];
    for (const [index, alternative] of probe.alternatives.entries()) {
      const f = features.features[ATTACH_FEATURE[alternative.type]];
      if (f?.status === "yes") usable.push({ probe, alternative, index });
      else lines.push(`${describe({ program: alternative.program, type: alternative.type, target: alternative.target })}: ${ATTACH_FEATURE[alternative.type]} ${f ? `${f.status} — ${f.evidence}` : "not probed"}`);
    }
    // Remembered refusals were skipped by the profile: not tried again, named when nothing works.
    const remembered = (selection.probes.find((p) => p.name === probe.name)?.skipped ?? []).filter((s) => usable.some((u) => u.alternative === s.alt));
    for (const s of remembered) lines.push(`${describe({ program: s.alt.program, type: s.alt.type, target: s.alt.target })}: ${s.reason}`);
    fallbacks.set(probe.name, usable.filter((u) => !remembered.some((r) => r.alt === u.alternative)));
    unsupported.set(probe.name, lines);
  }
  return { fallbacks, unsupported };
}
