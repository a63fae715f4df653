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
}

export function compileOneLiner(text: string, env: CompileEnv): CompiledOneLiner {
  const analysed = analyse(parse(text), env);
  const engine = !analysed.target ? "tracepoint" : analysed.target.kind === "usdt" ? "usdt" : "uprobe";
  return {
    text,
    recipe: analysed.profile ? "generic-profile" : `generic-${engine}${analysed.action.kind === "printf" ? "-events" : ""}`,
    tracepoints: analysed.tracepoints.map((tp, cookie) => ({ ...tp, cookie })),
    ...(analysed.target ? { target: analysed.target } : {}),
    ...(analysed.profile ? { profileHz: analysed.profile.hz } : {}),
    ...(analysed.exitAfterSeconds !== undefined ? { exitAfterMs: analysed.exitAfterSeconds * 1000 } : {}),
    table: generateTable(analysed),
    tables: describeTables(analysed),
    analysed,
  };
}

/**
 * How generic_tp picks its table entry: one entry for every attachment when there is one
 * tracepoint or the compiler wrote every entry byte for byte the same (only builtins, or fields at
 * the same offsets), which the verifier prunes to the branches that entry takes; else the attach
 * cookie selects it, and every branch stays (~250k instructions to verify instead of ~2k).
 */
export function tableSelection(c: CompiledOneLiner): { single: boolean; cookieProbe: boolean } {
  const n = c.tracepoints.length;
  const entry = (i: number) => c.table.subarray(i * PROBE.size, (i + 1) * PROBE.size);
  const uniform = n <= 1 || c.tracepoints.every((_, i) => Buffer.compare(entry(i), entry(0)) === 0);
  // With one entry for all, the `probe` builtin is the only thing the cookie still tells apart.
  return { single: uniform, cookieProbe: n > 1 && (!uniform || usesProbe(c.analysed)) };
}

/** Whether the kernel must have the attach cookie to run this one-liner (Linux 5.15+). */
export const needsAttachCookie = (c: CompiledOneLiner): boolean => tableSelection(c).cookieProbe;

function usesProbe(a: Analysed): boolean {
  // An event names its tracepoint (the JSON record's "probe"), whether or not printf prints it.
  if (a.action.kind === "printf") return true;
  const ops: (Operand | undefined)[] = [...a.predicates.map((p) => p.lhs), ...a.action.keys, a.action.value];
  return ops.some((o) => o?.src === SRC.PROBE);
}

/** The .rodata the generic program runs with: the table, and how the program selects its entry. */
export function rodataOf(c: CompiledOneLiner): Record<string, Uint8Array> {
  // uprobe/usdt/profile programs have one table entry and no cookie: nothing else to set.
  if (c.target || c.profileHz) return { gtp_cfg: c.table };
  const { single, cookieProbe } = tableSelection(c);
  return { gtp_cfg: c.table, gtp_single: new Uint8Array([single ? 1 : 0]), gtp_cookie_probe: new Uint8Array([cookieProbe ? 1 : 0]) };
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
