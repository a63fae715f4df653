// `ebpfctl verify`: load every alternative of every recipe program this kernel supports, each one
// alone and WITHOUT attaching, and report what the verifier said (accepted with verified_insns and
// load time, or rejected with the lines that explain it). Alternatives whose attach kind the kernel
// lacks (kernelFeatures()) are listed as unsupported with the evidence and are not loaded.
// A baseline (bpf/verifier-baseline/<kernel-release>.json) records the same for one kernel; a run
// compared with it fails on any change of acceptance or chosen variant, or verified_insns growth
// past a threshold (the kernel's own baseline) or only reports insns drift (the nearest baseline of
// another build of the same major.minor: baseline-select.ts).
//
// Only verified recipes are loaded (loadVerifiedRecipe): signature, object pin and schema first.
import { InputFileError, MiB, readRegularText, writeNewFileAtomic } from "../files/regular-file";
import { BpfObject, LoadError, LibbpfError, captureLibbpfLog, drainLibbpfLog } from "../libbpf";
import { baselineInvalid, verifyGateFailed, notRoot, EbpfctlError, ExitCode } from "../errors";
import { readKernelFacts, mayLoadTracing, type KernelFacts } from "../kernel/facts";
import { kernelFeatures, type FeatureReport } from "../kernel/features";
import { ATTACH_FEATURE, selectProfile, type Profile } from "../kernel/profile";
import { embeddedSources } from "../recipe/catalog";
import { loadVerifiedRecipe } from "../recipe/trust";
import type { Alternative, AttachType, Manifest } from "../recipe/manifest";
import type { VerifiedRecipe } from "../recipe/verified";
import { resolveBudgets } from "../budget/budgets";
import { resolveParameters } from "../recipe/params";
import { Rodata } from "../libbpf/rodata";
import { withoutFetchAtomics } from "../libbpf/fetch-atomics";
import { explainVerifierLog, saveVerifierLog } from "./verifier-report";
import { versionReport } from "../forensics/version-report";
import { baselineMode, type BaselineMode } from "./baseline-select";
import { compileOneLiner, oneLoadPerTracepoint, perAttachmentRodata, rodataOf } from "../oneliner/compile";
import { Tracefs } from "../tracepoint/tracefs";

export type AltStatus = "accepted" | "rejected" | "unsupported";

export interface AltResult {
  program: string;
  type: AttachType;
  target?: string;
  /** The feature that decides whether this attach kind works here (ATTACH_FEATURE). */
  feature: string;
  status: AltStatus;
  verified_insns?: number;
  /** Wall time of bpf_object__load (maps + this one program), ms. Not kept in baselines. */
  load_ms?: number;
  /** rejected: the errno of the failed load. */
  errno?: number;
  /** rejected: the verifier lines that explain it (or libbpf's warning when there is no log). */
  reason?: string[];
  /** rejected: the full verifier log, saved. Not kept in baselines. */
  log_file?: string;
  /** unsupported: "kprobe: no — program type loads but attach … failed: …" */
  evidence?: string;
}

export interface ProbeResult {
  name: string;
  essential: boolean;
  /** The alternative the profile selection picks on this kernel (null: none). */
  chosen: string | null;
  chosen_type: AttachType | null;
  /** Index of the chosen alternative in the manifest's preference order (-1: none). */
  variant: number;
  alternatives: AltResult[];
}

export interface RecipeResult {
  recipe: string;
  version: string;
  object_sha256: string;
  profile: Profile;
  probes: ProbeResult[];
}

export interface VerifyReport {
  schema: 1;
  kernel: string;
  arch: string;
  lockdown: string;
  ebpfctl: string;
  /** Every probed feature's status on this kernel (doctor's table, without the evidence). */
  features: Record<string, string>;
  recipes: RecipeResult[];
  totals: { accepted: number; rejected: number; unsupported: number; load_ms: number };
}

export interface VerifyOptions {
  /** Only these recipes (default: every embedded recipe). */
  recipes?: string[];
  facts?: KernelFacts;
  features?: FeatureReport;
}

