import { Command, Option } from "clipanion";
import { EbpfctlCommand, useColor } from "./base";
import { runTrace } from "../trace/run-trace";
import { usageError } from "../errors";
import { existsSync } from "node:fs";
import { unitCgroupPath } from "../kernel/cgroup";

export class TraceCommand extends EbpfctlCommand {
  static paths = [["trace"]];
  static usage = Command.Usage({
    description: "Run a signed tracing recipe under hard budgets",
    details: `
      Loads the recipe's BPF programs (after checking its signature and object hash), attaches the
      best probe variant this kernel supports, and streams events to stdout (lifecycle messages go
      to stderr) until Ctrl-C, -d, a budget breach or the host kill switch. Probes are detached on
      every path; the audit log records the session from start to end.

      Exit codes: 0 ended normally, 2 usage, 3 recipe, 4 trust refused, 5 kernel refused,
      6 audit log unwritable, 7 budget breach, 8 kill switch, 9 unsupported on this kernel, 10 host policy.
    `,
    examples: [
      ["Trace every exec() until Ctrl-C", "ebpfctl trace execsnoop"],
      ["Opens by nginx for 10 seconds", "ebpfctl trace opensnoop -c nginx -d 10"],
      ["JSON lines for one process", "ebpfctl trace execsnoop -p 1234 --output json"],
      ["Failed exec() calls in one service, with timestamps", "ebpfctl trace execsnoop -x -T --unit nginx.service"],
      ["A one-liner: syscalls by process for 10 s", "ebpfctl trace -e 'tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }' -d 10"],
      ["A uretprobe one-liner: malloc's return values in nginx", "ebpfctl trace -e 'uretprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc /comm == \"nginx\"/ { @ = hist(retval); }'"],
      ["A sampling one-liner: kernel stacks at 99 Hz for 10 s", "ebpfctl trace -e 'profile:hz:99 { @[kstack] = count(); }' -d 10"],
      ["Tighter budgets", "ebpfctl trace opensnoop --max-rate 1k --max-duration 5m --max-output 64MiB"],
    ],
  });

  protected override readonly endsWithRecord = true;
  recipe = Option.String({ required: false, name: "recipe" });
  expr = Option.String("-e,--expr", { description: "A bpftrace-style one-liner (tracepoint, uprobe, uretprobe, usdt and profile:hz:N probes, kstack/ustack keys, interval:s:N { exit(); }; README \"One-liners\")" });
  recipeFile = Option.String("--recipe-file", { description: "Run a recipe manifest from a file (still needs a trusted signature)" });
  allowUnsigned = Option.Boolean("--allow-unsigned", false, { description: "Run an unsigned recipe if the host policy allows it" });

  pid = Option.String("-p,--pid", { description: "Only this process id" });
  uid = Option.String("-u,--uid", { description: "Only this user id" });
  comm = Option.String("-c,--comm", { description: "Only this command name" });
  errorsOnly = Option.Boolean("-x,--errors-only", false, { description: "Only failed calls (execsnoop: failed exec(), opensnoop: failed open())" });
  cgroup = Option.String("--cgroup", { description: "Only tasks in this cgroup v2 directory (in the kernel, by cgroup id)" });
  unit = Option.String("--unit", { description: "Only tasks of this systemd unit (NAME.service: its cgroup)" });
  timestamp = Option.Boolean("-T,--timestamp", false, { description: "Stream recipes: a TIME column (HH:MM:SS.mmm, UTC)" });
  perProcess = Option.Boolean("-P,--per-process", false, { description: "Aggregate per process" });
  minLatency = Option.String("-m,--min-latency", { description: "Only operations slower than this (e.g. 10ms)" });
  freq = Option.String("-F,--freq", { description: "Sampling frequency in Hz (profile)" });
  signal = Option.String("-s,--signal", { description: "Only this signal" });
  port = Option.String("--port", { description: "Only this port" });
  binary = Option.String("--binary", { description: "Binary to probe (uprobe recipes)" });
  symbol = Option.String("--symbol", { description: "Function in --binary" });

  duration = Option.String("-d,--duration", { description: "Stop after this long (seconds, or 10s, 5m)" });
  maxDuration = Option.String("--max-duration", { description: "Budget: wall time" });
  maxRate = Option.String("--max-rate", { description: "Budget: events per second (capped in the kernel)" });
  maxMemory = Option.String("--max-memory", { description: "Budget: map memory plus consumer growth (e.g. 64MiB)" });
  maxCpu = Option.String("--max-cpu", { description: "Budget: percent of one core (BPF + ebpfctl)" });
  maxOutput = Option.String("--max-output", { description: "Budget: bytes written (e.g. 1GiB)" });

