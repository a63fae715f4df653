import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, truncateSync, statSync, writeFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { AuditLog, rotate } from "../../src/audit/audit-log";
import { verifyChain, verifyLog } from "../../src/audit/chain";
import { GENESIS, canonicalJson, chainFiles, headPath, recordHash, rfc3339Nano } from "../../src/audit/record";
import { EbpfctlError, ExitCode } from "../../src/errors";
import { lines, makeLog, tmp, writeLines } from "./helpers";

const verify = (path: string) => verifyLog(path).result;

describe("records", () => {
  test("canonical JSON sorts keys recursively, no whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: "x" }], c: null }, u: undefined })).toBe('{"a":{"c":null,"d":[1,{"y":"x","z":1}]},"b":1}');
  });
  test("RFC 3339 with nanoseconds", () => {
    expect(rfc3339Nano(1_700_000_000_123_456_789n)).toBe("2023-11-14T22:13:20.123456789Z");
  });
  test("envelope, genesis, links, hash, file and directory modes", () => {
    const dir = tmp();
    const path = join(dir, "sub", "audit.jsonl");
    const log = AuditLog.open({ path, session: "abc" });
    const a = log.append("session_start", { recipe: "execsnoop", n: 5n });
    const b = log.append("session_end", { exit_code: 0 });
    log.close();
    log.close(); // idempotent
    expect(a.seq).toBe(1);
    expect(a.prev).toBe(GENESIS);
    expect(b.seq).toBe(2);
    expect(b.prev).toBe(a.hash);
    expect(a.n).toBe("5");
    expect(a.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(recordHash(a)).toBe(a.hash);
    const onDisk = lines(path).map((l) => JSON.parse(l));
    expect(onDisk).toEqual([a, b]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "sub")).mode & 0o777).toBe(0o700);
    expect(() => log.append("x", {})).toThrow(EbpfctlError);
    const again = AuditLog.open({ path, session: "def" });
    expect(again.append("session_start", {}).seq).toBe(3);
    again.close();
    expect(verify(path)).toEqual({ ok: true, records: 3 });
  });
  test("reserved field names are refused", () => {
    const log = AuditLog.open({ path: join(tmp(), "a.jsonl"), session: "s" });
    expect(() => log.append("x", { seq: 9 })).toThrow(TypeError);
    log.close();
  });
});

describe("tamper detection", () => {
  test("intact log verifies", () => {
    expect(verify(makeLog(6))).toEqual({ ok: true, records: 6 });
  });

  test("edited field", () => {
    const path = makeLog(6);
    const ls = lines(path);
    ls[2] = ls[2]!.replace('"program":"p2"', '"program":"evil"');
    writeLines(path, ls);
    expect(verify(path)).toMatchObject({ ok: false, kind: "edited", seq: 3, line: 3, file: path });
  });

  test("edited last record is still 'edited' (the head sidecar vouches for its hash)", () => {
    const path = makeLog(4);
    const ls = lines(path);
    ls[3] = ls[3]!.replace('"events":42', '"events":1');
    writeLines(path, ls);
    expect(verify(path)).toMatchObject({ ok: false, kind: "edited", seq: 4, line: 4 });
  });

  test("deleted line", () => {
    const path = makeLog(6);
    const ls = lines(path);
    ls.splice(2, 1);
    writeLines(path, ls);
    expect(verify(path)).toMatchObject({ ok: false, kind: "deleted", seq: 3, line: 3 });
  });

  test("deleted first line", () => {
    const path = makeLog(4);
    writeLines(path, lines(path).slice(1));
    expect(verify(path)).toMatchObject({ ok: false, kind: "deleted", seq: 1, line: 1 });
  });

  test("swapped lines", () => {
    const path = makeLog(6);
    const ls = lines(path);
    [ls[2], ls[3]] = [ls[3]!, ls[2]!];
    writeLines(path, ls);
    expect(verify(path)).toMatchObject({ ok: false, kind: "reordered", seq: 4, line: 3 });
  });

  test("duplicated (replayed) line", () => {
    const path = makeLog(4);
    const ls = lines(path);
    ls.push(ls[1]!);
    writeLines(path, ls);
    expect(verify(path)).toMatchObject({ ok: false, kind: "reordered", seq: 2, line: 5 });
  });

  test("truncated tail: partial last line", () => {
    const path = makeLog(6);
    truncateSync(path, statSync(path).size - 40);
    expect(verify(path)).toMatchObject({ ok: false, kind: "truncated", seq: 6, line: 6 });
    // The writer refuses to extend it.
    const err = (() => {
      try {
        AuditLog.open({ path, session: "s" });
      } catch (e) {
        return e as EbpfctlError;
      }
    })();
    expect(err?.code).toBe("EBPFCTL-E0501");
    expect(err?.exitCode).toBe(ExitCode.AUDIT);
  });

  test("truncated tail: whole last record removed (head sidecar)", () => {
    const path = makeLog(6);
    writeLines(path, lines(path).slice(0, 5));
    expect(verify(path)).toMatchObject({ ok: false, kind: "truncated", seq: 6, line: 6 });
    expect(() => AuditLog.open({ path, session: "s" })).toThrow(/seq 6 was written/);
  });

  test("forged line appended", () => {
    const path = makeLog(5);
    const ls = lines(path);
    const last = JSON.parse(ls[4]!);
    const forged = { ...last, seq: 6, ts: rfc3339Nano(), event: "session_end", prev: last.hash, hash: "f".repeat(64) };
    ls.push(JSON.stringify(forged));
    writeLines(path, ls);
    expect(verify(path)).toMatchObject({ ok: false, kind: "foreign", seq: 6, line: 6 });
  });

  test("a hand-written line that is not a record", () => {
    const path = makeLog(3);
    writeFileSync(path, readFileSync(path, "utf8") + '{"event":"session_end","session":"x"}\n');
    expect(verify(path)).toMatchObject({ ok: false, kind: "foreign", seq: null, line: 4 });
  });

  test("garbage line", () => {
    const path = makeLog(4);
    const ls = lines(path);
    ls.splice(1, 0, "hello, auditor");
    writeLines(path, ls);
    expect(verify(path)).toMatchObject({ ok: false, kind: "malformed", line: 2 });
  });

  test("record edited and re-hashed is caught by the next record's prev", () => {
    const path = makeLog(5);
    const ls = lines(path);
    const r = JSON.parse(ls[1]!);
    r.program = "evil";
    r.hash = recordHash(r);
    ls[1] = JSON.stringify(r);
    writeLines(path, ls);
    expect(verify(path)).toMatchObject({ ok: false, kind: "foreign", seq: 3, line: 3 });
  });
});

