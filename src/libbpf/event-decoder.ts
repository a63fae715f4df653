// A decoder generated once per event struct from its BTF layout: one function with every offset,
// width and signedness fixed in its source, so the per-event work is straight-line DataView reads
// and one object literal of a single shape, instead of a loop over per-field closures.
//
// The function reads an 8-bit view and a DataView of the same memory at byte offset `o`. Char
// arrays go through CharsField, which remembers the last bytes it turned into a string (comm and
// often path repeat from one event to the next) and the JSON form of that string, so that the
// consumer need not decode the same string twice.
import type { FieldLayout } from "./btf";

export type EventValue = number | string | string[] | number[];
export type DecodedEvent = Record<string, EventValue>;

/** How to present a char array beyond "NUL-terminated string". */
export interface StringListHint {
  /** The field holds NUL-separated strings; this integer field says how many bytes are used. */
  lengthField: string;
}

/** Bun's Buffer has Node's undocumented latin1Slice (what toString("latin1", …) calls), minus the dispatch. */
export type WindowBytes = Buffer & { latin1Slice(start: number, end: number): string };

const utf8 = new TextDecoder("utf-8", { fatal: false });

/**
 * One char-array field: the NUL-terminated (or full-length) string at [start, start + max).
 * Remembers the last bytes and string it produced; comparing a few words is cheaper than making
 * a string. Scans four bytes at a time (a zero-byte test per word), never beyond the field.
 * `json` is the JSON form of the last string, made on first use.
 */
export class CharsField {
  private last = "";
  private lastJson = '""';
  private jsonFor = "";
  /** The last string's bytes as little-endian words, the word holding its NUL masked to the bytes before it. */
  private readonly prev: Uint32Array;
  private lastLen = -1;
  constructor(private readonly max: number) {
    this.prev = new Uint32Array((max >> 2) + 1);
  }
  read(b: WindowBytes, dv: DataView, start: number): string {
    const max = this.max;
    const prev = this.prev;
    const full = max & ~3;
    let same = true;
    let high = 0;
    let len = -1;
    let i = 0;
    for (; i < full; i += 4) {
      let w = dv.getUint32(start + i, true);
      const z = (w - 0x01010101) & ~w & 0x80808080;
      if (z !== 0) {
        // The lowest flagged byte is the first NUL (higher flags may be false positives).
        const k = (31 - Math.clz32(z & -z)) >> 3;
        w = k === 0 ? 0 : (w & (0xffffffff >>> (32 - 8 * k))) >>> 0;
        if (w !== prev[i >> 2]) same = false;
        high |= w;
        len = i + k;
        break;
      }
      if (w !== prev[i >> 2]) same = false;
      high |= w;
    }
    if (len < 0) {
      // No NUL in the whole words: the last max % 4 bytes, one at a time.
      len = max;
      let w = 0;
      for (let j = full; j < max; j++) {
        const c = b[start + j]!;
        if (c === 0) {
          len = j;
          break;
        }
        w |= c << (8 * (j - full));
      }
      w >>>= 0;
      if (w !== prev[full >> 2]) same = false;
      high |= w;
    }
    if (same && len === this.lastLen) return this.last;
    const end = start + len;
    // ASCII (the common case: comm, paths): latin1 gives the same string as UTF-8, without a decoder call.
    const s = len === 0 ? "" : (high & 0x80808080) === 0 ? b.latin1Slice(start, end) : utf8.decode(b.subarray(start, end));
    // Remember the words as compared above: whole words before the NUL, the NUL's word masked.
    prev.fill(0);
    for (let j = 0; j < len; j++) prev[j >> 2]! |= b[start + j]! << (8 * (j & 3));
    this.lastLen = len;
    this.last = s;
    return s;
  }
  /** JSON.stringify(s), remembered for the last string read. */
  json(s: string): string {
    if (s !== this.jsonFor) {
      this.jsonFor = s;
      this.lastJson = JSON.stringify(s);
    }
    return this.lastJson;
  }
}

