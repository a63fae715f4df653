// One-liners refused before anything loads: each is one error line (plus its hint) with a
// documented exit code, and the audit log shows the refusal and no "loaded" record. And a
// one-liner that runs records its text, compiled tables and worst-case cost before load.
import { describe, expect } from "bun:test";
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kernelTest } from "../kernel/helpers";
import { auditRecords, cli, governanceEnv } from "../host/governance-helpers";
import { FIXTURES, useFixtures } from "./trace-helpers";

useFixtures();
const TARGET = `${FIXTURES}/uprobe_target`;
const ALLOW_FIXTURES = `adhoc:\n  uprobe_binaries: ["${FIXTURES}/*", "/tmp/**"]\n`;

async function refused(args: string[], policy?: string, mask?: string) {
  const e = governanceEnv();
  if (mask) e.env.EBPFCTL_MASK_FEATURES = mask;
  if (policy !== undefined) {
    mkdirSync(e.config, { recursive: true, mode: 0o755 });
    writeFileSync(join(e.config, "policy.yaml"), policy, { mode: 0o644 });
  }
  const r = await cli(e, ["trace", ...args, "-d", "1"]);
  const lines = r.stderr.trim().split("\n");
  const recs = auditRecords(e);
  return { ...r, error: lines.find((l) => l.startsWith("error: ")), errorLines: lines.filter((l) => l.startsWith("error")).length, loaded: recs.filter((x) => x.event === "loaded").length, refusedRec: recs.find((x) => x.event === "refused") };
}

