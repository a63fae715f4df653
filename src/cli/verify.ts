import { Command, Option } from "clipanion";
import Table from "cli-table3";
import pc from "picocolors";
import { EbpfctlCommand, outputOption, useColor } from "./base";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { usageError, verifyGateFailed } from "../errors";
import { readKernelFacts } from "../kernel/facts";
import { compareWithBaseline, gateError, readBaseline, verifyRecipes, writeBaseline, type Comparison, type VerifyReport } from "../verifier/verify";
import { candidatePath, chooseBaseline, majorMinor } from "../verifier/baseline-select";

export class VerifyCommand extends EbpfctlCommand {
  static paths = [["verify"]];
  static usage = Command.Usage({
    description: "Load every recipe program through the verifier without attaching, and compare with a baseline",
    details: `
      For each recipe, each probe and each alternative whose attach kind this kernel supports (as
      \`ebpfctl doctor\` probes it), the signed recipe's object is opened and only that one program is
      loaded (maps sized as the manifest says, default parameters), never attached, then closed.
      Reports accepted (verified instructions, load time) or rejected (the verifier lines that explain
      it; the full log is saved under $EBPFCTL_RUN_DIR/verifier-logs). Alternatives the kernel lacks are
      \`unsupported\`, with the evidence, and are not loaded. Each probe's chosen alternative (the one
      \`trace\` would attach here) is marked.

      \`--baseline FILE\` compares with a committed baseline (bpf/verifier-baseline/<kernel release>.json)
      and exits 11 when an alternative's acceptance changes (accepted, rejected, unsupported: any way),
      a probe's chosen alternative changes, an alternative appears or disappears, or verified
      instructions grow by more than --threshold percent (default 10). \`--write-baseline FILE\` writes
      this run as a baseline (no timings). Without --baseline the exit is 0 unless loading failed outright.

      \`--baseline DIR\` (the CI gate: bpf/verifier-baseline) picks this kernel's own baseline and
      compares exactly as above. A new build with no baseline of its own (6.18.44-fc-v1045 after
      6.18.44-fc-v669) is compared with the nearest baseline of the same major.minor: acceptance and
      chosen-variant changes still fail, verified-instruction drift is reported but does not fail,
      and the run writes a candidate baseline for this build to --candidate-dir (default
      build/verifier-baseline) and names it, to review and commit. No baseline of this major.minor
      at all fails (exit 11), after writing the candidate. A --baseline path that does not exist is
      a usage error (exit 2).
    `,
    examples: [
      ["Verify every recipe on this kernel", "sudo ebpfctl verify"],
      ["The CI gate for this kernel (own baseline, else the nearest build of its major.minor)", "sudo ebpfctl verify --baseline bpf/verifier-baseline"],
      ["Compare with one baseline file", "sudo ebpfctl verify --baseline bpf/verifier-baseline/$(uname -r).json"],
      ["Record this kernel's baseline", "sudo ebpfctl verify --write-baseline bpf/verifier-baseline/$(uname -r).json"],
      ["One recipe, as JSON", "sudo ebpfctl verify --recipe tcpconnect --output json"],
    ],
  });

  recipes = Option.Array("--recipe", [], { description: "Only this recipe (repeatable)" });
  baseline = Option.String("--baseline", { description: "Compare with this baseline file; exit 11 on a change" });
  writeBaselineFile = Option.String("--write-baseline", { description: "Write this run as a baseline file" });
  candidateDir = Option.String("--candidate-dir", "build/verifier-baseline", { description: "Where --baseline DIR writes a candidate baseline for a build with none of its own" });
  threshold = Option.String("--threshold", "10", { description: "Allowed verified-insns growth in percent (default 10)" });
  output = outputOption();

