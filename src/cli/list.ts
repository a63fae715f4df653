import { Command } from "clipanion";
import Table from "cli-table3";
import pc from "picocolors";
import { EbpfctlCommand, outputOption, useColor } from "./base";
import { recipeCatalog } from "../session/recipe-catalog";

/** Borderless cli-table3 style: one line per row, like the BCC tools' listings. */
const PLAIN = {
  top: "", "top-mid": "", "top-left": "", "top-right": "", bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
  left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "", middle: " ",
};

export class ListCommand extends EbpfctlCommand {
  static paths = [["list"]];
  static usage = Command.Usage({
    description: "List recipes with their signer and their profile on this kernel",
    examples: [["List recipes", "ebpfctl list"], ["As JSON", "ebpfctl list --output json"]],
  });
  output = outputOption();

  async run(): Promise<number> {
    const rows = recipeCatalog();
    if (this.output === "json") {
      for (const r of rows) this.context.stdout.write(JSON.stringify(r) + "\n");
      return 0;
    }
    const color = useColor(this.context.stdout);
    const paint = (p: string) => (!color ? p : p === "full" ? pc.green(p) : p === "reduced" ? pc.yellow(p) : pc.red(p));
    // One line per recipe: no wrapping, long cells are cut by cli-table3 with an ellipsis.
    const t = new Table({ head: ["RECIPE", "VERSION", "KIND", "PROFILE", "SIGNER", "SUMMARY", "FALLBACKS"], style: { head: color ? ["bold"] : [], border: [], "padding-left": 0, "padding-right": 1 }, chars: PLAIN, colWidths: [13, 9, 11, 10, 18, 50, 28] });
    for (const r of rows) {
      const signer = r.verified ? r.signer ?? "unsigned" : `REFUSED: ${r.refusal}`;
      t.push([r.name, r.version ?? "?", r.kind ?? "?", paint(r.profile), signer, r.summary ?? "", r.fallbacks.join(", ")]);
    }
    this.context.stdout.write(t.toString().split("\n").map((l) => l.trimEnd()).join("\n") + "\n");
    return 0;
  }
}
