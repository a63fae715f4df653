// The audit commands run as real processes: through a CLI entry with only these commands, and
// through the real src/cli/main.ts once the rest of the CLI builds.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { AuditLog, rotate } from "../../src/audit/audit-log";
import { ExitCode } from "../../src/errors";
import { BUN, CLI_ENTRY, ROOT, lines, makeLog, prerequisite, run, tmp, writeLines } from "./helpers";

const cli = (args: string[], env?: Record<string, string>) => run([CLI_ENTRY, ...args], env);

describe("audit verify", () => {
  test("intact: exit 0", async () => {
    const path = makeLog(5);
    const r = await cli(["audit", "verify", "--audit-log", path]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("audit chain intact: 5 records in 1 file");
  });

  test("tampered: exit AUDIT_CHAIN naming seq, line, file and kind", async () => {
    const path = makeLog(5);
    const ls = lines(path);
    ls.splice(1, 1);
    writeLines(path, ls);
    const r = await cli(["audit", "verify", "--audit-log", path]);
    expect(r.code).toBe(ExitCode.AUDIT_CHAIN);
    expect(r.stderr).toContain(`deleted at ${path}:2 (seq 2)`);
    expect(r.stderr).toContain("EBPFCTL-E0502");
    const j = await cli(["audit", "verify", "--output", "json"], { EBPFCTL_AUDIT_LOG: path });
    expect(j.code).toBe(ExitCode.AUDIT_CHAIN);
    expect(JSON.parse(j.stdout)).toMatchObject({ ok: false, kind: "deleted", seq: 2, line: 2, file: path });
  });

  test("missing log: exit AUDIT", async () => {
    const r = await cli(["audit", "verify", "--audit-log", join(tmp(), "none.jsonl")]);
    expect(r.code).toBe(ExitCode.AUDIT);
    expect(r.stderr).toContain("EBPFCTL-E0503");
  });
});

describe("audit init", () => {
  test("prints the verification secret once; a second init is refused; key files are new and 0600", async () => {
    const path = makeLog(3);
    const r = await cli(["audit", "init", "--audit-log", path]);
    expect(r.code).toBe(0);
    const secret = /^ebpfctl-seal-1:4:[0-9a-f]{64}:[A-Za-z0-9_-]{43}$/m.exec(r.stdout)?.[0];
    expect(secret).toBeDefined();
    const { statSync, readFileSync } = await import("node:fs");
    for (const f of [`${path}.key`, `${path}.sign`]) expect(statSync(f).mode & 0o7777).toBe(0o600);
    // The secret's k0 is not on the host any more: the key file already holds a later key.
    expect(readFileSync(`${path}.key`, "latin1")).not.toContain(secret!.split(":")[2]!);
    const again = await cli(["audit", "init", "--audit-log", path]);
    expect(again.code).toBe(ExitCode.AUDIT);
    expect(again.stderr).toContain("EBPFCTL-E0507");
    expect(again.stdout).toBe("");
    const v = await cli(["audit", "verify", "--audit-log", path, "--key", secret!]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain("3 before the seal are hash-chained only");
    const bad = await cli(["audit", "verify", "--audit-log", path, "--key", "ebpfctl-seal-1:nope"]);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.stderr).toContain("EBPFCTL-E0506");
  });
});

describe("audit rotate", () => {
  test("rotates and the chain verifies across files", async () => {
    const path = makeLog(4);
    const r = await cli(["audit", "rotate", "--audit-log", path]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("audit.jsonl.1; chain continues at seq 5");
    const v = await cli(["audit", "verify", "--audit-log", path]);
    expect(v.code).toBe(0);
    expect(v.stdout).toContain("5 records in 2 files (audit.jsonl.1, audit.jsonl)");
  });
});

describe("audit show", () => {
  function sessionsLog(): string {
    const path = join(tmp(), "audit.jsonl");
    const a = AuditLog.open({ path, session: "aaaa000000000001" });
    a.append("session_start", { recipe: "execsnoop", user: "alice", uid: 1000 });
    a.append("budget_breach", { budget: "max_rate", limit: 10, observed: 50 });
    a.append("detached", { reason: "breach", events: 120, drops: 3 });
    a.append("session_end", { exit_code: 7, events: 120, drops: 3, duration_ms: 61_000 });
    a.close();
    const b = AuditLog.open({ path, session: "bbbb000000000002" });
    b.append("session_start", { recipe: "opensnoop", user: "bob", uid: 1001 });
    b.append("detached", { reason: "SIGINT", events: 9, drops: 0 });
    b.append("session_end", { exit_code: 0, events: 9, drops: 0, duration_ms: 2500 });
    b.close();
    rotate(path);
    return path;
  }

  test("table of sessions, across rotation", async () => {
    const path = sessionsLog();
    const r = await cli(["audit", "show", "--audit-log", path]);
    expect(r.code).toBe(0);
    // Borderless: a header and one line per session, no separator lines between rows.
    const lines = r.stdout.split("\n").filter(Boolean);
    expect(lines[0]).toMatch(/^TIME\s+USER\s+RECIPE\s+DURATION\s+EVENTS\s+DROPS\s+ENDED\s+SESSION$/);
    const rows = lines.slice(1);
    expect(rows.length).toBe(2);
    expect(rows[0]).toMatch(/^20\S+ \S+Z\s+alice\s+execsnoop\s+1m01s\s+120\s+3\s+breach\s+aaaa0000$/);
    expect(rows[1]).toMatch(/^20\S+ \S+Z\s+bob\s+opensnoop\s+2\.5s\s+9\s+0\s+SIGINT/);
  });

  test("filters and JSON", async () => {
    const path = sessionsLog();
    const show = async (...a: string[]) => {
      const r = await cli(["audit", "show", "--audit-log", path, "--output", "json", ...a]);
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout) as { session: string }[]).map((s) => s.session);
    };
    expect(await show()).toEqual(["aaaa000000000001", "bbbb000000000002"]);
    expect(await show("--user", "bob")).toEqual(["bbbb000000000002"]);
    expect(await show("--user", "1000")).toEqual(["aaaa000000000001"]);
    expect(await show("--recipe", "execsnoop")).toEqual(["aaaa000000000001"]);
    expect(await show("--session", "bbbb")).toEqual(["bbbb000000000002"]);
    expect(await show("--since", "1h")).toHaveLength(2);
    expect(await show("--until", "1h")).toHaveLength(0);
    expect(await show("--since", new Date(Date.now() + 60_000).toISOString())).toHaveLength(0);
    expect(await show("--until", "2100-01-01T00:00:00.000000000Z")).toHaveLength(2);
    const bad = await cli(["audit", "show", "--audit-log", path, "--since", "yesterday"]);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.stderr).toContain("--since");
  });

  test("a SIGKILLed session shows as ended without record; a live one as running", async () => {
    const path = join(tmp(), "audit.jsonl");
    const script = `
      import { AuditLog } from ${JSON.stringify(join(ROOT, "src/audit/audit-log.ts"))};
      const log = AuditLog.open({ path: process.env.LOG, session: "killed0000000001" });
      log.append("session_start", { recipe: "execsnoop", user: "carol", uid: 1002 });
      log.append("attached", { program: "handle_exec" });
      console.log("attached");
      setInterval(() => {}, 1000);`;
    const p = Bun.spawn([BUN, "-e", script], { env: { ...process.env, LOG: path }, stdout: "pipe" });
    const reader = p.stdout.getReader();
    await reader.read();
    const state = async () => (JSON.parse((await cli(["audit", "show", "--audit-log", path, "-o", "json"])).stdout) as { ended: string }[])[0]!.ended;
    expect(await state()).toBe("running");
    p.kill("SIGKILL");
    await p.exited;
    expect(await state()).toBe("ended without record");
  });
});

