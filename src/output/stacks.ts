// Stack symbolisation for the profiler (and every renderer of kernel/user stacks): kernel
// addresses through /proc/kallsyms (read once per process), user addresses through the ELF files
// the sampled process maps, opened when the pid is first seen so that its frames resolve after it
// exits (src/symbols/user-symbols.ts). Symbol indexes live in an LRU whose byte cap is a share of
// the session's max_memory. An unresolved frame is "[module+0xoff]", or "[unknown]" with no module.
import { BtfKind, type Btf } from "../libbpf/btf";
import { Kallsyms } from "../symbols/kallsyms";
import { UserSymbols, UNKNOWN_FRAME, moduleFrame, parseMaps } from "../symbols/user-symbols";
import type { BpfMap } from "../libbpf";

export { UNKNOWN_FRAME, moduleFrame, parseMaps };

/** One user frame as a build-id stack map gives it: build-id + file offset, or a raw ip (the kernel's fallback). */
export type UserFrame = { buildId: string; offset: bigint } | { ip: bigint };

/** Where struct bpf_stack_build_id keeps its fields, from the object's BTF. */
export interface BuildIdFrameLayout {
  size: number;
  status: number;
  buildId: number;
  buildIdBytes: number;
  /** the union { offset; ip } */
  at: number;
}

// enum bpf_stack_build_id_status (uapi; values fixed by the ABI)
const BUILD_ID_VALID = 1;
const BUILD_ID_IP = 2;

export function buildIdFrameLayout(btf: Btf): BuildIdFrameLayout {
  const s = btf.find("bpf_stack_build_id", BtfKind.STRUCT);
  if (!s) throw new Error("struct bpf_stack_build_id is not in the object's BTF");
  const fields = btf.layout("bpf_stack_build_id");
  const field = (name: string) => {
    const f = fields.find((x) => x.name === name);
    if (!f) throw new Error(`struct bpf_stack_build_id has no ${name || "anonymous union"} in the object's BTF`);
    return f;
  };
  const id = field("build_id");
  return { size: btf.sizeOf(s.id), status: field("status").offset, buildId: id.offset, buildIdBytes: id.size, at: field("").offset };
}

/** The frames of one BPF_F_STACK_BUILD_ID stack map value, innermost first, up to the first empty one. */
export function buildIdFrames(value: Uint8Array, l: BuildIdFrameLayout): UserFrame[] {
  const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const out: UserFrame[] = [];
  for (let o = 0; o + l.size <= value.length; o += l.size) {
    const status = dv.getInt32(o + l.status, true);
    const at = dv.getBigUint64(o + l.at, true);
    if (status === BUILD_ID_VALID) {
      let id = "";
      for (let i = 0; i < l.buildIdBytes; i++) id += value[o + l.buildId + i]!.toString(16).padStart(2, "0");
      out.push({ buildId: id, offset: at }); // zero-padded when the id is shorter than the field
    } else if (status === BUILD_ID_IP) out.push({ ip: at });
    else break;
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

/** Default cap on symbol indexes when the caller gives none. */
export const DEFAULT_SYMBOL_BYTES = 32 * 1024 * 1024;

/** Symbol indexes may use this share of the session's max_memory. */
export const symbolBytesFor = (maxMemory: number): number => Math.max(4 << 20, Math.floor(maxMemory / 8));

export class StackSymbolizer {
  private readonly users: UserSymbols;
  private kallsyms?: Kallsyms | null;
  private readonly warned = new Set<string>();

  /** `warn` is called once per new warning text; the caller decides where it goes. */
  constructor(private readonly warn: (message: string) => void, opts: { maxSymbolBytes?: number } = {}) {
    this.users = new UserSymbols({ maxBytes: opts.maxSymbolBytes ?? DEFAULT_SYMBOL_BYTES, warn: (m) => this.warnOnce(m) });
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.warn(message);
  }

  /** Snapshot a process's executable mappings (and open their files) while it is alive. */
  remember(pid: number, now = performance.now()): void {
    this.users.remember(pid, now);
  }

  /** Innermost frame first, as the kernel records them. */
  user(pid: number, addrs: bigint[]): string[] {
    return this.users.user(pid, addrs);
  }

  /** A build-id stack (buildIdFrames): build-id frames through the files seen, ip frames through the pid's mappings. */
  userFrames(pid: number, frames: UserFrame[]): string[] {
    return frames.map((f) => ("buildId" in f ? this.users.byBuildIdFrame(f.buildId, f.offset) : this.users.user(pid, [f.ip])[0]!));
  }

  /** Bytes the user symbol indexes hold now. */
  get symbolBytes(): number {
    return this.users.bytes;
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

  close(): void {
    this.users.close();
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
