// Fail closed on disk space, provably: on a tmpfs filled to every byte count around the threshold,
// either the session refuses before attach (exit 6, and the kernel's own syscall tracepoints show
// the process made no BPF_PROG_LOAD, BPF_LINK_CREATE, BPF_RAW_TRACEPOINT_OPEN or perf_event_open), or
// it runs and the log reads attached → detached → session_end → checkpoint completely.
//
// tmpfs accounts space in pages, so byte counts inside one page are the same state: the audit-API
// loop covers every byte within 24 bytes of each page boundary near the threshold (and every 97th
// byte between), the real-session loop every page count around it (at the boundary and one byte
// past it). EBPFCTL_SPACE_BIN runs the real-session loop against another build (e.g. the previous one).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, ftruncateSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, rmdirSync, statfsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuditLog, rotate } from "../../src/audit/audit-log";
import { chainFiles } from "../../src/audit/record";
import { verifyLog } from "../../src/audit/chain";
import { readRecords } from "../../src/audit/chain";
import { sealLog } from "../../src/audit/seal-init";
import { POST_ATTACH_RESERVE } from "../../src/audit/reserve";
import { AuditWriteError, ExitCode } from "../../src/errors";
import { fallocate } from "../../src/libbpf/fallocate";
import { EBPFCTL, assertBuilt } from "../helpers/trace";
import { CLI_ENTRY, prerequisite, run, tmp } from "./helpers";

const isRoot = process.getuid?.() === 0;
const PAGE = 4096;
const mounts: string[] = [];
const TRACEFS = "/sys/kernel/tracing";
const INSTANCE = join(TRACEFS, "instances", `ebpfctl-audit-space-${process.pid}`);

function mountTmpfs(size: string): string {
  const dir = tmp("ebpfctl-audit-space-");
  const r = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`mount: ${r.stderr}`);
  mounts.push(dir);
  return dir;
}
const free = (dir: string) => Number(statfsSync(dir).bavail) * Number(statfsSync(dir).bsize);

/** Empty the mount, then take `bytes` of it with a really allocated filler file. */
function fillTo(mnt: string, bytes: number): void {
  for (const f of readdirSync(mnt)) rmSync(join(mnt, f), { recursive: true, force: true });
  const fd = openSync(join(mnt, "filler"), "w");
  try {
    ftruncateSync(fd, 0);
    if (bytes > 0) fallocate(fd, 0, 0, bytes);
  } finally {
    closeSync(fd);
  }
}

afterAll(() => {
  if (existsSync(INSTANCE)) rmdirSync(INSTANCE);
  for (const m of mounts.reverse()) {
    spawnSync("umount", [m]);
    try {
      rmdirSync(m);
    } catch {
      // left for tmp cleaning
    }
  }
});

const POST_ATTACH = ["attached", "budget_breach", "detached", "core_btf", "session_end"] as const;

/** One session through the audit API; "refused" only with ENOSPC before the attach point. */
function apiSession(path: string): "ran" | "refused" {
  let log: AuditLog | null = null;
  try {
    sealLog(path);
    log = AuditLog.open({ path, session: "feedc0de00000001" });
    log.append("session_start", { recipe: "execsnoop", argv: ["trace", "execsnoop", "-d", "1"] }, { defer: true });
    log.reserveForAttach();
    log.append("loaded", { programs: [{ prog_id: 1, verified_insns: 99 }, { prog_id: 2, verified_insns: 80 }] }, { defer: true });
    log.flush();
  } catch (e) {
    log?.close();
    expect(e).toBeInstanceOf(AuditWriteError);
    expect((e as AuditWriteError).errno).toBe("ENOSPC");
    return "refused";
  }
  // From here a probe would be attached: nothing may fail.
  log.append("attached", { links: Array.from({ length: 8 }, (_, i) => ({ link_id: i, prog_id: 1, target: "syscalls/sys_enter_execve" })), capabilities: { effective: [] } });
  log.append("budget_breach", { budget: "max_rate", limit: 1000, observed: 5000 });
  log.append("detached", { reason: "breach", detail: "max_rate", detach_ms: 0.3, release_ms: 1.2 });
  log.append("core_btf", { result: "cached" });
  log.append("session_end", { exit_code: 7, events: 1, drops: 2, duration_ms: 1000, accounting: { produced: 3, delivered: 1, dropped_rate: 2, dropped_ringbuf: 0 } });
  log.close();
  return "ran";
}

