import { Command } from "clipanion";
import { EbpfctlCommand, outputOption } from "./base";
import { newSessionId } from "../audit/audit-log";
import { sealLog } from "../audit/seal-init";

export class AuditInitCommand extends EbpfctlCommand {
  static paths = [["audit", "init"]];
  static usage = Command.Usage({
    description: "Seal the audit log: every later record carries a forward-secure MAC, every session end a signed checkpoint",
    details: `
      Creates the sealing key (audit.jsonl.key, the HMAC key of the next record, overwritten by the
      next key after every record) and the checkpoint signing key (audit.jsonl.sign, Ed25519), both
      0600 and new, and writes an "audit_sealed" record. Prints the verification secret ONCE: the
      initial key and the checkpoint public key. Keep it off this host (a password manager, paper):
      "ebpfctl audit verify --key SECRET" needs it, and the host no longer holds it once the first
      record is sealed, so a root attacker who arrives later cannot rewrite what was sealed before.
      Refused on a log that is already sealed.
    `,
    examples: [["Seal the default log and store the secret elsewhere", "sudo ebpfctl audit init"]],
  });
  output = outputOption();

  async run(): Promise<number> {
    const r = sealLog(this.auditLogPath(), { session: newSessionId() });
    if (this.output === "json") {
      this.context.stdout.write(JSON.stringify({ secret: r.text, first_seq: r.secret.firstSeq, public_key: r.secret.publicKey, sealed: r.sealed, checkpoint: r.checkpoint }) + "\n");
      return 0;
    }
    this.context.stdout.write(
      `sealed ${this.auditLogPath()} from seq ${r.secret.firstSeq}.\n` +
        `verification secret (shown once; store it off this host, it is needed by "ebpfctl audit verify --key"):\n` +
        `${r.text}\n`,
    );
    return 0;
  }
}
