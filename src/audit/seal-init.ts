// `ebpfctl audit init`: create the sealing key files beside the log and write its `audit_sealed`
// record, returning the verification secret, which exists on the host only until the first
// record is sealed (the key file holds k_1 from then on): the caller prints it once.
import { existsSync, fsyncSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { auditAlreadySealed, auditSealError } from "../errors";
import { AuditLog, newSessionId } from "./audit-log";
import { loadSigningKey, newSigningKey } from "./checkpoint";
import { closeQuietly, fsyncDir, openAuditFile, writeError } from "./log-files";
import { sealKeyPath, signKeyPath, type AuditRecord } from "./record";
import { KEY_FILE_SIZE, Sealer, formatSecret, keyFileBytes, newInitialKey, type VerificationSecret } from "./seal";

export interface SealResult {
  secret: VerificationSecret;
  /** The secret as one line for --key. */
  text: string;
  sealed: AuditRecord;
  checkpoint: AuditRecord;
}

export function sealLog(path: string, opts: { session?: string; syslog?: boolean } = {}): SealResult {
  const log = AuditLog.open({ path, session: opts.session ?? newSessionId(), syslog: opts.syslog });
  const created: string[] = [];
  let keyFd: number | null = null;
  try {
    if (log.sealed || existsSync(sealKeyPath(log.path))) throw auditAlreadySealed(log.path);
    const firstSeq = log.nextSeq();
    const k0 = newInitialKey();
    const signing = newSigningKey();
    // Both files are new (O_CREAT|O_EXCL, 0600): a file already there is never reused.
    const sign = openAuditFile(signKeyPath(log.path), "create checkpoint signing key");
    if (!sign.created) throw auditSealError(log.path, `${signKeyPath(log.path)} already exists: remove it (or keep it as evidence) before sealing`);
    created.push(signKeyPath(log.path));
    try {
      writeSync(sign.fd, signing.privatePem);
      fsyncSync(sign.fd);
    } catch (e) {
      throw writeError(signKeyPath(log.path), "write", e);
    } finally {
      closeQuietly(sign.fd);
    }
    const key = openAuditFile(sealKeyPath(log.path), "create sealing key");
    keyFd = key.fd;
    if (!key.created) throw auditSealError(log.path, `${sealKeyPath(log.path)} already exists`);
    created.push(sealKeyPath(log.path));
    try {
      writeSync(key.fd, keyFileBytes({ nextSeq: firstSeq, key: k0 }), 0, KEY_FILE_SIZE, 0);
      fsyncSync(key.fd);
      fsyncDir(dirname(log.path));
    } catch (e) {
      throw writeError(sealKeyPath(log.path), "write", e);
    }
    const secret: VerificationSecret = { firstSeq, k0: Buffer.from(k0), publicKey: signing.publicKey };
    k0.fill(0);
    keyFd = null; // the log owns it from here (its close() closes it)
    const out = log.startSealing(
      { sealer: new Sealer(log.path, sealKeyPath(log.path), key.fd), keyFd: key.fd, signKey: loadSigningKey(signing.privatePem) },
      { public_key: signing.publicKey, first_seq: firstSeq },
    );
    created.length = 0;
    return { secret, text: formatSecret(secret), ...out };
  } catch (e) {
    if (keyFd !== null) closeQuietly(keyFd);
    for (const f of created) rmSync(f, { force: true });
    throw e;
  } finally {
    log.close();
  }
}
