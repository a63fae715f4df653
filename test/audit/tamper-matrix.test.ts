// The tamper matrix on a sealed log: build a real sealed log (sealed through `ebpfctl audit init`'s
// code, sessions written through the audit API, two rotations), apply each tampering to a fresh
// copy, and run the real `audit verify --key` process on it. Each tampering is either detected
// (exit 12) or listed as undetectable with the reason (also in README "What the audit log proves").
import { beforeAll, describe, expect, test } from "bun:test";
import { cpSync, existsSync, readFileSync, renameSync, rmSync, truncateSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog, rotate } from "../../src/audit/audit-log";
import { verifyLog } from "../../src/audit/chain";
import { headBytes } from "../../src/audit/log-files";
import { chainFiles, headPath, recordHash, rfc3339Nano, sealKeyPath, signKeyPath } from "../../src/audit/record";
import { sealLog } from "../../src/audit/seal-init";
import { keyFileBytes, parseKeyFile, recordMac } from "../../src/audit/seal";
import { ExitCode } from "../../src/errors";
import { CLI_ENTRY, lines, run, tmp, writeLines } from "./helpers";

type Rec = Record<string, unknown> & { seq: number; hash: string; prev: string; mac?: string };

function session(path: string, id: string, n: number) {
  const log = AuditLog.open({ path, session: id });
  log.append("session_start", { recipe: "execsnoop", user: "alice", uid: 1000 }, { defer: true });
  log.append("loaded", { programs: [{ prog_id: 100 + n, verified_insns: 50 }] }, { defer: true });
  log.reserveForAttach();
  log.append("attached", { links: [{ link_id: 200 + n, prog_id: 100 + n, target: "sched/sched_process_exec" }] });
  log.append("detached", { reason: "completed", detach_ms: 0.4 });
  log.append("session_end", { exit_code: 0, events: 10 * n, drops: 0, duration_ms: 1000 });
  log.close();
}

/** A sealed log: seal, session 1, rotate, session 2, rotate, sessions 3 and 4. Returns the secret. */
function buildSealedLog(dir: string, tag: string): { live: string; secret: string } {
  const live = join(dir, "audit.jsonl");
  const pre = AuditLog.open({ path: live, session: `${tag}000000000000` });
  pre.append("kill_switch_off", { by: "root", reason: "before the seal" });
  pre.close();
  const { text } = sealLog(live);
  session(live, `${tag}000000000001`, 1);
  rotate(live);
  session(live, `${tag}000000000002`, 2);
  rotate(live);
  session(live, `${tag}000000000003`, 3);
  session(live, `${tag}000000000004`, 4);
  return { live, secret: text };
}

// ---- tampering helpers: files are edited as an attacker would, with the same primitives ----
const recs = (file: string): Rec[] => lines(file).map((l) => JSON.parse(l) as Rec);
const put = (file: string, rs: Rec[]) => writeLines(file, rs.map((r) => JSON.stringify(r)));
const lastRec = (live: string) => recs(live).at(-1)!;
const setHead = (live: string, r: { seq: number; hash: string }) => writeFileSync(headPath(live), headBytes(r.seq, r.hash, true));

/** Recompute prev and hash from the record with seq `from` to the end, across files (a consistent re-hash). */
function rehashFrom(live: string, from: number, mac?: (r: Rec) => string | undefined) {
  let prev: string | null = null;
  for (const f of chainFiles(live)) {
    const rs = recs(f);
    for (const r of rs) {
      if (r.seq < from) {
        prev = r.hash;
        continue;
      }
      if (prev !== null) r.prev = prev;
      r.hash = recordHash(r);
      if (mac) {
        const m = mac(r);
        if (m === undefined) delete r.mac;
        else r.mac = m;
      }
      prev = r.hash;
    }
    put(f, rs);
  }
}
const stolenKey = (live: string) => parseKeyFile(readFileSync(sealKeyPath(live), "latin1"))!;

