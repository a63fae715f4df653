// The field and semantic analysers: a parsed Program checked against this kernel's tracepoints
// (tracefs formats, cross-checked with BTF) and the subset's rules, into a typed plan codegen
// turns into tables. Every refusal is one line naming the construct and its column.
import type { AggFn, Expr, ProbeSpec, Program } from "./ast";
import { semanticError, unsupported, adhocRefused } from "./errors";
import { GTP, READ, SRC } from "./layout";
import type { TracepointField, TracepointFormat } from "../tracepoint/format";
import { noSuchTracepoint, type TracepointId } from "../tracepoint/tracefs";

/** What the compiler needs from the host: tracepoints (tracefs + BTF) and the ad-hoc policy. */
export interface CompileEnv {
  list(pattern: string): TracepointId[];
  /** The checked format (throws naming a field tracefs and BTF disagree on). */
  format(tp: TracepointId): TracepointFormat;
  policy?: { tracepoint_categories?: string[]; deny_string_fields?: string[]; uprobe_binaries?: string[]; profile?: boolean };
  /** uprobe/usdt binaries: each check throws its own one-line refusal. */
  user?: UserProbeEnv;
}

export interface UserProbeEnv {
  /** The file the path names (symlinks resolved); throws if there is none. */
  resolve(path: string): string;
  /** Throws unless the file may be probed (root-owned, not writable by group or others). */
  trusted(real: string): void;
  /** Throws unless the ELF file defines the function. */
  symbol(real: string, symbol: string): void;
  /** The provider of the USDT probe (the one given, or the only one naming it); throws if the notes have none. */
  usdt(real: string, provider: string | undefined, name: string): string;
}

/** A uprobe, uretprobe or USDT probe, its binary checked and resolved. */
export type UserTarget =
  | { kind: "uprobe" | "uretprobe"; binary: string; symbol: string; text: string }
  | { kind: "usdt"; binary: string; provider: string; name: string; text: string };

/** One value read per event: a builtin, or a field whose offset differs per tracepoint. */
export interface Operand {
  label: string;
  str: boolean;
  src: number;
  /** per tracepoint (by cookie): how to read it (fields only) */
  reads?: { read: number; size: number; signed: boolean; offset: number }[];
  /** kstack/ustack: a stack id into the program's `stacks` map (map keys only) */
  stack?: "kernel" | "user";
}

export type BoolOp = { kind: "pred"; index: number } | { kind: "and" | "or"; left: BoolOp; right: BoolOp } | { kind: "not"; arg: BoolOp };
export interface Predicate {
  lhs: Operand;
  op: "==" | "!=" | "<" | "<=" | ">" | ">=";
  value: bigint;
  str?: string;
}

export interface Analysed {
  /** empty for a profile one-liner */
  tracepoints: TracepointId[];
  /** set instead of tracepoints for a uprobe/uretprobe/usdt one-liner (one probe, one table entry) */
  target?: UserTarget;
  /** profile:hz:N: one perf_event program on every online CPU, table entry 0 */
  profile?: { hz: number };
  /** interval:s:N { exit(); } */
  exitAfterSeconds?: number;
  predicates: Predicate[];
  bool?: BoolOp;
  action:
    | { kind: "map"; name: string; keys: Operand[]; fn: AggFn; value?: Operand; lhist?: { min: bigint; max: bigint; step: bigint } }
    | { kind: "printf"; format: string; args: Operand[] };
}

const FLIP = { "==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<=" } as const;
const STRING_KINDS = new Set(["data_loc_str", "rel_loc_str", "str_ptr", "char_array"]);

const glob = (pattern: string, s: string) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`).test(s);
/** Path globs: * within one path component, ** across them. */
export const pathGlob = (pattern: string, s: string) =>
  new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*\*|\*/g, (m) => (m === "**" ? ".*" : "[^/]*"))}$`).test(s);

