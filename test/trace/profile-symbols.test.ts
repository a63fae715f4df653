// profile's symbolisation footprint, end to end on the real kernel (issue 20, parts 1 and 2):
// - a process (build/fixtures/hot_function, copied) that burns CPU in a named function and exits ~1 s before the session ends, its
//   binary deleted while it runs, still has its frames named (ground truth: nm on the fixture);
// - on a host running bpftrace (libLLVM mapped, ~110 MB), the session stays within its default
//   max_memory and the peak it reports is the process's real VmHWM, read here from /proc.
import { expect } from "bun:test";
import { copyFileSync, readFileSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { kernelTest } from "../kernel/helpers";
import { EBPFCTL, FIXTURES, isolatedEnv, tempDir } from "../helpers/trace";
import { useFixtures } from "./trace-helpers";

useFixtures();
/** EBPFCTL_TEST_BIN runs the same test against another build (e.g. main's, to see it fail). */
const BIN = process.env.EBPFCTL_TEST_BIN ?? EBPFCTL;

const hwmKb = (pid: number): number => {
  try {
    return Number(/^VmHWM:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
};

interface Session {
  pid: number;
  attached: Promise<void>;
  done: Promise<{ code: number; records: Record<string, unknown>[]; end: Record<string, any> }>;
}

function profile(args: string[]): Session {
  const p = Bun.spawn([BIN, "trace", "profile", "-o", "json", "--status-interval", "0", ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: isolatedEnv() });
  let stderr = "";
  let onAttached!: () => void;
  const attached = new Promise<void>((r) => (onAttached = r));
  const errDone = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of p.stderr) {
      stderr += dec.decode(chunk, { stream: true });
      if (stderr.includes('"kind":"attached"')) onAttached();
    }
    onAttached();
  })();
  const stdout = new Response(p.stdout).text();
  const done = (async () => {
    const code = await p.exited;
    await errDone;
    const records = (await stdout).split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l));
    const endLine = stderr.split("\n").find((l) => l.includes('"kind":"end"'));
    if (!endLine) throw new Error(`no end record:\n${stderr}`);
    return { code, records, end: JSON.parse(endLine) };
  })();
  return { pid: p.pid, attached, done };
}

type Stack = { kind: string; comm: string; count: number; user_stack: string[]; kernel_stack: string[] };

kernelTest("profile: a process that exited 1 s before the end, its binary deleted, keeps its function names", async () => {
  const dir = tempDir();
  const bin = join(dir, "exitspin");
  copyFileSync(join(FIXTURES, "hot_function"), bin);
  // Ground truth: the fixture's own symbol table says the function exists under this name.
  const nm = Bun.spawnSync(["nm", bin]).stdout.toString();
  expect(nm).toMatch(/ T ebpfctl_hot_spin$/m);
  const s = profile(["-F", "199", "-c", "exitspin", "-d", "3500ms"]);
  await s.attached;
  const t0 = performance.now();
  const child = Bun.spawn([bin, "2"], { stdout: "ignore" });
  await Bun.sleep(1000);
  unlinkSync(bin); // gone from the file system while it still runs
  expect(await child.exited).toBe(0);
  const exitedAt = performance.now() - t0;
  const r = await s.done;
  expect(r.end.reason).toBe("completed");
  expect(3500 - exitedAt).toBeGreaterThan(700); // it exited about a second before the session ended
  const stacks = r.records.filter((x) => x.kind === "stack" && x.comm === "exitspin") as unknown as Stack[];
  const samples = stacks.reduce((a, x) => a + x.count, 0);
  const named = stacks.filter((x) => x.user_stack[0] === "ebpfctl_hot_spin").reduce((a, x) => a + x.count, 0);
  expect(samples).toBeGreaterThan(20);
  // Nearly all its CPU time is in the spin; allow the loop's clock_gettime calls (vDSO).
  expect(named).toBeGreaterThan(0.7 * samples);
  // One form for what does not resolve: [module+0xoff] or [unknown], never a raw address.
  for (const x of stacks) for (const f of x.user_stack) expect(f).toMatch(/^(?:[A-Za-z_][\w.@]*|\[[^\]\s]+\+0x[0-9a-f]+\]|\[unknown\])$/);
}, 30_000);

