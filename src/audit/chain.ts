// Verifying a hash chain: walk every file oldest first and report the first record that breaks
// it, saying how. The files are read whole: verification is a full walk by nature.
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { lockShared, unlock } from "../libbpf/flock";
import { parseHead, type Head } from "./log-files";
import { AuditRecordSchema, GENESIS, chainFiles, headPath, lockPath, recordHash, type AuditRecord } from "./record";

export type ChainProblemKind = "edited" | "deleted" | "reordered" | "truncated" | "foreign" | "malformed" | "head";
export type ChainProblem = { ok: false; seq: number | null; line: number; file: string; kind: ChainProblemKind; detail: string };
export type ChainResult = { ok: true; records: number } | ChainProblem;

interface Entry {
  file: string;
  line: number;
  raw: string;
  /** The file's last line had no newline. */
  partial: boolean;
  json: unknown;
  rec: AuditRecord | null;
  selfOk: boolean;
}

function seqHint(raw: string): number | null {
  const m = /"seq":\s*(\d+)/.exec(raw);
  return m ? Number(m[1]) : null;
}

function readEntries(paths: string[]): Entry[] {
  const out: Entry[] = [];
  for (const file of paths) {
    const lines = readFileSync(file, "utf8").split("\n");
    const last = lines.pop() ?? "";
    const push = (raw: string, i: number, partial: boolean) => {
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        json = undefined;
      }
      const parsed = json === undefined ? null : AuditRecordSchema.safeParse(json);
      const rec = parsed?.success ? parsed.data : null;
      out.push({ file, line: i + 1, raw, partial, json, rec, selfOk: rec !== null && recordHash(rec) === rec.hash });
    };
    lines.forEach((raw, i) => push(raw, i, false));
    if (last !== "") push(last, lines.length, true);
  }
  return out;
}

/** Read the head sidecar (seq and hash of the newest record written): null when absent or empty, "garbage" when overwritten. */
export function readHeadFile(path: string): Head | null | "garbage" {
  if (!existsSync(path)) return null;
  return parseHead(readFileSync(path, "latin1"));
}

/**
 * Walk the chain across `paths` (oldest first). `head` is the sidecar to check the end against
 * (default: `<last path>.head` when it exists; null to skip). A chain may start with a `rotated`
 * record when older rotated files were removed by retention.
 */
