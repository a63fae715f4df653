// Budgets on the real kernel: the in-kernel rate cap against a storm with exact accounting, each
// of the five budgets breached on purpose (detach within 100 ms, exit 7, the right reason), the
// memory refusal before load, and flags that try to loosen past a ceiling.
import { beforeAll, describe, expect } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { kernelTest } from "../kernel/helpers";
import { newProgramsNamed, assertBuilt, attachedIds, ebpfctl, FIXTURES, isolatedEnv, repoRoot, tempDir, trace, waitGone, type TraceProcess } from "../helpers/trace";
import { allProgIds } from "../../src/libbpf";
import type { Accounting } from "../../src/budget/accounting";

/** Program names of the recipes these tests run (bpftool shows the first 15 bytes). */
const RECIPE_PROGRAMS = ["tp_execve_enter", "tp_execve_exit", "tp_openat_exit", "tp_open_exit"];

beforeAll(() => assertBuilt());

const STORM = join(FIXTURES, "open_storm");


/** Runs the storm generator (paced when rate is given); returns how many openat() it made and for how long. */
async function storm(ms: number, rate?: number): Promise<{ calls: number; seconds: number }> {
  const p = Bun.spawn([STORM, "--for", String(ms)], { env: { ...process.env, ...(rate ? { OPEN_STORM_RATE: String(rate) } : {}) }, stdout: "pipe" });
  const out = await new Response(p.stdout).text();
  expect(await p.exited).toBe(0);
  const [calls, ns] = out.trim().split(" ").map(Number);
  return { calls: calls!, seconds: ns! / 1e9 };
}

function endRecord(t: TraceProcess): { reason: string; exit_code: number; breach?: { budget: string; observed: number; limit: number }; accounting: Accounting } {
  const r = t.records().find((x) => x.kind === "end");
  if (!r) throw new Error(`no end record; stderr:\n${t.stderr}`);
  return r as never;
}

function breachRecord(t: TraceProcess): { budget: string; detach_ms: number; observed: number; limit: number } {
  const r = t.records().find((x) => x.kind === "budget_breach");
  if (!r) throw new Error(`no budget_breach record; stderr:\n${t.stderr}`);
  return r as never;
}

async function expectBreach(t: TraceProcess, budget: string): Promise<void> {
  const ids = attachedIds(await t.waitFor("attached"));
  expect(await t.exited).toBe(7);
  const b = breachRecord(t);
  expect(b.budget).toBe(budget);
  expect(b.detach_ms).toBeLessThanOrEqual(100);
  const end = endRecord(t);
  expect(end.reason).toBe("breach");
  expect(end.breach?.budget).toBe(budget);
  expect(end.accounting.identity_holds).toBe(true);
  expect(await waitGone(ids.progs, ids.links)).toEqual({ progs: [], links: [] });
}

describe("rate cap in the kernel", () => {
  kernelTest(
    "a storm 20x over the cap is delivered at the cap (±5%) and every call is accounted for",
    async () => {
      const out = join(tempDir(), "events.json");
      // 6 s of storm: the two partial 100 ms windows at its edges can add at most 2 × 500 events (+3.3 %).
      const t = trace(["opensnoop", "-o", "json", "-c", "open_storm", "--max-rate", "5000", "--max-cpu", "25", "--output-file", out, "-d", "9"]);
      await t.waitFor("attached");
      const s = await storm(6000, 100_000);
      expect(await t.exited).toBe(0);
      const a = endRecord(t).accounting;
      // Exact: the generator is static (no loader opens), so every openat it made is one event produced.
      expect(a.produced).toBe(s.calls);
      expect(a.produced).toBe(a.delivered + a.dropped_rate + a.dropped_ringbuf + a.sampled_out);
      expect(a.identity_holds).toBe(true);
      expect(a.dropped_ringbuf).toBe(0);
      expect(a.dropped_rate).toBeGreaterThan(0);
      expect(a.verdict).toBe("lossy");
      const deliveredRate = a.delivered / s.seconds;
      expect(Math.abs(deliveredRate - 5000) / 5000).toBeLessThanOrEqual(0.05);
      // Every delivered event reached the file.
      expect(readFileSync(out, "utf8").trim().split("\n").length).toBe(a.delivered);
    },
    30_000,
  );

  kernelTest("under the cap nothing is dropped and the verdict is complete", async () => {
    const t = trace(["opensnoop", "-o", "json", "-c", "open_storm", "--max-rate", "10k", "--output-file", join(tempDir(), "e.json"), "-d", "4"]);
    await t.waitFor("attached");
    const s = await storm(1500, 2000);
    expect(await t.exited).toBe(0);
    const a = endRecord(t).accounting;
    expect(a.produced).toBe(s.calls);
    expect(a.delivered).toBe(s.calls);
    expect(a.verdict).toBe("complete");
  }, 20_000);
});

