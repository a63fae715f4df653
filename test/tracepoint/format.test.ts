// The tracefs format parser (pure), the name rules, the tracefs root fallback, and the BTF
// cross-check against the running kernel's trace_event_raw_* structs.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseFormat } from "../../src/tracepoint/format";
import { Tracefs, parseTracepointName, parseTracepointPattern } from "../../src/tracepoint/tracefs";
import { checkAgainstBtf, loadKernelBtf } from "../../src/tracepoint/btf-check";
import { EbpfctlError } from "../../src/errors";

const EXEC = `name: sched_process_exec
ID: 365
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;
\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;
\tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;

print fmt: "filename=%s pid=%d old_pid=%d", __get_str(filename), REC->pid, REC->old_pid
`;

const OPENAT = `name: sys_enter_openat
ID: 782
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
\tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
\tfield:const char * filename;\toffset:24;\tsize:8;\tsigned:0;
\tfield:char comm[16];\toffset:32;\tsize:16;\tsigned:0;
\tfield:__rel_loc char[] name;\toffset:48;\tsize:4;\tsigned:0;
\tfield:unsigned long args[6];\toffset:56;\tsize:48;\tsigned:0;

print fmt: "x"
`;

describe("parseFormat", () => {
  test("fields with offsets, sizes, signedness and how each is read", () => {
    const f = parseFormat(EXEC);
    expect(f.name).toBe("sched_process_exec");
    expect(f.id).toBe(365);
    expect(f.fields.filter((x) => x.common).length).toBe(4);
    expect(f.fields.find((x) => x.name === "filename")).toEqual({ name: "filename", type: "__data_loc char[]", offset: 8, size: 4, signed: false, kind: "data_loc_str", common: false });
    expect(f.fields.find((x) => x.name === "pid")).toMatchObject({ offset: 12, size: 4, signed: true, kind: "int" });
  });

  test("decodes by size and signedness: 'int dfd' of size 8 unsigned is an 8-byte unsigned integer", () => {
    const f = parseFormat(OPENAT);
    expect(f.fields.find((x) => x.name === "dfd")).toMatchObject({ size: 8, signed: false, kind: "int" });
    expect(f.fields.find((x) => x.name === "filename")).toMatchObject({ type: "const char *", kind: "str_ptr" });
    expect(f.fields.find((x) => x.name === "comm")).toMatchObject({ type: "char[16]", kind: "char_array", size: 16 });
    expect(f.fields.find((x) => x.name === "name")).toMatchObject({ kind: "rel_loc_str" });
    expect(f.fields.find((x) => x.name === "args")).toMatchObject({ kind: "other", size: 48 });
  });

  test.each([
    ["no name", EXEC.replace("name: sched_process_exec", "name: bad-name")],
    ["no ID", EXEC.replace("ID: 365", "")],
    ["a broken field line", EXEC.replace("offset:12;", "offset:x;")],
    ["no fields", "name: x\nID: 1\nformat:\n"],
  ])("refuses %s with one EbpfctlError", (_n, text) => {
    expect(() => parseFormat(text)).toThrow(EbpfctlError);
  });

  test("every format on this kernel parses (when tracefs is readable)", () => {
    let tf: Tracefs;
    try {
      tf = Tracefs.open();
    } catch {
      return;
    }
    const all = tf.list("*:*");
    expect(all.length).toBeGreaterThan(100);
    for (const tp of all) expect(tf.format(tp).fields.length).toBeGreaterThan(0);
  });
});

