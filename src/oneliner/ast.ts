// The one-liner's syntax tree. Every node keeps its column for error messages.

export type Expr =
  | { kind: "number"; value: bigint; col: number }
  | { kind: "string"; value: string; col: number }
  | { kind: "builtin"; name: Builtin; col: number }
  | { kind: "arg"; field: string; col: number }
  /** arg0..arg5: a uprobe's or USDT probe's argument */
  | { kind: "argn"; index: number; col: number }
  | { kind: "str"; arg: Expr; col: number }
  | { kind: "neg"; arg: Expr; col: number }
  | { kind: "not"; arg: Expr; col: number }
  | { kind: "binary"; op: CmpOp | "&&" | "||"; left: Expr; right: Expr; col: number };

export type CmpOp = "==" | "!=" | "<" | "<=" | ">" | ">=";
export type Builtin = "comm" | "pid" | "tid" | "uid" | "cgroup" | "probe" | "retval" | "kstack" | "ustack";
export const BUILTINS: readonly Builtin[] = ["comm", "pid", "tid", "uid", "cgroup", "probe", "retval", "kstack", "ustack"];
/** arg0..arg5 (the calling convention's integer registers; USDT: the note's first six). */
export const MAX_UARGS = 6;

export type AggFn = "count" | "sum" | "min" | "max" | "avg" | "hist" | "lhist";
export const AGG_FNS: readonly AggFn[] = ["count", "sum", "min", "max", "avg", "hist", "lhist"];

export type Statement =
  | { kind: "map"; name: string; keys: Expr[]; fn: AggFn; args: Expr[]; col: number }
  | { kind: "printf"; format: string; args: Expr[]; col: number };

export type ProbeSpec =
  | {
      provider: "tracepoint";
      /** category and event patterns, * allowed */
      category: string;
      event: string;
      text: string;
      col: number;
    }
  | { provider: "uprobe" | "uretprobe"; binary: string; symbol: string; text: string; col: number }
  /** usdt:PATH:PROVIDER:NAME, or usdt:PATH:NAME (the provider found in the binary's notes) */
  | { provider: "usdt"; binary: string; usdtProvider?: string; name: string; text: string; col: number }
  /** profile:hz:N: on-CPU sampling at N Hz on every online CPU */
  | { provider: "profile"; hz: number; text: string; col: number };

export interface Program {
  probes: ProbeSpec[];
  predicate?: Expr;
  statements: Statement[];
  /** interval:s:N { exit(); }: the session ends N seconds after attach (as -d N) */
  exitAfter?: { seconds: number; text: string; col: number };
}
