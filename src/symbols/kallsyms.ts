// /proc/kallsyms, parsed once per process: kernel address -> symbol for kernel stacks. With
// kptr_restrict (or without CAP_SYSLOG) every address reads as 0; that is detected and reported,
// never turned into a wrong symbol. The file (~10 MB, ~120k text symbols) is read in 64 KiB
// chunks and parsed as bytes: addresses in one Float64Array, names in one byte blob, so the
// table costs ~3 MB instead of the ~55 MB of RSS that one string per line took.
import { closeSync, openSync, readSync } from "node:fs";

export interface KernelSymbol {
  name: string;
  /** Loadable module name, or undefined for the core kernel. */
  module?: string;
  offset: number;
}

const CHUNK = 65536;
const NL = 10;
const SP = 32;
const TAB = 9;

/** Growable byte/number columns, filled while parsing, trimmed at the end. */
class Columns {
  n = 0;
  hi = new Uint32Array(4096);
  lo = new Uint32Array(4096);
  nameAt = new Uint32Array(4096);
  nameLen = new Uint16Array(4096);
  module = new Uint16Array(4096);
  blob = new Uint8Array(1 << 16);
  blobLen = 0;

  push(hi: number, lo: number, line: Uint8Array, nameFrom: number, nameTo: number, module: number): void {
    if (this.n === this.hi.length) {
      const cap = this.n * 2;
      const grow = <T extends Uint32Array | Uint16Array>(a: T, make: (n: number) => T): T => {
        const b = make(cap);
        b.set(a as never);
        return b;
      };
      this.hi = grow(this.hi, (c) => new Uint32Array(c));
      this.lo = grow(this.lo, (c) => new Uint32Array(c));
      this.nameAt = grow(this.nameAt, (c) => new Uint32Array(c));
      this.nameLen = grow(this.nameLen, (c) => new Uint16Array(c));
      this.module = grow(this.module, (c) => new Uint16Array(c));
    }
    const len = Math.min(nameTo - nameFrom, 0xffff);
    while (this.blobLen + len > this.blob.length) {
      const b = new Uint8Array(this.blob.length * 2);
      b.set(this.blob.subarray(0, this.blobLen));
      this.blob = b;
    }
    this.blob.set(line.subarray(nameFrom, nameFrom + len), this.blobLen);
    this.hi[this.n] = hi;
    this.lo[this.n] = lo;
    this.nameAt[this.n] = this.blobLen;
    this.nameLen[this.n] = len;
    this.module[this.n] = module;
    this.blobLen += len;
    this.n++;
  }
}

export class Kallsyms {
  /** Addresses as distances from the lowest one (exact: the kernel's text spans far less than 2^53). */
  private readonly addrs: Float64Array;
  private readonly base: bigint;
  private readonly nameAt: Uint32Array;
  private readonly nameLen: Uint16Array;
  /** 0 = core kernel, else 1 + index into modules */
  private readonly moduleOf: Uint16Array;
  private readonly blob: Uint8Array;
  private readonly modules: string[];
  private readonly decoder = new TextDecoder();
  /** True when the file listed symbols but every address was 0 (kptr_restrict / no CAP_SYSLOG). */
  readonly addressesHidden: boolean;

  private constructor(c: Columns, modules: string[], hidden: boolean) {
    let bhi = 0xffffffff;
    let blo = 0xffffffff;
    for (let i = 0; i < c.n; i++) {
      if (c.hi[i]! < bhi || (c.hi[i] === bhi && c.lo[i]! < blo)) {
        bhi = c.hi[i]!;
        blo = c.lo[i]!;
      }
    }
    this.base = c.n ? (BigInt(bhi) << 32n) | BigInt(blo) : 0n;
    const a = new Float64Array(c.n);
    for (let i = 0; i < c.n; i++) a[i] = (c.hi[i]! - bhi) * 2 ** 32 + (c.lo[i]! - blo);
    const order = new Uint32Array(c.n);
    let sorted = true;
    for (let i = 0; i < c.n; i++) {
      order[i] = i;
      if (i > 0 && a[i]! < a[i - 1]!) sorted = false;
    }
    // The kernel lists its own symbols in address order; only out-of-order files need the sort.
    if (!sorted) order.sort((x, y) => a[x]! - a[y]! || x - y);
    this.addrs = new Float64Array(c.n);
    this.nameAt = new Uint32Array(c.n);
    this.nameLen = new Uint16Array(c.n);
    this.moduleOf = new Uint16Array(c.n);
    order.forEach((j, i) => {
      this.addrs[i] = a[j]!;
      this.nameAt[i] = c.nameAt[j]!;
      this.nameLen[i] = c.nameLen[j]!;
      this.moduleOf[i] = c.module[j]!;
    });
    this.blob = c.blob.slice(0, c.blobLen);
    this.modules = modules;
    this.addressesHidden = hidden;
  }

