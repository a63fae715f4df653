// The only place in ebpfctl that touches bun:ffi. Symbols are declared once, with the C signatures
// from /usr/include/bpf/libbpf.h and bpf.h (libbpf 1.1, Debian 12). Everything above this module
// sees typed wrappers, never raw symbols.
import { dlopen, FFIType, read, CString, type Pointer } from "bun:ffi";

const { ptr, i32, u32, u64, bool, void: voidT, cstring, function: fn } = FFIType;

const libbpfSymbols = {
  libbpf_version_string: { args: [], returns: cstring },
  libbpf_set_print: { args: [fn], returns: ptr },
  libbpf_strerror: { args: [i32, ptr, u64], returns: i32 },
  libbpf_num_possible_cpus: { args: [], returns: i32 },
  libbpf_probe_bpf_prog_type: { args: [u32, ptr], returns: i32 },
  libbpf_probe_bpf_map_type: { args: [u32, ptr], returns: i32 },
  libbpf_probe_bpf_helper: { args: [u32, u32, ptr], returns: i32 },

  bpf_object__open_mem: { args: [ptr, u64, ptr], returns: ptr },
  bpf_object__load: { args: [ptr], returns: i32 },
  bpf_object__close: { args: [ptr], returns: voidT },
  bpf_object__btf: { args: [ptr], returns: ptr },
  btf__raw_data: { args: [ptr, ptr], returns: ptr },
  bpf_object__next_program: { args: [ptr, ptr], returns: ptr },
  bpf_object__next_map: { args: [ptr, ptr], returns: ptr },

  bpf_program__name: { args: [ptr], returns: cstring },
  bpf_program__section_name: { args: [ptr], returns: cstring },
  bpf_program__fd: { args: [ptr], returns: i32 },
  bpf_program__type: { args: [ptr], returns: u32 },
  bpf_program__insns: { args: [ptr], returns: ptr },
  bpf_program__insn_cnt: { args: [ptr], returns: u64 },
  bpf_program__set_insns: { args: [ptr, ptr, u64], returns: i32 },
  bpf_program__set_autoload: { args: [ptr, bool], returns: i32 },
  bpf_program__autoload: { args: [ptr], returns: bool },
  bpf_program__set_log_buf: { args: [ptr, ptr, u64], returns: i32 },
  bpf_program__set_log_level: { args: [ptr, u32], returns: i32 },
  bpf_program__attach: { args: [ptr], returns: ptr },
  bpf_program__attach_tracepoint: { args: [ptr, cstring, cstring], returns: ptr },
  bpf_program__attach_tracepoint_opts: { args: [ptr, cstring, cstring, ptr], returns: ptr },
  bpf_program__attach_raw_tracepoint: { args: [ptr, cstring], returns: ptr },
  bpf_program__attach_trace: { args: [ptr], returns: ptr },
  bpf_program__attach_kprobe: { args: [ptr, bool, cstring], returns: ptr },
  bpf_program__attach_perf_event: { args: [ptr, i32], returns: ptr },
  bpf_program__attach_uprobe: { args: [ptr, bool, i32, cstring, u64], returns: ptr },
  bpf_program__attach_usdt: { args: [ptr, i32, cstring, cstring, cstring, ptr], returns: ptr },

  bpf_map__name: { args: [ptr], returns: cstring },
  bpf_map__fd: { args: [ptr], returns: i32 },
  bpf_map__reuse_fd: { args: [ptr, i32], returns: i32 },
  bpf_map__type: { args: [ptr], returns: u32 },
  bpf_map__key_size: { args: [ptr], returns: u32 },
  bpf_map__value_size: { args: [ptr], returns: u32 },
  bpf_map__max_entries: { args: [ptr], returns: u32 },
  bpf_map__set_max_entries: { args: [ptr, u32], returns: i32 },
  bpf_map__initial_value: { args: [ptr, ptr], returns: ptr },

  bpf_link__fd: { args: [ptr], returns: i32 },
  bpf_link__destroy: { args: [ptr], returns: i32 },


  bpf_obj_get_info_by_fd: { args: [i32, ptr, ptr], returns: i32 },
  bpf_enable_stats: { args: [i32], returns: i32 },
  bpf_map_lookup_elem: { args: [i32, ptr, ptr], returns: i32 },
  bpf_map_update_elem: { args: [i32, ptr, ptr, u64], returns: i32 },
  bpf_map_get_next_key: { args: [i32, ptr, ptr], returns: i32 },
  bpf_map_delete_elem: { args: [i32, ptr], returns: i32 },
  bpf_prog_get_next_id: { args: [u32, ptr], returns: i32 },
  bpf_link_get_next_id: { args: [u32, ptr], returns: i32 },
  bpf_prog_get_fd_by_id: { args: [u32], returns: i32 },
  bpf_link_get_fd_by_id: { args: [u32], returns: i32 },
} as const;

