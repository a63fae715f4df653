// bench-adhoc: for each one-liner, exec → attached (ms) and peak RSS one second after attach
// (VmHWM), for `ebpfctl trace -e` (the compiled dist/ebpfctl) and `bpftrace -e`, alternating the
// two tools rep by rep so both see the same machine. Medians; the ratio is ebpfctl / bpftrace.
// --per-event: the added cost per traced event instead, under a storm (a fixture making N known
// syscalls): the storm's time with the one-liner attached minus its time untraced, divided by N,
// for both tools in the same reps (untraced, ebpfctl, bpftrace, rep by rep).
//   scripts/bench-adhoc [--reps N] [--bin PATH] [--only SUBSTRING] [--per-event] [--events N]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fmt, mdTable, median, parseArgs } from "./bench-lib/stats";

const args = parseArgs(process.argv.slice(2), { reps: "string", bin: "string", only: "string", "per-event": "boolean", events: "string" });
const REPS = Number(args.reps ?? 7);
const BIN = String(args.bin ?? join(import.meta.dir, "../dist/ebpfctl"));

const ONE_LINERS = [
  "tracepoint:syscalls:sys_enter_openat { @[comm] = count(); }",
  "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }",
  "tracepoint:syscalls:sys_exit_read /args.ret > 0/ { @bytes = hist(args.ret); }",
  'tracepoint:syscalls:sys_enter_openat { printf("%s %s\\n", comm, str(args.filename)); }',
  "tracepoint:sched:sched_switch,tracepoint:sched:sched_wakeup { @[probe] = count(); }",
  // a field at a different offset in each: one table entry per tracepoint, selected by the cookie
  "tracepoint:sched:sched_wakeup,tracepoint:sched:sched_process_exec { @ = hist(args.pid); }",
  "profile:hz:99 { @[comm] = count(); }",
  "tracepoint:syscalls:sys_enter_openat { @[kstack] = count(); }",
  "uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc { @[comm] = count(); }",
  "uretprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc { @ = hist(retval); }",
].filter((o) => !args.only || o.includes(String(args.only)));

interface Run { ms: number; rssKb: number }

/** Spawn, time the first line matching `marker` on `stream`, read VmHWM 1 s later, then SIGINT. */
async function measure(cmd: string[], stream: "stdout" | "stderr", marker: RegExp): Promise<Run> {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: stream === "stdout" ? "pipe" : "ignore", stderr: stream === "stderr" ? "pipe" : "ignore" });
  const reader = (stream === "stdout" ? p.stdout : p.stderr)!.getReader();
  const dec = new TextDecoder();
  let text = "";
  let ms = NaN;
  const kill = setTimeout(() => p.kill("SIGKILL"), 30_000);
  try {
    while (Number.isNaN(ms)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`${cmd.join(" ")} ended before attaching:\n${text}`);
      text += dec.decode(value, { stream: true });
      if (marker.test(text)) ms = performance.now() - t0;
    }
    const drain = (async () => {
      while (!(await reader.read()).done);
    })().catch(() => {});
    await Bun.sleep(1000);
    const hwm = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p.pid}/status`, "utf8"));
    p.kill("SIGINT");
    await p.exited;
    await drain;
    return { ms, rssKb: Number(hwm?.[1] ?? NaN) };
  } finally {
    clearTimeout(kill);
  }
}

const bpftraceText = (o: string) => `BEGIN { printf("bench: attached\\n"); } ${o.replaceAll("args.", "args->")}`;
const tracers = {
  ebpfctl: (o: string) => attachedTracer([BIN, "trace", "-e", o, "-o", "json", "-d", "300"], "stderr", /"kind":"attached"/),
  bpftrace: (o: string) => attachedTracer(["bpftrace", "-e", bpftraceText(o)], "stdout", /^bench: attached$/m),
};

const tools = {
  ebpfctl: (o: string) => measure([BIN, "trace", "-e", o, "-o", "json", "-d", "60"], "stderr", /"kind":"attached"/),
  // bpftrace prints "Attaching N probes..." before it loads and attaches them; its BEGIN probe fires
  // once every probe is attached, so a BEGIN printf is the honest "attached" marker (one uprobe
  // more for bpftrace). bpftrace 0.17 (Debian 12) spells a tracepoint field args->FIELD.
  bpftrace: (o: string) =>
    measure(["bpftrace", "-e", bpftraceText(o)], "stdout", /^bench: attached$/m),
};

if (args["per-event"]) {
  await perEvent();
  process.exit(0);
}

/** Starts a tracer and resolves once it has attached; stop() ends it with SIGINT. */
async function attachedTracer(cmd: string[], stream: "stdout" | "stderr", marker: RegExp): Promise<{ stop(): Promise<void> }> {
  const p = Bun.spawn(cmd, { stdin: "ignore", stdout: stream === "stdout" ? "pipe" : "ignore", stderr: stream === "stderr" ? "pipe" : "ignore" });
  const reader = (stream === "stdout" ? p.stdout : p.stderr)!.getReader();
  const dec = new TextDecoder();
  let text = "";
  while (!marker.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${cmd.join(" ")} ended before attaching:\n${text}`);
    text += dec.decode(value, { stream: true });
  }
  const drain = (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  return {
    async stop() {
      p.kill("SIGINT");
      await p.exited;
      await drain;
    },
  };
}

