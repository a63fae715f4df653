// Flags that shape the output rather than filter events (-i, --top, --folded, -T, -o): each
// applies to some kinds of recipe only. A flag a recipe cannot honour is an error (README: "a
// flag a recipe does not support is an error"), never silently ignored.
import { parameterInvalid } from "../errors";
import type { Manifest } from "../recipe/manifest";

export type OutputFormat = "table" | "json" | "openmetrics";

export interface ModeFlags {
  interval?: string;
  top?: string;
  folded?: boolean;
  timestamp?: boolean;
  output?: OutputFormat;
}

interface ModeFlagSpec {
  flag: string;
  given: (f: ModeFlags) => boolean;
  /** Recipes it applies to, in words, for the error and for `explain`. */
  appliesTo: string;
  applies: (m: Manifest) => boolean;
}

const isStream = (m: Manifest) => m.kind === "stream";
const isAggregate = (m: Manifest) => m.kind === "aggregate";

export const MODE_FLAGS: ModeFlagSpec[] = [
  { flag: "-i/--interval", given: (f) => f.interval !== undefined, appliesTo: "aggregation recipes", applies: isAggregate },
  { flag: "--top", given: (f) => f.top !== undefined, appliesTo: "table aggregations (syscount)", applies: (m) => m.aggregate?.render === "table" },
  { flag: "--folded", given: (f) => Boolean(f.folded), appliesTo: "stack recipes (profile)", applies: (m) => m.aggregate?.render === "stacks" },
  { flag: "-T/--timestamp", given: (f) => Boolean(f.timestamp), appliesTo: "stream recipes", applies: isStream },
  { flag: "-o openmetrics", given: (f) => f.output === "openmetrics", appliesTo: "aggregation recipes", applies: (m) => isAggregate(m) && m.aggregate?.render !== "stacks" },
];

/** Throws EBPFCTL-E0012 (exit 2) for the first output flag this recipe cannot honour. */
export function checkModeFlags(manifest: Manifest, flags: ModeFlags): void {
  for (const s of MODE_FLAGS) {
    if (s.given(flags) && !s.applies(manifest)) {
      const kind = manifest.kind === "stream" ? "a stream recipe" : `an aggregation (${manifest.aggregate?.render})`;
      throw parameterInvalid(`${manifest.name} does not support ${s.flag}: it is ${kind}; ${s.flag} applies to ${s.appliesTo}`, `ebpfctl explain ${manifest.name} lists the flags it takes`);
    }
  }
}

/** The output flags a recipe accepts, for help and completion. */
export function modeFlagsFor(manifest: Manifest): string[] {
  return MODE_FLAGS.filter((s) => s.applies(manifest)).map((s) => s.flag);
}
