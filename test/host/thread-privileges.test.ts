// Every thread unprivileged after attach: for a live session of each recipe kind (stream,
// aggregation, stacks), as root and as the service identity, every thread's
// /proc/PID/task/TID/status (read by the test, not by ebpfctl) shows no capability beyond what
// the recipe keeps (profile: CAP_SYS_PTRACE), NoNewPrivs 1 and Seccomp 2 (filter); and the
// `attached` record and `ebpfctl ps` report the same per-thread truth. Before this, 5 of 7
// threads kept CapEff 000001fffeffffff with NoNewPrivs 0. The filter itself is checked by making
// the calls it must deny (and some it must allow) from a process that installed it.
import { beforeAll, describe, expect } from "bun:test";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kernelTest } from "../kernel/helpers";
import { assertBuilt, EBPFCTL, isolatedEnv, repoRoot, trace, TraceProcess } from "../helpers/trace";

beforeAll(() => assertBuilt());

const CAP_SYS_PTRACE = 19n;

interface Observed {
  tid: number;
  name: string;
  capEff: bigint;
  capPrm: bigint;
  noNewPrivs: number;
  seccomp: number;
}

function observe(pid: number): Observed[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) => {
    try {
      const t = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
      const f = (k: string) => new RegExp(`^${k}:\\s*(\\S+)`, "m").exec(t)![1]!;
      return [{ tid: Number(tid), name: f("Name"), capEff: BigInt(`0x${f("CapEff")}`), capPrm: BigInt(`0x${f("CapPrm")}`), noNewPrivs: Number(f("NoNewPrivs")), seccomp: Number(f("Seccomp")) }];
    } catch {
      return [];
    }
  });
}

async function checkLive(t: TraceProcess, env: Record<string, string>, allowed: bigint): Promise<void> {
  const attached = await t.waitFor("attached");
  // The process that holds the session: the direct child (setpriv execs ebpfctl in place).
  const pid = t.proc.pid;
  await Bun.sleep(300);
  const threads = observe(pid);
  try {
    expect(threads.length).toBeGreaterThanOrEqual(5); // the runtime's helper threads exist
    const bad = threads.filter((th) => (th.capEff & ~allowed) !== 0n || (th.capPrm & ~allowed) !== 0n || th.noNewPrivs !== 1 || th.seccomp !== 2);
    expect(bad.map((b) => `${b.tid} ${b.name} CapEff ${b.capEff.toString(16)} CapPrm ${b.capPrm.toString(16)} NoNewPrivs ${b.noNewPrivs} Seccomp ${b.seccomp}`)).toEqual([]);
    // The attached record reports the same threads with the same sets.
    const reported = (attached.capabilities as { threads: { tid: number; effective: string[]; seccomp: number; no_new_privs: boolean }[]; mechanism: string }).threads;
    expect((attached.capabilities as { mechanism: string }).mechanism).toBe("setxid-broadcast");
    for (const th of threads) {
      const r = reported.find((x) => x.tid === th.tid);
      if (!r) continue; // a thread the runtime started after the record (a pool worker)
      expect(r.seccomp).toBe(2);
      expect(r.no_new_privs).toBe(true);
      expect(r.effective.length).toBe(th.capEff === 0n ? 0 : 1);
    }
    // ps reads every thread of the live process.
    const ps = Bun.spawnSync([EBPFCTL, "ps", "-o", "json"], { env, stdout: "pipe", stderr: "pipe" });
    const s = (JSON.parse(ps.stdout.toString()) as { sessions: { pid: number; capabilities: string[]; threads?: unknown[] }[] }).sessions.find((x) => x.pid === pid)!;
    expect(s.threads?.length).toBeGreaterThanOrEqual(5);
    expect(s.capabilities).toEqual(allowed ? ["CAP_SYS_PTRACE"] : []);
  } finally {
    t.proc.kill("SIGTERM");
  }
  expect(await t.exited).toBe(0);
}

const KINDS: [string, string, bigint][] = [
  ["stream", "execsnoop", 0n],
  ["aggregation", "syscount", 0n],
  ["stacks", "profile", 1n << CAP_SYS_PTRACE],
];

