import { expect, test } from "bun:test";
import { join } from "node:path";
import { readRecords, verifyLog } from "../../src/audit/chain";
import { parseSecret } from "../../src/audit/seal";
import { sealLog } from "../../src/audit/seal-init";
import { verifySeal } from "../../src/audit/seal-verify";
import { BUN, ROOT, lines, tmp } from "./helpers";

test("4 processes x 200 appends share one log: chain intact, seq strictly increasing, nothing lost", async () => {
  const path = join(tmp(), "audit.jsonl");
  const script = `
    import { AuditLog } from ${JSON.stringify(join(ROOT, "src/audit/audit-log.ts"))};
    const log = AuditLog.open({ path: process.env.LOG, session: process.env.W });
    for (let i = 0; i < 200; i++) log.append("attached", { worker: process.env.W, i });
    log.close();
  `;
  const procs = ["w0", "w1", "w2", "w3"].map((w) => Bun.spawn([BUN, "-e", script], { env: { ...process.env, LOG: path, W: w }, stderr: "pipe" }));
  const codes = await Promise.all(procs.map((p) => p.exited));
  for (const p of procs) expect(await new Response(p.stderr).text()).toBe("");
  expect(codes).toEqual([0, 0, 0, 0]);

  const recs = lines(path).map((l) => JSON.parse(l));
  expect(recs.length).toBe(800);
  expect(recs.map((r) => r.seq)).toEqual(Array.from({ length: 800 }, (_, i) => i + 1));
  for (const w of ["w0", "w1", "w2", "w3"]) {
    expect(recs.filter((r) => r.session === w).map((r) => r.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
  }
  // The writers really interleaved (not one after another).
  const switches = recs.filter((r, i) => i > 0 && r.session !== recs[i - 1].session).length;
  expect(switches).toBeGreaterThan(3);
  expect(verifyLog(path).result).toEqual({ ok: true, records: 800 });
}, 60_000);

test("appends and rotations from concurrent processes keep one chain", async () => {
  const path = join(tmp(), "audit.jsonl");
  const mod = JSON.stringify(join(ROOT, "src/audit/audit-log.ts"));
  const writer = `import { AuditLog } from ${mod};
    const log = AuditLog.open({ path: process.env.LOG, session: process.env.W });
    for (let i = 0; i < 150; i++) log.append("attached", { i });
    log.close();`;
  const rotator = `import { AuditLog, rotate } from ${mod};
    AuditLog.open({ path: process.env.LOG, session: "r" }).close();
    for (let i = 0; i < 5; i++) { await Bun.sleep(15); try { rotate(process.env.LOG); } catch (e) { if (!String(e.message).includes("nothing to rotate")) throw e; } }`;
  const procs = [writer, writer, writer, rotator].map((s, i) => Bun.spawn([BUN, "-e", s], { env: { ...process.env, LOG: path, W: `w${i}` }, stderr: "pipe" }));
  expect(await Promise.all(procs.map((p) => p.exited))).toEqual([0, 0, 0, 0]);
  const { files, result } = verifyLog(path);
  expect(result.ok).toBe(true);
  expect(files.length).toBeGreaterThan(1);
  const total = files.flatMap((f) => lines(f)).map((l) => JSON.parse(l));
  expect(total.filter((r) => r.event === "attached").length).toBe(450);
  expect(total.map((r) => r.seq)).toEqual(Array.from({ length: total.length }, (_, i) => i + 1));
}, 60_000);

test("a sealed log shared by 3 writing processes and a rotator: every MAC verifies under the one key chain", async () => {
  const path = join(tmp(), "audit.jsonl");
  const { text } = sealLog(path);
  const mod = JSON.stringify(join(ROOT, "src/audit/audit-log.ts"));
  const writer = `import { AuditLog } from ${mod};
    const log = AuditLog.open({ path: process.env.LOG, session: process.env.W });
    for (let i = 0; i < 100; i++) log.append(i % 25 === 24 ? "session_end" : "attached", { i }, { defer: i % 3 === 0 });
    log.close();`;
  const rotator = `import { rotate } from ${mod};
    for (let i = 0; i < 4; i++) { await Bun.sleep(20); rotate(process.env.LOG); }`;
  const procs = [writer, writer, writer, rotator].map((s, i) => Bun.spawn([BUN, "-e", s], { env: { ...process.env, LOG: path, W: `w${i}`, EBPFCTL_SYSLOG_SOCKET: join(tmp(), "none") }, stderr: "pipe" }));
  expect(await Promise.all(procs.map((p) => p.exited))).toEqual([0, 0, 0, 0]);
  const { files, result } = verifyLog(path);
  expect(result.ok).toBe(true);
  expect(files.length).toBe(5);
  const report = verifySeal(readRecords(files), parseSecret(text), path);
  expect(report.problems).toEqual([]);
  // 300 records + 12 checkpoints after session_end + 4 rotated + 4 checkpoints after them + audit_sealed and its checkpoint.
  expect(report.sealed).toBe(300 + 12 + 8 + 2);
  expect(report.checkpoints).toBe(12 + 4 + 1);
}, 60_000);
