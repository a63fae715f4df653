// Aggregation recipes: read the recipe's aggregate map (key/value structs laid out from the
// object's BTF) and render it as histograms (runqlat, biolatency, funclatency), a table
// (syscount) or symbolised stacks (profile), at --interval and once at the end.
//
// With --interval, each snapshot covers only its interval: the keys it read are deleted from the
// map afterwards, as BCC's runqlat/syscount do. An increment landing between a key's read and its
// delete is lost to the output (never to the accounting, which counts in the kernel).
import { envelope, SCHEMA_VERSION } from "./records";
import { readFileSync } from "node:fs";
import { EventReader, type BpfMap, type BpfObject, type DecodedEvent } from "../libbpf";
import type { Manifest } from "../recipe/manifest";
import type { ParameterValues } from "../recipe/params";
import { parameterInvalid, EbpfctlError, ExitCode } from "../errors";
import { parseDuration } from "../units";
import { formatNs } from "./format";
import { log2Buckets, percentiles, percentilesLine, renderLog2Histogram, total, type HistUnit } from "./histogram";
import { renderTable, type TableColumn } from "./aggregate-table";
import { STACK_ERRORS, StackSymbolizer, buildIdFrameLayout, buildIdFrames, foldedLines, readStackTrace, symbolBytesFor, type SymbolisedStack } from "./stacks";
import { profileRows, profileTable } from "./profile-table";
import { X86_64_SYSCALLS } from "./syscalls-x86_64";

export interface AggregateOptions {
  interval?: string;
  top?: string;
  folded?: boolean;
  /** The session id every JSON record carries. */
  session?: string;
  json?: boolean;
  /** The session's max_memory: symbol indexes (profile) get a share of it. */
  maxMemory?: number;
}

export interface AggregatePlan {
  intervalMs?: number;
  snapshot(obj: BpfObject, final: boolean): string[];
  /** The session attached at `at` (performance.now()): the first interval starts there. */
  attached?(at: number): void;
  /** False when the last snapshot carried no counts (profile between its intervals). */
  lastSnapshotHadData?(): boolean;
  /** Capabilities the session must keep after attach for this rendering (see privileges.ts). */
  keepCapabilities?: string[];
}

/** How often the profiler looks for new processes to cache their memory maps. */
const STACKS_TICK_MS = 500;

export function aggregatePlan(manifest: Manifest, params: ParameterValues, opts: AggregateOptions): AggregatePlan {
  const agg = manifest.aggregate;
  if (!agg) throw new EbpfctlError("EBPFCTL-E0014", `${manifest.name}: not an aggregation recipe`, ExitCode.RECIPE);
  let intervalMs: number | undefined;
  if (opts.interval !== undefined) {
    try {
      intervalMs = parseDuration(opts.interval);
    } catch (e) {
      throw parameterInvalid(`--interval: ${(e as Error).message}`);
    }
    if (!(intervalMs >= 100)) throw parameterInvalid(`--interval: expected at least 100ms, got "${opts.interval}"`);
  }
  let top: number | undefined;
  if (opts.top !== undefined) {
    top = Number(opts.top);
    if (!Number.isInteger(top) || top < 1) throw parameterInvalid(`--top: expected a positive whole number, got "${opts.top}"`);
  }
  if (opts.folded && agg.render !== "stacks") throw parameterInvalid(`--folded applies to stack recipes (profile), not ${manifest.name}`);
  const clock = { since: performance.now() };
  const ctx: RenderContext = { manifest, params, json: Boolean(opts.json), intervalMs, top, folded: Boolean(opts.folded), clock, session: opts.session, maxMemory: opts.maxMemory };
  const attached = (at: number) => void (clock.since = at);
  switch (agg.render) {
    case "histogram":
      return { intervalMs, snapshot: histogramSnapshot(ctx), attached };
    case "table":
      return { intervalMs, snapshot: tableSnapshot(ctx), attached };
    case "stacks":
      return { ...stacksPlan(ctx), attached };
  }
}

interface RenderContext {
  manifest: Manifest;
  params: ParameterValues;
  json: boolean;
  intervalMs?: number;
  top?: number;
  folded: boolean;
  /** When the current interval began (performance.now()): attach, then each snapshot. */
  clock: { since: number };
  session?: string;
  maxMemory?: number;
}

/**
 * Snapshot metadata every JSON record carries (the envelope's schema_version and session too).
 * interval_ms is the time the snapshot really covers, since the previous one (or since attach):
 * the last interval of a run is usually short.
 */