describe("each budget breached on purpose", () => {
  kernelTest("max_duration", async () => {
    const t = trace(["execsnoop", "-o", "json", "--max-duration", "1s"]);
    await expectBreach(t, "max_duration");
  });

  kernelTest("max_output", async () => {
    const out = join(tempDir(), "out.json");
    const t = trace(["opensnoop", "-o", "json", "-c", "open_storm", "--max-output", "4KiB", "--output-file", out]);
    await t.waitFor("attached");
    await storm(300, 5000);
    await expectBreach(t, "max_output");
    expect(statSync(out).size).toBeLessThanOrEqual(4096);
    expect(statSync(out).size).toBeGreaterThan(3000); // whole lines up to the limit, not nothing
  });

  kernelTest("max_cpu", async () => {
    const t = trace(["opensnoop", "-o", "json", "-c", "open_storm", "--max-cpu", "1", "--output-file", join(tempDir(), "e.json")]);
    await t.waitFor("attached");
    const s = storm(6000);
    await expectBreach(t, "max_cpu");
    await s;
  }, 20_000);

  kernelTest("max_memory (at run time: the whole process plus map memory)", async () => {
    // Just above what the maps pin, so load passes; the process itself is resident in far more.
    const t = trace(["opensnoop", "-o", "json", "-c", "open_storm", "--max-rate", "100k", "--max-cpu", "25", "--max-memory", "4600KiB", "--output-file", join(tempDir(), "e.json")]);
    await t.waitFor("attached");
    const s = storm(6000, 90_000);
    await expectBreach(t, "max_memory");
    await s;
  }, 20_000);

  kernelTest("max_rate with a recipe that declares detach", async () => {
    const { ConfigRoot, newKey } = await import("../recipe/helpers");
    const root = new ConfigRoot();
    try {
      const key = newKey();
      root.trust(key);
      const object = new Uint8Array(readFileSync(join(repoRoot, "build/bpf/opensnoop.bpf.o")));
      const manifest = readFileSync(join(repoRoot, "recipes/opensnoop.yaml"), "utf8").replace("on_rate_breach: drop", "on_rate_breach: detach");
      root.installRecipe("opensnoop", object, key, { manifest });
      const env = isolatedEnv({ EBPFCTL_CONFIG_DIR: root.dir });
      const t = trace(["--recipe-file", join(root.dir, "recipes/opensnoop.yaml"), "-o", "json", "-c", "open_storm", "--max-rate", "1000", "--max-cpu", "25", "--output-file", join(tempDir(), "e.json")], env);
      await t.waitFor("attached");
      const s = storm(5000, 50_000);
      await expectBreach(t, "max_rate");
      await s;
    } finally {
      root.cleanup();
    }
  }, 20_000);
});

describe("refusals before anything is attached", () => {
  kernelTest("a memory cap below the recipe's need is refused before load", async () => {
    const before = new Set(allProgIds());
    const r = await ebpfctl(["trace", "opensnoop", "--max-memory", "64KiB"]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/opensnoop would pin [\d.]+ MiB of kernel memory in its maps, over --max-memory 64 KiB/);
    expect(newProgramsNamed(before, RECIPE_PROGRAMS)).toEqual([]);
  });

  const loosen: [string[], RegExp][] = [
    [["--max-rate", "1M"], /--max-rate 1\.0M\/s is above opensnoop's ceiling of 100k\/s/],
    [["--max-duration", "48h"], /--max-duration 48h is above opensnoop's ceiling of 24h/],
    [["--max-memory", "1GiB"], /--max-memory 1\.0 GiB is above opensnoop's ceiling of 256 MiB/],
    [["--max-cpu", "90"], /--max-cpu 90% is above opensnoop's ceiling of 50%/],
    [["--max-output", "1TiB"], /--max-output/],
    [["-d", "2d"], /-d\/--duration/],
    [["--max-rate", "fast"], /--max-rate: expected a count/],
  ];
  for (const [flags, msg] of loosen) {
    kernelTest(`flags that loosen past the ceiling are refused: ${flags.join(" ")}`, async () => {
      const r = await ebpfctl(["trace", "opensnoop", ...flags]);
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n")[0]).toMatch(msg);
    });
  }
});
