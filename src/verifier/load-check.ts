// `ebpfctl doctor --check-load`: real loadability of every embedded recipe's variants on this
// kernel (each supported alternative loaded alone, without attaching, by the verifier gate's
// loader), remembered per kernel image and object in the same file as the refusals sessions meet
// at run time (kernel/variant-outcomes.ts). A later doctor, list or trace reads the answers
// instead of loading again; --refresh loads again.
import { readFileSync } from "node:fs";
import { mayLoadTracing, type KernelFacts } from "../kernel/facts";
import type { FeatureReport } from "../kernel/features";
import { kernelImageId } from "../kernel/core-btf";
import { ATTACH_FEATURE } from "../kernel/profile";
import { VariantOutcomes } from "../kernel/variant-outcomes";
import { embeddedSources } from "../recipe/catalog";
import { loadVerifiedRecipe } from "../recipe/trust";
import { verifyRecipes, type AltResult } from "./verify";
import { verifierReason } from "./verifier-report";

const DEFER = { defer: true } as const;

function rejectionLine(a: AltResult): string {
  try {
    if (a.log_file) return verifierReason(readFileSync(a.log_file, "utf8"));
  } catch {
    /* the log went away: its explaining lines are in the result */
  }
  return (a.reason ?? []).at(-1) ?? `errno ${a.errno}`;
}

export interface LoadCheck {
  /** "loaded": loaded now; "cache": every answer was already known for this image and object; "unavailable: why". */
  source: string;
  /** Recipes whose variants were loaded now. */
  loaded: string[];
  outcomes: VariantOutcomes;
}

export function variantOutcomes(facts: KernelFacts, dir?: string): VariantOutcomes {
  return new VariantOutcomes({ image: kernelImageId(facts), kernel: facts.release, ...(dir ? { dir } : {}) });
}

/**
 * Loads the supported variants of the named recipes (default: every embedded one) whose answers
 * are not all known yet for this image and object (all of them with `refresh`).
 */
export function checkLoadability(facts: KernelFacts, features: FeatureReport, opts: { refresh?: boolean; dir?: string; recipes?: string[] } = {}): LoadCheck {
  const outcomes = variantOutcomes(facts, opts.dir);
  const unknown: string[] = [];
  for (const name of opts.recipes ?? embeddedSources().map((s) => s.name)) {
    let recipe;
    try {
      recipe = loadVerifiedRecipe({ name });
    } catch {
      continue; // refused recipes are not loaded; list says why
    }
    const supported = recipe.manifest.probes.flatMap((p) => p.alternatives).filter((a) => features.features[ATTACH_FEATURE[a.type]]?.status === "yes");
    if (opts.refresh || supported.some((a) => !outcomes.get(recipe.objectSha256, a.program))) unknown.push(name);
  }
  if (!unknown.length) return { source: "cache", loaded: [], outcomes };
  if (!mayLoadTracing(facts)) return { source: "unavailable: loading needs CAP_BPF and CAP_PERFMON (or root); profiles come from feature probes and remembered refusals only", loaded: [], outcomes };
  const report = verifyRecipes({ facts, features, recipes: unknown });
  for (const r of report.recipes) {
    for (const p of r.probes) {
      for (const a of p.alternatives) {
        if (a.status === "accepted") outcomes.remember(r.object_sha256, a.program, { status: "accepted", stage: "load", reason: "loaded alone by doctor --check-load", verified_insns: a.verified_insns }, DEFER);
        else if (a.status === "rejected") outcomes.remember(r.object_sha256, a.program, { status: "rejected", stage: "load", reason: rejectionLine(a), ...(a.log_file ? { log: a.log_file } : {}) }, DEFER);
      }
    }
  }
  outcomes.save();
  return { source: "loaded", loaded: unknown, outcomes };
}
