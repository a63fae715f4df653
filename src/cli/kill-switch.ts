// ebpfctl kill-switch on|off|status: stop every tracing session on this host now, and refuse new ones.
import { Command, Option } from "clipanion";
import { EbpfctlCommand, outputOption } from "./base";
import { AuditLog, newSessionId } from "../audit/audit-log";
import { invokingUser } from "../audit/sessions";
import { usageError } from "../errors";
import { describeKillSwitch, engageKillSwitch, readKillSwitch, releaseKillSwitch } from "../host/kill-switch";
import { listSessions } from "../host/registry";
import { remainingKernelIds, waitForExit } from "../host/host-stop";

function record(path: string, event: "kill_switch_on" | "kill_switch_off", fields: Record<string, unknown>): void {
  const log = AuditLog.open({ path, session: newSessionId() });
  try {
    log.append(event, fields);
  } finally {
    log.close();
  }
}

export class KillSwitchOnCommand extends EbpfctlCommand {
  static paths = [["kill-switch", "on"]];
  static usage = Command.Usage({
    description: "Engage the host kill switch: every running session detaches within a second, new ones are refused",
    details: `
      Writes $EBPFCTL_RUN_DIR/kill-switch (/run/ebpfctl: gone at reboot) or, with --persistent,
      $EBPFCTL_CONFIG_DIR/kill-switch (/etc/ebpfctl: survives reboot). Running sessions watch both
      (inotify, no polling), detach at once, record \`detached\` with reason kill-switch and exit 8.
      New sessions are refused (exit 8) naming who engaged the switch, when and why. The command
      waits up to --wait seconds for the running sessions to end and reports how long each took.
      Engaging is an audit event (kill_switch_on, with by and reason).
    `,
    examples: [
      ["Stop all tracing during an incident", "sudo ebpfctl kill-switch on --reason 'INC-4211: CPU regression'"],
      ["Keep tracing off across reboots", "sudo ebpfctl kill-switch on --persistent --reason 'host under investigation'"],
    ],
  });
  reason = Option.String("--reason", { description: "Why (shown to everyone who is refused)" });
  persistent = Option.Boolean("--persistent", false, { description: "Survive reboot (/etc/ebpfctl/kill-switch)" });
  wait = Option.String("--wait", "5", { description: "Seconds to wait for running sessions to end (0: do not wait)" });
  output = outputOption();

  async run(): Promise<number> {
    const waitS = Number(this.wait);
    if (!Number.isFinite(waitS) || waitS < 0) throw usageError(`--wait: expected seconds, got "${this.wait}"`);
    const user = invokingUser();
    // Record first: a switch the audit log cannot record is not engaged (fail closed on the log, not on the host).
    record(this.auditLogPath(), "kill_switch_on", { by: user.user, uid: user.uid, reason: this.reason ?? null, persistent: this.persistent });
    const running = listSessions().live;
    const t0 = performance.now();
    const state = engageKillSwitch({ reason: this.reason, persistent: this.persistent });
    const gone = waitS > 0 ? await waitForExit(running, waitS * 1000, t0) : new Map<string, number>();
    const ended = running.filter((e) => gone.has(e.id));
    const ids = ended.length ? await remainingKernelIds(ended) : { progs: new Map(), links: new Map() };
    const sessions = running.map((e) => ({
      id: e.id,
      pid: e.pid,
      recipe: e.recipe,
      ended: gone.has(e.id),
      ms: gone.has(e.id) ? Math.round(gone.get(e.id)!) : null,
      remaining_prog_ids: ids.progs.get(e.id) ?? [],
      remaining_link_ids: ids.links.get(e.id) ?? [],
    }));
    if (this.output === "json") {
      this.context.stdout.write(JSON.stringify({ kill_switch: state, sessions }) + "\n");
    } else {
      this.context.stdout.write(`kill switch on (${state.file}): ${describeKillSwitch(state)}\n`);
      for (const s of sessions) {
        const left = s.remaining_prog_ids.length + s.remaining_link_ids.length;
        this.context.stdout.write(
          `  session ${s.id} (${s.recipe}, pid ${s.pid}): ${s.ended ? `ended after ${s.ms} ms${left ? `, but the kernel still holds prog ${s.remaining_prog_ids.join(",")} link ${s.remaining_link_ids.join(",")}` : ", kernel shows none of its programs"}` : waitS > 0 ? `still running after ${waitS}s` : "signalled"}\n`,
        );
      }
      if (!running.length) this.context.stdout.write("  no sessions were running\n");
    }
    return sessions.every((s) => s.ended || waitS === 0) ? 0 : 1;
  }
}

export class KillSwitchOffCommand extends EbpfctlCommand {
  static paths = [["kill-switch", "off"]];
  static usage = Command.Usage({
    description: "Release the host kill switch (both the runtime and the persistent form)",
    examples: [["Allow tracing again", "sudo ebpfctl kill-switch off --reason 'INC-4211 resolved'"]],
  });
  reason = Option.String("--reason", { description: "Why it is safe again" });

  async run(): Promise<number> {
    const user = invokingUser();
    const current = readKillSwitch();
    record(this.auditLogPath(), "kill_switch_off", { by: user.user, uid: user.uid, reason: this.reason ?? null, was: current ? { by: current.by, at: current.at, reason: current.reason, persistent: current.persistent } : null });
    const removed = releaseKillSwitch();
    this.context.stdout.write(removed.length ? `kill switch off (removed ${removed.map((r) => r.file).join(", ")})\n` : "kill switch was already off\n");
    return 0;
  }
}

export class KillSwitchStatusCommand extends EbpfctlCommand {
  static paths = [["kill-switch", "status"], ["kill-switch"]];
  static usage = Command.Usage({
    description: "Show whether the host kill switch is on, who engaged it, when and why",
    details: "Exit 0 when off, 8 when on (so scripts can test it).",
    examples: [["Check", "ebpfctl kill-switch status"], ["As JSON", "ebpfctl kill-switch status --output json"]],
  });
  output = outputOption();

  async run(): Promise<number> {
    const s = readKillSwitch();
    if (this.output === "json") this.context.stdout.write(JSON.stringify(s ? { on: true, ...s } : { on: false }) + "\n");
    else this.context.stdout.write(s ? `kill switch on (${s.file}): ${describeKillSwitch(s)}\n` : "kill switch off\n");
    return s ? 8 : 0;
  }
}