  async run(): Promise<number> {
    if (this.output !== "json" && this.output !== "table") throw usageError(`--output must be table or json, got "${this.output}"`);
    const threshold = Number(String(this.threshold).replace(/\s*%$/, ""));
    if (!Number.isFinite(threshold) || threshold < 0) throw usageError(`--threshold must be a non-negative percentage, got "${this.threshold}"`);
    // Choose and read the baseline first: a bad path fails before minutes of loading.
    const facts = readKernelFacts();
    const choice = this.baseline ? chooseBaseline(this.baseline, facts.release) : undefined;
    const baselineFile = choice?.file;
    const base = baselineFile ? readBaseline(baselineFile) : undefined;
    const report = verifyRecipes({ recipes: this.recipes, facts });
    if (this.writeBaselineFile) writeBaseline(this.writeBaselineFile, report);
    const cmp = base ? compareWithBaseline(report, base, threshold, this.recipes) : undefined;
    // A build without a baseline of its own (searched in a directory): leave one to commit.
    let candidate: string | undefined;
    if (choice?.fromDir && choice.release !== report.kernel) {
      candidate = candidatePath(this.candidateDir, report.kernel);
      mkdirSync(dirname(candidate), { recursive: true });
      writeBaseline(candidate, report);
    }
    const baselineOut = choice ? { baseline: { file: baselineFile ?? null, ...(candidate ? { candidate } : {}), ...(cmp ?? { kernel: report.kernel, mode: "none", changes: [], ok: false }) } } : {};

    if (this.output === "json") this.context.stdout.write(JSON.stringify({ ...report, ...baselineOut }) + "\n");
    else this.context.stdout.write(renderVerify(report, cmp, baselineFile, useColor(this.context.stdout)));
    if (this.writeBaselineFile) this.context.stderr.write(`wrote baseline ${this.writeBaselineFile}\n`);
    if (candidate) this.context.stderr.write(`wrote candidate baseline ${candidate} for ${report.kernel} (no baseline of its own${cmp ? `; compared with the nearest, ${cmp.baselineKernel}` : ""}): review it and commit it as bpf/verifier-baseline/${report.kernel}.json\n`);
    if (choice && !baselineFile) {
      throw verifyGateFailed(`no baseline for kernel ${report.kernel} or any other ${majorMinor(report.kernel) ?? "?"} build in ${this.baseline}`, `review the candidate ${candidate} and commit it as bpf/verifier-baseline/${report.kernel}.json`);
    }
    if (cmp && !cmp.ok) throw gateError(cmp, baselineFile!, candidate);
    return 0;
  }
}

function renderVerify(r: VerifyReport, cmp: Comparison | undefined, baselineFile: string | undefined, color: boolean): string {
  const paint = (s: string) => (!color ? s : s === "accepted" ? pc.green(s) : s === "rejected" ? pc.red(s) : pc.yellow(s));
  const table = new Table({
    head: ["RECIPE", "PROBE", "ALTERNATIVE", "TYPE", "STATUS", "INSNS", "LOAD MS"],
    style: { head: color ? ["bold"] : [], border: color ? ["grey"] : [] },
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  const notes: string[] = [];
  for (const rec of r.recipes) {
    for (const p of rec.probes) {
      for (const a of p.alternatives) {
        const mark = a.program === p.chosen ? "* " : "  ";
        table.push([rec.recipe, p.name, mark + a.program, a.type, paint(a.status), a.verified_insns ?? "", a.load_ms ?? ""]);
        if (a.status === "rejected") notes.push(`  ${rec.recipe}/${a.program}: rejected (errno ${a.errno}): ${(a.reason ?? []).join(" | ")}${a.log_file ? ` [full log: ${a.log_file}]` : ""}`);
      }
    }
  }
  const out = [`Kernel ${r.kernel} (${r.arch}), lockdown ${r.lockdown}. * = the alternative trace chooses here.`, table.toString()];
  out.push(`${r.totals.accepted} accepted, ${r.totals.rejected} rejected, ${r.totals.unsupported} unsupported (not loaded); loads took ${r.totals.load_ms} ms in total`);
  if (notes.length) out.push("", "Rejected:", ...notes);
  if (cmp) {
    const how =
      cmp.mode === "exact" ? `this kernel's own; insns threshold ${cmp.thresholdPct} %`
      : cmp.mode === "nearest" ? `the nearest ${majorMinor(cmp.kernel)} build, NOT this build ${cmp.kernel}: acceptance and choice must match, insns drift is reported only`
      : `NOT this kernel ${cmp.kernel}; insns threshold ${cmp.thresholdPct} %`;
    out.push("", `Baseline ${baselineFile} (kernel ${cmp.baselineKernel}, ${how}):`);
    if (!cmp.changes.length) out.push("  no changes");
    for (const c of cmp.changes) out.push(`  ${c.fails ? (color ? pc.red("FAIL") : "FAIL") : "note"} ${c.kind.padEnd(10)} ${c.where}: ${c.was} -> ${c.now}`);
  }
  return out.join("\n") + "\n";
}
