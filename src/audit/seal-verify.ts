// Checking a sealed log with its verification secret (k_0 and the checkpoint public key), after the
// hash chain itself verified (chain.ts): every record from the seal on must carry the MAC its seq's
// key gives, every checkpoint must be signed and name a record that is there, and the key file and
// head sidecar on the host must agree with the end of the log. Each problem says what it proves.
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { CHECKPOINT_EVENT, SEALED_EVENT, verifyCheckpoint } from "./checkpoint";
import { parseHead } from "./log-files";
import { headPath, sealKeyPath, type AuditRecord } from "./record";
import { KeyWalker, parseKeyFile, recordMac, sameHex, type VerificationSecret } from "./seal";

export type SealProblemKind = "not-sealed" | "forged" | "unsealed" | "checkpoint" | "truncated" | "key-file" | "head";
export interface SealProblem {
  kind: SealProblemKind;
  seq: number | null;
  detail: string;
}
export interface SealReport {
  ok: boolean;
  problems: SealProblem[];
  /** Facts that limit what was proven, without being evidence of tampering. */
  notes: string[];
  firstSeq: number;
  /** Records whose MAC verified. */
  sealed: number;
  /** Records before the seal (hash chain only). */
  unsealedBefore: number;
  checkpoints: number;
  lastCheckpointSeq: number | null;
  lastSeq: number;
}

/** `records` are the chain's records in order (the chain verified). `live` locates the key file and the head sidecar. */
export function verifySeal(records: AuditRecord[], secret: VerificationSecret, live: string): SealReport {
  const problems: SealProblem[] = [];
  const notes: string[] = [];
  const problem = (kind: SealProblemKind, seq: number | null, detail: string) => problems.push({ kind, seq, detail });
  const walker = new KeyWalker(secret);
  const bySeq = new Map(records.map((r) => [r.seq, r]));
  let sealed = 0;
  let unsealedBefore = 0;
  let checkpoints = 0;
  let lastCheckpointSeq: number | null = null;
  const lastSeq = records.at(-1)?.seq ?? 0;

  const anchor = bySeq.get(secret.firstSeq);
  if (!anchor || anchor.event !== SEALED_EVENT || anchor.public_key !== secret.publicKey) {
    const other = records.find((r) => r.event === SEALED_EVENT);
    if (anchor || (records[0] && records[0].seq <= secret.firstSeq) || !records.length) {
      problem("not-sealed", secret.firstSeq, other
        ? `seq ${secret.firstSeq} is not the audit_sealed record of this key (the log was sealed at seq ${other.seq} with public key ${String(other.public_key)}): these files are not the log this secret belongs to, or were rewritten`
        : `no audit_sealed record at seq ${secret.firstSeq}: these files are not the log this secret belongs to, or were rewritten`);
    } else notes.push(`the audit_sealed record (seq ${secret.firstSeq}) was rotated away; MACs are checked from seq ${records[0]!.seq}`);
  }

  for (const r of records) {
    if (r.seq < secret.firstSeq) {
      unsealedBefore++;
      continue;
    }
    const key = walker.keyAt(r.seq);
    if (r.mac === undefined) {
      problem("unsealed", r.seq, `seq ${r.seq} (${r.event}) has no MAC: written after the seal by something without the sealing key`);
      continue;
    }
    if (!sameHex(r.mac, recordMac(key, r.hash))) {
      problem("forged", r.seq, `seq ${r.seq} (${r.event}): the MAC does not verify under the key of seq ${r.seq}: the record was written, edited or re-hashed by someone without that key`);
      continue;
    }
    sealed++;
    if (r.event === CHECKPOINT_EVENT) {
      const ofSeq = Number(r.of_seq);
      const ofHash = String(r.of_hash);
      if (!verifyCheckpoint(secret.publicKey, ofSeq, ofHash, String(r.signature))) problem("checkpoint", r.seq, `checkpoint at seq ${r.seq}: the Ed25519 signature over seq ${ofSeq} does not verify with the public key`);
      else if (bySeq.get(ofSeq)?.hash !== ofHash) problem("checkpoint", r.seq, `checkpoint at seq ${r.seq} signs seq ${ofSeq} with a hash the log's seq ${ofSeq} does not have`);
      else {
        checkpoints++;
        lastCheckpointSeq = ofSeq;
      }
    }
  }

  // The key file on the host: one-way, so it cannot be rewound to hide records cut from the end.
  const keyFile = sealKeyPath(live);
  if (!existsSync(keyFile)) {
    problem("key-file", null, `${basename(keyFile)} is missing: records removed after seq ${lastSeq} cannot be ruled out (the last checkpoint is of seq ${lastCheckpointSeq ?? "none"}; compare with the checkpoints mirrored to syslog)`);
  } else {
    const state = parseKeyFile(readFileSync(keyFile, "latin1"));
    if (!state) problem("key-file", null, `${basename(keyFile)} does not hold a key as ebpfctl writes it: it was overwritten`);
    else if (state.nextSeq > lastSeq + 1) problem("truncated", lastSeq + 1, `the sealing key has advanced to seq ${state.nextSeq} but the log ends at seq ${lastSeq}: ${state.nextSeq - 1 === lastSeq + 1 ? `seq ${lastSeq + 1} was` : `seq ${lastSeq + 1}–${state.nextSeq - 1} were`} removed from the end`);
    else if (state.nextSeq < Math.max(lastSeq, secret.firstSeq)) problem("key-file", state.nextSeq, `${basename(keyFile)} is at seq ${state.nextSeq}, behind the log's seq ${lastSeq}: it was replaced (or a crash lost its last updates; the next append repairs that)`);
    else if (!sameHex(state.key.toString("hex"), walker.keyAt(state.nextSeq).toString("hex"))) problem("key-file", state.nextSeq, `${basename(keyFile)} holds a key that does not derive from the verification secret: it was replaced`);
    else if (state.nextSeq === lastSeq) notes.push(`${basename(keyFile)} lags the last record by one (a crash between a record and its key update)`);
  }

  const headFile = headPath(live);
  if (!existsSync(headFile)) problem("head", null, `${basename(headFile)} is missing: it was removed`);
  else {
    const head = parseHead(readFileSync(headFile, "latin1"));
    if (head === "garbage" || head === null) problem("head", null, `${basename(headFile)} does not hold a seq and hash as ebpfctl writes them: it was overwritten`);
    else if (head.seq < lastSeq - 1) problem("head", head.seq, `${basename(headFile)} is at seq ${head.seq}, behind the log's seq ${lastSeq}: it was replaced`);
  }
  if (lastCheckpointSeq !== null && lastCheckpointSeq < lastSeq - 1) notes.push(`seq ${lastCheckpointSeq + 1}–${lastSeq} follow the last checkpoint (a session running, or one that ended without session_end)`);
  return { ok: problems.length === 0, problems, notes, firstSeq: secret.firstSeq, sealed, unsealedBefore, checkpoints, lastCheckpointSeq, lastSeq };
}

/** What a verification without the secret proves and does not. */
export function withoutKeyStatement(records: AuditRecord[]): string {
  const seal = records.find((r) => r.event === SEALED_EVENT);
  if (!seal) return "the log is not sealed (no \"ebpfctl audit init\"): the hash chain proves the files are self-consistent, not who wrote them; anyone able to write them can rewrite and re-hash the whole chain";
  return `sealed from seq ${seal.seq}; MACs, checkpoints and the key file were NOT checked (no --key): this proves only that the files are self-consistent; rewriting, re-hashing, forged appends and records cut from the end are detected only with --key`;
}
