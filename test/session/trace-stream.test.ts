// The spine on the real kernel through the compiled binary: execsnoop and opensnoop see what the
// test does (with in-kernel filters), every probe is gone after every kind of ending, the binary
// runs with the repository hidden, and bad input is refused with one line and nothing attached.
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { kernelTest } from "../kernel/helpers";
import { newProgramsNamed, assertBuilt, attachedIds, ebpfctl, EBPFCTL, isolatedEnv, tempDir, trace, waitGone } from "../helpers/trace";
import { allProgIds } from "../../src/libbpf";

/** Program names of the recipes these tests run (bpftool shows the first 15 bytes). */
const RECIPE_PROGRAMS = ["tp_execve_enter", "tp_execve_exit", "tp_openat_exit", "tp_open_exit"];

beforeAll(() => assertBuilt());

const uniqueName = (prefix: string) => `${prefix}${randomBytes(4).toString("hex")}`; // ≤ 15 bytes: a whole comm

/** A copy of /bin/true (or another binary) under a unique name, so its comm is unique. */
function uniqueBinary(src = "/bin/true", prefix = "ebt"): { path: string; comm: string } {
  const comm = uniqueName(prefix);
  const dir = tempDir();
  const path = join(dir, comm);
  copyFileSync(src, path);
  chmodSync(path, 0o755);
  return { path, comm };
}

interface ExecEvent {
  pid: number;
  ppid: number;
  comm: string;
  filename: string;
  args: string[];
  ret: number;
  time: string;
}

describe("execsnoop", () => {
  kernelTest("reports pid, comm, filename and args of an exec; -c keeps only that comm", async () => {
    const bin = uniqueBinary();
    const arg = `arg-${randomBytes(6).toString("hex")}`;
    const t = trace(["execsnoop", "-o", "json", "-c", bin.comm, "-d", "3"]);
    await t.waitFor("attached");
    const execAt = Date.now();
    const child = Bun.spawn([bin.path, arg, "second arg"]);
    await child.exited;
    Bun.spawnSync(["/bin/true", "noise"]); // another comm: must be filtered in the kernel
    expect(await t.exited).toBe(0);
    const events = t.events<ExecEvent>();
    expect(events.length).toBe(1);
    const e = events[0]!;
    expect(e.pid).toBe(child.pid);
    expect(e.ppid).toBe(process.pid);
    expect(e.comm).toBe(bin.comm);
    expect(e.filename).toBe(bin.path);
    expect(e.args).toEqual([bin.path, arg, "second arg"]);
    expect(e.ret).toBe(0);
    // The kernel's timestamp placed on the wall clock: within a second of when we exec'd.
    expect(Math.abs(Date.parse(e.time) - execAt)).toBeLessThan(1000);
  });

  kernelTest("-p keeps only that process", async () => {
    const bin = uniqueBinary();
    // A shell that waits for a line on stdin, then execs: its pid is known before the exec.
    const sh = Bun.spawn(["/bin/sh", "-c", `read x; exec ${bin.path} from-target`], { stdin: "pipe" });
    const t = trace(["execsnoop", "-o", "json", "-p", String(sh.pid), "-d", "3"]);
    await t.waitFor("attached");
    const other = Bun.spawn([bin.path, "from-other"]);
    await other.exited;
    sh.stdin.write("go\n");
    sh.stdin.end();
    await sh.exited;
    expect(await t.exited).toBe(0);
    const events = t.events<ExecEvent>();
    expect(events.map((e) => e.pid)).toEqual([sh.pid]);
    expect(events[0]!.args).toEqual([bin.path, "from-target"]);
  });

  kernelTest("a failed exec carries its errno", async () => {
    const bin = uniqueBinary();
    writeFileSync(bin.path, "not an executable\n");
    chmodSync(bin.path, 0o755);
    const sh = Bun.spawn(["/bin/sh", "-c", `read x; exec ${bin.path}`], { stdin: "pipe", stderr: "ignore" });
    const t = trace(["execsnoop", "-o", "json", "-p", String(sh.pid), "-d", "2"]);
    await t.waitFor("attached");
    sh.stdin.write("go\n");
    sh.stdin.end();
    await sh.exited;
    expect(await t.exited).toBe(0);
    const e = t.events<ExecEvent & { errno?: string }>().find((x) => x.filename === bin.path);
    expect(e?.ret).toBe(-8);
    expect(e?.errno).toBe("ENOEXEC");
  });
});

