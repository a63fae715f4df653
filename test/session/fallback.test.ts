// Run-time fallback, on the real kernel, through the compiled binary: a recipe signed by a test
// key whose probe's alternatives fail in each way a kernel refuses one (test/fixtures/fallback.bpf.c):
// rejected by the verifier, an attach target that does not exist, or both alternatives rejected.
// Ground truth: the getppid() calls a child process makes, and the kernel's own program list.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigRoot, newKey, type TestKey } from "../recipe/helpers";
import { ebpfctl, isolatedEnv, newProgramsNamed, repoRoot, trace } from "../helpers/trace";

const progIds = () => new Set((JSON.parse(Bun.spawnSync(["bpftool", "prog", "show", "-j"]).stdout.toString() || "[]") as { id: number }[]).map((p) => p.id));
const FIXTURE_PROGRAMS = ["rejected_first", "rejected_second", "missing_target", "working", "verbose_rejected", "enormous_rejected"];
import { kernelTest } from "../kernel/helpers";

const SRC = join(repoRoot, "test/fixtures/fallback.bpf.c");
const OBJ = join(repoRoot, "build/fixtures/fallback.bpf.o");
const STORM = join(repoRoot, "build/fixtures/syscall_storm");

function buildFixture(): void {
  if (existsSync(OBJ) && Bun.file(OBJ).lastModified >= Bun.file(SRC).lastModified) return;
  Bun.spawnSync(["mkdir", "-p", join(repoRoot, "build/fixtures")]);
  const r = Bun.spawnSync(["clang", "-g", "-O2", "-target", "bpf", "-mcpu=v3", "-D__TARGET_ARCH_x86", `-I${join(repoRoot, "bpf")}`, "-Wall", "-Werror", "-c", SRC, "-o", OBJ], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`clang failed on ${SRC}: ${r.stderr.toString()}`);
}

/** A stream recipe whose one probe has these alternatives, in this order. */
function manifest(name: string, alternatives: { program: string; target: string }[]): string {
  return `name: ${name}
version: 1.0.0
summary: Fallback fixture - getppid() calls, through whichever alternative the kernel takes
kind: stream
object:
  file: fallback.bpf.o
event:
  struct: fallback_event
  ringbuf: events
probes:
  - name: getppid
    essential: true
    alternatives:
${alternatives.map((a, i) => `      - { program: ${a.program}, type: tracepoint, target: ${a.target}${i ? `, loses: "nothing (fixture)"` : ""} }`).join("\n")}
parameters:
  pid: { rodata: targ_tgid }
columns:
  - { field: pid, header: PID }
  - { field: variant, header: VARIANT }
  - { field: comm, header: COMM }
budgets:
  defaults: { max_duration: 1h, max_rate: 5k, max_memory: 64MiB, max_cpu: 25, max_output: 1GiB }
  ceilings: { max_duration: 24h, max_rate: 50k, max_memory: 256MiB, max_cpu: 50, max_output: 16GiB }
  on_rate_breach: drop
`;
}

const GETPPID = "syscalls/sys_enter_getppid";
const RECIPES = {
  rejectedThenWorking: [{ program: "rejected_first", target: GETPPID }, { program: "working", target: GETPPID }],
  bothRejected: [{ program: "rejected_first", target: GETPPID }, { program: "rejected_second", target: GETPPID }],
  missingThenWorking: [{ program: "missing_target", target: "syscalls/sys_enter_ebpfctl_no_such_call" }, { program: "working", target: GETPPID }],
  verboseThenWorking: [{ program: "verbose_rejected", target: GETPPID }, { program: "working", target: GETPPID }],
  enormousThenWorking: [{ program: "enormous_rejected", target: GETPPID }, { program: "working", target: GETPPID }],
};

function auditRecords(env: Record<string, string>): { event: string; [k: string]: unknown }[] {
  return readFileSync(env.EBPFCTL_AUDIT_LOG!, "utf8").trim().split("\n").map((l) => JSON.parse(l));
}

/** Starts `trace`, waits until attached, makes N getppid() calls in a child, returns the child's pid and the trace. */
async function traceStorm(recipeFile: string, env: Record<string, string>, calls = 25) {
  const t = trace(["--recipe-file", recipeFile, "-o", "json", "-d", "2"], env);
  await t.waitFor("attached");
  const child = Bun.spawn([STORM, String(calls)], { stdout: "pipe" });
  await child.exited;
  const code = await t.exited;
  return { t, code, childPid: child.pid };
}

