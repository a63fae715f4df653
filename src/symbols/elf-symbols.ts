// ELF symbol tables (.symtab and .dynsym) of 64-bit little-endian files, read in TypeScript:
// symbol -> file offset for uprobe attach, and address -> nearest function for user-stack
// symbolisation. No libelf, no external tools: a production host may have neither.
import { closeSync, constants, openSync, readSync } from "node:fs";
import { readRegularFile } from "../files/regular-file";
import { ExitCode } from "../errors";

/** Far above any real executable or library, and a bound on what a symbol table read may cost. */
const ELF_MAX = 2 * 1024 * 1024 * 1024 - 1;

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const PF_X = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const SHN_UNDEF = 0;

export class ElfError extends Error {
  readonly code = "EBPFCTL-E0301";
}

export interface ElfSymbol {
  name: string;
  /** st_value: the symbol's virtual address in the file's own address space. */
  vaddr: bigint;
  size: bigint;
  isFunction: boolean;
  source: ".symtab" | ".dynsym";
}

export interface LoadSegment {
  vaddr: bigint;
  memsz: bigint;
  offset: bigint;
  filesz: bigint;
  executable: boolean;
}

export interface ResolvedSymbol {
  name: string;
  /** Distance from the symbol's start. */
  offset: number;
}

export interface ElfSection {
  name: string;
  type: number;
  offset: number;
  size: number;
}

/** Parsed ELF: its PT_LOAD segments, section headers and defined symbols. */
export class ElfFile {
  readonly segments: LoadSegment[] = [];
  readonly symbols: ElfSymbol[] = [];
  readonly sections: ElfSection[] = [];

  constructor(readonly path: string, readonly data: Uint8Array) {
    if (data.length < 64 || data[0] !== 0x7f || data[1] !== 0x45 || data[2] !== 0x4c || data[3] !== 0x46) {
      throw new ElfError(`${path}: not an ELF file`);
    }
    if (data[4] !== 2) throw new ElfError(`${path}: not a 64-bit ELF file (EI_CLASS=${data[4]})`);
    if (data[5] !== 1) throw new ElfError(`${path}: not a little-endian ELF file (EI_DATA=${data[5]})`);
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const u16 = (o: number) => dv.getUint16(o, true);
    const u32 = (o: number) => dv.getUint32(o, true);
    const u64 = (o: number) => dv.getBigUint64(o, true);
    const inBounds = (o: number, n: number) => o >= 0 && o + n <= data.length;

    const phoff = Number(u64(0x20));
    const shoff = Number(u64(0x28));
    const phentsize = u16(0x36);
    const phnum = u16(0x38);
    const shentsize = u16(0x3a);
    const shnum = u16(0x3c);

    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      if (!inBounds(o, 56)) throw new ElfError(`${path}: program header ${i} out of bounds`);
      if (u32(o) !== PT_LOAD) continue;
      this.segments.push({
        executable: (u32(o + 4) & PF_X) !== 0,
        offset: u64(o + 8),
        vaddr: u64(o + 16),
        filesz: u64(o + 32),
        memsz: u64(o + 40),
      });
    }

