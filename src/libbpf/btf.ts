// A reader for raw BTF (as returned by btf__raw_data or found in /sys/kernel/btf/vmlinux).
// Used to lay out event structs and .rodata/.bss variables from the object's own type
// information instead of offsets kept by hand. Format: linux/Documentation/bpf/btf.rst.

export const BtfKind = {
  INT: 1, PTR: 2, ARRAY: 3, STRUCT: 4, UNION: 5, ENUM: 6, FWD: 7, TYPEDEF: 8, VOLATILE: 9,
  CONST: 10, RESTRICT: 11, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, FLOAT: 16,
  DECL_TAG: 17, TYPE_TAG: 18, ENUM64: 19,
} as const;

export interface BtfMember {
  name: string;
  type: number;
  bitOffset: number;
  bitfieldSize: number;
}
export interface BtfType {
  id: number;
  kind: number;
  name: string;
  /** size for INT/STRUCT/UNION/ENUM/DATASEC/FLOAT, referenced type id otherwise */
  sizeOrType: number;
  vlen: number;
  intEncoding?: { signed: boolean; char: boolean; bool: boolean; bits: number };
  array?: { elemType: number; nelems: number };
  members?: BtfMember[];
  secinfo?: { type: number; offset: number; size: number }[];
}

export class BtfError extends Error {
  readonly code = "EBPFCTL-E0102";
}

export class Btf {
  private readonly types: (BtfType | undefined)[] = [undefined];
  private byName?: Map<string, number[]>;

  constructor(raw: Uint8Array) {
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    if (raw.byteLength < 24 || dv.getUint16(0, true) !== 0xeb9f) throw new BtfError("not BTF data (bad magic)");
    const hdrLen = dv.getUint32(4, true);
    const typeOff = hdrLen + dv.getUint32(8, true);
    const typeLen = dv.getUint32(12, true);
    const strOff = hdrLen + dv.getUint32(16, true);
    const strLen = dv.getUint32(20, true);
    const strings = raw.subarray(strOff, strOff + strLen);
    const decoder = new TextDecoder();
    const str = (off: number) => {
      const end = strings.indexOf(0, off);
      return decoder.decode(strings.subarray(off, end < 0 ? strings.length : end));
    };
    let p = typeOff;
    const end = typeOff + typeLen;
    let id = 1;
    while (p < end) {
      const nameOff = dv.getUint32(p, true);
      const info = dv.getUint32(p + 4, true);
      const sizeOrType = dv.getUint32(p + 8, true);
      p += 12;
      const vlen = info & 0xffff;
      const kind = (info >>> 24) & 0x1f;
      const kindFlag = (info >>> 31) === 1;
      const t: BtfType = { id, kind, name: str(nameOff), sizeOrType, vlen };
      switch (kind) {
        case BtfKind.INT: {
          const enc = dv.getUint32(p, true);
          const e = (enc >>> 24) & 0x0f;
          t.intEncoding = { signed: (e & 1) !== 0, char: (e & 2) !== 0, bool: (e & 4) !== 0, bits: enc & 0xff };
          p += 4;
          break;
        }
        case BtfKind.ARRAY:
          t.array = { elemType: dv.getUint32(p, true), nelems: dv.getUint32(p + 8, true) };
          p += 12;
          break;
        case BtfKind.STRUCT:
        case BtfKind.UNION: {
          t.members = [];
          for (let i = 0; i < vlen; i++, p += 12) {
            const off = dv.getUint32(p + 8, true);
            t.members.push({
              name: str(dv.getUint32(p, true)),
              type: dv.getUint32(p + 4, true),
              bitOffset: kindFlag ? off & 0xffffff : off,
              bitfieldSize: kindFlag ? off >>> 24 : 0,
            });
          }
          break;
        }
        case BtfKind.ENUM:
          p += 8 * vlen;
          break;
        case BtfKind.FUNC_PROTO:
          p += 8 * vlen;
          break;
        case BtfKind.VAR:
        case BtfKind.DECL_TAG:
          p += 4;
          break;
        case BtfKind.DATASEC:
          t.secinfo = [];
          for (let i = 0; i < vlen; i++, p += 12) {
            t.secinfo.push({ type: dv.getUint32(p, true), offset: dv.getUint32(p + 4, true), size: dv.getUint32(p + 8, true) });
          }
          break;
        case BtfKind.ENUM64:
          p += 12 * vlen;
          break;
        default:
          break;
      }
      this.types.push(t);
      id++;
    }
  }

