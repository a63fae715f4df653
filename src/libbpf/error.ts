import { errno, strerror } from "./ffi";

/** A libbpf or bpf(2) failure: which call, on what, with errno and libbpf's text for it. */
export class LibbpfError extends Error {
  readonly code = "EBPFCTL-E0101";
  constructor(
    readonly call: string,
    readonly errno: number,
    readonly subject: string,
    readonly detail?: string,
  ) {
    super(`${call}(${subject}) failed: ${strerror(errno)} (errno ${errno})${detail ? `: ${detail}` : ""}`);
    this.name = "LibbpfError";
  }
}

/** libbpf ≥1.0: int-returning calls return -errno. */
export function checkInt(rc: number, call: string, subject: string): number {
  if (rc < 0) throw new LibbpfError(call, -rc, subject);
  return rc;
}

/** libbpf ≥1.0: pointer-returning calls return NULL and set errno. */
export function checkPtr<T>(p: T | null | 0, call: string, subject: string, detail?: () => string): T {
  if (!p) {
    const e = errno();
    throw new LibbpfError(call, e, subject, detail?.());
  }
  return p as T;
}

export const ENOENT = 2;
export const EPERM = 1;
export const EINTR = 4;
export const EOPNOTSUPP = 95;
export const EINVAL = 22;
