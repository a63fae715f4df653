// The audit log: an append-only, hash-chained JSON-lines file (default /var/log/ebpfctl/audit.jsonl).
//
// Every line is one record: {seq, ts, session, host, pid, event, ...fields, prev, hash}, where
// `hash` = SHA-256 hex of `prev` followed by the canonical JSON (keys sorted, no whitespace) of the
// record without `hash`, and `prev` is the previous record's hash (64 zeros for the first record of
// a fresh log). `seq` counts per chain and continues across rotation. Records are written with one
// write(2) on an O_APPEND descriptor and fsync'd before append() returns (or, for records a session
// writes on its way to its first attach, with `defer`, by the flush() it calls just before that
// attach: one fsync instead of one per record, and still nothing attached that is not on disk),
// under an exclusive flock(2) on `audit.jsonl.lock` held across read-tail-and-append, so any number of processes can
// share one log. `audit.jsonl.head` holds the newest record's seq and hash, so removing whole
// records from the end is noticed (by the next open and by `ebpfctl audit verify`).
//
// The events and their fields are listed in src/audit/README.md.
//
// Sealed logs (after `ebpfctl audit init`, see seal.ts and checkpoint.ts) add `mac` to every record.
// Every file of the log is opened O_NOFOLLOW and must be a regular file ebpfctl's user owns
// (log-files.ts); nothing is chmodded. Before its first attach a session reserves disk space for
// the records that must follow (reserve.ts).
//
// Failures are AuditWriteError (exit AUDIT) with the errno: a session must not attach anything
// it cannot record, so it opens the log (which proves the location writable) before loading.
import { randomBytes, type KeyObject } from "node:crypto";
import { existsSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, renameSync, statSync, writeSync, type Stats } from "node:fs";
import { hostname } from "node:os";
import { basename, dirname, resolve } from "node:path";
import { AuditWriteError, auditAlreadySealed, usageError } from "../errors";
import { lockExclusive, unlock } from "../libbpf/flock";
import { CHECKPOINT_EVENT, SEALED_EVENT, readSigningKey, signCheckpoint } from "./checkpoint";
import { RESERVED_KEYS, headPath, lockPath, recordHash, rfc3339Nano, rotatedFiles, sealKeyPath, type AuditRecord } from "./record";
import { POST_ATTACH_RESERVE, allocation, preallocate, preallocateIfSupported, release } from "./reserve";
import { Sealer, recordMac } from "./seal";
import { sendToSyslog, severityOf, syslogSocketPath } from "./syslog";
import { HEAD_SIZE, checkAuditPath, closeQuietly, fsyncDir, headBytes, openAuditFile, openLive, readTailState, writeError, type TailState } from "./log-files";

export type { AuditRecord } from "./record";

export interface AuditLogOptions {
  path: string;
  /** Random id shared by every record of one session (newSessionId()). */
  session: string;
  /** Mirror each record to syslog (authpriv) through EBPFCTL_SYSLOG_SOCKET or /dev/log. */
  syslog?: boolean;
  /** Override the syslog socket path (tests). */
  syslogSocket?: string;
}

/** 16 hex digits from the CSPRNG. */
export const newSessionId = (): string => randomBytes(8).toString("hex");

const EVENT_NAME = /^[a-z][a-z0-9_]*$/;

export class AuditLog {
  private closed = false;
  /** Records written with `defer` and not yet fsync'd. */
  private unsynced = false;
  private cache: TailState | null = null;
  /** Bytes of this process's reservation (reserve()) not yet used by its appends. */
  private reserved = 0;
  /** The last syslog mirror failure, if any (the mirror never fails an append). */
  lastSyslogError: string | null = null;

  private constructor(
    readonly path: string,
    readonly session: string,
    private fd: number,
    private readonly lockFd: number,
    private readonly headFd: number,
    private readonly syslogSocket: string | null,
    private seal: { sealer: Sealer; keyFd: number; signKey: KeyObject } | null,
  ) {}

