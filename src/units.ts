// Human units for budgets and parameters: durations (500ms, 10s, 5m, 1h), byte sizes (64MiB,
// 1.5GB, 4096), counts (5k, 1.2M) and percentages (5, 5%).

const DURATION_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, "": 1000, m: 60_000, min: 60_000, h: 3_600_000 };
const BYTES: Record<string, number> = {
  "": 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3,
};
const COUNT: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9 };

export class UnitError extends Error {}

function split(input: string | number, what: string): [number, string] {
  if (typeof input === "number") {
    if (!Number.isFinite(input) || input < 0) throw new UnitError(`expected a non-negative ${what}, got ${input}`);
    return [input, ""];
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Zµ%]*)\s*$/.exec(input);
  if (!m) throw new UnitError(`expected a ${what} such as ${examples[what]}, got "${input}"`);
  return [Number(m[1]), m[2]!.toLowerCase()];
}
const examples: Record<string, string> = { duration: '"10s" or "5m"', size: '"64MiB" or "4096"', count: '"5k" or "1000"', percent: '"5" or "2.5%"' };

/** Milliseconds. A bare number means seconds (as in -d 10). */
export function parseDuration(input: string | number): number {
  const [n, u] = split(input, "duration");
  const f = DURATION_MS[u];
  if (f === undefined) throw new UnitError(`unknown duration unit "${u}" in "${input}" (use ms, s, m or h)`);
  return n * f;
}

export function parseBytes(input: string | number): number {
  const [n, u] = split(input, "size");
  const f = BYTES[u];
  if (f === undefined) throw new UnitError(`unknown size unit "${u}" in "${input}" (use KiB, MiB, GiB, kB, MB, GB)`);
  return Math.round(n * f);
}

export function parseCount(input: string | number): number {
  const [n, u] = split(input, "count");
  const f = COUNT[u];
  if (f === undefined) throw new UnitError(`unknown count suffix "${u}" in "${input}" (use k, M or G)`);
  return Math.round(n * f);
}

export function parsePercent(input: string | number): number {
  const [n, u] = split(input, "percent");
  if (u !== "" && u !== "%") throw new UnitError(`expected a percentage such as "5" or "5%", got "${input}"`);
  return n;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)}s`;
  if (ms < 3_600_000) {
    const m = Math.floor(ms / 60_000);
    const s = Math.round((ms % 60_000) / 1000);
    return s ? `${m}m${s}s` : `${m}m`;
  }
  const h = Math.floor(ms / 3_600_000);
  const m = Math.round((ms % 3_600_000) / 60_000);
  return m ? `${h}h${m}m` : `${h}h`;
}

export function formatCount(n: number): string {
  if (n < 1000) return String(Math.round(n));
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)}k`;
  return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)}M`;
}
