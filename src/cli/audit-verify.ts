import { Command } from "clipanion";
import { basename } from "node:path";
import { EbpfctlCommand, outputOption } from "./base";
import { auditChainBroken, auditLogMissing, ExitCode } from "../errors";
import { describeProblem, verifyLog } from "../audit/chain";

export class AuditVerifyCommand extends EbpfctlCommand {
  static paths = [["audit", "verify"]];
  static usage = Command.Usage({
    description: "Check the audit log's hash chain, across rotated files",
    details: `
      Walks every record of the rotated files (oldest first) and the live file, recomputing each
      hash and following each prev link. Exit 0 when the chain is intact; exit 12 naming the first
      bad record (file, line, seq) and what happened to it: edited, deleted, reordered, truncated,
      foreign (not written by ebpfctl) or malformed.
    `,
    examples: [
      ["Verify the default log", "sudo ebpfctl audit verify"],
      ["Verify a copy, as JSON", "ebpfctl audit verify --audit-log /srv/evidence/audit.jsonl --output json"],
    ],
  });
  output = outputOption();

  async run(): Promise<number> {
    const path = this.auditLogPath();
    const { files, result } = verifyLog(path);
    if (files.length === 0) throw auditLogMissing(path);
    if (this.output === "json") {
      this.context.stdout.write(JSON.stringify({ files, ...result }) + "\n");
      return result.ok ? ExitCode.OK : ExitCode.AUDIT_CHAIN;
    }
    if (!result.ok) throw auditChainBroken(describeProblem(result));
    this.context.stdout.write(`audit chain intact: ${result.records} records in ${files.length} file${files.length === 1 ? "" : "s"} (${files.map((f) => basename(f)).join(", ")})\n`);
    return ExitCode.OK;
  }
}
