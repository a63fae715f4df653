import { ptr, type Pointer } from "bun:ffi";
import { readlinkSync } from "node:fs";
import { lib, libc } from "./ffi";
import { linkInfo, progInfo, type LinkInfo } from "./info";

/** BPF_LINK_TYPE_PERF_EVENT (linux/bpf.h): what the kernel would call the attachment with links. */
const LINK_TYPE_PERF_EVENT = 7;

function isPerfEventFd(fd: number): boolean {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:[perf_event]";
  } catch {
    return false;
  }
}

/** The link's identity; a perf event attached by ioctl (kernels before 5.15) has no link id. */
function describe(fd: number, progFd: number, target: string): LinkInfo {
  // libbpf's USDT link is a composite with no fd of its own (bpf_link__fd gives its zeroed field).
  if (target.startsWith("usdt:")) return { id: 0, type: LINK_TYPE_PERF_EVENT, progId: progFd >= 0 ? progInfo(progFd, target).id : 0, attachedBy: "usdt" };
  try {
    return linkInfo(fd, target);
  } catch (e) {
    if (!isPerfEventFd(fd)) throw e;
    return { id: 0, type: LINK_TYPE_PERF_EVENT, progId: progFd >= 0 ? progInfo(progFd, target).id : 0, attachedBy: "perf_event_ioctl" };
  }
}

/**
 * A bpf_link owned by a file descriptor and never pinned: if the process dies (even by SIGKILL)
 * the kernel closes the fd and detaches the program.
 */
export class BpfLink {
  private handle: Pointer | null;
  readonly info: LinkInfo;

  private constructor(handle: Pointer, readonly program: string, readonly target: string, progFd: number) {
    this.handle = handle;
    try {
      this.info = describe(lib().bpf_link__fd(handle), progFd, target);
    } catch (e) {
      // Attached but not describable: detach now rather than leave it to process exit.
      lib().bpf_link__destroy(handle);
      this.handle = null;
      throw e;
    }
  }

  /** Own an attachment libbpf made; `progFd` names the program when there is no link to ask. */
  static adopt(handle: Pointer, program: string, target: string, progFd = -1): BpfLink {
    return new BpfLink(handle, program, target, progFd);
  }

  get isOpen(): boolean {
    return this.handle !== null;
  }

  /**
   * Detach many links fast. Closing a link's last fd waits for an RCU grace period in the kernel
   * (measured 12–130 ms per syscall tracepoint link on 6.18), one after another when done in a
   * loop. So: dup each link fd; let libbpf destroy the links (for perf-event links it disables
   * the event first, so no program fires after this step, and its close is cheap because the dup
   * holds the last reference); then close the dups concurrently, one thread each, so the grace
   * periods overlap. Returns when the kernel has released every link.
   */
  static closeAll(links: BpfLink[]): { disabledMs: number; releasedMs: number } {
    const t0 = performance.now();
    const dups = BpfLink.destroyKeepingRefs(links);
    const disabledMs = performance.now() - t0;
    closeConcurrently(dups);
    return { disabledMs, releasedMs: performance.now() - t0 };
  }

  /** Destroy the open links through libbpf while a dup of each fd keeps the kernel object; returns the dups. */
  private static destroyKeepingRefs(links: BpfLink[]): number[] {
    const open = links.filter((l) => l.isOpen);
    const dups = open.filter((l) => l.info.attachedBy !== "usdt").map((l) => libc.dup(lib().bpf_link__fd(l.handle!)));
    for (const l of open.reverse()) l.close();
    return dups.filter((fd) => fd >= 0);
  }

  /**
   * The same first steps as closeAll, without waiting for the release: the threads closing the
   * dups are detached. For links nobody waits on (doctor's throw-away probe links): a syscall
   * tracepoint's or a uprobe's release takes 60-100 ms here. Perf-event links stop firing before
   * this returns; others (raw_tp, tracing) when their thread's close runs, within a grace period.
   */
  static closeWithoutWaiting(links: BpfLink[]): void {
    closeConcurrently(BpfLink.destroyKeepingRefs(links), false);
  }

  close(): void {
    if (!this.handle) return;
    const h = this.handle;
    this.handle = null;
    lib().bpf_link__destroy(h);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

let closeAddress: Pointer | null | undefined;

/** close(2) each fd on its own thread (libc close as the thread's start routine: close((int)arg)); waits for them unless `wait` is false. */
function closeConcurrently(fds: number[], wait = true): void {
  closeAddress ??= libc.dlsym(null, Buffer.from("close\0")) as Pointer | null;
  const threads: bigint[] = [];
  for (const fd of fds) {
    const tid = new BigUint64Array(1);
    if (!closeAddress || libc.pthread_create(ptr(tid), null, closeAddress, fd as unknown as Pointer) !== 0) {
      libc.close(fd); // no thread: close here, in turn
      continue;
    }
    threads.push(tid[0]!);
  }
  for (const t of threads) {
    if (wait) libc.pthread_join(t, null);
    else libc.pthread_detach(t);
  }
}