kernelTest("profile: short-lived processes, gone before they could be looked at, resolve by build-id", async () => {
  const dir = tempDir();
  const bin = join(dir, "exitshort");
  copyFileSync(join(FIXTURES, "hot_function"), bin);
  expect(Bun.spawnSync(["nm", bin]).stdout.toString()).toMatch(/ T ebpfctl_hot_spin$/m);
  const s = profile(["-F", "499", "-c", "exitshort", "-d", "4s"]);
  await s.attached;
  // One long-lived instance (its files are opened when it is first seen), and many 60 ms ones:
  // most of those exit between two looks at /proc, so only their build-id stacks can name them.
  const long = Bun.spawn([bin, "2.5"], { stdout: "ignore" });
  const shortPids: number[] = [];
  for (let i = 0; i < 15; i++) {
    const c = Bun.spawn([bin, "0.06"], { stdout: "ignore" });
    shortPids.push(c.pid);
    expect(await c.exited).toBe(0);
    await Bun.sleep(40);
  }
  expect(await long.exited).toBe(0);
  const r = await s.done;
  expect(r.end.reason).toBe("completed");
  const stacks = (r.records.filter((x) => x.kind === "stack" && x.comm === "exitshort") as unknown as (Stack & { pid: number })[]).filter((x) => shortPids.includes(x.pid));
  const samples = stacks.reduce((a, x) => a + x.count, 0);
  const named = stacks.filter((x) => x.user_stack[0] === "ebpfctl_hot_spin").reduce((a, x) => a + x.count, 0);
  expect(new Set(stacks.map((x) => x.pid)).size).toBeGreaterThan(10);
  expect(samples).toBeGreaterThan(100);
  expect(named).toBeGreaterThan(0.7 * samples);
}, 30_000);

kernelTest("profile on a host running bpftrace (libLLVM): within the default max_memory, peak_rss is the real VmHWM", async () => {
  // An idle bpftrace (libLLVM and libclang mapped), up before the session starts.
  const idle = Bun.spawn(["bpftrace", "-e", "interval:s:60 { exit(); }"], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  try {
    const out = idle.stdout.getReader();
    const dec = new TextDecoder();
    let text = "";
    while (!text.includes("Attaching")) {
      const { value, done } = await out.read();
      if (done) throw new Error("bpftrace exited before attaching");
      text += dec.decode(value);
    }
    expect(readFileSync(`/proc/${idle.pid}/maps`, "utf8")).toContain("libLLVM");
    const s = profile(["-F", "199", "-d", "4s"]);
    let hwm = 0;
    const sampler = setInterval(() => (hwm = Math.max(hwm, hwmKb(s.pid))), 20);
    await s.attached;
    // A second bpftrace starting up during the session: its compile runs in libLLVM, so LLVM frames are sampled.
    const busy = Bun.spawn(["bpftrace", "-e", 'tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); } interval:ms:500 { exit(); }'], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
    await busy.exited;
    const r = await s.done;
    clearInterval(sampler);
    const a = r.end.accounting as { peak_rss: number };
    const budget = 256 * 2 ** 20; // recipes/profile.yaml's default max_memory
    expect(r.end.reason).toBe("completed");
    expect(r.end.breach).toBeUndefined();
    const stacks = r.records.filter((x) => x.kind === "stack" && x.comm === "bpftrace") as unknown as Stack[];
    expect(stacks.length).toBeGreaterThan(0);
    expect(hwm).toBeGreaterThan(0);
    // The reported peak is the process's own high-water mark (the end record is written after it, a little more may come).
    expect(a.peak_rss).toBeGreaterThanOrEqual(hwm * 1024 - (4 << 20));
    expect(a.peak_rss).toBeLessThanOrEqual(hwm * 1024 + (4 << 20));
    expect(a.peak_rss).toBeLessThanOrEqual(budget);
    expect(hwm * 1024).toBeLessThanOrEqual(budget);
    console.log(`profile with bpftrace: VmHWM ${(hwm / 1024).toFixed(1)} MiB, reported peak_rss ${(a.peak_rss / 2 ** 20).toFixed(1)} MiB, ${stacks.length} bpftrace stacks`);
  } finally {
    idle.kill("SIGINT");
    await idle.exited;
  }
}, 60_000);
