// fallocate(2) for the audit log's disk reservation: Bun's node:fs has no fallocate, and
// src/libbpf is the one place that calls libc through bun:ffi.
import { errno, libc } from "./ffi";
import { errnoName } from "./flock";

/** Allocate blocks without changing the file size: appends into them cannot fail with ENOSPC. */
export const FALLOC_FL_KEEP_SIZE = 0x01;
/** Free blocks (with KEEP_SIZE): gives back a reservation that was not used. */
export const FALLOC_FL_PUNCH_HOLE = 0x02;
const EINTR = 4;

export class FallocateError extends Error {
  constructor(readonly errno: number) {
    super(`fallocate failed: ${errnoName(errno)}`);
    this.name = "FallocateError";
  }
}

/** fallocate(fd, mode, offset, len); throws FallocateError with the errno. */
export function fallocate(fd: number, mode: number, offset: number, len: number): void {
  if (len <= 0) return;
  for (;;) {
    if (libc.fallocate(fd, mode, BigInt(offset), BigInt(len)) === 0) return;
    const e = errno();
    if (e !== EINTR) throw new FallocateError(e);
  }
}
