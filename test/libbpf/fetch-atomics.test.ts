// Kernels without fetching atomics (5.10, 5.11): the objects take their plain-add path. This host
// has them, so the path is forced with EBPFCTL_MASK_FEATURES=atomic_fetch and run for real; the
// 5.10 guest of test/verifier/matrix runs it where it is the only path.
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { kernelTest } from "../kernel/helpers";
import { assertBuilt, FIXTURES, isolatedEnv, repoRoot, tempDir, trace } from "../helpers/trace";
import { BpfObject, LoadError } from "../../src/libbpf";
import { isFetchingAtomic, poisonFetchingAtomics, withoutFetchAtomics } from "../../src/libbpf/fetch-atomics";
import type { Accounting } from "../../src/budget/accounting";

/** One instruction: code, dst/src registers, off, imm. */
function insn(code: number, regs: number, off: number, imm: number): Uint8Array {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  b[0] = code;
  b[1] = regs;
  dv.setInt16(2, off, true);
  dv.setInt32(4, imm, true);
  return b;
}
const concat = (...xs: Uint8Array[]) => new Uint8Array(xs.flatMap((x) => [...x]));
const fetchingIn = (insns: Uint8Array) => Array.from({ length: insns.length / 8 }, (_, i) => i * 8).filter((at) => isFetchingAtomic(insns, at)).length;

describe("poisonFetchingAtomics (pure)", () => {
  test("fetch-add, cmpxchg, xchg and atomic or are poisoned; plain add, stores and loads are kept", () => {
    const plainAddDw = insn(0xdb, 0x21, 0, 0x00); // lock *(u64 *)(r1 + 0) += r2 (BPF_XADD)
    const plainAddW = insn(0xc3, 0x21, 8, 0x00);
    const fetchAdd = insn(0xdb, 0x21, 0, 0x01); // r2 = atomic64_fetch_add(r1, r2)
    const cmpxchg = insn(0xdb, 0x21, 0, 0xf1);
    const xchg = insn(0xc3, 0x21, 0, 0xe1);
    const atomicOr = insn(0xdb, 0x21, 0, 0x40);
    const store = insn(0x7b, 0x21, 0, 0); // *(u64 *)(r1 + 0) = r2
    const load = insn(0x79, 0x12, 0, 0);
    const input = concat(plainAddDw, fetchAdd, store, cmpxchg, load, xchg, plainAddW, atomicOr);
    const { insns, poisoned } = poisonFetchingAtomics(input);
    expect(poisoned).toBe(4);
    expect(fetchingIn(insns)).toBe(0);
    const at = (i: number) => insns.subarray(i * 8, i * 8 + 8);
    for (const i of [1, 3, 5, 7]) expect([...at(i)]).toEqual([...insn(0x85, 0, 0, 0xbad2310)]);
    for (const [i, orig] of [[0, plainAddDw], [2, store], [4, load], [6, plainAddW]] as const) expect([...at(i)]).toEqual([...orig]);
    // The input is not modified.
    expect(fetchingIn(input)).toBe(4);
  });
});

const objectBytes = (name: string) => new Uint8Array(readFileSync(join(repoRoot, "build/bpf", `${name}.bpf.o`)));