describe("every thread unprivileged after attach", () => {
  for (const [kind, recipe, allowed] of KINDS) {
    kernelTest(`as root: ${kind} (${recipe})`, async () => {
      const env = isolatedEnv();
      await checkLive(trace([recipe, "-d", "30", "-o", "json"], env), env, allowed);
    }, 60_000);
    kernelTest(`as the service identity (uid 65534, ambient bpf,perfmon,dac_read_search,setuid${allowed ? ",sys_ptrace" : ""}): ${kind} (${recipe})`, async () => {
      const dir = mkdtempSync("/tmp/ebpfctl-svc-");
      chmodSync(dir, 0o777);
      const env = { ...isolatedEnv(), EBPFCTL_AUDIT_LOG: join(dir, "audit.jsonl"), EBPFCTL_RUN_DIR: join(dir, "run"), EBPFCTL_CACHE_DIR: join(dir, "cache"), HOME: dir };
      const caps = `+bpf,+perfmon,+dac_read_search,+setuid${allowed ? ",+sys_ptrace" : ""}`;
      const t = new TraceProcess(["--reuid=65534", "--regid=65534", "--clear-groups", `--inh-caps=${caps}`, `--ambient-caps=${caps}`, EBPFCTL, "trace", recipe, "-d", "30", "-o", "json"], env, { bin: "setpriv" });
      await checkLive(t, env, allowed);
    }, 60_000);
  }
});

describe("the seccomp filter", () => {
  kernelTest("denies load, create, attach, perf_event_open, ptrace, exec and mount; allows map reads, writes and threads", () => {
    const dir = mkdtempSync("/tmp/ebpfctl-seccomp-");
    const script = join(dir, "probe.ts");
    writeFileSync(
      script,
      `import { installFilterOnAllThreads } from "${repoRoot}src/libbpf/seccomp";
import { setNoNewPrivs } from "${repoRoot}src/libbpf/caps";
import { errno, syscallIntIntPtr } from "${repoRoot}src/libbpf/ffi";
import { spawnSync } from "node:child_process";
import { writeFileSync, readFileSync } from "node:fs";
const attr = new Uint8Array(128);
const call = (nr: bigint, a: bigint) => { const r = Number(syscallIntIntPtr(nr, a, 0n, attr)); return r < 0 ? errno() : 0; };
setNoNewPrivs();
installFilterOnAllThreads();
const out = {
  prog_load: call(321n, 5n), map_create: call(321n, 0n), link_create: call(321n, 28n), btf_load: call(321n, 18n),
  map_lookup: call(321n, 1n), perf_event_open: call(298n, 0n), ptrace: call(101n, 0n), mount: call(165n, 0n),
  init_module: call(175n, 0n), setresuid: call(117n, 0n),
  exec: spawnSync("/bin/true").error ? "refused" : String(spawnSync("/bin/true").status),
  write: (writeFileSync("${dir}/w", "x"), readFileSync("${dir}/w", "utf8")),
  seccomp_status: /^Seccomp:\\s*(\\d)/m.exec(readFileSync("/proc/thread-self/status", "utf8"))![1],
};
console.log(JSON.stringify(out));
`,
    );
    const r = Bun.spawnSync([join(repoRoot, "node_modules/.bin/bun"), script], { stdout: "pipe", stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    const out = JSON.parse(r.stdout.toString());
    const EPERM = 1;
    expect(out).toMatchObject({ prog_load: EPERM, map_create: EPERM, link_create: EPERM, btf_load: EPERM, perf_event_open: EPERM, ptrace: EPERM, mount: EPERM, init_module: EPERM, setresuid: EPERM, exec: "refused", write: "x", seccomp_status: "2" });
    // A map lookup passes the filter and fails on its own terms (a zeroed attr names fd 0, not a map).
    expect(out.map_lookup).not.toBe(EPERM);
  });
});

describe("a missing privilege is exit 5", () => {
  kernelTest("an unprivileged user (no capabilities) gets exit 5 'missing privilege', not 9 'disabled on this kernel'", () => {
    const dir = mkdtempSync("/tmp/ebpfctl-nopriv-");
    chmodSync(dir, 0o777);
    const env = { ...isolatedEnv(), EBPFCTL_AUDIT_LOG: join(dir, "audit.jsonl"), EBPFCTL_RUN_DIR: join(dir, "run"), EBPFCTL_CACHE_DIR: join(dir, "cache"), HOME: dir };
    const r = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", EBPFCTL, "trace", "execsnoop", "-d", "1"], { env, stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(5);
    expect(r.stderr.toString()).toMatch(/^error: tracing needs CAP_BPF and CAP_PERFMON \(or root\) \[EBPFCTL-E0023\]$/m);
    const log = readFileSync(join(dir, "audit.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { event: string; exit_code?: number });
    expect(log.find((x) => x.event === "session_end")?.exit_code).toBe(5);
    expect(log.some((x) => x.event === "loaded")).toBe(false);
  });
});
