// flock(2) on a file descriptor, for the audit log's cross-process lock. Locks belong to the open
// file description, so two opens of one file (in one process or many) exclude each other; the
// kernel drops the lock when the last descriptor closes, so a SIGKILLed holder never wedges others.
import { constants } from "node:os";
import { errno, libc } from "./ffi";

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_UN = 8;
const EINTR = 4;

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v, k]));

/** Symbolic name of an errno value ("EBADF"), or "errno N" when unknown. */
export function errnoName(e: number): string {
  return ERRNO_NAMES.get(e) ?? `errno ${e}`;
}

export class FlockError extends Error {
  constructor(
    readonly errno: number,
    readonly op: "LOCK_EX" | "LOCK_SH" | "LOCK_UN",
  ) {
    super(`flock(${op}) failed: ${errnoName(errno)}`);
    this.name = "FlockError";
  }
}

function flock(fd: number, op: number, name: FlockError["op"]): void {
  for (;;) {
    if (libc.flock(fd, op) === 0) return;
    const e = errno();
    if (e !== EINTR) throw new FlockError(e, name);
  }
}

/** Block until this descriptor holds the exclusive lock. */
export const lockExclusive = (fd: number): void => flock(fd, LOCK_EX, "LOCK_EX");
/** Block until this descriptor holds a shared lock (readers that must not see a half-done append). */
export const lockShared = (fd: number): void => flock(fd, LOCK_SH, "LOCK_SH");
export const unlock = (fd: number): void => flock(fd, LOCK_UN, "LOCK_UN");