function stamp(ctx: RenderContext, final: boolean): Record<string, unknown> {
  const now = performance.now();
  const covered = Math.round(now - ctx.clock.since);
  ctx.clock.since = now;
  return { schema_version: SCHEMA_VERSION, session: ctx.session ?? null, time: new Date().toISOString(), ...(ctx.intervalMs ? { interval_ms: covered } : {}), final };
}

/** Interval header line for the human output. */
function timeLine(): string {
  return `[${new Date().toTimeString().slice(0, 8)}]`;
}

interface Entry {
  rawKey: Uint8Array;
  key: DecodedEvent;
  value: Uint8Array;
}

/** Every (key, value) of a hash map, decoded keys; values raw. Deletes what it read when `clear`. */
function readMap(map: BpfMap, keyReader: EventReader | undefined, clear: boolean): Entry[] {
  const out: Entry[] = [];
  const value = new Uint8Array(map.valueSize);
  for (const k of map.keys()) {
    if (!map.lookup(k, value)) continue; // evicted (LRU) or deleted meanwhile
    out.push({ rawKey: k, key: keyReader ? keyReader.decodeBytes(k) : {}, value: value.slice() });
  }
  if (clear) for (const e of out) map.delete(e.rawKey);
  return out;
}

function readers(obj: BpfObject, ctx: RenderContext): { map: BpfMap; key?: EventReader; value?: EventReader } {
  const agg = ctx.manifest.aggregate!;
  const btf = obj.btf();
  return {
    map: obj.map(agg.map),
    key: agg.key_struct ? new EventReader(btf, agg.key_struct) : undefined,
    value: agg.value_struct ? new EventReader(btf, agg.value_struct) : undefined,
  };
}

/** The key's fields, or {} for an all-zero key (one histogram for everything, not per process). */
function keyFields(key: DecodedEvent): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  let any = false;
  for (const [k, v] of Object.entries(key)) {
    if (k.startsWith("__") || (typeof v !== "number" && typeof v !== "string")) continue;
    out[k] = v;
    if (v !== 0 && v !== "") any = true;
  }
  return any ? out : {};
}

function keyHeader(key: Record<string, number | string>): string {
  return Object.entries(key)
    .map(([k, v]) => (k === "dev" && typeof v === "number" ? `disk = ${v >>> 20}:${v & 0xfffff}` : `${k} = ${v}`))
    .join(" ");
}

// ---- histograms -------------------------------------------------------------------------------

function histogramSnapshot(ctx: RenderContext): (obj: BpfObject, final: boolean) => string[] {
  const agg = ctx.manifest.aggregate!;
  const unit: HistUnit = agg.unit ?? "count";
  return (obj, final) => {
    const r = readers(obj, ctx);
    if (!r.value) throw new EbpfctlError("EBPFCTL-E0014", `${ctx.manifest.name}: a histogram needs aggregate.value_struct`, ExitCode.RECIPE);
    const entries = readMap(r.map, r.key, Boolean(ctx.intervalMs) && !final);
    const hists = entries
      .map((e) => {
        const dec = r.value!.decodeBytes(e.value);
        const slots = Object.values(dec).find(Array.isArray) as number[] | undefined;
        return { key: keyFields(e.key), slots: slots ?? [] };
      })
      .filter((h) => total(h.slots) > 0)
      .sort((a, b) => Number(a.key.pid ?? a.key.dev ?? 0) - Number(b.key.pid ?? b.key.dev ?? 0));
    const meta = stamp(ctx, final);
    if (ctx.json) {
      if (!hists.length) return [JSON.stringify({ kind: "histogram", recipe: ctx.manifest.name, label: agg.label, unit, key: {}, buckets: [], total: 0, ...meta })];
      return hists.map((h) =>
        JSON.stringify({ kind: "histogram", recipe: ctx.manifest.name, label: agg.label, unit, key: h.key, buckets: log2Buckets(h.slots), total: total(h.slots), percentiles: percentiles(h.slots), ...meta }),
      );
    }
    const lines: string[] = [];
    if (ctx.intervalMs) lines.push("", timeLine());
    if (!hists.length) lines.push(`(no ${agg.label ?? "samples"} recorded${ctx.intervalMs && !final ? " in this interval" : ""})`);
    for (const [i, h] of hists.entries()) {
      if (i > 0 || Object.keys(h.key).length) lines.push("");
      if (Object.keys(h.key).length) lines.push(keyHeader(h.key));
      lines.push(...renderLog2Histogram(h.slots, unit));
      const p = percentilesLine(h.slots, unit);
      if (p) lines.push(p);
    }
    return lines;
  };
}

// ---- tables (syscount) ------------------------------------------------------------------------

