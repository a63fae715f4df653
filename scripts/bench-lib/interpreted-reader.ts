// The per-field interpreted decoder ebpfctl used before the generated one (src/libbpf/event-decoder.ts),
// kept only so that bench-stream --only decode can show both in the same run.
// Decodes ring buffer samples into plain objects using a struct layout taken from BTF.
// Runs inside the ring buffer callback, so it reads straight from the sample's memory and
// copies everything out (numbers and strings) before returning.
//
// Hot path (scripts/bench-stream): wrapping each sample in its own ArrayBuffer (toArrayBuffer)
// cost more than the rest of the decode. Samples of one ring buffer sit in one mapping, so char
// arrays are read through a long-lived view of the address space starting at an earlier sample
// (`AddressWindow`), re-made only when a sample falls outside it. Only the bytes of the sample
// being decoded are ever read through it, never the rest of the window.
import { ptr, read, toArrayBuffer, type Pointer } from "bun:ffi";
import type { Btf, FieldLayout } from "../../src/libbpf/btf";

export type EventValue = number | string | string[] | number[];
export type DecodedEvent = Record<string, EventValue>;

/** How to present a char array beyond "NUL-terminated string". */
export interface StringListHint {
  /** The field holds NUL-separated strings; this integer field says how many bytes are used. */
  lengthField: string;
}

/** A view of [base, base + WINDOW_BYTES) of our address space; no memory is touched by making it. */
interface AddressWindow {
  base: number;
  bytes: WindowBytes;
}
/** Bun's Buffer has Node's undocumented latin1Slice (what toString("latin1", …) calls), minus the dispatch. */
type WindowBytes = Buffer & { latin1Slice(start: number, end: number): string };
// Small enough that the GC's external-memory accounting stays modest (a 1 GiB view made the
// heap grow by ~50 MiB under load), large enough that a ring buffer's double mapping fits: the
// window is centred on the sample that made it, so wrapping around the ring stays inside.
const WINDOW_BYTES = 16 << 20;

type FieldReader = (p: Pointer, out: DecodedEvent, w: AddressWindow) => void;
const utf8 = new TextDecoder("utf-8", { fatal: false });

export class InterpretedEventReader {
  readonly size: number;
  readonly fields: FieldLayout[];
  private readonly readers: FieldReader[];
  private window: AddressWindow | undefined;

  constructor(btf: Btf, structName: string, hints: Record<string, StringListHint> = {}) {
    this.fields = btf.layout(structName);
    const last = this.fields[this.fields.length - 1];
    this.size = last ? last.offset + last.size : 0;
    const byName = new Map(this.fields.map((f) => [f.name, f]));
    this.readers = this.fields.map((f) => {
      const hint = hints[f.name];
      if (hint) {
        const len = byName.get(hint.lengthField);
        if (!len) throw new Error(`event field ${hint.lengthField} (length of ${f.name}) is not in struct ${structName}`);
        return stringListReader(f, len);
      }
      return fieldReader(f);
    });
  }

  decode(p: Pointer, size: number): DecodedEvent {
    if (size < this.size) throw new Error(`ring buffer sample of ${size} bytes is shorter than the event struct (${this.size})`);
    const out: DecodedEvent = {};
    const w = this.windowFor(p as unknown as number, size);
    for (const r of this.readers) r(p, out, w);
    return out;
  }

  private windowFor(p: number, size: number): AddressWindow {
    const w = this.window;
    if (w && p >= w.base && p + size <= w.base + WINDOW_BYTES) return w;
    const base = Math.max(0, p - WINDOW_BYTES / 2);
    const ab = toArrayBuffer(base as unknown as Pointer, 0, WINDOW_BYTES);
    return (this.window = { base, bytes: Buffer.from(ab, 0, WINDOW_BYTES) as WindowBytes });
  }

  /** Decode a struct copied out of the kernel into our own memory (map keys and values). */
  decodeBytes(bytes: Uint8Array): DecodedEvent {
    if (bytes.byteLength === 0) throw new Error("cannot decode an empty buffer");
    return this.decode(ptr(bytes), bytes.byteLength);
  }
}

function intRead(size: number, signed: boolean): (p: Pointer, off: number) => number {
  switch (size) {
    case 1:
      return signed ? read.i8 : read.u8;
    case 2:
      return signed ? read.i16 : read.u16;
    case 4:
      return signed ? read.i32 : read.u32;
    case 8:
      return signed ? (p, o) => Number(read.i64(p, o)) : (p, o) => Number(read.u64(p, o));
    default:
      throw new Error(`unsupported integer size ${size}`);
  }
}

/**
 * Reads one char-array field: the NUL-terminated (or full-length) string at [start, start + max)
 * of the window. Remembers the last bytes and string it produced: consecutive events mostly
 * repeat comm (and often path), and comparing a few bytes is cheaper than making a string.
 */
class CharsField {
  private last = "";
  private readonly lastBytes: Uint8Array;
  private lastLen = 0;
  constructor(max: number) {
    this.lastBytes = new Uint8Array(max);
  }
  read(b: WindowBytes, start: number, max: number): string {
    const limit = start + max;
    const prev = this.lastBytes;
    let end = start;
    let high = 0;
    let same = true;
    for (; end < limit; end++) {
      const c = b[end]!;
      if (c === 0) break;
      high |= c;
      if (same && prev[end - start] !== c) same = false;
    }
    const len = end - start;
    if (same && len === this.lastLen) return this.last;
    // ASCII (the common case: comm, paths): latin1 gives the same string as UTF-8, without a decoder call.
    const s = len === 0 ? "" : high < 0x80 ? b.latin1Slice(start, end) : utf8.decode(b.subarray(start, end));
    prev.set(b.subarray(start, end));
    this.lastLen = len;
    this.last = s;
    return s;
  }
}

function fieldReader(f: FieldLayout): FieldReader {
  const { name, offset } = f;
  switch (f.kind) {
    case "int":
    case "uint": {
      const r = intRead(f.size, f.kind === "int");
      return (p, out) => {
        out[name] = r(p, offset);
      };
    }
    case "chars": {
      const field = new CharsField(f.count);
      return (p, out, w) => {
        out[name] = field.read(w.bytes, (p as unknown as number) - w.base + offset, f.count);
      };
    }
    case "int[]":
    case "uint[]": {
      const r = intRead(f.elemSize, f.kind === "int[]");
      return (p, out) => {
        const a: number[] = new Array(f.count);
        for (let i = 0; i < f.count; i++) a[i] = r(p, offset + i * f.elemSize);
        out[name] = a;
      };
    }
    case "bytes":
      return (p, out) => {
        out[name] = Array.from(new Uint8Array(toArrayBuffer(p, offset, f.size)));
      };
  }
}

function stringListReader(f: FieldLayout, len: FieldLayout): FieldReader {
  const readLen = intRead(len.size, false);
  return (p, out) => {
    const used = Math.min(readLen(p, len.offset), f.size);
    const bytes = new Uint8Array(toArrayBuffer(p, f.offset, Math.max(used, 1))).subarray(0, used);
    const parts = utf8.decode(bytes).split("\0");
    if (parts.length && parts[parts.length - 1] === "") parts.pop();
    out[f.name] = parts;
  };
}
