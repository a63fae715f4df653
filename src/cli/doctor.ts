import { Command, Option } from "clipanion";
import Table from "cli-table3";
import pc from "picocolors";
import { EbpfctlCommand, outputOption, useColor } from "./base";
import { usageError } from "../errors";
import { readKernelFacts, mayLoadTracing, type KernelFacts } from "../kernel/facts";
import { kernelFeatures, type Feature, type FeatureReport } from "../kernel/features";
import { selectProfile, compatRecord, type CompatRecord } from "../kernel/profile";
import { checkLoadability, variantOutcomes } from "../verifier/load-check";
import { coreBtfCacheStatus } from "../kernel/core-btf";
import { cacheDir } from "../host/host-paths";
import { embeddedSources } from "../recipe/catalog";
import { parseManifest } from "../recipe/manifest";

export interface DoctorReport {
  facts: KernelFacts;
  features: FeatureReport;
  recipes: (CompatRecord | { recipe: string; error: string })[];
  /** CO-RE against minimised kernel BTF (src/kernel/core-btf.ts): the bpftool used, entries cached. */
  coreBtf: ReturnType<typeof coreBtfCacheStatus>;
  /** Variants this kernel image refused (run-time fallbacks, or --check-load), and whether loads ran now. */
  loadCheck: { ran: "loaded" | "cache" | string; loaded: string[]; file: string; rejected: { recipe: string; program: string; type: string; status: string; reason: string; at: string; log?: string }[] };
}

/**
 * Facts, probed features and every embedded recipe's profile, with the variants this kernel image's
 * verifier refused (at run time, or by --check-load, which loads every supported variant without
 * attaching) skipped as trace skips them.
 */
export function doctorReport(opts: { refresh?: boolean; checkLoad?: boolean } = {}): DoctorReport {
  const facts = readKernelFacts();
  const features = kernelFeatures({ facts, refresh: opts.refresh });
  const check = opts.checkLoad ? checkLoadability(facts, features, { refresh: opts.refresh, dir: cacheDir() }) : undefined;
  const outcomes = check?.outcomes ?? variantOutcomes(facts, cacheDir());
  const recipes: DoctorReport["recipes"] = [];
  const rejected: NonNullable<DoctorReport["loadCheck"]>["rejected"] = [];
  for (const source of embeddedSources()) {
    try {
      const manifest = parseManifest(source.manifestText, source.manifestFile);
      const sha = manifest.object.sha256 ?? "";
      recipes.push(compatRecord(manifest, facts, features, selectProfile(manifest, features, (alt) => outcomes.refusal(sha, alt.program))));
      for (const alt of manifest.probes.flatMap((p) => p.alternatives)) {
        const o = outcomes.refusal(sha, alt.program);
        if (o) rejected.push({ recipe: manifest.name, program: alt.program, type: alt.type, status: o.status, reason: o.reason, at: o.at, ...(o.log ? { log: o.log } : {}) });
      }
    } catch (e) {
      recipes.push({ recipe: source.name, error: (e as Error).message });
    }
  }
  return {
    facts,
    features,
    recipes,
    coreBtf: coreBtfCacheStatus(cacheDir()),
    loadCheck: { ran: check ? check.source : "not run (--no-check-load): remembered verdicts only", loaded: check?.loaded ?? [], file: outcomes.file, rejected },
  };
}

export class DoctorCommand extends EbpfctlCommand {
  static paths = [["doctor"]];
  static usage = Command.Usage({
    description: "Show what this kernel supports and which variant of each recipe it can run",
    details: `
      Reads kernel facts (BTF, lockdown, sysctls, mounts, capabilities), probes each feature ebpfctl uses
      by loading and attaching a tiny program (detached at once), and shows every built-in recipe's
      profile: \`full\`, \`reduced\` (a fallback or a dropped optional probe, with what is lost) or
      \`disabled\` (why). A feature is \`yes\`, \`no\` or \`unknown\` with the evidence for it.

      It also loads every supported variant of every recipe alone, without attaching (\`--check-load\`, on by
      default), and remembers the verifier's verdicts per kernel image in $EBPFCTL_CACHE_DIR/variant-outcomes.json,
      where \`trace\` also records a variant it had to fall back from; later runs read the verdicts instead of
      loading again (\`--refresh\` loads again). A refused variant is never reported as chosen: a recipe whose
      preferred variant is refused here is \`reduced\`.

      Results are cached per boot in features.json under $EBPFCTL_RUN_DIR (default /run/ebpfctl);
      \`trace\` probes only the features its recipe needs and adds them there. \`--refresh\` probes again. The minimised kernel BTF each recipe loads against after its first run (the CO-RE BTF cache line) is under $EBPFCTL_CACHE_DIR/core-btf (default /var/cache/ebpfctl), made with bpftool. EBPFCTL_MASK_FEATURES=kprobe,fentry reports those features as \`no\`, to rehearse fallbacks.
    `,
    examples: [
      ["Check this host", "sudo ebpfctl doctor"],
      ["As JSON for a fleet inventory", "sudo ebpfctl doctor --output json"],
      ["Rehearse a kernel without tracepoints", "sudo EBPFCTL_MASK_FEATURES=tracepoint ebpfctl doctor"],
    ],
  });
  output = outputOption();
  refresh = Option.Boolean("--refresh", false, { description: "Ignore cached probe results and probe again (with --check-load: load again)" });
  checkLoad = Option.Boolean("--check-load", true, { description: "Load every supported variant of every recipe without attaching (once per kernel image: the verdicts are remembered); --no-check-load reads only what is remembered" });

