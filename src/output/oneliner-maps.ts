// Output of one-liners, like bpftrace's: @ maps printed at each --interval and at the end
// (count/sum/min/max/avg as "@name[key]: value" sorted by value, hist/lhist as bar charts), or
// JSON lines; printf events formatted from the generic program's ring-buffer records.
import type { BpfObject, DecodedEvent } from "../libbpf";
import type { CompiledOneLiner } from "../oneliner/compile";
import { GTP, KEY_SIZE, SRC, VALUE } from "../oneliner/layout";
import type { AggregatePlan } from "./aggregate";
import { envelope } from "./records";
import { StackSymbolizer, readStackTrace } from "./stacks";

/** A stack key before symbolisation: its id in `stacks` (negative: lost) and, for ustack, the tgid. */
interface StackRef {
  space: "kernel" | "user";
  id: number;
  pid: number;
}
/** A symbolised stack key: frames innermost first, or why it has none. */
interface Stack {
  frames: string[];
  lost?: string;
}
type KeyValue = string | bigint | StackRef | Stack;
const isStackRef = (k: KeyValue): k is StackRef => typeof k === "object" && "id" in k;
const isStack = (k: KeyValue): k is Stack => typeof k === "object" && "frames" in k;

/** How often a ustack one-liner caches the memory maps of the processes it sampled (profile's tick). */
const USTACK_TICK_MS = 500;

export interface MapEntry {
  key: KeyValue[];
  count: bigint;
  sum: bigint;
  min: bigint;
  max: bigint;
  slots: bigint[];
}

function decodeEntry(c: CompiledOneLiner, key: Uint8Array, value: Uint8Array): MapEntry {
  const a = c.analysed.action;
  const keys = a.kind === "map" ? a.keys : [];
  const kv = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const vv = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const k = keys.map((o, i) => {
    const at = i * GTP.KEY_SLOT;
    if (o.src === SRC.PROBE) return probeName(c, Number(kv.getBigInt64(at, true)));
    if (o.stack) return { space: o.stack, id: Number(kv.getBigInt64(at, true)), pid: o.stack === "user" ? kv.getUint32(at + 8, true) : 0 } satisfies StackRef;
    if (!o.str) return kv.getBigInt64(at, true);
    const bytes = key.subarray(at, at + GTP.KEY_SLOT);
    const end = bytes.indexOf(0);
    return new TextDecoder().decode(bytes.subarray(0, end < 0 ? bytes.length : end));
  });
  const slots: bigint[] = [];
  for (let i = 0; i < GTP.HIST_SLOTS; i++) slots.push(vv.getBigUint64(VALUE.slots + 8 * i, true));
  return { key: k, count: vv.getBigUint64(VALUE.count, true), sum: vv.getBigInt64(VALUE.sum, true), min: vv.getBigInt64(VALUE.min, true), max: vv.getBigInt64(VALUE.max, true), slots };
}

const probeName = (c: CompiledOneLiner, cookie: number) => {
  if (c.target) return cookie === 0 ? c.target.text : `probe#${cookie}`;
  if (c.profileHz) return `profile:hz:${c.profileHz}`;
  const t = c.tracepoints[cookie];
  return t ? `tracepoint:${t.category}:${t.event}` : `probe#${cookie}`;
};

/** The single number a count/sum/min/max/avg map shows for one entry. */
export function scalar(fn: string, e: MapEntry): bigint {
  switch (fn) {
    case "count":
      return e.count;
    case "sum":
      return e.sum;
    case "min":
      return e.min;
    case "max":
      return e.max;
    default:
      return e.count ? e.sum / e.count : 0n;
  }
}

/** bpftrace's power-of-two labels: 0, 1, 2, 4 ... 1K, 2K ... 1M ... */
function pow2Label(n: bigint): string {
  const units = ["", "K", "M", "G", "T", "P", "E"];
  let u = 0;
  while (n >= 1024n && n % 1024n === 0n && u < units.length - 1) {
    n /= 1024n;
    u++;
  }
  return `${n}${units[u]}`;
}

