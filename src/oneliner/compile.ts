// The one-liner compiler's entry point: text → checked plan → tables, plus what the session needs
// to run it (which signed generic recipe, the tracepoints with their cookies) and its worst-case cost.
import { parse } from "./parser";
import { analyse, type Analysed, type CompileEnv, type UserTarget } from "./analyse";
import { describeTables, generateTable } from "./codegen";
import { EVENT_SIZE, GTP, KEY_SIZE, VALUE } from "./layout";
import type { TracepointId } from "../tracepoint/tracefs";

export interface CompiledOneLiner {
  text: string;
  /** the signed generic recipe that runs it */
  recipe: `generic-${"tracepoint" | "uprobe" | "usdt"}${"" | "-events"}`;
  tracepoints: (TracepointId & { cookie: number })[];
  /** a uprobe/uretprobe/usdt one-liner's one probe, binary resolved (then tracepoints is empty) */
  target?: UserTarget;
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
    recipe: `generic-${engine}${analysed.action.kind === "printf" ? "-events" : ""}`,
    tracepoints: analysed.tracepoints.map((tp, cookie) => ({ ...tp, cookie })),
    ...(analysed.target ? { target: analysed.target } : {}),
    table: generateTable(analysed),
    tables: describeTables(analysed),
    analysed,
  };
}

/** The .rodata the generic program runs with: the table, and whether one attachment uses it (no cookie). */
export function rodataOf(c: CompiledOneLiner): Record<string, Uint8Array> {
  // uprobe/usdt programs have one table entry and no cookie: no gtp_single to set.
  if (c.target) return { gtp_cfg: c.table };
  return { gtp_cfg: c.table, gtp_single: new Uint8Array([c.tracepoints.length === 1 ? 1 : 0]) };
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

/** Hash map element overhead in the kernel (struct htab_elem, rounded). */
const HTAB_ELEM_OVERHEAD = 48;
const RINGBUF_BYTES = 1 << 20;

export function worstCaseCost(c: CompiledOneLiner, rateCap: number, cpus: number, mapEntries: number): WorstCaseCost {
  const a = c.analysed;
  const ops = a.action.kind === "printf" ? a.action.args : [...a.action.keys, ...(a.action.value ? [a.action.value] : [])];
  const read = [...a.predicates.map((p) => p.lhs), ...ops].reduce((n, o) => n + (o.str ? GTP.STR_CAP : 8), 0);
  const scratch = cpus * (KEY_SIZE + VALUE.size + GTP.STR_CAP);
  const events = a.action.kind === "printf";
  const bytesPerEvent = events ? EVENT_SIZE + 8 : 0;
  const mapMemory = (events ? RINGBUF_BYTES + 1 * (KEY_SIZE + VALUE.size + HTAB_ELEM_OVERHEAD) : mapEntries * (KEY_SIZE + VALUE.size + HTAB_ELEM_OVERHEAD) + RINGBUF_BYTES) + scratch;
  return { bytes_per_event: bytesPerEvent, bytes_read_per_event: read, map_memory: mapMemory, rate_cap: rateCap, output_rate: bytesPerEvent * rateCap };
}
