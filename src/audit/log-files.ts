// The files under one audit log, below the AuditLog class: opening them with errors that name the
// operation and errno, reading the head sidecar and the last record of the live file.
import { closeSync, fchmodSync, fstatSync, fsyncSync, openSync, readFileSync, readSync } from "node:fs";
import { getSystemErrorMessage } from "node:util";
import { AuditWriteError, auditTailDamaged } from "../errors";
import { FlockError, errnoName } from "../libbpf/flock";
import { AuditRecordSchema, GENESIS, type AuditRecord } from "./record";
import { readTail } from "./tail";

/** Bytes of `audit.jsonl.head`: "<seq> <hash>" padded. */
export const HEAD_SIZE = 96;

/** Turn a thrown fs/flock error into an AuditWriteError naming the operation and the errno. */
export function writeError(path: string, op: string, e: unknown): AuditWriteError {
  if (e instanceof AuditWriteError) return e;
  if (e instanceof FlockError) return new AuditWriteError(path, op, errnoName(e.errno), getSystemErrorMessage(-e.errno));
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

export function openFile(path: string, op: string, flags: string, create = false): number {
  try {
    if (create) {
      try {
        return openSync(path, flags, 0o600);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        return openSync(path, "w+", 0o600);
      }
    }
    return openSync(path, flags, 0o600);
  } catch (e) {
    throw writeError(path, op, e);
  }
}

/** O_APPEND|O_CREAT, mode 0600; a looser mode on an existing file is tightened. */
export function openLive(path: string): number {
  const fd = openFile(path, "open", "a+");
  try {
    if (fstatSync(fd).mode & 0o077) fchmodSync(fd, 0o600);
  } catch {
    // Not ours to change (e.g. a log owned by another user on a shared box); open still succeeded.
  }
  return fd;
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

export function readHead(fd: number): { seq: number; hash: string } | null {
  const buf = Buffer.alloc(HEAD_SIZE);
  const n = readSync(fd, buf, 0, HEAD_SIZE, 0);
  const m = /^(\d+) ([0-9a-f]{64})/.exec(buf.subarray(0, n).toString("latin1"));
  return m ? { seq: Number(m[1]), hash: m[2]! } : null;
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