describe("on this kernel", () => {
  kernelTest("opensnoop's program has fetching atomics; steered off them it has none and the verifier accepts it", () => {
    const obj = BpfObject.openMemory(objectBytes("opensnoop"), "opensnoop");
    try {
      for (const p of obj.programs()) p.autoload = p.name === "tp_openat_exit";
      const before = fetchingIn(obj.program("tp_openat_exit").instructions());
      expect(before).toBeGreaterThanOrEqual(3); // sampling tick, rate-window cmpxchg and fetch-add
      expect(withoutFetchAtomics(obj)).toBe(before);
      expect(fetchingIn(obj.program("tp_openat_exit").instructions())).toBe(0);
      obj.load();
      expect(obj.program("tp_openat_exit").fd).toBeGreaterThan(0);
    } finally {
      obj.close();
    }
  });

  kernelTest("a fetching atomic outside the fetch_atomics guard is refused at load once poisoned, never run wrong", () => {
    // probe_atomic_fetch uses them unguarded: poisoned, the verifier reaches the poison and says no.
    const obj = BpfObject.openMemory(objectBytes("feature-probes"), "feature_probes");
    try {
      for (const p of obj.programs()) p.autoload = p.name === "probe_atomic_fetch";
      const prog = obj.program("probe_atomic_fetch");
      const { insns, poisoned } = poisonFetchingAtomics(prog.instructions());
      expect(poisoned).toBe(2);
      prog.replaceInstructions(insns);
      let err: unknown;
      try {
        obj.load();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LoadError);
      expect((err as LoadError).verifierLog).toContain("195896080");
    } finally {
      obj.close();
    }
  });
});

// The storm under a name of its own, as in test/trace/output-accounting.test.ts.
const COMM = `fa${process.pid % 100000}`;
const STORM = join(tempDir(), COMM);

describe("a session without fetching atomics (EBPFCTL_MASK_FEATURES=atomic_fetch)", () => {
  beforeAll(() => {
    assertBuilt();
    copyFileSync(join(FIXTURES, "open_storm"), STORM);
    Bun.spawnSync(["chmod", "755", STORM]);
  });

  kernelTest("opensnoop under a 3000-open storm at --max-rate 1000: every open accounted for, the cap holds within one event per CPU per window", async () => {
    const N = 3000;
    const out = join(tempDir(), "events.json");
    const t = trace(["opensnoop", "-o", "json", "-c", COMM, "--max-rate", "1000", "--output-file", out, "-d", "30"], isolatedEnv({ EBPFCTL_MASK_FEATURES: "atomic_fetch" }));
    const attached = await t.waitFor("attached");
    // What the kernel runs (bpftool's translated dump): the plain-add path, no fetching atomic.
    const progIds = (attached.links as { prog_id: number }[]).map((l) => l.prog_id);
    expect(progIds.length).toBeGreaterThan(0);
    for (const id of progIds) {
      const xlated = Bun.spawnSync(["bpftool", "prog", "dump", "xlated", "id", String(id)]).stdout.toString();
      expect(xlated).toContain("lock *(u64 *)"); // the plain atomic add is still there
      expect(xlated).not.toMatch(/atomic64_fetch_add|atomic64_cmpxchg|cmpxchg/);
    }
    const t0 = performance.now();
    const p = Bun.spawn([STORM, String(N), "/nonexistent/ebpfctl-fetch-atomics"], { stdout: "pipe" });
    const made = Number((await new Response(p.stdout).text()).trim().split(" ")[0]);
    expect(await p.exited).toBe(0);
    const stormMs = performance.now() - t0;
    await Bun.sleep(300);
    t.proc.kill("SIGINT");
    await t.exited;
    const end = t.records().find((r) => r.kind === "end") as { accounting: Accounting } | undefined;
    if (!end) throw new Error(`no end record; stderr:\n${t.stderr}`);
    const a = end.accounting;
    const lines = readFileSync(out, "utf8").split("\n").filter(Boolean).length;
    expect(made).toBe(N);
    expect(a.produced).toBe(N);
    expect(a.identity_holds).toBe(true);
    expect(a.delivered).toBe(lines);
    expect(a.delivered + a.dropped_rate + a.dropped_ringbuf).toBe(N);
    expect(a.dropped_rate).toBeGreaterThan(0);
    // 100 ms windows of 100 events; the storm spans at most ceil(stormMs / 100) + 1 windows, and
    // without cmpxchg each window may admit one extra event per CPU.
    const windows = Math.ceil(stormMs / 100) + 1;
    expect(a.delivered).toBeLessThanOrEqual(windows * (100 + navigator.hardwareConcurrency));
    expect(a.delivered).toBeGreaterThanOrEqual(100);
  }, 40_000);
});
