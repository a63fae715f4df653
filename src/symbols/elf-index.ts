// A bounded-memory symbol index of one ELF file, read through an open file descriptor: the
// function symbols' addresses, sizes and name offsets in typed arrays, names read from the file
// only when a frame resolves to them. The symbol tables are read in fixed-size chunks and never
// held, so indexing a 100 MB libLLVM costs its index (~16 bytes a function), not the file.
// The descriptor keeps the file reachable after it is deleted or its process exits.
import { closeSync, fstatSync, readSync } from "node:fs";
import { parseBuildId } from "../kernel/facts";

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const PT_NOTE = 4;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
/** Symbols per read: 24-byte entries, so a 96 KiB buffer. */
const CHUNK_SYMS = 4096;
const NAME_MAX = 512;

interface Segment {
  vaddr: number;
  offset: number;
  filesz: number;
  executable: boolean;
}

/** Reads a range of the file; throws when the file is shorter (truncated or not what it said). */
function pread(fd: number, length: number, position: number): Uint8Array {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n <= 0) throw new Error(`short read at ${position + got}`);
    got += n;
  }
  return buf;
}

export class ElfSymbolIndex {
  /** Sorted function starts (ELF vaddr), their sizes (0 = unknown) and name positions in the file. */
  private starts = new Float64Array(0);
  private sizes = new Float64Array(0);
  private names = new Float64Array(0);
  private readonly segments: Segment[] = [];
  private indexed = false;
  private nameCache = new Map<number, string>();
  readonly buildId?: string;

  /** Takes ownership of fd (closed by close()). Reads the headers and build-id now, symbols on first lookup. */
  constructor(private fd: number, readonly path: string) {
    const size = fstatSync(fd).size;
    const eh = pread(fd, 64, 0);
    if (eh[0] !== 0x7f || eh[1] !== 0x45 || eh[2] !== 0x4c || eh[3] !== 0x46) throw new Error(`${path}: not an ELF file`);
    if (eh[4] !== 2 || eh[5] !== 1) throw new Error(`${path}: not a 64-bit little-endian ELF file`);
    const dv = new DataView(eh.buffer);
    const phoff = Number(dv.getBigUint64(0x20, true));
    const phentsize = dv.getUint16(0x36, true);
    const phnum = dv.getUint16(0x38, true);
    if (phoff + phnum * phentsize > size) throw new Error(`${path}: program headers out of bounds`);
    const ph = new DataView(pread(fd, phnum * phentsize, phoff).buffer);
    let buildId: string | undefined;
    for (let i = 0; i < phnum; i++) {
      const o = i * phentsize;
      const type = ph.getUint32(o, true);
      const offset = Number(ph.getBigUint64(o + 8, true));
      const filesz = Number(ph.getBigUint64(o + 32, true));
      if (type === PT_LOAD) this.segments.push({ executable: (ph.getUint32(o + 4, true) & 1) !== 0, offset, vaddr: Number(ph.getBigUint64(o + 16, true)), filesz });
      else if (type === PT_NOTE && !buildId && filesz <= 65536 && offset + filesz <= size) buildId = parseBuildId(pread(fd, filesz, offset)) ?? undefined;
    }
    this.buildId = buildId;
  }

  /** Bytes this index holds (what the cache counts against its cap). */
  get bytes(): number {
    let names = 0;
    for (const n of this.nameCache.values()) names += 2 * n.length + 64;
    return this.starts.byteLength + this.sizes.byteLength + this.names.byteLength + names + 256;
  }

  get functions(): number {
    this.ensureIndexed();
    return this.starts.length;
  }

  /** Drop the index (the cache's eviction), keeping the descriptor: it is rebuilt on the next lookup. */
  shrink(): void {
    this.starts = new Float64Array(0);
    this.sizes = new Float64Array(0);
    this.names = new Float64Array(0);
    this.nameCache = new Map();
    this.indexed = false;
  }

  close(): void {
    if (this.fd < 0) return;
    try {
      closeSync(this.fd);
    } catch {
      /* already gone */
    }
    this.fd = -1;
    this.shrink();
  }

  /** File offset (as /proc/PID/maps and build-id stacks give it) → ELF vaddr, through the segment holding it. */
  offsetToVaddr(offset: number): number | undefined {
    const hits = this.segments.filter((s) => offset >= s.offset && offset < s.offset + s.filesz);
    const s = hits.find((x) => x.executable) ?? hits[0];
    return s ? offset - s.offset + s.vaddr : undefined;
  }

