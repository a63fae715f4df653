// What one recipe answers and how to ask it: recipes/NAME.md (embedded at build) plus the
// manifest's parameters, columns and budgets. Shown by `ebpfctl explain NAME` and by
// `ebpfctl trace NAME --help`.
import { EMBEDDED_RECIPES } from "../../build/embedded";
import { recipeNotFound } from "../errors";
import { parseManifest, type Manifest } from "../recipe/manifest";
import { PARAMETERS } from "../recipe/params";
import { formatBudget, type BudgetName } from "../budget/budgets";
import { MODE_FLAGS } from "../trace/mode-flags";

export function embeddedRecipeNames(): string[] {
  return EMBEDDED_RECIPES.map((r) => r.name);
}

export function embeddedManifest(name: string): { manifest: Manifest; doc: string } {
  const r = EMBEDDED_RECIPES.find((x) => x.name === name);
  if (!r) throw recipeNotFound(name, embeddedRecipeNames());
  return { manifest: parseManifest(r.manifest, `embedded:recipes/${name}.yaml`), doc: r.doc ?? "" };
}

/** A field of the recipe's .md, e.g. "Question" or "Overhead", as plain text. */
export function docField(doc: string, label: string): string | undefined {
  const m = new RegExp(`\\*\\*${label}:?\\*\\*:?\\s*([\\s\\S]*?)(?:\\n\\s*\\n|$)`).exec(doc);
  return m?.[1]?.replace(/\s*\n\s*/g, " ").replace(/`/g, "").trim();
}

const BUDGETS: BudgetName[] = ["max_duration", "max_rate", "max_memory", "max_cpu", "max_output"];

export function recipeHelp(name: string, extra: string[] = []): string {
  const { manifest: m, doc } = embeddedManifest(name);
  const out: string[] = [`${m.name} ${m.version}: ${m.summary}`, ""];
  const question = docField(doc, "Question");
  if (question) out.push(`Answers:  ${question}`);
  const overhead = /\*\*Overhead: ([^.*]+)\.?\*\*\s*([\s\S]*?)(?:\n\s*\n|$)/.exec(doc);
  if (overhead) out.push(`Overhead: ${overhead[1]}${overhead[2] ? `. ${overhead[2].replace(/`/g, "").replace(/\s*\n\s*/g, " ").trim()}` : ""}`);
  out.push(`Kind:     ${m.kind === "stream" ? "stream (one line per event)" : `aggregation (${m.aggregate?.render}${m.aggregate?.label ? `: ${m.aggregate.label}` : ""})`}`);
  out.push(`Probes:   ${m.probes.map((p) => `${p.name} (${p.alternatives.map((a) => `${a.type}${a.target ? ` ${a.target}` : ""}`).join(" | ")})${p.essential ? "" : " optional"}`).join("; ")}`);
  out.push("", "Parameters:");
  for (const [p, b] of Object.entries(m.parameters)) {
    const spec = PARAMETERS[p];
    const bounds = [b.min !== undefined ? `min ${b.min}` : "", b.max !== undefined ? `max ${b.max}` : "", b.default !== undefined ? `default ${b.default}` : "", b.required ? "required" : ""].filter(Boolean).join(", ");
    out.push(`  ${(spec?.flag ?? p).padEnd(20)} ${spec?.description ?? ""}${bounds ? ` (${bounds})` : ""}`);
  }
  if (m.parameters.cgroup) out.push(`  ${"--unit".padEnd(20)} Only this systemd unit's tasks (NAME.service, resolved to its cgroup)`);
  const modes = MODE_FLAGS.filter((s) => s.applies(m));
  if (modes.length) out.push("", "Output flags:", ...modes.map((s) => `  ${s.flag}`));
  if (m.columns.length) out.push("", `Columns:  ${m.columns.map((c) => `${c.header} (${c.field}${c.format ? `, ${c.format}` : ""})`).join(", ")}`);
  out.push("", "Budgets (default / ceiling):");
  for (const b of BUDGETS) out.push(`  --${b.replace(/_/g, "-").padEnd(14)} ${formatBudget(b, m.budgets.defaults[b]).padEnd(10)} / ${formatBudget(b, m.budgets.ceilings[b])}`);
  out.push(`  on rate breach: ${m.budgets.on_rate_breach}`);
  out.push(...extra);
  const example = /```\n([\s\S]*?)```/.exec(doc)?.[1];
  if (example) out.push("", "Example:", ...example.trimEnd().split("\n").map((l) => `  ${l}`));
  out.push("", `Common flags (every recipe): -d/--duration, --max-*, -o/--output, --output-file, --profile; ebpfctl trace --help lists them.`);
  return out.join("\n") + "\n";
}
