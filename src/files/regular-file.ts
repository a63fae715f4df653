// Every file ebpfctl reads as input (manifests, signatures, objects, keys, the host policy,
// verifier baselines) and every file it writes (other than the audit log, which has its own
// owner) goes through here, so a hostile path cannot hang, exhaust or redirect it:
//   - reads: only a regular file, no larger than a cap, read within a deadline. A device
//     (/dev/zero), a FIFO, a socket or a directory is refused from lstat/fstat before any byte is
//     read; the open itself is O_NONBLOCK (a FIFO swapped in after the lstat cannot block the open)
//     and the descriptor's fstat must show the same regular file that was checked.
//   - writes: the new file is created O_CREAT|O_EXCL|O_NOFOLLOW (a planted symlink or an existing
//     file is never followed or reused), then renamed over the target, so nothing ebpfctl did not
//     create is ever chmodded or truncated.
// The deadline is checked between chunks: a regular file on local storage never blocks for long,
// and a read(2) stuck in a hung network filesystem cannot be interrupted from JavaScript.
import { closeSync, constants, fstatSync, fsyncSync, lstatSync, openSync, readSync, renameSync, rmSync, statSync, writeSync, type Stats } from "node:fs";
import { EbpfctlError, type ExitCodeValue } from "../errors";

const { O_RDONLY, O_NONBLOCK, O_NOFOLLOW, O_CLOEXEC, O_WRONLY, O_CREAT, O_EXCL } = constants as typeof constants & { O_CLOEXEC: number };
const CLOEXEC = O_CLOEXEC ?? 0o2000000;

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** How a refused input file is reported: the caller's error code and exit code. */
export interface ReadPolicy {
  /** Largest accepted size in bytes. */
  maxBytes: number;
  /** What the file is, for the message ("recipe manifest", "trusted key"). */
  what: string;
  /** The catalog code and exit code of a refusal (EBPFCTL-E0013 / exit 3 unless told). */
  code?: string;
  exitCode: ExitCodeValue;
  hint?: string;
  /** Refuse a symlink as the last component (trusted files are read by their resolved path). */
  noFollow?: boolean;
  /** Deadline for the whole read (default 1000 ms). */
  timeoutMs?: number;
}

/** A refused input file; `reason` is a stable slug (not-regular, too-large, timeout, missing, unreadable). */
export class InputFileError extends EbpfctlError {
  constructor(code: string, readonly reason: string, readonly file: string, message: string, exitCode: ExitCodeValue, hint?: string) {
    super(code, message, exitCode, hint);
    this.name = "InputFileError";
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a regular file";
}

/** Read `path` as bytes under `policy` (one clear error, never a hang or an unbounded buffer). */
export function readRegularFile(path: string, policy: ReadPolicy): Buffer {
  const code = policy.code ?? "EBPFCTL-E0013";
  const refuse = (reason: string, why: string) =>
    new InputFileError(code, reason, path, `${policy.what} ${path}: ${why}`, policy.exitCode, policy.hint ?? `give the path of a regular file (at most ${formatCap(policy.maxBytes)})`);
  let st: Stats;
  try {
    st = policy.noFollow ? lstatSync(path) : statSync(path);
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    const missing = c === "ENOENT" || c === "ENOTDIR";
    throw refuse(missing ? "missing" : "unreadable", missing ? "no such file" : `cannot inspect it: ${c ?? (e as Error).message}`);
  }
  if (!st.isFile()) throw refuse("not-regular", `is ${kindOf(st)}, not a regular file`);
  if (st.size > policy.maxBytes) throw refuse("too-large", `is ${st.size} bytes, more than the ${formatCap(policy.maxBytes)} a ${policy.what} may be`);
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NONBLOCK | CLOEXEC | (policy.noFollow ? O_NOFOLLOW : 0));
  } catch (e) {
    const c = (e as NodeJS.ErrnoException).code;
    throw refuse(c === "ELOOP" ? "not-regular" : "unreadable", c === "ELOOP" ? "is a symbolic link" : `cannot open it: ${c ?? (e as Error).message}`);
  }
  try {
    const fst = fstatSync(fd);
    if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev) throw refuse("not-regular", "changed while it was being opened; refusing it");
    if (fst.size > policy.maxBytes) throw refuse("too-large", `is ${fst.size} bytes, more than the ${formatCap(policy.maxBytes)} a ${policy.what} may be`);
    const deadline = performance.now() + (policy.timeoutMs ?? 1000);
    // One byte more than fstat's size: a file that grows while it is read is refused, not chased.
    const buf = Buffer.allocUnsafe(fst.size + 1);
    let off = 0;
    for (;;) {
      if (performance.now() > deadline) throw refuse("timeout", `reading it took longer than ${policy.timeoutMs ?? 1000} ms`);
      let n: number;
      try {
        n = readSync(fd, buf, off, Math.min(buf.length - off, MiB), null);
      } catch (e) {
        const c = (e as NodeJS.ErrnoException).code;
        if (c === "EAGAIN") continue;
        throw refuse("unreadable", `cannot read it: ${c ?? (e as Error).message}`);
      }
      if (n === 0) return buf.subarray(0, off);
      off += n;
      if (off > fst.size) throw refuse("changed", "grew while it was being read; refusing it");
    }
  } finally {
    closeSync(fd);
  }
}