interface Case {
  name: string;
  tamper: (live: string, other: { live: string }) => void;
  /** Undetectable: the reason (the test asserts verify passes, so the claim stays true). */
  undetectable?: string;
  /** Expected exit when not 12. */
  exit?: number;
  expect?: RegExp;
}

const CASES: Case[] = [
  { name: "edit a field of a middle record", tamper: (l) => { const r = recs(l); r[3]!.events = 999; put(l, r); }, expect: /edited|foreign/ },
  { name: "edit a field of the last record", tamper: (l) => { const r = recs(l); r.at(-2)!.events = 1; put(l, r); }, expect: /edited|foreign/ },
  { name: "edit a record and re-hash that record only", tamper: (l) => { const r = recs(l); r[2]!.reason = "breach"; r[2]!.hash = recordHash(r[2]!); put(l, r); }, expect: /foreign/ },
  { name: "edit a record, re-hash the rest of the chain, .head recomputed", tamper: (l) => { const r = recs(l); r[2]!.reason = "breach"; put(l, r); rehashFrom(l, r[2]!.seq); setHead(l, lastRec(l)); }, expect: /forged/ },
  { name: "edit a record, re-hash the rest of the chain, .head removed", tamper: (l) => { const r = recs(l); r[2]!.reason = "breach"; put(l, r); rehashFrom(l, r[2]!.seq); rmSync(headPath(l)); }, expect: /forged/ },
  {
    name: "edit a record, re-hash and re-MAC the rest with the stolen current key, .head and .key kept consistent",
    tamper: (l) => { const k = stolenKey(l); const r = recs(l); r[2]!.reason = "breach"; put(l, r); rehashFrom(l, r[2]!.seq, (x) => recordMac(k.key, x.hash)); setHead(l, lastRec(l)); },
    expect: /forged/,
  },
  { name: "delete a middle record", tamper: (l) => { const r = recs(l); r.splice(4, 1); put(l, r); }, expect: /deleted/ },
  { name: "delete the first record of the live file", tamper: (l) => put(l, recs(l).slice(1)), expect: /deleted/ },
  { name: "swap two records", tamper: (l) => { const r = recs(l); [r[3], r[4]] = [r[4]!, r[3]!]; put(l, r); }, expect: /reordered/ },
  { name: "replay (duplicate) a record at the end", tamper: (l) => { const r = recs(l); r.push(r[2]!); put(l, r); }, expect: /reordered/ },
  { name: "truncate mid-line", tamper: (l) => truncateSync(l, statSync(l).size - 30), expect: /truncated/ },
  { name: "delete the last record (.head intact)", tamper: (l) => put(l, recs(l).slice(0, -1)), expect: /truncated/ },
  { name: "delete the last record, .head recomputed", tamper: (l) => { put(l, recs(l).slice(0, -1)); setHead(l, lastRec(l)); }, expect: /truncated/ },
  { name: "delete the last record, .head removed", tamper: (l) => { put(l, recs(l).slice(0, -1)); rmSync(headPath(l)); }, expect: /truncated/ },
  { name: "delete the last session (7 records), .head and .key removed", tamper: (l) => { put(l, recs(l).slice(0, -7)); rmSync(headPath(l)); rmSync(sealKeyPath(l)); }, expect: /key-file/ },
  {
    name: "append a forged record with a consistent hash, no MAC",
    tamper: (l) => { const last = lastRec(l); const f: Rec = { ...last, seq: last.seq + 1, ts: rfc3339Nano(), event: "session_end", exit_code: 0, prev: last.hash, hash: "" }; delete f.mac; f.hash = recordHash(f); put(l, [...recs(l), f]); },
    expect: /unsealed/,
  },
  {
    name: "append a forged record with a made-up MAC, .head updated",
    tamper: (l) => { const last = lastRec(l); const f: Rec = { ...last, seq: last.seq + 1, ts: rfc3339Nano(), event: "kill_switch_off", prev: last.hash, hash: "" }; f.hash = recordHash(f); f.mac = "ab".repeat(32); put(l, [...recs(l), f]); setHead(l, f); },
    expect: /forged/,
  },
  { name: ".head filled with garbage", tamper: (l) => writeFileSync(headPath(l), "x".repeat(96)), expect: /head/ },
  { name: ".head removed", tamper: (l) => rmSync(headPath(l)), expect: /head/ },
  { name: ".head pointing past the end", tamper: (l) => { const r = lastRec(l); setHead(l, { seq: r.seq + 3, hash: r.hash }); }, expect: /truncated/ },
  { name: ".key filled with garbage", tamper: (l) => writeFileSync(sealKeyPath(l), "y".repeat(96)), expect: /key-file/ },
  { name: ".key replaced by a made-up key at the right seq", tamper: (l) => writeFileSync(sealKeyPath(l), keyFileBytes({ nextSeq: stolenKey(l).nextSeq, key: Buffer.alloc(32, 7) })), expect: /key-file/ },
  {
    name: "cross-log splice: a record of another sealed log put in, chain re-linked, .head recomputed",
    tamper: (l, o) => { const r = recs(l); const theirs = recs(o.live); const x = theirs.find((t) => t.seq === r[3]!.seq)!; r[3] = { ...x }; put(l, r); rehashFrom(l, r[3]!.seq - 1); setHead(l, lastRec(l)); },
    expect: /forged/,
  },
  { name: "cross-log replacement: every file replaced by another sealed log's", tamper: (l, o) => { for (const f of chainFiles(l)) rmSync(f); for (const f of [...chainFiles(o.live), headPath(o.live), sealKeyPath(o.live), signKeyPath(o.live)]) cpSync(f, join(l, "..", f.slice(o.live.length - "audit.jsonl".length))); }, expect: /not-sealed|forged/ },
  { name: "a rotated file removed from the middle", tamper: (l) => rmSync(`${l}.2`), expect: /deleted/ },
  { name: "a record of a rotated file edited", tamper: (l) => { const f = `${l}.1`; const r = recs(f); r[4]!.recipe = "opensnoop"; put(f, r); }, expect: /edited|foreign/ },
  { name: "two rotated files swapped", tamper: (l) => { renameSync(`${l}.1`, `${l}.x`); renameSync(`${l}.2`, `${l}.1`); renameSync(`${l}.x`, `${l}.2`); }, expect: /deleted|reordered|foreign/ },
  { name: "every MAC stripped (downgrade to an unsealed log)", tamper: (l) => { for (const f of chainFiles(l)) put(f, recs(f).map(({ mac: _m, ...r }) => r as Rec)); }, expect: /unsealed/ },
  { name: "a checkpoint's signature replaced, re-hashed and .head recomputed", tamper: (l) => { const r = recs(l); const c = r.findIndex((x) => x.event === "checkpoint"); r[c]!.signature = Buffer.alloc(64, 1).toString("base64"); put(l, r); rehashFrom(l, r[c]!.seq); setHead(l, lastRec(l)); }, expect: /forged/ },
  {
    name: "a record appended by someone holding the current key (root on the host now), .key and .head advanced",
    tamper: (l) => { const k = stolenKey(l); const last = lastRec(l); const f: Rec = { ...last, seq: k.nextSeq, ts: rfc3339Nano(), event: "kill_switch_off", prev: last.hash, hash: "" }; f.hash = recordHash(f); f.mac = recordMac(k.key, f.hash); put(l, [...recs(l), f]); setHead(l, f); writeFileSync(sealKeyPath(l), keyFileBytes({ nextSeq: k.nextSeq + 1, key: require("../../src/audit/seal").evolveKey(k.key) })); },
    undetectable: "whoever holds the current key is, from then on, indistinguishable from ebpfctl: sealing protects the records sealed before the compromise, not the ones written after it",
  },
  { name: "the oldest rotated file removed", tamper: (l) => rmSync(`${l}.1`), undetectable: "retention removes the oldest rotated files; the chain then starts at a rotated record, and verify notes that the seal anchor was rotated away" },
  { name: "every file of the log removed", tamper: (l) => { for (const f of [...chainFiles(l), headPath(l), sealKeyPath(l), signKeyPath(l), `${l}.lock`]) rmSync(f, { force: true }); }, undetectable: "nothing is left to verify (exit 6, no audit log): only checkpoints exported off the host (syslog) show the log existed", exit: ExitCode.AUDIT },
];

