// A real CLI process with only the audit commands registered: used by the audit tests so they do
// not depend on the rest of the CLI building (the full entry is exercised in cli.test.ts too).
import { Builtins, Cli } from "clipanion";
import { AuditInitCommand } from "../../src/cli/audit-init";
import { AuditRotateCommand } from "../../src/cli/audit-rotate";
import { AuditShowCommand } from "../../src/cli/audit-show";
import { AuditTailCommand } from "../../src/cli/audit-tail";
import { AuditVerifyCommand } from "../../src/cli/audit-verify";

const cli = new Cli({ binaryLabel: "ebpfctl", binaryName: "ebpfctl", binaryVersion: "test", enableCapture: false });
cli.register(Builtins.HelpCommand);
for (const c of [AuditInitCommand, AuditShowCommand, AuditVerifyCommand, AuditTailCommand, AuditRotateCommand]) cli.register(c);
const code = await cli.run(process.argv.slice(2), Cli.defaultContext);
await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
process.exit(code);
