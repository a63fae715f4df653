// Every command extends EbpfctlCommand: it maps errors to the catalog's exit codes and prints
// one line (plus a hint) for an expected failure, never a stack trace.
import { Command, Option } from "clipanion";
import pc from "picocolors";
import { asEbpfctlError, ExitCode, type EbpfctlError } from "../errors";
import { envelope, errorRecord } from "../output/records";

export abstract class EbpfctlCommand extends Command {
  auditLog = Option.String("--audit-log", { description: "Audit log path (default /var/log/ebpfctl/audit.jsonl, or $EBPFCTL_AUDIT_LOG)", hidden: true });

  abstract run(): Promise<number>;

  /** Session commands (trace): with -o json an `end` record follows the error record on every path. */
  protected readonly endsWithRecord: boolean = false;

  async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (e) {
      const err = asEbpfctlError(e);
      const o = this as unknown as { output?: unknown; recipe?: unknown };
      writeError(this.context.stderr, err, { json: o.output === "json", recipe: typeof o.recipe === "string" ? o.recipe : null, end: this.endsWithRecord });
      if (err.exitCode === ExitCode.INTERNAL && process.env.EBPFCTL_DEBUG) this.context.stderr.write(`${(e as Error).stack}\n`);
      return err.exitCode;
    }
  }

  /** The audit log path in force: flag, then environment, then the default. */
  auditLogPath(): string {
    return this.auditLog ?? process.env.EBPFCTL_AUDIT_LOG ?? "/var/log/ebpfctl/audit.jsonl";
  }
}

/**
 * An error as the user reads it: `error: what [CODE]` and `  hint: what to do`, or with -o json one
 * error record on stderr (scripts parse stderr too).
 */
export function writeError(stderr: NodeJS.WritableStream, err: EbpfctlError, o: { json: boolean; recipe?: string | null; session?: string | null; end?: boolean }): void {
  if (o.json) {
    const who = { recipe: o.recipe ?? null, session: o.session ?? null };
    stderr.write(JSON.stringify(errorRecord(err, who)) + "\n");
    if (o.end) stderr.write(JSON.stringify({ ...envelope("end", who.recipe, who.session), ts: new Date().toISOString(), reason: err.exitCode === ExitCode.USAGE ? "usage" : "refused", exit_code: err.exitCode }) + "\n");
    return;
  }
  const label = useColor(stderr) ? pc.red("error") : "error";
  stderr.write(`${label}: ${err.message} [${err.code}]\n`);
  if (err.hint) stderr.write(`  hint: ${err.hint}\n`);
}

/** Colour only on a TTY and never with NO_COLOR (https://no-color.org). */
export function useColor(stream: NodeJS.WritableStream): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return false;
  return Boolean((stream as { isTTY?: boolean }).isTTY);
}

export const outputOption = () =>
  Option.String("-o,--output", "table", { description: "Output format: table or json" });