/** The one user-space probe of a one-liner: policy, trust, then the symbol or note, in that order. */
function userTarget(probes: ProbeSpec[], env: CompileEnv): UserTarget | undefined {
  const user = probes.flatMap((p) => (p.provider === "uprobe" || p.provider === "uretprobe" || p.provider === "usdt" ? [p] : []));
  if (!user.length) return undefined;
  const p = user[0]!;
  if (probes.length > 1) {
    const other = probes.find((q) => q.provider === "tracepoint" || q.provider === "profile");
    throw unsupported(probes[1]!.col, other ? `mixing ${other.provider} and uprobe/usdt probes` : "a second uprobe/usdt probe", "one uprobe, uretprobe or usdt probe per one-liner (run one ebpfctl trace -e per probe)");
  }
  if (!env.user) throw semanticError(p.col, `${p.provider} probes need the host's binaries; not available here`);
  const real = env.user.resolve(p.binary);
  const allowed = env.policy?.uprobe_binaries;
  if (allowed && !allowed.some((g) => pathGlob(g, real))) throw adhocRefused(`the host policy allows uprobe/usdt one-liners on ${allowed.join(", ")}, not ${real}${real !== p.binary ? ` (${p.binary})` : ""}`);
  env.user.trusted(real);
  if (p.provider === "usdt") {
    const provider = env.user.usdt(real, p.usdtProvider, p.name);
    return { kind: "usdt", binary: real, provider, name: p.name, text: `usdt:${real}:${provider}:${p.name}` };
  }
  env.user.symbol(real, p.symbol);
  return { kind: p.provider, binary: real, symbol: p.symbol, text: `${p.provider}:${real}:${p.symbol}` };
}

