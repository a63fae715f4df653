// The one-liner compiler without a kernel session: parser, analysers, portability errors,
// codegen tables, and the table layout held to the generic program's own BTF. Tracepoint
// metadata is this machine's real tracefs (read-only files; no privilege needed to parse them).
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "../../src/oneliner/parser";
import { compileOneLiner, oneLoadPerTracepoint, perAttachmentRodata, rodataOf, stackEntries, stackMapMemory, worstCaseCost } from "../../src/oneliner/compile";
import { postfix } from "../../src/oneliner/codegen";
import { formatSpecs, type CompileEnv } from "../../src/oneliner/analyse";
import { GTP, OPERAND, PRED, PROBE, VALUE, KEY_SIZE, EVENT_SIZE } from "../../src/oneliner/layout";
import { Tracefs } from "../../src/tracepoint/tracefs";
import { formatPrintf } from "../../src/output/oneliner-maps";
import { BpfObject } from "../../src/libbpf";
import { userProbeEnv } from "../../src/trace/oneliner";
import { SRC, READ } from "../../src/oneliner/layout";

const tracefs = (() => {
  try {
    return Tracefs.open();
  } catch {
    return undefined;
  }
})();
const env = (policy?: CompileEnv["policy"]): CompileEnv => ({ list: (p) => tracefs!.list(p), format: (tp) => tracefs!.format(tp), ...(policy ? { policy } : {}) });
const withTracefs = test.skipIf(!tracefs);

