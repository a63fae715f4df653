// bpf_object and the programs and maps it owns. The object owns them: closing the object frees
// programs and maps (their fds), so BpfProgram/BpfMap are views that refuse use after close.
import { ptr, toArrayBuffer, read, type Pointer } from "bun:ffi";
import { lib, nullTerminated } from "./ffi";
import { checkInt, checkPtr, LibbpfError } from "./error";
import { Btf } from "./btf";
import { BpfLink } from "./link";
import { progInfo, type ProgInfo } from "./info";

const OPEN_OPTS_SIZE = 80; // sizeof(struct bpf_object_open_opts) in libbpf 1.1 on 64-bit
const OPEN_OPTS_BTF_CUSTOM_PATH = 48; // offsetof(struct bpf_object_open_opts, btf_custom_path)
const PROG_LOG_SIZE = 1 << 20;

export class ClosedHandleError extends Error {
  readonly code = "EBPFCTL-E0103";
}

export class BpfObject {
  private handle: Pointer | null;
  private readonly keepAlive: unknown[] = [];
  private btfCache?: Btf;
  private readonly programsByName = new Map<string, BpfProgram>();
  private readonly mapsByName = new Map<string, BpfMap>();
  loaded = false;
  /** Size of each program's verifier log buffer (a log that does not fit fails the load with ENOSPC). */
  verifierLogBytes = PROG_LOG_SIZE;

  private constructor(handle: Pointer, keep: unknown[], readonly name: string) {
    this.handle = handle;
    this.keepAlive.push(...keep);
    const l = lib();
    for (let p = l.bpf_object__next_program(handle, null); p; p = l.bpf_object__next_program(handle, p)) {
      const prog = new BpfProgram(this, p as Pointer);
      this.programsByName.set(prog.name, prog);
    }
    for (let m = l.bpf_object__next_map(handle, null); m; m = l.bpf_object__next_map(handle, m)) {
      const map = new BpfMap(this, m as Pointer);
      this.mapsByName.set(map.name, map);
    }
  }

  /**
   * Open an ELF object held in memory (the binary embeds its objects; nothing is read from disk).
   * `coreBtfPath`: a BTF file that replaces the kernel's for CO-RE relocations only (libbpf's
   * btf_custom_path), e.g. a minimised copy of the types the object relocates against.
   */
  static openMemory(elf: Uint8Array, name: string, options: { coreBtfPath?: string; verifierLogBytes?: number } = {}): BpfObject {
    const nameBuf = nullTerminated(name);
    const opts = new ArrayBuffer(OPEN_OPTS_SIZE);
    const dv = new DataView(opts);
    dv.setBigUint64(0, BigInt(OPEN_OPTS_SIZE), true);
    dv.setBigUint64(8, BigInt(ptr(nameBuf)), true);
    const keep: unknown[] = [nameBuf, opts];
    if (options.coreBtfPath !== undefined) {
      const pathBuf = nullTerminated(options.coreBtfPath);
      dv.setBigUint64(OPEN_OPTS_BTF_CUSTOM_PATH, BigInt(ptr(pathBuf)), true);
      keep.push(pathBuf);
    }
    const elfCopy = new Uint8Array(elf); // libelf reads the buffer until load; keep our own copy alive
    keep.push(elfCopy);
    const h = checkPtr(lib().bpf_object__open_mem(elfCopy, BigInt(elfCopy.length), new Uint8Array(opts)), "bpf_object__open_mem", name);
    const o = new BpfObject(h as Pointer, keep, name);
    if (options.verifierLogBytes) o.verifierLogBytes = options.verifierLogBytes;
    return o;
  }

  private get h(): Pointer {
    if (!this.handle) throw new ClosedHandleError(`bpf object ${this.name} used after close`);
    return this.handle;
  }

  get isOpen(): boolean {
    return this.handle !== null;
  }