export function analyse(prog: Program, env: CompileEnv): Analysed {
  const target = userTarget(prog.probes, env);
  // Field analyser: every probe pattern expanded to this kernel's tracepoints.
  const seen = new Set<string>();
  const tracepoints: TracepointId[] = [];
  const profile = prog.probes.find((p) => p.provider === "profile");
  if (profile && env.policy?.profile === false) throw adhocRefused(`the host policy turns sampling one-liners off (adhoc: profile: false): ${profile.text}`);
  for (const p of prog.probes) {
    if (p.provider !== "tracepoint") continue;
    const found = env.list(`${p.category}:${p.event}`);
    if (!found.length) {
      if (p.category.includes("*") || p.event.includes("*")) throw semanticError(p.col, `no tracepoint matches ${p.text}`, "ebpfctl probes lists the tracepoints");
      throw noSuchTracepoint(`${p.category}:${p.event}`);
    }
    for (const tp of found) {
      const name = `${tp.category}:${tp.event}`;
      const allowed = env.policy?.tracepoint_categories;
      if (allowed && !allowed.some((c) => glob(c, tp.category))) throw adhocRefused(`the host policy allows one-liners on tracepoint categories ${allowed.join(", ")}, not ${tp.category} (${name})`);
      if (!seen.has(name)) {
        seen.add(name);
        tracepoints.push(tp);
      }
    }
  }
  if (tracepoints.length > GTP.MAX_PROBES) throw semanticError(prog.probes[0]!.col, `the probes match ${tracepoints.length} tracepoints; at most ${GTP.MAX_PROBES}`, "narrow the wildcard");
  const formats = tracepoints.map((tp) => env.format(tp));

  const field = (name: string, col: number, wantStr: boolean): Operand => {
    if (profile) throw semanticError(col, `${profile.text} has no fields (args.${name}): it samples whatever runs on the CPU`, "key it by kstack, ustack, comm, pid, tid, uid or cgroup");
    const reads = formats.map((f, i) => {
      const tp = tracepoints[i]!;
      const fd: TracepointField | undefined = f.fields.find((x) => x.name === name);
      if (!fd) throw semanticError(col, `${tp.category}:${tp.event} has no field args.${name}`, `its fields: ${f.fields.filter((x) => !x.common).map((x) => x.name).join(", ") || "(none)"}`);
      if (wantStr) {
        if (!STRING_KINDS.has(fd.kind)) throw semanticError(col, `str(args.${name}): ${tp.category}:${tp.event}'s ${name} is ${fd.type}, not a string`);
        const deny = env.policy?.deny_string_fields ?? [];
        if (deny.some((d) => glob(d, `${tp.category}:${tp.event}:${name}`))) throw adhocRefused(`the host policy denies reading the string ${tp.category}:${tp.event}:${name}`);
        const read = fd.kind === "data_loc_str" ? READ.DATA_LOC : fd.kind === "rel_loc_str" ? READ.REL_LOC : fd.kind === "char_array" ? READ.CHARS : tp.category === "syscalls" ? READ.USER_STR : READ.KERNEL_STR;
        return { read, size: fd.size, signed: false, offset: fd.offset };
      }
      if (fd.kind !== "int" && fd.kind !== "str_ptr") throw semanticError(col, `args.${name} of ${tp.category}:${tp.event} is ${fd.type}: ${STRING_KINDS.has(fd.kind) ? `use str(args.${name})` : "not readable as an integer"}`);
      return { read: READ.INT, size: fd.size, signed: fd.signed, offset: fd.offset };
    });
    return { label: wantStr ? `str(args.${name})` : `args.${name}`, str: wantStr, src: SRC.FIELD, reads };
  };

  // argN: the table carries the index in the operand's offset; str(argN) reads a user string.
  const userArg = (index: number, col: number, wantStr: boolean): Operand => {
    if (!target) throw semanticError(col, `arg${index} is a uprobe/usdt argument; tracepoints have fields`, "use args.FIELD (ebpfctl probes -v lists them)");
    if (target.kind === "uretprobe") throw semanticError(col, `arg${index} on a uretprobe: the arguments are gone at return`, `use retval, or probe the entry: uprobe:${target.binary}:${target.symbol}`);
    return { label: wantStr ? `str(arg${index})` : `arg${index}`, str: wantStr, src: SRC.ARG, reads: [{ read: wantStr ? READ.USER_STR : READ.INT, size: 8, signed: true, offset: index }] };
  };
  const operand = (e: Expr, ctx: string): Operand => {
    switch (e.kind) {
      case "builtin": {
        if (e.name === "retval" && target?.kind !== "uretprobe") throw semanticError(e.col, `retval is the return value of a uretprobe, not available on ${target?.kind ?? "a tracepoint"}`, target ? `probe the return: uretprobe:${target.binary}:${target.kind === "uprobe" ? target.symbol : "FUNC"}` : "on a syscall exit tracepoint use args.ret");
        const src = { comm: SRC.COMM, pid: SRC.PID, tid: SRC.TID, uid: SRC.UID, cgroup: SRC.CGROUP, probe: SRC.PROBE, retval: SRC.RETVAL, kstack: SRC.KSTACK, ustack: SRC.USTACK }[e.name];
        if (e.name === "kstack" || e.name === "ustack") {
          // Only a map key holds a stack (its id); anywhere else it has no value to compare or print.
          if (ctx !== "a map key") throw unsupported(e.col, `${e.name} in ${ctx}`, `stacks are map keys: @[${e.name}] = count()`);
          return { label: e.name, str: false, src, stack: e.name === "kstack" ? "kernel" : "user" };
        }
        return { label: e.name, str: e.name === "comm", src };
      }
      case "arg":
        if (target) throw semanticError(e.col, `args.${e.field}: ${target.kind} probes have no tracepoint fields`, "use arg0..arg5 (str(argN) for a string)");
        return field(e.field, e.col, false);
      case "argn":
        return userArg(e.index, e.col, false);
      case "str":
        if (e.arg.kind === "argn") return userArg(e.arg.index, e.arg.col, true);
        if (e.arg.kind === "arg") return target ? operand(e.arg, ctx) : field(e.arg.field, e.arg.col, true);
        if (e.arg.kind === "builtin" && e.arg.name === "comm") return operand(e.arg, ctx);
        throw semanticError(e.col, target ? "str() takes an argument (str(arg0)) or comm" : "str() takes a string field (str(args.filename)) or comm");
      default:
        throw semanticError(e.col, target ? `${ctx}: expected a builtin (comm pid tid uid cgroup probe${target.kind === "uretprobe" ? " retval" : ""}) or an argument (arg0..arg5, str(argN))` : `${ctx}: expected a builtin (comm pid tid uid cgroup probe) or a field (args.NAME, str(args.NAME))`);
    }
  };
  const intOperand = (e: Expr, ctx: string): Operand => {
    const o = operand(e, ctx);
    if (o.str) throw semanticError(e.col, `${ctx} takes an integer, not the string ${o.label}`);
    return o;
  };

  // Predicates: comparisons of an operand with a constant, combined with && || !.
  const predicates: Predicate[] = [];
  const leaf = (lhs: Operand, op: Predicate["op"], value: Expr, col: number): BoolOp => {
    if (lhs.src === SRC.PROBE) throw unsupported(col, "probe in a predicate", "name the tracepoints you want instead of filtering on probe");
    if (predicates.length >= GTP.MAX_PREDS) throw semanticError(col, `more than ${GTP.MAX_PREDS} comparisons in the predicate`);
    if (lhs.str) {
      if (value.kind !== "string") throw semanticError(col, `${lhs.label} compares with a "string"`);
      if (op !== "==" && op !== "!=") throw semanticError(col, `strings compare with == or !=, not ${op}`);
      if (new TextEncoder().encode(value.value).length >= GTP.STR_CAP) throw semanticError(value.col, `the string is longer than ${GTP.STR_CAP - 1} bytes`);
      predicates.push({ lhs, op, value: 0n, str: value.value });
    } else {
      if (value.kind !== "number") throw semanticError(col, `${lhs.label} compares with a number`);
      if (value.value > 0x7fffffffffffffffn || value.value < -0x8000000000000000n) throw semanticError(value.col, "the constant does not fit a signed 64-bit integer");
      predicates.push({ lhs, op, value: value.value });
    }
    return { kind: "pred", index: predicates.length - 1 };
  };
  const isConst = (e: Expr) => e.kind === "number" || e.kind === "string";
  const bool = (e: Expr): BoolOp => {
    if (e.kind === "not") return { kind: "not", arg: bool(e.arg) };
    if (e.kind === "binary" && (e.op === "&&" || e.op === "||")) return { kind: e.op === "&&" ? "and" : "or", left: bool(e.left), right: bool(e.right) };
    if (e.kind === "binary") {
      const cmp = e.op as Predicate["op"];
      if (isConst(e.right) && !isConst(e.left)) return leaf(operand(e.left, "a comparison"), cmp, e.right, e.col);
      if (isConst(e.left) && !isConst(e.right)) return leaf(operand(e.right, "a comparison"), FLIP[cmp], e.left, e.col);
      throw unsupported(e.col, "a comparison of two fields or two constants", "compare a field or builtin with a constant: args.ret > 0");
    }
    if (isConst(e)) throw unsupported(e.col, "a constant predicate", "compare a field or builtin with a constant");
    const o = operand(e, "a predicate");
    if (o.str) throw semanticError(e.col, `${o.label} alone is not a condition; compare it: ${o.label} == "..."`);
    return leaf(o, "!=", { kind: "number", value: 0n, col: e.col }, e.col);
  };
  const boolTree = prog.predicate ? bool(prog.predicate) : undefined;
  if (boolTree && postfixLength(boolTree) > GTP.MAX_OPS) throw semanticError(1, `the predicate needs ${postfixLength(boolTree)} steps; at most ${GTP.MAX_OPS}`);

  if (prog.statements.length > 1) throw unsupported(prog.statements[1]!.col, "a second statement", "one statement per one-liner: one map assignment or one printf");
  const st = prog.statements[0]!;
  let action: Analysed["action"];
  if (st.kind === "printf") {
    if (profile) throw unsupported(st.col, `printf in ${profile.text}`, "sampling one-liners aggregate in the kernel: @[kstack] = count(), @[comm] = count()");
    if (st.args.length > GTP.MAX_ARGS) throw semanticError(st.col, `printf with ${st.args.length} arguments; at most ${GTP.MAX_ARGS}`);
    const specs = formatSpecs(st.format, st.col);
    if (specs.length !== st.args.length) throw semanticError(st.col, `printf's format has ${specs.length} conversions for ${st.args.length} arguments`);
    const args = st.args.map((a, i) => {
      const o = operand(a, "printf");
      const wantStr = specs[i] === "s";
      // probe is stored as its cookie and printed as its name.
      if (wantStr !== (o.str || o.src === SRC.PROBE)) throw semanticError(a.col, `%${specs[i]} given ${o.label}${o.str ? " (a string: use %s)" : " (an integer: use %d)"}`);
      return o;
    });
    action = { kind: "printf", format: st.format, args };
  } else {
    if (st.keys.length > GTP.MAX_KEYS) throw semanticError(st.col, `${st.name} has ${st.keys.length} keys; at most ${GTP.MAX_KEYS}`);
    const keys = st.keys.map((k) => operand(k, "a map key"));
    const want = st.fn === "count" ? 0 : st.fn === "lhist" ? 4 : 1;
    if (st.args.length !== want) throw semanticError(st.col, `${st.fn}() takes ${want} argument${want === 1 ? "" : "s"}, got ${st.args.length}`);
    let value: Operand | undefined;
    let lhist: { min: bigint; max: bigint; step: bigint } | undefined;
    if (want > 0) value = intOperand(st.args[0]!, `${st.fn}()`);
    if (st.fn === "lhist") {
      const n = st.args.slice(1).map((a) => {
        if (a.kind !== "number") throw semanticError(a.col, "lhist(value, min, max, step): min, max and step are numbers");
        return a.value;
      });
      const [min, max, step] = n as [bigint, bigint, bigint];
      if (step <= 0n || max <= min) throw semanticError(st.col, "lhist needs min < max and step > 0");
      const buckets = (max - min + step - 1n) / step;
      if (buckets > BigInt(GTP.HIST_SLOTS - 2)) throw semanticError(st.col, `lhist with ${buckets} buckets; at most ${GTP.HIST_SLOTS - 2}`);
      lhist = { min, max, step };
    }
    action = { kind: "map", name: st.name, keys, fn: st.fn, ...(value ? { value } : {}), ...(lhist ? { lhist } : {}) };
  }
  if (action.kind === "map") {
    const kinds = action.keys.filter((k) => k.stack).map((k) => k.label);
    if (new Set(kinds).size < kinds.length) throw semanticError(st.col, `${action.name} has ${kinds[0]} twice as a key`);
  }
  return {
    tracepoints,
    ...(target ? { target } : {}),
    ...(profile ? { profile: { hz: profile.hz } } : {}),
    ...(prog.exitAfter ? { exitAfterSeconds: prog.exitAfter.seconds } : {}),
    predicates,
    ...(boolTree ? { bool: boolTree } : {}),
    action,
  };
}

export function postfixLength(b: BoolOp): number {
  return b.kind === "pred" ? 1 : b.kind === "not" ? 1 + postfixLength(b.arg) : 1 + postfixLength(b.left) + postfixLength(b.right);
}

/** The conversions of a printf format (d i u x s c), bpftrace's length modifiers accepted. */
export function formatSpecs(format: string, col: number): string[] {
  const out: string[] = [];
  const re = /%(%|[-0 +#]*\d*(?:\.\d+)?(?:hh|h|ll|l|z)?([a-zA-Z]))/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(format))) {
    if (m[1] === "%") continue;
    const c = m[2]!;
    if (!"diuxXsc".includes(c)) throw unsupported(col, `the printf conversion %${c}`, "printf supports %d %i %u %x %X %s %c");
    out.push(c === "s" ? "s" : "d");
  }
  if (/%$/.test(format.replace(/%%/g, ""))) throw semanticError(col, "printf format ends with a lone %");
  return out;
}
