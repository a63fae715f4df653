// Signed checkpoints: after every `session_end` (and at `audit init` and rotation) a sealed log gets
// a `checkpoint` record carrying an Ed25519 signature over the seq and hash of the record before it,
// mirrored to syslog. A checkpoint that left the host (syslog forwarding, a copy) pins the log's
// length and content up to that point for anyone holding only the public key: the one thing a
// later root attacker can still do to a sealed log is cut records off its end, and this is what
// shows they existed.
//
// The signing key is not evolved (Ed25519 has no forward-secure variant in node:crypto): an attacker
// with root can sign new checkpoints. They still cannot produce the MACs a checkpointed record needs,
// so the signature proves "this host signed this head", and the MAC chain proves the records.
import { readFileSync } from "node:fs";
import { auditSealError } from "../errors";
import { closeQuietly, openAuditFile } from "./log-files";
import { signKeyPath } from "./record";
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";

export const CHECKPOINT_EVENT = "checkpoint";
export const SEALED_EVENT = "audit_sealed";

/** The signed bytes: a label, the seq and the hash of the checkpointed record. */
export const checkpointMessage = (seq: number, hash: string): Buffer => Buffer.from(`ebpfctl-audit-checkpoint-1 ${seq} ${hash}`);

export function newSigningKey(): { privatePem: string; publicKey: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privatePem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(), publicKey: publicKeyId(publicKey) };
}

/** The raw public key as base64url (JWK "x"): what the verification secret and `audit_sealed` carry. */
export const publicKeyId = (k: KeyObject): string => String(k.export({ format: "jwk" }).x);

export const loadSigningKey = (pem: string): KeyObject => createPrivateKey({ key: pem, format: "pem" });

export function signCheckpoint(key: KeyObject, seq: number, hash: string): string {
  return sign(null, checkpointMessage(seq, hash), key).toString("base64");
}

export function verifyCheckpoint(publicKey: string, seq: number, hash: string, signature: string): boolean {
  try {
    const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: publicKey }, format: "jwk" });
    return verify(null, checkpointMessage(seq, hash), key, Buffer.from(signature, "base64"));
  } catch {
    return false;
  }
}

/** The checkpoint signing key beside a sealed log (regular file, ours, O_NOFOLLOW). */
export function readSigningKey(live: string): KeyObject {
  const { fd } = openAuditFile(signKeyPath(live), "open checkpoint signing key", { create: false });
  try {
    return loadSigningKey(readFileSync(fd, "utf8"));
  } catch (e) {
    throw auditSealError(live, `the checkpoint signing key ${signKeyPath(live)} is unreadable: ${(e as Error).message}`);
  } finally {
    closeQuietly(fd);
  }
}