describe("tamper matrix on a sealed log, verified by the real `audit verify --key`", () => {
  let pristine: string;
  let secret: string;
  const other = { live: "" };
  beforeAll(() => {
    pristine = tmp("ebpfctl-tamper-");
    secret = buildSealedLog(pristine, "aaaa").secret;
    const o = tmp("ebpfctl-tamper-other-");
    other.live = buildSealedLog(o, "bbbb").live;
  });

  test("the untouched log verifies with the key, and without it says what it did not prove", async () => {
    const copy = tmp("ebpfctl-tamper-case-");
    cpSync(pristine, copy, { recursive: true });
    const live = join(copy, "audit.jsonl");
    const r = await run([CLI_ENTRY, "audit", "verify", "--audit-log", live, "--key", secret]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("audit log sealed and intact");
    expect(r.stdout).toMatch(/1 before the seal are hash-chained only; 7 signed checkpoints/);
    const n = await run([CLI_ENTRY, "audit", "verify", "--audit-log", live]);
    expect(n.code).toBe(0);
    expect(n.stdout).toContain("NOT checked (no --key)");
    // A wrong key is refused with one line (exit 12: the log is not the one the key seals).
    const parts = secret.split(":");
    parts[2] = (parts[2]![0] === "0" ? "1" : "0") + parts[2]!.slice(1);
    const w = await run([CLI_ENTRY, "audit", "verify", "--audit-log", live, "--key", parts.join(":")]);
    expect(w.code).toBe(ExitCode.AUDIT_CHAIN);
    expect(w.stderr.trim().split("\n")[0]).toContain("audit seal broken");
  });

  const results: { name: string; detected: boolean; how: string }[] = [];
  const chainOnly: boolean[] = [];
  for (const c of CASES) {
    test(c.name, async () => {
      const copy = tmp("ebpfctl-tamper-case-");
      cpSync(pristine, copy, { recursive: true });
      const live = join(copy, "audit.jsonl");
      c.tamper(live, other);
      const r = await run([CLI_ENTRY, "audit", "verify", "--audit-log", live, "--key", secret]);
      const line = r.stderr.trim().split("\n")[0] ?? "";
      // For the record: what the chain and .head alone (no key) catch.
      if (existsSync(live)) chainOnly.push(!verifyLog(live).result.ok);
      else chainOnly.push(false);
      if (c.undetectable) {
        expect(r.code).toBe(c.exit ?? 0);
        results.push({ name: c.name, detected: false, how: c.undetectable });
        return;
      }
      expect(r.code).toBe(ExitCode.AUDIT_CHAIN);
      expect(line).toMatch(c.expect!);
      results.push({ name: c.name, detected: true, how: line.replace(/^error: /, "").slice(0, 160) });
    });
  }

  test("summary", () => {
    const detected = results.filter((r) => r.detected).length;
    console.log(`tamper matrix: ${detected} of ${results.length} detected with --key; ${chainOnly.filter(Boolean).length} of ${chainOnly.length} by the hash chain and .head alone`);
    for (const r of results) console.log(`  ${r.detected ? "detected   " : "UNDETECTABLE"} ${r.name}: ${r.how}`);
    expect(results.length).toBe(CASES.length);
    expect(detected).toBe(CASES.filter((c) => !c.undetectable).length);
  });
});
