// The one-liner compiler's entry point: text → checked plan → tables, plus what the session needs
// to run it (which signed generic recipe, the tracepoints with their cookies) and its worst-case cost.
import { parse } from "./parser";
import { analyse, type Analysed, type CompileEnv, type Operand, type UserTarget } from "./analyse";
import { describeTables, generateTable } from "./codegen";
import { EVENT_SIZE, GTP, KEY_SIZE, PROBE, SRC, VALUE } from "./layout";
import type { TracepointId } from "../tracepoint/tracefs";

export interface CompiledOneLiner {
  text: string;
  /** the signed generic recipe that runs it */
  recipe: `generic-${"tracepoint" | "uprobe" | "usdt"}${"" | "-events"}` | "generic-profile";
  tracepoints: (TracepointId & { cookie: number })[];
  /** a uprobe/uretprobe/usdt one-liner's one probe, binary resolved (then tracepoints is empty) */
  target?: UserTarget;
  /** profile:hz:N: the sampling frequency of the cpu-clock events (generic-profile) */
  profileHz?: number;
  /** interval:s:N { exit(); }: the session ends N seconds after attach */
  exitAfterMs?: number;
  /** .rodata gtp_cfg */
  table: Uint8Array;
  /** the table in words (audit log) */
  tables: Record<string, unknown>;
  analysed: Analysed;
  /** how generic_tp picks its table entry (tableSelection), decided once here */
  selection: TableSelection;
}

export interface TableSelection {
  /** one load per tracepoint, each with its own entry (the compiler wrote them differently) */
  perAttachment: boolean;
  /** one load serves several tracepoints that the one-liner tells apart (`probe`, an event): the attach cookie, Linux 5.15+ */
  cookieProbe: boolean;
}

export function compileOneLiner(text: string, env: CompileEnv): CompiledOneLiner {
  const analysed = analyse(parse(text), env);
  const engine = !analysed.target ? "tracepoint" : analysed.target.kind === "usdt" ? "usdt" : "uprobe";
  const table = generateTable(analysed);
  return {
    text,
    recipe: analysed.profile ? "generic-profile" : `generic-${engine}${analysed.action.kind === "printf" ? "-events" : ""}`,
    tracepoints: analysed.tracepoints.map((tp, cookie) => ({ ...tp, cookie })),
    ...(analysed.target ? { target: analysed.target } : {}),
    ...(analysed.profile ? { profileHz: analysed.profile.hz } : {}),
    ...(analysed.exitAfterSeconds !== undefined ? { exitAfterMs: analysed.exitAfterSeconds * 1000 } : {}),
    table,
    tables: describeTables(analysed),
    analysed,
    selection: tableSelection(analysed, table),
  };
}

/**
 * How generic_tp runs several tracepoints: one load for all when the compiler wrote every entry
 * byte for byte the same (only builtins, or fields at the same offsets), the attach cookie then
 * telling them apart only for the `probe` builtin; else one load per tracepoint. Each load's entry
 * index is the constant 0, which the verifier prunes to the branches that entry takes (~2k
 * instructions; a cookie-selected entry kept every branch, ~250k, and loaded 5x slower for two).
 */
function tableSelection(analysed: Analysed, table: Uint8Array): TableSelection {
  const n = analysed.tracepoints.length;
  const entry = (i: number) => table.subarray(i * PROBE.size, (i + 1) * PROBE.size);
  const uniform = n <= 1 || analysed.tracepoints.every((_, i) => Buffer.compare(entry(i), entry(0)) === 0);
  return { perAttachment: !uniform, cookieProbe: n > 1 && uniform && usesProbe(analysed) };
}

/** One load per tracepoint on this kernel: entries that differ, or a cookie the kernel lacks (before 5.15). */
export const oneLoadPerTracepoint = (c: CompiledOneLiner, kernelHasCookie: boolean): boolean =>
  c.selection.perAttachment || (c.selection.cookieProbe && !kernelHasCookie);

function usesProbe(a: Analysed): boolean {
  // An event names its tracepoint (the JSON record's "probe"), whether or not printf prints it.
  if (a.action.kind === "printf") return true;
  const ops: (Operand | undefined)[] = [...a.predicates.map((p) => p.lhs), ...a.action.keys, a.action.value];
  return ops.some((o) => o?.src === SRC.PROBE);
}

