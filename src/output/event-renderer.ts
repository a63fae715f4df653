// Turns decoded events into output lines: a live table (header once, aligned rows) or JSON lines.
import pc from "picocolors";
import { monotonicNs } from "../libbpf/clock";
import type { DecodedEvent, EventLayout, RecordFn } from "../libbpf/event-reader";
import type { Column } from "../recipe/manifest";
import { formatCell, jsonEvent } from "./format";
import { compileJsonLine } from "./json-line";
import { envelope } from "./records";
import type { EventRenderer } from "../session/event-sink";
export type { EventRenderer } from "../session/event-sink";


export class JsonLinesRenderer implements EventRenderer {
  // Events come in bursts within the same millisecond: reuse the last ISO string (hot path).
  private lastMs = NaN;
  private lastIso = "";
  /** The record envelope, serialised once: `{"kind":"event","schema_version":1,"recipe":…,"session":…,` */
  private readonly prefix: string;
  /** Why the last recordLine() call gave no generated line (the generic one is used), if it did not. */
  fallback: string | undefined;
  constructor(private readonly columns: Column[], private readonly bootToWallMs: number, who: { recipe: string; session: string } = { recipe: "", session: "" }) {
    this.prefix = JSON.stringify(envelope("event", who.recipe, who.session)).slice(0, -1) + ",";
  }
  header(): string[] {
    return [];
  }
  render(e: DecodedEvent): string {
    return this.renderGeneric(e);
  }
  /** The line generated for this layout, run on the record's bytes (json-line.ts); undefined: use render(). */
  recordLine(layout: EventLayout): RecordFn<string> | undefined {
    const r = compileJsonLine(this.columns, layout, { prefix: this.prefix, iso: (ms) => this.iso(ms), bootToWallMs: this.bootToWallMs });
    this.fallback = "fallback" in r ? r.fallback : undefined;
    return "line" in r ? r.line : undefined;
  }
  /** jsonEvent + JSON.stringify: any event, and the reference the generated line must match. */
  renderGeneric(e: DecodedEvent): string {
    const o = jsonEvent(this.columns, e, true); // the session's decode: one object per event, not kept
    if (typeof e.ts_ns === "number") o.time = this.iso(this.bootToWallMs + e.ts_ns / 1e6);
    const body = JSON.stringify(o);
    return body.length > 2 ? this.prefix + body.slice(1) : this.prefix.slice(0, -1) + "}";
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

// Starting widths; a column widens to fit a longer value (never clipped): errno names
// (ENAMETOOLONG), IPv6 addresses and 15-byte comms are shown whole.
const DEFAULT_WIDTH: Record<string, number> = { pid: 7, ppid: 7, tid: 7, uid: 6, comm: 16, ret: 6 };
const FORMAT_WIDTH: Record<string, number> = { errno: 6, fd_or_errno: 6, ip: 15, ipv4: 15, ipv6: 15, ns_ts: 12, signal: 7 };
/** Free text: the only cells ever shortened (ending in "..."), and only when not the last column. */
const FREE_TEXT_CAP = 40;
const isFreeText = (c: Column) => c.format === "argv" || ((c.format === undefined || c.format === "string") && !(c.field in DEFAULT_WIDTH) && !/comm$/.test(c.field));

export class TableRenderer implements EventRenderer {
  private readonly widths: number[];
  /** `terminalWidth`: on a terminal, the last column (free text) is cut with "..." so no row wraps. */
  constructor(private readonly columns: Column[], private readonly bootToWallMs: number, private readonly color: boolean, private readonly terminalWidth?: () => number) {
    this.widths = columns.map((c, i) => (i === columns.length - 1 ? 0 : Math.max(c.width ?? DEFAULT_WIDTH[c.field] ?? (/comm$/.test(c.field) ? 16 : undefined) ?? FORMAT_WIDTH[c.format ?? ""] ?? 8, c.header.length)));
  }
  header(): string[] {
    const h = this.columns.map((c, i) => (this.widths[i] ? c.header.padEnd(this.widths[i]!) : c.header)).join(" ");
    return [this.color ? pc.bold(h) : h];
  }
  render(e: DecodedEvent): string {
    let line = "";
    let visible = 0;
    for (let i = 0; i < this.columns.length; i++) {
      const c = this.columns[i]!;
      let cell = formatCell(c, e, this.bootToWallMs);
      const w = this.widths[i]!;
      if (!w && this.terminalWidth) {
        const room = this.terminalWidth() - visible - (i ? 1 : 0);
        if (room > 3 && cell.length > room) cell = `${cell.slice(0, room - 3)}...`;
      }
      if (w) {
        if (cell.length > w && isFreeText(c) && cell.length > FREE_TEXT_CAP) cell = `${cell.slice(0, FREE_TEXT_CAP - 3)}...`;
        if (cell.length > w) this.widths[i] = cell.length; // widen: later rows line up with this one
        cell = cell.padEnd(this.widths[i]!);
      }
      visible += (i ? 1 : 0) + cell.length; // before colour: escapes take no columns
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