function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

/** The name the kernel took when the process was first seen; /proc only for an older object without it. */
function commOfRow(row: Record<string, unknown>, pid: number): string {
  return typeof row.comm === "string" && row.comm ? row.comm : commOf(pid);
}

function tableSnapshot(ctx: RenderContext): (obj: BpfObject, final: boolean) => string[] {
  const perProcess = Boolean(ctx.params.per_process);
  const top = ctx.top ?? 10;
  return (obj, final) => {
    const r = readers(obj, ctx);
    const entries = readMap(r.map, r.key, Boolean(ctx.intervalMs) && !final);
    const rows = entries
      .map((e) => ({ ...e.key, ...(r.value ? r.value.decodeBytes(e.value) : {}) }))
      .sort((a, b) => Number(b.count ?? 0) - Number(a.count ?? 0));
    const shown = rows.slice(0, top);
    const columns = ctx.manifest.columns;
    const meta = stamp(ctx, final);
    if (ctx.json) {
      const out = shown.map((row) => {
        const o: Record<string, unknown> = { ...row };
        if (!perProcess) delete o.comm;
        for (const c of columns) {
          if (c.format !== "syscall") continue;
          const id = Number(row[c.field]);
          if (perProcess) {
            o.pid = id;
            o.comm = commOfRow(row, id);
          } else o.syscall = X86_64_SYSCALLS[id] ?? `syscall_${id}`;
        }
        return o;
      });
      return [JSON.stringify({ kind: "table", recipe: ctx.manifest.name, per_process: perProcess, rows: out, total_rows: rows.length, top, ...meta })];
    }
    const cols: TableColumn[] = [];
    for (const c of columns) {
      if (c.format === "syscall" && perProcess) cols.push({ header: "PID", align: "right" }, { header: "COMM" });
      else cols.push({ header: c.header, align: c.format === "syscall" || c.format === "string" ? "left" : "right" });
    }
    const body = shown.map((row) =>
      columns.flatMap((c) => {
        const v = row[c.field];
        if (c.format === "syscall") {
          const id = Number(v);
          return perProcess ? [String(id), commOfRow(row, id)] : [X86_64_SYSCALLS[id] ?? `syscall_${id}`];
        }
        if (c.format === "ns_duration") return [formatNs(Number(v))];
        return [String(v ?? "")];
      }),
    );
    const lines: string[] = [];
    if (ctx.intervalMs) lines.push("", timeLine());
    if (!rows.length) return [...lines, "(no calls recorded)"];
    lines.push(...renderTable(cols, body));
    if (rows.length > shown.length) lines.push(`(top ${shown.length} of ${rows.length}; --top N shows more)`);
    return lines;
  };
}

// ---- stacks (profile) -------------------------------------------------------------------------

interface ProfileKey {
  pid: number;
  kern_stack_id: number;
  user_stack_id: number;
  comm: string;
}

