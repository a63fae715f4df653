// Log2 histograms as BCC prints them (libbpf-tools trace_helpers.c print_log2_hist): one row per
// power-of-two bucket up to the last non-empty one, a 40-column bar scaled to the largest bucket.
// Slot i holds values in [2^i, 2^(i+1) - 1]; slot 0 holds 0 and 1.

export type HistUnit = "ns" | "us" | "ms" | "count";

const UNIT_HEADER: Record<HistUnit, string> = { ns: "nsecs", us: "usecs", ms: "msecs", count: "value" };
const BAR = 40;

export interface Bucket {
  low: number;
  high: number;
  count: number;
}

/** Buckets 0..last non-empty slot (empty array when every slot is 0). */
export function log2Buckets(slots: number[]): Bucket[] {
  let last = -1;
  for (let i = 0; i < slots.length; i++) if (slots[i]) last = i;
  const out: Bucket[] = [];
  for (let i = 0; i <= last; i++) {
    const high = 2 ** (i + 1) - 1;
    out.push({ low: i === 0 ? 0 : 2 ** i, high, count: slots[i] ?? 0 });
  }
  return out;
}

export type Percentiles = Record<"p50" | "p90" | "p99", { low: number; high: number }>;

/**
 * p50/p90/p99 from log2 buckets: the bucket holding the value of that rank (the ceil(q·n)-th
 * smallest), as its bounds. A log2 histogram cannot say more than that, so it says no more.
 */
export function percentiles(slots: number[]): Percentiles | undefined {
  const buckets = log2Buckets(slots);
  const n = total(slots);
  if (!n) return undefined;
  const at = (q: number) => {
    const rank = Math.max(1, Math.ceil(q * n));
    let seen = 0;
    for (const b of buckets) {
      seen += b.count;
      if (seen >= rank) return { low: b.low, high: b.high };
    }
    return { low: buckets[buckets.length - 1]!.low, high: buckets[buckets.length - 1]!.high };
  };
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99) };
}

/** "p50 1024-2047 usecs  p90 … (bucket bounds)" under a histogram. */
export function percentilesLine(slots: number[], unit: HistUnit): string | undefined {
  const p = percentiles(slots);
  if (!p) return undefined;
  const r = (b: { low: number; high: number }) => `${b.low}-${b.high}`;
  return `p50 ${r(p.p50)}  p90 ${r(p.p90)}  p99 ${r(p.p99)} ${UNIT_HEADER[unit]} (bucket bounds)`;
}

export function total(slots: number[]): number {
  return slots.reduce((a, b) => a + b, 0);
}

/** The text block: "     usecs               : count    distribution" then one row per bucket. */
export function renderLog2Histogram(slots: number[], unit: HistUnit): string[] {
  // Leading empty buckets are left out (BCC's strip_leading_zero); the JSON keeps them.
  const all = log2Buckets(slots);
  const first = all.findIndex((b) => b.count > 0);
  const buckets = first < 0 ? [] : all.slice(first);
  if (!buckets.length) return [];
  const max = Math.max(...buckets.map((b) => b.count));
  // BCC widens the columns when the values get long (idx_max > 32); keep every row aligned.
  const width = Math.max(10, String(buckets[buckets.length - 1]!.high).length);
  const countWidth = Math.max(8, String(max).length);
  const head = UNIT_HEADER[unit];
  // Rows are "<low:width> -> <high:width> : <count> |bar|"; the header's ":" lines up with theirs.
  const lines = [`${" ".repeat(width - 5)}${head.padEnd(width + 9)} : count${" ".repeat(countWidth - 4)}distribution`];
  for (const b of buckets) {
    const stars = max > 0 ? Math.round((b.count / max) * BAR) : 0;
    const bar = "*".repeat(Math.min(BAR, stars)).padEnd(BAR);
    lines.push(`${String(b.low).padStart(width)} -> ${String(b.high).padEnd(width)} : ${String(b.count).padEnd(countWidth)} |${bar}|`);
  }
  return lines;
}
