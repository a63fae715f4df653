// The generated -o json line (output/json-line.ts) against the generic one (decode, jsonEvent,
// JSON.stringify: JsonLinesRenderer.renderGeneric, what -o json wrote before) for every stream
// recipe, on synthetic records built from the event struct's BTF layout with edge values (empty
// and unterminated strings, quotes, backslashes, control chars, invalid UTF-8, max u64, negative
// ints, unknown enum values, string lists cut anywhere): the same bytes, line for line, through
// both the copied-bytes and the ring (pointer) path. Real kernel records: json-line-kernel.test.ts.
import { expect, test } from "bun:test";
import { ptr } from "bun:ffi";
import { compileJsonLine, wideDigits } from "../../src/output/json-line";
import { envelope } from "../../src/output/records";
import { mulberry32, openObject, pathsFor, streamRecipes, syntheticRecord } from "./json-line-helpers";

/** The recipes whose JSON line is generated; any other stream recipe must say why it falls back. */
const GENERATED = ["execsnoop", "opensnoop", "bindsnoop", "tcpconnect", "tcplife", "sigsnoop", "exitsnoop", "oomkill"];

test("the eight stream recipes get a generated line", () => {
  const got = streamRecipes.map((m) => {
    const obj = openObject(m);
    try {
      const p = pathsFor(m, obj);
      return { recipe: m.name, generated: p.line !== undefined, fallback: p.fallback };
    } finally {
      obj.close();
    }
  });
  for (const name of GENERATED) expect(got.find((g) => g.recipe === name)).toEqual({ recipe: name, generated: true, fallback: undefined });
});

const N = 4000;
for (const m of streamRecipes) {
  test(`${m.name}: generated line = generic line on ${N} synthetic records (bytes and ring paths)`, () => {
    const obj = openObject(m);
    try {
      const { reader, line, generic, genericReader } = pathsFor(m, obj);
      if (!line) return; // a fallback recipe writes the generic line itself (checked above for the eight)
      const direct = reader.reading(line);
      const rnd = mulberry32(m.name.length * 7919 + m.event.struct.length);
      // Records side by side in one arena, as in a ring; every few repeat the previous (string caches).
      const arena = new Uint8Array(reader.size * 64 + 64);
      let prev: Uint8Array = new Uint8Array(reader.size);
      let errnos = 0;
      for (let i = 0; i < N; i++) {
        let bytes = i % 5 === 4 ? prev.slice() : syntheticRecord(reader, rnd);
        if (i % 5 === 2) {
          // The event before with one field changed: each remembered run of keys must notice it.
          const f = reader.fields[Math.floor(rnd() * reader.fields.length)]!;
          const fresh = bytes;
          bytes = prev.slice();
          bytes.set(fresh.subarray(f.offset, f.offset + f.size), f.offset);
        }
        // The same text in a char array with other garbage after its NUL: the same string.
        if (i % 7 === 6) for (let j = 0; j < bytes.length; j++) if (rnd() < 0.05) bytes[j] = prev[j]!;
        prev = bytes;
        const want = generic.renderGeneric(genericReader.decodeBytes(bytes));
        const got = reader.readBytes(line, bytes);
        if (got !== want) expect({ i, got }).toEqual({ i, got: want });
        const at = (i % 64) * reader.size;
        arena.set(bytes, at);
        const viaRing = direct(ptr(arena, at), reader.size);
        if (viaRing !== want) expect({ i, viaRing }).toEqual({ i, viaRing: want });
        const o = JSON.parse(got);
        expect(o.kind).toBe("event");
        if (o.errno) errnos++;
      }
      if (m.columns.some((c) => c.format === "errno" || c.format === "fd_or_errno")) expect(errnos).toBeGreaterThan(N / 20);
    } finally {
      obj.close();
    }
  }, 60_000);
}

test("a layout the generator cannot follow exactly falls back, with the reason", () => {
  const m = streamRecipes.find((x) => x.name === "opensnoop")!;
  const obj = openObject(m);
  try {
    const { reader } = pathsFor(m, obj);
    const ctx = { prefix: JSON.stringify(envelope("event", "x", "y")).slice(0, -1) + ",", iso: () => "", bootToWallMs: 0 };
    const col = (field: string, format?: string) => ({ field, header: field.toUpperCase(), ...(format ? { format } : {}) }) as never;
    // errno is also ... a field name: jsonEvent would overwrite, not append.
    expect(compileJsonLine([col("ret", "errno"), col("ret", "errno")], reader, ctx)).toEqual({ fallback: "field ret has two JSON-transforming columns" });
    expect(compileJsonLine([col("comm", "signal")], reader, ctx)).toEqual({ fallback: "signal column comm is not an integer" });
    expect(compileJsonLine([col("path", "ipv6")], reader, ctx)).toEqual({ fallback: "ipv6 column path is a chars" });
    expect(compileJsonLine([col("ts_ns", "open_flags")], reader, ctx)).toEqual({ fallback: "ts_ns is transformed by a column" });
    expect(compileJsonLine([col("mode", "signal"), col("ret", "fd_or_errno"), col("flags", "errno")], reader, ctx)).toEqual({ fallback: "two errno columns" });
    const renamed = { ...reader, fields: reader.fields.map((f) => (f.name === "mode" ? { ...f, name: "flags_raw" } : f)), lists: reader.lists, hints: reader.hints, chars: reader.chars };
    expect(compileJsonLine(m.columns, renamed, ctx)).toEqual({ fallback: "key flags_raw is both a field and added by jsonEvent" });
    const indexed = { ...renamed, fields: reader.fields.map((f) => (f.name === "mode" ? { ...f, name: "7" } : f)) };
    expect(compileJsonLine(m.columns, indexed, ctx)).toEqual({ fallback: "field 7 is an array index: a JS object puts it first" });
  } finally {
    obj.close();
  }
});

test("wideDigits is String(v) for every double an 8-byte field decodes to, at the edges and at random", () => {
  const w = wideDigits();
  const edges = [0, 1, 999_999, 1e6, 1e6 + 1, 1_999_999, 2e6, 123_456_000_000, 2 ** 53 - 2, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 18446744073709552000, -1, -1e6, -(2 ** 63), 1e21, 4294967296 * 4294967295 + 4294967295];
  for (const v of edges) expect(w(v)).toBe(String(v));
  const rnd = mulberry32(99);
  let v = 1e12;
  for (let i = 0; i < 200_000; i++) {
    // Runs of nearby values (the remembered high digits) and jumps across the whole u64 range.
    v = rnd() < 0.9 ? v + Math.floor(rnd() * 3e6) : rnd() * 4294967296 * 4294967296 * (rnd() < 0.5 ? 1 : 2 ** -20);
    const x = rnd() < 0.5 ? Math.floor(v) : (Math.floor(rnd() * 4294967296) * 4294967296 + Math.floor(rnd() * 4294967296));
    if (w(x) !== String(x)) expect({ x, got: w(x) }).toEqual({ x, got: String(x) });
  }
});
