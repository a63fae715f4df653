// `ebpfctl trace -e`: a one-liner compiled against this kernel's tracepoints and the host policy,
// then run by the signed generic recipe like any other recipe (same session, budgets, kill
// switch, audit). What is specific to one-liners lives here: the policy gate, the worst-case cost
// checked before load, and the per-tracepoint probe choices with their attach cookies.
import { compileOneLiner, worstCaseCost, type CompiledOneLiner, type WorstCaseCost } from "../oneliner/compile";
import { adhocRefused, costRefused } from "../oneliner/errors";
import { Tracefs } from "../tracepoint/tracefs";
import { checkAgainstBtf, loadKernelBtf } from "../tracepoint/btf-check";
import type { HostPolicy } from "../recipe/policy";
import type { Manifest } from "../recipe/manifest";
import { formatBudget, type Budgets } from "../budget/budgets";
import type { ProbeChoice } from "../session/session";
import { possibleCpus } from "../libbpf";

/** Compiles the one-liner after the host policy allows ad-hoc use; nothing is loaded. */
export function compileForHost(text: string, policy: HostPolicy): CompiledOneLiner {
  if (!policy.adhoc.enabled) throw adhocRefused("the host policy turns one-liners off (adhoc: enabled: false)");
  const tracefs = Tracefs.open();
  const btf = loadKernelBtf();
  return compileOneLiner(text, {
    list: (p) => tracefs.list(p),
    format: (tp) => {
      const f = tracefs.format(tp);
      checkAgainstBtf(`${tp.category}:${tp.event}`, f, btf);
      return f;
    },
    policy: policy.adhoc,
  });
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
