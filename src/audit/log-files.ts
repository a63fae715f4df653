// The files under one audit log, below the AuditLog class: opening them with errors that name the
// operation and errno, reading the head sidecar and the last record of the live file.
import { closeSync, constants as fsConstants, fstatSync, fsyncSync, lstatSync, openSync, readFileSync, readSync, type Stats } from "node:fs";
import { getSystemErrorMessage } from "node:util";
import { AuditWriteError, auditPathRefused, auditTailDamaged } from "../errors";
import { FallocateError } from "../libbpf/fallocate";
import { FlockError, errnoName } from "../libbpf/flock";
import { basename } from "node:path";
import { AuditRecordSchema, GENESIS, headPath, rotatedFiles, sealKeyPath, type AuditRecord } from "./record";
import { readTail } from "./tail";

/** Bytes of `audit.jsonl.head`: "<seq> <hash>" padded. */
export const HEAD_SIZE = 96;

/** Turn a thrown fs/flock error into an AuditWriteError naming the operation and the errno. */
export function writeError(path: string, op: string, e: unknown): AuditWriteError {
  if (e instanceof AuditWriteError) return e;
  if (e instanceof FlockError || e instanceof FallocateError) return new AuditWriteError(path, op, errnoName(e.errno), getSystemErrorMessage(-e.errno));
  const err = e as NodeJS.ErrnoException;
  if (typeof err?.code === "string") {
    const text = typeof err.errno === "number" ? getSystemErrorMessage(err.errno < 0 ? err.errno : -err.errno) : err.message;
    return new AuditWriteError(path, op, err.code, text);
  }
  return new AuditWriteError(path, op, "EIO", String((e as Error)?.message ?? e));
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// (Bun, like libuv, opens every descriptor close-on-exec.)
const { O_RDWR, O_APPEND, O_CREAT, O_EXCL, O_NOFOLLOW } = fsConstants;

/** Why a file at an audit path is not one ebpfctl may write, or null when it is. */
function refusal(st: Stats): string | null {
  if (!st.isFile()) return `it is not a regular file (${kindOf(st)})`;
  const euid = process.geteuid?.() ?? 0;
  if (st.uid !== euid) return `it is owned by uid ${st.uid}, not by uid ${euid} that ebpfctl runs as`;
  if (st.mode & 0o022) return `it is writable by ${st.mode & 0o002 ? "every user" : "its group"} (mode ${(st.mode & 0o7777).toString(8).padStart(4, "0")})`;
  return null;
}

function kindOf(st: Stats): string {
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isDirectory()) return "a directory";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isSymbolicLink()) return "a symbolic link";
  return "not a file";
}

/**
 * Open one file of the audit log: an existing file with O_NOFOLLOW, refused unless it is a regular
 * file owned by our euid and not group/world writable; a missing one with O_CREAT|O_EXCL|O_NOFOLLOW
 * and mode 0600. Nothing is ever chmodded: a file ebpfctl did not create is used as it is or refused
 * (AuditPathRefused, exit AUDIT). Returns whether this call created it.
 */
export function openAuditFile(path: string, op: string, opts: { append?: boolean; create?: boolean } = {}): { fd: number; created: boolean } {
  const base = O_RDWR | O_NOFOLLOW | (opts.append ? O_APPEND : 0);
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, base);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ELOOP") throw auditPathRefused(path, "it is a symbolic link");
      if (code === "ENXIO" || code === "EISDIR" || code === "ENODEV") throw auditPathRefused(path, refusalOfPath(path) ?? "it is not a regular file");
      if (code !== "ENOENT" || opts.create === false) throw writeError(path, op, e);
      try {
        // The umask cannot loosen 0600.
        return { fd: openSync(path, base | O_CREAT | O_EXCL, 0o600), created: true };
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code === "EEXIST") continue; // another process created it first
        throw writeError(path, `create (${op})`, e2);
      }
    }
    const why = refusal(fstatSync(fd));
    if (why) {
      closeQuietly(fd);
      throw auditPathRefused(path, why);
    }
    return { fd, created: false };
  }
  throw writeError(path, op, Object.assign(new Error("created and removed concurrently"), { code: "EAGAIN" }));
}

function refusalOfPath(path: string): string | null {
  try {
    return refusal(lstatSync(path));
  } catch {
    return null;
  }
}

/** Check an existing audit path before anything is created beside it (refuses like openAuditFile; a missing path is fine). */
export function checkAuditPath(path: string): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return;
    throw writeError(path, "stat", e);
  }
  if (st.isSymbolicLink()) throw auditPathRefused(path, "it is a symbolic link");
  const why = refusal(st);
  if (why) throw auditPathRefused(path, why);
}