describe("one-liner refusals", () => {
  const cases: [string, string[], number, RegExp, string?, string?][] = [
    ["an unsupported construct (kprobe) names it and the nearest form", ["-e", "kprobe:do_sys_open { @ = count(); }"], 2, /the bpftrace probe type "kprobe" is not supported .*EBPFCTL-E1111/],
    ["a scratch variable", ["-e", "tracepoint:syscalls:sys_enter_read { $x = 1; }"], 2, /scratch variable \$x is not supported/],
    ["a bad tracepoint name", ["-e", "tracepoint:sched:sched_$witch { @ = count(); }"], 2, /column 1: .*EBPFCTL-E1110|probe name/],
    ["a tracepoint that does not exist", ["-e", "tracepoint:sched:no_such_event { @ = count(); }"], 2, /no tracepoint sched:no_such_event on this kernel \[EBPFCTL-E1102\]/],
    ["a field that does not exist", ["-e", "tracepoint:syscalls:sys_exit_read { @ = hist(args.bytes); }"], 2, /syscalls:sys_exit_read has no field args.bytes \[EBPFCTL-E1112\]/],
    ["a string read as an integer", ["-e", "tracepoint:sched:sched_process_exec { @ = sum(args.filename); }"], 2, /use str\(args.filename\)/],
    ["ad-hoc turned off by the host policy", ["-e", "tracepoint:syscalls:sys_enter_read { @ = count(); }"], 10, /turns one-liners off \(adhoc: enabled: false\) \[EBPFCTL-E1113\]/, "adhoc:\n  enabled: false\n"],
    ["a category outside the policy's list", ["-e", "tracepoint:sched:sched_switch { @ = count(); }"], 10, /allows one-liners on tracepoint categories syscalls, not sched/, "adhoc:\n  tracepoint_categories: [syscalls]\n"],
    ["a string field the policy denies", ["-e", 'tracepoint:syscalls:sys_enter_openat { printf("%s\\n", str(args.filename)); }'], 10, /denies reading the string syscalls:sys_enter_openat:filename/, "adhoc:\n  deny_string_fields: [\"syscalls:*:filename\"]\n"],
    ["uprobe: a binary that does not exist", ["-e", "uprobe:/no/such/binary:f { @ = count(); }"], 2, /uprobe binary \/no\/such\/binary: cannot resolve it \(ENOENT\) \[EBPFCTL-E0801\]/, ALLOW_FIXTURES],
    ["uprobe: a symbol the binary lacks", ["-e", `uprobe:${TARGET}:no_such_function { @ = count(); }`], 2, /no symbol "no_such_function" in .symtab or .dynsym .*\[EBPFCTL-E0802\]/, ALLOW_FIXTURES],
    ["usdt: a probe the binary's notes lack", ["-e", `usdt:${TARGET}:ebpfctl_fixture:nope { @ = count(); }`], 2, /no USDT probe ebpfctl_fixture:nope in .note.stapsdt \(it has ebpfctl_fixture:tick\) \[EBPFCTL-E0804\]/, ALLOW_FIXTURES],
    ["uprobe: retval (a uretprobe's)", ["-e", `uprobe:${TARGET}:ebpfctl_up_target { @ = hist(retval); }`], 2, /retval is the return value of a uretprobe, not available on uprobe \[EBPFCTL-E1112\]/, ALLOW_FIXTURES],
    ["uprobe: mixed with a tracepoint", ["-e", `uprobe:${TARGET}:ebpfctl_up_target, tracepoint:syscalls:sys_enter_read { @ = count(); }`], 2, /mixing tracepoint and uprobe\/usdt probes is not supported .*\[EBPFCTL-E1111\]/, ALLOW_FIXTURES],
    ["uprobe: a binary outside the default uprobe_binaries (system paths)", ["-e", `uprobe:${TARGET}:ebpfctl_up_target { @ = count(); }`], 10, /the host policy allows uprobe\/usdt one-liners on \/usr\/bin\/\*, .*, not .*uprobe_target \[EBPFCTL-E1113\]/],
    ["usdt: a binary outside the policy's uprobe_binaries", ["-e", `usdt:${TARGET}:tick { @ = count(); }`], 10, /allows uprobe\/usdt one-liners on \/usr\/lib\/\*\*, not .*uprobe_target \[EBPFCTL-E1113\]/, 'adhoc:\n  uprobe_binaries: ["/usr/lib/**"]\n'],
    ["a cost over --max-memory, before load", ["-e", "tracepoint:syscalls:sys_enter_read { @[comm] = count(); }", "--max-memory", "1MiB"], 7, /one-liner's maps may take .* over --max-memory 1.0 MiB \[EBPFCTL-E1114\]/],
    ["sampling turned off by the host policy", ["-e", "profile:hz:99 { @[kstack] = count(); }"], 10, /turns sampling one-liners off \(adhoc: profile: false\): profile:hz:99 \[EBPFCTL-E1113\]/, "adhoc:\n  profile: false\n"],
    ["an interval probe that does more than exit()", ["-e", "profile:hz:99 { @ = count(); } interval:s:1 { print(@); }"], 2, /an interval probe doing anything but exit\(\) is not supported .*EBPFCTL-E1111/],
    // Two stack keys: 8192 stack map entries of 127 frames (8.5 MB) push the cost over 8 MiB.
    ["a stack map over --max-memory, before load", ["-e", "profile:hz:99 { @[kstack, ustack] = count(); }", "--max-memory", "8MiB"], 7, /one-liner's maps may take 1[0-9](\.\d)? MiB, over --max-memory 8.0 MiB \[EBPFCTL-E1114\]/],
  ];
  for (const [name, args, code, message, policy, mask] of cases) {
    kernelTest(`${name}: exit ${code}, one line, nothing loaded`, async () => {
      const r = await refused(args, policy, mask);
      expect(r.code).toBe(code);
      expect(r.errorLines).toBe(1);
      expect(r.error).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      expect(r.loaded).toBe(0);
      expect(r.refusedRec).toBeDefined();
    });
  }

  kernelTest("uprobe: a binary not owned by root (a copy chowned to nobody): exit 4, one line, nothing loaded", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebpfctl-uprobe-copy-"));
    chmodSync(dir, 0o755);
    const copy = join(dir, "uprobe_target");
    copyFileSync(TARGET, copy);
    chownSync(copy, 65534, 65534);
    for (const probe of [`uprobe:${copy}:ebpfctl_up_target`, `usdt:${copy}:ebpfctl_fixture:tick`]) {
      const r = await refused(["-e", `${probe} { @ = count(); }`], ALLOW_FIXTURES);
      expect(r.code).toBe(4);
      expect(r.errorLines).toBe(1);
      expect(r.error).toMatch(new RegExp(`uprobe binary ${copy}: ${copy} is owned by uid 65534, not root \\[EBPFCTL-E0801\\]`));
      expect(r.loaded).toBe(0);
      expect(r.refusedRec).toBeDefined();
    }
  });

  kernelTest("a uprobe one-liner's text and table are in the audit log before load", async () => {
    const e = governanceEnv();
    mkdirSync(e.config, { recursive: true, mode: 0o755 });
    writeFileSync(join(e.config, "policy.yaml"), ALLOW_FIXTURES, { mode: 0o644 });
    const text = `uretprobe:${TARGET}:ebpfctl_up_target /comm == "nginx"/ { @ = hist(retval); }`;
    const r = await cli(e, ["trace", "-e", text, "-d", "1"]);
    expect(r.code).toBe(0);
    const recs = auditRecords(e);
    const i = recs.findIndex((x) => x.event === "oneliner");
    const rec = recs[i] as { text: string; tables: { probes: Record<string, unknown>[] } };
    expect(rec.text).toBe(text);
    expect(rec.tables.probes).toEqual([expect.objectContaining({ cookie: 0, uretprobe: `${TARGET}:ebpfctl_up_target`, action: "hist", value: { what: "retval" } })]);
    expect(i).toBeLessThan(recs.findIndex((x) => x.event === "loaded"));
  });

  kernelTest("a one-liner's text, compiled tables and worst-case cost are in the audit log before load", async () => {
    const e = governanceEnv();
    const text = 'tracepoint:syscalls:sys_enter_getppid /pid == 1 || !(uid != 0)/ { @x[comm, tid] = sum(args.__syscall_nr); }';
    const r = await cli(e, ["trace", "-e", text, "-d", "1"]);
    expect(r.code).toBe(0);
    const recs = auditRecords(e);
    const i = recs.findIndex((x) => x.event === "oneliner");
    const rec = recs[i] as { text: string; tables: { postfix: number[]; probes: { tracepoint: string; action: string; keys: unknown[] }[] }; cost: { map_memory: number; rate_cap: number; bytes_per_event: number } };
    expect(rec.text).toBe(text);
    expect(rec.tables.postfix).toEqual([1, 2, 0x12, 0x11]);
    expect(rec.tables.probes[0]).toMatchObject({ tracepoint: "syscalls:sys_enter_getppid", action: "sum" });
    expect(rec.cost.map_memory).toBeGreaterThan(0);
    expect(rec.cost.rate_cap).toBe(1_000_000);
    expect(i).toBeLessThan(recs.findIndex((x) => x.event === "loaded"));
  });
});
