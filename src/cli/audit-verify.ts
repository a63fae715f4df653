import { Command, Option } from "clipanion";
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import { EbpfctlError, auditChainBroken, auditLogMissing, auditSecretInvalid, ExitCode } from "../errors";
import { describeProblem, readRecords, verifyLog } from "../audit/chain";
import { parseSecret, type VerificationSecret } from "../audit/seal";
import { verifySeal, withoutKeyStatement, type SealReport } from "../audit/seal-verify";
import { EbpfctlCommand, outputOption } from "./base";

export class AuditVerifyCommand extends EbpfctlCommand {
  static paths = [["audit", "verify"]];
  static usage = Command.Usage({
    description: "Check the audit log's hash chain, and with --key its seal, across rotated files",
    details: `
      Walks every record of the rotated files (oldest first) and the live file, recomputing each
      hash and following each prev link, and checks the .head sidecar. Exit 0 when intact; exit 12
      naming the first bad record (file, line, seq) and what happened to it: edited, deleted,
      reordered, truncated, foreign (not written by ebpfctl), malformed, or head (sidecar overwritten).

      With --key (the verification secret "ebpfctl audit init" printed, or a file holding it) a
      sealed log is checked too: every record's MAC under its seq's forward-evolved key, every
      checkpoint's Ed25519 signature, and the .key and .head files against the end of the log. This
      detects rewriting and re-hashing, forged records and records cut from the end (README: "What
      the audit log proves"). Without --key the output says what was not proven.
    `,
    examples: [
      ["Verify the default log with its secret", "sudo ebpfctl audit verify --key /root/ebpfctl-seal.secret"],
      ["Verify a copy, as JSON", "ebpfctl audit verify --audit-log /srv/evidence/audit.jsonl --output json"],
    ],
  });
  key = Option.String("--key", { description: "The verification secret (ebpfctl-seal-1:…) or a file holding it" });
  output = outputOption();

  async run(): Promise<number> {
    const path = this.auditLogPath();
    const secret = this.key !== undefined ? readSecret(this.key) : undefined;
    const { files, result } = verifyLog(path);
    if (files.length === 0) throw auditLogMissing(path);
    const records = result.ok ? readRecords(files) : [];
    const seal: SealReport | undefined = result.ok && secret ? verifySeal(records, secret, path) : undefined;
    const ok = result.ok && (seal?.ok ?? true);
    if (this.output === "json") {
      this.context.stdout.write(JSON.stringify({ files, ...result, ...(seal ? { seal } : result.ok ? { unproven: withoutKeyStatement(records) } : {}) }) + "\n");
      return ok ? ExitCode.OK : ExitCode.AUDIT_CHAIN;
    }
    if (!result.ok) throw auditChainBroken(describeProblem(result));
    const where = `${result.records} records in ${files.length} file${files.length === 1 ? "" : "s"} (${files.map((f) => basename(f)).join(", ")})`;
    if (!seal) {
      this.context.stdout.write(`audit chain intact: ${where}\n${withoutKeyStatement(records)}\n`);
      return ExitCode.OK;
    }
    if (!seal.ok) {
      const first = seal.problems[0]!;
      const more = seal.problems.length > 1 ? ` (and ${seal.problems.length - 1} more problem${seal.problems.length === 2 ? "" : "s"}: ${[...new Set(seal.problems.slice(1).map((p) => p.kind))].join(", ")})` : "";
      throw auditChainBroken(`audit seal broken: ${first.kind}${first.seq !== null ? ` (seq ${first.seq})` : ""}: ${first.detail}${more}`);
    }
    this.context.stdout.write(
      `audit log sealed and intact: ${where}; ${seal.sealed} records carry valid MACs (seq ${seal.firstSeq}–${seal.lastSeq})` +
        `${seal.unsealedBefore ? `, ${seal.unsealedBefore} before the seal are hash-chained only` : ""}; ${seal.checkpoints} signed checkpoint${seal.checkpoints === 1 ? "" : "s"}` +
        `${seal.lastCheckpointSeq !== null ? ` (last of seq ${seal.lastCheckpointSeq})` : ""}\n` +
        seal.notes.map((n) => `note: ${n}\n`).join(""),
    );
    return ExitCode.OK;
  }
}

/** The secret itself, or a small regular file holding it. */
function readSecret(arg: string): VerificationSecret {
  if (arg.startsWith("ebpfctl-seal-")) return parseSecret(arg);
  let fd: number;
  try {
    fd = openSync(arg, "r");
  } catch (e) {
    throw auditSecretInvalid(`cannot open ${arg}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw auditSecretInvalid(`${arg} is not a regular file`);
    if (st.size > 4096) throw auditSecretInvalid(`${arg} is ${st.size} bytes; a secret is one line`);
    const buf = Buffer.alloc(4097);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return parseSecret(buf.subarray(0, n).toString("utf8"));
  } catch (e) {
    if (e instanceof EbpfctlError) throw e;
    throw auditSecretInvalid(`cannot read ${arg}: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}
