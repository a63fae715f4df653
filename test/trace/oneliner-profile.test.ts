// Sampling one-liners (profile:hz:N), stack keys (kstack, ustack) and interval:s:N { exit(); }
// against the real kernel. Ground truth: the CPU time the kernel charged the cpu_spin fixture
// (/proc/PID/stat utime+stime around its spin), /proc/kallsyms read by the test itself, exact
// syscall counts of syscall_storm, the test's own wall clock, and bpftrace 0.17 sampling the same
// workload with the same one-liner at the same time.
import { describe, expect } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES, ROOT, cli, expectIdentity, recipeTest, run, startBpftrace, traceDuring, useFixtures } from "./trace-helpers";
import { tmpdir } from "node:os";

useFixtures();

const CLK_TCK = 100;

/** cpu_spin started and waiting: go() spins it SECONDS and resolves with the CPU seconds the kernel charged it. */
async function cpuSpin(seconds: number) {
  const p = Bun.spawn([`${FIXTURES}/cpu_spin`, String(seconds)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const reader = p.stdout.getReader();
  const dec = new TextDecoder();
  let out = "";
  const line = async (want: RegExp) => {
    while (!want.test(out)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`cpu_spin ended before ${want}: ${out}`);
      out += dec.decode(value, { stream: true });
    }
  };
  await line(/^\d+\n/);
  const pid = Number(out.split("\n")[0]);
  const cpuTicks = () => {
    // Fields after "(comm)": state is field 3, utime 14, stime 15.
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return Number(f[11]) + Number(f[12]);
  };
  return {
    pid,
    async go(): Promise<number> {
      const before = cpuTicks();
      p.stdin.write("go\n");
      p.stdin.flush();
      await line(/done\n/);
      return (cpuTicks() - before) / CLK_TCK;
    },
    async end() {
      p.stdin.end();
      await p.exited;
    },
  };
}

type MapRecord = { kind: string; map: string; key: unknown[]; value: number };
const mapRows = (records: Record<string, unknown>[]) => records.filter((r) => r.kind === "oneliner_map") as unknown as MapRecord[];

/** bpftrace's "@[\n frames\n]: N" entries: frames (offsets stripped) and counts. */
function bpftraceStacks(text: string): { frames: string[]; count: number }[] {
  const out: { frames: string[]; count: number }[] = [];
  for (const m of text.matchAll(/@\[\n((?:\s+.*\n)*?)\]: (\d+)/g)) out.push({ frames: m[1]!.split("\n").map((l) => l.trim().replace(/\+\d+$/, "")).filter(Boolean), count: Number(m[2]) });
  return out;
}

const kallsymsNames = () => new Set(readFileSync("/proc/kallsyms", "utf8").split("\n").map((l) => l.split(/\s+/)[2]).filter(Boolean) as string[]);

describe("ebpfctl trace -e 'profile:hz:N ...'", () => {
  recipeTest("@ = count() for a pid: 99 × the CPU seconds the kernel charged it (±10%), and bpftrace's count alike", async () => {
    const spin = await cpuSpin(3);
    const prog = `profile:hz:99 /pid == ${spin.pid}/ { @ = count(); }`;
    const bt = await startBpftrace(prog, { userSymbols: true, settleMs: 1000 });
    let cpu = 0;
    let btOut = "";
    try {
      const r = await traceDuring(["-e", prog], async () => {
        cpu = await spin.go();
        if (bt) btOut = await bt.stop();
      });
      expect(r.code).toBe(0);
      expectIdentity(r);
      const rows = mapRows(r.records);
      expect(rows.length).toBe(1);
      const want = 99 * cpu;
      // A cpu-clock sample lands on the task when it is on the CPU as the CPU's hrtimer fires, so the
      // count follows its CPU time; the tolerance covers /proc's 10 ms tick granularity and the
      // timers' phase on two shared cores (observed within 3%).
      // The spin's share of the two shared cores varies with the other load; its CPU time is the truth.
      expect(cpu).toBeGreaterThan(0.3);
      const tol = Math.max(0.1 * want, 5);
      console.log(`profile:hz:99 over ${cpu} CPU s: want ${want.toFixed(0)} ± ${tol.toFixed(0)}, ebpfctl ${rows[0]!.value}`);
      expect(Math.abs(rows[0]!.value - want)).toBeLessThanOrEqual(tol);
      if (bt) {
        const n = Number(/^@: (\d+)$/m.exec(btOut)?.[1]);
        console.log(`  bpftrace ${n}`);
        expect(Math.abs(n - want)).toBeLessThanOrEqual(tol);
        // Two independent samplers of the same task at the same rate: within the same tolerance of each other.
        expect(Math.abs(n - rows[0]!.value)).toBeLessThanOrEqual(tol);
      }
    } finally {
      await spin.end();
    }
  }, 90_000);

  recipeTest("@[ustack] = count() for a pid: the dominant stack is main → ebpfctl_spin, as bpftrace's is", async () => {
    const spin = await cpuSpin(2);
    const prog = `profile:hz:99 /pid == ${spin.pid}/ { @[ustack] = count(); }`;
    const bt = await startBpftrace(prog, { userSymbols: true, settleMs: 1000 });
    let cpu = 0;
    let btOut = "";
    let r;
    try {
      r = await traceDuring(["-e", prog], async () => {
        cpu = await spin.go();
        if (bt) btOut = await bt.stop();
      });
    } finally {
      await spin.end();
    }
    expect(r.code).toBe(0);
    const rows = mapRows(r.records).sort((a, b) => b.value - a.value);
    const total = rows.reduce((n, x) => n + x.value, 0);
    const top = rows[0]!;
    const frames = top.key[0] as string[];
    expect(Array.isArray(frames)).toBe(true);
    expect(frames[0]).toBe("ebpfctl_spin");
    expect(frames).toContain("main");
    // Most samples are in the spin itself; the rest are its clock_gettime calls through the vDSO,
    // a larger share on a loaded VM (73% in the spin on CI, 2026-12-02).
    expect(top.value).toBeGreaterThanOrEqual(0.6 * total);
    expect(Math.abs(total - 99 * cpu)).toBeLessThanOrEqual(Math.max(0.1 * 99 * cpu, 5));
    if (bt) {
      const s = bpftraceStacks(btOut).sort((a, b) => b.count - a.count);
      console.log(`ustack over ${cpu} CPU s: ebpfctl ${top.value}/${total} in [${frames.join(" ← ")}], bpftrace ${s[0]?.count} in [${s[0]?.frames.join(" ← ")}]`);
      expect(s[0]!.frames[0]).toBe("ebpfctl_spin");
      expect(Math.abs(s[0]!.count - top.value)).toBeLessThanOrEqual(Math.max(0.1 * 99 * cpu, 5));
    }
  }, 90_000);

  recipeTest("with -i 1 the stack map is printed at each interval (then cleared): the snapshots add up to 99 × the CPU seconds", async () => {
    const spin = await cpuSpin(3);
    let cpu = 0;
    let r;
    try {
      r = await traceDuring(["-e", `profile:hz:99 /pid == ${spin.pid}/ { @[ustack] = count(); }`, "-i", "1"], async () => {
        cpu = await spin.go();
        await Bun.sleep(1200); // one more interval: every sample of the spin is in a printed snapshot
      });
    } finally {
      await spin.end();
    }
    expect(r.code).toBe(0);
    const rows = mapRows(r.records) as (MapRecord & { final: boolean })[];
    const intervals = rows.filter((x) => !x.final);
    expect(new Set(intervals.map((x) => (x as unknown as { time: string }).time)).size).toBeGreaterThanOrEqual(2);
    for (const x of rows) expect((x.key[0] as string[])[0]).toMatch(/^ebpfctl_spin$|^\[|clock_gettime|vdso/);
    const total = rows.reduce((n, x) => n + x.value, 0);
    const want = 99 * cpu;
    console.log(`-i 1 over ${cpu} CPU s: ${intervals.length} interval rows, total ${total}, want ${want.toFixed(0)}`);
    expect(Math.abs(total - want)).toBeLessThanOrEqual(Math.max(0.1 * want, 5));
  }, 90_000);

  recipeTest("@[kstack] = count() under syscall load: every frame resolves to a /proc/kallsyms name; the table shows bpftrace's stack layout", async () => {
    const r = await traceDuring(["-e", "profile:hz:99 { @[kstack, comm] = count(); }"], async () => {
      for (let i = 0; i < 3; i++) await run([`${FIXTURES}/syscall_storm`, "300000"]);
    });
    expect(r.code).toBe(0);
    const names = kallsymsNames();
    const rows = mapRows(r.records).filter((x) => (x.key[0] as string[]).length > 0);
    expect(rows.length).toBeGreaterThan(0);
    const frames = rows.flatMap((x) => x.key[0] as string[]);
    for (const f of frames) expect(names.has(f.replace(/ \[\w+\]$/, ""))).toBe(true);
    const storm = rows.filter((x) => x.key[1] === "syscall_storm").flatMap((x) => x.key[0] as string[]);
    expect(storm).toContain("do_syscall_64");
    // The human rendering: "@[" then one frame per line indented by 8, then "], comm]: N".
    const t = await traceDuring(["-e", "profile:hz:99 { @[kstack] = count(); }"], async () => {
      await run([`${FIXTURES}/syscall_storm`, "300000"]);
    }, { json: false });
    expect(t.stdout).toMatch(/^@\[\n( {8}\S+\n)+\]: \d+$/m);
  }, 90_000);

  recipeTest("tracepoint one-liner keyed by kstack: the counts add up to the fixture's exact syscall count; frames resolve", async () => {
    const N = 5000;
    const r = await traceDuring(["-e", 'tracepoint:syscalls:sys_enter_getppid /comm == "syscall_storm"/ { @[kstack] = count(); }'], async () => {
      expect((await run([`${FIXTURES}/syscall_storm`, String(N)])).code).toBe(0);
    });
    expect(r.code).toBe(0);
    const rows = mapRows(r.records);
    expect(rows.reduce((n, x) => n + x.value, 0)).toBe(N);
    const names = kallsymsNames();
    for (const x of rows) for (const f of x.key[0] as string[]) expect(names.has(f.replace(/ \[\w+\]$/, ""))).toBe(true);
    expect(rows.flatMap((x) => x.key[0] as string[])).toContain("do_syscall_64");
  }, 60_000);
});

describe("interval:s:N { exit(); }", () => {
  /** The CLI run to its own end (no SIGINT): wall seconds from the attached record to exit. */
  async function runToEnd(args: string[]) {
    const dir = mkdtempSync(join(tmpdir(), "ebpfctl-interval-"));
    const p = Bun.spawn([...cli(), "trace", ...args, "--output", "json"], { cwd: ROOT, env: { ...process.env, EBPFCTL_AUDIT_LOG: join(dir, "audit.jsonl") }, stdout: "pipe", stderr: "pipe" });
    const reader = p.stderr.getReader();
    const dec = new TextDecoder();
    let stderr = "";
    let attachedAt = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stderr += dec.decode(value, { stream: true });
      if (!attachedAt && /"kind":"attached"/.test(stderr)) attachedAt = performance.now();
    }
    const code = await p.exited;
    const wall = (performance.now() - attachedAt) / 1000;
    const end = JSON.parse(stderr.split("\n").find((l) => l.startsWith('{"kind":"end"'))!);
    const audit = readFileSync(join(dir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l));
    return { code, wall, end, attached: attachedAt > 0, stdout: await new Response(p.stdout).text(), sessionEnd: audit.find((x) => x.event === "session_end") };
  }

  recipeTest("ends the session after N seconds of the test's wall clock; the end record and the audit log say why", async () => {
    const r = await runToEnd(["-e", "profile:hz:99 { @ = count(); } interval:s:2 { exit(); }", "-d", "30"]);
    expect(r.attached).toBe(true);
    expect(r.code).toBe(0);
    expect(r.wall).toBeGreaterThanOrEqual(1.9);
    expect(r.wall).toBeLessThan(3.5);
    expect(r.end.reason).toBe("completed");
    expect(r.end.ended_by).toBe("interval:s:2 { exit(); }");
    expect(r.sessionEnd.ended_by).toBe("interval:s:2 { exit(); }");
    // The maps are printed at the end.
    expect(r.stdout).toMatch(/"kind":"oneliner_map"/);
  }, 60_000);

  recipeTest("with -d shorter than the interval, -d ends it (the smaller wins)", async () => {
    const r = await runToEnd(["-e", "tracepoint:sched:sched_switch { @ = count(); } interval:s:20 { exit(); }", "-d", "1"]);
    expect(r.code).toBe(0);
    expect(r.wall).toBeLessThan(2.5);
    expect(r.end.reason).toBe("completed");
    expect(r.end.ended_by).toBeUndefined();
  }, 60_000);
});