async function perEvent(): Promise<void> {
  const N = Number(args.events ?? 1_000_000);
  const FIX = join(import.meta.dir, "../build/fixtures");
  const storms = [
    { what: "syscall count", oneLiner: "tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }", cmd: [`${FIX}/syscall_storm`, String(N)] },
    { what: "read-size histogram", oneLiner: "tracepoint:syscalls:sys_exit_read { @bytes = hist(args.ret); }", cmd: [`${FIX}/read_storm`, `64:${N}`] },
  ].filter((s) => !args.only || s.oneLiner.includes(String(args.only)));
  const storm = async (cmd: string[]) => {
    const t0 = performance.now();
    const r = Bun.spawn(cmd, { stdout: "ignore", stderr: "inherit" });
    if ((await r.exited) !== 0) throw new Error(`${cmd.join(" ")} failed`);
    return (performance.now() - t0) * 1e6;
  };
  const out: (string | number)[][] = [];
  for (const s of storms) {
    const ns: Record<string, number[]> = { untraced: [], ebpfctl: [], bpftrace: [] };
    for (let i = 0; i < REPS; i++) {
      ns.untraced!.push(await storm(s.cmd));
      for (const [name, start] of Object.entries(tracers)) {
        const t = await start(s.oneLiner);
        try {
          ns[name]!.push(await storm(s.cmd));
        } finally {
          await t.stop();
        }
      }
    }
    const base = median(ns.untraced!);
    const added = (name: string) => median(ns[name]!.map((x) => (x - base) / N));
    out.push([s.what, `\`${s.oneLiner}\``, fmt(base / N), fmt(added("ebpfctl")), fmt(added("bpftrace")), fmt(added("ebpfctl") / added("bpftrace"), 2)]);
  }
  console.log(`bench-adhoc --per-event: ${N} events per storm, ${REPS} reps (untraced, ebpfctl, bpftrace in turn); ${new Date().toISOString()}; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
  console.log(mdTable(["storm", "one-liner", "untraced ns/event", "ebpfctl added ns/event", "bpftrace added ns/event", "ratio"], out));
}

const rows: (string | number)[][] = [];
for (const o of ONE_LINERS) {
  const runs: Record<string, Run[]> = { ebpfctl: [], bpftrace: [] };
  for (let i = 0; i < REPS; i++) for (const [name, run] of Object.entries(tools)) runs[name]!.push(await run(o));
  const m = (name: string, k: keyof Run) => median(runs[name]!.map((r) => r[k]));
  rows.push([
    `\`${o}\``,
    fmt(m("ebpfctl", "ms")),
    fmt(m("bpftrace", "ms")),
    fmt(m("ebpfctl", "ms") / m("bpftrace", "ms"), 2),
    fmt(m("ebpfctl", "rssKb") / 1024),
    fmt(m("bpftrace", "rssKb") / 1024),
  ]);
}
console.log(`bench-adhoc: ${REPS} reps per tool and one-liner, alternating; ${new Date().toISOString()}; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);
console.log(mdTable(["one-liner", "ebpfctl attach ms", "bpftrace attach ms", "ratio", "ebpfctl peak RSS MiB", "bpftrace peak RSS MiB"], rows));
