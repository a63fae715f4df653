// Which committed baseline a verify run is compared with, and how strictly.
//
// A kernel's own baseline (same release string) is compared exactly: every verified_insns change is
// reported and growth past --threshold fails. Fleet and CI hosts get new builds of the same
// major.minor all the time (6.18.44-fc-v669 -> 6.18.44-fc-v1045); such a build has no baseline of
// its own, so it is compared with the NEAREST committed baseline of the same major.minor: any change
// in acceptance or in the chosen variant still fails (that is the real change the gate exists to
// catch), but verified_insns drift is only reported, since a rebuilt kernel legitimately prunes
// differently. The run then writes a candidate baseline for the new build (under build/) for a
// developer to review and commit.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { usageError } from "../errors";

/** exact: the baseline is this kernel's own; nearest: another build of the same major.minor; other: a different major.minor, named explicitly. */
export type BaselineMode = "exact" | "nearest" | "other";

export interface BaselineChoice {
  /** The baseline file to compare with; undefined when DIR holds none of this major.minor. */
  file?: string;
  /** The kernel release the file describes (its name without .json). */
  release?: string;
  /** Every release of the same major.minor found in DIR (for the message when none is exact). */
  sameSeries: string[];
  /** The path was a directory (the gate searched it). */
  fromDir: boolean;
}

/** "6.18" of "6.18.44-fc-v1045" (undefined for a string that is no kernel release). */
export function majorMinor(release: string): string | undefined {
  return /^(\d+)\.(\d+)(?:[.-]|$)/.exec(release)?.slice(1, 3).join(".");
}

/** The numeric fields of a release, in order ("6.18.44-fc-v1045" -> [6, 18, 44, 1045]). */
function numbers(release: string): number[] {
  return (release.match(/\d+/g) ?? []).map(Number);
}

function cmpRelease(a: string, b: string): number {
  const x = numbers(a), y = numbers(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? -1) !== (y[i] ?? -1)) return (x[i] ?? -1) - (y[i] ?? -1);
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The nearest release to `release` among `candidates` of the same major.minor: the newest one not
 * newer than it (the build a host was upgraded from), else the oldest newer one.
 */
export function nearestRelease(release: string, candidates: string[]): string | undefined {
  const mm = majorMinor(release);
  const same = candidates.filter((c) => mm !== undefined && majorMinor(c) === mm).sort(cmpRelease);
  if (same.includes(release)) return release;
  const older = same.filter((c) => cmpRelease(c, release) < 0);
  return older.at(-1) ?? same[0];
}

/** `--baseline PATH`: a file is taken as given; a directory is searched for this kernel's own or nearest baseline. */
export function chooseBaseline(path: string, release: string): BaselineChoice {
  if (!existsSync(path)) throw usageError(`--baseline ${path}: no such file or directory`, "name a baseline file or a directory of them (bpf/verifier-baseline)");
  if (!statSync(path).isDirectory()) return { file: path, sameSeries: [], fromDir: false };
  const releases = readdirSync(path).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5));
  const mm = majorMinor(release);
  const sameSeries = releases.filter((r) => mm !== undefined && majorMinor(r) === mm).sort(cmpRelease);
  const near = nearestRelease(release, releases);
  return near ? { file: join(path, `${near}.json`), release: near, sameSeries, fromDir: true } : { sameSeries, fromDir: true };
}

/** How a run on `kernel` is compared with a baseline recorded on `baselineKernel`. */
export function baselineMode(kernel: string, baselineKernel: string): BaselineMode {
  if (kernel === baselineKernel) return "exact";
  return majorMinor(kernel) !== undefined && majorMinor(kernel) === majorMinor(baselineKernel) ? "nearest" : "other";
}

/** Where a candidate baseline for a build without its own goes (relative to the working directory). */
export function candidatePath(dir: string, release: string): string {
  return join(dir, `${release}.json`);
}