export interface Bucket {
  label: string;
  /** inclusive lower bound, null for "below everything" */
  min: string | null;
  /** exclusive upper bound, null for "and above" */
  max: string | null;
  count: bigint;
}

/** Histogram buckets of one entry (log2 or linear), every slot kept (the renderer trims). */
export function buckets(c: CompiledOneLiner, e: MapEntry): Bucket[] {
  const a = c.analysed.action;
  if (a.kind !== "map") return [];
  const out: Bucket[] = [];
  if (a.fn === "hist") {
    out.push({ label: "(..., 0)", min: null, max: "0", count: e.slots[0]! });
    out.push({ label: "[0]", min: "0", max: "1", count: e.slots[1]! });
    for (let i = 2; i < GTP.HIST_SLOTS; i++) {
      const lo = 1n << BigInt(i - 2);
      const hi = lo << 1n;
      out.push({ label: lo === 1n ? "[1]" : `[${pow2Label(lo)}, ${pow2Label(hi)})`, min: lo.toString(), max: hi.toString(), count: e.slots[i]! });
    }
  } else if (a.fn === "lhist" && a.lhist) {
    const { min, max, step } = a.lhist;
    const n = Number((max - min + step - 1n) / step);
    out.push({ label: `(..., ${min})`, min: null, max: min.toString(), count: e.slots[0]! });
    for (let i = 0; i < n; i++) {
      const lo = min + BigInt(i) * step;
      const hi = lo + step > max ? max : lo + step;
      out.push({ label: `[${lo}, ${hi})`, min: lo.toString(), max: hi.toString(), count: e.slots[i + 1]! });
    }
    out.push({ label: `[${max}, ...)`, min: max.toString(), max: null, count: e.slots[n + 1]! });
  }
  return out;
}

/** bpftrace's stack in a key: a newline, then one frame a line, indented by 8. */
const stackText = (s: Stack) => `\n${(s.lost ? [`[lost stack: ${s.lost}]`] : s.frames).map((f) => `        ${f}\n`).join("")}`;

function keyText(k: KeyValue[]): string {
  return k.length ? `[${k.map((x) => (isStack(x) ? stackText(x) : String(x))).join(", ")}]` : "";
}

const jsonKey = (k: KeyValue) => (typeof k === "bigint" ? Number(k) : isStack(k) ? (k.lost ? [`[lost stack: ${k.lost}]`] : k.frames) : k);

function histLines(name: string, e: MapEntry, bs: Bucket[]): string[] {
  const first = bs.findIndex((b) => b.count > 0n);
  if (first < 0) return [];
  let last = bs.length - 1;
  while (bs[last]!.count === 0n) last--;
  const shown = bs.slice(first, last + 1);
  const top = shown.reduce((m, b) => (b.count > m ? b.count : m), 0n);
  const lines = `${name}${keyText(e.key)}:`.split("\n");
  for (const b of shown) {
    const width = top ? Number((b.count * 52n) / top) : 0;
    lines.push(`${b.label.padEnd(20)}${String(b.count).padStart(8)} |${"@".repeat(width).padEnd(52)}|`);
  }
  lines.push("");
  return lines;
}

/** A map's entries now, stack keys unsymbolised; with `drain`, each entry read is deleted (an interval's snapshot). */
function readEntries(c: CompiledOneLiner, obj: BpfObject, drain: boolean): { raw: Uint8Array; e: MapEntry }[] {
  const map = obj.map("agg");
  const value = new Uint8Array(map.valueSize);
  const entries: { raw: Uint8Array; e: MapEntry }[] = [];
  for (const k of map.keys()) {
    if (k.length !== KEY_SIZE || !map.lookup(k, value)) continue;
    entries.push({ raw: k, e: decodeEntry(c, k, value) });
  }
  if (drain) for (const x of entries) map.delete(x.raw);
  return entries;
}

/** The entries of a one-liner without stack keys (openmetrics refuses those): keys are strings and integers. */
export const readMapEntries = (c: CompiledOneLiner, obj: BpfObject, drain: boolean): MapEntry[] => readEntries(c, obj, drain).map((x) => x.e);

