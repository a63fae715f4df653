// Decodes ring buffer samples into plain objects using a struct layout taken from BTF.
// Runs inside the ring buffer callback, so it reads straight from the sample's memory and
// copies everything out (numbers and strings) before returning.
//
// Hot path (scripts/bench-stream): the decoder is generated once per struct (event-decoder.ts).
// Wrapping each sample in its own ArrayBuffer (toArrayBuffer) would cost more than the decode,
// so samples of one ring buffer are read through a long-lived view of the address space starting
// at an earlier sample (`AddressWindow`), re-made only when a sample falls outside it. Only the
// bytes of the sample being decoded are ever read through it, never the rest of the window.
import { toArrayBuffer, type Pointer } from "bun:ffi";
import type { Btf, FieldLayout } from "./btf";
import { compileDecoder, type CharsField, type DecodedEvent, type GeneratedDecoder, type RecordFn, type StringListHint, type WindowBytes } from "./event-decoder";

export type { CharsField, DecodedEvent, EventValue, RecordFn, StringListHint, WindowBytes } from "./event-decoder";

/** A view of [base, base + WINDOW_BYTES) of our address space; no memory is touched by making it. */
interface AddressWindow {
  base: number;
  bytes: WindowBytes;
  view: DataView;
}
// Small enough that the GC's external-memory accounting stays modest (a 1 GiB view made the
// heap grow by ~50 MiB under load), large enough that a ring buffer's double mapping fits: the
// window is centred on the sample that made it, so wrapping around the ring stays inside.
const WINDOW_BYTES = 16 << 20;

/** The decoder's layout: fields, char arrays and string lists. */
export interface EventLayout {
  readonly fields: FieldLayout[];
  readonly chars: ReadonlyMap<string, CharsField>;
  readonly lists: ReadonlySet<string>;
  /** How each string-list field is read (its length field). */
  readonly hints: Readonly<Record<string, StringListHint>>;
}

export class EventReader implements EventLayout {
  readonly size: number;
  readonly fields: FieldLayout[];
  /** The CharsField of each char-array field (the JSON line writer reuses their quoting). */
  readonly chars: ReadonlyMap<string, CharsField>;
  /** Fields decoded as string lists. */
  readonly lists: ReadonlySet<string>;
  readonly hints: Readonly<Record<string, StringListHint>>;
  private readonly gen: GeneratedDecoder;
  private window: AddressWindow | undefined;

  constructor(btf: Btf, structName: string, hints: Record<string, StringListHint> = {}) {
    this.fields = btf.layout(structName);
    const last = this.fields[this.fields.length - 1];
    this.size = last ? last.offset + last.size : 0;
    const c = compileDecoder(this.fields, hints, structName);
    this.gen = c.decode;
    this.chars = c.chars;
    this.lists = c.lists;
    this.hints = hints;
  }

  decode(p: Pointer, size: number): DecodedEvent {
    if (size < this.size) throw new Error(`ring buffer sample of ${size} bytes is shorter than the event struct (${this.size})`);
    const a = p as unknown as number;
    let w = this.window;
    if (!w || a < w.base || a + size > w.base + WINDOW_BYTES) w = this.windowFor(a);
    // `| 0`: addresses are doubles to the JIT; an int32 offset keeps the views' reads on the fast path (6x).
    return this.gen(w.view, w.bytes, (a - w.base) | 0);
  }

  /**
   * A sample handler that runs `fn` (generated over this layout, e.g. a JSON line writer) on the
   * sample's bytes in place, through the same address window as decode(): no event object between.
   */
  reading<T>(fn: RecordFn<T>): (p: Pointer, size: number) => T {
    return (p, size) => {
      if (size < this.size) throw new Error(`ring buffer sample of ${size} bytes is shorter than the event struct (${this.size})`);
      const a = p as unknown as number;
      let w = this.window;
      if (!w || a < w.base || a + size > w.base + WINDOW_BYTES) w = this.windowFor(a);
      return fn(w.view, w.bytes, (a - w.base) | 0);
    };
  }

  /** `fn` on a struct copied into our own memory (tests: records captured from the ring). */
  readBytes<T>(fn: RecordFn<T>, bytes: Uint8Array): T {
    if (bytes.byteLength < this.size || bytes.byteLength === 0) throw new Error(`buffer of ${bytes.byteLength} bytes is shorter than the struct (${this.size})`);
    return fn(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as WindowBytes, 0);
  }

  private windowFor(p: number): AddressWindow {
    const base = Math.max(0, p - WINDOW_BYTES / 2);
    const ab = toArrayBuffer(base as unknown as Pointer, 0, WINDOW_BYTES);
    return (this.window = { base, bytes: Buffer.from(ab, 0, WINDOW_BYTES) as WindowBytes, view: new DataView(ab) });
  }

  /** Decode a struct copied out of the kernel into our own memory (map keys and values). */
  decodeBytes(bytes: Uint8Array): DecodedEvent {
    if (bytes.byteLength === 0) throw new Error("cannot decode an empty buffer");
    if (bytes.byteLength < this.size) throw new Error(`buffer of ${bytes.byteLength} bytes is shorter than the struct (${this.size})`);
    const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as WindowBytes;
    return this.gen(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), b, 0);
  }
}
