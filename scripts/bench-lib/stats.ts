// Small statistics and table helpers shared by the bench scripts (medians, not means: the
// machine is noisy and a single outlier must not move the figure).
export function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
export const min = (xs: number[]) => (xs.length ? Math.min(...xs) : NaN);
export const max = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN);

export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

/** A Markdown table: header row, separator, rows; numbers right-aligned by the caller's formatting. */
export function mdTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => "| " + r.map((c, i) => c.padEnd(widths[i]!)).join(" | ") + " |";
  return [line(cells[0]!), "| " + widths.map((w) => "-".repeat(w)).join(" | ") + " |", ...cells.slice(1).map(line)].join("\n");
}

export function parseArgs(argv: string[], spec: Record<string, "string" | "boolean">): Record<string, string | boolean | undefined> {
  const out: Record<string, string | boolean | undefined> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    const [k, inline] = a.slice(2).split("=", 2) as [string, string | undefined];
    const kind = spec[k];
    if (!kind) throw new Error(`unknown option --${k} (known: ${Object.keys(spec).map((s) => "--" + s).join(" ")})`);
    if (kind === "boolean") out[k] = true;
    else out[k] = inline ?? argv[++i];
  }
  return out;
}