/** Loads every supported alternative of every recipe program, alone, without attaching. */
export function verifyRecipes(opts: VerifyOptions = {}): VerifyReport {
  const facts = opts.facts ?? readKernelFacts();
  if (!mayLoadTracing(facts)) throw notRoot();
  const features = opts.features ?? kernelFeatures({ facts });
  const names = opts.recipes?.length ? opts.recipes : embeddedSources().map((s) => s.name);
  captureLibbpfLog();
  const recipes = names.map((name) => verifyRecipe(loadVerifiedRecipe({ name }), features));
  drainLibbpfLog();
  const all = recipes.flatMap((r) => r.probes.flatMap((p) => p.alternatives));
  const count = (s: AltStatus) => all.filter((a) => a.status === s).length;
  return {
    schema: 1,
    kernel: facts.release,
    arch: facts.arch,
    lockdown: facts.lockdown.mode,
    ebpfctl: versionReport().version,
    features: Object.fromEntries(Object.values(features.features).map((f) => [f.name, f.status])),
    recipes,
    totals: { accepted: count("accepted"), rejected: count("rejected"), unsupported: count("unsupported"), load_ms: round(all.reduce((s, a) => s + (a.load_ms ?? 0), 0)) },
  };
}

function verifyRecipe(recipe: VerifiedRecipe, features: FeatureReport): RecipeResult {
  const m = recipe.manifest;
  // Every supported alternative is loaded first; the choice is then what trace takes here: the
  // first alternative the kernel both supports and accepts (a rejected one falls back at run time).
  const results = m.probes.map((probe) =>
    probe.alternatives.map((alt): AltResult => {
      const feature = ATTACH_FEATURE[alt.type];
      const base = { program: alt.program, type: alt.type, ...(alt.target ? { target: alt.target } : {}), feature };
      const f = features.features[feature];
      if (f?.status !== "yes") return { ...base, status: "unsupported", evidence: f ? `${feature}: ${f.status} — ${f.evidence}` : `${feature}: unknown — not probed` };
      return { ...base, ...loadAlone(recipe, alt, features.features.atomic_fetch?.status !== "no", features.features.bpf_get_attach_cookie?.status !== "no") };
    }),
  );
  const rejected = new Map(results.flat().filter((a) => a.status === "rejected").map((a) => [a.program, a]));
  const selection = selectProfile(m, features, (alt) => {
    const r = rejected.get(alt.program);
    return r ? { status: "rejected", stage: "load", reason: (r.reason ?? []).at(-1) ?? `errno ${r.errno}`, at: new Date().toISOString() } : undefined;
  });
  const probes: ProbeResult[] = m.probes.map((probe, i) => {
    const choice = selection.probes[i]!;
    return { name: probe.name, essential: choice.essential, chosen: choice.chosen?.program ?? null, chosen_type: choice.chosen?.type ?? null, variant: choice.chosenIndex, alternatives: results[i]! };
  });
  return { recipe: m.name, version: m.version, object_sha256: recipe.objectSha256, profile: selection.profile, probes };
}

/** Opens the verified object, autoloads only `alt.program`, configures it as a default run would, loads, closes. */
function loadAlone(recipe: VerifiedRecipe, alt: Alternative, fetchAtomics: boolean, attachCookie: boolean): Pick<AltResult, "status" | "verified_insns" | "load_ms" | "errno" | "reason" | "log_file"> {
  const m = recipe.manifest;
  const obj = BpfObject.openMemory(recipe.object, m.name);
  try {
    for (const p of obj.programs()) p.autoload = p.name === alt.program;
    for (const [name, spec] of Object.entries(m.maps ?? {})) obj.map(name).maxEntries = spec.max_entries;
    try {
      configureDefaults(obj, m, attachCookie);
    } catch (e) {
      // A verify one-liner that does not compile on this kernel (a tracepoint it lacks): say so.
      if (e instanceof EbpfctlError) return { status: "rejected", reason: [`verify one-liner: ${e.message}`] };
      throw e;
    }
    if (!fetchAtomics) withoutFetchAtomics(obj);
    drainLibbpfLog();
    const t0 = performance.now();
    try {
      obj.load();
    } catch (e) {
      const load_ms = round(performance.now() - t0);
      if (!(e instanceof LibbpfError)) throw e;
      const log = e instanceof LoadError ? e.verifierLog : "";
      const warnings = drainLibbpfLog().filter((l) => l.level === "warn").map((l) => l.text.replace(/^libbpf: /, ""));
      if (log) return { status: "rejected", load_ms, errno: e.errno, reason: explainVerifierLog(log), log_file: saveVerifierLog(m.name, alt.program, log) };
      const reason = warnings.filter((w) => w.includes(alt.program)).slice(-3);
      return { status: "rejected", load_ms, errno: e.errno, reason: reason.length ? reason : warnings.slice(-3).length ? warnings.slice(-3) : [e.message] };
    }
    const load_ms = round(performance.now() - t0);
    return { status: "accepted", verified_insns: obj.program(alt.program).info().verifiedInsns, load_ms };
  } finally {
    obj.close();
  }
}

