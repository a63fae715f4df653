// Least privilege after attach. Loading and attaching need CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN);
// once every link exists, nothing the session still does needs a capability:
//   - ring buffer epoll/mmap reads, map lookups and updates on map fds it already holds,
//   - BPF_OBJ_GET_INFO_BY_FD on its own program fds (CPU accounting),
//   - writing the mmaped .bss (sampling), closing links, programs and the BPF_ENABLE_STATS fd,
// are checks on the file descriptor, not on the caller's capabilities. So the session keeps none
// (profile: CAP_SYS_PTRACE on the main thread), on EVERY thread (docs/least-privilege.md):
//
// Capabilities are per thread, and the runtime's helper threads (JIT workers, GC scavenger,
// fs.watch) started with the process's full set. Only two things change another thread's
// credentials: execve, and glibc's set*id broadcast (glibc runs setresuid/setresgid on every
// thread). We use the broadcast, because it keeps the session in this process (no hand-over of
// links, rings and budgets to a re-executed consumer):
//   root (uid 0): every thread moves to the helper identity (65534) — a change to all-nonzero
//     uids clears permitted, effective and ambient on each thread — while the main thread, with
//     PR_SET_KEEPCAPS, keeps its permitted set long enough to move itself back to uid/gid 0 with
//     the raw (this-thread) syscalls; then it capsets its own sets to `keep`. Its files (run dir,
//     audit log, cache) stay root's; the helpers end as nobody with nothing.
//   service identity (uid U with ambient CAP_SETUID): every thread sets its saved uid to 0 and
//     back to U — the same all-nonzero transition, so the same clearing — and the main thread
//     capsets to `keep`.
//   no CAP_SETUID: only the main thread can drop; the report says how many threads kept what.
// Then a seccomp filter on every thread (TSYNC, which also sets no-new-privs on every thread)
// denies loading, creating, attaching, exec, ptrace, modules, mounts and credential changes.
//
// Order matters: no-new-privs first; the bounding set can only be shrunk while CAP_SETPCAP is
// still effective; the ambient set is cleared; capset() last, which also gives up CAP_SETPCAP.
import { readdirSync, readFileSync } from "node:fs";
import { CAPABILITY_NAMES, decodeCapabilities } from "../kernel/facts";
import {
  capget,
  bpfCommandsRefused,
  capLastCap,
  capset,
  clearAmbient,
  dropFromBoundingSet,
  inBoundingSet,
  noNewPrivs,
  setKeepCaps,
  setNoNewPrivs,
  setresgidAllThreads,
  setresgidThisThread,
  setresuidAllThreads,
  setresuidThisThread,
  CapabilityError,
} from "../libbpf/caps";
import { installFilterOnAllThreads } from "../libbpf/seccomp";
import { privilegeDropFailed } from "../errors";

const CAP_SETGID = 6;
const CAP_SETUID = 7;
const CAP_SETPCAP = 8;
const CAP_BPF = 39;
/** The identity root's helper threads end as (nobody/nogroup): owns nothing, holds nothing. */
export const HELPER_THREAD_ID = 65534;

export interface HeldCapabilities {
  effective: string[];
  permitted: string[];
  inheritable: string[];
  bounding: string[];
  ambient: string[];
  no_new_privs: boolean;
}

/** One thread's credentials as /proc/PID/task/TID/status shows them. */
export interface ThreadStatus {
  tid: number;
  name: string;
  uid: number;
  effective: string[];
  permitted: string[];
  no_new_privs: boolean;
  /** 0 none, 1 strict, 2 filter */
  seccomp: number;
}

export interface PrivilegeReport extends HeldCapabilities {
  kept: string[];
  dropped: string[];
  bounding_cleared: boolean;
  /** How the helper threads were reached: "setxid-broadcast", or "main-thread-only" (no CAP_SETUID). */
  mechanism: "setxid-broadcast" | "main-thread-only";
  /** Whether the seccomp filter is on every thread. */
  seccomp: boolean;
  /** Every thread, read back from /proc/self/task after the drop. */
  threads: ThreadStatus[];
  /** Threads (main included) holding any effective or permitted capability beyond `kept`. */
  threads_beyond_kept: number;
  /** Threads other than the main one holding any effective capability. */
  other_threads_with_capabilities: number;
  /** Why a capability beyond `keep` stayed on the main thread (CAP_BPF where bpf() itself needs it, as on 5.10). */
  kept_because?: string;
}

