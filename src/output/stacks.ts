// Stack symbolisation for the profiler: kernel addresses through /proc/kallsyms, user addresses
// through the ELF symbol tables of the files mapped by the sampled process (/proc/PID/maps).
// A process may be gone by the time its samples are printed, so its mappings are cached while
// it lives (`remember`, called on every tick) and symbol tables are cached per file (dev:inode).
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { Kallsyms } from "../symbols/kallsyms";
import { SymbolTable } from "../symbols/elf-symbols";
import type { BpfMap } from "../libbpf";

interface Mapping {
  start: bigint;
  end: bigint;
  offset: bigint;
  /** dev:inode, the cache key of the file's symbol table */
  file: string;
  path: string;
  /** /proc/PID/map_files/START-END: the mapped file itself, even if deleted or in another mount ns */
  mapFile: string;
}

const REFRESH_MS = 2000;
export const UNKNOWN_FRAME = "[unknown]";

export function parseMaps(pid: number, text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split("\n")) {
    // 55d0c0a00000-55d0c0a01000 r-xp 00001000 fe:01 1234  /usr/bin/x
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S{4})\s+([0-9a-f]+)\s+(\S+)\s+(\d+)\s+(.*)$/.exec(line);
    if (!m || !m[3]!.includes("x") || m[6] === "0") continue;
    const path = m[7]!.trim();
    if (!path.startsWith("/")) continue;
    out.push({
      start: BigInt("0x" + m[1]),
      end: BigInt("0x" + m[2]),
      offset: BigInt("0x" + m[4]),
      file: `${m[5]}:${m[6]}`,
      path: path.replace(/ \(deleted\)$/, ""),
      mapFile: `/proc/${pid}/map_files/${m[1]}-${m[2]}`,
    });
  }
  return out;
}

/** bpf_get_stackid's errors, as a stack shows them. */
export const STACK_ERRORS: Record<number, string> = { [-14]: "no stack", [-17]: "stack id collision", [-12]: "stack map full" };

/** A BPF_MAP_TYPE_STACK_TRACE entry's return addresses, innermost first; a string says why there are none. */
export function readStackTrace(map: BpfMap, id: number): bigint[] | string {
  if (id < 0) return STACK_ERRORS[id] ?? `stack error ${id}`;
  const key = new Uint8Array(4);
  const value = new Uint8Array(map.valueSize);
  new DataView(key.buffer).setUint32(0, id, true);
  if (!map.lookup(key, value)) return "stack evicted";
  const dv = new DataView(value.buffer);
  const out: bigint[] = [];
  for (let o = 0; o + 8 <= value.length; o += 8) {
    const a = dv.getBigUint64(o, true);
    if (a === 0n) break;
    out.push(a);
  }
  return out;
}

export class StackSymbolizer {
  private readonly maps = new Map<number, { at: number; mappings: Mapping[] }>();
  private readonly tables = new Map<string, SymbolTable | null>();
  private kallsyms?: Kallsyms | null;
  private readonly warned = new Set<string>();

  /** Called once per new warning text; the caller decides where it goes. */
  constructor(private readonly warn: (message: string) => void) {}

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.warn(message);
  }

  /** Read (or refresh) a process's executable mappings while it is alive. */
  remember(pid: number, now = performance.now()): void {
    const cached = this.maps.get(pid);
    if (cached && now - cached.at < REFRESH_MS) return;
    try {
      this.maps.set(pid, { at: now, mappings: parseMaps(pid, readFileSync(`/proc/${pid}/maps`, "utf8")) });
    } catch (e) {
      // Gone already: keep what we cached, if anything.
      if (cached) cached.at = now;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EACCES" || code === "EPERM") this.warnOnce(`cannot read /proc/PID/maps of some processes (${code}: needs CAP_SYS_PTRACE for processes with capabilities or of other users); their user stacks stay unsymbolised`);
    }
  }

  /** Innermost frame first, as the kernel records them. */
  user(pid: number, addrs: bigint[]): string[] {
    this.remember(pid);
    const maps = this.maps.get(pid)?.mappings;
    if (!maps) {
      this.warnOnce(`some user stacks are unsymbolised: their processes exited (or hid their memory maps) before the maps could be read`);
      return addrs.map(() => UNKNOWN_FRAME);
    }
    return addrs.map((a) => {
      const m = maps.find((x) => a >= x.start && a < x.end);
      if (!m) return UNKNOWN_FRAME;
      const fileOffset = a - m.start + m.offset;
      const sym = this.table(m)?.lookup(fileOffset, "offset");
      return sym ? sym.name : `[${basename(m.path)}+0x${fileOffset.toString(16)}]`;
    });
  }

  /**
   * Read /proc/kallsyms now. The kernel decides whether to show addresses from the opener's
   * credentials (CAP_SYSLOG), so this must run before the session drops its capabilities.
   */
  preloadKernelSymbols(): void {
    this.kernel([]);
  }

  kernel(addrs: bigint[]): string[] {
    if (this.kallsyms === undefined) {
      try {
        this.kallsyms = Kallsyms.load();
      } catch (e) {
        this.kallsyms = null;
        this.warnOnce(`kernel stacks are unsymbolised: cannot read /proc/kallsyms (${(e as Error).message})`);
      }
      if (this.kallsyms?.warning) this.warnOnce(this.kallsyms.warning);
    }
    const k = this.kallsyms;
    return addrs.map((a) => {
      const s = k?.lookup(a);
      if (!s) return UNKNOWN_FRAME;
      return s.module ? `${s.name} [${s.module}]` : s.name;
    });
  }

  private table(m: Mapping): SymbolTable | null {
    let t = this.tables.get(m.file);
    if (t !== undefined) return t;
    t = null;
    for (const path of [m.mapFile, m.path]) {
      try {
        t = SymbolTable.read(path);
        break;
      } catch {
        /* try the next way to reach the file */
      }
    }
    if (!t) this.warnOnce(`cannot read symbols of ${m.path}; its frames show as file+offset`);
    this.tables.set(m.file, t);
    return t;
  }
}

export interface SymbolisedStack {
  pid: number;
  comm: string;
  count: number;
  /** innermost first */
  user: string[];
  kernel: string[];
  userError?: string;
  kernelError?: string;
}

/** flamegraph.pl input: "comm;outer;...;inner;-;kouter;...;kinner count" (BCC profile -f order). */
export function foldedLines(stacks: SymbolisedStack[]): string[] {
  const merged = new Map<string, number>();
  for (const s of stacks) {
    const parts = [s.comm.replace(/[;\s]/g, "_") || "?"];
    if (s.user.length) parts.push(...[...s.user].reverse());
    else if (s.userError) parts.push(`[${s.userError}]`);
    if (s.kernel.length) parts.push("-", ...[...s.kernel].reverse());
    const key = parts.map((p) => p.replace(/;/g, ":")).join(";");
    merged.set(key, (merged.get(key) ?? 0) + s.count);
  }
  return [...merged.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`);
}