/**
 * The .rodata a run with default parameters and budgets would have (the verifier prunes on these
 * values, so verified_insns depends on them). Mirrors the session's configuration.
 */
function configureDefaults(obj: BpfObject, m: Manifest, attachCookie: boolean): void {
  const rodata = new Rodata(obj);
  if (m.verify) for (const [name, bytes] of Object.entries(verifyTables(m.verify.oneliner, attachCookie))) rodata.setBytes(name, bytes);
  let params: Record<string, number | string | boolean> = {};
  try {
    params = resolveParameters(m, {});
  } catch {
    params = {}; // a required parameter (uprobe binary): the program verifies without it
  }
  for (const [name, value] of Object.entries(params)) {
    const binding = m.parameters[name];
    if (binding?.rodata && rodata.has(binding.rodata)) rodata.set(binding.rodata, value);
  }
  const budgets = resolveBudgets(m, {});
  const windowNs = budgets.max_rate >= 10 ? 100_000_000 : 1_000_000_000;
  if (rodata.has("rate_window_ns")) {
    rodata.set("rate_window_ns", windowNs);
    rodata.set("rate_window_limit", Math.max(1, Math.round((budgets.max_rate * windowNs) / 1e9)));
  }
}

/**
 * The tables of a generic recipe's verify one-liner, compiled against this kernel's tracepoints,
 * as `trace` would load them here: with one load per tracepoint, the first load's.
 */