describe("parser", () => {
  test("probes, predicate, map statement", () => {
    const p = parse('tracepoint:syscalls:sys_exit_read, t:sched:sched_* /pid == 1234 && !(comm != "x") || uid < 5/ { @bytes[comm, pid] = hist(args.ret); }');
    expect(p.probes.map((x) => x.text)).toEqual(["tracepoint:syscalls:sys_exit_read", "tracepoint:sched:sched_*"]);
    expect(p.predicate?.kind).toBe("binary");
    expect(p.statements[0]).toMatchObject({ kind: "map", name: "@bytes", fn: "hist" });
  });
  test("args->field is bpftrace's other spelling of args.field", () => {
    expect(parse("tracepoint:a:b { @ = sum(args->ret) }").statements[0]).toMatchObject({ args: [{ kind: "arg", field: "ret" }] });
  });
  test("printf with escapes and str()", () => {
    const p = parse('tracepoint:a:b { printf("%s\\t%d\\n", str(args.filename), pid); }');
    expect(p.statements[0]).toMatchObject({ kind: "printf", format: "%s\t%d\n" });
  });
  test.each([
    ["kprobe:do_sys_open { @ = count(); }", /"kprobe" is not supported/, /use a tracepoint/],
    ["kr:vfs_read { @ = count(); }", /"kretprobe" is not supported/, /tracepoint/],
    ["profile:ms:10 { @[kstack] = count(); }", /"profile:ms:10" is not supported/, /profile:hz:100/],
    ["profile:s:1 { @ = count(); }", /"profile:s:1"/, /profile:hz:1\b/],
    ["profile:hz:5000 { @ = count(); }", /over 1000 Hz/, /profile:hz:1000/],
    ["hardware:cycles:1000000 { @ = count(); }", /"hardware" is not supported/, /profile:hz:99/],
    ["software:cpu-clock:1000000 { @ = count(); }", /"software" is not supported/, /profile:hz:99/],
    ["profile:hz:99, tracepoint:a:b { @ = count(); }", /with other probes/, /its own one-liner/],
    ["profile:hz:99 { @ = count(); } interval:ms:500 { exit(); }", /"interval:ms:500"/, /interval:s:1\b/],
    ["profile:hz:99 { @ = count(); } interval:s:1 { print(@); }", /anything but exit\(\)/, /-i\/--interval/],
    ["profile:hz:99 { @ = count(); } interval:s:1 { clear(@); exit(); }", /anything but exit\(\)/, /-i\/--interval/],
    ["profile:hz:99 { @ = count(); } interval:s:1 /pid == 1/ { exit(); }", /anything but exit\(\)/, /-i\/--interval/],
    ["profile:hz:99 { @ = count(); } interval:s:1 { exit(); } interval:s:2 { exit(); }", /a second interval probe/, /one interval/],
    ["profile:hz:99, interval:s:1 { @ = count(); }", /interval:s:1 in a list of probes/, /its own block/],
    ["profile:hz:99 { @[kstack(perf)] = count(); }", /kstack\(\) with arguments/, /write kstack/],
    ["profile:hz:99 /kstack == 1/ { @ = count(); }", /kstack in a comparison/, /map keys/],
    ["profile:hz:99 { @ = sum(ustack); }", /ustack in sum\(\)/, /map keys/],
    ["profile:hz:99 { printf(\"%d\\n\", pid); }", /printf in profile:hz:99/, /aggregate in the kernel/],
    ["BEGIN { printf(\"hi\"); }", /"BEGIN" is not supported/, /header/],
    ["tracepoint:a:b { $x = 1; }", /scratch variable \$x/, /variables/],
    ["tracepoint:a:b { if (pid > 1) { @ = count(); } }", /"if" is not supported/, /predicate/],
    ["tracepoint:a:b { @ = stats(args.ret); }", /"stats" is not supported/, /count\(\), sum\(\) or avg\(\)/],
    ["tracepoint:a:b { @[comm] = count(); } tracepoint:c:d { @ = count(); }", /a second probe block/, /several probes before one block/],
    ["tracepoint:a:b /args.ret + 1 > 0/ { @ = count(); }", /the operator "\+"/, /arithmetic/],
    ["tracepoint:a:b { @++; }", /"@\+\+"/, /count\(\)/],
    ["tracepoint:a:b { @ = count(); } tracepoint:c:d { @ = count(); }", /a second probe block/, /several probes before one block/],
    ["tracepoint:a:b { @ = count(); exit(); }", /"exit" is not supported/, /interval:s:N \{ exit\(\); \}.*-d SECONDS/],
    ["tracepoint:a:b { system(\"rm -rf /\"); }", /"system" is not supported/, /never offered/],
  ])("%s → names the construct and the nearest form", (src, msg, hint) => {
    try {
      compileOneLiner(src, env());
      throw new Error("compiled");
    } catch (e) {
      const err = e as { code: string; message: string; hint: string };
      expect(err.code).toMatch(/^EBPFCTL-E111[01]$/);
      expect(err.message).toMatch(msg);
      expect(err.hint).toMatch(hint);
    }
  });
  test.each([
    ["tracepoint:a:b { @ = count()", /expected ";" or "}", got the end/],
    ["tracepoint:a:b", /expected "\{"/],
    ["tracepoint:a { @ = count(); }", /expected tracepoint:CATEGORY:EVENT/],
    ["tracepoint:a:b { printf(\"x); }", /unterminated string/],
    ["tracepoint:a:b { }", /the block is empty/],
    ["interval:s:1 { exit(); }", /an interval probe alone traces nothing/],
    ["profile:hz:0 { @ = count(); }", /whole number of Hz/],
    ["profile:hz { @ = count(); }", /expected profile:hz:N/],
    ['tracepoint:a:b /comm == "a\\q"/ { @ = count(); }', /unknown escape/],
  ])("%s → a syntax error with its column", (src, msg) => {
    expect(() => parse(src)).toThrow(msg);
  });
  test("profile:hz:N with a predicate, stack keys, and interval:s:N { exit(); } before or after", () => {
    const p = parse("profile:hz:49 /pid == 1234/ { @[ustack, comm] = count(); } interval:s:5 { exit(); }");
    expect(p.probes).toEqual([{ provider: "profile", hz: 49, text: "profile:hz:49", col: 1 }]);
    expect(p.exitAfter).toMatchObject({ seconds: 5, text: "interval:s:5" });
    expect(p.statements[0]).toMatchObject({ keys: [{ kind: "builtin", name: "ustack" }, { kind: "builtin", name: "comm" }] });
    expect(parse("i:s:2 { exit() } tracepoint:a:b { @[kstack] = count() }").exitAfter?.seconds).toBe(2);
    expect(parse("tracepoint:a:b { @ = count(); }").exitAfter).toBeUndefined();
  });
  test("nesting is bounded", () => {
    expect(() => parse(`tracepoint:a:b /${"(".repeat(100)}pid${")".repeat(100)}/ { @ = count(); }`)).toThrow(/nested deeper than 32/);
    expect(() => parse(`tracepoint:a:b /${"!".repeat(100)}pid/ { @ = count(); }`)).toThrow(/nested deeper than 32/);
  });
});

