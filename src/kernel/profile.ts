// Which variant of a recipe this kernel can run: for every probe the first alternative (in the
// manifest's preference order) whose attach kind is available, and the resulting profile:
//   full      every probe got its first alternative
//   reduced   some probe fell back to a later alternative, or an optional probe has none
//   disabled  an essential probe has no available alternative
// Pure: takes the manifest and a feature report, touches no kernel.
import type { Alternative, AttachType, Manifest } from "../recipe/manifest";
import type { Feature, FeatureReport } from "./features";
import type { KernelFacts } from "./facts";
import type { VariantOutcome } from "./variant-outcomes";

/** A refusal this kernel image already gave an alternative when it was really loaded or attached. */
export type KnownRefusal = (alt: Alternative) => VariantOutcome | undefined;

export function describeRefusal(o: VariantOutcome): string {
  return `${o.status === "rejected" ? "rejected by the verifier" : "attach failed"} on this kernel image (${o.at.slice(0, 10)}): ${o.reason}`;
}

export type Profile = "full" | "reduced" | "disabled";

/** The feature that decides whether an attach type is usable. */
export const ATTACH_FEATURE: Record<AttachType, string> = {
  tracepoint: "tracepoint",
  raw_tp: "raw_tp",
  tp_btf: "tp_btf",
  kprobe: "kprobe",
  kretprobe: "kretprobe",
  fentry: "fentry",
  fexit: "fexit",
  uprobe: "uprobe",
  uretprobe: "uprobe",
  usdt: "uprobe",
  perf_event: "perf_event",
};

/** The features selectProfile consults for this manifest: one per attach type its alternatives use. */
export function featuresNeeded(manifest: Pick<Manifest, "probes">): string[] {
  return [...new Set(manifest.probes.flatMap((p) => p.alternatives.map((a) => ATTACH_FEATURE[a.type])))];
}

export interface SkippedAlternative {
  alt: Alternative;
  /** "kprobe: no — program type loads but attach failed: …" */
  reason: string;
}

export interface ProbeChoice {
  name: string;
  essential: boolean;
  chosen: Alternative | null;
  /** Index of the chosen alternative in the manifest, -1 when none. */
  chosenIndex: number;
  skipped: SkippedAlternative[];
  /** What this choice gives up compared with the first alternative ("" when nothing). */
  lost: string;
}

export interface ProfileSelection {
  profile: Profile;
  probes: ProbeChoice[];
  /** One line per fallback, lost optional probe, or disabling essential probe. */
  reasons: string[];
}

/** A feature report, or just its table of features (tests build these by hand). */
export type FeatureInput = FeatureReport | Record<string, Feature>;

function featureTable(input: FeatureInput): Record<string, Feature> {
  const maybe = (input as FeatureReport).features;
  // A report's `features` is a table (no `status`); a table's entries are features (with one).
  return maybe && typeof maybe === "object" && !("status" in maybe) ? maybe : (input as Record<string, Feature>);
}

function describe(alt: Alternative): string {
  return `${alt.type}${alt.target ? ` ${alt.target}` : ""} (${alt.program})`;
}

/** A feature counts as available only when shown to work; "unknown" is not good enough to attach. */
export function selectProfile(manifest: Pick<Manifest, "probes">, features: FeatureInput, refused?: KnownRefusal): ProfileSelection {
  const table = featureTable(features);
  const probes: ProbeChoice[] = [];
  const reasons: string[] = [];
  let profile: Profile = "full";
  const demote = (to: Profile) => {
    if (to === "disabled" || (to === "reduced" && profile === "full")) profile = to;
  };

  for (const probe of manifest.probes) {
    const skipped: SkippedAlternative[] = [];
    let chosen: Alternative | null = null;
    let chosenIndex = -1;
    for (const [i, alt] of probe.alternatives.entries()) {
      const fname = ATTACH_FEATURE[alt.type];
      const f = table[fname];
      const refusal = f?.status === "yes" ? refused?.(alt) : undefined;
      if (f?.status === "yes" && !refusal) {
        chosen = alt;
        chosenIndex = i;
        break;
      }
      const why = refusal ? `${alt.type}: ${describeRefusal(refusal)}` : f ? `${fname}: ${f.status} — ${f.evidence}` : `${fname}: unknown — not probed`;
      skipped.push({ alt, reason: why });
    }
    const essential = probe.essential ?? true;
    let lost = "";
    if (chosen && chosenIndex > 0) {
      lost = chosen.loses?.trim() || "nothing stated by the recipe";
      demote("reduced");
      reasons.push(`${probe.name}: using ${describe(chosen)} instead of ${describe(probe.alternatives[0]!)} because ${skipped[0]!.reason}; loses: ${lost}`);
    } else if (!chosen) {
      const why = skipped.map((s) => `${describe(s.alt)}: ${s.reason}`).join("; ");
      if (essential) {
        demote("disabled");
        lost = "the whole recipe (essential probe)";
        reasons.push(`${probe.name} (essential) has no usable alternative: ${why}`);
      } else {
        demote("reduced");
        lost = probe.alternatives.map((a) => a.loses?.trim()).find(Boolean) ?? `the events of optional probe ${probe.name}`;
        reasons.push(`${probe.name} (optional) is dropped: ${why}; loses: ${lost}`);
      }
    }
    probes.push({ name: probe.name, essential, chosen, chosenIndex, skipped, lost });
  }
  return { profile, probes, reasons };
}

export interface CompatRecord {
  recipe: string;
  recipe_version: string;
  kernel: { release: string; arch: string };
  btf: { vmlinux: boolean; modules: number };
  lockdown: string;
  features: { yes: string[]; no: string[]; unknown: string[]; masked: string[] };
  probes: { name: string; essential: boolean; chosen: { program: string; type: AttachType; target?: string } | null; variant: number; lost: string }[];
  profile: Profile;
  reasons: string[];
}

/** One structured record of what ran where: kernel, BTF, lockdown, features, chosen variants, profile. */
export function compatRecord(manifest: Pick<Manifest, "name" | "version">, facts: KernelFacts, report: FeatureReport, selection: ProfileSelection): CompatRecord {
  const by = (s: Feature["status"]) => Object.values(report.features).filter((f) => f.status === s).map((f) => f.name).sort();
  return {
    recipe: manifest.name,
    recipe_version: manifest.version,
    kernel: { release: facts.release, arch: facts.arch },
    btf: { vmlinux: facts.btf.vmlinux, modules: facts.btf.modules },
    lockdown: facts.lockdown.mode,
    features: { yes: by("yes"), no: by("no"), unknown: by("unknown"), masked: report.masked },
    probes: selection.probes.map((p) => ({
      name: p.name,
      essential: p.essential,
      chosen: p.chosen ? { program: p.chosen.program, type: p.chosen.type, ...(p.chosen.target ? { target: p.chosen.target } : {}) } : null,
      variant: p.chosenIndex,
      lost: p.lost,
    })),
    profile: selection.profile,
    reasons: selection.reasons,
  };
}
