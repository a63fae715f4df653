// --output openmetrics against the real consumers: promtool (Debian's prometheus package) accepts
// the files runqlat (histogram) and syscount (counters) write, and a real prometheus-node-exporter
// on 127.0.0.1 with --collector.textfile.directory serves runqlat's histogram from /metrics while
// the session runs, cumulative across intervals (the second scrape never counts less).
import { afterAll, describe, expect } from "bun:test";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import type { Subprocess } from "bun";
import { kernelTest } from "../kernel/helpers";

const ROOT = join(import.meta.dir, "../..");
const EBPFCTL = join(ROOT, "dist/ebpfctl");
const children: Subprocess[] = [];
afterAll(() => {
  for (const c of children) c.kill("SIGKILL");
});

const promtool = (file: string) => Bun.spawnSync(["promtool", "check", "metrics"], { stdin: readFileSync(file), stdout: "pipe", stderr: "pipe" });

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(100);
  }
}

/** The count of the histogram's +Inf bucket and its _count, as node_exporter serves them. */
function histogram(metrics: string): { inf: number; count: number; buckets: number } {
  const inf = /^ebpfctl_runqlat_seconds_bucket\{le="\+Inf"\} (\d+)$/m.exec(metrics);
  const count = /^ebpfctl_runqlat_seconds_count (\d+)$/m.exec(metrics);
  return { inf: Number(inf?.[1] ?? NaN), count: Number(count?.[1] ?? NaN), buckets: (metrics.match(/^ebpfctl_runqlat_seconds_bucket\{/gm) ?? []).length };
}

describe("--output openmetrics", () => {
  kernelTest("runqlat's histogram through node_exporter's textfile collector while the session runs; promtool accepts it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebpfctl-om-"));
    const file = join(dir, "ebpfctl_runqlat.prom");
    const trace = Bun.spawn([EBPFCTL, "trace", "runqlat", "-o", "openmetrics", "--output-file", file, "-i", "1", "-d", "20"], {
      env: { ...process.env, EBPFCTL_AUDIT_LOG: join(dir, "audit.jsonl"), NO_COLOR: "1" },
      stdout: "pipe",
      stderr: "pipe",
    });
    children.push(trace);
    await waitFor("the first metrics file", () => existsSync(file));
    const port = 19_100 + (process.pid % 800);
    const exporter = Bun.spawn(["prometheus-node-exporter", `--web.listen-address=127.0.0.1:${port}`, "--collector.disable-defaults", "--collector.textfile", `--collector.textfile.directory=${dir}`], { stdout: "ignore", stderr: "pipe" });
    children.push(exporter);
    const scrape = async () => {
      try {
        return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      } catch {
        return "";
      }
    };
    await waitFor("node_exporter", async () => (await scrape()).includes("ebpfctl_runqlat_seconds_count"));
    const first = histogram(await scrape());
    await Bun.sleep(2500);
    const body = await scrape();
    const second = histogram(body);
    // Still running: the metrics came from a live session, not its last words.
    expect(trace.exitCode).toBeNull();
    expect(body).toMatch(/^node_textfile_scrape_error 0$/m);
    expect(first.count).toBeGreaterThan(0);
    expect(first.inf).toBe(first.count);
    expect(second.inf).toBe(second.count);
    expect(second.count).toBeGreaterThanOrEqual(first.count);
    expect(second.buckets).toBeGreaterThan(1);
    const check = promtool(file);
    expect(check.stderr.toString() + check.stdout.toString()).toBe("");
    expect(check.exitCode).toBe(0);
    trace.kill("SIGINT");
    expect(await trace.exited).toBe(0);
    console.log(`openmetrics: node_exporter served ${second.buckets} buckets, _count ${first.count} then ${second.count}`);
  }, 60_000);

  kernelTest("syscount's counters pass promtool", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebpfctl-om-"));
    const file = join(dir, "syscount.prom");
    const p = Bun.spawn([EBPFCTL, "trace", "syscount", "-o", "openmetrics", "--output-file", file, "-d", "2"], { env: { ...process.env, EBPFCTL_AUDIT_LOG: join(dir, "audit.jsonl") }, stdout: "pipe", stderr: "pipe" });
    expect(await p.exited).toBe(0);
    const text = readFileSync(file, "utf8");
    expect(text).toMatch(/^# TYPE ebpfctl_syscount_count_total counter$/m);
    expect(text).toMatch(/^ebpfctl_syscount_count_total\{syscall="[a-z_0-9]+"\} \d+$/m);
    const check = promtool(file);
    expect(check.exitCode).toBe(0);
  }, 30_000);
});
