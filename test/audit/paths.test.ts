// Hostile audit paths: a device, a FIFO, a directory, a symlink, someone else's file, a
// group-writable file, a symlinked sidecar. Each is refused with one line (EBPFCTL-E0504, exit 6)
// before anything is created beside it, and nothing is ever chmodded or chowned. Ground truth is
// lstat(2) of the paths before and after, taken by the test.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog } from "../../src/audit/audit-log";
import { EbpfctlError, ExitCode } from "../../src/errors";
import { CLI_ENTRY, makeLog, prerequisite, run, tmp } from "./helpers";

const isRoot = process.getuid?.() === 0;
const snapshot = (p: string) => {
  const st = lstatSync(p);
  return { mode: st.mode, uid: st.uid, gid: st.gid, size: st.size, ino: st.ino };
};

function refusedOpen(path: string): EbpfctlError {
  try {
    AuditLog.open({ path, session: "s" }).close();
  } catch (e) {
    return e as EbpfctlError;
  }
  throw new Error(`AuditLog.open(${path}) succeeded`);
}

function expectRefused(path: string, why: RegExp) {
  const e = refusedOpen(path);
  expect(e).toBeInstanceOf(EbpfctlError);
  expect(e.code).toBe("EBPFCTL-E0504");
  expect(e.exitCode).toBe(ExitCode.AUDIT);
  expect(e.message).toMatch(why);
  expect(e.message).not.toContain("\n");
}

describe("hostile audit log paths are refused, untouched, with nothing created beside them", () => {
  test("/dev/full: not chmodded, no /dev/full.lock or .head", () => {
    const before = snapshot("/dev/full");
    expectRefused("/dev/full", /not a regular file \(a character device\)/);
    expect(snapshot("/dev/full")).toEqual(before);
    expect(existsSync("/dev/full.lock")).toBe(false);
    expect(existsSync("/dev/full.head")).toBe(false);
  });

  test("a FIFO is refused at once (no blocking open), a directory too", () => {
    const dir = tmp();
    const fifo = join(dir, "audit.jsonl");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const t0 = performance.now();
    expectRefused(fifo, /a FIFO/);
    expect(performance.now() - t0).toBeLessThan(2000);
    const sub = join(dir, "d.jsonl");
    mkdirSync(sub);
    expectRefused(sub, /a directory/);
    expect(readdirSync(dir).sort()).toEqual(["audit.jsonl", "d.jsonl"]);
  });

  test("a symlink to a file is refused and its target untouched", () => {
    const dir = tmp();
    const target = join(dir, "target");
    writeFileSync(target, "precious\n", { mode: 0o644 });
    chmodSync(target, 0o644);
    const before = snapshot(target);
    symlinkSync(target, join(dir, "audit.jsonl"));
    expectRefused(join(dir, "audit.jsonl"), /symbolic link/);
    expect(snapshot(target)).toEqual(before);
    expect(readdirSync(dir).sort()).toEqual(["audit.jsonl", "target"]);
  });

  test("someone else's file is neither written, chmodded nor given sidecars", () => {
    if (!prerequisite(isRoot, "chown to another user needs root")) return;
    const dir = tmp();
    const path = join(dir, "audit.jsonl");
    writeFileSync(path, "");
    chownSync(path, 65534, 65534);
    chmodSync(path, 0o644);
    const before = snapshot(path);
    expectRefused(path, /owned by uid 65534/);
    expect(snapshot(path)).toEqual(before);
    expect(readdirSync(dir)).toEqual(["audit.jsonl"]);
  });

  test("our own file writable by others is refused, its mode left as it was", () => {
    const dir = tmp();
    const path = join(dir, "audit.jsonl");
    writeFileSync(path, "");
    chmodSync(path, 0o666);
    expectRefused(path, /writable by every user \(mode 0666\)/);
    expect(statSync(path).mode & 0o7777).toBe(0o666);
    chmodSync(path, 0o620);
    expectRefused(path, /writable by its group/);
    expect(readdirSync(dir)).toEqual(["audit.jsonl"]);
  });

  test("a sidecar that is a symlink is refused before anything is written", () => {
    const path = makeLog(3);
    const dir = join(path, "..");
    const victim = join(dir, "victim");
    writeFileSync(victim, "x", { mode: 0o644 });
    chmodSync(victim, 0o644);
    const before = snapshot(victim);
    const logBefore = snapshot(path);
    const { rmSync } = require("node:fs");
    rmSync(`${path}.head`);
    symlinkSync(victim, `${path}.head`);
    expectRefused(path, /audit\.jsonl\.head: refused: it is a symbolic link/);
    expect(snapshot(victim)).toEqual(before);
    expect(snapshot(path)).toEqual(logBefore);
  });

  test("new files are created 0600 whatever the umask (O_CREAT|O_EXCL)", () => {
    const dir = tmp();
    const path = join(dir, "audit.jsonl");
    const old = process.umask(0);
    try {
      const log = AuditLog.open({ path, session: "s" });
      log.append("session_start", {});
      log.close();
    } finally {
      process.umask(old);
    }
    for (const f of [path, `${path}.lock`, `${path}.head`]) expect(statSync(f).mode & 0o7777).toBe(0o600);
  });

  test("audit verify, show and tail refuse /dev/zero and a FIFO in one line, without hanging (exit 6)", async () => {
    const fifo = join(tmp(), "audit.jsonl");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    for (const path of ["/dev/zero", fifo]) {
      for (const cmd of ["verify", "show", "tail"]) {
        const t0 = performance.now();
        const r = await run([CLI_ENTRY, "audit", cmd, "--audit-log", path]);
        expect(performance.now() - t0).toBeLessThan(2000 + 1500); // + the CLI's own start-up on a loaded host
        expect(r.code).toBe(ExitCode.AUDIT);
        expect(r.stderr.trim().split("\n")[0]).toContain(`audit log ${path}: refused: it is not a regular file`);
      }
    }
  }, 30_000);

  test("the CLI says it in one line with exit 6", async () => {
    const before = snapshot("/dev/full");
    const r = await run([CLI_ENTRY, "audit", "rotate"], { EBPFCTL_AUDIT_LOG: "/dev/full" });
    expect(r.code).toBe(ExitCode.AUDIT);
    expect(r.stderr.trim().split("\n")[0]).toContain("audit log /dev/full: refused: it is not a regular file (a character device)");
    expect(snapshot("/dev/full")).toEqual(before);
    expect(existsSync("/dev/full.lock")).toBe(false);
  });
});
