// bench-stream --rss: peak RSS (/usr/bin/time %M, i.e. the process's VmHWM at exit) of each
// tracer running 3 s while a workload runs: ebpfctl (the compiled binary), libbpf-tools (Debian's
// /usr/sbin tools) and a bpftrace one-liner, interleaved per rep, plus a compiled empty Bun
// program that stays up (the floor of the stack). Workloads: opensnoop and profile-free stream
// recipes get open_storm paced at OPEN_STORM_RATE (100k/s by default); execsnoop a loop of
// /bin/true; runqlat (aggregation) the same open storm, which keeps the scheduler busy.
import { copyFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { median, min, max, fmt, mdTable } from "./stats";

interface Tracer { label: string; recipe: string; argv: string[] }

function peakKb(argv: string[], env: Record<string, string | undefined>, workload: () => Promise<void>, settleMs: number): Promise<number> {
  const p = Bun.spawn(["/usr/bin/time", "-f", "RSSKB %M", ...argv], { stdin: "ignore", stdout: "ignore", stderr: "pipe", env });
  const err = new Response(p.stderr).text();
  return (async () => {
    await Bun.sleep(settleMs);
    await workload();
    // GNU time ignores SIGINT while it waits: interrupt its child, the tracer.
    Bun.spawnSync(["pkill", "-INT", "-P", String(p.pid)]);
    await p.exited;
    const m = /RSSKB (\d+)/.exec(await err);
    return m ? Number(m[1]) : NaN;
  })();
}

/** An idle bpftrace one-liner (libLLVM and libclang mapped): profile's row runs beside it. */
async function idleBpftrace(): Promise<{ stop: () => Promise<void> } | undefined> {
  const p = Bun.spawn(["bpftrace", "-e", "interval:s:600 { exit(); }"], { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  const reader = p.stdout.getReader();
  let text = "";
  while (!text.includes("Attaching")) {
    const { value, done } = await reader.read();
    if (done) return undefined;
    text += new TextDecoder().decode(value);
  }
  return { stop: async () => { p.kill("SIGINT"); await p.exited; } };
}

export async function rssBench(repo: string, bin: string, floorBin: string | undefined, reps: number, rate: number, env: Record<string, string | undefined>, recipes?: string[], compare?: { label: string; bin: string }): Promise<string> {
  const storm = "/tmp/rssstorm";
  copyFileSync(join(repo, "build/fixtures/open_storm"), storm);
  const openStorm = async () => {
    const s = Bun.spawn([storm, "--for", "3000"], { env: { ...process.env, OPEN_STORM_RATE: String(rate) }, stdout: "ignore" });
    await s.exited;
  };
  const execLoop = async () => {
    const t = performance.now();
    while (performance.now() - t < 3000) await Bun.spawn(["/bin/true"]).exited;
  };
  const ebp = (r: string, extra: string[] = []) => [bin, "trace", r, "-o", "json", "--output-file", "/tmp/bench/rss-out.json", "--status-interval", "0", "-d", "30", ...extra];
  const rows: { recipe: string; workload: () => Promise<void>; tracers: Tracer[] }[] = [
    { recipe: "opensnoop", workload: openStorm, tracers: [
      { label: "ebpfctl", recipe: "opensnoop", argv: ebp("opensnoop", ["-c", "rssstorm", "--max-rate", "100k", "--max-cpu", "50"]) },
      { label: "libbpf-tools", recipe: "opensnoop", argv: ["/usr/sbin/opensnoop", "-n", "rssstorm"] },
      { label: "bpftrace", recipe: "opensnoop", argv: ["bpftrace", "-e", 'tracepoint:syscalls:sys_exit_openat /comm == "rssstorm"/ { printf("%d %s %d\\n", pid, comm, args->ret); }'] },
    ] },
    { recipe: "execsnoop", workload: execLoop, tracers: [
      { label: "ebpfctl", recipe: "execsnoop", argv: ebp("execsnoop") },
      { label: "libbpf-tools", recipe: "execsnoop", argv: ["/usr/sbin/execsnoop"] },
      { label: "bpftrace", recipe: "execsnoop", argv: ["bpftrace", "-e", "tracepoint:syscalls:sys_enter_execve { printf(\"%d %s\\n\", pid, comm); }"] },
    ] },
    { recipe: "runqlat", workload: openStorm, tracers: [
      { label: "ebpfctl", recipe: "runqlat", argv: ebp("runqlat") },
      { label: "libbpf-tools", recipe: "runqlat", argv: ["/usr/sbin/runqlat"] },
      { label: "bpftrace", recipe: "runqlat", argv: ["bpftrace", "-e", "tracepoint:sched:sched_wakeup { @q[args->pid] = nsecs; } tracepoint:sched:sched_switch /@q[args->next_pid]/ { @us = hist((nsecs - @q[args->next_pid]) / 1000); delete(@q[args->next_pid]); }"] },
    ] },
    // profile samples every CPU; bpftrace (libLLVM, ~110 MB of ELF) runs idle beside it, and
    // a second one starts during the run so LLVM frames are sampled and symbolised.
    { recipe: "profile (bpftrace running)", workload: async () => {
      await Bun.sleep(500);
      await Bun.spawn(["bpftrace", "-e", "interval:ms:500 { exit(); }"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" }).exited;
      await Bun.sleep(1000);
    }, tracers: [
      { label: "ebpfctl", recipe: "profile", argv: ebp("profile") },
      ...(compare ? [{ label: compare.label, recipe: "profile", argv: [compare.bin, ...ebp("profile").slice(1)] }] : []),
    ] },
  ].filter((r) => !recipes || recipes.some((x) => r.recipe.startsWith(x)));
  const bpftrace = rows.some((r) => r.recipe.startsWith("profile")) ? await idleBpftrace() : undefined;
  const out: Record<string, number[]> = {};
  for (let i = 0; i < reps; i++) {
    for (const r of rows) {
      for (const t of r.tracers) {
        if (t.argv[0]!.startsWith("/usr/sbin") && !existsSync(t.argv[0]!)) continue;
        (out[`${r.recipe}|${t.label}`] ??= []).push(await peakKb(t.argv, env, r.workload, t.label === "bpftrace" ? 4000 : 1500));
      }
    }
    if (floorBin && !recipes) (out["(none)|compiled empty Bun program"] ??= []).push(await peakKb([floorBin], env, () => Bun.sleep(3000), 0));
    process.stderr.write(`rss ${i + 1}/${reps}\r`);
  }
  await bpftrace?.stop();
  const mb = (kb: number) => fmt(kb / 1024, 1);
  return mdTable(["recipe", "tracer", "peak RSS MiB, median", "min", "max"], Object.entries(out).map(([k, v]) => {
    const [recipe, label] = k.split("|");
    return [recipe!, label!, mb(median(v)), mb(min(v)), mb(max(v))];
  }));
}
