// ebpfctl stop SESSION|--all: end running sessions cleanly and prove the kernel let go of them.
import { Command, Option } from "clipanion";
import { EbpfctlCommand, outputOption } from "./base";
import { sessionNotFound, stopIncomplete, usageError } from "../errors";
import { listSessions } from "../host/registry";
import { stopSessions } from "../host/host-stop";

export class StopCommand extends EbpfctlCommand {
  static paths = [["stop"]];
  static usage = Command.Usage({
    description: "Stop running tracing sessions and verify their programs are gone from the kernel",
    details: `
      Sends SIGTERM (the session detaches, drains, and writes \`detached\` reason SIGTERM and its
      session_end, exactly as on Ctrl-C), waits up to --timeout seconds for the process to end, then
      lists the kernel's BPF programs and links to check none of the session's ids remain.
      --force sends SIGKILL to a session still running after the timeout (the kernel then closes its
      descriptors, which detaches everything, but the session cannot write its end record).
      A session id may be abbreviated to a unique prefix. Exit 0 when every session ended and
      the kernel holds none of its ids.
    `,
    examples: [
      ["Stop one session", "sudo ebpfctl stop 3f2a9c"],
      ["Stop everything", "sudo ebpfctl stop --all"],
    ],
  });
  session = Option.String({ required: false, name: "session" });
  all = Option.Boolean("--all", false, { description: "Stop every running session" });
  timeout = Option.String("--timeout", "5", { description: "Seconds to wait after SIGTERM" });
  force = Option.Boolean("--force", false, { description: "SIGKILL sessions still running after the timeout" });
  output = outputOption();

  async run(): Promise<number> {
    if (!this.all === !this.session) throw usageError("name one session (ebpfctl ps) or give --all");
    const timeoutS = Number(this.timeout);
    if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw usageError(`--timeout: expected seconds, got "${this.timeout}"`);
    const { live } = listSessions();
    const targets = this.all ? live : live.filter((s) => s.id.startsWith(this.session!));
    if (!this.all && targets.length !== 1) {
      if (targets.length > 1) throw usageError(`"${this.session}" matches ${targets.length} sessions: ${targets.map((t) => t.id).join(", ")}`);
      throw sessionNotFound(this.session!);
    }
    const outcomes = await stopSessions(targets, { timeoutMs: timeoutS * 1000, force: this.force });
    if (this.output === "json") this.context.stdout.write(JSON.stringify({ stopped: outcomes }) + "\n");
    else {
      if (!outcomes.length) this.context.stdout.write("no tracing sessions running\n");
      for (const o of outcomes) {
        const head = `session ${o.id} (${o.recipe}, pid ${o.pid})`;
        if (!o.exited) this.context.stdout.write(`${head}: still running after ${timeoutS}s (try --force)\n`);
        else if (!o.verified) this.context.stdout.write(`${head}: ended after ${o.ms} ms, but the kernel still holds prog ${o.remaining_prog_ids.join(",") || "-"} link ${o.remaining_link_ids.join(",") || "-"}\n`);
        else this.context.stdout.write(`${head}: ${o.killed ? "killed" : "stopped"} in ${o.ms} ms; the kernel holds none of its programs or links\n`);
      }
    }
    const bad = outcomes.filter((o) => !o.verified);
    if (bad.length && this.output !== "json") throw stopIncomplete(bad.map((o) => `${o.id} ${o.exited ? "left kernel objects behind" : "did not exit"}`).join("; "));
    return bad.length ? 1 : 0;
  }
}