describe("names", () => {
  test("category:event, [A-Za-z0-9_] only", () => {
    expect(parseTracepointName("sched:sched_switch")).toEqual({ category: "sched", event: "sched_switch" });
    expect(parseTracepointName("sched/sched_switch")).toEqual({ category: "sched", event: "sched_switch" });
    for (const bad of ["sched", "sched:", ":x", "../x:y", "a:b:c", "sched:sched switch", "sched:*", "a:b\0", "a:é"]) expect(() => parseTracepointName(bad)).toThrow(/is not a tracepoint name/);
  });
  test("patterns allow * and nothing else", () => {
    const p = parseTracepointPattern("sched:sched_*");
    expect(p.event.test("sched_switch")).toBe(true);
    expect(p.category.test("schedx")).toBe(false);
    expect(() => parseTracepointPattern("sched:[a-z]")).toThrow(/is not a tracepoint name/);
    expect(() => parseTracepointPattern("sch.d:x")).toThrow(/is not a tracepoint name/);
  });
});

describe("tracefs roots", () => {
  test("the first root with events/ wins; the fallback is used when the first lacks it; none is a refusal", () => {
    const a = mkdtempSync(join(tmpdir(), "tracefs-a-"));
    const b = mkdtempSync(join(tmpdir(), "tracefs-b-"));
    mkdirSync(join(b, "events/cat/ev"), { recursive: true });
    writeFileSync(join(b, "events/cat/ev/format"), EXEC.replace("sched_process_exec", "ev"));
    mkdirSync(join(b, "events/cat/bad-name"), { recursive: true });
    writeFileSync(join(b, "events/cat/bad-name/format"), EXEC);
    const tf = Tracefs.open([a, b]);
    expect(tf.root).toBe(b);
    // A directory whose name is not [A-Za-z0-9_] is never listed.
    expect(tf.list("*:*")).toEqual([{ category: "cat", event: "ev" }]);
    expect(tf.format({ category: "cat", event: "ev" }).name).toBe("ev");
    expect(() => tf.format({ category: "cat", event: "missing" })).toThrow(/no tracepoint cat:missing/);
    expect(() => Tracefs.open([a])).toThrow(/tracefs is not mounted/);
    if (existsSync("/sys/kernel/tracing/events")) expect(Tracefs.open().root).toBe("/sys/kernel/tracing");
  });
});

describe("BTF cross-check", () => {
  const btf = existsSync("/sys/kernel/btf/vmlinux") ? loadKernelBtf() : null;
  test.skipIf(!btf)("this kernel's sched_process_exec agrees with trace_event_raw_sched_process_exec", () => {
    const text = readFileSync("/sys/kernel/tracing/events/sched/sched_process_exec/format", "utf8");
    expect(checkAgainstBtf("sched:sched_process_exec", parseFormat(text), btf)).toEqual({ status: "btf", checked: 3 });
  });
  test.skipIf(!btf)("a field whose offset or size differs is refused, naming the field", () => {
    expect(() => checkAgainstBtf("sched:sched_process_exec", parseFormat(EXEC.replace("pid_t pid;\toffset:12", "pid_t pid;\toffset:20")), btf)).toThrow(/sched:sched_process_exec: field pid differs between tracefs and BTF \(offset 20 in tracefs, 12 in BTF\)/);
    expect(() => checkAgainstBtf("sched:sched_process_exec", parseFormat(EXEC.replace("old_pid;\toffset:16;\tsize:4", "old_pid;\toffset:16;\tsize:8")), btf)).toThrow(/field old_pid differs .*size 8 in tracefs, 4 in BTF/);
  });
  test.skipIf(!btf)("every tracepoint of this kernel with a trace_event_raw_* struct agrees with it (no false refusal)", () => {
    const tf = Tracefs.open();
    let compared = 0;
    for (const tp of tf.list()) if (checkAgainstBtf(`${tp.category}:${tp.event}`, tf.format(tp), btf).status === "btf") compared++;
    expect(compared).toBeGreaterThan(100);
  });
  test.skipIf(!btf)("syscalls have no per-event struct: nothing to compare, not a refusal", () => {
    expect(checkAgainstBtf("syscalls:sys_enter_openat", parseFormat(OPENAT), btf).status).toBe("no-btf-struct");
  });
});
