import { Command } from "clipanion";
import { basename } from "node:path";
import { EbpfctlCommand, outputOption } from "./base";
import { newSessionId, rotate } from "../audit/audit-log";

export class AuditRotateCommand extends EbpfctlCommand {
  static paths = [["audit", "rotate"]];
  static usage = Command.Usage({
    description: "Rotate the audit log, keeping the hash chain linked across files",
    details: `
      Renames the live file to the next audit.jsonl.N (1 is the oldest) and starts a new live file
      whose first record ("rotated") links to the last record of the old one, so "ebpfctl audit
      verify" checks the chain across files. Safe while sessions are writing: they follow the new
      file on their next record. A damaged end of the old file stays in it as evidence.
    `,
    examples: [["Rotate (e.g. from a weekly timer)", "sudo ebpfctl audit rotate"]],
  });
  output = outputOption();

  async run(): Promise<number> {
    const r = rotate(this.auditLogPath(), { session: newSessionId() });
    if (this.output === "json") this.context.stdout.write(JSON.stringify(r) + "\n");
    else this.context.stdout.write(`rotated ${r.from} -> ${basename(r.to)}; chain continues at seq ${r.record.seq}${r.record.damaged ? ` (old file damaged: ${r.record.damaged})` : ""}\n`);
    return 0;
  }
}
