// The libbpf-tools habits, against ground truth the test makes: execsnoop -x shows the exec()
// the test made fail and not the one that succeeded; --cgroup and --unit keep the exec() of a
// process the test moved into its own cgroup v2 directory and drop the same exec() from outside
// it (filtered in the kernel by cgroup id); -T prints the wall-clock time the test observed.
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import { cgroup2Mount } from "../../src/kernel/cgroup";
import { recipeTest, traceDuring, useFixtures } from "./trace-helpers";

useFixtures();

type Ev = { kind?: string; pid: number; ret: number; args: string[]; comm: string };
const events = (records: Record<string, unknown>[]) => records.filter((r) => r.kind === "event") as unknown as Ev[];

describe("execsnoop -x", () => {
  recipeTest("only the failed exec() is shown, with its errno", async () => {
    const marker = `ebpfctl-x-${process.pid}`;
    let okPid = 0;
    let failPid = 0;
    const r = await traceDuring(["execsnoop", "-x"], async () => {
      const ok = Bun.spawn(["sh", "-c", `exec /bin/true ${marker}`]);
      okPid = ok.pid;
      expect(await ok.exited).toBe(0);
      const fail = Bun.spawn(["sh", "-c", `exec /nonexistent/${marker} 2>/dev/null`]);
      failPid = fail.pid;
      expect(await fail.exited).toBe(127);
    });
    expect(r.code).toBe(0);
    const mine = events(r.records).filter((e) => e.pid === okPid || e.pid === failPid);
    // sh itself was exec'd successfully by Bun.spawn (not shown), then exec'd the target.
    expect(mine.filter((e) => e.pid === okPid)).toEqual([]);
    const failed = mine.filter((e) => e.pid === failPid && e.args.some((a) => a.includes(marker)));
    expect(failed.length).toBe(1);
    expect(failed[0]!.ret).toBe(-2);
    expect(events(r.records).every((e) => e.ret < 0)).toBe(true);
  });
});

describe("--cgroup and --unit", () => {
  const mount = cgroup2Mount();
  const dir = mount ? `${mount}/ebpfctl-test-${process.pid}` : "";
  const unitName = `ebpfctl-test-${process.pid}.service`;
  const unitDir = mount ? `${mount}/system.slice/${unitName}` : "";
  let madeSlice = false;
  beforeAll(() => {
    if (!mount) return;
    mkdirSync(dir, { recursive: true });
    if (!existsSync(`${mount}/system.slice`)) {
      mkdirSync(`${mount}/system.slice`);
      madeSlice = true;
    }
    mkdirSync(unitDir, { recursive: true });
  });
  afterAll(() => {
    // A cgroup directory can be removed once its processes are gone.
    for (const d of [dir, unitDir, ...(madeSlice ? [`${mount}/system.slice`] : [])]) {
      try {
        if (d) rmdirSync(d);
      } catch {
        /* still populated for a moment: the kernel removes it when the last task exits */
      }
    }
  });

  /** exec() the marker from inside the cgroup (the shell moves itself in first) and from outside it. */
  async function execInAndOut(cg: string, marker: string): Promise<{ inside: number; outside: number }> {
    const inside = Bun.spawn(["sh", "-c", `echo $$ > ${cg}/cgroup.procs && exec /bin/true ${marker}`]);
    expect(await inside.exited).toBe(0);
    const outside = Bun.spawn(["sh", "-c", `exec /bin/true ${marker}`]);
    expect(await outside.exited).toBe(0);
    return { inside: inside.pid, outside: outside.pid };
  }

  for (const how of ["--cgroup", "--unit"] as const) {
    recipeTest(`${how}: the exec() inside the cgroup is kept, the same exec() outside is not`, async () => {
      if (!mount) throw new Error("no cgroup2 mount on this host");
      const marker = `ebpfctl-cg-${how.slice(2)}-${process.pid}`;
      let pids = { inside: 0, outside: 0 };
      const r = await traceDuring(["execsnoop", how, how === "--cgroup" ? dir : unitName], async () => {
        pids = await execInAndOut(how === "--cgroup" ? dir : unitDir, marker);
      });
      expect(r.code).toBe(0);
      const evs = events(r.records).filter((e) => e.args.includes(marker));
      expect(evs.map((e) => e.pid)).toEqual([pids.inside]);
      // Nothing outside the cgroup at all (this test's own shells included).
      expect(events(r.records).every((e) => e.pid !== pids.outside)).toBe(true);
    });
  }
});

describe("-T", () => {
  recipeTest("a TIME column with the wall-clock time of the exec(), to the millisecond", async () => {
    const marker = `ebpfctl-T-${process.pid}`;
    let before = 0;
    let after = 0;
    const r = await traceDuring(["execsnoop", "-T", "-c", "true"], async () => {
      before = Date.now();
      const p = Bun.spawn(["/bin/true", marker]);
      await p.exited;
      after = Date.now();
    }, { json: false });
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^TIME\s+PCOMM\s+PID/);
    const row = lines.find((l) => l.includes(marker));
    expect(row).toBeDefined();
    const time = /^(\d\d):(\d\d):(\d\d)\.(\d{3}) /.exec(row!);
    expect(time).not.toBeNull();
    const [, h, m, s, ms] = time!.map(Number);
    const dayMs = (((h! * 60 + m!) * 60 + s!) * 1000 + ms!);
    const inDay = (t: number) => t % 86_400_000;
    // The exec happened between the two readings (allow 5 ms of clock conversion).
    expect(dayMs).toBeGreaterThanOrEqual(inDay(before) - 5);
    expect(dayMs).toBeLessThanOrEqual(inDay(after) + 5);
  });
});
