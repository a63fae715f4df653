// Disk space for the records a session must write once it has attached (attached, budget_breach,
// detached, core_btf, session_end and its checkpoint), reserved before the first attach, so a full
// filesystem refuses the session (exit 6) instead of leaving probes attached with no record.
//
// Why fallocate(FALLOC_FL_KEEP_SIZE) on the live file itself: it allocates blocks past the end
// without changing the file's size, so the JSON-lines file never holds a zero-filled tail, readers
// see nothing, and an append into those blocks cannot fail with ENOSPC (ext4, xfs, btrfs, tmpfs).
// A sidecar file freed just before each record would leave a window in which any other writer on
// the filesystem could take the freed blocks. Preallocation is shared by every process writing the
// log, so the rule that keeps each session's reservation its own is:
//   - an append that is not covered by its own process's reservation first extends the
//     preallocation past the end by its own length (or fails with ENOSPC, before attach);
//   - a covered append consumes its reservation;
//   - close gives back what is left by punching it off the top of the preallocated range.
// A session that is SIGKILLed leaves its reservation allocated (safe: over-reserved); rotation
// starts a new file and truncating the old one back to its size frees it.
import { fstatSync } from "node:fs";
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FallocateError, fallocate } from "../libbpf/fallocate";
import { errnoName } from "../libbpf/flock";

/** Bytes reserved for a session's records after attach: ~4 KiB are used; the rest is margin for long link lists. */
export const POST_ATTACH_RESERVE = 64 * 1024;
const EOPNOTSUPP = 95;

/** Size, allocation block and bytes allocated past the end of the file's last block. */
export function allocation(fd: number): { size: number; block: number; pastEnd: number } {
  const st = fstatSync(fd);
  const block = st.blksize > 0 ? Number(st.blksize) : 4096;
  const usedBlocks = Math.ceil(st.size / block) * block;
  return { size: st.size, block, pastEnd: Math.max(0, st.blocks * 512 - usedBlocks) };
}

/** Make sure `bytes` more can be appended beyond what is already preallocated (for others). */
export function preallocate(fd: number, bytes: number): void {
  const a = allocation(fd);
  fallocate(fd, FALLOC_FL_KEEP_SIZE, a.size, a.pastEnd + bytes);
}

/** Like preallocate, for appends outside any reservation: a filesystem without fallocate is tolerated. */
export function preallocateIfSupported(fd: number, bytes: number): void {
  try {
    preallocate(fd, bytes);
  } catch (e) {
    if (e instanceof FallocateError && e.errno === EOPNOTSUPP) return;
    throw e;
  }
}

/** Free up to `bytes` (whole blocks) from the top of the preallocated range; best effort. */
export function release(fd: number, bytes: number): void {
  try {
    const a = allocation(fd);
    const len = Math.floor(Math.min(bytes, a.pastEnd) / a.block) * a.block;
    if (len <= 0) return;
    const end = Math.ceil(a.size / a.block) * a.block + a.pastEnd;
    fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, end - len, len);
  } catch {
    // Keeping it allocated is safe; the next rotation frees it.
  }
}

/** The errno name of a failed reservation (for AuditWriteError). */
export const fallocateErrno = (e: unknown): { code: string; errno: number } | null =>
  e instanceof FallocateError ? { code: errnoName(e.errno), errno: e.errno } : null;
