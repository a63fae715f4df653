// `ebpfctl trace -e`: a one-liner compiled against this kernel's tracepoints and the host policy,
// then run by the signed generic recipe like any other recipe (same session, budgets, kill
// switch, audit). What is specific to one-liners lives here: the policy gate, the worst-case cost
// checked before load, and the per-tracepoint probe choices with their attach cookies.
import { compileOneLiner, stackEntries, worstCaseCost, type CompiledOneLiner, type WorstCaseCost } from "../oneliner/compile";
import { adhocRefused, costRefused } from "../oneliner/errors";
import { Tracefs } from "../tracepoint/tracefs";
import { checkAgainstBtf, loadKernelBtf, releaseKernelBtf } from "../tracepoint/btf-check";
import { DEFAULT_UPROBE_BINARIES, type HostPolicy } from "../recipe/policy";
import type { UserProbeEnv } from "../oneliner/analyse";
import { trustedBinary } from "../session/attach-helpers";
import { ElfError, symbolOffset } from "../symbols/elf-symbols";
import { usdtProvider } from "../symbols/usdt-notes";
import { EbpfctlError, ExitCode, uprobeBinaryRefused, uprobeSymbolMissing, usdtProbeMissing } from "../errors";
import { realpathSync } from "node:fs";
import type { Manifest } from "../recipe/manifest";
import { formatBudget, type Budgets } from "../budget/budgets";
import type { ProbeChoice } from "../session/session";
import { possibleCpus } from "../libbpf";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cacheDir } from "../host/host-paths";
import { readKernelFacts } from "../kernel/facts";
import { kernelImageId } from "../kernel/core-btf";

const sha = (s: string) => createHash("sha256").update(s).digest("hex").slice(0, 32);

/**
 * BTF agreements already established on this kernel image, by tracepoint and format digest:
 * parsing the kernel's 5.5 MB BTF costs ~400 ms of exec → attached, the verdict never changes for
 * one image and one format. Only agreements are kept; a mismatch is checked (and refused) every time.
 */
class BtfVerdicts {
  private readonly file: string;
  private readonly known: Record<string, true>;
  private dirty = false;
  constructor() {
    this.file = join(cacheDir(), "tracepoint-btf", `${sha(kernelImageId(readKernelFacts()))}.json`);
    let known: Record<string, true> = {};
    try {
      known = JSON.parse(readFileSync(this.file, "utf8"));
    } catch {
      /* none yet */
    }
    this.known = known;
  }
  check(tp: string, f: ReturnType<Tracefs["format"]>): void {
    const key = `${tp}:${sha(JSON.stringify(f.fields))}`;
    if (this.known[key]) return;
    checkAgainstBtf(tp, f, loadKernelBtf());
    this.known[key] = true;
    this.dirty = true;
  }
  save(): void {
    releaseKernelBtf();
    if (!this.dirty) return;
    try {
      mkdirSync(join(cacheDir(), "tracepoint-btf"), { recursive: true, mode: 0o755 });
      writeFileSync(`${this.file}.tmp`, JSON.stringify(this.known), { mode: 0o644 });
      renameSync(`${this.file}.tmp`, this.file);
    } catch {
      /* a cache: the next run checks again */
    }
  }
}

