// The seccomp filter a session installs on every thread once its last probe is attached
// (SECCOMP_SET_MODE_FILTER with SECCOMP_FILTER_FLAG_TSYNC, from the main thread). Classic BPF,
// built here as bytes (struct sock_filter: u16 code, u8 jt, u8 jf, u32 k); x86_64 numbers.
//
// It denies, with EPERM (an error the caller reports, never a kill that would lose session_end):
//   - bpf() commands that make or attach anything new (MAP_CREATE, PROG_LOAD, PROG_ATTACH,
//     OBJ_PIN, RAW_TRACEPOINT_OPEN, BTF_LOAD, LINK_CREATE, LINK_UPDATE, TOKEN_CREATE) — the cmd
//     argument is filtered; lookups, OBJ_GET_INFO_BY_FD and close stay allowed;
//   - perf_event_open, ptrace, process_vm_readv/writev, pidfd_getfd, execve, execveat,
//     init/finit/delete_module, kexec, mount/umount2 and the new mount API, and every credential
//     change (set*id, setgroups, capset);
//   - any other architecture's calling convention, and the x32 syscall range.
// Everything else is allowed: the consumer (epoll, mmap of the ring, map reads, writes to the
// audit log and the output, futexes, the runtime's own threads) keeps working unchanged.
import { ptr } from "bun:ffi";
import { errno, syscallIntIntPtr } from "./ffi";
import { CapabilityError } from "./caps";

const SYS_SECCOMP = 317n;
const SECCOMP_SET_MODE_FILTER = 1n;
const SECCOMP_FILTER_FLAG_TSYNC = 1n;
const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;

// BPF opcodes (linux/filter.h)
const BPF_LD_W_ABS = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K = 0x06; // BPF_RET | BPF_K
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;

// struct seccomp_data offsets
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG0_LO = 16;

/** Syscalls denied outright (x86_64 numbers, arch/x86/entry/syscalls/syscall_64.tbl). */
export const DENIED_SYSCALLS: Record<string, number> = {
  ptrace: 101,
  execve: 59,
  execveat: 322,
  perf_event_open: 298,
  process_vm_readv: 310,
  process_vm_writev: 311,
  pidfd_getfd: 438,
  init_module: 175,
  finit_module: 313,
  delete_module: 176,
  kexec_load: 246,
  kexec_file_load: 320,
  mount: 165,
  umount2: 166,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
  setuid: 105,
  setgid: 106,
  setreuid: 113,
  setregid: 114,
  setgroups: 116,
  setresuid: 117,
  setresgid: 119,
  setfsuid: 122,
  setfsgid: 123,
  capset: 126,
};
export const SYS_BPF = 321;
/** bpf() commands denied (include/uapi/linux/bpf.h enum bpf_cmd). */
export const DENIED_BPF_COMMANDS: Record<string, number> = {
  BPF_MAP_CREATE: 0,
  BPF_PROG_LOAD: 5,
  BPF_OBJ_PIN: 6,
  BPF_PROG_ATTACH: 8,
  BPF_RAW_TRACEPOINT_OPEN: 17,
  BPF_BTF_LOAD: 18,
  BPF_LINK_CREATE: 28,
  BPF_LINK_UPDATE: 29,
  BPF_TOKEN_CREATE: 36,
};

type Insn = { code: number; jt: number | string; jf: number | string; k: number } | { label: string };

/** The filter program, as struct sock_filter bytes. */
export function buildFilter(): Uint8Array {
  const prog: Insn[] = [];
  const ins = (code: number, k: number, jt: number | string = 0, jf: number | string = 0) => prog.push({ code, jt, jf, k });
  ins(BPF_LD_W_ABS, OFF_ARCH);
  ins(BPF_JEQ_K, AUDIT_ARCH_X86_64, 0, "deny");
  ins(BPF_LD_W_ABS, OFF_NR);
  ins(BPF_JGE_K, X32_SYSCALL_BIT, "deny", 0);
  ins(BPF_JEQ_K, SYS_BPF, "bpf", 0);
  for (const nr of Object.values(DENIED_SYSCALLS)) ins(BPF_JEQ_K, nr, "deny", 0);
  ins(BPF_RET_K, SECCOMP_RET_ALLOW);
  prog.push({ label: "bpf" });
  ins(BPF_LD_W_ABS, OFF_ARG0_LO);
  for (const cmd of Object.values(DENIED_BPF_COMMANDS)) ins(BPF_JEQ_K, cmd, "deny", 0);
  ins(BPF_RET_K, SECCOMP_RET_ALLOW);
  prog.push({ label: "deny" });
  ins(BPF_RET_K, SECCOMP_RET_ERRNO | EPERM);

  // Resolve labels into relative jump offsets (from the instruction after the jump).
  const at = new Map<string, number>();
  const real: Exclude<Insn, { label: string }>[] = [];
  for (const i of prog) {
    if ("label" in i) at.set(i.label, real.length);
    else real.push(i);
  }
  const out = new Uint8Array(real.length * 8);
  const view = new DataView(out.buffer);
  real.forEach((i, n) => {
    const rel = (j: number | string) => {
      if (typeof j === "number") return j;
      const d = at.get(j)! - (n + 1);
      if (d < 0 || d > 255) throw new Error(`seccomp filter jump to ${j} out of range (${d})`);
      return d;
    };
    view.setUint16(n * 8, i.code, true);
    view.setUint8(n * 8 + 2, rel(i.jt));
    view.setUint8(n * 8 + 3, rel(i.jf));
    view.setUint32(n * 8 + 4, i.k >>> 0, true);
  });
  return out;
}

/**
 * Install the filter on every thread (TSYNC). The caller must have no-new-privs set (or
 * CAP_SYS_ADMIN); with TSYNC the kernel also sets no-new-privs on every other thread.
 */
export function installFilterOnAllThreads(): void {
  const filter = buildFilter();
  // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (pointer at offset 8)
  const fprog = new BigUint64Array(2);
  fprog[0] = BigInt(filter.length / 8);
  fprog[1] = BigInt(ptr(filter));
  const r = Number(syscallIntIntPtr(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, fprog));
  // Keep the filter bytes alive until the kernel has copied them (it has, once the call returns).
  void filter;
  if (r !== 0) throw new CapabilityError(r > 0 ? `seccomp(TSYNC): thread ${r} could not be synchronised` : "seccomp(SET_MODE_FILTER, TSYNC)", r > 0 ? 0 : errno());
}