  async run(): Promise<number> {
    if (this.output !== "json" && this.output !== "table") throw usageError(`--output must be table or json, got "${this.output}"`);
    const report = doctorReport({ refresh: this.refresh, checkLoad: this.checkLoad });
    if (this.output === "json") {
      this.context.stdout.write(JSON.stringify(report) + "\n");
      return 0;
    }
    const columns = (this.context.stdout as { columns?: number }).columns ?? 160;
    this.context.stdout.write(renderDoctor(report, useColor(this.context.stdout), columns));
    return 0;
  }
}

function renderDoctor(r: DoctorReport, color: boolean, columns: number): string {
  const c = {
    head: (s: string) => (color ? pc.bold(s) : s),
    dim: (s: string) => (color ? pc.dim(s) : s),
    status: (s: Feature["status"] | string) => {
      if (!color) return s;
      if (s === "yes" || s === "full") return pc.green(s);
      if (s === "no" || s === "disabled") return pc.red(s);
      return pc.yellow(s);
    },
  };
  const f = r.facts;
  const onOff = (b: boolean) => (b ? "yes" : "no");
  const mount = (m: { mounted: boolean; at?: string }) => (m.mounted ? `mounted at ${m.at}` : "not mounted");
  const caps = Object.entries(f.capabilities.relevant).map(([k, v]) => `${k.replace(/^CAP_/, "")}${v ? "" : " (missing)"}`);
  const lines: string[] = [];
  lines.push(c.head("Kernel"));
  const kv: [string, string][] = [
    ["release", `${f.release} (${f.arch})`],
    ["BTF", f.btf.vmlinux ? `vmlinux yes, ${f.btf.modules} module BTF file(s)` : `no — ${f.btf.evidence}`],
    ["lockdown", f.lockdown.mode === "unknown" ? f.lockdown.evidence : f.lockdown.mode],
    ["LSMs", f.lsms ? f.lsms.join(",") : "unknown (securityfs not mounted)"],
    ["unprivileged_bpf_disabled", `${f.unprivilegedBpfDisabled.value ?? "?"} — ${f.unprivilegedBpfDisabled.meaning}`],
    ["perf_event_paranoid", `${f.perfEventParanoid.value ?? "?"} — ${f.perfEventParanoid.meaning}`],
    ["bpf_jit_enable", `${f.jit.value ?? "?"} — ${f.jit.meaning}`],
    ["bpf_stats_enabled", `${f.bpfStatsEnabled.value ?? "?"} — ${f.bpfStatsEnabled.meaning}`],
    ["tracefs", mount(f.mounts.tracefs)],
    ["debugfs", mount(f.mounts.debugfs)],
    ["securityfs", mount(f.mounts.securityfs)],
    ["bpffs", mount(f.mounts.bpffs)],
    ["capabilities", `${caps.join(", ")}; may load tracing programs: ${onOff(mayLoadTracing(f))}`],
    [
      "CO-RE BTF cache",
      r.coreBtf.bpftool
        ? `${r.coreBtf.entries} recipe load(s) cached in ${r.coreBtf.dir} (minimised by ${r.coreBtf.bpftool})`
        : "off: no root-owned bpftool (Debian: apt install bpftool); every load parses the whole kernel BTF",
    ],
    ["capability set held", f.capabilities.effective.length ? `${f.capabilities.effective.length}: ${f.capabilities.effective.map((n) => n.replace(/^CAP_/, "")).join(",")}` : "none"],
  ];
  const width = Math.max(...kv.map(([k]) => k.length));
  for (const [k, v] of kv) lines.push(`  ${k.padEnd(width)}  ${v}`);

  const how = r.features.source === "cache" ? "from the cache (features.json; --refresh probes again)" : `probed in ${r.features.probeMs} ms`;
  lines.push("", `${c.head("Features")} ${c.dim(`(${how}${r.features.masked.length ? `; masked: ${r.features.masked.join(",")}` : ""})`)}`);
  const table = new Table({
    head: ["FEATURE", "KIND", "STATUS", "EVIDENCE"],
    style: { head: color ? ["bold"] : [], border: color ? ["grey"] : [] },
    colWidths: [28, 9, 9, Math.max(40, columns - 52)],
    wordWrap: true,
    // One rule under the header only: 36 features read better without a rule between rows.
    chars: { mid: "", "left-mid": "", "mid-mid": "", "right-mid": "" },
  });
  for (const feat of Object.values(r.features.features)) table.push([feat.name, feat.kind, c.status(feat.status), feat.evidence]);
  lines.push(table.toString());

  const lc = r.loadCheck;
  const ran = lc.ran === "loaded" ? `loaded ${lc.loaded.length} recipe(s) now` : lc.ran === "cache" ? "every verdict known for this kernel image" : lc.ran;
  lines.push("", `${c.head("Recipes")} ${c.dim(`(load check: ${ran}; ${lc.rejected.length} variant(s) refused here; ${lc.file})`)}`);
  for (const rec of r.recipes) {
    if ("error" in rec) {
      lines.push(`  ${rec.recipe}  ${c.status("invalid")}  ${rec.error}`);
      continue;
    }
    const variants = rec.probes.map((p) => `${p.name}=${p.chosen ? `${p.chosen.type}${p.variant > 0 ? `#${p.variant}` : ""}` : "none"}`).join(" ");
    lines.push(`  ${rec.recipe.padEnd(14)} ${c.status(rec.profile).padEnd(color ? 18 : 9)} ${c.dim(variants)}`);
    for (const reason of rec.reasons) lines.push(`      ${reason}`);
  }
  return lines.join("\n") + "\n";
}