function statusField(text: string, name: string): string {
  return new RegExp(`^${name}:\\s*([0-9a-fA-F]+)$`, "m").exec(text)?.[1] ?? "0";
}

/** The capability sets of a process (its main thread) from /proc/PID/status. */
export function heldCapabilities(pid: number | "self" | "thread-self" = "thread-self"): HeldCapabilities {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  return {
    effective: decodeCapabilities(statusField(text, "CapEff")),
    permitted: decodeCapabilities(statusField(text, "CapPrm")),
    inheritable: decodeCapabilities(statusField(text, "CapInh")),
    bounding: decodeCapabilities(statusField(text, "CapBnd")),
    ambient: decodeCapabilities(statusField(text, "CapAmb")),
    no_new_privs: /^NoNewPrivs:\s*1$/m.test(text),
  };
}

/** Every thread of `pid` (default this process), from /proc/PID/task/*\/status; exited threads are skipped. */
export function threadStatuses(pid: number | "self" = "self"): ThreadStatus[] {
  const out: ThreadStatus[] = [];
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      out.push({
        tid: Number(tid),
        name: /^Name:\s*(.*)$/m.exec(text)?.[1] ?? "?",
        uid: Number(/^Uid:\s*\d+\s+(\d+)/m.exec(text)?.[1] ?? -1),
        effective: decodeCapabilities(statusField(text, "CapEff")),
        permitted: decodeCapabilities(statusField(text, "CapPrm")),
        no_new_privs: /^NoNewPrivs:\s*1$/m.test(text),
        seccomp: Number(/^Seccomp:\s*(\d+)$/m.exec(text)?.[1] ?? 0),
      });
    } catch {
      /* thread exited */
    }
  }
  return out.sort((a, b) => a.tid - b.tid);
}

/** The effective capabilities held by any thread (what `ps` shows as CAPS). */
export function unionOfEffective(threads: ThreadStatus[]): string[] {
  return [...new Set(threads.flatMap((t) => t.effective))].sort();
}

/** Whether dropPrivileges can reach every thread: it needs CAP_SETUID for the set*id broadcast. */
export function canDropOnEveryThread(): boolean {
  return has(capget().effective, CAP_SETUID);
}

const bit = (name: string): number => CAPABILITY_NAMES.indexOf(name);
const has = (mask: bigint, cap: number) => ((mask >> BigInt(cap)) & 1n) === 1n;

function unprivilegedBpfDisabled(): string {
  try {
    return readFileSync("/proc/sys/kernel/unprivileged_bpf_disabled", "utf8").trim();
  } catch {
    return "?";
  }
}

/** Real, effective and saved ids from /proc/self/status ("Uid:" or "Gid:"), of the calling thread. */
function ids(which: "Uid" | "Gid"): [number, number, number] {
  const m = new RegExp(`^${which}:\\s*(\\d+)\\s+(\\d+)\\s+(\\d+)`, "m").exec(readFileSync("/proc/thread-self/status", "utf8"));
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [-1, -1, -1];
}

/**
 * Drop every capability not in `keep` on every thread (see the header for how), clear ambient and
 * bounding sets, set no-new-privs and install the seccomp filter on every thread.
 */
