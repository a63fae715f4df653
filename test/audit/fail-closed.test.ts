// Fail closed at the AuditLog level, on real filesystems: a read-only tmpfs, a full tmpfs, and a
// directory the caller may not write.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog } from "../../src/audit/audit-log";
import { verifyLog } from "../../src/audit/chain";
import { AuditWriteError, ExitCode } from "../../src/errors";
import { BUN, ROOT, prerequisite, tmp } from "./helpers";

const isRoot = process.getuid?.() === 0;
const mounts: string[] = [];

function mountTmpfs(opts: string): string {
  const dir = tmp("ebpfctl-audit-mnt-");
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", opts, "tmpfs", dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mount -o ${opts}: ${r.stderr}`);
  mounts.push(dir);
  return dir;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error("expected a throw");
}

afterAll(() => {
  for (const m of mounts.reverse()) {
    spawnSync("umount", [m]);
    try {
      rmdirSync(m);
    } catch {
      // left for tmp cleaning
    }
  }
});

describe("fail closed", () => {
  let canMount = false;
  beforeAll(() => {
    canMount = prerequisite(isRoot, "mounting tmpfs needs root");
  });

  test("read-only filesystem: open throws AuditWriteError (EROFS), exit AUDIT", () => {
    if (!canMount) return;
    const ro = mountTmpfs("size=64k,ro");
    const e = thrown(() => AuditLog.open({ path: join(ro, "log", "audit.jsonl"), session: "s" }));
    expect(e).toBeInstanceOf(AuditWriteError);
    const err = e as AuditWriteError;
    expect(err.exitCode).toBe(ExitCode.AUDIT);
    expect(err.errno).toBe("EROFS");
    expect(err.message).toContain("read-only file system");
    expect(err.message).not.toContain("\n");
  });

  test("full filesystem: append throws AuditWriteError (ENOSPC) and leaves no partial record", () => {
    if (!canMount) return;
    const full = mountTmpfs("size=16k,mode=0700");
    const path = join(full, "audit.jsonl");
    const log = AuditLog.open({ path, session: "s" });
    log.append("session_start", { recipe: "execsnoop" });
    // Fill every remaining block.
    spawnSync("dd", ["if=/dev/zero", `of=${join(full, "filler")}`, "bs=1k", "count=64"], { stdio: "ignore" });
    let err: unknown = null;
    let ok = 1;
    for (let i = 0; i < 100 && err === null; i++) {
      try {
        log.append("attached", { program: "x".repeat(200), i });
        ok++;
      } catch (e) {
        err = e;
      }
    }
    log.close();
    expect(err).toBeInstanceOf(AuditWriteError);
    expect((err as AuditWriteError).errno).toBe("ENOSPC");
    expect((err as AuditWriteError).exitCode).toBe(ExitCode.AUDIT);
    // Every record that append() returned is there, whole; the failed one left nothing behind.
    expect(readFileSync(path, "utf8").endsWith("\n")).toBe(true);
    expect(verifyLog(path).result).toEqual({ ok: true, records: ok });
  });

  test("full filesystem: open of a new log throws", () => {
    if (!canMount) return;
    const full = mountTmpfs("size=16k");
    spawnSync("dd", ["if=/dev/zero", `of=${join(full, "filler")}`, "bs=1k", "count=64"], { stdio: "ignore" });
    const e = thrown(() => AuditLog.open({ path: join(full, "audit.jsonl"), session: "s" }));
    expect(e).toBeInstanceOf(AuditWriteError);
    expect((e as AuditWriteError).errno).toBe("ENOSPC");
  });

  test("permission denied: an unprivileged process cannot open root's log directory (EACCES)", () => {
    if (!prerequisite(isRoot, "dropping to uid 65534 needs root")) return;
    const dir = tmp();
    mkdirSync(join(dir, "log"), { mode: 0o700 });
    writeFileSync(join(dir, "t.ts"), `
      import { AuditLog } from ${JSON.stringify(join(ROOT, "src/audit/audit-log.ts"))};
      try { AuditLog.open({ path: ${JSON.stringify(join(dir, "log", "audit.jsonl"))}, session: "s" }); console.log("opened"); }
      catch (e) { console.log(e.name, e.errno, e.exitCode); }`);
    spawnSync("chmod", ["755", dir, join(dir, "t.ts")]);
    const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", BUN, join(dir, "t.ts")], { encoding: "utf8", env: { ...process.env, BUN_INSTALL_CACHE_DIR: "/tmp" } });
    expect(r.stdout.trim()).toBe("AuditWriteError EACCES 6");
  });
});
