// Shared by the JSON line tests: the stream recipes, their event readers, the two renderers
// (generated line and generic line) and synthetic records built from the BTF layout with edge values.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BpfObject, EventReader, type FieldLayout } from "../../src/libbpf";
import type { RecordFn } from "../../src/libbpf/event-reader";
import { JsonLinesRenderer } from "../../src/output/event-renderer";
import type { Alternative, Column } from "../../src/recipe/manifest";

export const repo = join(import.meta.dir, "../..");
export interface StreamManifest {
  name: string;
  object: { file?: string } | string;
  columns: Column[];
  event: { struct: string; ringbuf: string; strings?: Record<string, { length_field: string }> };
  probes: { name: string; alternatives: Alternative[] }[];
}
export const streamRecipes: StreamManifest[] = readdirSync(join(repo, "recipes"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => Bun.YAML.parse(readFileSync(join(repo, "recipes", f), "utf8")) as StreamManifest)
  // generic-tracepoint-events has no columns: its events are the one-liner's printf (trace -e), not JsonLinesRenderer's.
  .filter((m) => m.event && m.columns);
export const objectFile = (m: StreamManifest) => join(repo, "build/bpf", typeof m.object === "string" ? m.object : m.object.file!);
export const hintsOf = (m: StreamManifest) => Object.fromEntries(Object.entries(m.event.strings ?? {}).map(([k, v]) => [k, { lengthField: v.length_field }]));

/** A fixed wall offset and session, as run-trace gives them. */
export const BOOT_TO_WALL_MS = 1.7646e12 + 0.123456;
export const SESSION = "0123456789abcdef";

/** A reader over the object's BTF, and a renderer pair: `line` (generated, or undefined with `fallback`) and `generic`. */
export function pathsFor(m: StreamManifest, obj: BpfObject): { reader: EventReader; line: RecordFn<string> | undefined; fallback: string | undefined; generic: JsonLinesRenderer; genericReader: EventReader } {
  const reader = new EventReader(obj.btf(), m.event.struct, hintsOf(m));
  const fast = new JsonLinesRenderer(m.columns, BOOT_TO_WALL_MS, { recipe: m.name, session: SESSION });
  const line = fast.recordLine(reader);
  // The reference has its own reader: no string cache is shared between the two paths.
  const genericReader = new EventReader(obj.btf(), m.event.struct, hintsOf(m));
  return { reader, line, fallback: fast.fallback, generic: new JsonLinesRenderer(m.columns, BOOT_TO_WALL_MS, { recipe: m.name, session: SESSION }), genericReader };
}

export const openObject = (m: StreamManifest) => BpfObject.openMemory(new Uint8Array(readFileSync(objectFile(m))), m.name);

export function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const enc = (s: string) => new TextEncoder().encode(s);
/** Char-array contents that stress escaping and decoding; each is cut to the field (no NUL when it fills it). */
const STRING_EDGES: Uint8Array[] = [
  new Uint8Array(0), // empty
  enc('q"uote\\back/slash'),
  Uint8Array.from([1, 2, 7, 8, 9, 10, 11, 12, 13, 27, 31, 127, 0x41]), // control chars, DEL
  Uint8Array.from([0xff, 0xfe, 0x80, 0xc3, 0x41, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xf4, 0x90, 0x80, 0x80]), // invalid UTF-8, overlong, surrogate, > U+10FFFF
  enc("é中😀\u2028\u2029"), // valid multi-byte, JS line separators
  Uint8Array.from([0x61, 0xe2, 0x82]), // a multi-byte sequence cut short
  enc("/usr/lib/x86_64-linux-gnu/libc.so.6"),
  enc("<script>&'`${x}"),
];

const pattern = (size: number, byte: number) => new Uint8Array(size).fill(byte);

/** One value for an integer field: edges (0, -1/all ones, extremes, 2^53 + 1) or random. */
function intBytes(f: FieldLayout, rnd: () => number): Uint8Array {
  const size = f.kind === "int" || f.kind === "uint" ? f.size : f.elemSize;
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  const r = rnd();
  if (r < 0.15) return b; // 0
  if (r < 0.3) return pattern(size, 0xff); // -1 / max unsigned
  if (r < 0.4) { // the most negative signed value / 2^(n-1)
    b[size - 1] = 0x80;
    return b;
  }
  if (r < 0.5) { // the largest positive signed value
    b.fill(0xff);
    b[size - 1] = 0x7f;
    return b;
  }
  if (r < 0.55 && size === 8) { // 2^53 + 1: not a double, rounded
    dv.setBigUint64(0, 2n ** 53n + 1n, true);
    return b;
  }
  if (r < 0.7) { // small negative numbers (errno range), as two's complement
    const n = -1 - Math.floor(rnd() * (rnd() < 0.5 ? 140 : 5000));
    for (let i = 0; i < size; i++) b[i] = i < 4 ? (n >>> (8 * i)) & 0xff : 0xff;
    return b;
  }
  if (r < 0.85) { // small positive numbers (pids, enum values, signals, families)
    const n = Math.floor(rnd() * (rnd() < 0.5 ? 70 : 70000));
    for (let i = 0; i < Math.min(size, 4); i++) b[i] = (n >>> (8 * i)) & 0xff;
    return b;
  }
  for (let i = 0; i < size; i++) b[i] = Math.floor(rnd() * 256);
  return b;
}

/** Field values that mean something to jsonEvent: families, open flags, signals, errnos (and unknown ones). */
const MEANINGFUL: Record<string, number[]> = {
  family: [2, 10, 1, 0, 44, 65535],
  flags: [0, 577, 524865, 0o100000, 0o37777777, -1, 3, 0o20200000],
  sig: [0, 9, 10, 15, 31, 34, 64, 65, -1],
  ret: [0, 3, -2, -13, -98, -4095, -133, -2147483648],
  exit_code: [0, 1, 42, 255],
};

/**
 * A synthetic record: every field set from the BTF layout, with edge values chosen at random per
 * field, string lists with empty, NUL-only and unterminated parts, garbage after a char array's NUL.
 */
export function syntheticRecord(reader: EventReader, rnd: () => number): Uint8Array {
  const size = reader.size;
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  for (let i = 0; i < size; i++) b[i] = Math.floor(rnd() * 256); // padding and bytes no field covers
  for (const f of reader.fields) {
    if (reader.lists.has(f.name)) continue;
    if (f.kind === "chars") {
      const r = rnd();
      let s: Uint8Array;
      if (r < 0.6) s = STRING_EDGES[Math.floor(rnd() * STRING_EDGES.length)]!;
      else if (r < 0.75) s = pattern(f.count, 0x41 + Math.floor(rnd() * 26)); // full length, no NUL
      else if (r < 0.85) s = Uint8Array.from({ length: f.count }, () => 1 + Math.floor(rnd() * 255)); // full length of random bytes
      else s = Uint8Array.from({ length: Math.floor(rnd() * f.count) }, () => (rnd() < 0.8 ? 0x20 + Math.floor(rnd() * 95) : 1 + Math.floor(rnd() * 255)));
      const n = Math.min(s.length, f.count);
      b.set(s.subarray(0, n), f.offset);
      if (n < f.count) b[f.offset + n] = 0; // after the NUL the bytes stay random: never read
      continue;
    }
    if (f.kind === "int" || f.kind === "uint") {
      const m = MEANINGFUL[f.name];
      if (m && rnd() < 0.6) {
        const v = m[Math.floor(rnd() * m.length)]!;
        for (let i = 0; i < f.size; i++) b[f.offset + i] = i < 4 ? (v >>> (8 * i)) & 0xff : v < 0 ? 0xff : 0;
      } else b.set(intBytes(f, rnd), f.offset);
      continue;
    }
    // Arrays (addresses): IPv4, IPv4-mapped IPv6, ::1, zeros with a run, or random elements.
    const r = rnd();
    if (f.size === 16 && r < 0.6) {
      const addrs = [[127, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3], [...Array(15).fill(0), 1], Array(16).fill(0), [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], [0x20, 1, 0xd, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]];
      b.fill(0, f.offset, f.offset + 16);
      b.set(addrs[Math.floor(rnd() * addrs.length)]!, f.offset);
    } else for (let k = 0; k < f.count; k++) b.set(intBytes(f, rnd), f.offset + k * f.elemSize);
  }
  for (const [name, hint] of Object.entries(reader.hints)) {
    const f = reader.fields.find((x) => x.name === name)!;
    const len = reader.fields.find((x) => x.name === hint.lengthField)!;
    const parts = ["/bin/true", "", 'a"b\\c', "\x01\t\n", "é😀", "x".repeat(40)];
    const bytes: number[] = [];
    while (bytes.length < f.size && rnd() < 0.9) {
      const p = rnd() < 0.2 ? Array.from({ length: 4 }, () => Math.floor(rnd() * 256)) : [...enc(parts[Math.floor(rnd() * parts.length)]!)];
      bytes.push(...p, 0);
    }
    if (rnd() < 0.2 && bytes.length) bytes.pop(); // the last string unterminated
    const used = Math.min(bytes.length, f.size);
    b.set(bytes.slice(0, used), f.offset);
    // The length as the kernel wrote it, beyond the field sometimes (the reader clamps).
    const lenValue = rnd() < 0.1 ? f.size + 1 + Math.floor(rnd() * 1000) : rnd() < 0.1 ? 0 : used;
    b.fill(0, len.offset, len.offset + len.size);
    dv.setUint32(len.offset, lenValue, true);
  }
  return b;
}