const libcSymbols = {
  __errno_location: { args: [], returns: ptr },
  vsnprintf: { args: [ptr, u64, ptr, ptr], returns: i32 },
  close: { args: [i32], returns: i32 },
  dup: { args: [i32], returns: i32 },
  dlsym: { args: [ptr, cstring], returns: ptr },
  pthread_create: { args: [ptr, ptr, ptr, ptr], returns: i32 },
  pthread_join: { args: [u64, ptr], returns: i32 },
  pthread_detach: { args: [u64], returns: i32 },
  flock: { args: [i32, i32], returns: i32 },
  // The audit log reserves disk blocks past its end before anything attaches (src/audit/reserve.ts).
  fallocate: { args: [i32, i32, FFIType.i64, FFIType.i64], returns: i32 },
  prctl: { args: [i32, u64, u64, u64, u64], returns: i32 },
  // The ring buffer consumer (ringbuf.ts) maps the ring itself and waits with epoll.
  mmap: { args: [ptr, u64, i32, i32, i32, FFIType.i64], returns: FFIType.i64 },
  munmap: { args: [ptr, u64], returns: i32 },
  // resident.ts: drop clean pages of our own executable from the resident set.
  madvise: { args: [u64, u64, i32], returns: i32 },
  getpagesize: { args: [], returns: i32 },
  clock_gettime: { args: [i32, ptr], returns: i32 },
  epoll_create1: { args: [i32], returns: i32 },
  epoll_ctl: { args: [i32, i32, i32, ptr], returns: i32 },
  epoll_wait: { args: [i32, ptr, i32, i32], returns: i32 },
  // syscall(2) is variadic; on x86_64 a fixed six-integer prototype is ABI-compatible, and calls
  // with fewer arguments pass zeros (used for perf_event_open and capget/capset).
  syscall: { args: [FFIType.i64, ptr, i32, i32, i32, u64], returns: FFIType.i64 },
} as const;

function openLibbpf() {
  const candidates = [process.env.EBPFCTL_LIBBPF, "libbpf.so.1"].filter(Boolean) as string[];
  let lastError: unknown;
  for (const name of candidates) {
    try {
      return dlopen(name, libbpfSymbols);
    } catch (e) {
      lastError = e;
    }
  }
  throw new LibbpfMissingError(String((lastError as Error)?.message ?? lastError));
}

export class LibbpfMissingError extends Error {
  readonly code = "EBPFCTL-E0100";
  constructor(detail: string) {
    super(`libbpf.so.1 could not be loaded (${detail}); install Debian's libbpf1 package`);
  }
}

const libcHandle = dlopen("libc.so.6", libcSymbols);

// The same syscall(2) with two pointer arguments (capget/capset take a header and a data pointer).
// A second handle: bun:ffi binds one prototype per symbol and handle.
const libcTwoPointerSyscall = dlopen("libc.so.6", {
  syscall: { args: [FFIType.i64, ptr, ptr], returns: FFIType.i64 },
});
export const syscallPtrPtr = libcTwoPointerSyscall.symbols.syscall;

// Credentials through glibc, not the raw syscall: glibc's setresuid/setresgid run the change on
// every thread of the process (its SIGSETXID broadcast), the raw syscall only on the caller.
const libcCredentials = dlopen("libc.so.6", {
  setresuid: { args: [u32, u32, u32], returns: i32 },
  setresgid: { args: [u32, u32, u32], returns: i32 },
});
export const glibcSetresuid = libcCredentials.symbols.setresuid;
export const glibcSetresgid = libcCredentials.symbols.setresgid;
// syscall(2) with three integer arguments (setresuid/setresgid on the calling thread only) and
// with two integers and a pointer (seccomp).
export const syscallIntIntInt = dlopen("libc.so.6", { syscall: { args: [FFIType.i64, u64, u64, u64], returns: FFIType.i64 } }).symbols.syscall;
export const syscallIntIntPtr = dlopen("libc.so.6", { syscall: { args: [FFIType.i64, u64, u64, ptr], returns: FFIType.i64 } }).symbols.syscall;

let libbpfHandle: ReturnType<typeof openLibbpf> | undefined;

type Symbols = ReturnType<typeof openLibbpf>["symbols"];

/** Lazily opened so that commands which never touch the kernel (keys, audit) run without libbpf. */
export function lib(): Symbols {
  if (!libbpfHandle) {
    libbpfHandle = openLibbpf();
    if (process.env.EBPFCTL_FFI_TRACE) traceSymbols(libbpfHandle.symbols as unknown as Record<string, (...a: unknown[]) => unknown>);
  }
  return libbpfHandle.symbols;
}

export const libc = libcHandle.symbols;

/** errno of the last failed libc/libbpf call on this thread; read immediately after the call. */
export function errno(): number {
  return read.i32(libc.__errno_location() as Pointer, 0);
}

export function strerror(err: number): string {
  const buf = new Uint8Array(256);
  lib().libbpf_strerror(err, buf, BigInt(buf.length));
  const end = buf.indexOf(0);
  return new TextDecoder().decode(buf.subarray(0, end < 0 ? buf.length : end));
}

export function cstr(p: Pointer | null): string {
  return p ? new CString(p).toString() : "";
}

/** Opt-in trace switch (EBPFCTL_FFI_TRACE=1): logs every libbpf call's arguments, result and time. */
function traceSymbols(symbols: Record<string, (...a: unknown[]) => unknown>): void {
  for (const name of Object.keys(symbols)) {
    const original = symbols[name]!;
    symbols[name] = (...args: unknown[]) => {
      const t0 = performance.now();
      const result = original(...args);
      const show = (v: unknown) => (typeof v === "bigint" ? `${v}n` : ArrayBuffer.isView(v) ? `<buf ${v.byteLength}>` : String(v));
      process.stderr.write(`ffi ${name}(${args.map(show).join(", ")}) = ${show(result)} [${(performance.now() - t0).toFixed(3)} ms]\n`);
      return result;
    };
  }
}

export function nullTerminated(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}