  output = Option.String("-o,--output", "table", { description: "table, json, or openmetrics (aggregations, with --output-file)" });
  outputFile = Option.String("--output-file", { description: "Write events to this file instead of stdout" });
  statusInterval = Option.String("--status-interval", { description: "Status records interval (0 = off)" });
  interval = Option.String("-i,--interval", { description: "Aggregations: print a snapshot every N seconds" });
  top = Option.String("--top", { description: "Aggregations: show the top N rows" });
  folded = Option.Boolean("--folded", false, { description: "profile: folded stacks for flame graphs" });
  by = Option.String("--by", { description: "profile: rows by stack (default) or function (flat top of self time)" });
  auditSyslog = Option.Boolean("--audit-syslog", false, { description: "Mirror audit records to syslog (authpriv)" });
  profile = Option.String("--profile", "full", { description: "full, or reduced: in-kernel sampling and optional probes dropped (highest cost first)" });
  sampleEvery = Option.String("--sample-every", { description: "With --profile reduced: keep 1 event in N (default 10)" });
  nice = Option.String("--nice", "10", { description: "Once attached, run at this nice value (0-19; default 10): the workload wins CPU contention, ebpfctl drops (counted) instead" });

  async run(): Promise<number> {
    if (this.expr !== undefined && (this.recipe || this.recipeFile)) throw usageError("give a recipe or -e ONE-LINER, not both");
    if (!this.recipe && !this.recipeFile && this.expr === undefined) throw usageError("name a recipe (ebpfctl list shows them) or give --recipe-file PATH");
    if (this.recipe && this.recipeFile) throw usageError("give a recipe name or --recipe-file, not both");
    if (this.output !== "table" && this.output !== "json" && this.output !== "openmetrics") throw usageError(`--output: expected table, json or openmetrics, got "${this.output}"`, "ebpfctl trace --help lists the output formats");
    if (this.cgroup !== undefined && this.unit !== undefined) throw usageError("give --cgroup PATH or --unit NAME, not both");
    let cgroup = this.cgroup;
    if (this.unit !== undefined) {
      try {
        cgroup = unitCgroupPath(this.unit);
      } catch (e) {
        throw usageError(`--unit ${this.unit}: ${(e as Error).message}`);
      }
      if (!existsSync(cgroup)) throw usageError(`--unit ${this.unit}: no cgroup ${cgroup}`, `is the unit running? (systemctl status ${this.unit})`);
    }
    if (this.profile !== "full" && this.profile !== "reduced") throw usageError(`--profile: expected full or reduced, got "${this.profile}"`);
    if (this.sampleEvery !== undefined && this.profile !== "reduced") throw usageError("--sample-every goes with --profile reduced");
    return runTrace(
      {
        recipe: this.recipe,
        recipeFile: this.recipeFile,
        allowUnsigned: this.allowUnsigned,
        params: {
          pid: this.pid,
          uid: this.uid,
          comm: this.comm,
          errors_only: this.errorsOnly,
          cgroup,
          per_process: this.perProcess,
          min_latency: this.minLatency,
          freq: this.freq,
          signal: this.signal,
          port: this.port,
          binary: this.binary,
          symbol: this.symbol,
          by: this.by,
        },
        budgets: {
          durationSeconds: this.duration,
          maxDuration: this.maxDuration,
          maxRate: this.maxRate,
          maxMemory: this.maxMemory,
          maxCpu: this.maxCpu,
          maxOutput: this.maxOutput,
        },
        output: this.output,
        outputFile: this.outputFile,
        auditLogPath: this.auditLogPath(),
        auditSyslog: this.auditSyslog,
        statusInterval: this.statusInterval,
        aggregate: { interval: this.interval, top: this.top, folded: this.folded },
        timestamp: this.timestamp,
        argv: process.argv.slice(1),
        profile: this.profile,
        sampleEvery: this.sampleEvery !== undefined ? Number(this.sampleEvery) : undefined,
        nice: this.nice,
        ...(this.expr !== undefined ? { oneliner: this.expr } : {}),
      },
      { stderr: this.context.stderr, stderrIsTTY: Boolean((this.context.stderr as { isTTY?: boolean }).isTTY), color: useColor(this.context.stderr) },
    );
  }
}
