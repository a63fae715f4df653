// --output openmetrics: an aggregation recipe's snapshots as the Prometheus text exposition
// format, written atomically (temporary file + rename) to --output-file at each interval, so
// node_exporter's textfile collector never reads half a file. Snapshots with --interval cover
// only their interval (the map is drained); Prometheus wants cumulative counters, so they are
// summed here across intervals.
import { renameSync, writeFileSync } from "node:fs";
import type { Manifest } from "../recipe/manifest";

const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, ms: 1e-3 };

interface HistState {
  labels: Record<string, string>;
  /** counts per log2 slot index */
  slots: number[];
}

export const metricName = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, "_").replace(/^([^a-zA-Z_])/, "_$1");
export const labelValue = (v: unknown) => String(v).replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
export const labelText = (l: Record<string, string>, extra: Record<string, string> = {}) => {
  const all = { ...l, ...extra };
  const keys = Object.keys(all);
  return keys.length ? `{${keys.map((k) => `${metricName(k)}="${labelValue(all[k])}"`).join(",")}}` : "";
};
/** Prometheus floats: integers as such, others in shortest round-trip form. */
const num = (n: number) => (Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(12))));

/** The whole file or nothing: node_exporter's textfile collector never reads half of it. */
export function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o644 });
  renameSync(tmp, path);
}

export class OpenMetricsWriter {
  private readonly hists = new Map<string, HistState>();
  private readonly counters = new Map<string, { name: string; labels: Record<string, string>; value: number }>();
  private unit = "count";

  constructor(private readonly manifest: Manifest, private readonly path: string) {}

  /** Takes the JSON records of one snapshot (histogram/table), adds them up, rewrites the file. */
  update(recordLines: string[]): void {
    for (const line of recordLines) {
      const r = JSON.parse(line) as Record<string, unknown>;
      if (r.kind === "histogram") this.addHistogram(r);
      else if (r.kind === "table") this.addTable(r);
    }
    writeAtomically(this.path, this.render());
  }

  private addHistogram(r: Record<string, unknown>): void {
    this.unit = String(r.unit ?? "count");
    const labels = Object.fromEntries(Object.entries((r.key ?? {}) as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
    const id = JSON.stringify(labels);
    const h = this.hists.get(id) ?? { labels, slots: [] };
    for (const [i, b] of ((r.buckets ?? []) as { count: number }[]).entries()) h.slots[i] = (h.slots[i] ?? 0) + b.count;
    this.hists.set(id, h);
  }

  private addTable(r: Record<string, unknown>): void {
    for (const row of (r.rows ?? []) as Record<string, unknown>[]) {
      const labels: Record<string, string> = {};
      for (const [k, v] of Object.entries(row)) if (typeof v === "string" || k === "pid") labels[k] = String(v);
      for (const [k, v] of Object.entries(row)) {
        if (typeof v !== "number" || k === "pid" || k === "id" || k in labels) continue;
        const seconds = /_ns$/.test(k);
        const name = `ebpfctl_${metricName(this.manifest.name)}_${metricName(seconds ? k.replace(/_ns$/, "_seconds") : k)}_total`;
        const id = `${name}${JSON.stringify(labels)}`;
        const c = this.counters.get(id) ?? { name, labels, value: 0 };
        c.value += seconds ? v * 1e-9 : v;
        this.counters.set(id, c);
      }
    }
  }

  render(): string {
    const out: string[] = [];
    const agg = this.manifest.aggregate;
    if (this.hists.size) {
      const scale = UNIT_SECONDS[this.unit];
      const name = `ebpfctl_${metricName(this.manifest.name)}${scale ? "_seconds" : ""}`;
      out.push(`# HELP ${name} ${agg?.label ?? this.manifest.summary}${scale ? " in seconds" : ""} (log2 buckets; _sum estimated from bucket midpoints)`);
      out.push(`# TYPE ${name} histogram`);
      for (const h of this.hists.values()) {
        let cum = 0;
        let sum = 0;
        const s = scale ?? 1;
        for (let i = 0; i < h.slots.length; i++) {
          const c = h.slots[i] ?? 0;
          cum += c;
          const low = i === 0 ? 0 : 2 ** i;
          const high = 2 ** (i + 1) - 1;
          sum += c * ((low + high) / 2) * s;
          out.push(`${name}_bucket${labelText(h.labels, { le: num(high * s) })} ${cum}`);
        }
        out.push(`${name}_bucket${labelText(h.labels, { le: "+Inf" })} ${cum}`);
        out.push(`${name}_sum${labelText(h.labels)} ${num(sum)}`);
        out.push(`${name}_count${labelText(h.labels)} ${cum}`);
      }
    }
    const byName = new Map<string, { labels: Record<string, string>; value: number }[]>();
    for (const c of this.counters.values()) byName.set(c.name, [...(byName.get(c.name) ?? []), c]);
    for (const [name, series] of byName) {
      // Prometheus text format (what node_exporter's textfile collector parses): the family is named with its _total.
      out.push(`# HELP ${name} ${this.manifest.name}: ${name.split("_").slice(2, -1).join(" ")}`);
      out.push(`# TYPE ${name} counter`);
      for (const c of series) out.push(`${name}${labelText(c.labels)} ${num(c.value)}`);
    }
    return out.join("\n") + "\n";
  }
}
