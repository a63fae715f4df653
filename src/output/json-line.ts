// The -o json line of one event struct, generated once per (struct layout, recipe columns) and run
// on the ring record's bytes in place: the decoded values go straight into the line, with no event
// object, no jsonEvent() and no JSON.stringify() of a whole record between.
//
// The line is byte-for-byte the one JsonLinesRenderer.renderGeneric writes (jsonEvent +
// JSON.stringify, test/output/json-line.test.ts compares both on real and synthetic records):
//  - keys in the generic object's order: the struct's fields (padding skipped), values replaced in
//    place (addresses as text, open flags as a list, family by name), then the keys jsonEvent
//    appends in column order (errno when negative, <sig>_name, <flags>_raw), family_raw, time;
//  - values made by the same functions (CharsField.read + JSON.stringify, stringList, errnoName,
//    ipAny, …), so escaping, U+FFFD for invalid UTF-8 and number formatting cannot differ: a
//    finite number concatenated to a string is written as JSON.stringify writes it (Number::toString),
//    u64 beyond 2^53 included (the decoder's double, rounded once).
// A layout or column set whose generic object this cannot be proven to follow (a key jsonEvent adds
// that is also a field, a field transformed twice, a transform on a field of another kind, an
// array-index key that JS objects would reorder) gets { fallback: why } and the renderer keeps
// the generic line for that recipe.
import type { FieldLayout } from "../libbpf/btf";
import { CharsField, intExpr, stringList, type RecordFn } from "../libbpf/event-decoder";
import type { EventLayout } from "../libbpf/event-reader";
import type { Column } from "../recipe/manifest";
import { errnoName, familyName, ipAny, ipv4, ipv6, openFlagList, signalName } from "./format";

export type JsonLineResult = { line: RecordFn<string>; source: string } | { fallback: string };

export interface JsonLineContext {
  /** The envelope up to its last comma: `{"kind":"event",…,"session":"…",` (JsonLinesRenderer's prefix). */
  prefix: string;
  /** Wall-clock ISO string of a millisecond time (the renderer's cached Date). */
  iso: (ms: number) => string;
  bootToWallMs: number;
}

/** JSON.stringify(f(n)), remembered per n: a storm repeats one errno, one flags value, one signal. */
function memoJson(f: (n: number) => unknown): (n: number) => string {
  const m = new Map<number, string>();
  let lastN = NaN;
  let lastJ = "";
  return (n) => {
    if (n === lastN) return lastJ;
    let j = m.get(n);
    if (j === undefined) {
      j = JSON.stringify(f(n));
      if (m.size < 4096) m.set(n, j);
    }
    lastN = n;
    return (lastJ = j);
  };
}

/** "000" … "999". */
const DIGITS3 = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"));

/**
 * String(v) for the integers of one 8-byte field (timestamps, byte counts), which change on every
 * event but keep their high digits: the digits above the last six are remembered, the last six
 * come from a table. Number-to-string of a 13-19 digit double is the dearest step of the line
 * otherwise (~400 ns here). Only integers in [1e6, 2^53) take this path; they print as exactly
 * their decimal digits, so the result is String(v); anything else (2^53 and beyond, where String
 * gives the shortest round-trip digits, negatives, small values) is String(v) itself.
 */
export function wideDigits(): (v: number) => string {
  let lastHigh = -1;
  let highText = "";
  return (v) => {
    if (!(v >= 1e6 && v < 9007199254740992)) return "" + v;
    let high = Math.floor(v / 1e6);
    let low = v - high * 1e6; // exact: integers below 2^53
    if (low < 0) {
      high -= 1;
      low += 1e6;
    } else if (low >= 1e6) {
      high += 1;
      low -= 1e6;
    }
    if (high !== lastHigh) {
      lastHigh = high;
      highText = "" + high;
    }
    const a = (low / 1000) | 0;
    return highText + DIGITS3[a]! + DIGITS3[low - a * 1000]!;
  };
}

const INT = new Set(["int", "uint"]);
const ARRAY = new Set(["int[]", "uint[]", "bytes"]);
/** Keys a JS object orders before all others (canonical array indices). */
const isIndexKey = (k: string) => /^(0|[1-9]\d*)$/.test(k) && Number(k) < 2 ** 32 - 1;

type Transform = "ipv4" | "ipv6" | "ip" | "open_flags";
/** One key and value of the line as source text, and the locals it is made from. */
interface Piece {
  text: string;
  deps: string[];
}

