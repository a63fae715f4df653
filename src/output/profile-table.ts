// profile's human table and its roll-ups. Rows are merged by what they show: two stacks that differ
// only in frames the row does not print are one row. Frames are innermost first, as the header
// says; kernel frames are marked [k] and user frames [.] (perf report's marks). Unresolved frames
// are "[unknown]" or "[file+0xoff]" everywhere (stacks.ts makes them).
import type { SymbolisedStack } from "./stacks";
import { renderTable, type TableColumn } from "./aggregate-table";

/** How many innermost frames of each side (kernel, user) a row shows. */
const FRAMES_PER_SIDE = 3;

export interface ProfileTableOptions {
  top: number;
  perProcess: boolean;
  byFunction: boolean;
}

/** The frames a row prints: innermost kernel frames, then innermost user frames, each marked. */
export function shownFrames(s: SymbolisedStack): string {
  const parts: string[] = [];
  const side = (frames: string[], mark: string) => {
    parts.push(...frames.slice(0, FRAMES_PER_SIDE).map((f) => `${mark} ${f}`));
    if (frames.length > FRAMES_PER_SIDE) parts.push("…");
  };
  side(s.kernel, "[k]");
  side(s.user, "[.]");
  return parts.join(" ← ") || `[${s.userError ?? s.kernelError ?? "no stack"}]`;
}

/** The frame the sample was taken in (its self time): the innermost kernel frame, else the innermost user frame. */
export function selfFrame(s: SymbolisedStack): { name: string; space: "kernel" | "user" } | undefined {
  if (s.kernel.length) return { name: s.kernel[0]!, space: "kernel" };
  if (s.user.length) return { name: s.user[0]!, space: "user" };
  return undefined;
}

export interface ProfileRow {
  count: number;
  pid?: number;
  comm?: string;
  /** by stack: the shown frames; by function: the marked self frame; per process: the hottest shown stack */
  label: string;
  function?: string;
  space?: "kernel" | "user";
}

/** Rows merged by what they show, most samples first. */
export function profileRows(stacks: SymbolisedStack[], o: Pick<ProfileTableOptions, "perProcess" | "byFunction">): ProfileRow[] {
  const rows = new Map<string, ProfileRow & { labels?: Map<string, number> }>();
  for (const s of stacks) {
    if (o.byFunction) {
      const f = selfFrame(s);
      const label = f ? `${f.space === "kernel" ? "[k]" : "[.]"} ${f.name}` : `[${s.userError ?? s.kernelError ?? "no stack"}]`;
      const key = o.perProcess ? `${s.pid}\0${s.comm}\0${label}` : label;
      const r = rows.get(key) ?? { count: 0, label, ...(f ? { function: f.name, space: f.space } : {}), ...(o.perProcess ? { pid: s.pid, comm: s.comm } : {}) };
      r.count += s.count;
      rows.set(key, r);
    } else if (o.perProcess) {
      const key = `${s.pid}\0${s.comm}`;
      const r = rows.get(key) ?? { count: 0, label: "", pid: s.pid, comm: s.comm, labels: new Map<string, number>() };
      r.count += s.count;
      const shown = shownFrames(s);
      r.labels!.set(shown, (r.labels!.get(shown) ?? 0) + s.count);
      rows.set(key, r);
    } else {
      const label = shownFrames(s);
      const key = `${s.comm}\0${label}`;
      const r = rows.get(key) ?? { count: 0, label, comm: s.comm };
      r.count += s.count;
      rows.set(key, r);
    }
  }
  const out: ProfileRow[] = [];
  for (const { labels, ...r } of rows.values()) {
    if (labels) r.label = [...labels.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    out.push(r);
  }
  return out.sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
}

export function profileTable(stacks: SymbolisedStack[], o: ProfileTableOptions): string[] {
  const rows = profileRows(stacks, o);
  const samples = rows.reduce((a, r) => a + r.count, 0);
  const shown = rows.slice(0, o.top);
  const pct = (n: number) => ((100 * n) / Math.max(1, samples)).toFixed(1);
  const cols: TableColumn[] = [{ header: o.byFunction ? "SELF" : "COUNT", align: "right" }, { header: "%", align: "right" }];
  if (o.perProcess) cols.push({ header: "PID", align: "right" });
  if (o.perProcess || !o.byFunction) cols.push({ header: "COMM" });
  cols.push({ header: o.byFunction ? "FUNCTION ([k] kernel, [.] user)" : o.perProcess ? "HOTTEST STACK (innermost first; [k] kernel, [.] user)" : "STACK (innermost first; [k] kernel, [.] user)" });
  const body = shown.map((r) => {
    const cells = [String(r.count), pct(r.count)];
    if (o.perProcess) cells.push(String(r.pid));
    if (o.perProcess || !o.byFunction) cells.push(r.comm ?? "");
    cells.push(r.label);
    return cells;
  });
  const what = o.byFunction ? "functions" : o.perProcess ? "processes" : "rows";
  return [
    ...renderTable(cols, body),
    `${samples} samples in ${rows.length} ${what} (merged from ${stacks.length} distinct stacks)${rows.length > shown.length ? `; top ${shown.length} shown (--top N, --folded for all)` : ""}`,
  ];
}
