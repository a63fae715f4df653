// Every command extends EbpfctlCommand: it maps errors to the catalog's exit codes and prints
// one line (plus a hint) for an expected failure, never a stack trace.
import { Command, Option } from "clipanion";
import pc from "picocolors";
import { asEbpfctlError, ExitCode } from "../errors";

export abstract class EbpfctlCommand extends Command {
  auditLog = Option.String("--audit-log", { description: "Audit log path (default /var/log/ebpfctl/audit.jsonl, or $EBPFCTL_AUDIT_LOG)", hidden: true });

  abstract run(): Promise<number>;

  async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (e) {
      const err = asEbpfctlError(e);
      const color = useColor(this.context.stderr);
      const label = color ? pc.red("error") : "error";
      this.context.stderr.write(`${label}: ${err.message} [${err.code}]\n`);
      if (err.hint) this.context.stderr.write(`  hint: ${err.hint}\n`);
      if (err.exitCode === ExitCode.INTERNAL && process.env.EBPFCTL_DEBUG) this.context.stderr.write(`${(e as Error).stack}\n`);
      return err.exitCode;
    }
  }

  /** The audit log path in force: flag, then environment, then the default. */
  auditLogPath(): string {
    return this.auditLog ?? process.env.EBPFCTL_AUDIT_LOG ?? "/var/log/ebpfctl/audit.jsonl";
  }
}

/** Colour only on a TTY and never with NO_COLOR (https://no-color.org). */
export function useColor(stream: NodeJS.WritableStream): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== "") return false;
  return Boolean((stream as { isTTY?: boolean }).isTTY);
}

export const outputOption = () =>
  Option.String("-o,--output", "table", { description: "Output format: table or json" });