  programs(): BpfProgram[] {
    this.h;
    return [...this.programsByName.values()];
  }

  program(name: string): BpfProgram {
    const p = this.programsByName.get(name);
    if (!p) throw new LibbpfError("bpf_object__find_program_by_name", 2, `${this.name}:${name}`);
    return p;
  }

  maps(): BpfMap[] {
    this.h;
    return [...this.mapsByName.values()];
  }

  map(name: string): BpfMap {
    const m = this.mapsByName.get(name) ?? [...this.mapsByName.values()].find((x) => x.name.endsWith(name));
    if (!m) throw new LibbpfError("bpf_object__find_map_by_name", 2, `${this.name}:${name}`);
    return m;
  }

  /** The object's own BTF, parsed once. */
  btf(): Btf {
    if (!this.btfCache) {
      const l = lib();
      const b = checkPtr(l.bpf_object__btf(this.h), "bpf_object__btf", this.name);
      const sizeBuf = new Uint32Array(1);
      const raw = checkPtr(l.btf__raw_data(b as Pointer, sizeBuf), "btf__raw_data", this.name);
      this.btfCache = new Btf(new Uint8Array(toArrayBuffer(raw as Pointer, 0, sizeBuf[0]!)).slice());
    }
    return this.btfCache;
  }

  /**
   * Writable view of a data section's initial value (.rodata before load; .bss/.data are mmaped
   * by libbpf so after load the same view reads the live kernel map).
   */
  sectionData(section: ".rodata" | ".bss" | ".data"): Uint8Array | undefined {
    const map = [...this.mapsByName.values()].find((m) => m.name.endsWith(section));
    if (!map) return undefined;
    const size = new BigUint64Array(1);
    const p = lib().bpf_map__initial_value(map.handlePtr(), size);
    if (!p) return undefined;
    return new Uint8Array(toArrayBuffer(p as Pointer, 0, Number(size[0])));
  }

  /** Load every program whose autoload is on. Verifier logs land in each program's log buffer. */
  load(): void {
    for (const p of this.programsByName.values()) if (p.autoload) p.prepareLog();
    const rc = lib().bpf_object__load(this.h);
    if (rc < 0) {
      const failed = [...this.programsByName.values()].find((p) => p.autoload && p.fd < 0 && p.verifierLog().length > 0);
      throw new LoadError(this.name, -rc, failed?.name, failed?.verifierLog() ?? "", this.verifierLogBytes);
    }
    this.loaded = true;
  }

