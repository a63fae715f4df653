// A real session's audit trail: the full sequence of records with true values (the prog and link
// ids are the ones the kernel reports while the session runs), the chain verifies, and when the
// log cannot be written nothing is attached (fail closed).
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { kernelTest } from "../kernel/helpers";
import { assertBuilt, attachedIds, ebpfctl, isolatedEnv, newProgramsNamed, tempDir, trace } from "../helpers/trace";
import { allProgIds } from "../../src/libbpf";

beforeAll(() => assertBuilt());

const readLog = (path: string) =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown> & { event: string; seq: number; session: string });

interface BpftoolLink {
  id: number;
  prog_id: number;
}

describe("a real session's audit records", () => {
  kernelTest("session_start → recipe_verified → compat → loaded → attached → detached → core_btf → session_end, with the kernel's ids", async () => {
    const env = isolatedEnv();
    const t = trace(["execsnoop", "-o", "json", "-d", "30"], env);
    const attached = await t.waitFor("attached");
    // While it runs: what the kernel has.
    const links = JSON.parse(Bun.spawnSync(["bpftool", "link", "show", "-j"]).stdout.toString()) as BpftoolLink[];
    const ours = attachedIds(attached);
    const kernelLinks = links.filter((l) => ours.links.includes(l.id));
    expect(kernelLinks.length).toBe(2);
    process.kill(t.proc.pid, "SIGINT");
    expect(await t.exited).toBe(0);

    const recs = readLog(env.EBPFCTL_AUDIT_LOG!);
    const session = recs[0]!.session;
    expect(recs.every((r) => r.session === session)).toBe(true);
    // core_btf: a first run on this boot caches the minimised kernel BTF once every probe is gone.
    expect(recs.map((r) => r.event)).toEqual(["session_start", "recipe_verified", "compat", "host_budget", "loaded", "attached", "detached", "core_btf", "session_end"]);
    const byEvent = Object.fromEntries(recs.map((r) => [r.event, r]));
    expect(byEvent.session_start).toMatchObject({ recipe: "execsnoop", uid: 0, euid: 0, pid: t.proc.pid });
    expect(typeof byEvent.session_start!.binary_sha256).toBe("string");
    expect(byEvent.recipe_verified).toMatchObject({ recipe: "execsnoop", version: "1.0.0" });
    expect(String(byEvent.recipe_verified!.object_sha256)).toMatch(/^[0-9a-f]{64}$/);
    expect(String(byEvent.recipe_verified!.key)).toMatch(/^[0-9A-F]{16}$/);
    expect(byEvent.compat).toMatchObject({ recipe: "execsnoop", profile: "full" });
    // loaded: the programs the kernel ran; attached: the kernel's own link ids and their programs.
    const loaded = byEvent.loaded!.programs as { prog_id: number; verified_insns: number; name: string }[];
    expect(loaded.map((p) => p.prog_id).sort()).toEqual(kernelLinks.map((l) => l.prog_id).sort());
    expect(loaded.every((p) => p.verified_insns > 0)).toBe(true);
    const recLinks = byEvent.attached!.links as { link_id: number; prog_id: number; target: string }[];
    expect(recLinks.map((l) => [l.link_id, l.prog_id]).sort()).toEqual(kernelLinks.map((l) => [l.id, l.prog_id]).sort());
    expect(recLinks.map((l) => l.target).sort()).toEqual(["tracepoint/syscalls/sys_enter_execve", "tracepoint/syscalls/sys_exit_execve"]);
    expect(byEvent.detached).toMatchObject({ reason: "SIGINT" });
    expect(byEvent.loaded).toMatchObject({ core_btf: "kernel" });
    expect(byEvent.core_btf).toMatchObject({ result: "cached" });
    expect(byEvent.session_end).toMatchObject({ exit_code: 0, reason: "SIGINT" });
    // The chain verifies.
    const v = await ebpfctl(["audit", "verify", "--audit-log", env.EBPFCTL_AUDIT_LOG!], env);
    expect(v.code).toBe(0);
  });

  kernelTest("a refused recipe is recorded with its reason and nothing else happens", async () => {
    const env = isolatedEnv();
    const r = await ebpfctl(["trace", "nosuchrecipe"], env);
    expect(r.code).toBe(3);
    const recs = readLog(env.EBPFCTL_AUDIT_LOG!);
    expect(recs.map((x) => x.event)).toEqual(["session_start", "refused", "session_end"]);
    expect(String(recs[1]!.reason)).toMatch(/unknown recipe "nosuchrecipe"/);
  });
});

describe("fail closed", () => {
  const mounts: string[] = [];
  afterAll(() => {
    for (const m of mounts) Bun.spawnSync(["umount", "-l", m]);
  });
  const tmpfs = (opts: string): string => {
    const dir = tempDir("ebpfctl-ro-");
    const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir]);
    if (r.exitCode !== 0) throw new Error(`mount failed: ${r.stderr}`);
    mounts.push(dir);
    return dir;
  };

  kernelTest("an audit log on a read-only filesystem: nothing attached, exit 6, clear error", async () => {
    const dir = tmpfs("size=64k,ro");
    const before = new Set(allProgIds());
    const r = await ebpfctl(["trace", "execsnoop", "-d", "2"], isolatedEnv({ EBPFCTL_AUDIT_LOG: join(dir, "audit.jsonl") }));
    expect(r.code).toBe(6);
    expect(r.stderr.split("\n")[0]).toMatch(/^error: .*(read-only|EROFS)/i);
    expect(r.stderr).not.toMatch(/attached/);
    expect(newProgramsNamed(before, ["tp_execve_enter", "tp_execve_exit"])).toEqual([]);
  });

  kernelTest("an audit log on a full filesystem: nothing attached, exit 6, clear error", async () => {
    const dir = tmpfs("size=16k");
    mkdirSync(join(dir, "log"));
    // Fill it.
    Bun.spawnSync(["dd", "if=/dev/zero", `of=${join(dir, "fill")}`, "bs=4k", "count=64"], { stderr: "ignore" });
    const before = new Set(allProgIds());
    const r = await ebpfctl(["trace", "execsnoop", "-d", "2"], isolatedEnv({ EBPFCTL_AUDIT_LOG: join(dir, "log", "audit.jsonl") }));
    expect(r.code).toBe(6);
    expect(r.stderr.split("\n")[0]).toMatch(/^error: .*(no space|ENOSPC)/i);
    expect(newProgramsNamed(before, ["tp_execve_enter", "tp_execve_exit"])).toEqual([]);
  });
});
