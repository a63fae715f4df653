// ebpfctl ps: the tracing sessions running on this host, with their limits and true usage.
import { Command } from "clipanion";
import Table from "cli-table3";
import { EbpfctlCommand, outputOption, useColor } from "./base";
import { usageError } from "../errors";
import { listSessions, type SessionEntry } from "../host/registry";
import { threadStatuses, unionOfEffective, type ThreadStatus } from "../host/privileges";
import { formatBytes, formatCount } from "../units";
import { formatDuration } from "../audit/sessions";

export class PsCommand extends EbpfctlCommand {
  static paths = [["ps"]];
  static usage = Command.Usage({
    description: "List the tracing sessions running on this host, with limits and current usage",
    details: `
      Reads $EBPFCTL_RUN_DIR/sessions (/run/ebpfctl/sessions), where every session refreshes its entry
      about once a second: pid, recipe, user, start, usage against each budget, and the kernel
      program and link ids it holds. Entries of processes that are gone (crashed, SIGKILLed, or a pid
      now reused by another process: the start time tells) are stale and removed.
    `,
    examples: [["What is tracing this host", "ebpfctl ps"], ["As JSON", "ebpfctl ps --output json"]],
  });
  output = outputOption();

  async run(): Promise<number> {
    if (this.output !== "json" && this.output !== "table") throw usageError(`--output must be table or json, got "${this.output}"`);
    const listed = listSessions();
    const stale = listed.stale;
    // CAPS is read from the kernel, per thread (/proc/PID/task/*/status), not from the entry the
    // session wrote about itself: the union of every thread's effective set.
    const live = listed.live.map((s) => withThreadTruth(s));
    if (this.output === "json") {
      this.context.stdout.write(JSON.stringify({ sessions: live, stale_removed: stale.map((s) => ({ id: s.id, pid: s.pid, recipe: s.recipe })) }) + "\n");
      return 0;
    }
    if (!live.length) {
      this.context.stdout.write(`no tracing sessions running${stale.length ? ` (removed ${stale.length} stale entr${stale.length === 1 ? "y" : "ies"})` : ""}\n`);
      return 0;
    }
    const color = useColor(this.context.stdout);
    const t = new Table({
      head: ["SESSION", "PID", "USER", "RECIPE", "STATE", "UP", "RATE/MAX", "MEM/MAX", "CPU/MAX", "EVENTS", "DROPS", "PROGS", "CAPS"],
      style: { head: color ? ["bold"] : [], border: color ? ["grey"] : [] },
    });
    for (const s of live) {
      const u = s.usage;
      t.push([
        s.id,
        String(s.pid),
        s.user,
        s.recipe + (s.profile === "reduced" ? " (reduced)" : ""),
        s.state,
        formatDuration(Date.now() - Date.parse(s.started)),
        `${u ? formatCount(u.rate) : "-"}/${formatCount(s.limits.max_rate)}`,
        `${u ? formatBytes(u.memory) : "-"}/${formatBytes(s.limits.max_memory)}`,
        `${u ? `${u.cpu_percent.toFixed(2)}%` : "-"}/${s.limits.max_cpu}%`,
        u ? String(u.delivered) : "-",
        u ? String(u.dropped) : "-",
        s.prog_ids.join(","),
        s.capabilities === null ? "?" : s.capabilities.length ? s.capabilities.map((c) => c.replace(/^CAP_/, "")).join(",") : s.threads ? `none (${s.threads.length} threads)` : "none",
      ]);
    }
    this.context.stdout.write(t.toString() + "\n");
    return 0;
  }
}

/** The entry with `capabilities` replaced by what every thread of the live process holds now. */
function withThreadTruth(s: SessionEntry): SessionEntry & { threads?: ThreadStatus[] } {
  if (s.state !== "running") return s;
  const threads = threadStatuses(s.pid);
  if (!threads.length) return s;
  return { ...s, capabilities: unionOfEffective(threads), threads };
}
