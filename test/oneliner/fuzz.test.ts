// A fuzz of the one-liner compiler: 5,000 programs: a tenth made only of valid pieces (which must
// compile), two fifths generated from the grammar (valid and invalid mixes of its pieces), half
// random mutations of valid one-liners. Each either compiles
// or is refused with one EbpfctlError whose message is one line; nothing else is thrown, and
// no program takes long (no hang). Seeded: a failure names the seed and the program.
import { describe, expect, test } from "bun:test";
import { compileOneLiner } from "../../src/oneliner/compile";
import type { CompileEnv } from "../../src/oneliner/analyse";
import { EbpfctlError } from "../../src/errors";
import { Tracefs, type TracepointId } from "../../src/tracepoint/tracefs";
import type { TracepointFormat } from "../../src/tracepoint/format";
import { userProbeEnv } from "../../src/trace/oneliner";
import { existsSync } from "node:fs";
import { join } from "node:path";

// uprobe/usdt probes on the fixture (built by test/fixtures/build.sh) through the real checks.
const TARGET = join(import.meta.dir, "../../build/fixtures/uprobe_target");
const UP = `uprobe:${TARGET}:ebpfctl_up_target`;
const URET = `uretprobe:${TARGET}:ebpfctl_up_target`;
const USDT = `usdt:${TARGET}:ebpfctl_fixture:tick`;

const tracefs = (() => {
  try {
    return Tracefs.open();
  } catch {
    return undefined;
  }
})();

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VALID = [
  "tracepoint:syscalls:sys_enter_getppid { @[comm] = count(); }",
  'tracepoint:syscalls:sys_exit_read /comm == "bash" && args.ret > 0/ { @bytes = hist(args.ret); }',
  'tracepoint:syscalls:sys_enter_openat { printf("%s %d %s\\n", comm, pid, str(args.filename)); }',
  "tracepoint:sched:sched_process_exec { @[str(args.filename)] = count(); }",
  "tracepoint:sched:sched_* { @[probe] = count(); }",
  "tracepoint:raw_syscalls:sys_enter /!(uid != 0) || pid == 1/ { @s[tid, cgroup] = sum(args.id); }",
  "tracepoint:syscalls:sys_exit_read { @ = lhist(args.ret, 0, 100, 10); }",
  "tracepoint:syscalls:sys_exit_write /args.ret >= 0/ { @m = max(args.ret); }",
  `${UP} /arg0 > 1/ { @[str(arg1)] = sum(arg0); }`,
  `${URET} /comm == "uprobe_target"/ { @ = hist(retval); }`,
  `${USDT} { printf("%d %s\\n", arg0, str(arg1)); }`,
  "profile:hz:99 { @[kstack] = count(); }",
  "profile:hz:49 /pid == 1234/ { @[ustack, comm] = count(); } interval:s:5 { exit(); }",
  "tracepoint:sched:sched_switch { @[kstack] = count(); } interval:s:5 { exit(); }",
];

const PIECES = {
  probe: ["tracepoint:syscalls:sys_enter_getppid", "tracepoint:syscalls:sys_exit_read", "tracepoint:sched:sched_process_exec", "tracepoint:sched:sched_proc*", "t:raw_syscalls:sys_enter", "tracepoint:nope:nope", "kprobe:vfs_read", "uprobe:/bin/sh:main", UP, URET, USDT, `usdt:${TARGET}:tick`, `uprobe:${TARGET}:nope`, `usdt:${TARGET}:x:nope`, "uprobe:/no/such:f", "uprobe:rel:f", "ur:/a:b:c", "profile:hz:99", "profile:ms:10", "profile:hz:0", "p:hz:5000", "interval:s:1", "interval:ms:100", "hardware:cycles:100", "BEGIN", "tracepoint:a", "tracepoint:*:*", "tracepoint:sys$:x"],
  operand: ["comm", "pid", "tid", "uid", "cgroup", "probe", "args.ret", "args.filename", "str(args.filename)", "args->ret", "args.nope", "kstack", "ustack", "kstack(perf)", "retval", "arg0", "arg5", "arg6", "str(arg1)", "str(arg9)", "$x", "@y", "nsecs", "str(comm)", "str(pid)", "curtask"],
  cmp: ["==", "!=", "<", "<=", ">", ">=", "+", "=", "&", "?"],
  konst: ["0", "1", "-1", "0x10", "18446744073709551615", "99999999999999999999", '"bash"', '"a\\"b"', '""', '"' + "x".repeat(70) + '"'],
  fn: ["count()", "sum(args.ret)", "min(pid)", "max(args.ret)", "avg(tid)", "hist(args.ret)", "lhist(args.ret, 0, 100, 10)", "lhist(args.ret, 0, 10000, 1)", "stats(pid)", "count(pid)", "hist()", "sum(comm)", "str(comm)", "1"],
  junk: ["{", "}", "(", ")", "[", "]", "/", ";", ",", "!", "&&", "||", '"', "\\", "@", "$", "/*", "*/", "//", "\n", "\0", "é", "args."],
};