describe("analysers and codegen (this kernel's tracefs)", () => {
  withTracefs("one load for several tracepoints when the compiler wrote their entries the same, else one each; the cookie only where one load tells them apart", () => {
    const sel = (text: string) => compileOneLiner(text, env()).selection;
    const two = "tracepoint:sched:sched_process_exec,tracepoint:sched:sched_process_exit";
    // one tracepoint: one load, no cookie
    expect(sel("tracepoint:sched:sched_process_exec { @[comm] = count(); }")).toEqual({ perAttachment: false, cookieProbe: false });
    // builtins only: the same entry twice
    expect(sel(`${two} /pid != 1/ { @[comm, uid] = count(); }`)).toEqual({ perAttachment: false, cookieProbe: false });
    // pid is at offset 12 in sched_process_exec and 24 in sched_process_exit: a load each, each knowing its probe id
    expect(sel(`${two} { @ = hist(args.pid); }`)).toEqual({ perAttachment: true, cookieProbe: false });
    expect(sel(`${two} { @[probe] = hist(args.pid); }`)).toEqual({ perAttachment: true, cookieProbe: false });
    // the same entry, but the probe builtin needs the cookie's value
    expect(sel(`${two} { @[probe] = count(); }`)).toEqual({ perAttachment: false, cookieProbe: true });
    // an event names its tracepoint
    expect(sel(`${two} { printf("%s\\n", comm); }`)).toEqual({ perAttachment: false, cookieProbe: true });
    const one = rodataOf(compileOneLiner(`${two} { @[comm] = count(); }`, env()));
    expect([...one.gtp_cookie_probe!]).toEqual([0]);
    expect(one.gtp_probe_id).toBeUndefined();
    // one load each: tracepoint i's entry as entry 0, its probe id as a constant, no cookie
    const c = compileOneLiner(`${two} { @[probe] = hist(args.pid); }`, env());
    const loads = perAttachmentRodata(c);
    expect(loads.length).toBe(2);
    loads.forEach((l, i) => {
      expect(Buffer.compare(l.gtp_cfg!.subarray(0, PROBE.size), c.table.subarray(i * PROBE.size, (i + 1) * PROBE.size))).toBe(0);
      expect(l.gtp_cfg!.subarray(PROBE.size).every((b) => b === 0)).toBe(true);
      expect(new DataView(l.gtp_probe_id!.buffer).getUint32(0, true)).toBe(i);
      expect([...l.gtp_cookie_probe!]).toEqual([0]);
    });
    expect(rodataOf(c)).toEqual(loads[0]!);
    expect(oneLoadPerTracepoint(compileOneLiner(`${two} { @[probe] = count(); }`, env()), true)).toBe(false);
    expect(oneLoadPerTracepoint(compileOneLiner(`${two} { @[probe] = count(); }`, env()), false)).toBe(true);
  });
  withTracefs("a field read at its tracefs offset, size and signedness; one table entry per tracepoint", () => {
    const c = compileOneLiner("tracepoint:syscalls:sys_exit_read /args.ret > 0/ { @ = hist(args.ret); }", env());
    expect(c.recipe).toBe("generic-tracepoint");
    expect(c.tracepoints).toEqual([{ category: "syscalls", event: "sys_exit_read", cookie: 0 }]);
    const dv = new DataView(c.table.buffer);
    expect(dv.getUint32(PROBE.enabled, true)).toBe(1);
    expect(dv.getUint32(PROBE.action, true)).toBe(5);
    expect(dv.getUint8(PROBE.value + OPERAND.src)).toBe(1);
    expect(dv.getUint16(PROBE.value + OPERAND.offset, true)).toBe(16);
    expect(dv.getUint8(PROBE.value + OPERAND.fsize)).toBe(8);
    expect(dv.getUint8(PROBE.value + OPERAND.is_signed)).toBe(1);
    expect(dv.getUint32(PROBE.preds + PRED.op, true)).toBe(4); // >
    expect(dv.getUint32(PROBE.size + PROBE.enabled, true)).toBe(0); // the next entry is off
  });
  withTracefs("wildcards expand; the same field at different offsets per tracepoint is read at each one's offset", () => {
    const c = compileOneLiner('tracepoint:sched:sched_process_ex* { printf("%d\\n", args.pid); }', env());
    expect(c.recipe).toBe("generic-tracepoint-events");
    const names = tracefs!.list("sched:sched_process_ex*");
    expect(c.tracepoints.map((t) => t.event)).toEqual(names.map((t) => t.event));
    expect(names.length).toBeGreaterThanOrEqual(2);
    const reads = c.analysed.action.kind === "printf" ? c.analysed.action.args[0]!.reads! : [];
    names.forEach((tp, i) => expect(reads[i]!.offset).toBe(tracefs!.format(tp).fields.find((f) => f.name === "pid")!.offset));
    expect(new Set(reads.map((r) => r.offset)).size).toBeGreaterThan(1);
  });
  withTracefs("a constant on the left is flipped; a bare operand means != 0; && || ! become postfix", () => {
    const c = compileOneLiner("tracepoint:syscalls:sys_exit_read /5 < args.ret && !pid || uid/ { @ = count(); }", env());
    expect(c.analysed.predicates.map((p) => `${p.lhs.label} ${p.op} ${p.value}`)).toEqual(["args.ret > 5", "pid != 0", "uid != 0"]);
    expect(postfix(c.analysed.bool)).toEqual([1, 2, 0x12, 0x10, 3, 0x11]);
  });
  withTracefs("str() of a __data_loc field and of a syscall's user pointer", () => {
    const a = compileOneLiner("tracepoint:sched:sched_process_exec { @[str(args.filename)] = count(); }", env());
    expect(a.analysed.action.kind === "map" && a.analysed.action.keys[0]!.reads![0]!.read).toBe(1);
    const b = compileOneLiner('tracepoint:syscalls:sys_enter_openat { printf("%s\\n", str(args.filename)); }', env());
    expect(b.analysed.action.kind === "printf" && b.analysed.action.args[0]!.reads![0]!.read).toBe(3);
  });
  withTracefs.each([
    ["tracepoint:syscalls:sys_exit_read { @ = hist(args.nope); }", /has no field args.nope/],
    ["tracepoint:syscalls:sys_exit_read { @ = hist(comm); }", /takes an integer, not the string comm/],
    ["tracepoint:syscalls:sys_exit_read /comm > \"a\"/ { @ = count(); }", /strings compare with == or !=/],
    ["tracepoint:syscalls:sys_exit_read /comm == 3/ { @ = count(); }", /compares with a "string"/],
    ["tracepoint:syscalls:sys_exit_read /pid == \"x\"/ { @ = count(); }", /compares with a number/],
    ["tracepoint:syscalls:sys_exit_read /pid == uid/ { @ = count(); }", /two fields or two constants/],
    ["tracepoint:syscalls:sys_exit_read /pid==1 && pid==2 && pid==3 && pid==4 && pid==5/ { @ = count(); }", /more than 4 comparisons/],
    ["tracepoint:syscalls:sys_exit_read { @[comm, pid, tid] = count(); }", /3 keys; at most 2/],
    ["tracepoint:syscalls:sys_exit_read { @ = lhist(args.ret, 0, 1000, 1); }", /1000 buckets; at most 64/],
    ["tracepoint:syscalls:sys_exit_read { @ = lhist(args.ret, 10, 0, 1); }", /min < max/],
    ['tracepoint:syscalls:sys_exit_read { printf("%d %d\\n", pid); }', /2 conversions for 1 arguments/],
    ['tracepoint:syscalls:sys_exit_read { printf("%s\\n", pid); }', /an integer: use %d/],
    ['tracepoint:syscalls:sys_exit_read { printf("%f\\n", pid); }', /conversion %f/],
    ["tracepoint:syscalls:sys_exit_read { @ = sum(); }", /takes 1 argument, got 0/],
    ["tracepoint:syscalls:sys_exit_read { @ = count(); @x = count(); }", /a second statement/],
    ["tracepoint:nosuch:* { @ = count(); }", /no tracepoint matches/],
    ["tracepoint:syscalls:* { @ = count(); }", /at most 16/],
    ["tracepoint:sched:sched_process_exec { @ = str(args.filename); }", /assigning "str" to a map/],
    ["tracepoint:syscalls:sys_exit_read { @[arg0] = count(); }", /arg0 is a uprobe\/usdt argument; tracepoints have fields/],
    ["tracepoint:syscalls:sys_exit_read { @[retval] = count(); }", /retval is the return value of a uretprobe, not available on a tracepoint/],
  ])("%s is refused", (src, msg) => {
    expect(() => compileOneLiner(src, env())).toThrow(msg);
  });
  test("profile:hz:N: the generic-profile recipe, one table entry at index 0, stack keys as sources 10 and 11", () => {
    const c = compileOneLiner("profile:hz:99 /pid == 42/ { @[kstack, ustack] = count(); } interval:s:3 { exit(); }", env());
    expect(c.recipe).toBe("generic-profile");
    expect(c.profileHz).toBe(99);
    expect(c.exitAfterMs).toBe(3000);
    expect(c.tracepoints).toEqual([]);
    const dv = new DataView(c.table.buffer);
    expect(dv.getUint32(PROBE.enabled, true)).toBe(1);
    expect(dv.getUint32(PROBE.nkeys, true)).toBe(2);
    expect(dv.getUint8(PROBE.keys + OPERAND.src)).toBe(10);
    expect(dv.getUint8(PROBE.keys + OPERAND.size + OPERAND.src)).toBe(11);
    expect(dv.getUint8(PROBE.preds + PRED.lhs + OPERAND.src)).toBe(2); // pid
    expect(c.table.length).toBe(PROBE.size); // generic_pe's table is its one entry
    expect(c.tables).toMatchObject({ exit_after_s: 3, probes: [{ index: 0, probe: "profile:hz:99" }] });
    expect(() => compileOneLiner("profile:hz:99 { @[args.ret] = count(); }", env())).toThrow(/profile:hz:99 has no fields/);
    expect(() => compileOneLiner("profile:hz:99 { @[kstack, kstack] = count(); }", env())).toThrow(/kstack twice/);
  });
  test("the stack map is sized by the stack keys and counted in the worst-case cost", () => {
    const none = compileOneLiner("profile:hz:99 { @[comm] = count(); }", env());
    const one = compileOneLiner("profile:hz:99 { @[kstack] = count(); }", env());
    const two = compileOneLiner("profile:hz:99 { @[kstack, ustack] = count(); }", env());
    expect([none, one, two].map((c) => stackEntries(c, 4096))).toEqual([1, 4096, 8192]);
    const cost = (c: typeof one) => worstCaseCost(c, 1000, 2, 4096).map_memory;
    expect(cost(one) - cost(none)).toBe(stackMapMemory(4096) - stackMapMemory(1));
    expect(stackMapMemory(4096)).toBe(4096 * (16 + 8 * 127) + 8 * 4096);
    expect(cost(two) - cost(one)).toBe(stackMapMemory(8192) - stackMapMemory(4096));
  });
  withTracefs("kstack and ustack as keys of a tracepoint one-liner", () => {
    const c = compileOneLiner("tracepoint:sched:sched_switch { @[comm, kstack] = count(); }", env());
    expect(c.recipe).toBe("generic-tracepoint");
    expect(new DataView(c.table.buffer).getUint8(PROBE.keys + OPERAND.size + OPERAND.src)).toBe(10);
  });
  withTracefs("the host policy: categories and string fields", () => {
    expect(() => compileOneLiner("tracepoint:sched:sched_switch { @ = count(); }", env({ tracepoint_categories: ["sys*"] }))).toThrow(/allows one-liners on tracepoint categories sys\*, not sched/);
    expect(() => compileOneLiner('tracepoint:syscalls:sys_enter_write { printf("%s\\n", str(args.buf)); }', env({ deny_string_fields: ["syscalls:sys_enter_write:buf"] }))).toThrow();
    expect(compileOneLiner("tracepoint:syscalls:sys_enter_write { @ = sum(args.count); }", env({ tracepoint_categories: ["syscalls"], deny_string_fields: ["syscalls:*:buf"] })).recipe).toBe("generic-tracepoint");
    expect(() => compileOneLiner("profile:hz:99 { @[kstack] = count(); }", env({ profile: false }))).toThrow(/turns sampling one-liners off \(adhoc: profile: false\)/);
    expect(compileOneLiner("profile:hz:99 { @[kstack] = count(); }", env({ profile: true, tracepoint_categories: ["syscalls"] })).recipe).toBe("generic-profile");
  });
});

