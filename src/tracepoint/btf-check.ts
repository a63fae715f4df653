// Cross-checks a tracefs format against the kernel's BTF struct trace_event_raw_<event>, when the
// kernel has one (syscalls:* share generic structs and have none). The two are produced by the
// same TRACE_EVENT macro; if they disagree on a field's offset or size, something between the
// kernel and us is lying, and reading that field at the tracefs offset is refused.
import { readFileSync } from "node:fs";
import { Btf, BtfKind } from "../libbpf/btf";
import { EbpfctlError, ExitCode } from "../errors";
import type { TracepointFormat } from "./format";

export const fieldMismatch = (tp: string, field: string, detail: string) =>
  new EbpfctlError("EBPFCTL-E1104", `${tp}: field ${field} differs between tracefs and BTF (${detail}); refusing to read it`, ExitCode.KERNEL, "the tracefs format and the kernel's BTF disagree: report it with ebpfctl bundle");

let kernelBtf: Btf | null | undefined;

/** The kernel's BTF, read once; null without /sys/kernel/btf/vmlinux. */
export function loadKernelBtf(path = "/sys/kernel/btf/vmlinux"): Btf | null {
  if (kernelBtf !== undefined) return kernelBtf;
  try {
    kernelBtf = new Btf(new Uint8Array(readFileSync(path)));
  } catch {
    kernelBtf = null;
  }
  return kernelBtf;
}

/** Drops the parsed kernel BTF (~40 MB of JS heap): the checks are done, and a session's memory budget holds the whole process. */
export function releaseKernelBtf(): void {
  kernelBtf = undefined;
}

export interface BtfCheck {
  /** "btf": every field matched trace_event_raw_<event>; "no-btf-struct": nothing to compare with */
  status: "btf" | "no-btf-struct";
  checked: number;
}

/** Throws naming the first field whose offset or size differs; a field BTF lacks is not a mismatch. */
export function checkAgainstBtf(tp: string, fmt: TracepointFormat, btf: Btf | null): BtfCheck {
  const s = btf?.find(`trace_event_raw_${fmt.name}`, BtfKind.STRUCT);
  if (!btf || !s) return { status: "no-btf-struct", checked: 0 };
  const members = new Map(s.members!.map((m) => [m.name, m]));
  let checked = 0;
  for (const f of fmt.fields) {
    if (f.common) continue;
    const m = members.get(f.name) ?? members.get(`__data_loc_${f.name}`) ?? members.get(`__rel_loc_${f.name}`);
    if (!m) continue;
    const offset = m.bitOffset / 8;
    if (offset !== f.offset) throw fieldMismatch(tp, f.name, `offset ${f.offset} in tracefs, ${offset} in BTF`);
    let size: number;
    try {
      size = btf.sizeOf(m.type);
    } catch {
      continue;
    }
    // A flexible array (char[] at the end) has size 0 in BTF.
    if (size !== f.size && !(size === 0 && f.kind === "other")) throw fieldMismatch(tp, f.name, `size ${f.size} in tracefs, ${size} in BTF`);
    checked++;
  }
  return { status: "btf", checked };
}