describe("rotation", () => {
  test("chain verifies across rotated files; the new file links to the old one", () => {
    const dir = tmp();
    const path = makeLog(4, dir);
    const r1 = rotate(path, { session: "rot" });
    expect(r1.to).toBe(`${path}.1`);
    expect(r1.record).toMatchObject({ seq: 5, event: "rotated", file: "audit.jsonl.1" });
    expect(r1.record.prev).toBe(JSON.parse(lines(`${path}.1`).at(-1)!).hash);
    const log = AuditLog.open({ path, session: "s2" });
    log.append("session_start", { recipe: "opensnoop" });
    const r2 = rotate(path);
    expect(r2.to).toBe(`${path}.2`);
    // The open handle follows the rename on its next append.
    expect(log.append("session_end", { exit_code: 0 }).seq).toBe(8);
    log.close();
    expect(lines(path).map((l) => JSON.parse(l).seq)).toEqual([7, 8]);
    expect(chainFiles(path)).toEqual([`${path}.1`, `${path}.2`, path]);
    expect(verify(path)).toEqual({ ok: true, records: 8 });
    // Retention removing the oldest file leaves a chain anchored at a rotated record.
    rmSync(`${path}.1`);
    expect(verify(path)).toEqual({ ok: true, records: 4 });
  });

  test("a rotated file removed from the middle is a deletion", () => {
    const path = makeLog(3);
    rotate(path);
    AuditLog.open({ path, session: "x" }).append("session_start", {});
    rotate(path);
    rmSync(`${path}.2`);
    expect(verify(path)).toMatchObject({ ok: false, kind: "deleted", seq: 4, file: path, line: 1 });
  });

  test("a tampered rotated file is named", () => {
    const path = makeLog(4);
    rotate(path);
    const old = `${path}.1`;
    const ls = lines(old);
    ls[1] = ls[1]!.replace("p1", "p9");
    writeLines(old, ls);
    expect(verifyChain(chainFiles(path), { head: headPath(path) })).toMatchObject({ ok: false, kind: "edited", seq: 2, line: 2, file: old });
  });

  test("rotate keeps a damaged tail as evidence and the writer continues", () => {
    const path = makeLog(4);
    truncateSync(path, statSync(path).size - 10);
    const r = rotate(path);
    expect(String(r.record.damaged)).toContain("incomplete");
    expect(r.record.seq).toBe(4); // links to seq 3, the last intact record
    const log = AuditLog.open({ path, session: "after" });
    expect(log.append("session_start", {}).seq).toBe(5);
    log.close();
    expect(verify(path)).toMatchObject({ ok: false, kind: "truncated", file: `${path}.1`, line: 4 });
    expect(existsSync(`${path}.1`)).toBe(true);
  });
});