  type(id: number): BtfType {
    const t = this.types[id];
    if (!t) throw new BtfError(`BTF type id ${id} does not exist`);
    return t;
  }

  find(name: string, kind: number): BtfType | undefined {
    if (!this.byName) {
      this.byName = new Map();
      for (const t of this.types) if (t && t.name) (this.byName.get(t.name) ?? this.byName.set(t.name, []).get(t.name)!).push(t.id);
    }
    for (const id of this.byName.get(name) ?? []) if (this.type(id).kind === kind) return this.type(id);
    return undefined;
  }

  /** Follow typedefs and qualifiers to the underlying type. */
  resolve(id: number): BtfType {
    let t = this.type(id);
    const skip: number[] = [BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG, BtfKind.VAR];
    while (skip.includes(t.kind)) t = this.type(t.sizeOrType);
    return t;
  }

  sizeOf(id: number): number {
    const t = this.resolve(id);
    switch (t.kind) {
      case BtfKind.INT:
      case BtfKind.STRUCT:
      case BtfKind.UNION:
      case BtfKind.ENUM:
      case BtfKind.ENUM64:
      case BtfKind.FLOAT:
      case BtfKind.DATASEC:
        return t.sizeOrType;
      case BtfKind.PTR:
        return 8;
      case BtfKind.ARRAY:
        return this.sizeOf(t.array!.elemType) * t.array!.nelems;
      default:
        throw new BtfError(`cannot size BTF type ${t.name || t.id} (kind ${t.kind})`);
    }
  }

  /** Flattened description of a struct's members, for building an event decoder. */
  layout(structName: string): FieldLayout[] {
    const s = this.find(structName, BtfKind.STRUCT);
    if (!s) throw new BtfError(`struct ${structName} is not described in the object's BTF`);
    return s.members!.map((m) => this.fieldLayout(m.name, m.type, m.bitOffset / 8, m.bitfieldSize));
  }

  /** Variables of a data section (.rodata, .bss, .data) with their offsets, sizes and types. */
  sectionVariables(section: string): Map<string, FieldLayout> {
    const sec = this.find(section, BtfKind.DATASEC);
    const out = new Map<string, FieldLayout>();
    if (!sec) return out;
    for (const v of sec.secinfo!) {
      const varType = this.type(v.type);
      out.set(varType.name, this.fieldLayout(varType.name, varType.sizeOrType, v.offset, 0));
    }
    return out;
  }

  private fieldLayout(name: string, typeId: number, offset: number, bitfieldSize: number): FieldLayout {
    if (bitfieldSize) throw new BtfError(`field ${name} is a bitfield; event structs must use whole integers`);
    const t = this.resolve(typeId);
    const size = this.sizeOf(typeId);
    if (t.kind === BtfKind.INT || t.kind === BtfKind.ENUM) {
      const signed = t.kind === BtfKind.INT ? t.intEncoding!.signed : false;
      return { name, offset, size, kind: signed ? "int" : "uint", elemSize: size, count: 1 };
    }
    if (t.kind === BtfKind.ARRAY) {
      const elem = this.resolve(t.array!.elemType);
      const elemSize = this.sizeOf(t.array!.elemType);
      if (elem.kind === BtfKind.INT && elemSize === 1 && (elem.intEncoding!.char || elem.name === "char")) {
        return { name, offset, size, kind: "chars", elemSize: 1, count: t.array!.nelems };
      }
      if (elem.kind === BtfKind.INT || elem.kind === BtfKind.ENUM) {
        const signed = elem.kind === BtfKind.INT && elem.intEncoding!.signed;
        return { name, offset, size, kind: signed ? "int[]" : "uint[]", elemSize, count: t.array!.nelems };
      }
      return { name, offset, size, kind: "bytes", elemSize: 1, count: size };
    }
    return { name, offset, size, kind: "bytes", elemSize: 1, count: size };
  }
}

export type FieldKind = "int" | "uint" | "chars" | "int[]" | "uint[]" | "bytes";
export interface FieldLayout {
  name: string;
  offset: number;
  size: number;
  kind: FieldKind;
  elemSize: number;
  count: number;
}