function stacksPlan(ctx: RenderContext): AggregatePlan {
  const pending: string[] = [];
  const symbolizer = new StackSymbolizer((message) => {
    // Said once per cause, always on stderr (stdout is data): in JSON mode as a warning record.
    if (ctx.json) process.stderr.write(JSON.stringify({ ...envelope("warning", ctx.manifest.name, ctx.session ?? null), ts: new Date().toISOString(), level: "warning", message }) + "\n");
    else process.stderr.write(`ebpfctl: warning: ${message}\n`);
  }, { maxSymbolBytes: ctx.maxMemory !== undefined ? symbolBytesFor(ctx.maxMemory) : undefined });
  // Kernel symbols now, while the process still holds CAP_SYSLOG (kallsyms hides addresses from
  // openers without it); user stacks need /proc/PID/maps of root-owned, capable processes, which
  // takes CAP_SYS_PTRACE (ptrace_may_access, PTRACE_MODE_READ): the one capability kept.
  symbolizer.preloadKernelSymbols();
  let sinceOutput = 0;
  let due = false;
  const snapshot = (obj: BpfObject, final: boolean): string[] => {
    const r = readers(obj, ctx);
    const stacksMap = obj.map("stack_traces");
    // Every tick: cache the memory maps of the processes seen so far (they may exit before the end).
    const keys = r.map.keys().map((k) => r.key!.decodeBytes(k) as unknown as ProfileKey);
    const now = performance.now();
    for (const pid of new Set(keys.map((k) => k.pid))) symbolizer.remember(pid, now);
    sinceOutput += STACKS_TICK_MS;
    due = final || (ctx.intervalMs !== undefined && sinceOutput >= ctx.intervalMs);
    if (!due) return pending.splice(0);
    sinceOutput = 0;

    // User stacks as build-id + file offset (profile's user_stacks), where the object has them.
    let userMap: BpfMap | undefined;
    try {
      userMap = obj.map("user_stacks");
    } catch {
      userMap = undefined;
    }
    const entries = readMap(r.map, r.key, Boolean(ctx.intervalMs) && !final);
    const stackKey = new Uint8Array(4);
    const userValue = userMap ? new Uint8Array(userMap.valueSize) : undefined;
    const frameLayout = userMap ? buildIdFrameLayout(obj.btf()) : undefined;
    const readUserStack = (pid: number, id: number): string[] | string => {
      if (!userMap) {
        const u = readStack(id);
        return typeof u === "string" ? u : symbolizer.user(pid, u);
      }
      if (id < 0) return STACK_ERRORS[id] ?? `stack error ${id}`;
      new DataView(stackKey.buffer).setUint32(0, id, true);
      if (!userMap.lookup(stackKey, userValue!)) return "stack evicted";
      return symbolizer.userFrames(pid, buildIdFrames(userValue!, frameLayout!));
    };
    const readStack = (id: number) => readStackTrace(stacksMap, id);
    const stacks: SymbolisedStack[] = entries
      .map((e) => {
        const k = e.key as unknown as ProfileKey;
        const count = Number(new DataView(e.value.buffer).getBigUint64(0, true));
        const u = readUserStack(k.pid, k.user_stack_id);
        const kk = readStack(k.kern_stack_id);
        return {
          pid: k.pid,
          comm: k.comm,
          count,
          user: typeof u === "string" ? [] : u,
          kernel: typeof kk === "string" ? [] : symbolizer.kernel(kk),
          ...(typeof u === "string" ? { userError: u } : {}),
          ...(typeof kk === "string" ? { kernelError: kk } : {}),
        };
      })
      .sort((a, b) => b.count - a.count);
    const samples = stacks.reduce((a, s) => a + s.count, 0);
    const meta = stamp(ctx, final);
    const out = pending.splice(0);
    if (ctx.folded) {
      if (ctx.json) {
        for (const line of foldedLines(stacks)) {
          const cut = line.lastIndexOf(" ");
          out.push(JSON.stringify({ kind: "folded", recipe: ctx.manifest.name, stack: line.slice(0, cut), count: Number(line.slice(cut + 1)), ...meta }));
        }
      } else out.push(...foldedLines(stacks));
      return out;
    }
    const perProcess = Boolean(ctx.params.per_process);
    const byFunction = ctx.params.by === "function";
    if (ctx.json && (perProcess || byFunction)) {
      // Roll-ups: one record per process (-P) or per self frame (--by function), merged as the table is.
      const rows = profileRows(stacks, { perProcess, byFunction });
      const kept = ctx.top !== undefined ? rows.slice(0, ctx.top) : rows;
      for (const r of kept) {
        out.push(JSON.stringify({ kind: byFunction ? "function" : "process", recipe: ctx.manifest.name, count: r.count, ...(r.pid !== undefined ? { pid: r.pid, comm: r.comm } : {}), ...(byFunction ? { function: r.function ?? null, space: r.space ?? null } : { hottest_stack: r.label }), ...meta }));
      }
      out.push(JSON.stringify({ kind: "profile_summary", recipe: ctx.manifest.name, samples, stacks: stacks.length, rows: rows.length, shown: kept.length, ...meta }));
      return out;
    }
    const shown = ctx.top !== undefined || !ctx.json ? stacks.slice(0, ctx.top ?? 10) : stacks;
    if (ctx.json) {
      for (const s of shown) {
        out.push(JSON.stringify({ kind: "stack", recipe: ctx.manifest.name, pid: s.pid, comm: s.comm, count: s.count, user_stack: s.user, kernel_stack: s.kernel, ...(s.userError ? { user_stack_error: s.userError } : {}), ...(s.kernelError ? { kernel_stack_error: s.kernelError } : {}), ...meta }));
      }
      out.push(JSON.stringify({ kind: "profile_summary", recipe: ctx.manifest.name, samples, stacks: stacks.length, shown: shown.length, ...meta }));
      return out;
    }
    if (ctx.intervalMs) out.push("", timeLine());
    if (!stacks.length) return [...out, "(no samples)"];
    out.push(...profileTable(stacks, { top: ctx.top ?? 10, perProcess, byFunction }));
    return out;
  };
  return { intervalMs: STACKS_TICK_MS, snapshot, lastSnapshotHadData: () => due, keepCapabilities: ["CAP_SYS_PTRACE"] };
}
