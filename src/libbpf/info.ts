// bpf_obj_get_info_by_fd for programs and links, BPF_ENABLE_STATS, and id enumeration.
// Offsets are those of the UAPI structs in linux/bpf.h, a stable kernel ABI (fields are only appended).
import { lib, libc } from "./ffi";
import { checkInt, LibbpfError } from "./error";

export interface ProgInfo {
  id: number;
  type: number;
  name: string;
  verifiedInsns: number;
  runTimeNs: bigint;
  runCnt: bigint;
  xlatedLen: number;
  jitedLen: number;
}

const PROG_INFO_SIZE = 232;
export function progInfo(fd: number, subject: string): ProgInfo {
  const buf = new Uint8Array(PROG_INFO_SIZE);
  const len = new Uint32Array([PROG_INFO_SIZE]);
  checkInt(lib().bpf_obj_get_info_by_fd(fd, buf, len), "bpf_obj_get_info_by_fd", subject);
  const dv = new DataView(buf.buffer);
  const nameBytes = buf.subarray(64, 80);
  const nul = nameBytes.indexOf(0);
  return {
    type: dv.getUint32(0, true),
    id: dv.getUint32(4, true),
    jitedLen: dv.getUint32(16, true),
    xlatedLen: dv.getUint32(20, true),
    name: new TextDecoder().decode(nameBytes.subarray(0, nul < 0 ? 16 : nul)),
    runTimeNs: dv.getBigUint64(192, true),
    runCnt: dv.getBigUint64(200, true),
    verifiedInsns: len[0]! >= 220 ? dv.getUint32(216, true) : 0,
  };
}

export interface LinkInfo {
  /** 0 when there is no BPF link (attachedBy "perf_event_ioctl"; "usdt": libbpf's composite of one uprobe link per probe site, without an fd of its own). */
  id: number;
  type: number;
  progId: number;
  /**
   * "perf_event_ioctl" on kernels before 5.15 (no BPF perf links): libbpf attaches tracepoint,
   * kprobe, uprobe and perf_event programs with PERF_EVENT_IOC_SET_BPF, and the "link" fd is the
   * perf event's own. Closing it detaches the program all the same.
   */
  attachedBy: "bpf_link" | "perf_event_ioctl" | "usdt";
}

export function linkInfo(fd: number, subject: string): LinkInfo {
  const buf = new Uint8Array(64);
  const len = new Uint32Array([64]);
  checkInt(lib().bpf_obj_get_info_by_fd(fd, buf, len), "bpf_obj_get_info_by_fd", subject);
  const dv = new DataView(buf.buffer);
  return { type: dv.getUint32(0, true), id: dv.getUint32(4, true), progId: dv.getUint32(8, true), attachedBy: "bpf_link" };
}

/** Every BPF program id loaded on the host (needs CAP_SYS_ADMIN). */
export function allProgIds(): number[] {
  return allIds("prog");
}
export function allLinkIds(): number[] {
  return allIds("link");
}
function allIds(kind: "prog" | "link"): number[] {
  const ids: number[] = [];
  const next = new Uint32Array(1);
  let cur = 0;
  for (;;) {
    const rc = kind === "prog" ? lib().bpf_prog_get_next_id(cur, next) : lib().bpf_link_get_next_id(cur, next);
    if (rc === -2) break;
    checkInt(rc, `bpf_${kind}_get_next_id`, String(cur));
    cur = next[0]!;
    ids.push(cur);
  }
  return ids;
}

/**
 * BPF run-time statistics (run_time_ns/run_cnt) stay on while this fd is open; closing it (or the
 * process dying) turns them off again, unlike flipping the global sysctl.
 */
export class BpfStatsHandle {
  private fd: number;
  private constructor(fd: number) {
    this.fd = fd;
  }
  static enable(): BpfStatsHandle {
    const BPF_STATS_RUN_TIME = 0;
    const fd = lib().bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (fd < 0) throw new LibbpfError("bpf_enable_stats", -fd, "BPF_STATS_RUN_TIME");
    return new BpfStatsHandle(fd);
  }
  close(): void {
    if (this.fd < 0) return;
    libc.close(this.fd);
    this.fd = -1;
  }
  [Symbol.dispose](): void {
    this.close();
  }
}