/** Read as UTF-8 text under `policy`. */
export function readRegularText(path: string, policy: ReadPolicy): string {
  return readRegularFile(path, policy).toString("utf8");
}

function formatCap(n: number): string {
  return n >= MiB ? `${n / MiB} MiB` : n >= KiB ? `${n / KiB} KiB` : `${n} bytes`;
}

/**
 * Create `path` with `data` so readers never see half of it and nothing but a file ebpfctl made is
 * touched: a new temporary beside it (O_CREAT|O_EXCL|O_NOFOLLOW, mode `mode`), written, fsynced,
 * then renamed over `path`. An existing `path` that is not a regular file (a directory, a device,
 * a FIFO) is refused with the returned error rather than replaced.
 */
export function writeNewFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, opts: { fsync?: boolean } = {}): void {
  try {
    const st = lstatSync(path);
    if (!st.isFile() && !st.isSymbolicLink()) throw Object.assign(new Error(`${path} is ${kindOf(st)}, not a regular file`), { code: "ENOTREG" });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
  }
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`;
  const fd = openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | CLOEXEC, mode);
  try {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    if (opts.fsync) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Create a new file that must not exist (O_CREAT|O_EXCL|O_NOFOLLOW) and write `data` to it. */
export function writeExclusive(path: string, data: string | Uint8Array, mode = 0o600): void {
  const fd = openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | CLOEXEC, mode);
  try {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
  } finally {
    closeSync(fd);
  }
}

/**
 * Open (creating if needed) a lock or append file without following a symlink, and refuse it
 * unless it is a regular file. Never changes the mode of a file that already existed.
 */
export function openRegularForAppend(path: string, mode = 0o644): number {
  const fd = openSync(path, constants.O_WRONLY | O_CREAT | constants.O_APPEND | O_NOFOLLOW | O_NONBLOCK | CLOEXEC, mode);
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    throw Object.assign(new Error(`${path} is ${kindOf(st)}, not a regular file`), { code: "ENOTREG" });
  }
  return fd;
}

/**
 * Open an output file: created new (O_CREAT|O_EXCL|O_NOFOLLOW, mode `mode`), or, when it already
 * exists, reused only if it is a regular file owned by this user (truncated, its mode untouched).
 * A symlink, a device, a FIFO or someone else's file is refused with an Error whose code is
 * ENOTREG, ELOOP or EPERM.
 */
export function openOutputFile(path: string, mode = 0o600): number {
  // The one device an operator names on purpose (benchmarks, "run it and keep only the summary").
  if (path === "/dev/null") return openSync(path, O_WRONLY | CLOEXEC);
  try {
    return openSync(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | CLOEXEC, mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
  }
  const fd = openSync(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | CLOEXEC);
  const st = fstatSync(fd);
  const why = !st.isFile() ? `is ${kindOf(st)}, not a regular file` : st.uid !== (process.geteuid?.() ?? 0) ? `belongs to uid ${st.uid}, not to this user` : undefined;
  if (why) {
    closeSync(fd);
    throw Object.assign(new Error(`${path} ${why}`), { code: st.isFile() ? "EPERM" : "ENOTREG" });
  }
  require("node:fs").ftruncateSync(fd, 0);
  return fd;
}
