// "Delivered means written": an event counts as delivered only once its whole line reached the
// output. Each way output can stop early (the output budget, a reader that closes, a full disk)
// is run for real, against ground truth the test makes: open_storm makes exactly N openat() calls,
// and the lines in the output are counted by the test, not by ebpfctl.
import { beforeAll, describe, expect } from "bun:test";
import { copyFileSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { kernelTest } from "../kernel/helpers";
import { assertBuilt, EBPFCTL, FIXTURES, isolatedEnv, tempDir, trace, TraceProcess } from "../helpers/trace";
import type { Accounting } from "../../src/budget/accounting";
import { ExitCode } from "../../src/errors";

// The storm under a name of its own: another session's open_storm on a shared host is not ours.
const COMM = `ost${process.pid % 100000}`;
const STORM = join(tempDir(), COMM);
beforeAll(() => {
  assertBuilt();
  copyFileSync(join(FIXTURES, "open_storm"), STORM);
  Bun.spawnSync(["chmod", "755", STORM]);
});

/** Exactly n openat() calls (each one opensnoop event when filtered by -c COMM). */
async function storm(n: number): Promise<void> {
  const p = Bun.spawn([STORM, String(n), "/nonexistent/ebpfctl-accounting"], { stdout: "pipe" });
  const out = await new Response(p.stdout).text();
  expect(await p.exited).toBe(0);
  expect(Number(out.trim().split(" ")[0])).toBe(n);
}

function endOf(t: TraceProcess): { reason: string; exit_code: number; accounting: Accounting } {
  const r = t.records().find((x) => x.kind === "end");
  if (!r) throw new Error(`no end record; stderr:\n${t.stderr}`);
  return r as never;
}

/** Whole JSON event lines in a text; throws on a partial or broken line. */
function wholeJsonLines(text: string): number {
  if (text.length) expect(text.endsWith("\n")).toBe(true);
  const lines = text.split("\n").filter(Boolean);
  for (const l of lines) JSON.parse(l);
  return lines.length;
}

function expectAccountedFor(a: Accounting, produced: number): void {
  expect(a.produced).toBe(produced);
  expect(a.identity_holds).toBe(true);
  expect(a.delivered + a.dropped_rate + a.dropped_ringbuf + a.sampled_out + a.dropped_output_budget + a.dropped_reader_closed + a.dropped_write_error).toBe(produced);
}

const N = 3000;

describe("delivered means written", () => {
  kernelTest("--max-output 2KiB: delivered = the lines in the file, the rest counted as over the output budget, verdict truncated", async () => {
    const out = join(tempDir(), "out.json");
    const t = trace(["opensnoop", "-o", "json", "-c", COMM, "--max-output", "2KiB", "--output-file", out]);
    await t.waitFor("attached");
    await storm(N);
    expect(await t.exited).toBe(ExitCode.BUDGET_BREACH);
    const written = wholeJsonLines(readFileSync(out, "utf8"));
    expect(written).toBeGreaterThan(0);
    const a = endOf(t).accounting;
    expect(a.delivered).toBe(written);
    expect(a.dropped_output_budget).toBeGreaterThan(0);
    // The trace ends at the breach: what the kernel made before it is accounted for, and no more.
    expect(a.produced).toBeLessThanOrEqual(N);
    expectAccountedFor(a, a.produced);
    expect(a.verdict).toBe("truncated");
  }, 30_000);

  kernelTest("| head -1: delivered = the lines that reached the pipe, the rest counted as reader closed, exit 0, verdict truncated", async () => {
    const dir = tempDir();
    const head = join(dir, "head.out");
    const t = new TraceProcess(["-c", `'${EBPFCTL}' trace opensnoop -o json -c ${COMM} -d 15 | head -1 > '${head}'`], isolatedEnv(), { bin: "sh" });
    await t.waitFor("attached");
    // Enough events to fill the pipe after head has gone: the writes after it fail with EPIPE.
    await storm(N);
    expect(await t.exited).toBe(0);
    expect(wholeJsonLines(readFileSync(head, "utf8"))).toBe(1);
    const end = endOf(t);
    expect(end.reason).toBe("output-closed");
    const a = end.accounting;
    expectAccountedFor(a, N);
    expect(a.dropped_reader_closed).toBeGreaterThan(0);
    expect(a.delivered).toBeGreaterThanOrEqual(1);
    expect(a.verdict).toBe("truncated");
  }, 30_000);

  kernelTest("a full filesystem (64 KiB tmpfs): exit 13 (E0041), the file ends at a whole line, the rest counted as write errors", async () => {
    const mnt = join(tempDir(), "small");
    mkdirSync(mnt);
    const m = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt], { stderr: "pipe" });
    if (m.exitCode !== 0) throw new Error(`cannot mount a tmpfs: ${m.stderr}`);
    try {
      const out = join(mnt, "out.json");
      const t = trace(["opensnoop", "-o", "json", "-c", COMM, "--output-file", out]);
      await t.waitFor("attached");
      await storm(N); // ~200 bytes a line: ~600 KB, ten times what the filesystem holds
      expect(await t.exited).toBe(ExitCode.OUTPUT_WRITE);
      expect(t.stderr).toContain("EBPFCTL-E0041");
      expect(t.stderr).toContain("ENOSPC");
      expect(t.stderr).not.toContain("E0000");
      const written = wholeJsonLines(readFileSync(out, "utf8"));
      expect(written).toBeGreaterThan(100);
      const end = endOf(t);
      expect(end.exit_code).toBe(ExitCode.OUTPUT_WRITE);
      const a = end.accounting;
      expect(a.delivered).toBe(written);
      expect(a.dropped_write_error).toBeGreaterThan(0);
      expectAccountedFor(a, N);
      expect(a.verdict).toBe("truncated");
    } finally {
      Bun.spawnSync(["umount", mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  }, 30_000);

  kernelTest("an aggregate whose final snapshot does not fit --max-output: nothing counted delivered, the breach said, verdict truncated", async () => {
    const out = join(tempDir(), "out.json");
    const t = trace(["syscount", "-o", "json", "-c", COMM, "-d", "2", "--max-output", "64B", "--output-file", out]);
    await t.waitFor("attached");
    await storm(N);
    expect(await t.exited).toBe(ExitCode.BUDGET_BREACH);
    expect(readFileSync(out, "utf8")).toBe(""); // the one JSON table line is longer than 64 bytes
    expect(t.records().find((x) => x.kind === "budget_breach")).toMatchObject({ budget: "max_output", limit: 64 });
    const a = endOf(t).accounting;
    expect(a.produced).toBeGreaterThanOrEqual(N);
    expect(a.delivered).toBe(0);
    expect(a.dropped_output_budget).toBe(a.produced);
    expectAccountedFor(a, a.produced);
    expect(a.verdict).toBe("truncated");
  }, 30_000);
});
