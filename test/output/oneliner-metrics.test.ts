// -o openmetrics for one-liners against ground truth the fixtures make (an exact syscall count,
// reads of known sizes) and against promtool (Debian's prometheus package), which must accept
// every file; with --interval the map is drained in the kernel at each snapshot, so the file must
// add the intervals up.
import { describe, expect } from "bun:test";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES, recipeTest, run, traceDuring, useFixtures } from "../trace/trace-helpers";

useFixtures();

const promtool = (file: string) => Bun.spawnSync(["promtool", "check", "metrics"], { stdin: readFileSync(file), stdout: "pipe", stderr: "pipe" });

/** Every sample line "name{labels} value" of the file. */
function samples(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const l of text.split("\n")) {
    const x = /^([a-z_]+(?:\{[^}]*\})?) (-?\d+)$/.exec(l);
    if (x) m.set(x[1]!, x[2]!);
  }
  return m;
}

async function metricsOf(prog: string, workload: () => Promise<unknown>, extra: string[] = []): Promise<{ text: string; file: string; code: number; stderr: string }> {
  const file = join(mkdtempSync(join(tmpdir(), "ebpfctl-om-oneliner-")), "oneliner.prom");
  const r = await traceDuring(["-e", prog, "-o", "openmetrics", "--output-file", file, ...extra], workload, { json: false });
  return { text: readFileSync(file, "utf8"), file, code: r.code, stderr: r.stderr };
}

describe("ebpfctl trace -e … -o openmetrics", () => {
  recipeTest("count(): a counter with the exact syscall count, promtool accepts it", async () => {
    const N = 12_345;
    const m = await metricsOf('tracepoint:syscalls:sys_enter_getppid /comm == "syscall_storm"/ { @calls[comm] = count(); }', () => run([`${FIXTURES}/syscall_storm`, String(N)]));
    expect(m.code).toBe(0);
    expect(m.text).toMatch(/^# TYPE ebpfctl_oneliner_calls_total counter$/m);
    expect(samples(m.text).get('ebpfctl_oneliner_calls_total{comm="syscall_storm"}')).toBe(String(N));
    const check = promtool(m.file);
    expect(check.stderr.toString()).toBe("");
    expect(check.exitCode).toBe(0);
  }, 60_000);

  recipeTest("hist(): cumulative buckets, _sum and _count exact for reads of known sizes", async () => {
    const work = ["0:3", "1:5", "3:7", "100:11", "4096:13"];
    const m = await metricsOf('tracepoint:syscalls:sys_exit_read /comm == "read_storm"/ { @bytes = hist(args.ret); }', () => run([`${FIXTURES}/read_storm`, ...work]));
    expect(m.code).toBe(0);
    const s = samples(m.text);
    // [0] → le 0, [1] → le 1, [2,4) → le 3, [64,128) → le 127, [4K,8K) → le 8191: cumulative.
    expect(s.get('ebpfctl_oneliner_bytes_bucket{le="0"}')).toBe("3");
    expect(s.get('ebpfctl_oneliner_bytes_bucket{le="1"}')).toBe("8");
    expect(s.get('ebpfctl_oneliner_bytes_bucket{le="3"}')).toBe("15");
    expect(s.get('ebpfctl_oneliner_bytes_bucket{le="127"}')).toBe("26");
    expect(s.get('ebpfctl_oneliner_bytes_bucket{le="8191"}')).toBe("39");
    expect(s.get('ebpfctl_oneliner_bytes_bucket{le="+Inf"}')).toBe("39");
    expect(s.get("ebpfctl_oneliner_bytes_count")).toBe("39");
    expect(s.get("ebpfctl_oneliner_bytes_sum")).toBe(String(0 * 3 + 1 * 5 + 3 * 7 + 100 * 11 + 4096 * 13));
    expect(promtool(m.file).exitCode).toBe(0);
  }, 60_000);

  recipeTest("with --interval the drained intervals add up: two workloads in two intervals give their sum", async () => {
    const m = await metricsOf('tracepoint:syscalls:sys_enter_getppid /comm == "syscall_storm"/ { @[comm] = count(); }', async () => {
      await run([`${FIXTURES}/syscall_storm`, "3000"]);
      await Bun.sleep(2_300);
      await run([`${FIXTURES}/syscall_storm`, "4000"]);
    }, ["-i", "1"]);
    expect(m.code).toBe(0);
    expect(samples(m.text).get('ebpfctl_oneliner_total{comm="syscall_storm"}')).toBe("7000");
    expect(promtool(m.file).exitCode).toBe(0);
  }, 60_000);
});
