// Writes tunables into the object's .rodata before load, at the offsets the object's BTF gives
// for each variable (never hand-kept offsets).
import type { BpfObject, FieldLayout } from ".";

export class RodataError extends Error {
  readonly code = "EBPFCTL-E0013";
}

export class Rodata {
  private readonly vars: Map<string, FieldLayout>;
  private readonly data: Uint8Array | undefined;

  constructor(private readonly obj: BpfObject) {
    this.vars = obj.btf().sectionVariables(".rodata");
    this.data = obj.sectionData(".rodata");
  }

  has(name: string): boolean {
    return this.vars.has(name);
  }

  /** A whole variable (e.g. a table of structs laid out by its owner), exactly its size. */
  setBytes(name: string, bytes: Uint8Array): void {
    const v = this.vars.get(name);
    if (!v || !this.data) throw new RodataError(`${this.obj.name}: no .rodata variable ${name} (is it const volatile and used?)`);
    if (bytes.length !== v.size) throw new RodataError(`${this.obj.name}: ${name} is ${v.size} bytes, not ${bytes.length}`);
    this.data.set(bytes, v.offset);
  }

  set(name: string, value: number | bigint | string | boolean): void {
    const v = this.vars.get(name);
    if (!v || !this.data) throw new RodataError(`${this.obj.name}: no .rodata variable ${name} (is it const volatile and used?)`);
    const dv = new DataView(this.data.buffer, this.data.byteOffset + v.offset, v.size);
    if (typeof value === "string") {
      if (v.kind !== "chars") throw new RodataError(`${this.obj.name}: ${name} is not a char array`);
      const bytes = new TextEncoder().encode(value);
      if (bytes.length >= v.size) throw new RodataError(`${this.obj.name}: "${value}" does not fit ${name}[${v.size}]`);
      this.data.fill(0, v.offset, v.offset + v.size);
      this.data.set(bytes, v.offset);
      return;
    }
    const n = typeof value === "boolean" ? (value ? 1n : 0n) : BigInt(value);
    switch (v.size) {
      case 1:
        dv.setUint8(0, Number(BigInt.asUintN(8, n)));
        break;
      case 2:
        dv.setUint16(0, Number(BigInt.asUintN(16, n)), true);
        break;
      case 4:
        dv.setUint32(0, Number(BigInt.asUintN(32, n)), true);
        break;
      case 8:
        dv.setBigUint64(0, BigInt.asUintN(64, n), true);
        break;
      default:
        throw new RodataError(`${this.obj.name}: cannot set ${name} of ${v.size} bytes`);
    }
  }
}
