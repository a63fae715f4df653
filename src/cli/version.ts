import { Command } from "clipanion";
import { EbpfctlCommand, outputOption } from "./base";
import { versionReport } from "../forensics/version-report";

export class VersionCommand extends EbpfctlCommand {
  static paths = [["version"], ["--version"], ["-V"]];
  static usage = Command.Usage({
    description: "Show ebpfctl's version, the libbpf it uses and the running kernel",
    examples: [["Show versions", "ebpfctl version"], ["As JSON", "ebpfctl version --output json"]],
  });
  output = outputOption();

  async run(): Promise<number> {
    const v = versionReport();
    if (this.output === "json") this.context.stdout.write(JSON.stringify(v) + "\n");
    else this.context.stdout.write(`ebpfctl ${v.version}\nlibbpf  ${v.libbpf}\nkernel  ${v.kernel} (${v.arch})\nbinary  sha256:${v.binary_sha256.slice(0, 16)}…\n`);
    return 0;
  }
}