describe("printf formatting", () => {
  test("the supported conversions", () => {
    expect(formatPrintf("%s|%5d|%-4d|%x|%u|%%|%ld|%03d", ["ab", 42, 7, 255, -1, 9, 5])).toBe("ab|   42|7   |ff|18446744073709551615|%|9|005");
    expect(formatSpecs("%s %lu %llx %%", 1)).toEqual(["s", "d", "d"]);
  });
});

describe("the table layout is the generic programs' own", () => {
  for (const name of ["generic_tp", "generic_pe"]) {
    const obj = join(import.meta.dir, `../../build/bpf/${name}.bpf.o`);
    test.skipIf(!existsSync(obj))(`${name}: gtp_probe, gtp_pred, gtp_operand, gtp_key, gtp_value, gtp_event offsets and sizes from BTF; the stack map's frames`, () => {
      using o = BpfObject.openMemory(new Uint8Array(readFileSync(obj)), name);
      const btf = o.btf();
      const off = (s: string) => Object.fromEntries(btf.layout(s).map((m) => [m.name, m.offset]));
      const size = (s: string) => btf.layout(s).reduce((n, m) => Math.max(n, m.offset + m.size), 0);
      expect(off("gtp_operand")).toEqual({ src: OPERAND.src, read: OPERAND.read, size: OPERAND.fsize, is_signed: OPERAND.is_signed, offset: OPERAND.offset, is_str: OPERAND.is_str });
      expect(size("gtp_operand")).toBe(OPERAND.size);
      expect(off("gtp_pred")).toMatchObject({ lhs: PRED.lhs, op: PRED.op, value: PRED.value, str: PRED.str });
      expect(size("gtp_pred")).toBe(PRED.size);
      const p = off("gtp_probe");
      for (const k of ["enabled", "action", "npreds", "nkeys", "nargs", "ops", "preds", "keys", "value", "args", "lhist_min", "lhist_max", "lhist_step"] as const) expect(p[k]).toBe(PROBE[k]);
      expect(size("gtp_probe")).toBe(PROBE.size);
      expect(size("gtp_key")).toBe(KEY_SIZE);
      expect(off("gtp_value")).toEqual({ count: VALUE.count, sum: VALUE.sum, min: VALUE.min, max: VALUE.max, slots: VALUE.slots });
      expect(size("gtp_value")).toBe(VALUE.size);
      expect(size("gtp_event")).toBe(EVENT_SIZE);
      expect(o.btf().sectionVariables(".rodata").get("gtp_cfg")?.size).toBe((name === "generic_tp" ? GTP.MAX_PROBES : 1) * PROBE.size);
      expect(o.map("stacks").valueSize).toBe(8 * GTP.STACK_DEPTH);
    });
  }
});