describe("audit tail", () => {
  test("-n prints the newest records, reading rotated files when needed", async () => {
    const path = makeLog(4);
    rotate(path);
    const r = await cli(["audit", "tail", "-n", "3", "--audit-log", path]);
    expect(r.code).toBe(0);
    const out = r.stdout.trim().split("\n");
    expect(out.map((l) => l.split(" ")[1])).toEqual(["#3", "#4", "#5"]);
    expect(out[2]).toContain("rotated file=audit.jsonl.1");
    const j = await cli(["audit", "tail", "-n", "2", "-o", "json", "--audit-log", path]);
    expect(j.stdout.trim().split("\n").map((l) => JSON.parse(l).seq)).toEqual([4, 5]);
  });

  test("-f follows appends and rotation until SIGTERM", async () => {
    const path = makeLog(3);
    const p = Bun.spawn([BUN, CLI_ENTRY, "audit", "tail", "-f", "-n", "1", "-o", "json", "--audit-log", path], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const reader = p.stdout.getReader();
    let buf = "";
    const waitSeq = async (seq: number) => {
      const deadline = Date.now() + 10_000;
      while (!buf.split("\n").some((l) => l.startsWith(`{"seq":${seq},`))) {
        if (Date.now() > deadline) throw new Error(`tail -f never printed seq ${seq}; got:\n${buf}`);
        const { value, done } = await reader.read();
        if (done) throw new Error(`tail -f exited; got:\n${buf}`);
        buf += new TextDecoder().decode(value);
      }
    };
    await waitSeq(3);
    const log = AuditLog.open({ path, session: "follow" });
    log.append("session_start", { recipe: "opensnoop" });
    await waitSeq(4);
    rotate(path);
    log.append("session_end", { exit_code: 0 });
    await waitSeq(6);
    log.close();
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
    expect(buf.trim().split("\n").map((l) => JSON.parse(l).seq)).toEqual([3, 4, 5, 6]);
  }, 20_000);
});

test("the real CLI entry runs audit verify", async () => {
  const path = makeLog(3);
  const r = await run([join(ROOT, "src/cli/main.ts"), "audit", "verify", "--audit-log", path]);
  const loads = !/Cannot find module|Could not resolve/.test(r.stderr);
  if (!prerequisite(loads && existsSync(join(ROOT, "build/embedded.ts")), `src/cli/main.ts does not load yet (run bash scripts/build): ${r.stderr.split("\n")[0]}`)) return;
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("audit chain intact: 3 records");
});