function pick<T>(r: () => number, a: readonly T[]): T {
  return a[Math.floor(r() * a.length)]!;
}

function generated(r: () => number): string {
  const probes = Array.from({ length: 1 + Math.floor(r() * 2) }, () => pick(r, PIECES.probe)).join(r() < 0.8 ? ", " : ",");
  const pred = (d: number): string => {
    const x = r();
    if (d > 3 || x < 0.5) return r() < 0.8 ? `${pick(r, PIECES.operand)} ${pick(r, PIECES.cmp)} ${pick(r, PIECES.konst)}` : pick(r, PIECES.operand);
    if (x < 0.65) return `!(${pred(d + 1)})`;
    return `${pred(d + 1)} ${r() < 0.5 ? "&&" : "||"} ${pred(d + 1)}`;
  };
  const predicate = r() < 0.5 ? ` /${pred(0)}/` : "";
  let stmt: string;
  if (r() < 0.3) {
    const n = Math.floor(r() * 5);
    const args = Array.from({ length: n }, () => pick(r, PIECES.operand));
    const fmt = args.map(() => pick(r, ["%d", "%s", "%u", "%x", "%f", "%-5s"])).join(" ");
    stmt = `printf("${fmt}\\n"${args.map((a) => `, ${a}`).join("")})`;
  } else {
    const keys = Array.from({ length: Math.floor(r() * 4) }, () => pick(r, PIECES.operand));
    stmt = `@${r() < 0.5 ? "" : "m"}${keys.length ? `[${keys.join(", ")}]` : ""} = ${pick(r, PIECES.fn)}`;
  }
  let prog = `${probes}${predicate} { ${stmt}; }`;
  if (r() < 0.2) prog += ` ${pick(r, ["interval:s:1 { exit(); }", "interval:s:2 { exit() }", "interval:s:1 { print(@); }", "interval:ms:5 { exit(); }", "i:s:3 { exit(); } interval:s:1 { exit(); }"])}`;
  if (r() < 0.2) prog += ` ${pick(r, PIECES.junk)}`;
  return prog;
}

/** Programs made only of valid pieces: they must compile. */
function validGenerated(r: () => number): string {
  if (r() < 0.25) {
    // Sampling: builtins and stack keys only (no fields), maps only, an optional interval exit.
    const leaf = () => `${pick(r, ["pid", "tid", "uid", "cgroup"])} ${pick(r, ["==", "!=", "<", ">="])} ${pick(r, ["0", "1", "4096"])}`;
    const keys = Array.from({ length: Math.floor(r() * 3) }, () => pick(r, ["comm", "pid", "tid", "uid", "cgroup", "probe", "kstack", "ustack"]));
    if (keys.length === 2 && keys[0] === keys[1] && keys[0]!.endsWith("stack")) keys.pop();
    const pred = r() < 0.5 ? ` /${leaf()}${r() < 0.5 ? ` && ${leaf()}` : ""}/` : "";
    const exit = r() < 0.4 ? ` interval:s:${1 + Math.floor(r() * 9)} { exit(); }` : "";
    return `profile:hz:${1 + Math.floor(r() * 999)}${pred} { @${keys.length ? `[${keys.join(", ")}]` : ""} = ${pick(r, ["count()", "sum(pid)", "max(tid)", "hist(pid)"])}; }${exit}`;
  }
  const probe = pick(r, ["tracepoint:syscalls:sys_exit_read", "tracepoint:syscalls:sys_exit_write", "tracepoint:syscalls:sys_exit_getppid", ...(existsSync(TARGET) ? [UP, URET, USDT] : [])]);
  // The integer each provider offers besides the builtins: a field, an argument, the return value.
  const value = probe === UP || probe === USDT ? pick(r, ["arg0", "arg1", "arg5"]) : probe === URET ? "retval" : pick(r, ["args.ret", "args->ret"]);
  const leaf = () => (r() < 0.3 ? `comm ${pick(r, ["==", "!="])} "x${Math.floor(r() * 9)}"` : `${pick(r, ["pid", "tid", "uid", "cgroup", value])} ${pick(r, ["==", "!=", "<", "<=", ">", ">="])} ${pick(r, ["0", "1", "-5", "0x20", "4096"])}`);
  const n = Math.floor(r() * 5);
  let pred = n ? leaf() : "";
  for (let i = 1; i < n; i++) pred = r() < 0.3 ? `!(${pred}) ${pick(r, ["&&", "||"])} ${leaf()}` : `${pred} ${pick(r, ["&&", "||"])} ${leaf()}`;
  const keys = Array.from({ length: Math.floor(r() * 3) }, () => pick(r, ["comm", "pid", "tid", "uid", "cgroup", "probe", value, ...(probe === UP || probe === USDT ? ["str(arg1)"] : []), ...(probe.startsWith("tracepoint:") ? ["kstack"] : [])]));
  if (keys.length === 2 && keys[0] === "kstack" && keys[1] === "kstack") keys.pop();
  const stmt = r() < 0.2 ? `printf("%s %d\\n", comm, ${value})` : `@${keys.length ? `[${keys.join(", ")}]` : ""} = ${pick(r, ["count()", `sum(${value})`, `min(${value})`, "max(pid)", `avg(${value})`, `hist(${value})`, `lhist(${value}, 0, 640, 10)`])}`;
  return `${probe}${pred ? ` /${pred}/` : ""} { ${stmt}; }`;
}