/** The live file: O_APPEND, see openAuditFile. */
export function openLive(path: string): number {
  return openAuditFile(path, "open", { append: true }).fd;
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

export type Head = { seq: number; hash: string; sealed: boolean };

/** The head sidecar's bytes: null when empty (new), "garbage" when they are not what ebpfctl writes. */
export function parseHead(text: string): Head | null | "garbage" {
  if (text === "") return null;
  const m = /^(\d+) ([0-9a-f]{64})( sealed)? *\n$/.exec(text);
  return m ? { seq: Number(m[1]), hash: m[2]!, sealed: m[3] !== undefined } : "garbage";
}

export function readHead(fd: number): Head | null | "garbage" {
  const buf = Buffer.alloc(HEAD_SIZE + 1);
  const n = readSync(fd, buf, 0, HEAD_SIZE + 1, 0);
  return parseHead(buf.subarray(0, n).toString("latin1"));
}

/** The fixed-size bytes of a head sidecar. */
export function headBytes(seq: number, hash: string, sealed: boolean): Buffer {
  const buf = Buffer.alloc(HEAD_SIZE, 0x20);
  buf.write(`${seq} ${hash}${sealed ? " sealed" : ""}`);
  buf[HEAD_SIZE - 1] = 0x0a;
  return buf;
}

/** The last record of a file: strict (a partial or foreign last line throws), or lenient (skip back to the last good record). */
export function lastRecord(fd: number, size: number, file: string, lenient: boolean): { seq: number; hash: string; damaged?: string } {
  const t = readTail(fd, 1, size);
  const problem = t.partial !== "" ? `the last line is incomplete (${Buffer.byteLength(t.partial)} bytes without a newline)` : null;
  const parsed = t.lines.length ? parseRecord(t.lines[0]!) : null;
  if (!problem && parsed) return { seq: parsed.seq, hash: parsed.hash };
  const why = problem ?? (t.lines.length ? "the last line is not an ebpfctl audit record" : "the file has no complete record");
  if (!lenient) throw auditTailDamaged(file, why);
  const lines = readFileSync(file, "utf8").split("\n");
  // The last element is the partial line (or "" after a final newline): never trusted.
  for (let i = lines.length - 2; i >= 0; i--) {
    const r = parseRecord(lines[i]!);
    if (r) return { seq: r.seq, hash: r.hash, damaged: why };
  }
  return { seq: 0, hash: GENESIS, damaged: why };
}

export function parseRecord(line: string): AuditRecord | null {
  try {
    const r = AuditRecordSchema.safeParse(JSON.parse(line));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

export interface TailState {
  seq: number;
  hash: string;
  /** Size of the live file when the tail was read (where a failed append truncates back to). */
  size: number;
  ino: number;
  /** Set when a lenient read skipped a damaged end. */
  damaged?: string;
}

/**
 * The last record of the chain at `path` (a new, empty live file continues the newest rotated file),
 * checked against the head sidecar: strict throws on a damaged end, lenient records why in `damaged`.
 */
export function readTailState(o: { fd: number; path: string; headFd: number; sealed: boolean; lenient: boolean }): TailState {
  const st = fstatSync(o.fd);
  let t: TailState;
  if (st.size === 0) {
    const last = rotatedFiles(o.path).at(-1);
    if (!last) t = { seq: 0, hash: GENESIS, size: 0, ino: st.ino };
    else {
      const fd = openSync(last.path, "r");
      try {
        t = { ...lastRecord(fd, fstatSync(fd).size, last.path, o.lenient), size: 0, ino: st.ino };
      } finally {
        closeSync(fd);
      }
    }
  } else {
    t = { ...lastRecord(o.fd, st.size, o.path, o.lenient), size: st.size, ino: st.ino };
  }
  const headProblem = checkHead(o.path, readHead(o.headFd), t, o.sealed);
  if (headProblem) {
    if (!o.lenient) throw auditTailDamaged(o.path, headProblem);
    t = { ...t, damaged: t.damaged ? `${t.damaged}; ${headProblem}` : headProblem };
  }
  return t;
}

/** The head sidecar must be what ebpfctl writes, not be ahead of the log, nor disagree about its last record. */
function checkHead(live: string, head: Head | null | "garbage", t: TailState, sealed: boolean): string | null {
  const name = basename(headPath(live));
  if (head === "garbage") return `${name} does not hold a seq and hash as ebpfctl writes them: it was overwritten`;
  if (!head) return null;
  if (head.sealed && !sealed) return `${name} says the log is sealed but its key file ${basename(sealKeyPath(live))} is missing: refusing to write unsealed records`;
  if (head.seq > t.seq) return `the log ends at seq ${t.seq} but seq ${head.seq} was written (per ${name}): records were removed from the end`;
  if (head.seq === t.seq && head.hash !== t.hash) return `the last record (seq ${t.seq}) is not the one that was written (its hash differs from ${name})`;
  return null;
}
