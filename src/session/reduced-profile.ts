// --profile reduced: what an SRE switches to when eBPF overhead is part of the incident.
// Two reductions every recipe supports: in-kernel sampling (keep 1 event in N; the rest are counted
// as sampled_out, so the accounting identity still holds and the verdict says "sampled"), and
// dropping the recipe's optional probes (essential: false), highest declared `cost` first.
// Essential probes are never dropped.
import { usageError } from "../errors";
import type { Manifest } from "../recipe/manifest";
import type { ProbeChoice } from "./session";

export const DEFAULT_REDUCED_SAMPLE_EVERY = 10;

export interface ReducedProfile {
  choices: ProbeChoice[];
  sampleEvery: number;
  /** In the order they were dropped (highest cost first). */
  dropped: { probe: string; cost: number | null }[];
}

export function reducedProfile(manifest: Manifest, choices: ProbeChoice[], sampleEvery = DEFAULT_REDUCED_SAMPLE_EVERY): ReducedProfile {
  if (!Number.isInteger(sampleEvery) || sampleEvery < 1 || sampleEvery > 1_000_000) throw usageError(`--sample-every: expected an integer from 1 to 1000000, got ${sampleEvery}`);
  const optional = choices
    .filter((c) => !c.probe.essential)
    .sort((a, b) => (b.probe.cost ?? 0) - (a.probe.cost ?? 0) || manifest.probes.indexOf(a.probe) - manifest.probes.indexOf(b.probe));
  const dropped = new Set(optional.map((c) => c.probe.name));
  return {
    choices: choices.filter((c) => !dropped.has(c.probe.name)),
    sampleEvery,
    dropped: optional.map((c) => ({ probe: c.probe.name, cost: c.probe.cost ?? null })),
  };
}
