// The generated decoder (event-decoder.ts) against a plain interpreter of the same BTF layout,
// for every struct a shipped recipe decodes (stream events, aggregation keys and values), on
// random bytes: both the ring path (a pointer into memory) and the copied-bytes path.
// The interpreter below is the ground truth: one field at a time, DataView and TextDecoder only.
import { expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { ptr } from "bun:ffi";
import { BpfObject, EventReader, type FieldLayout } from "../../src/libbpf";
import type { DecodedEvent } from "../../src/libbpf/event-reader";

const repo = join(import.meta.dir, "../..");

function interpret(fields: FieldLayout[], bytes: Uint8Array, lists: Record<string, string>): DecodedEvent {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const int = (off: number, size: number, signed: boolean): number => {
    if (size === 1) return signed ? dv.getInt8(off) : dv.getUint8(off);
    if (size === 2) return signed ? dv.getInt16(off, true) : dv.getUint16(off, true);
    if (size === 4) return signed ? dv.getInt32(off, true) : dv.getUint32(off, true);
    return Number(signed ? dv.getBigInt64(off, true) : dv.getBigUint64(off, true));
  };
  const out: DecodedEvent = {};
  for (const f of fields) {
    if (f.name.startsWith("__")) continue; // padding is layout, not data (the JSON contract)
    const lenField = lists[f.name];
    if (lenField) {
      const len = fields.find((x) => x.name === lenField)!;
      const used = Math.min(int(len.offset, len.size, false), f.size);
      const parts = new TextDecoder().decode(bytes.subarray(f.offset, f.offset + used)).split("\0");
      if (parts.length && parts[parts.length - 1] === "") parts.pop();
      out[f.name] = parts;
      continue;
    }
    switch (f.kind) {
      case "int":
      case "uint":
        out[f.name] = int(f.offset, f.size, f.kind === "int");
        break;
      case "chars": {
        const s = bytes.subarray(f.offset, f.offset + f.count);
        const nul = s.indexOf(0);
        out[f.name] = new TextDecoder().decode(nul < 0 ? s : s.subarray(0, nul));
        break;
      }
      case "int[]":
      case "uint[]":
        out[f.name] = Array.from({ length: f.count }, (_, i) => int(f.offset + i * f.elemSize, f.elemSize, f.kind === "int[]"));
        break;
      case "bytes":
        out[f.name] = Array.from(bytes.subarray(f.offset, f.offset + f.size));
        break;
    }
  }
  return out;
}

/** Random bytes shaped like events: runs of ASCII, NULs, high bytes (invalid UTF-8 too), and all-ones words. */
function randomEvent(size: number, rnd: () => number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const r = rnd();
    b[i] = r < 0.5 ? 0x20 + Math.floor(rnd() * 95) : r < 0.7 ? 0 : r < 0.8 ? 0xff : Math.floor(rnd() * 256);
  }
  return b;
}

// A small deterministic generator, so that a failure can be replayed.
function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Manifest { name: string; object: { file?: string } | string; event?: { struct: string; strings?: Record<string, { length_field: string }> }; aggregate?: { key_struct?: string; value_struct?: string } }
const manifests = readdirSync(join(repo, "recipes")).filter((f) => f.endsWith(".yaml")).map((f) => Bun.YAML.parse(readFileSync(join(repo, "recipes", f), "utf8")) as Manifest);

const cases = manifests.flatMap((m) => {
  const structs: { struct: string; lists: Record<string, string> }[] = [];
  if (m.event) structs.push({ struct: m.event.struct, lists: Object.fromEntries(Object.entries(m.event.strings ?? {}).map(([k, v]) => [k, v.length_field])) });
  if (m.aggregate?.key_struct) structs.push({ struct: m.aggregate.key_struct, lists: {} });
  if (m.aggregate?.value_struct) structs.push({ struct: m.aggregate.value_struct, lists: {} });
  const file = typeof m.object === "string" ? m.object : m.object.file!;
  return structs.map((s) => ({ recipe: m.name, file, ...s }));
});

test("every recipe has at least one struct to decode", () => {
  expect(new Set(cases.map((c) => c.recipe)).size).toBe(manifests.length);
});

for (const c of cases) {
  test(`${c.recipe}: struct ${c.struct}, generated decoder = interpreter on 2000 random events`, () => {
    const obj = BpfObject.openMemory(new Uint8Array(readFileSync(join(repo, "build/bpf", c.file))), c.recipe);
    try {
      const reader = new EventReader(obj.btf(), c.struct, Object.fromEntries(Object.entries(c.lists).map(([k, v]) => [k, { lengthField: v }])));
      const rnd = mulberry32(c.struct.length * 7919 + c.recipe.length);
      // One arena for the pointer path, so that samples sit side by side as in a ring.
      const arena = new Uint8Array(reader.size * 64 + 64);
      for (let i = 0; i < 2000; i++) {
        const bytes = randomEvent(reader.size, rnd);
        // Every few events repeat the previous one: the string caches must give the same answer.
        if (i % 5 === 4) bytes.set(arena.subarray(((i - 1) % 64) * reader.size, ((i - 1) % 64) * reader.size + reader.size));
        for (const [name, len] of Object.entries(c.lists)) {
          // A used length within the field most of the time, beyond it sometimes.
          const f = reader.fields.find((x) => x.name === len)!;
          const field = reader.fields.find((x) => x.name === name)!;
          const used = rnd() < 0.9 ? Math.floor(rnd() * field.size) : field.size + 1 + Math.floor(rnd() * 1000);
          new DataView(bytes.buffer).setUint32(f.offset, used, true);
          if (f.size !== 4) throw new Error("test assumes a 4-byte length field");
        }
        const want = interpret(reader.fields, bytes, c.lists);
        expect(reader.decodeBytes(bytes)).toEqual(want);
        const at = (i % 64) * reader.size;
        arena.set(bytes, at);
        expect(reader.decode(ptr(arena, at), reader.size)).toEqual(want);
      }
    } finally {
      obj.close();
    }
  }, 30_000);
}
