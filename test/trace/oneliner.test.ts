// One-liners (ebpfctl trace -e) end to end against the real kernel, with ground truth made by
// fixtures (exact syscall, read-size, open and exec counts) and, in the same run on the same
// workload, bpftrace running the same one-liner: the counts must be equal. (bpftrace 0.17, the
// Debian package, wants args->FIELD; ebpfctl takes args.FIELD and args->FIELD alike.)
import { describe, expect } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES, expectIdentity, histBuckets, recipeTest, run, scalarLines, startBpftrace, traceDuring, useFixtures } from "./trace-helpers";

useFixtures();

describe("ebpfctl trace -e", () => {
  recipeTest("a syscall count for a test comm: exactly N, equal to bpftrace's on the same workload", async () => {
    const N = 20_000;
    const prog = 'tracepoint:syscalls:sys_enter_getppid /comm == "syscall_storm"/ { @[comm] = count(); }';
    const bt = await startBpftrace(prog);
    let btOut = "";
    const r = await traceDuring(["-e", prog], async () => {
      expect((await run([`${FIXTURES}/syscall_storm`, String(N)])).code).toBe(0);
      if (bt) btOut = await bt.stop();
    }, { json: false });
    expect(r.code).toBe(0);
    expect(scalarLines(r.stdout).get("@[syscall_storm]")).toBe(N);
    if (bt) expect(scalarLines(btOut).get("@[syscall_storm]")).toBe(N);
    // The worst-case cost is printed before attach.
    expect(r.stderr).toMatch(/worst case: 0 bytes\/event to user space .* rate cap/);
  }, 60_000);

  recipeTest("JSON lines: the same count, and the accounting identity holds", async () => {
    const N = 5_000;
    const r = await traceDuring(["-e", 'tracepoint:raw_syscalls:sys_enter /comm == "syscall_storm"/ { @calls[comm, pid] = count(); }'], async () => {
      expect((await run([`${FIXTURES}/syscall_storm`, String(N)])).code).toBe(0);
    });
    expect(r.code).toBe(0);
    const rows = r.records.filter((x) => x.kind === "oneliner_map") as { map: string; key: (string | number)[]; value: number; final: boolean }[];
    expect(rows.length).toBe(1);
    expect(rows[0]!.map).toBe("@calls");
    expect(rows[0]!.key[0]).toBe("syscall_storm");
    // A static binary: its getppid calls, plus execve's return, brk, arch_prctl... at least N, and every getppid.
    expect(rows[0]!.value).toBeGreaterThanOrEqual(N);
    expect(rows[0]!.value).toBeLessThan(N + 40);
    expectIdentity(r);
    expect(r.end!.accounting.delivered).toBeGreaterThanOrEqual(rows[0]!.value);
  }, 60_000);

  recipeTest("a read()-size histogram: every bucket exact, equal to bpftrace's", async () => {
    const prog = 'tracepoint:syscalls:sys_exit_read /comm == "read_storm"/ { @bytes = hist(args->ret); }';
    const work = ["0:3", "1:5", "3:7", "100:11", "4096:13", "65536:2"];
    const want = new Map([["[0]", 3], ["[1]", 5], ["[2, 4)", 7], ["[64, 128)", 11], ["[4K, 8K)", 13], ["[64K, 128K)", 2]]);
    const bt = await startBpftrace(prog);
    let btOut = "";
    const r = await traceDuring(["-e", prog], async () => {
      expect((await run([`${FIXTURES}/read_storm`, ...work])).stdout.trim()).toBe("41");
      if (bt) btOut = await bt.stop();
    }, { json: false });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^@bytes:$/m);
    expect(histBuckets(r.stdout)).toEqual(want);
    if (bt) expect(histBuckets(btOut)).toEqual(want);
  }, 60_000);

  recipeTest("lhist and sum of read sizes, as JSON buckets", async () => {
    const r = await traceDuring(["-e", 'tracepoint:syscalls:sys_exit_read /comm == "read_storm" && args.ret >= 0/ { @ = lhist(args.ret, 0, 100, 10); }'], async () => {
      await run([`${FIXTURES}/read_storm`, "5:2", "15:3", "99:4", "100:1", "5000:6"]);
    });
    const h = r.records.find((x) => x.kind === "oneliner_map") as { buckets: { min: number | null; max: number | null; count: number }[] };
    expect(h.buckets).toEqual([
      { min: 0, max: 10, count: 2 },
      { min: 10, max: 20, count: 3 },
      { min: 90, max: 100, count: 4 },
      { min: 100, max: null, count: 7 },
    ]);
  }, 60_000);

  recipeTest("printf with str(args.filename): one line per open of each known path", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebpfctl-oneliner-"));
    const a = join(dir, "first-path");
    const b = join(dir, "second-path");
    const prog = 'tracepoint:syscalls:sys_enter_openat /comm == "open_storm"/ { printf("%s %s\\n", comm, str(args.filename)); }';
    const r = await traceDuring(["-e", prog], async () => {
      await run([`${FIXTURES}/open_storm`, "3", a]);
      await run([`${FIXTURES}/open_storm`, "4", b]);
    }, { json: false });
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines.filter((l) => l === `open_storm ${a}`).length).toBe(3);
    expect(lines.filter((l) => l === `open_storm ${b}`).length).toBe(4);
    expect(lines.length).toBe(7);
  }, 60_000);

  recipeTest("sched:sched_process_exec counts (a __data_loc field in the key), equal to bpftrace's", async () => {
    const K = 7;
    const prog = 'tracepoint:sched:sched_process_exec /comm == "true"/ { @[str(args->filename)] = count(); }';
    const bt = await startBpftrace(prog);
    let btOut = "";
    const r = await traceDuring(["-e", prog], async () => {
      await run(["sh", "-c", Array(K).fill("/bin/true").join("; ")]);
      if (bt) btOut = await bt.stop();
    }, { json: false });
    expect(r.code).toBe(0);
    expect(scalarLines(r.stdout).get("@[/bin/true]")).toBe(K);
    if (bt) expect(scalarLines(btOut).get("@[/bin/true]")).toBe(K);
  }, 60_000);

  recipeTest("several tracepoints by wildcard, one load, told apart by the attach cookie", async () => {
    const K = 6;
    const r = await traceDuring(["-e", 'tracepoint:sched:sched_process_exe*, tracepoint:sched:sched_process_exit /comm == "true"/ { @[probe] = count(); }'], async () => {
      await run(["sh", "-c", Array(K).fill("/bin/true").join("; ")]);
    });
    const rows = (r.records.filter((x) => x.kind === "oneliner_map") as { key: string[]; value: number }[]).map((x) => [x.key[0], x.value]);
    expect(rows.sort()).toEqual([["tracepoint:sched:sched_process_exec", K], ["tracepoint:sched:sched_process_exit", K]]);
    // One program loaded, attached twice.
    expect(r.stderr).toMatch(/tp0:tracepoint.*tp1:tracepoint|"probes":\["tp0:tracepoint","tp1:tracepoint"\]/);
  }, 60_000);

  // Only builtins: the compiler writes the same entry for both tracepoints, so one load serves both
  // and the verifier prunes it as for one (a cookie-selected entry walked ~250k instructions). No
  // cookie is read, so it runs where the kernel has none (masked here, as on 5.10).
  recipeTest("several tracepoints with one table entry: exact, verified as one, and no attach cookie needed", async () => {
    const K = 5;
    const dir = mkdtempSync(join(tmpdir(), "ebpfctl-same-entry-"));
    const audit = join(dir, "audit.jsonl");
    const r = await traceDuring(["-e", 'tracepoint:sched:sched_process_exec,tracepoint:sched:sched_process_exit /comm == "true"/ { @[comm] = count(); }'], async () => {
      await run(["sh", "-c", Array(K).fill("/bin/true").join("; ")]);
    }, { env: { EBPFCTL_AUDIT_LOG: audit, EBPFCTL_MASK_FEATURES: "bpf_get_attach_cookie" } });
    expect(r.code).toBe(0);
    const rows = (r.records.filter((x) => x.kind === "oneliner_map") as { key: string[]; value: number }[]).map((x) => [x.key, x.value]);
    expect(rows).toEqual([[["true"], 2 * K]]);
    const loaded = readFileSync(audit, "utf8").trim().split("\n").map((l) => JSON.parse(l)).find((x) => x.event === "loaded");
    const insns = (loaded.programs as { verified_insns: number }[])[0]!.verified_insns;
    expect(insns).toBeGreaterThan(0);
    expect(insns).toBeLessThan(20_000);
  }, 60_000);

  // A kernel without the attach cookie (masked here, as on 5.10; refused with E1115 before): a
  // one-liner that tells its tracepoints apart gets one load per tracepoint, maps shared. Entries
  // that differ (the printf case) get one load each on every kernel.
  const loadedPrograms = (audit: string) =>
    readFileSync(audit, "utf8").trim().split("\n").map((l) => JSON.parse(l)).find((x) => x.event === "loaded").programs as { prog_id: number; verified_insns: number }[];

  recipeTest("without the attach cookie, @[probe] over two tracepoints: one load each, exact per tracepoint", async () => {
    const K = 5;
    const dir = mkdtempSync(join(tmpdir(), "ebpfctl-per-load-"));
    const audit = join(dir, "audit.jsonl");
    // While it runs, the kernel's view of both programs' maps (bpftool): every map shared but each
    // load's own .rodata, so one aggregation, one ring and one rate window serve both.
    const mapIds: number[][] = [];
    const r = await traceDuring(["-e", 'tracepoint:sched:sched_process_exec,tracepoint:sched:sched_process_exit /comm == "true"/ { @[probe] = count(); }'], async () => {
      for (const p of loadedPrograms(audit)) {
        const show = await run(["bpftool", "-j", "prog", "show", "id", String(p.prog_id)]);
        mapIds.push((JSON.parse(show.stdout) as { map_ids: number[] }).map_ids);
      }
      await run(["sh", "-c", Array(K).fill("/bin/true").join("; ")]);
    }, { env: { EBPFCTL_AUDIT_LOG: audit, EBPFCTL_MASK_FEATURES: "bpf_get_attach_cookie" } });
    expect(r.code).toBe(0);
    const rows = (r.records.filter((x) => x.kind === "oneliner_map") as { key: string[]; value: number }[]).map((x) => [x.key[0], x.value]);
    expect(rows.sort()).toEqual([["tracepoint:sched:sched_process_exec", K], ["tracepoint:sched:sched_process_exit", K]]);
    expect(mapIds.length).toBe(2);
    const [a, b] = mapIds.map((ids) => new Set(ids));
    const shared = [...a!].filter((id) => b!.has(id));
    expect(shared.length).toBeGreaterThan(2);
    expect(a!.size - shared.length).toBe(1);
    expect(b!.size - shared.length).toBe(1);
    const programs = loadedPrograms(audit);
    expect(programs.length).toBe(2);
    expect(new Set(programs.map((p) => p.prog_id)).size).toBe(2);
    for (const p of programs) expect(p.verified_insns).toBeLessThan(20_000);
    expectIdentity(r);
  }, 60_000);

  recipeTest("printf of a field at different offsets: one load per tracepoint, every pid, each event naming its tracepoint", async () => {
    const K = 4;
    const dir = mkdtempSync(join(tmpdir(), "ebpfctl-per-load-"));
    const audit = join(dir, "audit.jsonl");
    const pids: number[] = [];
    // args.pid: offset 12 in sched_process_exec, 24 in sched_process_exit (tracefs format).
    const r = await traceDuring(["-e", 'tracepoint:sched:sched_process_exec,tracepoint:sched:sched_process_exit /comm == "true"/ { printf("%d\\n", args.pid); }'], async () => {
      for (let i = 0; i < K; i++) {
        const p = Bun.spawn(["/bin/true"]);
        pids.push(p.pid);
        await p.exited;
      }
    }, { env: { EBPFCTL_AUDIT_LOG: audit } });
    expect(r.code).toBe(0);
    const events = r.records.filter((x) => x.kind === "oneliner_event") as { probe: string; args: unknown[] }[];
    const seen = (tp: string) => events.filter((e) => e.probe === tp).map((e) => Number(e.args[0])).sort((a, b) => a - b);
    const want = [...pids].sort((a, b) => a - b);
    expect(seen("tracepoint:sched:sched_process_exec")).toEqual(want);
    expect(seen("tracepoint:sched:sched_process_exit")).toEqual(want);
    // this kernel has the cookie: the loads are one per tracepoint because the entries differ
    const programs = loadedPrograms(audit);
    expect(programs.length).toBe(2);
    for (const p of programs) expect(p.verified_insns).toBeLessThan(20_000);
    expectIdentity(r);
  }, 60_000);
});

