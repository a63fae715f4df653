// `ebpfctl trace -e`: a one-liner compiled against this kernel's tracepoints and the host policy,
// then run by the signed generic recipe like any other recipe (same session, budgets, kill
// switch, audit). What is specific to one-liners lives here: the policy gate, the worst-case cost
// checked before load, and the per-tracepoint probe choices with their attach cookies.
import { compileOneLiner, worstCaseCost, type CompiledOneLiner, type WorstCaseCost } from "../oneliner/compile";
import { adhocRefused, costRefused } from "../oneliner/errors";
import { Tracefs } from "../tracepoint/tracefs";
import { checkAgainstBtf, loadKernelBtf, releaseKernelBtf } from "../tracepoint/btf-check";
import type { HostPolicy } from "../recipe/policy";
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
    policy: policy.adhoc,
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

export function describeCost(c: WorstCaseCost): string {
  return `worst case: ${c.bytes_per_event} bytes/event to user space (${c.bytes_read_per_event} read in the kernel), maps ${formatBudget("max_memory", c.map_memory)}, rate cap ${formatBudget("max_rate", c.rate_cap)}`;
}

/** One probe choice per tracepoint, all on the one generic program, told apart by cookie. */
export function oneLinerChoices(c: CompiledOneLiner, template: ProbeChoice): { choices: ProbeChoice[]; cookies: Map<string, number> } {
  const cookies = new Map<string, number>();
  const choices = c.tracepoints.map((tp) => {
    const target = `${tp.category}/${tp.event}`;
    cookies.set(target, tp.cookie);
    const alternative = { ...template.alternative, target };
    return { probe: { ...template.probe, name: `tp${tp.cookie}`, alternatives: [alternative] }, alternative, index: 0 };
  });
  return { choices, cookies };
}