  /** The function containing a file offset, or undefined. */
  lookupOffset(offset: number): { name: string; offset: number } | undefined {
    const v = this.offsetToVaddr(offset);
    return v === undefined ? undefined : this.lookupVaddr(v);
  }

  lookupVaddr(a: number): { name: string; offset: number } | undefined {
    this.ensureIndexed();
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= a) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    const size = this.sizes[found]!;
    if (size > 0 && a >= starts[found]! + size) return undefined;
    const name = this.nameAt(this.names[found]!);
    return name ? { name, offset: a - starts[found]! } : undefined;
  }

  private nameAt(pos: number): string | undefined {
    let n = this.nameCache.get(pos);
    if (n !== undefined) return n;
    if (this.fd < 0) return undefined;
    const buf = new Uint8Array(NAME_MAX);
    const got = readSync(this.fd, buf, 0, NAME_MAX, pos);
    let end = buf.indexOf(0);
    if (end < 0) end = got;
    n = new TextDecoder().decode(buf.subarray(0, end));
    this.nameCache.set(pos, n);
    return n;
  }

  private ensureIndexed(): void {
    if (this.indexed || this.fd < 0) return;
    this.indexed = true;
    const fd = this.fd;
    const eh = new DataView(pread(fd, 64, 0).buffer);
    const shoff = Number(eh.getBigUint64(0x28, true));
    const shentsize = eh.getUint16(0x3a, true);
    const shnum = eh.getUint16(0x3c, true);
    if (shoff === 0 || shnum === 0) return;
    const sh = new DataView(pread(fd, shnum * shentsize, shoff).buffer);
    const section = (i: number) => ({ type: sh.getUint32(i * shentsize + 4, true), offset: Number(sh.getBigUint64(i * shentsize + 24, true)), size: Number(sh.getBigUint64(i * shentsize + 32, true)), link: sh.getUint32(i * shentsize + 40, true), entsize: Number(sh.getBigUint64(i * shentsize + 56, true)) || 24 });
    // Collected into growable typed arrays: .symtab first, so at one address its name wins.
    let n = 0;
    let cap = 1024;
    let starts = new Float64Array(cap);
    let sizes = new Float64Array(cap);
    let names = new Float64Array(cap);
    const tables = [SHT_SYMTAB, SHT_DYNSYM].flatMap((t) => Array.from({ length: shnum }, (_, i) => i).filter((i) => section(i).type === t));
    for (const i of tables) {
      const s = section(i);
      if (s.link >= shnum) continue;
      const strtab = section(s.link);
      const count = Math.floor(s.size / s.entsize);
      for (let first = 0; first < count; first += CHUNK_SYMS) {
        const k = Math.min(CHUNK_SYMS, count - first);
        const chunk = new DataView(pread(fd, k * s.entsize, s.offset + first * s.entsize).buffer);
        for (let j = 0; j < k; j++) {
          const o = j * s.entsize;
          const type = chunk.getUint8(o + 4) & 0xf;
          if ((type !== STT_FUNC && type !== STT_GNU_IFUNC) || chunk.getUint16(o + 6, true) === 0) continue;
          const nameOff = chunk.getUint32(o, true);
          const vaddr = Number(chunk.getBigUint64(o + 8, true));
          if (vaddr === 0 || nameOff === 0 || nameOff >= strtab.size) continue;
          if (n === cap) {
            cap *= 2;
            const grow = (a: Float64Array) => {
              const b = new Float64Array(cap);
              b.set(a);
              return b;
            };
            starts = grow(starts);
            sizes = grow(sizes);
            names = grow(names);
          }
          starts[n] = vaddr;
          sizes[n] = Number(chunk.getBigUint64(o + 16, true));
          names[n] = strtab.offset + nameOff;
          n++;
        }
      }
    }
    // Sort by address (stable: .symtab's entry stays first among equals), then keep one per address.
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => starts[a]! - starts[b]! || a - b);
    let m = 0;
    const s2 = new Float64Array(n);
    const z2 = new Float64Array(n);
    const n2 = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const j = order[i]!;
      if (m > 0 && s2[m - 1] === starts[j]) continue;
      s2[m] = starts[j]!;
      z2[m] = sizes[j]!;
      n2[m] = names[j]!;
      m++;
    }
    this.starts = s2.slice(0, m);
    this.sizes = z2.slice(0, m);
    this.names = n2.slice(0, m);
  }
}