describe("fail closed on space", () => {
  let ok = false;
  beforeAll(() => {
    ok = prerequisite(isRoot, "mounting tmpfs needs root");
  });

  test("audit API: every byte count around the threshold refuses before attach or completes", () => {
    if (!ok) return;
    const mnt = mountTmpfs("512k");
    const path = join(mnt, "log", "audit.jsonl");
    const total = free(mnt);
    // The threshold: the largest filler with which the session still runs (page granularity first).
    let lo = 0;
    let hi = total;
    while (hi - lo > PAGE) {
      const mid = Math.floor((lo + hi) / 2 / PAGE) * PAGE;
      fillTo(mnt, mid);
      if (apiSession(path) === "ran") lo = mid;
      else hi = mid;
    }
    const threshold = lo;
    expect(total - threshold).toBeGreaterThan(POST_ATTACH_RESERVE);
    const sizes = new Set<number>();
    for (let p = -4; p <= 4; p++) {
      const b = Math.floor(threshold / PAGE) * PAGE + p * PAGE;
      for (let d = -24; d <= 24; d++) sizes.add(b + d);
      for (let d = 25; d < PAGE - 24; d += 97) sizes.add(b + d);
    }
    const outcome = new Map<number, "ran" | "refused">();
    for (const size of [...sizes].sort((a, b) => a - b)) {
      fillTo(mnt, size);
      const o = apiSession(path);
      outcome.set(size, o);
      const events = readRecords([path]).map((r) => r.event);
      if (o === "ran") {
        // attached → … → session_end → checkpoint, complete, and the chain intact.
        expect(events.slice(-6)).toEqual([...POST_ATTACH, "checkpoint"]);
        expect(verifyLog(path).result.ok).toBe(true);
      } else {
        expect(events).not.toContain("attached");
      }
    }
    const ran = [...outcome.values()].filter((o) => o === "ran").length;
    console.log(`space (API): ${outcome.size} byte counts, ${ran} ran completely, ${outcome.size - ran} refused before attach; threshold filler ${threshold} of ${total} bytes`);
    expect(ran).toBeGreaterThan(0);
    expect(outcome.size - ran).toBeGreaterThan(0);
  }, 120_000);

  test("real sessions: dist/ebpfctl trace execsnoop -d 1 on a tmpfs filled around the threshold", async () => {
    if (!ok || !prerequisite(existsSync(join(TRACEFS, "events/syscalls/sys_enter_bpf")), "tracefs syscall tracepoints (ground truth for 'nothing loaded or attached')")) return;
    assertBuilt();
    mkdirSync(INSTANCE);
    for (const ev of ["sys_enter_bpf", "sys_enter_perf_event_open"]) writeFileSync(join(INSTANCE, "events/syscalls", ev, "enable"), "1");
    writeFileSync(join(INSTANCE, "options/event-fork"), "1");
    const mnt = mountTmpfs("1m");
    const total = free(mnt);
    const runDir = tmp();
    const results: { filler: number; code: number; kernelCalls: number }[] = [];
    const otherBuild = process.env.EBPFCTL_SPACE_BIN !== undefined;
    const once = async (filler: number) => {
      fillTo(mnt, filler);
      const path = join(mnt, "log", "audit.jsonl");
      const init = await run([CLI_ENTRY, "audit", "init", "--audit-log", path, "--output", "json"]);
      const secret = init.code === 0 ? (JSON.parse(init.stdout).secret as string) : null;
      writeFileSync(join(INSTANCE, "trace"), "");
      // The shell puts its own pid in set_event_pid, then becomes ebpfctl (same pid; threads follow by event-fork).
      const env = { ...process.env, EBPFCTL_AUDIT_LOG: path, EBPFCTL_RUN_DIR: join(runDir, "run"), EBPFCTL_CACHE_DIR: join(runDir, "cache"), EBPFCTL_SYSLOG_SOCKET: join(runDir, "no-syslog"), NO_COLOR: "1" };
      const p = Bun.spawn(["sh", "-c", `echo $$ > ${join(INSTANCE, "set_event_pid")} && exec "$0" trace execsnoop -d 1`, process.env.EBPFCTL_SPACE_BIN ?? EBPFCTL], { env, stdout: "ignore", stderr: "pipe" });
      const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
      const lines = readFileSync(join(INSTANCE, "trace"), "utf8").split("\n").filter((l) => l.includes(`-${p.pid} `) || l.includes(`(${p.pid})`));
      const kernelCalls = lines.filter((l) => /sys_perf_event_open\(/.test(l) || /sys_bpf\(cmd: (5|0x1c|0x11),/.test(l)).length;
      results.push({ filler, code, kernelCalls });
      const events = existsSync(path) ? readRecords([path]).map((r) => r.event) : [];
      if (code === 0) {
        const from = events.lastIndexOf("session_start");
        // (Another build, EBPFCTL_SPACE_BIN, may not seal: then the checkpoint is not expected.)
        const must = ["loaded", "attached", "detached", "session_end", ...(otherBuild ? [] : ["checkpoint"])];
        expect(events.slice(from)).toEqual(expect.arrayContaining(must));
        const after = events.slice(events.lastIndexOf("attached"));
        expect(after.filter((e) => must.includes(e))).toEqual(must.slice(1));
        expect(after.at(-1)).toBe(must.at(-1)!);
        const v = await run([CLI_ENTRY, "audit", "verify", "--audit-log", path, ...(otherBuild ? [] : ["--key", secret!])]);
        expect(v.code).toBe(0);
        expect(kernelCalls).toBeGreaterThan(0); // the ground truth sees attaches when there are some
      } else {
        expect(code).toBe(ExitCode.AUDIT);
        expect(stderr.trim().split("\n").filter((l) => l.includes("EBPFCTL-E")).length).toBe(1);
        expect(stderr).toContain("ENOSPC");
        expect(kernelCalls).toBe(0);
        expect(events).not.toContain("attached");
        expect(events).not.toContain("loaded");
      }
    };
    // From "plenty of room" down, one page at a time, at the page boundary and one byte past it,
    // until three page counts in a row refuse.
    let filler = Math.floor((total - POST_ATTACH_RESERVE - 8 * PAGE) / PAGE) * PAGE;
    let refusedInRow = 0;
    while (refusedInRow < 3 && filler < total) {
      await once(filler);
      const a = results.at(-1)!.code;
      await once(filler + 1);
      refusedInRow = a !== 0 && results.at(-1)!.code !== 0 ? refusedInRow + 1 : 0;
      filler += PAGE;
    }
    const ran = results.filter((r) => r.code === 0).length;
    console.log(`space (real sessions): ${results.length} runs, ${ran} ran completely, ${results.length - ran} refused with no BPF load/attach syscall; fillers ${results[0]!.filler}..${results.at(-1)!.filler} of ${total} bytes`);
    expect(ran).toBeGreaterThan(0);
    expect(results.length - ran).toBeGreaterThan(0);
  }, 240_000);

  test("reservations are per session: another writer filling the disk, or a rotation, never takes them; close gives them back", () => {
    if (!ok) return;
    const mnt = mountTmpfs("256k");
    const path = join(mnt, "audit.jsonl");
    const a = AuditLog.open({ path, session: "aaaa000000000001" });
    a.append("session_start", {});
    const freeBefore = free(mnt);
    a.reserveForAttach();
    // The reservation is real allocation: statfs sees it.
    expect(freeBefore - free(mnt)).toBeGreaterThanOrEqual(POST_ATTACH_RESERVE);
    // A second writer (another session) appends until the filesystem is full ...
    const b = AuditLog.open({ path, session: "bbbb000000000002" });
    let refusedB: unknown = null;
    for (let i = 0; i < 10_000 && refusedB === null; i++) {
      try {
        b.append("attached", { filler: "x".repeat(900), i });
      } catch (e) {
        refusedB = e;
      }
    }
    expect((refusedB as AuditWriteError).errno).toBe("ENOSPC");
    // ... and a rotation is tried on the way: the reservation moves to the new live file first; the
    // `rotated` record itself is nobody's reservation, so on a full disk it fails with ENOSPC.
    let rotation: unknown = null;
    try {
      rotate(path);
    } catch (e) {
      rotation = e;
    }
    expect((rotation as AuditWriteError).errno).toBe("ENOSPC");
    expect(free(mnt)).toBeLessThan(PAGE * 2);
    // Session A's records after its attach still all go in.
    a.append("attached", { links: [{ link_id: 1 }] });
    a.append("detached", { reason: "completed" });
    a.append("session_end", { exit_code: 0, accounting: { pad: "y".repeat(2000) } });
    const beforeClose = free(mnt);
    a.close();
    b.close();
    // What A did not use is given back.
    expect(free(mnt) - beforeClose).toBeGreaterThanOrEqual(POST_ATTACH_RESERVE - 8 * PAGE);
    const files = chainFiles(path);
    expect(files.length).toBe(2);
    expect(verifyLog(path).result.ok).toBe(true);
    expect(readRecords(files).filter((r) => r.session === "aaaa000000000001").map((r) => r.event)).toEqual(["session_start", "attached", "detached", "session_end"]);
  });

  test("EBPFCTL_AUDIT_LOG=/dev/full: trace exits 6 in one line; /dev/full is not chmodded, nothing created beside it", async () => {
    if (!ok) return;
    assertBuilt();
    const before = lstatSync("/dev/full");
    const runDir = tmp();
    const p = Bun.spawn([EBPFCTL, "trace", "execsnoop", "-d", "1"], { env: { ...process.env, EBPFCTL_AUDIT_LOG: "/dev/full", EBPFCTL_RUN_DIR: join(runDir, "run"), EBPFCTL_CACHE_DIR: join(runDir, "cache") }, stdout: "ignore", stderr: "pipe" });
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(ExitCode.AUDIT);
    expect(stderr.trim().split("\n")[0]).toContain("audit log /dev/full: refused: it is not a regular file (a character device)");
    expect(lstatSync("/dev/full").mode).toBe(before.mode);
    expect(existsSync("/dev/full.lock")).toBe(false);
    expect(existsSync("/dev/full.head")).toBe(false);
  });
});
