// /proc/kallsyms, parsed once: kernel address -> symbol for kernel stacks. With kptr_restrict
// (or without CAP_SYSLOG) every address reads as 0; that is detected and reported, never
// turned into a wrong symbol.
import { readFileSync } from "node:fs";

export interface KernelSymbol {
  name: string;
  /** Loadable module name, or undefined for the core kernel. */
  module?: string;
  offset: number;
}

export class Kallsyms {
  private readonly addrs: BigUint64Array;
  private readonly names: string[];
  private readonly modules: (string | undefined)[];
  /** True when the file listed symbols but every address was 0 (kptr_restrict / no CAP_SYSLOG). */
  readonly addressesHidden: boolean;

  private constructor(entries: { addr: bigint; name: string; module?: string }[], hidden: boolean) {
    entries.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    this.addrs = new BigUint64Array(entries.length);
    this.names = new Array(entries.length);
    this.modules = new Array(entries.length);
    entries.forEach((e, i) => {
      this.addrs[i] = e.addr;
      this.names[i] = e.name;
      this.modules[i] = e.module;
    });
    this.addressesHidden = hidden;
  }

  /** Parse kallsyms text ("ffffffff81000000 T _stext [module]"); keeps text symbols only. */
  static parse(text: string): Kallsyms {
    const entries: { addr: bigint; name: string; module?: string }[] = [];
    let lines = 0;
    let nonzero = 0;
    for (const line of text.split("\n")) {
      if (!line) continue;
      const m = /^([0-9a-fA-F]+)\s+(\S)\s+(\S+)(?:\s+\[([^\]]+)\])?/.exec(line);
      if (!m) continue;
      lines++;
      const addr = BigInt("0x" + m[1]);
      if (addr !== 0n) nonzero++;
      const type = m[2]!;
      if (!"tTwW".includes(type) || addr === 0n) continue;
      entries.push({ addr, name: m[3]!, module: m[4] });
    }
    return new Kallsyms(entries, lines > 0 && nonzero === 0);
  }

  private static cached?: Kallsyms;

  /** /proc/kallsyms, read once per process. */
  static load(path = "/proc/kallsyms"): Kallsyms {
    if (path !== "/proc/kallsyms") return Kallsyms.parse(readFileSync(path, "utf8"));
    return (Kallsyms.cached ??= Kallsyms.parse(readFileSync(path, "utf8")));
  }

  get size(): number {
    return this.addrs.length;
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
    const a = BigInt(addr);
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
    const offset = a - this.addrs[found]!;
    // Past the last symbol by more than a generous function size: not ours.
    if (found === this.addrs.length - 1 && offset > 0x100000n) return undefined;
    return { name: this.names[found]!, module: this.modules[found], offset: Number(offset) };
  }
}