export function verifyChain(paths: string[], opts: { head?: string | null } = {}): ChainResult {
  const entries = readEntries(paths);
  const headFile = opts.head === undefined ? (paths.length ? headPath(paths[paths.length - 1]!) : null) : opts.head;
  const headRead = headFile ? readHeadFile(headFile) : null;
  const head = headRead === "garbage" ? null : headRead;

  // seq -> indices of self-consistent records carrying it (for reorder/duplicate decisions).
  const bySeq = new Map<number, number[]>();
  entries.forEach((e, i) => {
    if (e.rec && e.selfOk) bySeq.set(e.rec.seq, [...(bySeq.get(e.rec.seq) ?? []), i]);
  });

  let expectedSeq = 1;
  let expectedPrev = GENESIS;
  let records = 0;
  const bad = (e: Entry, kind: ChainProblemKind, seq: number | null, detail: string): ChainProblem => ({ ok: false, seq, line: e.line, file: e.file, kind, detail });
  const where = (e: Entry) => `${basename(e.file)}:${e.line}`;

  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.partial) {
      return bad(e, "truncated", seqHint(e.raw) ?? expectedSeq, `the last line of ${basename(e.file)} is incomplete (${Buffer.byteLength(e.raw)} bytes, no newline): the file was cut or a write was interrupted`);
    }
    if (e.json === undefined) return bad(e, "malformed", seqHint(e.raw), `line is not valid JSON: ${JSON.stringify(e.raw.slice(0, 60))}`);
    if (!e.rec) {
      const seq = typeof (e.json as { seq?: unknown })?.seq === "number" ? ((e.json as { seq: number }).seq) : null;
      return bad(e, "foreign", seq, "line is JSON but not an ebpfctl audit record (fields missing or of the wrong shape)");
    }
    const r = e.rec;
    const links = r.prev === expectedPrev;
    const fits = r.seq === expectedSeq;
    const next = entries[i + 1]?.rec ?? null;

    if (e.selfOk && links && fits) {
      expectedSeq = r.seq + 1;
      expectedPrev = r.hash;
      records++;
      continue;
    }
    if (records === 0 && e.selfOk && r.event === "rotated" && r.seq > 1 && i === 0) {
      // Older files were rotated away and removed: start the walk at this link.
      expectedSeq = r.seq + 1;
      expectedPrev = r.hash;
      records++;
      continue;
    }
    if (!e.selfOk) {
      // The stored hash is the one we wrote if the next record still links to it (or the head says so).
      const vouched = (next !== null && next.prev === r.hash) || (next === null && head !== null && head.seq === r.seq && head.hash === r.hash) || (next === null && head === null);
      if ((links || fits) && vouched) {
        return bad(e, "edited", links ? expectedSeq : r.seq, `record content does not match its hash: a field of seq ${links ? expectedSeq : r.seq} was changed after it was written`);
      }
      return bad(e, "foreign", r.seq, `record's hash is wrong and it was never part of this chain (prev ${links ? "links" : "does not link"}, seq ${fits ? "fits" : `${r.seq} where ${expectedSeq} was expected`}): not written by ebpfctl`);
    }
    // Self-consistent record in the wrong place.
    if (r.seq < expectedSeq) {
      const earlier = (bySeq.get(r.seq) ?? []).filter((j) => j < i);
      const same = earlier.some((j) => entries[j]!.rec!.hash === r.hash);
      if (earlier.length && !same) return bad(e, "foreign", r.seq, `a second, different record claims seq ${r.seq} (first at ${where(entries[earlier[0]!]!)})`);
      return bad(e, "reordered", r.seq, `seq goes backwards: seq ${r.seq} after seq ${expectedSeq - 1}${same ? " (a copy of an earlier line)" : ""}`);
    }
    if (r.seq > expectedSeq) {
      const later = (bySeq.get(expectedSeq) ?? []).find((j) => j > i);
      if (later !== undefined) return bad(e, "reordered", r.seq, `seq ${r.seq} appears before seq ${expectedSeq} (at ${where(entries[later]!)})`);
      if (links) return bad(e, "edited", r.seq, `seq jumps from ${expectedSeq - 1} to ${r.seq} but prev links: the seq field was rewritten and re-hashed`);
      const missing = r.seq - 1 === expectedSeq ? `seq ${expectedSeq} is` : `seq ${expectedSeq}–${r.seq - 1} are`;
      return bad(e, "deleted", expectedSeq, `${missing} missing before this line (its prev does not match seq ${expectedSeq - 1}'s hash)`);
    }
    // Right seq, valid own hash, but prev does not link.
    return bad(e, "foreign", r.seq, `prev does not link to seq ${expectedSeq - 1}'s hash: either this record was not written in this chain, or seq ${expectedSeq - 1} was edited and re-hashed`);
  }

  if (headRead === "garbage") {
    const lastFile = paths[paths.length - 1] ?? headFile!;
    return { ok: false, seq: null, line: 1, file: headFile!, kind: "head", detail: `${basename(headFile!)} does not hold a seq and hash as ebpfctl writes them: it was overwritten (the end of ${basename(lastFile)} cannot be checked against it)` };
  }
  if (head && head.seq >= expectedSeq) {
    const lastFile = paths[paths.length - 1] ?? headFile!;
    const lastLine = entries.filter((x) => x.file === lastFile).length;
    const missing = head.seq === expectedSeq ? `seq ${expectedSeq} is` : `seq ${expectedSeq}–${head.seq} are`;
    return { ok: false, seq: expectedSeq, line: lastLine + 1, file: lastFile, kind: "truncated", detail: `${missing} missing at the end: ${basename(headFile!)} records seq ${head.seq} as written` };
  }
  if (head && head.seq > 0) {
    const at = (bySeq.get(head.seq) ?? [])[0];
    const rec = at !== undefined ? entries[at]! : null;
    if (rec && rec.rec!.hash !== head.hash) {
      return bad(rec, "edited", head.seq, `seq ${head.seq} is not the record that was written (its hash differs from ${basename(headFile!)}): the chain was rewritten and re-hashed`);
    }
  }
  return { ok: true, records };
}

/** The files of the chain at `live` and the verification result, read under a shared lock when possible. */
export function verifyLog(live: string): { files: string[]; result: ChainResult } {
  let lockFd: number | null = null;
  try {
    lockFd = openSync(lockPath(live), "r");
    lockShared(lockFd);
  } catch {
    // No lock file (a copied log) or no permission: verify without excluding writers.
    if (lockFd !== null) closeSync(lockFd);
    lockFd = null;
  }
  try {
    const files = chainFiles(live);
    return { files, result: verifyChain(files, { head: headPath(live) }) };
  } finally {
    if (lockFd !== null) {
      try {
        unlock(lockFd);
      } finally {
        closeSync(lockFd);
      }
    }
  }
}

/** One-line description of a problem, naming file, line, seq and kind. */
export function describeProblem(p: ChainProblem): string {
  return `audit chain broken: ${p.kind} at ${p.file}:${p.line}${p.seq !== null ? ` (seq ${p.seq})` : ""}: ${p.detail}`;
}

/** Every parseable record of the chain, oldest first (malformed lines skipped). */
export function readRecords(paths: string[]): AuditRecord[] {
  const out: AuditRecord[] = [];
  for (const e of readEntries(paths)) if (e.rec) out.push(e.rec);
  return out;
}