describe("opensnoop", () => {
  kernelTest("reports an existing and a missing path, the missing one with ENOENT", async () => {
    const bin = uniqueBinary("/bin/cat", "ebc");
    const dir = tempDir();
    const existing = join(dir, `exists-${randomBytes(4).toString("hex")}`);
    const missing = join(dir, `missing-${randomBytes(4).toString("hex")}`);
    writeFileSync(existing, "x");
    const t = trace(["opensnoop", "-o", "json", "-c", bin.comm, "-d", "3"]);
    await t.waitFor("attached");
    await Bun.spawn([bin.path, existing, missing], { stdout: "ignore", stderr: "ignore" }).exited;
    expect(await t.exited).toBe(0);
    const events = t.events<{ path: string; ret: number; errno?: string; comm: string; flags: number }>();
    expect(events.every((e) => e.comm === bin.comm)).toBe(true);
    const ok = events.find((e) => e.path === existing);
    const bad = events.find((e) => e.path === missing);
    expect(ok?.ret).toBeGreaterThanOrEqual(0);
    expect(ok?.errno).toBeUndefined();
    expect(bad?.ret).toBe(-2);
    expect(bad?.errno).toBe("ENOENT");
  });
});

describe("detach is guaranteed", () => {
  const endings: [string, (pid: number) => void][] = [
    ["a normal end (-d)", () => {}],
    ["SIGINT", (pid) => process.kill(pid, "SIGINT")],
    ["SIGTERM", (pid) => process.kill(pid, "SIGTERM")],
    ["SIGHUP", (pid) => process.kill(pid, "SIGHUP")],
    ["SIGKILL", (pid) => process.kill(pid, "SIGKILL")],
  ];
  for (const [name, end] of endings) {
    kernelTest(`no program or link of the session remains after ${name}`, async () => {
      const t = trace(["execsnoop", "-o", "json", "-d", name.startsWith("a normal") ? "1" : "30"]);
      const ids = attachedIds(await t.waitFor("attached"));
      expect(ids.progs.length).toBe(2);
      expect(ids.links.length).toBe(2);
      end(t.proc.pid);
      const code = await t.exited;
      if (name === "SIGKILL") expect(code).toBe(137);
      else {
        expect(code).toBe(0);
        const endRec = t.records().find((r) => r.kind === "end");
        expect(endRec?.reason).toBe(name.startsWith("a normal") ? "completed" : name);
      }
      const left = await waitGone(ids.progs, ids.links);
      expect(left).toEqual({ progs: [], links: [] });
    });
  }
});

kernelTest("the compiled binary traces from / with the repository hidden", async () => {
  const dir = tempDir();
  const bin = join(dir, "ebpfctl");
  copyFileSync(EBPFCTL, bin);
  chmodSync(bin, 0o755);
  const marker = uniqueBinary();
  // A private mount namespace where /work is an empty tmpfs: nothing from the repo is reachable.
  const script = `mount -t tmpfs none /work && cd / && (sleep 1.5; ${marker.path} ok) & exec ${bin} trace execsnoop -o json -c ${marker.comm} -d 3`;
  const env = isolatedEnv();
  const r = Bun.spawnSync(["unshare", "-m", "--propagation", "private", "sh", "-c", script], { env, cwd: "/" });
  expect(r.exitCode).toBe(0);
  const events = r.stdout.toString().split("\n").filter(Boolean).map((l) => JSON.parse(l));
  expect(events.map((e: { comm: string }) => e.comm)).toEqual([marker.comm]);
}, 20_000);

kernelTest("the compiled binary ignores .env and bunfig.toml in the current directory", async () => {
  // Bun's standalone executables load both by default: a .env could redirect a root tool's audit
  // log or trust store. The build turns that off.
  const dir = tempDir();
  const hijack = join(dir, "hijacked.jsonl");
  writeFileSync(join(dir, ".env"), `EBPFCTL_AUDIT_LOG=${hijack}\nEBPFCTL_CONFIG_DIR=${dir}\n`);
  writeFileSync(join(dir, "bunfig.toml"), `preload = ["${join(dir, "preload.ts")}"]\n`);
  writeFileSync(join(dir, "preload.ts"), `require("node:fs").writeFileSync(${JSON.stringify(join(dir, "preloaded"))}, "x");\n`);
  const env = isolatedEnv();
  const r = Bun.spawnSync([EBPFCTL, "trace", "execsnoop", "-o", "json", "-d", "0.2"], { env, cwd: dir });
  expect(r.exitCode).toBe(0);
  expect(existsSync(hijack)).toBe(false);
  expect(existsSync(join(dir, "preloaded"))).toBe(false);
  expect(readFileSync(env.EBPFCTL_AUDIT_LOG!, "utf8")).toContain('"event":"session_end"');
}, 20_000);

