import { Command, Option } from "clipanion";
import { snakeKeys } from "../output/records";
import { EbpfctlCommand, outputOption } from "./base";
import { usageError } from "../errors";
import { loadVerifiedRecipe } from "../recipe/trust";
import { formatBytes, formatCount, formatDuration } from "../units";

const FORMAT: Record<string, (n: number) => string> = {
  max_duration: formatDuration,
  max_rate: (n) => `${formatCount(n)}/s`,
  max_memory: formatBytes,
  max_cpu: (n) => `${n}%`,
  max_output: formatBytes,
};

export class RecipeInspectCommand extends EbpfctlCommand {
  static paths = [["recipe", "inspect"]];
  static usage = Command.Usage({
    description: "Show what a recipe would load: programs, attach points, budgets and who signed it",
    details: `
      The recipe is verified first (signature, object pin, schema), so what is shown is exactly
      what a trace would load. Use --output json for the full manifest.
    `,
    examples: [
      ["Inspect a built-in recipe", "ebpfctl recipe inspect opensnoop"],
      ["Inspect a recipe file as JSON", "ebpfctl recipe inspect --file ./tcpconnect.yaml --output json"],
    ],
  });
  name = Option.String({ name: "NAME", required: false });
  file = Option.String("-f,--file", { description: "Inspect the manifest at PATH (signature PATH.minisig, object beside it)" });
  output = outputOption();

  async run(): Promise<number> {
    if (!!this.name === !!this.file) throw usageError("give a recipe NAME or --file PATH (one of them)", "ebpfctl recipe inspect opensnoop");
    const r = loadVerifiedRecipe({ name: this.name, file: this.file });
    const m = r.manifest;
    if (this.output === "json") {
      this.context.stdout.write(
        JSON.stringify(snakeKeys({ manifest: m, source: r.source, objectSha256: r.objectSha256, objectBytes: r.object.length, signer: r.signer })) + "\n",
      );
      return 0;
    }
    const out: string[] = [];
    out.push(`recipe    ${m.name} ${m.version} (${m.kind})`, `summary   ${m.summary}`, `manifest  ${r.source.manifestFile}`);
    out.push(`object    ${r.source.objectFile} (${r.object.length} bytes) sha256:${r.objectSha256}`);
    out.push(r.signer ? `signer    key ${r.signer.keyId} (${r.signer.keySource}): ${r.signer.trustedComment}` : "signer    none (unsigned)");
    out.push("probes:");
    for (const p of m.probes) {
      out.push(`  ${p.name}${p.essential ? "" : " (optional)"}${p.cost !== undefined ? ` cost ${p.cost}` : ""}`);
      p.alternatives.forEach((a, i) => out.push(`    ${i === 0 ? "program" : "or     "} ${a.program}: ${a.type}${a.target ? ` ${a.target}` : ""}${a.loses ? ` (loses: ${a.loses})` : ""}`));
    }
    const b = m.budgets;
    out.push(`budgets:${" ".repeat(8)}${"default".padStart(10)}  ceiling`);
    for (const k of Object.keys(b.defaults) as (keyof typeof b.defaults)[]) {
      const f = FORMAT[k] ?? String;
      out.push(`  ${k.padEnd(14)}${f(b.defaults[k]).padStart(10)}  ${f(b.ceilings[k])}`);
    }
    out.push(`  on_rate_breach ${b.on_rate_breach}`);
    this.context.stdout.write(out.join("\n") + "\n");
    return 0;
  }
}
