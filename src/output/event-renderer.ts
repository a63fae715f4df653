// Turns decoded events into output lines: a live table (header once, aligned rows) or JSON lines.
import pc from "picocolors";
import { monotonicNs } from "../libbpf/clock";
import type { DecodedEvent, EventLayout } from "../libbpf/event-reader";
import type { Column } from "../recipe/manifest";
import { formatCell, jsonEvent } from "./format";
import { compileJsonLine, type JsonLine } from "./json-line";
import type { EventRenderer } from "../session/event-sink";
export type { EventRenderer } from "../session/event-sink";


export class JsonLinesRenderer implements EventRenderer {
  // Events come in bursts within the same millisecond: reuse the last ISO string (hot path).
  private lastMs = NaN;
  private lastIso = "";
  private fast: JsonLine | undefined;
  constructor(private readonly columns: Column[], private readonly bootToWallMs: number) {}
  header(): string[] {
    return [];
  }
  /** The line generated for this layout (json-line.ts), when it can be; render() then uses it. */
  bindLayout(layout: EventLayout): void {
    this.fast = compileJsonLine(this.columns, layout, (ms) => this.iso(ms), this.bootToWallMs);
  }
  render(e: DecodedEvent): string {
    if (this.fast) return this.fast(e);
    return this.renderGeneric(e);
  }
  /** jsonEvent + JSON.stringify: any event, and the reference the generated line must match. */
  renderGeneric(e: DecodedEvent): string {
    const o = jsonEvent(this.columns, e, true); // the session's decode: one object per event, not kept
    if (typeof e.ts_ns === "number") o.time = this.iso(this.bootToWallMs + e.ts_ns / 1e6);
    return JSON.stringify(o);
  }
  private iso(ms: number): string {
    // A Date holds whole milliseconds (TimeClip truncates): same key, same string.
    const t = Math.trunc(ms);
    if (t !== this.lastMs) {
      this.lastIso = new Date(t).toISOString();
      this.lastMs = t;
    }
    return this.lastIso;
  }
}

const DEFAULT_WIDTH: Record<string, number> = { pid: 7, ppid: 7, tid: 7, uid: 6, comm: 16, ret: 4, retval: 4 };

export class TableRenderer implements EventRenderer {
  private readonly widths: number[];
  constructor(private readonly columns: Column[], private readonly bootToWallMs: number, private readonly color: boolean) {
    this.widths = columns.map((c, i) => (i === columns.length - 1 ? 0 : Math.max(c.width ?? DEFAULT_WIDTH[c.field] ?? 8, c.header.length)));
  }
  header(): string[] {
    const h = this.columns.map((c, i) => (this.widths[i] ? c.header.padEnd(this.widths[i]!) : c.header)).join(" ");
    return [this.color ? pc.bold(h) : h];
  }
  render(e: DecodedEvent): string {
    let line = "";
    for (let i = 0; i < this.columns.length; i++) {
      const c = this.columns[i]!;
      let cell = formatCell(c, e, this.bootToWallMs);
      const w = this.widths[i]!;
      if (w) cell = cell.length > w ? cell.slice(0, w) : cell.padEnd(w);
      if (this.color && (c.format === "errno" || c.format === "fd_or_errno") && Number(e[c.field]) < 0) cell = pc.red(cell);
      line += i ? " " + cell : cell;
    }
    return line.trimEnd();
  }
}

/** Milliseconds to add to a bpf_ktime_get_ns() value / 1e6 to get wall-clock time. */
export function bootToWallOffsetMs(): number {
  return Date.now() - Number(monotonicNs()) / 1e6;
}
