// Decodes ring buffer samples into plain objects using a struct layout taken from BTF.
// Runs inside the ring buffer callback, so it reads straight from the sample's memory and
// copies everything out (numbers and strings) before returning.
import { ptr, read, toArrayBuffer, type Pointer } from "bun:ffi";
import type { Btf, FieldLayout } from "./btf";

export type EventValue = number | string | string[] | number[];
export type DecodedEvent = Record<string, EventValue>;

/** How to present a char array beyond "NUL-terminated string". */
export interface StringListHint {
  /** The field holds NUL-separated strings; this integer field says how many bytes are used. */
  lengthField: string;
}

type FieldReader = (p: Pointer, out: DecodedEvent) => void;
const utf8 = new TextDecoder("utf-8", { fatal: false });

export class EventReader {
  readonly size: number;
  readonly fields: FieldLayout[];
  private readonly readers: FieldReader[];

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
    for (const r of this.readers) r(p, out);
    return out;
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

function decodeChars(p: Pointer, offset: number, max: number): string {
  const bytes = new Uint8Array(toArrayBuffer(p, offset, max));
  const end = bytes.indexOf(0);
  return utf8.decode(end < 0 ? bytes : bytes.subarray(0, end));
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
    case "chars":
      return (p, out) => {
        out[name] = decodeChars(p, offset, f.count);
      };
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
