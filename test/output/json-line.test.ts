// The generated -o json line (output/json-line.ts) against the generic one (jsonEvent +
// JSON.stringify) for every stream recipe's event struct and columns, on random events decoded
// from random bytes: byte-for-byte the same line, and a line JSON.parse accepts.
import { expect, test } from "bun:test";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BpfObject, EventReader } from "../../src/libbpf";
import { JsonLinesRenderer } from "../../src/output/event-renderer";
import type { Column } from "../../src/recipe/manifest";

const repo = join(import.meta.dir, "../..");
interface Manifest { name: string; columns: Column[]; event?: { struct: string; strings?: Record<string, { length_field: string }> } }
const streams = readdirSync(join(repo, "recipes"))
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => Bun.YAML.parse(readFileSync(join(repo, "recipes", f), "utf8")) as Manifest)
  .filter((m) => m.event);

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

test("there are stream recipes to check", () => expect(streams.length).toBeGreaterThan(5));

for (const m of streams) {
  test(`${m.name}: the generated JSON line equals the generic one on 1000 random events`, () => {
    const obj = BpfObject.openMemory(new Uint8Array(readFileSync(join(repo, `build/bpf/${m.name}.bpf.o`))), m.name);
    try {
      const reader = new EventReader(obj.btf(), m.event!.struct, Object.fromEntries(Object.entries(m.event!.strings ?? {}).map(([k, v]) => [k, { lengthField: v.length_field }])));
      const fast = new JsonLinesRenderer(m.columns, 1.7e12);
      fast.bindLayout(reader);
      const generic = new JsonLinesRenderer(m.columns, 1.7e12);
      const rnd = rng(m.name.length * 31 + 7);
      let prev = new Uint8Array(reader.size);
      for (let i = 0; i < 1000; i++) {
        const b = new Uint8Array(reader.size);
        for (let j = 0; j < b.length; j++) {
          const r = rnd();
          b[j] = r < 0.5 ? 0x20 + Math.floor(rnd() * 95) : r < 0.75 ? 0 : r < 0.8 ? 0xff : r < 0.85 ? 0x22 : r < 0.9 ? 0x5c : Math.floor(rnd() * 256);
        }
        // Small timestamps (the ISO cache) and negative results (errno) on many events; repeats for the string caches.
        if (rnd() < 0.5) b.fill(0, 0, 6);
        if (i % 4 === 3) b.set(prev);
        prev = b;
        for (const [name, v] of Object.entries(m.event!.strings ?? {})) {
          const len = reader.fields.find((f) => f.name === v.length_field)!;
          new DataView(b.buffer).setUint32(len.offset, Math.floor(rnd() * reader.fields.find((f) => f.name === name)!.size), true);
        }
        const line = fast.render(reader.decodeBytes(b));
        const want = generic.renderGeneric(reader.decodeBytes(b));
        expect(line).toBe(want);
        expect(() => JSON.parse(line)).not.toThrow();
      }
    } finally {
      obj.close();
    }
  }, 30_000);
}

test("every stream recipe gets the generated line (none falls back to the generic one)", () => {
  for (const m of streams) {
    const obj = BpfObject.openMemory(new Uint8Array(readFileSync(join(repo, `build/bpf/${m.name}.bpf.o`))), m.name);
    try {
      const r = new JsonLinesRenderer(m.columns, 0);
      r.bindLayout(new EventReader(obj.btf(), m.event!.struct));
      expect({ recipe: m.name, fast: (r as unknown as { fast?: unknown }).fast !== undefined }).toEqual({ recipe: m.name, fast: true });
    } finally {
      obj.close();
    }
  }
});
