// Open → configure → load of a session's BPF object. Configuration is everything set between
// open and load: which programs load, map sizes, parameters and the rate cap in .rodata, the
// initial sampling. CO-RE relocates against this kernel's cached minimised BTF when there is
// one (src/kernel/core-btf.ts), held to the digests a load against the kernel's BTF left.
import { BpfObject, LoadError, drainLibbpfLog, possibleCpus, type BpfMap } from "../libbpf";
import { EbpfctlError, ExitCode } from "../errors";
import type { Manifest } from "../recipe/manifest";
import type { VerifiedRecipe } from "../recipe/verified";
import { formatBudget, type Budgets } from "../budget/budgets";
import { estimateMaps } from "../budget/memory";
import { relocationMismatch, type CoreBtfCache } from "../kernel/core-btf";
import { Rodata } from "../libbpf/rodata";
import { withoutFetchAtomics } from "../libbpf/fetch-atomics";
import type { ParameterValues } from "../recipe/params";

export const memoryRefused = (msg: string) => new EbpfctlError("EBPFCTL-E0031", msg, ExitCode.BUDGET_BREACH, "raise --max-memory (within the recipe's ceiling) or use a smaller recipe");

export interface LoadPlan {
  recipe: VerifiedRecipe;
  params: ParameterValues;
  budgets: Budgets;
  /** The programs to load (every other program of the object stays out of the kernel). */
  programs: string[];
  sampleEvery?: number;
  coreBtf?: CoreBtfCache;
  /** Verifier log buffer per program (default libbpf/object.ts's 1 MiB). */
  verifierLogBytes?: number;
  /** False on a kernel without fetching atomics (5.12+): those programs take their plain-add path. */
  fetchAtomics?: boolean;
  /** Whole .rodata variables written as bytes (the one-liner tables of generic programs). */
  rodataBytes?: Record<string, Uint8Array>;
  /** Map sizes for this run over the manifest's (a one-liner's stack map, sized by its keys). */
  mapEntries?: Record<string, number>;
  /**
   * A second load of the same object sharing the first one's maps (every map but .rodata, which
   * holds this load's own table): one load per attachment where the kernel has no attach cookie.
   * Its maps pin nothing more, so they are not estimated again.
   */
  shareMapsOf?: BpfObject;
}

export interface LoadedObject {
  obj: BpfObject;
  estimate: ReturnType<typeof estimateMaps>;
  /** What CO-RE relocated against. */
  coreBtf: "cached" | "kernel";
  /** Why a cached minimised BTF was refused, when it was. */
  coreBtfFallback?: string;
  /** Relocated against the kernel's BTF with no cached entry: what a minimised BTF will be held to. */
  coreBtfReference?: Map<string, Uint8Array>;
}

/** Open, configure and load; every object opened is owned by `stack`. Throws before load if the maps exceed --max-memory. */
export function loadObject(plan: LoadPlan, stack: DisposableStack): LoadedObject {
  const manifest = plan.recipe.manifest;
  const cached = plan.coreBtf?.lookup();
  let coreBtfPath = cached?.path;
  let coreBtfFallback: string | undefined;
  const open = () => {
    const o = stack.use(BpfObject.openMemory(plan.recipe.object, manifest.name, { ...(coreBtfPath ? { coreBtfPath } : {}), ...(plan.verifierLogBytes ? { verifierLogBytes: plan.verifierLogBytes } : {}) }));
    configureObject(o, plan);
    return o;
  };
  let obj = open();

  const estimate = plan.shareMapsOf ? { total: 0, perMap: {} } : estimateMaps(obj.maps(), possibleCpus());
  if (estimate.total > plan.budgets.max_memory) {
    throw memoryRefused(
      `${manifest.name} would pin ${formatBudget("max_memory", estimate.total)} of kernel memory in its maps, over --max-memory ${formatBudget("max_memory", plan.budgets.max_memory)}`,
    );
  }

  const relocated = () => new Map(plan.programs.map((name) => [name, obj.program(name).instructions()]));
  try {
    let failure: string | undefined;
    try {
      obj.load();
      const differs = cached ? relocationMismatch(cached, relocated()) : undefined;
      if (differs) failure = `program ${differs} relocated differently than against the kernel's BTF`;
    } catch (e) {
      if (!coreBtfPath) throw e;
      failure = (e as Error).message;
    }
    if (failure) {
      // Nothing is attached yet: forget the entry and load the usual way.
      coreBtfFallback = `cached minimised BTF refused (${failure}); loaded against the kernel's BTF`;
      obj.close();
      plan.coreBtf!.invalidate();
      coreBtfPath = undefined;
      drainLibbpfLog();
      obj = open();
      obj.load();
    }
  } catch (e) {
    // A LoadError goes up as it is: the session decides between a fallback and a refusal.
    throw e;
  }
  return {
    obj,
    estimate,
    coreBtf: coreBtfPath ? "cached" : "kernel",
    ...(coreBtfFallback ? { coreBtfFallback } : {}),
    ...(plan.coreBtf && !coreBtfPath ? { coreBtfReference: relocated() } : {}),
  };
}

