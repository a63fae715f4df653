// -o openmetrics for a map one-liner: its @map as a Prometheus text-format family, rewritten
// atomically at each snapshot. count() and sum() are counters, hist() and lhist() histograms
// (the kernel's exact sum as _sum), min/max/avg gauges. With --interval the map is drained at each
// snapshot, so the file adds the intervals up: Prometheus wants cumulative series.
// Integers stay exact (bigint) up to the text.
import type { BpfObject } from "../libbpf";
import type { CompiledOneLiner } from "../oneliner/compile";
import type { AggregatePlan } from "./aggregate";
import { buckets, keyNames, readMapEntries, type MapEntry } from "./oneliner-maps";
import { labelText, metricName, writeAtomically } from "./openmetrics";

interface Series {
  labels: Record<string, string>;
  count: bigint;
  sum: bigint;
  min: bigint;
  max: bigint;
  /** histogram: cumulative count per bucket upper bound (le), in bucket order */
  buckets: { le: string; count: bigint }[];
}

/** Label names from the key's operands (args.filename → args_filename), unique. */
function labelNames(c: CompiledOneLiner): string[] {
  const seen = new Map<string, number>();
  return keyNames(c).map((n) => {
    const base = metricName(n);
    const k = (seen.get(base) ?? 0) + 1;
    seen.set(base, k);
    return k === 1 ? base : `${base}_${k}`;
  });
}

/** HELP text escapes only backslash and newline (a quote stays as it is). */
const helpText = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** A bucket's inclusive upper bound: buckets are [min, max) over integers, so le = max - 1. */
const le = (max: string | null) => (max === null ? "+Inf" : (BigInt(max) - 1n).toString());

export class OneLinerMetrics {
  private readonly series = new Map<string, Series>();
  private readonly names: string[];
  private readonly family: string;

  constructor(private readonly c: CompiledOneLiner) {
    this.names = labelNames(c);
    const a = c.analysed.action;
    const map = a.kind === "map" ? a.name.replace(/^@/, "") : "";
    this.family = `ebpfctl_oneliner${map ? `_${metricName(map)}` : ""}`;
  }

  add(entries: MapEntry[]): void {
    for (const e of entries) {
      const labels = Object.fromEntries(this.names.map((n, i) => [n, String(e.key[i])]));
      const id = JSON.stringify(labels);
      const s = this.series.get(id);
      const bs = buckets(this.c, e);
      if (!s) {
        let cum = 0n;
        this.series.set(id, { labels, count: e.count, sum: e.sum, min: e.min, max: e.max, buckets: bs.map((b) => ({ le: le(b.max), count: (cum += b.count) })) });
        continue;
      }
      s.count += e.count;
      s.sum += e.sum;
      if (e.min < s.min) s.min = e.min;
      if (e.max > s.max) s.max = e.max;
      // Each bucket gains this snapshot's cumulative count up to it.
      let cum = 0n;
      for (const [i, b] of bs.entries()) {
        cum += b.count;
        s.buckets[i]!.count += cum;
      }
    }
  }

  reset(): void {
    this.series.clear();
  }

  render(): string {
    const a = this.c.analysed.action;
    if (a.kind !== "map") return "";
    const help = `# HELP NAME ebpfctl one-liner ${a.name} = ${a.fn}(): ${helpText(this.c.text)}`;
    const out: string[] = [];
    const all = [...this.series.values()];
    if (a.fn === "hist" || a.fn === "lhist") {
      out.push(help.replace("NAME", this.family), `# TYPE ${this.family} histogram`);
      for (const s of all) {
        for (const b of s.buckets) if (b.le !== "+Inf") out.push(`${this.family}_bucket${labelText(s.labels, { le: b.le })} ${b.count}`);
        out.push(`${this.family}_bucket${labelText(s.labels, { le: "+Inf" })} ${s.count}`);
        out.push(`${this.family}_sum${labelText(s.labels)} ${s.sum}`, `${this.family}_count${labelText(s.labels)} ${s.count}`);
      }
    } else if (a.fn === "count" || a.fn === "sum") {
      const name = `${this.family}_total`;
      out.push(help.replace("NAME", name), `# TYPE ${name} counter`);
      for (const s of all) out.push(`${name}${labelText(s.labels)} ${a.fn === "count" ? s.count : s.sum}`);
    } else {
      out.push(help.replace("NAME", this.family), `# TYPE ${this.family} gauge`);
      for (const s of all) out.push(`${this.family}${labelText(s.labels)} ${a.fn === "min" ? s.min : a.fn === "max" ? s.max : s.count ? s.sum / s.count : 0n}`);
    }
    return out.join("\n") + "\n";
  }
}

/** The aggregate plan: each snapshot adds the map (drained with an interval) and rewrites the file. */
export function oneLinerMetricsPlan(c: CompiledOneLiner, path: string, intervalMs?: number): AggregatePlan {
  const metrics = new OneLinerMetrics(c);
  return {
    ...(intervalMs ? { intervalMs } : {}),
    snapshot(obj: BpfObject, final: boolean): string[] {
      const entries = readMapEntries(c, obj, Boolean(intervalMs) && !final);
      // Without an interval the map is never drained: each snapshot is already cumulative.
      if (!intervalMs) metrics.reset();
      metrics.add(entries);
      writeAtomically(path, metrics.render());
      return [];
    },
  };
}
