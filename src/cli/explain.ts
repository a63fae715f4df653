import { Command, Option } from "clipanion";
import { EbpfctlCommand } from "./base";
import { embeddedManifest, recipeHelp } from "./recipe-help";

export class ExplainCommand extends EbpfctlCommand {
  static paths = [["explain"]];
  static usage = Command.Usage({
    description: "What a recipe answers: its parameters, columns, overhead, budgets and this kernel's fallbacks",
    details: "From recipes/RECIPE.md and the signed manifest, both embedded at build. The same as `ebpfctl trace RECIPE --help`, plus which probe variant this kernel would use.",
    examples: [["Before tracing exec() calls", "ebpfctl explain execsnoop"]],
  });
  recipe = Option.String({ name: "recipe" });

  async run(): Promise<number> {
    this.context.stdout.write(recipeHelp(this.recipe, onThisKernel(this.recipe)));
    return 0;
  }
}

/** The variant each probe would use here (the same selection trace makes), or why it cannot say. */
function onThisKernel(name: string): string[] {
  try {
    const { manifest } = embeddedManifest(name);
    const { kernelFeatures } = require("../kernel/features") as typeof import("../kernel/features");
    const { readKernelFacts } = require("../kernel/facts") as typeof import("../kernel/facts");
    const { selectProfile, featuresNeeded } = require("../kernel/profile") as typeof import("../kernel/profile");
    const facts = readKernelFacts();
    const sel = selectProfile(manifest, kernelFeatures({ facts, only: featuresNeeded(manifest) }));
    return [
      "",
      `On this kernel (${facts.release}): profile ${sel.profile}${sel.reasons.length ? ` (${sel.reasons.join("; ")})` : ""}`,
      ...sel.probes.map((p) => `  ${p.name}: ${p.chosen ? `${p.chosen.type}${p.chosen.target ? ` ${p.chosen.target}` : ""}${p.chosenIndex > 0 ? ` (fallback ${p.chosenIndex}${p.lost ? `: loses ${p.lost}` : ""})` : ""}` : "none available"}`),
    ];
  } catch (e) {
    return ["", `On this kernel: unknown (${(e as Error).message})`];
  }
}