test("--help piped: every command listed, no colour codes; each command loads on its own", async () => {
  const env = isolatedEnv();
  delete env.NO_COLOR; // not a terminal is reason enough
  const help = await ebpfctl(["--help"], env);
  expect(help.code).toBe(0);
  expect(help.stdout).not.toContain("\x1b[");
  for (const c of ["trace", "list", "doctor", "audit verify", "keys generate", "recipe sign", "kill-switch on", "ps", "stop", "bundle", "verify"]) expect(help.stdout).toContain(`ebpfctl ${c}`);
  const traceHelp = await ebpfctl(["trace", "--help"], env);
  expect(traceHelp.code).toBe(0);
  expect(traceHelp.stdout).toContain("--nice");
  const typo = await ebpfctl(["tracee"], env);
  // A usage error (exit 2), one line naming the token with the nearest command, not clipanion's dump.
  expect(typo.code).toBe(2);
  expect(typo.stderr).toContain("unknown command tracee; did you mean trace?");
  expect(typo.stdout).toBe("");
});

describe("bad input: one clear line, non-zero exit, nothing attached", () => {
  const cases: [string, string[], number, RegExp][] = [
    ["an unknown recipe", ["trace", "nosuchrecipe"], 3, /unknown recipe "nosuchrecipe"/],
    ["a bad pid", ["trace", "execsnoop", "-p", "abc"], 2, /--pid: expected a process id, got "abc"/],
    ["a bad duration", ["trace", "execsnoop", "-d", "soon"], 2, /-d\/--duration: expected a duration/],
    ["a too-long comm", ["trace", "execsnoop", "-c", "x".repeat(20)], 2, /--comm: expected a command name of 1 to 15 bytes/],
    ["an unsupported parameter", ["trace", "execsnoop", "--port", "80"], 2, /execsnoop does not support --port/],
    ["a bad output format", ["trace", "execsnoop", "-o", "xml"], 2, /--output: expected table, json or openmetrics/],
    ["a bad nice value", ["trace", "execsnoop", "--nice", "30"], 2, /--nice: expected an integer from 0 to 19, got "30"/],
  ];
  for (const [name, args, code, message] of cases) {
    kernelTest(name, async () => {
      const before = new Set(allProgIds());
      const r = await ebpfctl(args);
      expect(r.code).toBe(code);
      const lines = r.stderr.trim().split("\n");
      expect(lines[0]).toMatch(/^error: /);
      expect(lines[0]).toMatch(message);
      expect(lines.length).toBeLessThanOrEqual(2); // the error line and its hint
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(newProgramsNamed(before, RECIPE_PROGRAMS)).toEqual([]);
    });
  }

  kernelTest("a malformed manifest signed by a trusted key", async () => {
    const { ConfigRoot, newKey } = await import("../recipe/helpers");
    const { readFileSync } = await import("node:fs");
    const root = new ConfigRoot();
    try {
      const key = newKey();
      root.trust(key);
      const object = new Uint8Array(readFileSync(join(import.meta.dir, "../../build/bpf/execsnoop.bpf.o")));
      const manifest = readFileSync(join(import.meta.dir, "../../recipes/execsnoop.yaml"), "utf8").replace("kind: stream", "kind: stream\nspeed: fast");
      root.installRecipe("execsnoop", object, key, { manifest });
      const before = new Set(allProgIds());
      const r = await ebpfctl(["trace", "--recipe-file", join(root.dir, "recipes/execsnoop.yaml")], isolatedEnv({ EBPFCTL_CONFIG_DIR: root.dir }));
      expect(r.code).toBe(3);
      expect(r.stderr.split("\n")[0]).toMatch(/^error: .*execsnoop\.yaml: \(top level\): unknown key "speed"/);
      expect(newProgramsNamed(before, RECIPE_PROGRAMS)).toEqual([]);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      root.cleanup();
    }
  });
});