function verifyTables(text: string, attachCookie: boolean): Record<string, Uint8Array> {
  const tracefs = Tracefs.open();
  // Only the tables are built (nothing attaches), and a uprobe/usdt table does not depend on the
  // binary: its path is taken as written, unexamined; a usdt verify one-liner names its provider.
  const user = { resolve: (path: string) => path, trusted: () => {}, symbol: () => {}, usdt: (_real: string, provider: string | undefined, name: string) => provider ?? name };
  const c = compileOneLiner(text, { list: (p) => tracefs.list(p), format: (tp) => tracefs.format(tp), user });
  return !c.target && !c.profileHz && oneLoadPerTracepoint(c, attachCookie) ? perAttachmentRodata(c)[0]! : rodataOf(c);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

// ---------------------------------------------------------------------------------------------
// Baselines

/** The report as committed: no timings or file paths (they change on every run). */
export function toBaseline(r: VerifyReport): VerifyReport {
  return {
    ...r,
    totals: { ...r.totals, load_ms: 0 },
    recipes: r.recipes.map((rec) => ({
      ...rec,
      probes: rec.probes.map((p) => ({ ...p, alternatives: p.alternatives.map(({ load_ms: _l, log_file: _f, ...a }) => a) })),
    })),
  };
}

export function writeBaseline(file: string, r: VerifyReport): void {
  writeNewFileAtomic(file, JSON.stringify(toBaseline(r), null, 2) + "\n", 0o644);
}

export function readBaseline(file: string): VerifyReport {
  let text: string;
  try {
    text = readRegularText(file, { what: "verifier baseline", maxBytes: 16 * MiB, code: "EBPFCTL-E0702", exitCode: ExitCode.VERIFY_GATE });
  } catch (e) {
    if (e instanceof InputFileError) throw baselineInvalid(file, e.message.slice(`verifier baseline ${file}: `.length));
    throw baselineInvalid(file, `cannot read it: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let doc: VerifyReport;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw baselineInvalid(file, `not JSON: ${(e as Error).message}`);
  }
  if (doc?.schema !== 1 || !Array.isArray(doc.recipes) || typeof doc.kernel !== "string") throw baselineInvalid(file, "not an ebpfctl verifier baseline (schema 1 with kernel and recipes)");
  return doc;
}

export type ChangeKind = "acceptance" | "insns" | "chosen" | "missing" | "added";

export interface Change {
  kind: ChangeKind;
  /** recipe/probe/program */
  where: string;
  was: string;
  now: string;
  /** true when the change fails the gate */
  fails: boolean;
}

export interface Comparison {
  baselineKernel: string;
  kernel: string;
  /** exact: this kernel's own baseline; nearest: another build of the same major.minor (insns drift reported, never failed). */
  mode: BaselineMode;
  thresholdPct: number;
  changes: Change[];
  ok: boolean;
}

/**
 * Compares a run with a baseline. Fails on: any acceptance change (accepted/rejected/unsupported,
 * either way), a different chosen alternative, verified_insns grown by more than thresholdPct, or an
 * alternative present on one side only (regenerate the baseline with --write-baseline). Shrinking
 * verified_insns is reported, not failed. With `only`, recipes outside it are not compared.
 * Against the baseline of another build of the same major.minor (mode "nearest", see
 * baseline-select.ts) verified_insns changes are reported and never fail.
 */
export function compareWithBaseline(run: VerifyReport, base: VerifyReport, thresholdPct = 10, only?: string[]): Comparison {
  const mode = baselineMode(run.kernel, base.kernel);
  const changes: Change[] = [];
  const key = (r: string, p: string, a: string) => `${r}/${p}/${a}`;
  const index = (rep: VerifyReport) => {
    const alts = new Map<string, AltResult>();
    const chosen = new Map<string, string>();
    for (const rec of rep.recipes) {
      if (only?.length && !only.includes(rec.recipe)) continue;
      for (const p of rec.probes) {
        chosen.set(`${rec.recipe}/${p.name}`, p.chosen ? `${p.chosen} (${p.chosen_type})` : "none");
        for (const a of p.alternatives) alts.set(key(rec.recipe, p.name, a.program), a);
      }
    }
    return { alts, chosen };
  };
  const was = index(base);
  const now = index(run);
  for (const [k, b] of was.alts) {
    const a = now.alts.get(k);
    if (!a) {
      changes.push({ kind: "missing", where: k, was: b.status, now: "not in this run", fails: true });
      continue;
    }
    if (a.status !== b.status) {
      changes.push({ kind: "acceptance", where: k, was: b.status, now: a.status + (a.status === "rejected" && a.reason?.length ? `: ${a.reason.at(-1)}` : a.status === "unsupported" && a.evidence ? `: ${a.evidence}` : ""), fails: true });
      continue;
    }
    if (a.status === "accepted" && b.verified_insns && a.verified_insns !== undefined && a.verified_insns !== b.verified_insns) {
      const pct = ((a.verified_insns - b.verified_insns) / b.verified_insns) * 100;
      changes.push({ kind: "insns", where: k, was: `${b.verified_insns} verified insns`, now: `${a.verified_insns} (${pct >= 0 ? "+" : ""}${pct.toFixed(1)} %)`, fails: mode !== "nearest" && pct > thresholdPct });
    }
  }
  for (const [k, a] of now.alts) if (!was.alts.has(k)) changes.push({ kind: "added", where: k, was: "not in the baseline", now: a.status, fails: true });
  for (const [k, c] of now.chosen) {
    const b = was.chosen.get(k);
    if (b !== undefined && b !== c) changes.push({ kind: "chosen", where: k, was: `chooses ${b}`, now: `chooses ${c}`, fails: true });
  }
  return { baselineKernel: base.kernel, kernel: run.kernel, mode, thresholdPct, changes, ok: !changes.some((c) => c.fails) };
}

/** The gate's error: one line per failing change. `candidate`: the baseline this run wrote for its own build. */
export function gateError(c: Comparison, baselineFile: string, candidate?: string): EbpfctlError {
  const failing = c.changes.filter((x) => x.fails);
  const regenerate = candidate
    ? `if intended, review and commit the candidate ${candidate} as bpf/verifier-baseline/${c.kernel}.json`
    : "if the change is intended, regenerate the baseline with `ebpfctl verify --write-baseline FILE` on that kernel and commit it";
  return verifyGateFailed(
    `${failing.length} change(s) against ${baselineFile}${c.mode === "nearest" ? ` (nearest baseline of ${c.kernel}'s series)` : ""}: ${failing.map((x) => `${x.where}: ${x.was} -> ${x.now}`).join("; ")}`,
    failing.some((x) => x.kind === "missing" || x.kind === "added") && !candidate
      ? "recipes or alternatives changed: if intended, regenerate the baseline with `ebpfctl verify --write-baseline FILE` on that kernel"
      : regenerate,
  );
}

/** The default baseline path for a kernel release. */
export function baselinePath(release: string): string {
  return `bpf/verifier-baseline/${release}.json`;
}