/** The key's operands by name (comm, pid, args.filename …), as JSON's key_names and metric labels. */
export const keyNames = (c: CompiledOneLiner): string[] => (c.analysed.action.kind === "map" ? c.analysed.action.keys.map((k) => k.label) : []);

/** A key value as exact JSON text: integers past 2^53 keep every digit; a stack is its frames. */
const exact = (v: KeyValue) => (typeof v === "bigint" ? v.toString() : JSON.stringify(jsonKey(v)));

/** One oneliner_map record (docs/schema/records/oneliner_map.json); integers exact, not through double. */
function mapRecordJson(c: CompiledOneLiner, e: MapEntry, head: Record<string, unknown>): string {
  const a = c.analysed.action;
  if (a.kind !== "map") return "";
  const parts = [`"key":[${e.key.map(exact).join(",")}]`];
  if (a.fn === "hist" || a.fn === "lhist") {
    const bs = buckets(c, e).filter((b) => b.count > 0n);
    parts.push(`"buckets":[${bs.map((b) => `{"min":${b.min ?? "null"},"max":${b.max ?? "null"},"count":${b.count}}`).join(",")}]`, `"sum":${e.sum}`);
  } else {
    parts.push(`"value":${scalar(a.fn, e)}`);
  }
  parts.push(`"count":${e.count}`);
  return `${JSON.stringify(head).slice(0, -1)},${parts.join(",")}}`;
}

/** The aggregate plan of a map one-liner: read `agg`, print like bpftrace, clear at each interval. */
export function oneLinerMapPlan(c: CompiledOneLiner, opts: { json: boolean; intervalMs?: number; recipe?: string; session?: string }): AggregatePlan {
  const a = c.analysed.action;
  if (a.kind !== "map") throw new Error("not a map one-liner");
  const name = a.name;
  const kstack = a.keys.some((k) => k.stack === "kernel");
  const ustack = a.keys.some((k) => k.stack === "user");
  // Stacks are symbolised as the profile recipe's are (src/output/stacks.ts).
  const symbolizer = kstack || ustack ? new StackSymbolizer((message) => {
    if (opts.json) process.stderr.write(JSON.stringify({ ...envelope("warning", c.recipe, opts.session ?? null), ts: new Date().toISOString(), level: "warning", message }) + "\n");
    else process.stderr.write(`ebpfctl: warning: ${message}\n`);
  }) : undefined;
  // Kernel symbols now, while the process holds CAP_SYSLOG (kallsyms hides addresses without it).
  if (kstack) symbolizer!.preloadKernelSymbols();
  // User stacks: the sampled processes' memory maps are cached every tick while they live, as
  // profile does; the maps are printed at -i intervals and at the end only.
  const tickMs = ustack ? USTACK_TICK_MS : undefined;
  let sincePrint = 0;
  let due = true;
  const symbolise = (k: KeyValue): KeyValue => {
    if (!isStackRef(k)) return k;
    const addrs = readStackTrace(stacksMap!, k.id);
    // -EFAULT: no stack of that kind (a kernel thread's ustack); bpftrace shows it empty too.
    if (typeof addrs === "string") return k.id === -14 ? { frames: [] } : { frames: [], lost: addrs };
    return { frames: k.space === "kernel" ? symbolizer!.kernel(addrs) : symbolizer!.user(k.pid, addrs) };
  };
  let stacksMap: ReturnType<BpfObject["map"]> | undefined;
  return {
    ...(tickMs ?? opts.intervalMs ? { intervalMs: tickMs ?? opts.intervalMs } : {}),
    ...(ustack ? { keepCapabilities: ["CAP_SYS_PTRACE"], lastSnapshotHadData: () => due } : {}),
    snapshot(obj: BpfObject, final: boolean): string[] {
      const map = obj.map("agg");
      if (symbolizer) stacksMap = obj.map("stacks");
      const entries = readEntries(c, obj, false);
      if (tickMs) {
        const now = performance.now();
        for (const { e } of entries) for (const k of e.key) if (isStackRef(k) && k.space === "user") symbolizer!.remember(k.pid, now);
        sincePrint += tickMs;
        due = final || (opts.intervalMs !== undefined && sincePrint >= opts.intervalMs);
        if (!due) return [];
        sincePrint = 0;
      }
      for (const { e } of entries) e.key = e.key.map(symbolise);
      if (opts.intervalMs && !final) for (const x of entries) map.delete(x.raw);
      const hist = a.fn === "hist" || a.fn === "lhist";
      const time = new Date().toISOString();
      if (opts.json) {
        const head = { ...envelope("oneliner_map", opts.recipe ?? null, opts.session ?? null), time, ...(opts.intervalMs ? { interval_ms: opts.intervalMs } : {}), final, map: name, fn: a.fn, key_names: keyNames(c) };
        return entries.map(({ e }) => mapRecordJson(c, e, head));
      }
      const lines: string[] = opts.intervalMs ? [`${new Date().toTimeString().slice(0, 8)}${final ? " (end)" : ""}`] : [];
      if (hist) {
        entries.sort((x, y) => (x.e.count < y.e.count ? -1 : x.e.count > y.e.count ? 1 : 0));
        for (const { e } of entries) lines.push(...histLines(name, e, buckets(c, e)));
      } else {
        const rows = entries.map(({ e }) => ({ e, v: scalar(a.fn, e) })).sort((x, y) => (x.v < y.v ? -1 : x.v > y.v ? 1 : 0));
        for (const { e, v } of rows) lines.push(...`${name}${keyText(e.key)}: ${v}`.split("\n"));
      }
      if (!entries.length) lines.push(`${name}: (empty)`);
      return lines;
    },
  };
}

