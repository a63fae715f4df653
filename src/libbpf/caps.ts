// Capabilities of the calling thread: capget/capset (linux/capability.h, _LINUX_CAPABILITY_VERSION_3),
// the bounding set and ambient set through prctl, and no-new-privs. Used by the session to drop what
// it no longer needs once every probe is attached.
//
// Linux capabilities are per thread: capset(2), prctl and the raw set*id syscalls change the
// calling thread only (every bpf() call ebpfctl makes comes from the JavaScript main thread).
// glibc's setresuid/setresgid are the exception this module also offers: glibc runs them on every
// thread of the process, which is how the runtime's helper threads lose their capabilities
// (src/host/privileges.ts).
import { readFileSync } from "node:fs";
import { errno, glibcSetresgid, glibcSetresuid, lib, libc, syscallIntIntInt, syscallPtrPtr } from "./ffi";
import { errnoName } from "./flock";

const sys = { syscall: syscallPtrPtr };

const SYS_CAPGET = 125n; // x86_64
const SYS_CAPSET = 126n;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

const PR_SET_KEEPCAPS = 8;
const PR_CAPBSET_READ = 23;
const PR_CAPBSET_DROP = 24;
const PR_SET_NO_NEW_PRIVS = 38;
const PR_GET_NO_NEW_PRIVS = 39;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_CLEAR_ALL = 4;

export class CapabilityError extends Error {
  constructor(readonly op: string, readonly errno: number) {
    super(`${op} failed: ${errnoName(errno)}`);
    this.name = "CapabilityError";
  }
}

export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

function header(): Uint32Array {
  return new Uint32Array([LINUX_CAPABILITY_VERSION_3, 0 /* this thread */]);
}

/** The calling thread's effective, permitted and inheritable sets (64-bit masks). */
export function capget(): CapSets {
  const hdr = header();
  // struct __user_cap_data_struct[2] { effective, permitted, inheritable } × 2 (low, high 32 bits)
  const data = new Uint32Array(6);
  if (Number(sys.syscall(SYS_CAPGET, hdr, data)) !== 0) throw new CapabilityError("capget", errno());
  const mask = (lo: number, hi: number) => (BigInt(data[hi]!) << 32n) | BigInt(data[lo]!);
  return { effective: mask(0, 3), permitted: mask(1, 4), inheritable: mask(2, 5) };
}

/** Set the calling thread's sets; a set may only shrink unless CAP_SETPCAP rules allow otherwise. */
export function capset(s: CapSets): void {
  const hdr = header();
  const lo = (m: bigint) => Number(m & 0xffffffffn);
  const hi = (m: bigint) => Number((m >> 32n) & 0xffffffffn);
  const data = new Uint32Array([lo(s.effective), lo(s.permitted), lo(s.inheritable), hi(s.effective), hi(s.permitted), hi(s.inheritable)]);
  if (Number(sys.syscall(SYS_CAPSET, hdr, data)) !== 0) throw new CapabilityError("capset", errno());
}

/**
 * Whether the calling thread, as it is now, is refused every bpf() command, even on an fd it
 * already holds: older kernels (5.10 here) check kernel.unprivileged_bpf_disabled for the whole syscall,
 * newer ones only where something is created or loaded. Asked with a map lookup on fd -1, which
 * a kernel that only checks the fd answers with EBADF.
 */
export function bpfCommandsRefused(): boolean {
  const key = new Uint8Array(8);
  const value = new Uint8Array(8);
  const EPERM = 1;
  return lib().bpf_map_lookup_elem(-1, key, value) === -EPERM;
}

/** The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap). */
let lastCap: number | undefined;
export function capLastCap(): number {
  if (lastCap === undefined) {
    try {
      lastCap = Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim());
    } catch {
      lastCap = 40;
    }
  }
  return lastCap;
}

/** Whether `cap` is still in the bounding set. */
export function inBoundingSet(cap: number): boolean {
  return libc.prctl(PR_CAPBSET_READ, BigInt(cap), 0n, 0n, 0n) === 1;
}

/** Remove `cap` from the bounding set (needs CAP_SETPCAP in the effective set). */
export function dropFromBoundingSet(cap: number): void {
  if (libc.prctl(PR_CAPBSET_DROP, BigInt(cap), 0n, 0n, 0n) !== 0) throw new CapabilityError(`prctl(PR_CAPBSET_DROP, ${cap})`, errno());
}

/** Empty the ambient set (needs no privilege). */
export function clearAmbient(): void {
  if (libc.prctl(PR_CAP_AMBIENT, BigInt(PR_CAP_AMBIENT_CLEAR_ALL), 0n, 0n, 0n) !== 0) throw new CapabilityError("prctl(PR_CAP_AMBIENT_CLEAR_ALL)", errno());
}

/** No execve() of this thread (or its future children) can ever gain privileges again. */
export function setNoNewPrivs(): void {
  if (libc.prctl(PR_SET_NO_NEW_PRIVS, 1n, 0n, 0n, 0n) !== 0) throw new CapabilityError("prctl(PR_SET_NO_NEW_PRIVS)", errno());
}

export function noNewPrivs(): boolean {
  return libc.prctl(PR_GET_NO_NEW_PRIVS, 0n, 0n, 0n, 0n) === 1;
}

/** Keep the permitted set across this thread's next change to all-nonzero uids (PR_SET_KEEPCAPS). */
export function setKeepCaps(on: boolean): void {
  if (libc.prctl(PR_SET_KEEPCAPS, on ? 1n : 0n, 0n, 0n, 0n) !== 0) throw new CapabilityError("prctl(PR_SET_KEEPCAPS)", errno());
}

const SYS_SETRESUID = 117n; // x86_64
const SYS_SETRESGID = 119n;

/** setresuid on EVERY thread (glibc's broadcast). -1 leaves an id unchanged. */
export function setresuidAllThreads(r: number, e: number, s: number): void {
  if (glibcSetresuid(r >>> 0, e >>> 0, s >>> 0) !== 0) throw new CapabilityError(`setresuid(${r}, ${e}, ${s}) on every thread`, errno());
}

/** setresgid on EVERY thread (glibc's broadcast). */
export function setresgidAllThreads(r: number, e: number, s: number): void {
  if (glibcSetresgid(r >>> 0, e >>> 0, s >>> 0) !== 0) throw new CapabilityError(`setresgid(${r}, ${e}, ${s}) on every thread`, errno());
}

/** setresuid on the calling thread only (the raw syscall). */
export function setresuidThisThread(r: number, e: number, s: number): void {
  if (Number(syscallIntIntInt(SYS_SETRESUID, BigInt(r >>> 0), BigInt(e >>> 0), BigInt(s >>> 0))) !== 0) throw new CapabilityError(`setresuid(${r}, ${e}, ${s}) on the main thread`, errno());
}

/** setresgid on the calling thread only (the raw syscall). */
export function setresgidThisThread(r: number, e: number, s: number): void {
  if (Number(syscallIntIntInt(SYS_SETRESGID, BigInt(r >>> 0), BigInt(e >>> 0), BigInt(s >>> 0))) !== 0) throw new CapabilityError(`setresgid(${r}, ${e}, ${s}) on the main thread`, errno());
}
