import { Command } from "clipanion";
import { EbpfctlCommand } from "./base";
import { manPage } from "./docs-gen";
import { embeddedRecipeNames } from "./recipe-help";

export class ManCommand extends EbpfctlCommand {
  static paths = [["man"]];
  static usage = Command.Usage({
    description: "Print the ebpfctl(1) man page (roff), generated from the command definitions",
    examples: [["Read it", "ebpfctl man | man -l -"]],
  });

  async run(): Promise<number> {
    this.context.stdout.write(manPage(this.cli.definitions(), this.cli.binaryVersion ?? "", embeddedRecipeNames()));
    return 0;
  }
}
