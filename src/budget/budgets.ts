// Effective budgets for one session: the manifest's defaults, tightened by flags, never loosened
// past the manifest's ceilings (nor past a host policy ceiling when one is given).
import { EbpfctlError, ExitCode } from "../errors";
import { parseBytes, parseCount, parseDuration, parsePercent, formatBytes, formatCount, formatDuration } from "../units";
import type { BudgetSet, Manifest } from "../recipe/manifest";

export type BudgetName = keyof BudgetSet;
export type Budgets = BudgetSet;

export interface BudgetFlags {
  maxDuration?: string;
  maxRate?: string;
  maxMemory?: string;
  maxCpu?: string;
  maxOutput?: string;
  /** -d: a planned end, not a budget; max_duration is raised to cover it within the ceiling. */
  durationSeconds?: string;
}

const FLAG: Record<BudgetName, string> = {
  max_duration: "--max-duration",
  max_rate: "--max-rate",
  max_memory: "--max-memory",
  max_cpu: "--max-cpu",
  max_output: "--max-output",
};

const CEILING_HINT = "budgets can be tightened, never loosened past the recipe's ceiling";
export const budgetRefused = (msg: string, hint: string = CEILING_HINT) => new EbpfctlError("EBPFCTL-E0030", msg, ExitCode.USAGE, hint);
// A value that does not parse has nothing to do with ceilings: say what a valid value looks like.
const VALUE_HINT: Record<BudgetName | "duration", string> = {
  max_duration: "a duration: 500ms, 10s, 5m, 1h",
  duration: "a duration: 500ms, 10s, 5m, 1h (a bare number is seconds)",
  max_rate: "events per second: 500, 5k, 1M",
  max_memory: "a size: 64MiB, 1GiB",
  max_cpu: "a percent of one core: 5, 12.5",
  max_output: "a size: 64MiB, 1GiB",
};

export function formatBudget(name: BudgetName, v: number): string {
  switch (name) {
    case "max_duration":
      return formatDuration(v);
    case "max_rate":
      return `${formatCount(v)}/s`;
    case "max_memory":
    case "max_output":
      return formatBytes(v);
    case "max_cpu":
      // Measured shares are floats (1.5122114…): three significant digits; limits print as given.
      return `${Number.isInteger(v) ? v : Number(v.toPrecision(3))}%`;
  }
}

export function resolveBudgets(manifest: Manifest, flags: BudgetFlags): Budgets {
  const { defaults, ceilings } = manifest.budgets;
  const out: Budgets = { ...defaults };
  const parsers: Record<BudgetName, [string | undefined, (s: string) => number]> = {
    max_duration: [flags.maxDuration, parseDuration],
    max_rate: [flags.maxRate, parseCount],
    max_memory: [flags.maxMemory, parseBytes],
    max_cpu: [flags.maxCpu, parsePercent],
    max_output: [flags.maxOutput, parseBytes],
  };
  for (const name of Object.keys(parsers) as BudgetName[]) {
    const [raw, parse] = parsers[name];
    if (raw === undefined) continue;
    let v: number;
    try {
      v = parse(raw);
    } catch (e) {
      throw budgetRefused(`${FLAG[name]}: ${(e as Error).message}`, VALUE_HINT[name]);
    }
    if (v <= 0) throw budgetRefused(`${FLAG[name]}: must be greater than zero`, VALUE_HINT[name]);
    if (v > ceilings[name]) {
      throw budgetRefused(`${FLAG[name]} ${formatBudget(name, v)} is above ${manifest.name}'s ceiling of ${formatBudget(name, ceilings[name])}`);
    }
    out[name] = v;
  }
  if (flags.durationSeconds !== undefined) {
    let d: number;
    try {
      d = parseDuration(flags.durationSeconds);
    } catch (e) {
      throw budgetRefused(`-d/--duration: ${(e as Error).message}`, VALUE_HINT.duration);
    }
    if (d <= 0) throw budgetRefused("-d/--duration: must be greater than zero", VALUE_HINT.duration);
    if (d > ceilings.max_duration) {
      throw budgetRefused(`-d ${formatDuration(d)} is above ${manifest.name}'s ceiling of ${formatDuration(ceilings.max_duration)}`);
    }
    if (flags.maxDuration === undefined && d > out.max_duration) out.max_duration = d;
    else if (d > out.max_duration) throw budgetRefused(`-d ${formatDuration(d)} is longer than --max-duration ${formatDuration(out.max_duration)}`);
  }
  return out;
}
