// The -o json line of one event struct, generated once from its BTF layout and the manifest's
// columns: string concatenation in struct order, with each char array quoted once per distinct
// value (CharsField remembers it), instead of jsonEvent() + JSON.stringify() on every event.
// It writes exactly what the generic path writes (test/output/json-line.test.ts compares both);
// a layout or column set it cannot prove identical for gets no fast path (compileJsonLine
// returns undefined) and the renderer keeps the generic one.
import type { EventLayout } from "../libbpf/event-reader";
import type { DecodedEvent } from "../libbpf/event-reader";
import type { Column } from "../recipe/manifest";
import { errnoName, ipAny, ipv4, ipv6, signalName } from "./format";

export type JsonLine = (e: DecodedEvent) => string;

const INT_KINDS = new Set(["int", "uint"]);

/** JSON.stringify(name(n)), remembered per n: a storm of failing calls repeats one errno. */
function memoJson(name: (n: number) => string): (n: number) => string {
  const m = new Map<number, string>();
  return (n) => {
    let j = m.get(n);
    if (j === undefined) {
      j = JSON.stringify(name(n));
      if (m.size < 4096) m.set(n, j);
    }
    return j;
  };
}

/** `iso(ms)` turns boot-relative milliseconds + offset into the `time` string (the renderer's cache). */
export function compileJsonLine(columns: Column[], layout: EventLayout, iso: (ms: number) => string, bootToWallMs: number): JsonLine | undefined {
  const kind = new Map(layout.fields.map((f) => [f.name, f.kind]));
  const transformed = new Map<string, string>(); // field -> ipv4 | ipv6 | ip
  const tail: string[] = [];
  const added = new Set<string>();
  const seen = new Set<string>();
  let errnoColumns = 0;
  for (const c of columns) {
    const k = kind.get(c.field);
    if (k === undefined) continue; // jsonEvent skips a column whose field is not decoded
    const f = c.format;
    if (f !== "errno" && f !== "fd_or_errno" && f !== "ipv4" && f !== "ipv6" && f !== "ip" && f !== "signal") continue;
    // A field transformed twice sees its own output the second time in jsonEvent: leave that to it.
    if (seen.has(c.field)) return undefined;
    seen.add(c.field);
    const v = `e[${JSON.stringify(c.field)}]`;
    if (f === "errno" || f === "fd_or_errno") {
      if (!INT_KINDS.has(k) || ++errnoColumns > 1) return undefined;
      added.add("errno");
      tail.push(`if (${v} < 0) s += ',"errno":' + errnoJson(-${v});`);
    } else if (f === "signal") {
      if (!INT_KINDS.has(k)) return undefined;
      added.add(`${c.field}_name`);
      tail.push(`s += ${JSON.stringify(`,${JSON.stringify(`${c.field}_name`)}:`)} + signalJson(${v});`);
    } else {
      if (f === "ip" && !kind.has("family")) return undefined;
      transformed.set(c.field, f);
    }
  }
  const ts = kind.get("ts_ns");
  if (ts !== undefined && INT_KINDS.has(ts)) {
    added.add("time");
    tail.push(`s += ',"time":"' + iso(boot + e.ts_ns / 1e6) + '"';`);
  }
  // A key jsonEvent adds that is also a field would be overwritten in place, not appended.
  for (const a of added) if (kind.has(a)) return undefined;

  const chars: unknown[] = [];
  const parts: string[] = [];
  layout.fields.forEach((f, i) => {
    const key = JSON.stringify(`${i ? "," : "{"}${JSON.stringify(f.name)}:`);
    const v = `e[${JSON.stringify(f.name)}]`;
    const t = transformed.get(f.name);
    let expr: string;
    if (t) expr = `JSON.stringify(${t === "ipv4" ? `ipv4(${v})` : t === "ipv6" ? `ipv6(${v})` : `ipAny(${v}, e.family)`})`;
    else if (layout.lists.has(f.name)) expr = `JSON.stringify(${v})`;
    else if (f.kind === "chars") {
      chars.push(layout.chars.get(f.name));
      expr = `q${chars.length - 1}.json(${v})`;
    } else if (f.kind === "int[]" || f.kind === "uint[]" || f.kind === "bytes") expr = `"[" + ${v}.join(",") + "]"`;
    else expr = `"" + ${v}`;
    parts.push(`${key} + ${expr}`);
  });
  if (!parts.length) return undefined;
  const body = `let s = ${parts.join("\n    + ")};\n  ${tail.join("\n  ")}\n  return s + "}";`;
  const params = chars.map((_, i) => `q${i}`);
  const make = new Function("errnoJson", "signalJson", "ipv4", "ipv6", "ipAny", "iso", "boot", ...params, `return function jsonLine(e) {\n  ${body}\n};`);
  return make(memoJson(errnoName), memoJson(signalName), ipv4, ipv6, ipAny, iso, bootToWallMs, ...chars) as JsonLine;
}