function mutated(r: () => number): string {
  let s = pick(r, VALID);
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * (s.length + 1));
    const op = r();
    if (op < 0.33) s = s.slice(0, at) + pick(r, PIECES.junk) + s.slice(at);
    else if (op < 0.66) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 5));
    else {
      const j = Math.floor(r() * s.length);
      s = s.slice(0, at) + s.slice(j, j + 1 + Math.floor(r() * 8)) + s.slice(at);
    }
  }
  return s;
}

describe("one-liner compiler fuzz", () => {
  test.skipIf(!tracefs)("5,000 programs: each compiles or gives one EbpfctlError line; no crash, no hang", () => {
    // Real tracefs data, cached: the fuzz exercises the compiler, not the filesystem.
    const lists = new Map<string, TracepointId[]>();
    const formats = new Map<string, TracepointFormat>();
    const env: CompileEnv = {
      user: userProbeEnv,
      list: (p) => lists.get(p) ?? lists.set(p, tracefs!.list(p)).get(p)!,
      format: (tp) => {
        const k = `${tp.category}:${tp.event}`;
        return formats.get(k) ?? formats.set(k, tracefs!.format(tp)).get(k)!;
      },
    };
    const seed = Number(process.env.FUZZ_SEED ?? 19);
    const r = rng(seed);
    let compiled = 0;
    let refused = 0;
    let slowest = 0;
    for (let i = 0; i < 5000; i++) {
      const prog = i % 2 ? mutated(r) : i % 10 === 0 ? validGenerated(r) : generated(r);
      const t0 = performance.now();
      try {
        compileOneLiner(prog, env);
        compiled++;
      } catch (e) {
        if (i % 10 === 0) throw new Error(`seed ${seed} program ${i} ${JSON.stringify(prog)} is valid but was refused: ${(e as Error).message}`);
        if (!(e instanceof EbpfctlError)) throw new Error(`seed ${seed} program ${i} ${JSON.stringify(prog)}: ${(e as Error)?.stack ?? e}`);
        if (e.message.includes("\n") || !e.message.length) throw new Error(`seed ${seed} program ${i} ${JSON.stringify(prog)}: a multi-line message ${JSON.stringify(e.message)}`);
        expect(e.exitCode === 2 || e.exitCode === 10).toBe(true);
        refused++;
      }
      slowest = Math.max(slowest, performance.now() - t0);
    }
    expect(compiled + refused).toBe(5000);
    // Both outcomes are exercised, and no single program is slow (a hang would be seconds).
    expect(compiled).toBeGreaterThan(100);
    expect(refused).toBeGreaterThan(1000);
    expect(slowest).toBeLessThan(3000);
    console.log(`fuzz seed ${seed}: ${compiled} compiled, ${refused} refused, slowest ${slowest.toFixed(1)} ms`);
  }, 120_000);
});
