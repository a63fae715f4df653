// The portability analyser: bpftrace constructs outside ebpfctl's subset, each with the nearest
// supported form, so a user coming from bpftrace learns what to write instead.
import { syntaxError, unsupported } from "./errors";

const PROVIDERS: Record<string, string> = {
  kprobe: "kprobes are not offered (they are refused under lockdown here and unsigned code would reach arbitrary kernel functions); use a tracepoint: ebpfctl probes lists them",
  kretprobe: "kretprobes are not offered; use the matching tracepoint (e.g. tracepoint:syscalls:sys_exit_*)",
  kfunc: "kfunc/fentry is not offered; use a tracepoint",
  kretfunc: "kretfunc/fexit is not offered; use a tracepoint",
  fentry: "fentry is not offered; use a tracepoint",
  fexit: "fexit is not offered; use a tracepoint",
  rawtracepoint: "raw tracepoints are not offered to one-liners; use tracepoint:CATEGORY:EVENT",
  software: "software: probes are not offered; for on-CPU sampling use profile:hz:99 (a cpu-clock event per CPU); otherwise a tracepoint",
  hardware: "hardware: probes are not offered; sample on-CPU time with profile:hz:99 (a cpu-clock event per CPU)",
  watchpoint: "watchpoints are not offered",
  BEGIN: "BEGIN is not supported; the header is printed by ebpfctl",
  END: "END is not supported; the maps are printed at the end (and with -i at each interval)",
  iter: "iter: probes are not offered",
};

const CONSTRUCTS: Record<string, string> = {
  if: "if/else is not supported; move the condition into the predicate: probe /cond/ { ... }",
  else: "if/else is not supported; use a predicate /cond/",
  while: "loops are not supported",
  unroll: "unroll is not supported",
  for: "loops are not supported",
  return: "return is not supported",
  delete: "delete() is not supported; maps are cleared at each -i interval",
  clear: "clear() is not supported; use -i to print and reset the maps at each interval",
  zero: "zero() is not supported; use -i",
  print: "print() is not supported; maps are printed at the end and with -i at each interval",
  exit: "exit() is supported only as interval:s:N { exit(); } (or use -d SECONDS)",
  stats: "stats() is not supported; use count(), sum() or avg()",
  time: "time() is not supported; ebpfctl timestamps its own output",
  join: "join() is not supported; use str() of one field",
  ntop: "ntop() is not supported; print the integer with %d",
  ksym: "ksym() is not supported",
  usym: "usym() is not supported",
  kaddr: "kaddr() is not supported",
  uaddr: "uaddr() is not supported",
  system: "system() is never offered (it runs commands from the kernel's events)",
  cat: "cat() is not supported",
  signal: "signal() is never offered (one-liners observe, they do not act)",
  override: "override() is never offered (one-liners observe, they do not act)",
  buf: "buf() is not supported; use str() for strings",
  sizeof: "sizeof() is not supported",
  offsetof: "offsetof() is not supported",
  printf_: "",
  nsecs: "nsecs is not supported; ebpfctl timestamps its own output",
  elapsed: "elapsed is not supported",
  cpu: "cpu is not supported as a key; use comm, pid, tid, uid, cgroup, probe, kstack or ustack",
  gid: "gid is not supported; use uid",
  username: "username is not supported; use uid",
  curtask: "curtask is not supported (no arbitrary kernel pointers); use tracepoint fields args.*",
  rand: "rand is not supported",
  ctx: "ctx is not supported; use args.FIELD",
  func: "func is not supported; use probe",
  cgroup_path: "cgroup_path() is not supported; key by cgroup (the id)",
  strftime: "strftime() is not supported",
  macaddr: "macaddr() is not supported",
  reg: "reg() is not supported; use args.FIELD",
  kptr: "kptr() is not supported",
  uptr: "uptr() is not supported",
  path: "path() is not supported; use str(args.FIELD)",
  percpu_kaddr: "not supported",
  skboutput: "not supported",
  strncmp: "strncmp() is not supported; compare with == \"literal\"",
  strcontains: "strcontains() is not supported; compare with == \"literal\"",
  pid_ns: "not supported; use pid",
};