  /**
   * Open (creating directory 0700 and files 0600 if missing), take the lock once, read the tail and
   * check it against the head sidecar, and write the sidecar: a read-only filesystem, EACCES, a
   * path that is not ebpfctl's regular file or a damaged end fails here, before the caller attaches
   * anything. ENOSPC shows up on the first append (a session's session_start), still before attaching.
   */
  static open(opts: AuditLogOptions & { lenient?: boolean }): AuditLog {
    const path = resolve(opts.path);
    const dir = dirname(path);
    // Refuse a device, a symlink or someone else's file before creating anything beside it.
    for (const p of [path, lockPath(path), headPath(path)]) checkAuditPath(p);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw writeError(dir, "create directory", e);
    }
    const opened: number[] = [];
    const closeAll = () => opened.forEach((fd) => closeQuietly(fd));
    let fd: number, lockFd: number, headFd: number;
    let seal: { sealer: Sealer; keyFd: number; signKey: KeyObject } | null = null;
    try {
      fd = openLive(path);
      opened.push(fd);
      lockFd = openAuditFile(lockPath(path), "create lock file").fd;
      opened.push(lockFd);
      headFd = openAuditFile(headPath(path), "create head file").fd;
      opened.push(headFd);
      if (existsSync(sealKeyPath(path))) {
        const keyFd = openAuditFile(sealKeyPath(path), "open sealing key", { create: false }).fd;
        opened.push(keyFd);
        seal = { sealer: new Sealer(path, sealKeyPath(path), keyFd), keyFd, signKey: readSigningKey(path) };
      }
    } catch (e) {
      closeAll();
      throw e;
    }
    const socket = opts.syslog ? (opts.syslogSocket ?? syslogSocketPath()) : null;
    const log = new AuditLog(path, opts.session, fd, lockFd, headFd, socket, seal);
    try {
      log.locked(() => {
        log.reopenIfRotated();
        const t = log.tail(opts.lenient ?? false);
        if (!t.damaged) log.writeHead(t.seq, t.hash);
      });
    } catch (e) {
      log.close();
      throw e;
    }
    return log;
  }

  /** Is every record this log writes sealed (MAC, checkpoints)? */
  get sealed(): boolean {
    return this.seal !== null;
  }

  /**
   * Append one record (one write, fsync'd) and return it. Throws AuditWriteError; never half-writes.
   * With `defer`, the fsync waits for the next non-deferred append, flush() or close().
   * On a sealed log a `session_end` is followed by a signed checkpoint, in the same lock.
   */
  append(event: string, fields: Record<string, unknown> = {}, opts: { defer?: boolean } = {}): AuditRecord {
    const body = this.checkFields(event, fields);
    const [rec, cp] = this.locked(() => {
      const r = this.appendLocked(event, body, false, undefined, !opts.defer);
      return [r, event === "session_end" ? this.checkpointLocked(r) : null] as const;
    });
    this.mirror(rec);
    if (cp) this.mirror(cp, true);
    return rec;
  }

  /**
   * Reserve disk space for the records that follow an attach (reserve.ts): throws AuditWriteError
   * (ENOSPC) when the filesystem cannot hold them. No fsync: the allocation guards this run's
   * appends, and deferred records still become durable at the flush() before the first attach.
   */
  reserveForAttach(bytes = POST_ATTACH_RESERVE): void {
    this.locked(() => {
      this.reopenIfRotated();
      try {
        preallocate(this.fd, bytes);
      } catch (e) {
        throw writeError(this.path, `reserve ${bytes} bytes for the records after attach`, e);
      }
      this.reserved = bytes;
    });
  }

  /** Seal this (unsealed) log: see sealLog() in seal-init.ts, which owns the key files. */
  startSealing(seal: { sealer: Sealer; keyFd: number; signKey: KeyObject }, fields: Record<string, unknown>): { sealed: AuditRecord; checkpoint: AuditRecord } {
    if (this.seal) throw auditAlreadySealed(this.path);
    const out = this.locked(() => {
      this.seal = seal;
      const sealed = this.appendLocked(SEALED_EVENT, fields, false);
      return { sealed, checkpoint: this.checkpointLocked(sealed)! };
    });
    this.mirror(out.sealed);
    this.mirror(out.checkpoint, true);
    return out;
  }

  /** The seq the next record will get (under the lock). */
  nextSeq(): number {
    return this.locked(() => {
      this.reopenIfRotated();
      return this.tail(false).seq + 1;
    });
  }

  /**
   * Rotate: rename the live file to the next `audit.jsonl.N` and start a new live file whose first
   * record (`rotated`, naming the old file) links to the old file's last record. A damaged end of
   * the old file is kept as evidence; the new file then links to its last intact record. Space
   * preallocated past the old file's end (running sessions' reservations) moves to the new file.
   */
  rotate(): { from: string; to: string; record: AuditRecord } {
    if (this.closed) throw new AuditWriteError(this.path, "rotate", "EBADF", "the audit log is closed");
    const out = this.locked(() => {
      this.reopenIfRotated();
      const before = allocation(this.fd);
      if (before.size === 0) throw usageError(`nothing to rotate: ${this.path} is empty`);
      const next = (rotatedFiles(this.path).at(-1)?.n ?? 0) + 1;
      const to = `${this.path}.${next}`;
      try {
        renameSync(this.path, to);
        fsyncDir(dirname(this.path));
      } catch (e) {
        throw writeError(this.path, `rename to ${basename(to)}`, e);
      }
      try {
        ftruncateSync(this.fd, before.size); // frees the old file's preallocation
      } catch {
        // kept allocated: only space is lost
      }
      this.reopenIfRotated();
      try {
        if (before.pastEnd > 0) preallocate(this.fd, before.pastEnd);
      } catch (e) {
        throw writeError(this.path, `move ${before.pastEnd} reserved bytes to the new file`, e);
      }
      const t = this.tail(true);
      const record = this.appendLocked("rotated", { file: basename(to), ...(t.damaged ? { damaged: t.damaged } : {}) }, true, t);
      return { from: this.path, to, record, checkpoint: this.checkpointLocked(record) };
    });
    this.mirror(out.record);
    if (out.checkpoint) this.mirror(out.checkpoint, true);
    return { from: out.from, to: out.to, record: out.record };
  }

  /** Make every deferred record (and the sealing key that follows it) durable. Throws AuditWriteError. */
  flush(): void {
    if (this.closed || !this.unsynced) return;
    try {
      fsyncSync(this.fd);
      this.unsynced = false;
    } catch (e) {
      throw writeError(this.path, "fsync", e);
    }
    this.seal?.sealer.flush();
  }

  /** Release the descriptors (deferred records are fsync'd first, the unused reservation given back); safe to call twice. */
  close(): void {
    if (this.closed) return;
    try {
      this.flush();
    } catch {
      // Nothing more to do: what was written is in the file; only its durability is in doubt.
    }
    if (this.reserved > 0) {
      try {
        this.locked(() => release(this.fd, this.reserved));
      } catch {
        // kept allocated: only space is lost
      }
      this.reserved = 0;
    }
    this.closed = true;
    closeQuietly(this.fd);
    closeQuietly(this.lockFd);
    closeQuietly(this.headFd);
    if (this.seal) closeQuietly(this.seal.keyFd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // ---- internals ----

  private checkFields(event: string, fields: Record<string, unknown>): Record<string, unknown> {
    if (this.closed) throw new AuditWriteError(this.path, "append", "EBADF", "the audit log is closed");
    if (!EVENT_NAME.test(event)) throw new TypeError(`audit event name "${event}" must match ${EVENT_NAME}`);
    for (const k of Object.keys(fields)) if (RESERVED_KEYS.has(k)) throw new TypeError(`audit field "${k}" is reserved`);
    // A JSON round trip fixes the values that get hashed (bigint counters become decimal strings).
    return JSON.parse(JSON.stringify(fields, (_k, v) => (typeof v === "bigint" ? v.toString() : v))) as Record<string, unknown>;
  }

  private locked<T>(fn: () => T): T {
    try {
      lockExclusive(this.lockFd);
    } catch (e) {
      throw writeError(lockPath(this.path), "lock", e);
    }
    try {
      return fn();
    } finally {
      try {
        unlock(this.lockFd);
      } catch {
        // Closing the descriptor releases the lock anyway.
      }
    }
  }

  /** Another process may have rotated the file since we opened it: follow the name. */
  private reopenIfRotated(): void {
    let named: Stats | null = null;
    try {
      named = statSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw writeError(this.path, "stat", e);
    }
    const held = fstatSync(this.fd);
    if (named && named.ino === held.ino && named.dev === held.dev) return;
    // Deferred records went to the file now rotated away: make them durable before letting go.
    if (this.unsynced) {
      try {
        fsyncSync(this.fd);
      } catch (e) {
        throw writeError(this.path, "fsync", e);
      }
      this.unsynced = false;
    }
    closeQuietly(this.fd);
    this.fd = openLive(this.path);
    this.cache = null;
  }

  private tail(lenient: boolean): TailState {
    const st = fstatSync(this.fd);
    if (this.cache && this.cache.ino === st.ino && this.cache.size === st.size) return this.cache;
    this.cache = readTailState({ fd: this.fd, path: this.path, headFd: this.headFd, sealed: this.seal !== null, lenient });
    return this.cache;
  }

  private writeHead(seq: number, hash: string): void {
    try {
      writeSync(this.headFd, headBytes(seq, hash, this.seal !== null), 0, HEAD_SIZE, 0);
    } catch (e) {
      throw writeError(headPath(this.path), "write", e);
    }
  }

  private appendLocked(event: string, body: Record<string, unknown>, lenient: boolean, known?: TailState, sync = true): AuditRecord {
    if (!known) this.reopenIfRotated();
    const t = known ?? this.tail(lenient);
    const rec: Record<string, unknown> = { seq: t.seq + 1, ts: rfc3339Nano(), session: this.session, host: hostname(), pid: process.pid, event, ...body, prev: t.hash };
    rec.hash = recordHash(rec);
    const key = this.seal?.sealer.keyFor(rec.seq as number);
    if (key) rec.mac = recordMac(key, rec.hash as string);
    const buf = Buffer.from(`${JSON.stringify(rec)}\n`);
    // Inside this process's reservation the blocks are already allocated; outside it, allocate
    // first, so the append neither fails half-way nor eats another session's reservation.
    try {
      if (this.reserved >= buf.length) this.reserved -= buf.length;
      else {
        preallocateIfSupported(this.fd, buf.length - this.reserved);
        this.reserved = 0;
      }
    } catch (e) {
      key?.fill(0);
      throw writeError(this.path, "allocate space for a record", e);
    }
    let written = 0;
    try {
      written = writeSync(this.fd, buf);
      // A short write means the device filled mid-record: retrying the rest surfaces the errno.
      while (written < buf.length) {
        const n = writeSync(this.fd, buf, written, buf.length - written);
        if (n <= 0) throw Object.assign(new Error("short write"), { code: "ENOSPC", errno: -28 });
        written += n;
      }
    } catch (e) {
      key?.fill(0);
      this.rollback(t.size);
      throw writeError(this.path, "write", e);
    }
    try {
      if (sync) fsyncSync(this.fd);
      this.unsynced = !sync;
      if (t.size === 0) fsyncDir(dirname(this.path));
    } catch (e) {
      key?.fill(0);
      this.rollback(t.size);
      throw writeError(this.path, "fsync", e);
    }
    // The record is written: the key that sealed it is overwritten now (fsync'd with the record).
    if (key) this.seal!.sealer.advance((rec.seq as number) + 1, key, sync);
    this.writeHead(rec.seq as number, rec.hash as string);
    this.cache = { seq: rec.seq as number, hash: rec.hash as string, size: t.size + buf.length, ino: t.ino };
    return rec as AuditRecord;
  }

  /** On a sealed log: a `checkpoint` record signing the seq and hash of `of`. */
  private checkpointLocked(of: AuditRecord): AuditRecord | null {
    if (!this.seal) return null;
    const signature = signCheckpoint(this.seal.signKey, of.seq, of.hash);
    return this.appendLocked(CHECKPOINT_EVENT, { of_seq: of.seq, of_hash: of.hash, signature }, false);
  }

  /** Remove a partial record so the file never ends mid-line (and keep the preallocation past it). */
  private rollback(size: number): void {
    this.cache = null;
    try {
      const past = allocation(this.fd).pastEnd;
      ftruncateSync(this.fd, size);
      preallocateIfSupported(this.fd, past);
    } catch {
      // Nothing more to do: the next open reports the damaged tail.
    }
  }

  /** Mirror to syslog when asked; checkpoints of a sealed log always (best effort), so a copy leaves the host. */
  private mirror(rec: AuditRecord, checkpoint = false): void {
    const socket = this.syslogSocket ?? (checkpoint ? syslogSocketPath() : null);
    if (!socket) return;
    const { seq: _s, ts: _t, session: _x, host: _h, pid: _p, event, prev: _v, hash: _y, mac: _m, ...fields } = rec;
    this.lastSyslogError = sendToSyslog(JSON.stringify(rec), severityOf(event, fields), socket);
  }
}

/** Rotate the log at `path` (see AuditLog.rotate); the `rotated` record carries `session`. */
export function rotate(path: string, opts: { session?: string; syslog?: boolean } = {}): { from: string; to: string; record: AuditRecord } {
  const log = AuditLog.open({ path, session: opts.session ?? newSessionId(), syslog: opts.syslog, lenient: true });
  try {
    return log.rotate();
  } finally {
    log.close();
  }
}