// uprobe/uretprobe/usdt one-liners: the real checks (realpath, ownership, ELF symbols, SDT notes)
// against the fixture build/fixtures/uprobe_target (ebpfctl_up_target, USDT ebpfctl_fixture:tick).
const TARGET = join(import.meta.dir, "../../build/fixtures/uprobe_target");
const withTarget = test.skipIf(!existsSync(TARGET));
const uenv = (policy?: CompileEnv["policy"]): CompileEnv => ({ list: () => [], format: () => { throw new Error("no tracepoints here"); }, user: userProbeEnv, ...(policy ? { policy } : {}) });

describe("uprobe, uretprobe and usdt probes", () => {
  test("the parser: paths with / . - +, the usdt forms, u/ur/U shorthands; / after the path opens the predicate", () => {
    expect(parse("uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc { @ = count(); }").probes[0]).toMatchObject({ provider: "uprobe", binary: "/usr/lib/x86_64-linux-gnu/libc.so.6", symbol: "malloc" });
    expect(parse("ur:/a/b-c+d:f/pid == 1/ { @ = hist(retval); }")).toMatchObject({ probes: [{ provider: "uretprobe", binary: "/a/b-c+d", symbol: "f" }], predicate: { kind: "binary" } });
    expect(parse("usdt:/usr/bin/python3.11:python:function__entry { @[str(arg1)] = count(); }").probes[0]).toMatchObject({ provider: "usdt", binary: "/usr/bin/python3.11", usdtProvider: "python", name: "function__entry" });
    expect(parse("U:/x/y:tick { @ = count(); }").probes[0]).toMatchObject({ provider: "usdt", binary: "/x/y", name: "tick" });
    expect(parse("usdt:/x/y:tick { @ = count(); }").probes[0]).not.toHaveProperty("usdtProvider");
    expect(parse("uprobe:/b:f { @[arg0, arg5] = sum(arg2); }").statements[0]).toMatchObject({ keys: [{ kind: "argn", index: 0 }, { kind: "argn", index: 5 }], args: [{ kind: "argn", index: 2 }] });
  });
  test.each([
    ["uprobe:bin/sh:main { @ = count(); }", /absolute PATH/],
    ["uprobe:/bin/sh { @ = count(); }", /expected uprobe:PATH:FUNC/],
    ["uprobe:/bin/sh:main+0x10 { @ = count(); }", /is not a symbol name/],
    ["uprobe:/bin/*:main { @ = count(); }", /a wildcard/],
    ["usdt:/bin/sh:a:b:c { @ = count(); }", /expected usdt:PATH:PROVIDER:NAME/],
    ["uprobe:/b:f { @ = sum(arg6); }", /arg0..arg5/],
    ["uprobe:/b:f { @ = sum(arg00); }", /arg0..arg5/],
  ])("%s → a one-line error", (src, msg) => {
    expect(() => parse(src)).toThrow(msg);
  });
  withTarget("uprobe: arg0 and str(arg1) are table operands (src ARG, index in offset); one table entry; the generic-uprobe recipe", () => {
    const c = compileOneLiner(`uprobe:${TARGET}:ebpfctl_up_target /arg0 > 1/ { @[str(arg1)] = sum(arg0); }`, uenv());
    expect(c.recipe).toBe("generic-uprobe");
    expect(c.target).toMatchObject({ kind: "uprobe", binary: TARGET, symbol: "ebpfctl_up_target" });
    expect(c.table.length).toBe(PROBE.size);
    const dv = new DataView(c.table.buffer);
    expect(dv.getUint8(PROBE.keys + OPERAND.src)).toBe(SRC.ARG);
    expect(dv.getUint8(PROBE.keys + OPERAND.read)).toBe(READ.USER_STR);
    expect(dv.getUint16(PROBE.keys + OPERAND.offset, true)).toBe(1);
    expect(dv.getUint16(PROBE.keys + OPERAND.is_str, true)).toBe(1);
    expect(dv.getUint8(PROBE.value + OPERAND.src)).toBe(8);
    expect(dv.getUint16(PROBE.value + OPERAND.offset, true)).toBe(0);
    expect(dv.getUint8(PROBE.preds + PRED.lhs + OPERAND.src)).toBe(8);
    expect(c.tables).toMatchObject({ probes: [{ cookie: 0, uprobe: `${TARGET}:ebpfctl_up_target`, action: "sum" }] });
  });
  withTarget("uretprobe: retval is GTP_SRC_RETVAL (9); printf goes to generic-uprobe-events", () => {
    const c = compileOneLiner(`uretprobe:${TARGET}:ebpfctl_up_target { printf("%d\\n", retval); }`, uenv());
    expect(c.recipe).toBe("generic-uprobe-events");
    expect(new DataView(c.table.buffer).getUint8(PROBE.args + OPERAND.src)).toBe(9);
  });
  withTarget("usdt: the provider is found in the notes when omitted; generic-usdt", () => {
    const c = compileOneLiner(`usdt:${TARGET}:tick { @[str(arg1)] = count(); }`, uenv());
    expect(c.recipe).toBe("generic-usdt");
    expect(c.target).toMatchObject({ kind: "usdt", provider: "ebpfctl_fixture", name: "tick" });
  });
  withTarget.each([
    ["uprobe:%T:ebpfctl_up_target { @ = hist(retval); }", /retval is the return value of a uretprobe, not available on uprobe/, "EBPFCTL-E1112"],
    ["usdt:%T:tick { @ = hist(retval); }", /not available on usdt/, "EBPFCTL-E1112"],
    ["uretprobe:%T:ebpfctl_up_target { @ = sum(arg0); }", /arguments are gone at return/, "EBPFCTL-E1112"],
    ["uprobe:%T:ebpfctl_up_target { @ = sum(args.ret); }", /have no tracepoint fields/, "EBPFCTL-E1112"],
    ["uprobe:%T:no_such_function { @ = count(); }", /no symbol "no_such_function"/, "EBPFCTL-E0802"],
    ["usdt:%T:ebpfctl_fixture:nope { @ = count(); }", /no USDT probe ebpfctl_fixture:nope .*it has ebpfctl_fixture:tick/, "EBPFCTL-E0804"],
    ["uprobe:/no/such/binary:f { @ = count(); }", /cannot resolve it \(ENOENT\)/, "EBPFCTL-E0801"],
    ["uprobe:%T:ebpfctl_up_target, tracepoint:syscalls:sys_enter_read { @ = count(); }", /mixing tracepoint and uprobe\/usdt probes/, "EBPFCTL-E1111"],
    ["uprobe:%T:ebpfctl_up_target, uretprobe:%T:ebpfctl_up_target { @ = count(); }", /a second uprobe\/usdt probe/, "EBPFCTL-E1111"],
  ])("%s is refused", (src, msg, code) => {
    expect(() => compileOneLiner(src.replaceAll("%T", TARGET), uenv())).toThrow(msg);
    try {
      compileOneLiner(src.replaceAll("%T", TARGET), uenv());
    } catch (e) {
      expect((e as { code: string }).code).toBe(code);
    }
  });
  withTarget("the host policy's uprobe_binaries: path globs (* within a component, ** across) on the real path", () => {
    expect(() => compileOneLiner(`uprobe:${TARGET}:ebpfctl_up_target { @ = count(); }`, uenv({ uprobe_binaries: ["/usr/bin/*"] }))).toThrow(/allows uprobe\/usdt one-liners on \/usr\/bin\/\*, not /);
    expect(() => compileOneLiner(`uprobe:${TARGET}:ebpfctl_up_target { @ = count(); }`, uenv({ uprobe_binaries: [`${join(TARGET, "../..")}/*`] }))).toThrow(/EBPFCTL-E1113|allows uprobe/);
    expect(compileOneLiner(`uprobe:${TARGET}:ebpfctl_up_target { @ = count(); }`, uenv({ uprobe_binaries: [`${join(TARGET, "../..")}/**`] })).recipe).toBe("generic-uprobe");
  });
});

describe("the uprobe and usdt table layout is the same", () => {
  for (const name of ["generic_up", "generic_usdt"]) {
    const obj = join(import.meta.dir, `../../build/bpf/${name}.bpf.o`);
    test.skipIf(!existsSync(obj))(`${name}: gtp_probe as in generic_tp, gtp_cfg one entry`, () => {
      using o = BpfObject.openMemory(new Uint8Array(readFileSync(obj)), name);
      const btf = o.btf();
      const off = Object.fromEntries(btf.layout("gtp_probe").map((m) => [m.name, m.offset]));
      for (const k of ["enabled", "action", "npreds", "nkeys", "nargs", "ops", "preds", "keys", "value", "args", "lhist_min", "lhist_max", "lhist_step"] as const) expect(off[k]).toBe(PROBE[k]);
      expect(btf.sectionVariables(".rodata").get("gtp_cfg")?.size).toBe(PROBE.size);
    });
  }
});