export function compileJsonLine(columns: Column[], layout: EventLayout, ctx: JsonLineContext): JsonLineResult {
  const fields = layout.fields.filter((f) => !f.name.startsWith("__"));
  if (!fields.length) return { fallback: "the event struct has no fields" };
  const byName = new Map(fields.map((f) => [f.name, f]));
  const isList = (f: FieldLayout) => layout.lists.has(f.name);
  const isInt = (f: FieldLayout) => INT.has(f.kind) && !isList(f);
  for (const f of fields) if (isIndexKey(f.name)) return { fallback: `field ${f.name} is an array index: a JS object puts it first` };

  const local = new Map(fields.map((f, i) => [f.name, `v${i}`]));
  const transforms = new Map<string, Transform>();
  /** The keys jsonEvent appends, in its order: text made from the values of `deps`. */
  const tail: Piece[] = [];
  const added: string[] = [];
  const seen = new Set<string>();
  const keyLit = (k: string) => JSON.stringify(`,${JSON.stringify(k)}:`);
  for (const c of columns) {
    const f = byName.get(c.field);
    if (!f) continue; // not decoded: jsonEvent skips the column
    const fmt = c.format;
    if (fmt !== "errno" && fmt !== "fd_or_errno" && fmt !== "signal" && fmt !== "open_flags" && fmt !== "ipv4" && fmt !== "ipv6" && fmt !== "ip") continue;
    // jsonEvent fills the object in place: a second column on a field would see the first one's output.
    if (seen.has(f.name)) return { fallback: `field ${f.name} has two JSON-transforming columns` };
    seen.add(f.name);
    const v = local.get(f.name)!;
    if (fmt === "errno" || fmt === "fd_or_errno") {
      if (!isInt(f)) return { fallback: `errno column ${f.name} is not an integer` };
      if (added.includes("errno")) return { fallback: "two errno columns" };
      added.push("errno");
      tail.push({ text: `(${v} < 0 ? ${keyLit("errno")} + errnoJson(-${v}) : "")`, deps: [v] });
    } else if (fmt === "signal") {
      if (!isInt(f)) return { fallback: `signal column ${f.name} is not an integer` };
      added.push(`${f.name}_name`);
      tail.push({ text: `${keyLit(`${f.name}_name`)} + signalJson(${v})`, deps: [v] });
    } else if (fmt === "open_flags") {
      if (!isInt(f)) return { fallback: `open_flags column ${f.name} is not an integer` };
      transforms.set(f.name, "open_flags");
      added.push(`${f.name}_raw`);
      tail.push({ text: `${keyLit(`${f.name}_raw`)} + ${v}`, deps: [v] });
    } else {
      if (isList(f) || !(ARRAY.has(f.kind) || (fmt === "ipv4" && INT.has(f.kind)))) return { fallback: `${fmt} column ${f.name} is a ${f.kind}` };
      transforms.set(f.name, fmt);
    }
  }
  const family = byName.get("family");
  const familyInt = family !== undefined && isInt(family);
  if (familyInt) {
    if (transforms.has("family")) return { fallback: "family is also transformed by a column" };
    added.push("family_raw");
    tail.push({ text: `${keyLit("family_raw")} + ${local.get("family")}`, deps: [local.get("family")!] });
  }
  const ts = byName.get("ts_ns");
  if (ts && isInt(ts)) {
    if (transforms.has("ts_ns")) return { fallback: "ts_ns is transformed by a column" };
    added.push("time");
  }
  const withTime = added.includes("time");
  for (const [i, a] of added.entries()) {
    // jsonEvent would overwrite such a key in place, not append it.
    if (byName.has(a) || added.indexOf(a) !== i) return { fallback: `key ${a} is both a field and added by jsonEvent` };
  }

  const chars: CharsField[] = [];
  const wides: ((v: number) => string)[] = [];
  const reads: string[] = [];
  /** Key and value text per field, in the generic object's order; `deps` empty: made on every event. */
  const pieces: Piece[] = [];
  for (const [i, f] of fields.entries()) {
    const v = local.get(f.name)!;
    const at = `o + ${f.offset}`;
    const elems = () => Array.from({ length: f.count }, (_, k) => intExpr(f.elemSize, f.kind === "int[]", `o + ${f.offset + k * f.elemSize}`));
    const key = JSON.stringify(`${i ? "," : ctx.prefix}${JSON.stringify(f.name)}:`);
    const t = transforms.get(f.name);
    if (isList(f)) {
      const len = byName.get(layout.hints[f.name]!.lengthField)!;
      reads.push(`const ${v} = list(b, ${at}, Math.min(${intExpr(len.size, false, `o + ${len.offset}`)}, ${f.size}));`);
      pieces.push({ text: `${key} + JSON.stringify(${v})`, deps: [] });
    } else if (INT.has(f.kind)) {
      reads.push(`const ${v} = ${intExpr(f.size, f.kind === "int", at)};`);
      if (t === "open_flags") pieces.push({ text: `${key} + flagsJson(${v})`, deps: [v] });
      else if (t === "ipv4") pieces.push({ text: `${key} + JSON.stringify(ipv4(${v}))`, deps: [v] });
      else if (f.name === "family" && familyInt) pieces.push({ text: `${key} + familyJson(${v})`, deps: [v] });
      else if (f.size === 8) {
        // Timestamps and counters change on every event: their digits, not a remembered text.
        wides.push(wideDigits());
        pieces.push({ text: `${key} + w${wides.length - 1}(${v})`, deps: [] });
      } else pieces.push({ text: `${key} + ${v}`, deps: [v] });
    } else if (f.kind === "chars") {
      chars.push(new CharsField(f.count));
      const c = `c${chars.length - 1}`;
      reads.push(`const ${v} = ${c}.read(b, dv, ${at});`);
      pieces.push({ text: `${key} + ${c}.json(${v})`, deps: [v] });
    } else if (t) {
      reads.push(`const ${v} = [${elems().join(", ")}];`);
      pieces.push({ text: `${key} + JSON.stringify(${t === "ipv4" ? `ipv4(${v})` : t === "ipv6" ? `ipv6(${v})` : `ipAny(${v}, ${familyInt ? local.get("family") : "undefined"})`})`, deps: [] });
    } else {
      // An integer array is joined as JSON.stringify joins it; no array is made.
      pieces.push({ text: `${key} + ${f.count ? `"[" + ${elems().join(' + "," + ')} + "]"` : `"[]"`}`, deps: [] });
    }
  }
  // Runs of pieces with values are remembered as one text, re-made only when one of their values
  // changed since the event before (in a storm only the timestamp does): fewer, longer pieces.
  const state: string[] = [];
  const build: string[] = [];
  const line: string[] = [];
  const segment = (run: Piece[]) => {
    const g = `g${state.length}`;
    const deps = [...new Set(run.flatMap((p) => p.deps))];
    state.push(`let ${g} = "", ${deps.map((d) => `${g}_${d} = NaN`).join(", ")};`);
    build.push(`if (${deps.map((d) => `${d} !== ${g}_${d}`).join(" || ")}) {\n    ${deps.map((d) => `${g}_${d} = ${d};`).join(" ")}\n    ${g} = ${run.map((p) => p.text).join(" + ")};\n  }`);
    line.push(g);
  };
  let run: Piece[] = [];
  for (const p of pieces) {
    if (p.deps.length) {
      run.push(p);
      continue;
    }
    if (run.length) segment(run);
    run = [];
    line.push(`(${p.text})`);
  }
  if (run.length) segment(run);
  if (tail.length) segment(tail);
  if (withTime) {
    // iso() returns the same string while the millisecond is the same.
    state.push(`let lastIso = "", timeText = "}";`);
    build.push(`const t = iso(boot + ${local.get("ts_ns")} / 1e6);\n  if (t !== lastIso) {\n    lastIso = t;\n    timeText = ',"time":"' + t + '"}';\n  }`);
    line.push("timeText");
  } else line.push(`"}"`);
  const source = `${state.join("\n")}\nreturn function jsonLine(dv, b, o) {\n  ${reads.join("\n  ")}\n  ${build.join("\n  ")}\n  return ${line.join(" + ")};\n};`;
  const names = ["list", "errnoJson", "signalJson", "flagsJson", "familyJson", "ipv4", "ipv6", "ipAny", "iso", "boot", ...chars.map((_, i) => `c${i}`), ...wides.map((_, i) => `w${i}`)];
  const make = new Function(...names, source) as (...a: unknown[]) => RecordFn<string>;
  const fn = make(
    stringList, memoJson(errnoName), memoJson((n) => signalName(n) || null), memoJson(openFlagList), memoJson(familyName),
    ipv4, ipv6, ipAny, ctx.iso, ctx.bootToWallMs, ...chars, ...wides,
  );
  return { line: fn, source };
}