    const decoder = new TextDecoder();
    const cstring = (start: number, end: number, at: number): string => {
      const from = start + at;
      if (from >= end) return "";
      let to = from;
      while (to < end && data[to] !== 0) to++;
      return decoder.decode(data.subarray(from, to));
    };
    const shstrndx = u16(0x3e);
    const names = shoff + shstrndx * shentsize;
    const namesOff = shstrndx < shnum && inBounds(names, 64) ? Number(u64(names + 24)) : 0;
    const namesEnd = namesOff ? Math.min(data.length, namesOff + Number(u64(names + 32))) : 0;
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      if (!inBounds(o, 64)) throw new ElfError(`${path}: section header ${i} out of bounds`);
      const type = u32(o + 4);
      this.sections.push({ name: namesOff ? cstring(namesOff, namesEnd, u32(o)) : "", type, offset: Number(u64(o + 24)), size: Number(u64(o + 32)) });
      if (type !== SHT_SYMTAB && type !== SHT_DYNSYM) continue;
      const off = Number(u64(o + 24));
      const size = Number(u64(o + 32));
      const link = u32(o + 40);
      const entsize = Number(u64(o + 56)) || 24;
      const so = shoff + link * shentsize;
      if (!inBounds(so, 64) || !inBounds(off, size)) throw new ElfError(`${path}: symbol table ${i} out of bounds`);
      const strOff = Number(u64(so + 24));
      const strEnd = Math.min(data.length, strOff + Number(u64(so + 32)));
      const source = type === SHT_SYMTAB ? ".symtab" : ".dynsym";
      for (let s = off; s + 24 <= off + size; s += entsize) {
        const shndx = u16(s + 6);
        if (shndx === SHN_UNDEF) continue;
        const stType = data[s + 4]! & 0xf;
        const name = cstring(strOff, strEnd, u32(s));
        if (!name) continue;
        this.symbols.push({ name, vaddr: u64(s + 8), size: u64(s + 16), isFunction: stType === STT_FUNC || stType === STT_GNU_IFUNC, source });
      }
    }
  }

  static read(path: string): ElfFile {
    let data: Uint8Array;
    try {
      // The magic first: a 1 GB file of zeros (or a device) is refused without reading it all.
      const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        const head = new Uint8Array(4);
        if (readSync(fd, head, 0, 4, 0) !== 4 || head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) throw new ElfError(`${path}: not an ELF file`);
      } finally {
        closeSync(fd);
      }
      data = new Uint8Array(readRegularFile(path, { what: "ELF file", maxBytes: ELF_MAX, exitCode: ExitCode.USAGE, timeoutMs: 10_000 }));
    } catch (e) {
      if (e instanceof ElfError) throw e;
      throw new ElfError(`${path}: cannot read: ${(e as Error).message}`);
    }
    return new ElfFile(path, data);
  }

  /** The PT_LOAD segment holding a virtual address (executable segments first). */
  segmentForVaddr(vaddr: bigint): LoadSegment | undefined {
    const hits = this.segments.filter((s) => vaddr >= s.vaddr && vaddr < s.vaddr + s.memsz);
    return hits.find((s) => s.executable) ?? hits[0];
  }

  segmentForOffset(offset: bigint): LoadSegment | undefined {
    const hits = this.segments.filter((s) => offset >= s.offset && offset < s.offset + s.filesz);
    return hits.find((s) => s.executable) ?? hits[0];
  }

  vaddrToOffset(vaddr: bigint): bigint | undefined {
    const s = this.segmentForVaddr(vaddr);
    return s ? vaddr - s.vaddr + s.offset : undefined;
  }

  offsetToVaddr(offset: bigint): bigint | undefined {
    const s = this.segmentForOffset(offset);
    return s ? offset - s.offset + s.vaddr : undefined;
  }
}

/**
 * File offset of a function symbol, as uprobe attach wants it (vaddr − segment vaddr + segment
 * file offset). Prefers .symtab over .dynsym and a function over any other symbol type.
 */
export function symbolOffset(path: string, symbol: string): number {
  const elf = ElfFile.read(path);
  const matches = elf.symbols.filter((s) => s.name === symbol);
  if (matches.length === 0) {
    throw new ElfError(`${path}: no symbol "${symbol}" in .symtab or .dynsym (is the binary stripped?)`);
  }
  const sym = matches.find((s) => s.isFunction && s.source === ".symtab") ?? matches.find((s) => s.isFunction) ?? matches[0]!;
  const off = elf.vaddrToOffset(sym.vaddr);
  if (off === undefined) throw new ElfError(`${path}: symbol "${symbol}" at 0x${sym.vaddr.toString(16)} is in no loadable segment`);
  return Number(off);
}

/** Address -> function name for one ELF file, by binary search over its function symbols. */
export class SymbolTable {
  private readonly starts: bigint[] = [];
  private readonly entries: ElfSymbol[] = [];

  constructor(readonly elf: ElfFile) {
    const seen = new Set<string>();
    const funcs = elf.symbols
      .filter((s) => s.isFunction && s.vaddr !== 0n)
      .filter((s) => {
        const k = `${s.vaddr}:${s.name}`;
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      })
      .sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : a.source === ".symtab" ? -1 : 1));
    for (const s of funcs) {
      this.entries.push(s);
      this.starts.push(s.vaddr);
    }
  }

  static read(path: string): SymbolTable {
    return new SymbolTable(ElfFile.read(path));
  }

  get size(): number {
    return this.entries.length;
  }

  /**
   * Nearest function at or below an address. kind "offset" (default): a file offset, e.g. runtime
   * address − mapping start + mapping file offset from /proc/PID/maps; "vaddr": the ELF's own
   * virtual address. A symbol with a known size must contain the address.
   */
  lookup(addr: number | bigint, kind: "offset" | "vaddr" = "offset"): ResolvedSymbol | undefined {
    let a = BigInt(addr);
    if (kind === "offset") {
      const v = this.elf.offsetToVaddr(a);
      if (v === undefined) return undefined;
      a = v;
    }
    let lo = 0;
    let hi = this.starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.starts[mid]! <= a) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    // Among symbols at the same address the first (sorted .symtab first) wins; walk back to it.
    while (found > 0 && this.starts[found - 1] === this.starts[found]) found--;
    const s = this.entries[found]!;
    if (s.size > 0n && a >= s.vaddr + s.size) return undefined;
    return { name: s.name, offset: Number(a - s.vaddr) };
  }
}