  close(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = null;
    lib().bpf_object__close(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** bpf_object__load failed; carries the failing program's verifier log when the kernel gave one. */
export class LoadError extends LibbpfError {
  constructor(object: string, errno: number, readonly program: string | undefined, readonly verifierLog: string, readonly logBufferBytes = PROG_LOG_SIZE) {
    super("bpf_object__load", errno, program ? `${object}:${program}` : object);
  }

  /** The kernel filled the log buffer (ENOSPC): what is in verifierLog is only part of the log. */
  get logTruncated(): boolean {
    return this.errno === 28 && this.verifierLog.length >= this.logBufferBytes - 1;
  }
}

export class BpfProgram {
  readonly name: string;
  readonly section: string;
  private logBuf?: Uint8Array;

  constructor(private readonly owner: BpfObject, private readonly p: Pointer) {
    this.name = String(lib().bpf_program__name(p) ?? "");
    this.section = String(lib().bpf_program__section_name(p) ?? "");
  }

  private get h(): Pointer {
    if (!this.owner.isOpen) throw new ClosedHandleError(`program ${this.name} used after its object was closed`);
    return this.p;
  }

  get autoload(): boolean {
    return lib().bpf_program__autoload(this.h);
  }

  set autoload(on: boolean) {
    checkInt(lib().bpf_program__set_autoload(this.h, on), "bpf_program__set_autoload", this.name);
  }

  get fd(): number {
    return lib().bpf_program__fd(this.h);
  }

  get type(): number {
    return lib().bpf_program__type(this.h);
  }

  /**
   * A copy of the program's instructions (8 bytes each) as libbpf holds them: as compiled before
   * load, CO-RE-relocated (map fds embedded) after it.
   */
  instructions(): Uint8Array {
    const n = Number(lib().bpf_program__insn_cnt(this.h));
    const p = lib().bpf_program__insns(this.h);
    if (!p || n === 0) return new Uint8Array(0);
    return new Uint8Array(toArrayBuffer(p as Pointer, 0, n * 8)).slice();
  }

  /** Replace the instructions before load (same count: relocation records keep their offsets). */
  replaceInstructions(insns: Uint8Array): void {
    const n = Number(lib().bpf_program__insn_cnt(this.h));
    if (insns.length !== n * 8) throw new Error(`${this.name}: ${insns.length / 8} instructions given for ${n}`);
    checkInt(lib().bpf_program__set_insns(this.h, insns, BigInt(n)), "bpf_program__set_insns", this.name);
  }

  prepareLog(): void {
    // Uninitialised: libbpf asks the kernel for a log only when a load fails, and zeroing 1 MiB
    // per program cost several ms of every start. The kernel NUL-terminates what it writes.
    if (!this.logBuf) {
      this.logBuf = Buffer.allocUnsafeSlow(this.owner.verifierLogBytes);
      this.logBuf[0] = 0;
    }
    checkInt(lib().bpf_program__set_log_buf(this.h, this.logBuf, BigInt(this.logBuf.length)), "bpf_program__set_log_buf", this.name);
  }

  verifierLog(): string {
    if (!this.logBuf) return "";
    const end = this.logBuf.indexOf(0);
    return new TextDecoder().decode(this.logBuf.subarray(0, end < 0 ? this.logBuf.length : end));
  }

  info(): ProgInfo {
    return progInfo(this.fd, this.name);
  }

  /** Attach by the program's SEC() definition (tracepoint/..., raw_tp/..., tp_btf/..., kprobe/...). */
  attach(): BpfLink {
    const l = lib().bpf_program__attach(this.h);
    return BpfLink.adopt(checkPtr(l, "bpf_program__attach", `${this.name} (${this.section})`) as Pointer, this.name, this.section, this.fd);
  }

  /** With a cookie (bpf_get_attach_cookie, 5.15+): one program told apart per attachment. */
  attachTracepoint(category: string, event: string, cookie?: number): BpfLink {
    let l;
    if (cookie === undefined) l = lib().bpf_program__attach_tracepoint(this.h, nullTerminated(category), nullTerminated(event));
    else {
      // struct bpf_tracepoint_opts { size_t sz; __u64 bpf_cookie; } in libbpf 1.1
      const opts = new BigUint64Array([16n, BigInt(cookie)]);
      l = lib().bpf_program__attach_tracepoint_opts(this.h, nullTerminated(category), nullTerminated(event), opts);
    }
    return BpfLink.adopt(checkPtr(l, "bpf_program__attach_tracepoint", `${this.name} → ${category}/${event}`) as Pointer, this.name, `tracepoint/${category}/${event}`, this.fd);
  }

  attachPerfEvent(perfFd: number, target: string): BpfLink {
    const l = lib().bpf_program__attach_perf_event(this.h, perfFd);
    return BpfLink.adopt(checkPtr(l, "bpf_program__attach_perf_event", `${this.name} → ${target}`) as Pointer, this.name, target, this.fd);
  }

  attachUprobe(retprobe: boolean, binary: string, offset: number): BpfLink {
    const l = lib().bpf_program__attach_uprobe(this.h, retprobe, -1, nullTerminated(binary), BigInt(offset));
    const target = `${retprobe ? "uretprobe" : "uprobe"}:${binary}+0x${offset.toString(16)}`;
    return BpfLink.adopt(checkPtr(l, "bpf_program__attach_uprobe", `${this.name} → ${target}`) as Pointer, this.name, target, this.fd);
  }

  /** Every process (pid -1) running `binary`, at each site of the probe provider:name (.note.stapsdt). */
  attachUsdt(binary: string, provider: string, name: string, cookie = 0): BpfLink {
    // struct bpf_usdt_opts { size_t sz; __u64 usdt_cookie; size_t :0; } in libbpf 1.1: 16 bytes
    const opts = new BigUint64Array([16n, BigInt(cookie)]);
    const l = lib().bpf_program__attach_usdt(this.h, -1, nullTerminated(binary), nullTerminated(provider), nullTerminated(name), opts);
    const target = `usdt:${binary}:${provider}:${name}`;
    return BpfLink.adopt(checkPtr(l, "bpf_program__attach_usdt", `${this.name} → ${target}`) as Pointer, this.name, target, this.fd);
  }
}

export class BpfMap {
  readonly name: string;
  constructor(private readonly owner: BpfObject, private readonly p: Pointer) {
    this.name = String(lib().bpf_map__name(p) ?? "");
  }
  handlePtr(): Pointer {
    if (!this.owner.isOpen) throw new ClosedHandleError(`map ${this.name} used after its object was closed`);
    return this.p;
  }
  get fd(): number {
    return lib().bpf_map__fd(this.handlePtr());
  }
  get type(): number {
    return lib().bpf_map__type(this.handlePtr());
  }
  get keySize(): number {
    return lib().bpf_map__key_size(this.handlePtr());
  }
  get valueSize(): number {
    return lib().bpf_map__value_size(this.handlePtr());
  }
  get maxEntries(): number {
    return lib().bpf_map__max_entries(this.handlePtr());
  }
  set maxEntries(n: number) {
    checkInt(lib().bpf_map__set_max_entries(this.handlePtr(), n), "bpf_map__set_max_entries", this.name);
  }

  /**
   * Before load: use the kernel map behind `fd` (another object's, same definition) instead of
   * creating one. libbpf dups the fd, so each object still closes only what it owns.
   */
  reuse(fd: number): void {
    checkInt(lib().bpf_map__reuse_fd(this.handlePtr(), fd), "bpf_map__reuse_fd", this.name);
  }

  /** Raw value lookup; `value` must be sized for per-CPU maps (possible CPUs × round_up(value_size, 8)). */
  lookup(key: Uint8Array, value: Uint8Array): boolean {
    const rc = lib().bpf_map_lookup_elem(this.fd, key, value);
    if (rc === 0) return true;
    if (rc === -2) return false;
    checkInt(rc, "bpf_map_lookup_elem", this.name);
    return false;
  }

  update(key: Uint8Array, value: Uint8Array): void {
    checkInt(lib().bpf_map_update_elem(this.fd, key, value, 0n), "bpf_map_update_elem", this.name);
  }

  /** Every key currently in a hash map (bounded by max_entries). */
  keys(): Uint8Array[] {
    const out: Uint8Array[] = [];
    let prev: Uint8Array | null = null;
    const limit = this.maxEntries + 1;
    for (let i = 0; i < limit; i++) {
      const next = new Uint8Array(this.keySize);
      const rc = lib().bpf_map_get_next_key(this.fd, prev, next);
      if (rc === -2) break;
      checkInt(rc, "bpf_map_get_next_key", this.name);
      out.push(next);
      prev = next;
    }
    return out;
  }

  delete(key: Uint8Array): void {
    const rc = lib().bpf_map_delete_elem(this.fd, key);
    if (rc !== -2) checkInt(rc, "bpf_map_delete_elem", this.name);
  }
}

export function possibleCpus(): number {
  return checkInt(lib().libbpf_num_possible_cpus(), "libbpf_num_possible_cpus", "");
}

export { read };
