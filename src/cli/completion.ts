import { Command, Option } from "clipanion";
import { EbpfctlCommand } from "./base";
import { usageError } from "../errors";
import { bashCompletion, fishCompletion, zshCompletion } from "./docs-gen";
import { embeddedRecipeNames } from "./recipe-help";

export class CompletionCommand extends EbpfctlCommand {
  static paths = [["completion"]];
  static usage = Command.Usage({
    description: "Print a shell completion script (commands, options, recipe names)",
    examples: [
      ["bash, for this shell", "source <(ebpfctl completion bash)"],
      ["zsh, installed", "ebpfctl completion zsh > ~/.zfunc/_ebpfctl"],
      ["fish, installed", "ebpfctl completion fish > ~/.config/fish/completions/ebpfctl.fish"],
    ],
  });
  shell = Option.String({ name: "shell" });

  async run(): Promise<number> {
    const gen = { bash: bashCompletion, zsh: zshCompletion, fish: fishCompletion }[this.shell];
    if (!gen) throw usageError(`unknown shell "${this.shell}"`, "give bash, zsh or fish");
    this.context.stdout.write(gen(this.cli.definitions(), embeddedRecipeNames()));
    return 0;
  }
}