/** Which programs load, map sizes, parameters and sampling. */
function configureObject(obj: BpfObject, plan: LoadPlan): void {
  const manifest = plan.recipe.manifest;
  const chosen = new Set(plan.programs);
  for (const p of obj.programs()) p.autoload = chosen.has(p.name);
  for (const [name, m] of Object.entries(manifest.maps ?? {})) obj.map(name).maxEntries = m.max_entries;
  for (const [name, n] of Object.entries(plan.mapEntries ?? {})) obj.map(name).maxEntries = n;
  configureRodata(obj, manifest, plan.params, plan.budgets);
  if (plan.rodataBytes) {
    const rodata = new Rodata(obj);
    for (const [name, bytes] of Object.entries(plan.rodataBytes)) rodata.setBytes(name, bytes);
  }
  if ((plan.sampleEvery ?? 1) > 1) setBssVar(obj, "sample_every", plan.sampleEvery!);
  if (plan.fetchAtomics === false) withoutFetchAtomics(obj);
  // .bss (the rate window, sampling) is shared too: one rate cap for every attachment.
  if (plan.shareMapsOf) for (const m of obj.maps()) if (!m.name.endsWith(".rodata")) m.reuse(plan.shareMapsOf.map(m.name).fd);
}

/** Parameters, rate cap and filters into .rodata. */
function configureRodata(obj: BpfObject, manifest: Manifest, params: ParameterValues, budgets: Budgets): void {
  const rodata = new Rodata(obj);
  if (rodata.has("self_tgid")) rodata.set("self_tgid", process.pid);
  for (const [name, value] of Object.entries(params)) {
    const binding = manifest.parameters[name];
    if (!binding?.rodata) continue;
    rodata.set(binding.rodata, value);
    if (name === "comm" && rodata.has("filter_comm")) rodata.set("filter_comm", true);
  }
  // The cap is enforced in the kernel per window: 100 ms windows above 10 events/s, else 1 s.
  const windowNs = budgets.max_rate >= 10 ? 100_000_000 : 1_000_000_000;
  if (rodata.has("rate_window_ns")) {
    rodata.set("rate_window_ns", windowNs);
    rodata.set("rate_window_limit", Math.max(1, Math.round((budgets.max_rate * windowNs) / 1e9)));
  }
}

/** A 32-bit .bss variable: before load its initial value, after load the live map (libbpf mmaps it). */
export function setBssVar(obj: BpfObject, name: string, value: number): void {
  const v = obj.btf().sectionVariables(".bss").get(name);
  const data = obj.sectionData(".bss");
  if (!v || !data) return;
  new DataView(data.buffer, data.byteOffset + v.offset, v.size).setUint32(0, value, true);
}

/** The verifier log buffer of the one retry after a log overflowed the default 1 MiB. */
export const RETRY_VERIFIER_LOG_BYTES = 8 << 20;

export interface SessionLoads {
  /** the first load: it owns the maps every load uses */
  loaded: LoadedObject;
  /** the object of each choice's program, by choice (all the first, without per-attachment loads) */
  objects: BpfObject[];
  /** what the loads after the first own: their .rodata tables */
  otherLoadsMaps: BpfMap[];
  /** the maps' estimated kernel memory, every load's */
  estimate: number;
}

/**
 * A session's loads: one object for every program, or, with `perAttachmentRodata` (a one-liner's
 * tracepoints with differing entries, or told apart where the kernel has no attach cookie), one
 * load per choice, each with its own .rodata, the loads after the first sharing its maps (counts,
 * ring, rate window). Every object is owned by `stack`.
 */
export function loadSessionObjects(plan: LoadPlan, choicePrograms: string[], perAttachmentRodata: Record<string, Uint8Array>[] | undefined, stack: DisposableStack): SessionLoads {
  const first = { ...plan, ...(perAttachmentRodata ? { rodataBytes: perAttachmentRodata[0] } : {}) };
  let loaded: LoadedObject;
  try {
    loaded = loadObject(first, stack);
  } catch (e) {
    // A rejection whose log overflowed its buffer: once more with a larger one, for the verdict.
    if (!(e instanceof LoadError && e.logTruncated)) throw e;
    loaded = loadObject({ ...first, verifierLogBytes: RETRY_VERIFIER_LOG_BYTES }, stack);
  }
  const objects = choicePrograms.map(() => loaded.obj);
  for (let i = 1; perAttachmentRodata && i < choicePrograms.length; i++) {
    objects[i] = loadObject({ ...plan, programs: [choicePrograms[i]!], rodataBytes: perAttachmentRodata[i]!, shareMapsOf: loaded.obj }, stack).obj;
  }
  const otherLoadsMaps = [...new Set(objects.slice(1))].filter((o) => o !== loaded.obj).flatMap((o) => o.maps().filter((m) => m.name.endsWith(".rodata")));
  const estimate = loaded.estimate.total + (otherLoadsMaps.length ? estimateMaps(otherLoadsMaps, possibleCpus()).total : 0);
  return { loaded, objects, otherLoadsMaps, estimate };
}