  /** Parse kallsyms ("ffffffff81000000 T _stext [module]") from byte chunks; keeps text symbols only. */
  private static parseChunks(next: (buf: Uint8Array) => number): Kallsyms {
    const c = new Columns();
    const modules: string[] = [];
    const moduleIds = new Map<string, number>();
    const decoder = new TextDecoder();
    let lines = 0;
    let nonzero = 0;
    // One buffer: a line cut by a read is moved to the front and the next read appended to it.
    const work = new Uint8Array(2 * CHUNK);
    let kept = 0;
    const line = (l: Uint8Array, start: number, end: number) => {
      // address
      let i = start;
      let hi = 0;
      let lo = 0;
      let digits = 0;
      for (; i < end; i++) {
        const ch = l[i]!;
        const d = ch >= 48 && ch <= 57 ? ch - 48 : ch >= 97 && ch <= 102 ? ch - 87 : ch >= 65 && ch <= 70 ? ch - 55 : -1;
        if (d < 0) break;
        // Two 32-bit halves, shifted a digit at a time: no BigInt per line.
        hi = ((hi << 4) | (lo >>> 28)) >>> 0;
        lo = ((lo << 4) | d) >>> 0;
        digits++;
      }
      if (digits === 0 || digits > 16 || i >= end || (l[i] !== SP && l[i] !== TAB)) return;
      const zero = hi === 0 && lo === 0;
      while (l[i] === SP || l[i] === TAB) i++;
      const type = l[i];
      i++;
      if (type === undefined || (l[i] !== SP && l[i] !== TAB)) return;
      while (l[i] === SP || l[i] === TAB) i++;
      const nameFrom = i;
      while (i < end && l[i] !== SP && l[i] !== TAB) i++;
      const nameTo = i;
      if (nameTo === nameFrom) return;
      lines++;
      if (!zero) nonzero++;
      // t T w W: text symbols (and weak ones)
      if (zero || !(type === 116 || type === 84 || type === 119 || type === 87)) return;
      let module = 0;
      let open = nameTo;
      while (open < end && l[open] !== 91 /* [ */) open++;
      if (open < end) {
        let close = open;
        while (close < end && l[close] !== 93 /* ] */) close++;
        const name = decoder.decode(l.subarray(open + 1, close));
        let id = moduleIds.get(name);
        if (id === undefined) {
          modules.push(name);
          id = modules.length;
          moduleIds.set(name, id);
        }
        module = id;
      }
      c.push(hi, lo, l, nameFrom, nameTo, module);
    };
    for (;;) {
      const n = next(work.subarray(kept, kept + CHUNK));
      if (n <= 0) break;
      const end = kept + n;
      let from = 0;
      for (let nl = work.indexOf(NL, from); nl >= 0 && nl < end; nl = work.indexOf(NL, from)) {
        line(work, from, nl);
        from = nl + 1;
      }
      work.copyWithin(0, from, end);
      kept = end - from;
      if (kept > CHUNK) kept = 0; // a line longer than a chunk is not kallsyms: skip it
    }
    if (kept) line(work, 0, kept);
    return new Kallsyms(c, modules, lines > 0 && nonzero === 0);
  }

  static parse(text: string): Kallsyms {
    const bytes = new TextEncoder().encode(text);
    let at = 0;
    return Kallsyms.parseChunks((buf) => {
      const n = Math.min(buf.length, bytes.length - at);
      buf.set(bytes.subarray(at, at + n));
      at += n;
      return n;
    });
  }

  private static read(path: string): Kallsyms {
    const fd = openSync(path, "r");
    try {
      return Kallsyms.parseChunks((buf) => readSync(fd, buf, 0, buf.length, null));
    } finally {
      closeSync(fd);
    }
  }

  private static cached?: Kallsyms;

  /** /proc/kallsyms, read once per process. */
  static load(path = "/proc/kallsyms"): Kallsyms {
    if (path !== "/proc/kallsyms") return Kallsyms.read(path);
    return (Kallsyms.cached ??= Kallsyms.read(path));
  }

  get size(): number {
    return this.addrs.length;
  }

  /** Bytes the table holds. */
  get bytes(): number {
    return this.addrs.byteLength + this.nameAt.byteLength + this.nameLen.byteLength + this.moduleOf.byteLength + this.blob.byteLength;
  }

  /** Why lookups return nothing, when they will: for the end record's warnings. */
  get warning(): string | undefined {
    if (this.addressesHidden) {
      return "kernel symbol addresses are hidden (/proc/kallsyms shows 0: kernel.kptr_restrict or missing CAP_SYSLOG); kernel stacks stay unsymbolised";
    }
    if (this.size === 0) return "no kernel text symbols found in /proc/kallsyms";
    return undefined;
  }

  /** The text symbol at or below addr, or undefined (hidden addresses, below the first symbol). */
  lookup(addr: bigint | number): KernelSymbol | undefined {
    const big = BigInt(addr);
    if (big < this.base) return undefined;
    const a = Number(big - this.base);
    let lo = 0;
    let hi = this.addrs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.addrs[mid]! <= a) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return undefined;
    // Among symbols at one address the first listed wins (the sort is stable).
    while (found > 0 && this.addrs[found - 1] === this.addrs[found]) found--;
    const offset = a - this.addrs[found]!;
    // Past the last symbol by more than a generous function size: not ours.
    if (found === this.addrs.length - 1 && offset > 0x100000) return undefined;
    const at = this.nameAt[found]!;
    const name = this.decoder.decode(this.blob.subarray(at, at + this.nameLen[found]!));
    const m = this.moduleOf[found]!;
    return { name, module: m ? this.modules[m - 1] : undefined, offset };
  }
}