/** NUL-separated strings in the first `used` bytes (execsnoop's argv). */
export function stringList(b: WindowBytes, start: number, used: number): string[] {
  const parts = utf8.decode(b.subarray(start, start + used)).split("\0");
  if (parts.length && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** A function generated over one struct's layout, reading the record at byte offset `o` of `dv` / `b`. */
export type RecordFn<T> = (dv: DataView, b: WindowBytes, o: number) => T;
export type GeneratedDecoder = RecordFn<DecodedEvent>;

export interface CompiledDecoder {
  decode: GeneratedDecoder;
  /** The CharsField of each char-array field, by name (the JSON writer reuses their quoting). */
  chars: Map<string, CharsField>;
  /** Names of the fields holding string lists. */
  lists: Set<string>;
  /** The generated source, for tests and debugging. */
  source: string;
}

/** The source of one little-endian integer read at `at` (a JS expression); the JSON line writer reuses it. */
export function intExpr(size: number, signed: boolean, at: string): string {
  switch (size) {
    case 1:
      return signed ? `dv.getInt8(${at})` : `b[${at}]`;
    case 2:
      return `dv.${signed ? "getInt16" : "getUint16"}(${at}, true)`;
    case 4:
      return `dv.${signed ? "getInt32" : "getUint32"}(${at}, true)`;
    case 8:
      // hi * 2^32 is exact and the sum is rounded once: the same double as Number(read.u64()).
      return `(dv.${signed ? "getInt32" : "getUint32"}(${at} + 4, true) * 4294967296 + dv.getUint32(${at}, true))`;
    default:
      throw new Error(`unsupported integer size ${size}`);
  }
}

/** Writes the decoder of one struct layout; throws on a layout it cannot decode, as BTF parsing does. */
export function compileDecoder(fields: FieldLayout[], hints: Record<string, StringListHint> = {}, structName = "event"): CompiledDecoder {
  const byName = new Map(fields.map((f) => [f.name, f]));
  const chars = new Map<string, CharsField>();
  const lists = new Set<string>();
  const charsArgs: CharsField[] = [];
  const props: string[] = [];
  // Padding members (__pad…) are layout, not data: never decoded, never shown.
  for (const f of fields.filter((x) => !x.name.startsWith("__"))) {
    const at = `o + ${f.offset}`;
    const hint = hints[f.name];
    let expr: string;
    if (hint) {
      const len = byName.get(hint.lengthField);
      if (!len) throw new Error(`event field ${hint.lengthField} (length of ${f.name}) is not in struct ${structName}`);
      if (len.kind !== "int" && len.kind !== "uint") throw new Error(`event field ${hint.lengthField} (length of ${f.name}) is not an integer`);
      // The length is read unsigned, as a byte count, and never beyond the field.
      expr = `list(b, ${at}, Math.min(${intExpr(len.size, false, `o + ${len.offset}`)}, ${f.size}))`;
      lists.add(f.name);
    } else {
      switch (f.kind) {
        case "int":
        case "uint":
          expr = intExpr(f.size, f.kind === "int", at);
          break;
        case "chars": {
          const c = new CharsField(f.count);
          chars.set(f.name, c);
          charsArgs.push(c);
          expr = `c${charsArgs.length - 1}.read(b, dv, ${at})`;
          break;
        }
        case "int[]":
        case "uint[]": {
          const elems = Array.from({ length: f.count }, (_, i) => intExpr(f.elemSize, f.kind === "int[]", `o + ${f.offset + i * f.elemSize}`));
          expr = `[${elems.join(", ")}]`;
          break;
        }
        case "bytes":
          expr = `Array.from(b.subarray(${at}, ${at} + ${f.size}))`;
          break;
      }
    }
    props.push(`${JSON.stringify(f.name)}: ${expr}`);
  }
  const params = charsArgs.map((_, i) => `c${i}`);
  const source = `return function decode_${structName.replace(/\W/g, "_")}(dv, b, o) {\n  return {\n    ${props.join(",\n    ")}\n  };\n};`;
  const make = new Function("list", ...params, source) as (...a: unknown[]) => GeneratedDecoder;
  return { decode: make(stringList, ...charsArgs), chars, lists, source };
}