/** The uprobe binary checks, as funclatency's --binary gets them (trustedBinary), worded for a one-liner. */
export const userProbeEnv: UserProbeEnv = {
  resolve(path) {
    try {
      return realpathSync(path);
    } catch (e) {
      throw oneLinerWording(uprobeBinaryRefused(path, `cannot resolve it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, ExitCode.USAGE));
    }
  },
  trusted(real) {
    try {
      trustedBinary(real);
    } catch (e) {
      throw e instanceof EbpfctlError ? oneLinerWording(e) : e;
    }
  },
  symbol(real, symbol) {
    try {
      symbolOffset(real, symbol);
    } catch (e) {
      throw e instanceof ElfError ? uprobeSymbolMissing(real, e.message) : e;
    }
  },
  usdt(real, provider, name) {
    try {
      return usdtProvider(real, provider, name);
    } catch (e) {
      throw e instanceof ElfError ? usdtProbeMissing(real, e.message) : e;
    }
  },
};
/** "--binary B: ..." is the recipe flag's wording; a one-liner names the binary in its probe. */
const oneLinerWording = (e: EbpfctlError) => new EbpfctlError(e.code, e.message.replace(/^--binary /, "uprobe binary "), e.exitCode, e.hint);

/** Compiles the one-liner after the host policy allows ad-hoc use; nothing is loaded. */
export function compileForHost(text: string, policy: HostPolicy): CompiledOneLiner {
  if (!policy.adhoc.enabled) throw adhocRefused("the host policy turns one-liners off (adhoc: enabled: false)");
  const tracefs = Tracefs.open();
  const verdicts = new BtfVerdicts();
  const compiled = compileOneLiner(text, {
    list: (p) => tracefs.list(p),
    format: (tp) => {
      const f = tracefs.format(tp);
      verdicts.check(`${tp.category}:${tp.event}`, f);
      return f;
    },
    policy: { ...policy.adhoc, uprobe_binaries: policy.adhoc.uprobe_binaries ?? DEFAULT_UPROBE_BINARIES },
    user: userProbeEnv,
  });
  verdicts.save();
  return compiled;
}

/** The worst-case cost under these budgets; over --max-memory it is refused before load. */
export function checkedCost(c: CompiledOneLiner, manifest: Manifest, budgets: Budgets): WorstCaseCost {
  const entries = manifest.maps?.agg?.max_entries ?? 4096;
  const cost = worstCaseCost(c, budgets.max_rate, possibleCpus(), entries);
  if (cost.map_memory > budgets.max_memory) {
    throw costRefused(`the one-liner's maps may take ${formatBudget("max_memory", cost.map_memory)}, over --max-memory ${formatBudget("max_memory", budgets.max_memory)}`);
  }
  return cost;
}

/** A uprobe/usdt one-liner's target as the recipe's parameters (binary, symbol), checked again at attach. */
export function oneLinerParams(c: CompiledOneLiner): Record<string, string> {
  if (!c.target) return {};
  return c.target.kind === "usdt" ? { binary: c.target.binary } : { binary: c.target.binary, symbol: c.target.symbol };
}

/** This run's map sizes over the manifest's: the stack map holds what the one-liner's stack keys need. */
export function oneLinerMapEntries(c: CompiledOneLiner, manifest: Manifest): Record<string, number> {
  return { stacks: stackEntries(c, manifest.maps?.agg?.max_entries ?? 4096) };
}

/** interval:s:N { exit(); } is -d N; with both, the sooner ends the session (endedBy names the interval when it does). */
export function oneLinerDuration(c: CompiledOneLiner, durationMs: number | undefined): { durationMs: number | undefined; endedBy?: string } {
  if (c.exitAfterMs === undefined || (durationMs !== undefined && durationMs <= c.exitAfterMs)) return { durationMs };
  return { durationMs: c.exitAfterMs, endedBy: `interval:s:${c.exitAfterMs / 1000} { exit(); }` };
}

export function describeCost(c: WorstCaseCost): string {
  return `worst case: ${c.bytes_per_event} bytes/event to user space (${c.bytes_read_per_event} read in the kernel), maps ${formatBudget("max_memory", c.map_memory)}, rate cap ${formatBudget("max_rate", c.rate_cap)}`;
}

/**
 * One probe choice per tracepoint, all on the one generic program, told apart by cookie (none for
 * profile:). Only a program that reads its cookie gets one: libbpf refuses a non-zero cookie where
 * the kernel has no BPF perf links (before 5.15), and a one-entry table needs none. With
 * `perAttachment` (one load per tracepoint, each with its own table: a kernel without the
 * cookie) none reads it.
 */
export function oneLinerChoices(c: CompiledOneLiner, template: ProbeChoice, perAttachment = false): { choices: ProbeChoice[]; cookies: Map<string, number> } {
  const cookies = new Map<string, number>();
  if (c.target) {
    // The one uprobe program serves entry and return: the one-liner's probe picks the attach type.
    const alternative = { ...template.alternative, type: c.target.kind };
    return { choices: [{ probe: { ...template.probe, alternatives: [alternative] }, alternative, index: 0 }], cookies };
  }
  const readsCookie = c.selection.cookieProbe && !perAttachment;
  const choices = c.tracepoints.map((tp) => {
    const target = `${tp.category}/${tp.event}`;
    if (readsCookie) cookies.set(target, tp.cookie);
    const alternative = { ...template.alternative, target };
    return { probe: { ...template.probe, name: `tp${tp.cookie}`, alternatives: [alternative] }, alternative, index: 0 };
  });
  return { choices, cookies };
}