/** printf's conversions applied to one event (bpftrace semantics for the supported subset). */
export function formatPrintf(format: string, values: (string | number)[]): string {
  let i = 0;
  return format.replace(/%(%|([-0 +#]*)(\d*)(?:\.(\d+))?(?:hh|h|ll|l|z)?([a-zA-Z]))/g, (_m, all: string, flags: string, width: string, _prec: string | undefined, conv: string) => {
    if (all === "%") return "%";
    const v = values[i++];
    let s: string;
    switch (conv) {
      case "s":
        s = String(v ?? "");
        break;
      case "c":
        s = String.fromCharCode(Number(v ?? 0));
        break;
      case "x":
        s = (BigInt.asUintN(64, BigInt(v ?? 0))).toString(16);
        break;
      case "X":
        s = (BigInt.asUintN(64, BigInt(v ?? 0))).toString(16).toUpperCase();
        break;
      case "u":
        s = BigInt.asUintN(64, BigInt(v ?? 0)).toString();
        break;
      default:
        s = String(v ?? 0);
    }
    const w = Number(width || 0);
    if (s.length < w) s = flags.includes("-") ? s.padEnd(w) : flags.includes("0") && conv !== "s" ? s.padStart(w, "0") : s.padStart(w);
    return s;
  });
}

/** The event renderer of a printf one-liner; JSON mode gives one object per event. */
export function oneLinerPrintfRenderer(c: CompiledOneLiner, json: boolean, who: { recipe?: string; session?: string } = {}) {
  const a = c.analysed.action;
  if (a.kind !== "printf") throw new Error("not a printf one-liner");
  const args = a.args;
  const probes = c.target ? [c.target.text] : c.tracepoints.map((t) => `tracepoint:${t.category}:${t.event}`);
  const head = envelope("oneliner_event", who.recipe ?? null, who.session ?? null);
  return {
    header: (): string[] => [],
    render(e: DecodedEvent): string {
      const values = args.map((o, i) => (o.src === SRC.PROBE ? probeName(c, Number(e[`int${i}`] ?? 0)) : o.str ? String(e[`str${i}`] ?? "") : Number(e[`int${i}`] ?? 0)));
      // Trailing newline of the format: the sink adds one per line.
      const text = formatPrintf(a.format, values).replace(/\n$/, "");
      if (!json) return text;
      return JSON.stringify({ ...head, probe: probes[Number(e.probe)] ?? null, args: values, text });
    },
  };
}
