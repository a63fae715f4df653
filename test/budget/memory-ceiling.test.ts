// opensnoop at its own rate ceiling (--max-rate 100k, its manifest's ceiling) under a real open
// storm paced above it (150k opens/s, build/fixtures/open_storm): the session must not breach its
// default 96 MiB memory budget, and the peak RSS it reports must be the real one: at least the
// VmHWM this test reads itself from /proc/PID/status of the ebpfctl process while it runs.
// The budget holds the whole process from attach (issue 20, part 2): its VmRSS while the storm
// runs, the ring's twice-mapped pages counted once, must stay within it. (The default was 64 MiB;
// on CI, 2026-12-02, this run reached 67.9 and 70.4 MB, twice in two runs.) With the budget
// counting the whole process and the consumer as it was (GC every 4 batches, no shedding of the
// runtime's code pages under load) the same run breached at 68-70 MB.
// Before the consumer drained the ring in bounded batches, this run held every line of an
// ever-refilled ring in memory and breached in 3 of 3 runs (214-296 MB RSS).
import { expect } from "bun:test";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { kernelTest } from "../kernel/helpers";
import { EBPFCTL, FIXTURES, isolatedEnv, tempDir } from "../helpers/trace";

const statusKb = (pid: number, field: "VmHWM" | "VmRSS"): number => {
  try {
    return Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
  } catch {
    return 0;
  }
};
const hwmKb = (pid: number) => statusKb(pid, "VmHWM");

kernelTest("opensnoop --max-rate 100k under a 150k/s open storm: no memory breach, peak_rss is the process's real VmHWM", async () => {
  const dir = tempDir();
  // A storm under a name of its own, so the recipe's comm filter sees only this test's calls.
  const storm = join(dir, "memstorm");
  copyFileSync(join(FIXTURES, "open_storm"), storm);
  const p = Bun.spawn([EBPFCTL, "trace", "opensnoop", "-c", "memstorm", "--max-rate", "100k", "--max-cpu", "50", "-o", "json", "--output-file", join(dir, "out.json"), "--status-interval", "0", "-d", "5"], {
    stdin: "ignore", stdout: "ignore", stderr: "pipe", env: isolatedEnv(),
  });
  const stderr = new Response(p.stderr).text();
  let hwm = 0;
  const sampler = setInterval(() => (hwm = Math.max(hwm, hwmKb(p.pid))), 20);
  await Bun.sleep(1500); // attached well before this (exec → attached is ~0.1 s)
  // The budget holds the whole process from attach on (issue 20): its resident set while the storm runs.
  let rss = 0;
  const rssSampler = setInterval(() => (rss = Math.max(rss, statusKb(p.pid, "VmRSS"))), 10);
  const s = Bun.spawn([storm, "--for", "3000"], { env: { ...process.env, OPEN_STORM_RATE: "150000" }, stdout: "pipe" });
  const calls = Number((await new Response(s.stdout).text()).split(" ")[0]);
  clearInterval(rssSampler);
  // The ring's data pages are mapped twice (wrap-around): /proc/PID/maps shows the read-only
  // producer mapping, one page + 2 × the ring. Physically they are there once.
  let ring = 0;
  try {
    for (const l of readFileSync(`/proc/${p.pid}/maps`, "utf8").split("\n")) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) r--s .*anon_inode:bpf-map/.exec(l);
      if (m) ring = Math.max(ring, (Number(BigInt("0x" + m[2]) - BigInt("0x" + m[1])) - 4096) / 2);
    }
  } catch {
    /* exited early: the assertions below say so */
  }
  await p.exited;
  clearInterval(sampler);
  const end = JSON.parse((await stderr).split("\n").find((l) => l.includes('"kind":"end"'))!);
  expect(calls).toBeGreaterThan(100_000);
  expect(end.breach?.budget).not.toBe("max_memory");
  expect(end.reason).toBe("completed");
  expect(end.accounting.produced).toBeGreaterThan(100_000);
  // peak_rss is read when the session accounts; the end record and audit writes after it may add a little.
  expect(end.accounting.peak_rss).toBeGreaterThanOrEqual(hwm * 1024 - (2 << 20));
  // The whole process (its ring counted once), not growth since attach, stays inside the 96 MiB default while the storm runs.
  expect(ring).toBeGreaterThan(0);
  expect(rss * 1024 - ring).toBeLessThanOrEqual(96 * 2 ** 20);
  console.log(`storm ${calls} calls; ebpfctl VmRSS during the storm ≤ ${(rss / 1024).toFixed(1)} MiB (ring ${ring / 2 ** 20} MiB mapped twice), VmHWM (start-up included) ${(hwm / 1024).toFixed(1)} MiB, reported peak_rss ${(end.accounting.peak_rss / 2 ** 20).toFixed(1)} MiB, delivered ${end.accounting.delivered}/${end.accounting.produced}, cpu ${end.accounting.cpu_percent} %`);
}, 30_000);

kernelTest("max_memory holds the whole process, not growth since attach: an idle session over it breaches", async () => {
  const dir = tempDir();
  // 24 MiB: above what opensnoop's maps pin (~4.3 MiB), below what any Bun process is resident in.
  const p = Bun.spawn([EBPFCTL, "trace", "opensnoop", "-c", "nothing-runs", "--max-memory", "24MiB", "-o", "json", "--output-file", join(dir, "out.json"), "--status-interval", "0", "-d", "5"], {
    stdin: "ignore", stdout: "ignore", stderr: "pipe", env: isolatedEnv(),
  });
  const stderr = new Response(p.stderr).text();
  let rss = 0;
  const sampler = setInterval(() => (rss = Math.max(rss, statusKb(p.pid, "VmRSS"))), 20);
  await p.exited;
  clearInterval(sampler);
  const end = JSON.parse((await stderr).split("\n").find((l) => l.includes('"kind":"end"'))!);
  // Ground truth: the process was resident in more than the budget the whole time (read here).
  expect(rss * 1024).toBeGreaterThan(24 * 2 ** 20);
  expect(end.reason).toBe("breach");
  expect(end.breach.budget).toBe("max_memory");
  expect(end.breach.observed).toBeGreaterThan(24 * 2 ** 20);
  // What it counted is the resident set (its ring counted once), not more than the process ever had.
  expect(end.breach.observed).toBeLessThanOrEqual(end.accounting.peak_rss + (1 << 20));
}, 30_000);
