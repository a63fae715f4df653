// The tracepoints of this kernel, from tracefs. /sys/kernel/tracing first (mounted on its own,
// and the path lockdown-era distributions keep), /sys/kernel/debug/tracing as the fallback.
// Every name is validated strictly ([A-Za-z0-9_]) before it is used in a path or given to libbpf.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { EbpfctlError, ExitCode } from "../errors";
import { parseFormat, type TracepointFormat } from "./format";

export const TRACEFS_ROOTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

export const tracefsMissing = () =>
  new EbpfctlError("EBPFCTL-E1100", "tracefs is not mounted (neither /sys/kernel/tracing nor /sys/kernel/debug/tracing has events/)", ExitCode.UNSUPPORTED, "mount -t tracefs nodev /sys/kernel/tracing");
export const badTracepointName = (name: string) =>
  new EbpfctlError("EBPFCTL-E1101", `${JSON.stringify(name)} is not a tracepoint name: expected category:event, each [A-Za-z0-9_] (a * wildcard is allowed when listing or tracing)`, ExitCode.USAGE, "ebpfctl probes 'sched:*' lists tracepoints");
export const noSuchTracepoint = (name: string) =>
  new EbpfctlError("EBPFCTL-E1102", `no tracepoint ${JSON.stringify(name).slice(1, -1)} on this kernel`, ExitCode.USAGE, `ebpfctl probes '${name.split(":")[0]}:*' lists that category`);

const PART = /^[A-Za-z0-9_]+$/;
const PATTERN = /^[A-Za-z0-9_*]+$/;

export interface TracepointId {
  category: string;
  event: string;
}

/** "category:event" (or "category/event") with both parts strictly validated; wildcards refused. */
export function parseTracepointName(name: string): TracepointId {
  const [category, event, extra] = name.split(/[:/]/);
  if (extra !== undefined || !category || !event || !PART.test(category) || !PART.test(event)) throw badTracepointName(name);
  return { category, event };
}

/** A glob of "category:event" with * in either part; anything else is refused. */
export function parseTracepointPattern(pattern: string): { category: RegExp; event: RegExp } {
  const parts = pattern.split(/[:/]/);
  if (parts.length > 2 || !parts[0] || !PATTERN.test(parts[0]) || (parts[1] !== undefined && !PATTERN.test(parts[1]))) throw badTracepointName(pattern);
  const re = (p: string) => new RegExp(`^${p.replace(/\*/g, "[A-Za-z0-9_]*")}$`);
  return { category: re(parts[0]), event: re(parts[1] ?? "*") };
}

export class Tracefs {
  constructor(readonly root: string) {}

  /** The first tracefs root that has events/, or a refusal saying how to mount it. */
  static open(roots = TRACEFS_ROOTS): Tracefs {
    for (const r of roots) if (existsSync(`${r}/events`)) return new Tracefs(r);
    throw tracefsMissing();
  }

  /** Every tracepoint matching a pattern, sorted, as "category:event". */
  list(pattern = "*:*"): TracepointId[] {
    const pat = parseTracepointPattern(pattern);
    const out: TracepointId[] = [];
    for (const category of safeDirs(`${this.root}/events`)) {
      if (!pat.category.test(category)) continue;
      for (const event of safeDirs(`${this.root}/events/${category}`)) {
        if (pat.event.test(event) && existsSync(`${this.root}/events/${category}/${event}/format`)) out.push({ category, event });
      }
    }
    return out.sort((a, b) => (a.category === b.category ? cmp(a.event, b.event) : cmp(a.category, b.category)));
  }

  /** The parsed format of one tracepoint; a name that is not on this kernel is refused. */
  format(tp: TracepointId): TracepointFormat {
    const name = `${tp.category}:${tp.event}`;
    parseTracepointName(name);
    const file = `${this.root}/events/${tp.category}/${tp.event}/format`;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw noSuchTracepoint(name);
    }
    return parseFormat(text, file);
  }
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Directory entries that are valid names (anything else is skipped, never used in a path). */
function safeDirs(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && PART.test(d.name))
      .map((d) => d.name);
  } catch {
    return [];
  }
}
