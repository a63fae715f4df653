// Forward-secure sealing of the audit log: journald's Forward Secure Sealing idea, built from
// standard primitives (node:crypto only).
//
// - Every record from the seal on carries `mac` = HMAC-SHA256(k_seq, hash). The key evolves one way
//   per record: k_{seq+1} = SHA-256("ebpfctl-audit-evolve-1" || k_seq). After each record the key
//   file (`audit.jsonl.key`, 0600) is overwritten in place with (seq+1, k_{seq+1}) and fsync'd with
//   the record, so the key that sealed a record is gone from the host once the record is durable:
//   a root attacker who arrives later holds only the current key and cannot forge, edit, reorder or
//   re-hash anything sealed before they arrived (they would need an earlier key).
// - The verifier holds k_0 (printed once by `ebpfctl audit init`, kept off the host) and derives
//   every later key. It also checks the key file: a key file that is ahead of the log's last record
//   means records were removed from the end, and the attacker cannot rewind it (one-way function).
// - Signed checkpoints (checkpoint.ts) let anyone with only the public key check an exported head.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { fsyncSync, readSync, writeSync } from "node:fs";
import { auditSealError, auditSecretInvalid } from "../errors";
import { writeError } from "./log-files";

export const KEY_FILE_SIZE = 96;
const EVOLVE_LABEL = Buffer.from("ebpfctl-audit-evolve-1");

/** k_{n+1} = SHA-256(label || k_n). */
export const evolveKey = (k: Buffer): Buffer => createHash("sha256").update(EVOLVE_LABEL).update(k).digest();

/** The record's MAC: HMAC-SHA256 under the key of its seq, over its hash (which covers prev and every field). */
export const recordMac = (k: Buffer, hash: string): string => createHmac("sha256", k).update(hash).digest("hex");

export const newInitialKey = (): Buffer => randomBytes(32);

/** Constant-time comparison of two hex strings. */
export function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

// ---- The verification secret (k_0 and the checkpoint public key) ----

export interface VerificationSecret {
  /** seq of the `audit_sealed` record: the first record sealed with k_0. */
  firstSeq: number;
  k0: Buffer;
  /** Ed25519 public key, raw 32 bytes as base64url (JWK "x"). */
  publicKey: string;
}

const SECRET_RE = /^ebpfctl-seal-1:(\d+):([0-9a-f]{64}):([A-Za-z0-9_-]{43})$/;

export const formatSecret = (s: VerificationSecret): string => `ebpfctl-seal-1:${s.firstSeq}:${s.k0.toString("hex")}:${s.publicKey}`;

export function parseSecret(text: string): VerificationSecret {
  const m = SECRET_RE.exec(text.trim());
  if (!m) throw auditSecretInvalid("expected ebpfctl-seal-1:<first seq>:<64 hex digits>:<43 base64url characters>");
  const firstSeq = Number(m[1]);
  if (!Number.isSafeInteger(firstSeq) || firstSeq < 1) throw auditSecretInvalid("the first seq must be a positive integer");
  return { firstSeq, k0: Buffer.from(m[2]!, "hex"), publicKey: m[3]! };
}

/** Walks the key chain forward from k_0 as a verifier reads records in seq order. */
export class KeyWalker {
  private seq: number;
  private key: Buffer;
  constructor(secret: VerificationSecret) {
    this.seq = secret.firstSeq;
    this.key = Buffer.from(secret.k0);
  }
  /** The key of `seq` (>= the last asked; earlier keys are gone, as on the host). */
  keyAt(seq: number): Buffer {
    if (seq < this.seq) throw new RangeError(`key of seq ${seq} asked after seq ${this.seq}`);
    while (this.seq < seq) {
      this.key = evolveKey(this.key);
      this.seq++;
    }
    return this.key;
  }
}

// ---- The key file: "<next seq> <key hex>" padded to KEY_FILE_SIZE, overwritten in place ----

export type KeyState = { nextSeq: number; key: Buffer };

export function keyFileBytes(state: KeyState): Buffer {
  const buf = Buffer.alloc(KEY_FILE_SIZE, 0x20);
  buf.write(`${state.nextSeq} ${state.key.toString("hex")}`);
  buf[KEY_FILE_SIZE - 1] = 0x0a;
  return buf;
}

export function parseKeyFile(text: string): KeyState | null {
  const m = /^(\d+) ([0-9a-f]{64}) *\n$/.exec(text);
  return m && text.length === KEY_FILE_SIZE ? { nextSeq: Number(m[1]), key: Buffer.from(m[2]!, "hex") } : null;
}

/**
 * The writer's side: the key file is read under the log's lock before every record (another
 * process may have advanced it) and overwritten after it. Used by AuditLog only.
 */
export class Sealer {
  private dirty = false;
  constructor(
    private readonly live: string,
    private readonly keyFile: string,
    private readonly fd: number,
  ) {}

  /**
   * The key for the record about to get `seq`. A key file behind the log (a crash between a record
   * and its key update) is evolved forward; one ahead of it means records were removed: refuse.
   */
  keyFor(seq: number): Buffer {
    const buf = Buffer.alloc(KEY_FILE_SIZE + 1);
    let n: number;
    try {
      n = readSync(this.fd, buf, 0, buf.length, 0);
    } catch (e) {
      throw writeError(this.keyFile, "read", e);
    }
    const state = parseKeyFile(buf.subarray(0, n).toString("latin1"));
    if (!state) throw auditSealError(this.live, `the sealing key file ${this.keyFile} is not what ebpfctl writes: refusing to write unsealed records`);
    if (state.nextSeq > seq) throw auditSealError(this.live, `the sealing key has advanced to seq ${state.nextSeq} but the log ends at seq ${seq - 1}: records were removed from the end`);
    let k = state.key;
    for (let s = state.nextSeq; s < seq; s++) k = evolveKey(k);
    return k;
  }

  /** Overwrite the key file with the next key; the old key's bytes are overwritten in place. */
  advance(nextSeq: number, used: Buffer, sync: boolean): void {
    const next = evolveKey(used);
    used.fill(0);
    try {
      writeSync(this.fd, keyFileBytes({ nextSeq, key: next }), 0, KEY_FILE_SIZE, 0);
      next.fill(0);
      if (sync) fsyncSync(this.fd);
      this.dirty = !sync;
    } catch (e) {
      throw writeError(this.keyFile, "write", e);
    }
  }

  flush(): void {
    if (!this.dirty) return;
    try {
      fsyncSync(this.fd);
      this.dirty = false;
    } catch (e) {
      throw writeError(this.keyFile, "fsync", e);
    }
  }
}