export function dropPrivileges(keep: string[] = []): PrivilegeReport {
  try {
    const before = capget();
    const keepMask = keep.reduce((m, n) => (bit(n) >= 0 ? m | (1n << BigInt(bit(n))) : m), 0n) & before.permitted;
    setNoNewPrivs();
    try {
      clearAmbient();
    } catch {
      /* kernels before 4.3 have no ambient set */
    }
    let boundingCleared = false;
    if (has(before.effective, CAP_SETPCAP)) {
      for (let cap = 0; cap <= capLastCap(); cap++) {
        if (has(keepMask, cap)) continue;
        if (inBoundingSet(cap)) dropFromBoundingSet(cap);
      }
      boundingCleared = true;
    }
    const mechanism = has(before.effective, CAP_SETUID) ? "setxid-broadcast" : "main-thread-only";
    if (mechanism === "setxid-broadcast") dropOnEveryThread(before.effective);
    // CAP_BPF leaves the effective set first, still permitted: if the kernel then refuses even
    // the session's reads of its own maps (every bpf() command on older kernels such as 5.10, when
    // kernel.unprivileged_bpf_disabled is set), the main thread takes it back and keeps it; the
    // seccomp filter below still denies every command that loads, creates or attaches.
    const bpfMask = capLastCap() >= CAP_BPF && has(before.permitted, CAP_BPF) && !has(keepMask, CAP_BPF) ? 1n << BigInt(CAP_BPF) : 0n;
    capset({ effective: keepMask, permitted: keepMask | bpfMask, inheritable: 0n });
    let finalMask = keepMask;
    let keptBecause: string | undefined;
    if (bpfMask && bpfCommandsRefused()) {
      finalMask = keepMask | bpfMask;
      keptBecause = `CAP_BPF on the main thread: this kernel refuses every bpf() command without it (kernel.unprivileged_bpf_disabled=${unprivilegedBpfDisabled()}), even reads of the session's own maps; loading and attaching stay denied by the seccomp filter`;
    }
    capset({ effective: finalMask, permitted: finalMask, inheritable: 0n });
    const after = capget();
    if (after.effective !== finalMask || after.permitted !== finalMask || !noNewPrivs()) throw new Error(`capget shows effective ${after.effective.toString(16)}, permitted ${after.permitted.toString(16)} after capset`);
    installFilterOnAllThreads();

    const kept = decodeCapabilities(finalMask.toString(16));
    const threads = threadStatuses();
    const beyond = threads.filter((t) => [...t.effective, ...t.permitted].some((c) => !kept.includes(c)));
    const unfiltered = threads.filter((t) => t.seccomp !== 2 || !t.no_new_privs);
    if (unfiltered.length) throw new Error(`threads ${unfiltered.map((t) => `${t.tid} (${t.name})`).join(", ")} lack the seccomp filter or no-new-privs`);
    // With the broadcast every thread must be down to `keep`; without CAP_SETUID the report says what is left.
    if (mechanism === "setxid-broadcast" && beyond.length) throw new Error(`threads ${beyond.map((t) => `${t.tid} (${t.name})`).join(", ")} still hold capabilities after the broadcast`);
    const self = process.pid;
    return {
      ...heldCapabilities("thread-self"),
      kept,
      dropped: decodeCapabilities((before.permitted & ~finalMask).toString(16)),
      bounding_cleared: boundingCleared,
      mechanism,
      seccomp: true,
      threads,
      threads_beyond_kept: beyond.length,
      other_threads_with_capabilities: threads.filter((t) => t.tid !== self && t.effective.length > 0).length,
      ...(keptBecause ? { kept_because: keptBecause } : {}),
    };
  } catch (e) {
    throw privilegeDropFailed(e instanceof CapabilityError ? e.message : (e as Error).message);
  } finally {
    try {
      setKeepCaps(false);
    } catch {
      /* only fails where it was never set */
    }
  }
}

/**
 * Clear the permitted, effective and ambient sets of every thread with one all-nonzero uid
 * transition, broadcast by glibc; the main thread keeps its permitted set (PR_SET_KEEPCAPS) so
 * that it can return to its own ids and then capset itself down to `keep`.
 */
function dropOnEveryThread(effective: bigint): void {
  const [ruid, euid, suid] = ids("Uid");
  const [rgid, egid, sgid] = ids("Gid");
  const permitted = capget().permitted;
  setKeepCaps(true);
  if (ruid === 0 || euid === 0 || suid === 0) {
    // root: everyone to the helper identity (gid first, while CAP_SETGID is still effective)...
    if (has(effective, CAP_SETGID)) setresgidAllThreads(HELPER_THREAD_ID, HELPER_THREAD_ID, HELPER_THREAD_ID);
    setresuidAllThreads(HELPER_THREAD_ID, HELPER_THREAD_ID, HELPER_THREAD_ID);
    // ...then the main thread alone back to root's ids, with the permitted set it kept.
    capset({ effective: permitted, permitted, inheritable: 0n });
    if (has(effective, CAP_SETGID)) setresgidThisThread(rgid, egid, sgid);
    setresuidThisThread(ruid, euid, suid);
  } else {
    // A service identity with CAP_SETUID: saved uid 0, then back; the second step is the
    // all-nonzero transition that clears every thread's sets.
    setresuidAllThreads(-1, -1, 0);
    setresuidAllThreads(ruid, euid, suid);
  }
}