const MAX_HZ = 1000;

/** profile:hz:N (1..1000, as the profile recipe); bpftrace's other units get the nearest hz form. */
export function profileProbe(parts: string[], text: string, col: number): { provider: "profile"; hz: number; text: string; col: number } {
  const [, unit, rate, extra] = parts;
  const n = Number(rate);
  const whole = rate !== undefined && /^\d+$/.test(rate) && n > 0;
  if (extra !== undefined || unit === undefined || rate === undefined) throw syntaxError(col, `"${text}": expected profile:hz:N`, "e.g. profile:hz:99");
  if (unit !== "hz") {
    const perSecond = ({ s: 1, ms: 1e3, us: 1e6 } as Record<string, number>)[unit];
    if (perSecond === undefined || !whole) throw syntaxError(col, `"${text}": expected profile:hz:N`, "e.g. profile:hz:99");
    const hz = Math.max(1, Math.min(MAX_HZ, Math.round(perSecond / n)));
    throw unsupported(col, `the probe "${text}"`, `write it as a frequency: profile:hz:${hz}`);
  }
  if (!whole) throw syntaxError(col, `"${text}": the frequency is a whole number of Hz`, "e.g. profile:hz:99");
  if (n > MAX_HZ) throw unsupported(col, `profile:hz:${rate} (over ${MAX_HZ} Hz)`, `at most profile:hz:${MAX_HZ}; 99 is the usual choice`);
  return { provider: "profile", hz: n, text: `profile:hz:${n}`, col };
}

/** interval:s:N, the only interval form (its block may only exit()). */
export function intervalProbe(parts: string[], text: string, col: number): { seconds: number; text: string; col: number } {
  const [, unit, rate, extra] = parts;
  const n = Number(rate);
  const whole = rate !== undefined && /^\d+$/.test(rate) && n > 0;
  if (extra !== undefined || unit === undefined || rate === undefined) throw syntaxError(col, `"${text}": expected interval:s:N`, "e.g. interval:s:5 { exit(); }");
  if (unit !== "s") {
    const perSecond = ({ ms: 1e3, us: 1e6 } as Record<string, number>)[unit];
    if (perSecond === undefined || !whole) throw unsupported(col, `the probe "${text}"`, "interval probes are interval:s:N (whole seconds)");
    throw unsupported(col, `the probe "${text}"`, `interval probes count whole seconds: interval:s:${Math.max(1, Math.round(n / perSecond))}`);
  }
  if (!whole) throw syntaxError(col, `"${text}": the interval is a whole number of seconds`, "e.g. interval:s:5");
  return { seconds: n, text: `interval:s:${n}`, col };
}

/** Throws the portability error for a probe provider outside the subset, if it is one. */
export function checkProvider(provider: string, col: number): void {
  if (Object.hasOwn(PROVIDERS, provider)) throw unsupported(col, `the bpftrace probe type "${provider}"`, PROVIDERS[provider]!);
  if (/^arg\d+$/.test(provider)) return;
}

/** Throws the portability error for a name outside the subset, if bpftrace knows it. */
export function checkConstruct(name: string, col: number): void {
  if (name !== "printf_" && Object.hasOwn(CONSTRUCTS, name)) throw unsupported(col, `the bpftrace construct "${name}"`, CONSTRUCTS[name]!);
}

/** Hints for operators bpftrace has and the subset lacks. */
export function unsupportedOperator(op: string, col: number): never {
  const arithmetic = ["+", "-", "*", "%", "&", "|", "^", "~", "<<", ">>", "++", "--", "+=", "-="];
  if (arithmetic.includes(op)) throw unsupported(col, `the operator "${op}"`, "arithmetic is not supported; predicates compare a field or builtin with a constant (args.ret > 0)");
  if (op === "?" || op === ":") throw unsupported(col, "the ternary operator ?:", "use a predicate /cond/");
  if (op === "->") throw unsupported(col, "the operator ->", "use args.FIELD (args->FIELD is bpftrace's old spelling)");
  throw unsupported(col, `the operator "${op}"`, "README \"One-liners\" lists the operators: == != < <= > >= && || !");
}
