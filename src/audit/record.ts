// The audit record: its shape, its canonical bytes and its hash, and the names of the files that
// hold one chain (rotated files, the live file, the lock and the head sidecar).
import { createHash } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { auditPathRefused } from "../errors";
import { basename, dirname, join } from "node:path";
import * as z from "zod/mini";

/** `prev` of the first record of a fresh log. */
export const GENESIS = "0".repeat(64);

const hex64 = z.string().check(z.regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits"));

/** What every line of the log must carry; event fields ride along at the top level. */
export const AuditRecordSchema = z.looseObject({
  seq: z.int().check(z.positive()),
  ts: z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/, "expected RFC 3339 UTC with nanoseconds")),
  session: z.string().check(z.minLength(1)),
  host: z.string(),
  pid: z.int(),
  event: z.string().check(z.regex(/^[a-z][a-z0-9_]*$/)),
  prev: hex64,
  hash: hex64,
  /** HMAC-SHA256 of `hash` under the sealing key of this seq (sealed logs only, see seal.ts). */
  mac: z.optional(hex64),
});
export type AuditRecord = z.infer<typeof AuditRecordSchema>;

/** Keys the log writes itself; event fields may not use them. */
export const RESERVED_KEYS = new Set(["seq", "ts", "session", "host", "pid", "event", "prev", "hash", "mac"]);

/**
 * Canonical JSON: object keys sorted (by UTF-16 code units) at every depth, no whitespace, values
 * as JSON.stringify writes them; `undefined` members are dropped. Callers hash only values that
 * survived a JSON round trip, so a record read back from disk re-canonicalises to the same bytes.
 */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== "object") {
    const s = JSON.stringify(v);
    return s === undefined ? "null" : s;
  }
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? "null" : canonicalJson(x))).join(",")}]`;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

/**
 * SHA-256 hex over `prev` (64 ASCII hex digits) followed by the canonical bytes of the record
 * without `hash` and `mac` (the MAC is computed over the hash, so it cannot be inside it).
 */
export function recordHash(rec: Record<string, unknown>): string {
  const { hash: _ignored, mac: _mac, ...rest } = rec;
  return createHash("sha256").update(String(rec.prev)).update(canonicalJson(rest)).digest("hex");
}

// ---- Time ----

const wallAnchorNs = BigInt(Date.now()) * 1_000_000n;
const hrAnchor = process.hrtime.bigint();

/** Nanoseconds since the epoch: wall clock at module load plus the monotonic clock since. */
export function nowNs(): bigint {
  return wallAnchorNs + (process.hrtime.bigint() - hrAnchor);
}

/** RFC 3339 UTC with nine fractional digits: 2025-01-02T03:04:05.123456789Z. */
export function rfc3339Nano(ns: bigint = nowNs()): string {
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`;
}

/** Milliseconds since the epoch of an RFC 3339 timestamp (any fraction length, Z or ±hh:mm), or NaN. */
export function parseRfc3339(s: string): number {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/i.exec(s.trim());
  if (!m) return Number.NaN;
  const frac = (m[3] ?? "").padEnd(3, "0").slice(0, 3);
  return Date.parse(`${m[1]}T${m[2]}.${frac}${m[4]!.toUpperCase()}`);
}

// ---- Files of one chain ----

/** `audit.jsonl.lock`: flock(2)ed around every read-tail-and-append; never rotated. */
export const lockPath = (live: string) => `${live}.lock`;
/** `audit.jsonl.head`: seq and hash of the newest record, so a removed last record is noticed. */
export const headPath = (live: string) => `${live}.head`;
/** `audit.jsonl.key`: the current sealing key and the seq it seals next (root only, overwritten in place). */
export const sealKeyPath = (live: string) => `${live}.key`;
/** `audit.jsonl.sign`: the Ed25519 private key that signs checkpoints (root only, PKCS#8 PEM). */
export const signKeyPath = (live: string) => `${live}.sign`;

/** Rotated files are `audit.jsonl.1` (oldest), `.2`, …; the next rotation takes max+1. */
export function rotatedFiles(live: string): { n: number; path: string }[] {
  const dir = dirname(live);
  const base = basename(live);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: { n: number; path: string }[] = [];
  for (const name of names) {
    if (!name.startsWith(`${base}.`)) continue;
    const suffix = name.slice(base.length + 1);
    if (/^[1-9]\d*$/.test(suffix)) out.push({ n: Number(suffix), path: join(dir, name) });
  }
  return out.sort((a, b) => a.n - b.n);
}

/** Every file of the chain, oldest first: rotated files in order, then the live file (if any). */
export function chainFiles(live: string): string[] {
  const files = rotatedFiles(live).map((r) => r.path);
  if (existsSync(live)) files.push(live);
  // Readers (verify, show, tail) read whole files: a device or a FIFO would never end.
  for (const f of files) if (!statSync(f).isFile()) throw auditPathRefused(f, "it is not a regular file");
  return files;
}
