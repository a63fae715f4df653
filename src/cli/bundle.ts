// ebpfctl bundle: the minimal forensic bundle for an incident ticket.
import { Command, Option } from "clipanion";
import { EbpfctlCommand } from "./base";
import { usageError } from "../errors";
import { writeBundle } from "../forensics/bundle";
import { doctorReport } from "./doctor";
import { versionReport } from "../forensics/version-report";

export class BundleCommand extends EbpfctlCommand {
  static paths = [["bundle"]];
  static usage = Command.Usage({
    description: "Write the minimal forensic bundle (.tar.gz) for an incident",
    details: `
      SUMMARY.txt comes first and reads in under a minute: host, kernel, versions, kill switch, running
      sessions, the last sessions and how they ended, breaches, and whether the audit chain verifies.
      Then the evidence: doctor.json (kernel facts, capabilities, features), versions.json,
      compat.jsonl, sessions.json (accounting of each session: map memory, rate, CPU, drops, against
      its budgets), live.json (running sessions, host reservations, kill switch), audit-tail.jsonl
      with audit-verify.json, and the saved verifier logs. Opens with any tar: tar -xzf FILE.
      The bundle reads the audit log; it contains no event data.
    `,
    examples: [
      ["Everything recent", "sudo ebpfctl bundle --output-file /tmp/ebpfctl-bundle.tar.gz"],
      ["One session", "sudo ebpfctl bundle --session 3f2a9c --output-file inc-4211.tar.gz"],
    ],
  });
  session = Option.String("--session", { description: "Only this session (id or unique prefix)" });
  last = Option.String("--last", "10", { description: "How many recent sessions to include" });
  out = Option.String("--output-file", { required: true, description: "Where to write the .tar.gz" });

  async run(): Promise<number> {
    const last = Number(this.last);
    if (!Number.isInteger(last) || last < 1) throw usageError(`--last: expected a positive integer, got "${this.last}"`);
    const r = writeBundle({
      auditLogPath: this.auditLogPath(),
      output: this.out,
      session: this.session,
      last,
      doctor: () => doctorReport(),
      versions: () => versionReport(),
    });
    this.context.stdout.write(`bundle written: ${r.file} (${r.entries.length} files, ${r.sessions.length} session(s); audit chain ${r.auditOk === null ? "not verified" : r.auditOk ? "intact" : "BROKEN"})\n`);
    return 0;
  }
}