/** The .rodata the generic program runs with (with one load per tracepoint: the first load's). */
export function rodataOf(c: CompiledOneLiner): Record<string, Uint8Array> {
  // uprobe/usdt/profile programs have one table entry and no cookie: nothing else to set.
  if (c.target || c.profileHz) return { gtp_cfg: c.table };
  if (c.selection.perAttachment) return perAttachmentRodata(c)[0]!;
  return { gtp_cfg: c.table, gtp_cookie_probe: new Uint8Array([c.selection.cookieProbe ? 1 : 0]) };
}

/**
 * One load per tracepoint: load i runs tracepoint i's entry as its entry 0, with its probe id as a
 * constant (no cookie read), and shares the first load's maps (the session).
 */
export function perAttachmentRodata(c: CompiledOneLiner): Record<string, Uint8Array>[] {
  return c.tracepoints.map((tp) => {
    const table = new Uint8Array(c.table.length);
    table.set(c.table.subarray(tp.cookie * PROBE.size, (tp.cookie + 1) * PROBE.size), 0);
    const probeId = new Uint8Array(4);
    new DataView(probeId.buffer).setUint32(0, tp.cookie, true);
    return { gtp_cfg: table, gtp_cookie_probe: new Uint8Array([0]), gtp_probe_id: probeId };
  });
}

export interface WorstCaseCost {
  /** bytes each event writes to user space (ring buffer record; 0 when aggregated in the kernel) */
  bytes_per_event: number;
  /** bytes read from the tracepoint record and memory per event (fields and strings) */
  bytes_read_per_event: number;
  /** kernel memory of the maps at their maximum size */
  map_memory: number;
  /** events per second admitted by the in-kernel cap */
  rate_cap: number;
  /** worst-case bytes per second to user space (bytes_per_event × rate_cap) */
  output_rate: number;
}

/**
 * max_entries of the `stacks` map for this run: room for a distinct stack per map entry and stack
 * key (a bucket collision loses the newer stack, shown as lost), and 1 when there is no stack key.
 */
export function stackEntries(c: CompiledOneLiner, mapEntries: number): number {
  const a = c.analysed.action;
  const n = a.kind === "map" ? a.keys.filter((k) => k.stack).length : 0;
  return n ? n * mapEntries : 1;
}

/** A stack map's kernel memory: per entry struct stack_map_bucket (16) + the frames, and the bucket array. */
export function stackMapMemory(entries: number): number {
  return entries * (16 + 8 * GTP.STACK_DEPTH) + 8 * 2 ** Math.ceil(Math.log2(Math.max(1, entries)));
}

/** Hash map element overhead in the kernel (struct htab_elem, rounded). */
const HTAB_ELEM_OVERHEAD = 48;
const RINGBUF_BYTES = 1 << 20;

export function worstCaseCost(c: CompiledOneLiner, rateCap: number, cpus: number, mapEntries: number): WorstCaseCost {
  const a = c.analysed;
  const ops = a.action.kind === "printf" ? a.action.args : [...a.action.keys, ...(a.action.value ? [a.action.value] : [])];
  // A stack key reads its frames (up to GTP_STACK_DEPTH return addresses) from the stack it walks.
  const read = [...a.predicates.map((p) => p.lhs), ...ops].reduce((n, o) => n + (o.str ? GTP.STR_CAP : o.stack ? 8 * GTP.STACK_DEPTH : 8), 0);
  const scratch = cpus * (KEY_SIZE + VALUE.size + GTP.STR_CAP);
  const events = a.action.kind === "printf";
  const bytesPerEvent = events ? EVENT_SIZE + 8 : 0;
  const stacks = stackMapMemory(stackEntries(c, mapEntries));
  const mapMemory = (events ? RINGBUF_BYTES + 1 * (KEY_SIZE + VALUE.size + HTAB_ELEM_OVERHEAD) : mapEntries * (KEY_SIZE + VALUE.size + HTAB_ELEM_OVERHEAD) + RINGBUF_BYTES) + scratch + stacks;
  return { bytes_per_event: bytesPerEvent, bytes_read_per_event: read, map_memory: mapMemory, rate_cap: rateCap, output_rate: bytesPerEvent * rateCap };
}