describe("ebpfctl trace -e, 64-bit values in JSON", () => {
  const big = (1n << 60n) + 1n; // 1152921504606846977; as a double it would print 1152921504606846976
  const reads = async () => expect((await run([`${FIXTURES}/bigcount_storm`, big.toString(), "3"])).code).toBe(0);
  const pred = '/comm == "bigcount_storm"/';

  recipeTest("a u64 field past 2^53 keeps every digit as a key, a max() and a sum()", async () => {
    const key = await traceDuring(["-e", `tracepoint:syscalls:sys_enter_read ${pred} { @[args.count] = count(); }`], reads);
    expect(key.code).toBe(0);
    expect(key.stdout).toContain(`"key":[${big}],"value":3,"count":3}`);
    const max = await traceDuring(["-e", `tracepoint:syscalls:sys_enter_read ${pred} { @ = max(args.count); }`], reads);
    expect(max.stdout).toContain(`"key":[],"value":${big},"count":3}`);
    const sum = await traceDuring(["-e", `tracepoint:syscalls:sys_enter_read ${pred} { @ = sum(args.count); }`], async () => {
      expect((await run([`${FIXTURES}/bigcount_storm`, ((1n << 58n) + 1n).toString(), "3"])).code).toBe(0);
    });
    expect(sum.stdout).toContain(`"value":${3n * ((1n << 58n) + 1n)},"count":3}`);
  }, 90_000);
});