describe("run-time fallback when the kernel refuses an alternative", () => {
  let root: ConfigRoot;
  let key: TestKey;
  const files: Record<string, string> = {};
  beforeAll(() => {
    root = new ConfigRoot();
    key = newKey("fallback fixture");
    root.trust(key);
    buildFixture();
    const object = new Uint8Array(readFileSync(OBJ));
    for (const [name, alts] of Object.entries(RECIPES)) {
      const recipe = `fallback-${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
      root.installRecipe(recipe, object, key, { manifest: manifest(recipe, alts) });
      files[name] = join(root.dir, "recipes", `${recipe}.yaml`);
    }
  });
  afterAll(() => root.cleanup());

  kernelTest("verifier rejects the first: the session traces through the second and says so everywhere; the next run goes straight to it", async () => {
    const env = isolatedEnv({ EBPFCTL_CONFIG_DIR: root.dir });
    const { t, code, childPid } = await traceStorm(files.rejectedThenWorking!, env);
    expect(code).toBe(0);
    // Ground truth: every getppid() of the child, through the working variant.
    const mine = t.events<{ pid: number; variant: number }>().filter((e) => e.pid === childPid);
    expect(mine.length).toBe(25);
    expect(mine.every((e) => e.variant === 4)).toBe(true);
    // Lifecycle: a fallback record naming the verifier's line and the saved log, then attached, then end.
    const recs = t.records();
    const fb = recs.find((r) => r.kind === "fallback")!;
    expect(fb).toBeDefined();
    expect(fb.program).toBe("rejected_first");
    expect(fb.stage).toBe("load");
    expect(String(fb.reason)).toMatch(/invalid access to map value/);
    expect(existsSync(String(fb.log))).toBe(true);
    expect(readFileSync(String(fb.log), "utf8")).toMatch(/processed \d+ insns/);
    const attached = recs.find((r) => r.kind === "attached")!;
    expect(attached.probes).toEqual(["getppid:tracepoint"]);
    expect((attached.links as { program: string }[]).map((l) => l.program)).toEqual(["working"]);
    const end = recs.find((r) => r.kind === "end")!;
    expect((end.fallbacks as { program: string }[]).map((f) => f.program)).toEqual(["rejected_first"]);
    // Audit: loaded fails → fallback → revised compat (reduced) → loaded (working) → attached with the fallback named.
    const audit = auditRecords(env);
    const kinds = audit.map((r) => r.event);
    expect(kinds.indexOf("fallback")).toBeGreaterThan(kinds.indexOf("compat"));
    const revised = audit.find((r) => r.event === "compat" && r.revised)!;
    expect(revised.profile).toBe("reduced");
    expect((revised.reasons as string[]).join(" ")).toMatch(/rejected by the verifier on this kernel image/);
    const loaded = audit.filter((r) => r.event === "loaded");
    expect(loaded.map((l) => (l.programs as { name: string }[]).map((p) => p.name))).toEqual([["working"]]);
    expect(String((audit.find((r) => r.event === "attached")!.fallbacks as string[])[0])).toMatch(/rejected_first.*rejected by the verifier/);

    // Second run, same kernel image and cache: no fallback, the rejected program is never loaded.
    const second = await traceStorm(files.rejectedThenWorking!, { ...env, EBPFCTL_AUDIT_LOG: `${env.EBPFCTL_AUDIT_LOG}.2` }, 10);
    expect(second.code).toBe(0);
    expect(second.t.events<{ pid: number }>().filter((e) => e.pid === second.childPid).length).toBe(10);
    expect(second.t.records().some((r) => r.kind === "fallback")).toBe(false);
    const compat2 = second.t.records().find((r) => r.kind === "compat")!;
    expect(compat2.profile).toBe("reduced");
    expect((compat2.reasons as string[]).join(" ")).toMatch(/rejected by the verifier on this kernel image/);
    const audit2 = readFileSync(`${env.EBPFCTL_AUDIT_LOG}.2`, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    const loaded2 = audit2.filter((r) => r.event === "loaded");
    expect(loaded2.map((l) => (l.programs as { name: string }[]).map((p) => p.name))).toEqual([["working"]]);
    // Nothing was handed to the verifier for rejected_first: no new verifier log was saved either.
    expect(second.t.stderr).not.toMatch(/rejected_first.*log/);
  }, 40_000);

  kernelTest("both alternatives rejected: exit 5, each named with its one-line reason; nothing stays loaded", async () => {
    const env = isolatedEnv({ EBPFCTL_CONFIG_DIR: root.dir });
    const before = progIds();
    const r = await ebpfctl(["trace", "--recipe-file", files.bothRejected!, "-d", "1"], env);
    expect(r.code).toBe(5);
    expect(newProgramsNamed(before, FIXTURE_PROGRAMS)).toEqual([]);
    const first = r.stderr.split("\n").find((l) => l.startsWith("error:"))!;
    expect(first).toMatch(/no alternative of probe getppid works/);
    expect(first).toMatch(/rejected_first\): rejected by the verifier: .*invalid access to map value/);
    expect(first).toMatch(/rejected_second\): rejected by the verifier: .*invalid access to map value/);
    const audit = auditRecords(env);
    expect(audit.filter((x) => x.event === "fallback").length).toBe(1);
    expect(audit.at(-1)!.event).toBe("session_end");
    expect(audit.some((x) => x.event === "attached")).toBe(false);
  }, 30_000);

  kernelTest("the first's attach target is missing: it falls back at attach, and the links of the failed attempt are gone", async () => {
    const env = isolatedEnv({ EBPFCTL_CONFIG_DIR: root.dir });
    const before = progIds();
    const { t, code, childPid } = await traceStorm(files.missingThenWorking!, env, 12);
    expect(code).toBe(0);
    expect(newProgramsNamed(before, FIXTURE_PROGRAMS)).toEqual([]);
    expect(t.events<{ pid: number; variant: number }>().filter((e) => e.pid === childPid && e.variant === 4).length).toBe(12);
    const fb = t.records().find((r) => r.kind === "fallback")!;
    expect(fb.stage).toBe("attach");
    expect(fb.program).toBe("missing_target");
    expect(String(fb.reason)).toMatch(/could not attach missing_target/);
    const audit = auditRecords(env);
    // The first attempt loaded (and was released), the second loaded and attached.
    const loaded = audit.filter((x) => x.event === "loaded").map((l) => (l.programs as { name: string }[]).map((p) => p.name));
    expect(loaded).toEqual([["missing_target"], ["working"]]);
    expect((audit.find((x) => x.event === "attached")!.links as { program: string }[]).map((l) => l.program)).toEqual(["working"]);
  }, 30_000);

  kernelTest("list never calls a recipe full whose preferred variant this kernel's verifier refuses (loaded once, then remembered)", async () => {
    const env = isolatedEnv({ EBPFCTL_CONFIG_DIR: root.dir });
    const rows = async () => (await ebpfctl(["list", "--output", "json"], env)).stdout.trim().split("\n").map((l) => JSON.parse(l) as { name: string; profile: string; reasons: string[]; fallbacks: string[] });
    const first = (await rows()).find((r) => r.name === "fallback-rejected-then-working")!;
    expect(first.profile).toBe("reduced");
    expect(first.reasons.join(" ")).toMatch(/rejected_first.*rejected by the verifier on this kernel image.*invalid access to map value/);
    expect(first.fallbacks).toEqual(["getppid→tracepoint (working)"]);
    expect((await rows()).find((r) => r.name === "fallback-both-rejected")!.profile).toBe("disabled");
    // The verdicts are remembered for this kernel image: a second list loads nothing.
    const before = progIds();
    const again = (await rows()).find((r) => r.name === "fallback-rejected-then-working")!;
    expect(again.profile).toBe("reduced");
    expect(newProgramsNamed(before, FIXTURE_PROGRAMS)).toEqual([]);
  }, 30_000);

  kernelTest("doctor loads every supported variant once per kernel image, then reads the verdicts", async () => {
    const env = isolatedEnv();
    const run = async (args: string[] = []) => JSON.parse((await ebpfctl(["doctor", "--output", "json", ...args], env)).stdout) as { loadCheck: { ran: string; loaded: string[]; file: string }; recipes: { recipe: string; profile: string }[] };
    const first = await run();
    expect(first.loadCheck.ran).toBe("loaded");
    expect(first.loadCheck.loaded.length).toBe(first.recipes.length);
    // Ground truth for "accepted": the kernel's verdicts the gate sees on the same kernel.
    const verify = JSON.parse((await ebpfctl(["verify", "--output", "json"], env)).stdout) as { recipes: { object_sha256: string; probes: { alternatives: { program: string; status: string }[] }[] }[] };
    const remembered = JSON.parse(readFileSync(first.loadCheck.file, "utf8")) as { entries: Record<string, { status: string }> };
    for (const r of verify.recipes)
      for (const a of r.probes.flatMap((p) => p.alternatives).filter((x) => x.status !== "unsupported"))
        expect(remembered.entries[`${r.object_sha256}:${a.program}`]?.status).toBe(a.status);
    const second = await run();
    expect(second.loadCheck.ran).toBe("cache");
    expect(second.loadCheck.loaded).toEqual([]);
    expect((await run(["--refresh"])).loadCheck.ran).toBe("loaded");
  }, 60_000);

  kernelTest("a verifier log too large for its buffer is retried once with a larger buffer, then truncated, and the truncation is said", async () => {
    const env = isolatedEnv({ EBPFCTL_CONFIG_DIR: root.dir });
    // ~1.1 MiB of log: over the 1 MiB buffer, so the retry (8 MiB) holds all of it, verdict included.
    const verbose = await traceStorm(files.verboseThenWorking!, env, 5);
    expect(verbose.code).toBe(0);
    const fb = verbose.t.records().find((r) => r.kind === "fallback")!;
    expect(String(fb.reason)).toMatch(/^invalid access to map value, value_size=8 off=16 size=8/);
    expect(String(fb.reason)).not.toMatch(/truncated/);
    const log = readFileSync(String(fb.log), "utf8");
    expect(log.length).toBeGreaterThan(1 << 20);
    expect(log).toMatch(/processed \d+ insns/);
    // ~15 MiB of log: over the retry's 8 MiB too; said in the reason.
    const enormous = await traceStorm(files.enormousThenWorking!, isolatedEnv({ EBPFCTL_CONFIG_DIR: root.dir }), 5);
    expect(enormous.code).toBe(0);
    expect(enormous.t.events<{ pid: number }>().filter((e) => e.pid === enormous.childPid).length).toBe(5);
    const fb2 = enormous.t.records().find((r) => r.kind === "fallback")!;
    expect(String(fb2.reason)).toMatch(/verifier log truncated at 8 MiB after one retry with a larger buffer/);
  }, 60_000);
});
