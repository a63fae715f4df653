// Least privilege after attach. Loading and attaching need CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN);
// once every link exists, nothing the session still does needs a capability:
//   - ring buffer epoll/mmap reads, map lookups and updates on map fds it already holds,
//   - BPF_OBJ_GET_INFO_BY_FD on its own program fds (CPU accounting),
//   - writing the mmaped .bss (sampling), closing links, programs and the BPF_ENABLE_STATS fd,
// are checks on the file descriptor, not on the caller's capabilities (since 5.19 the
// unprivileged_bpf_disabled test is made per command, for BPF_PROG_LOAD/BPF_MAP_CREATE and
// friends, not for fd-based commands). So the session keeps none (docs/least-privilege.md).
//
// Order matters: no-new-privs first; the bounding set can only be shrunk while CAP_SETPCAP is
// still effective; the ambient set is cleared; capset() last, which also gives up CAP_SETPCAP.
import { readdirSync, readFileSync } from "node:fs";
import { CAPABILITY_NAMES, decodeCapabilities } from "../kernel/facts";
import { capget, capLastCap, capset, clearAmbient, dropFromBoundingSet, inBoundingSet, noNewPrivs, setNoNewPrivs, CapabilityError } from "../libbpf/caps";
import { privilegeDropFailed } from "../errors";

const CAP_SETPCAP = 8;

export interface HeldCapabilities {
  effective: string[];
  permitted: string[];
  inheritable: string[];
  bounding: string[];
  ambient: string[];
  no_new_privs: boolean;
}

export interface PrivilegeReport extends HeldCapabilities {
  kept: string[];
  dropped: string[];
  bounding_cleared: boolean;
  /** Runtime helper threads (JIT, GC) that started before the drop keep the capabilities they began with. */
  other_threads_with_capabilities: number;
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

const bit = (name: string): number => CAPABILITY_NAMES.indexOf(name);

/** Drop every capability not in `keep`, clear ambient and bounding sets, set no-new-privs. */
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
    if ((before.effective >> BigInt(CAP_SETPCAP)) & 1n) {
      for (let cap = 0; cap <= capLastCap(); cap++) {
        if ((keepMask >> BigInt(cap)) & 1n) continue;
        if (inBoundingSet(cap)) dropFromBoundingSet(cap);
      }
      boundingCleared = true;
    }
    capset({ effective: keepMask, permitted: keepMask, inheritable: 0n });
    const after = capget();
    if (after.effective !== keepMask || after.permitted !== keepMask || !noNewPrivs()) throw new Error(`capget shows effective ${after.effective.toString(16)}, permitted ${after.permitted.toString(16)} after capset`);
    const held = heldCapabilities("thread-self");
    const droppedMask = before.permitted & ~keepMask;
    return {
      ...held,
      kept: decodeCapabilities(keepMask.toString(16)),
      dropped: decodeCapabilities(droppedMask.toString(16)),
      bounding_cleared: boundingCleared,
      other_threads_with_capabilities: otherThreadsWithCapabilities(),
    };
  } catch (e) {
    throw privilegeDropFailed(e instanceof CapabilityError ? e.message : (e as Error).message);
  }
}

function otherThreadsWithCapabilities(): number {
  let n = 0;
  const self = String(process.pid);
  try {
    for (const tid of readdirSync("/proc/self/task")) {
      if (tid === self) continue;
      try {
        if (BigInt(`0x${statusField(readFileSync(`/proc/self/task/${tid}/status`, "utf8"), "CapEff")}`) !== 0n) n++;
      } catch {
        /* thread exited */
      }
    }
  } catch {
    /* no procfs */
  }
  return n;
}
