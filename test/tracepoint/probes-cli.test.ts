// `ebpfctl probes` through the real CLI, against tracefs itself as the ground truth.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "../..");
const TRACEFS = "/sys/kernel/tracing";
const haveTracefs = existsSync(`${TRACEFS}/events/sched`);

function probes(args: string[]) {
  const r = Bun.spawnSync([join(ROOT, "node_modules/.bin/bun"), join(ROOT, "src/cli/main.ts"), "probes", ...args], { env: { ...process.env, NO_COLOR: "1" }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe("ebpfctl probes", () => {
  test.skipIf(!haveTracefs)("'sched:*' lists exactly tracefs's events/sched directories", () => {
    const want = readdirSync(`${TRACEFS}/events/sched`, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(`${TRACEFS}/events/sched/${d.name}/format`))
      .map((d) => `tracepoint:sched:${d.name}`)
      .sort();
    const r = probes(["sched:*"]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(want);
  });

  test.skipIf(!haveTracefs)("-v syscalls:sys_exit_read: each field with the format file's offset, size and signedness", () => {
    const r = probes(["-v", "syscalls:sys_exit_read", "--output", "json"]);
    expect(r.code).toBe(0);
    const rec = JSON.parse(r.stdout) as { probe: string; fields: { name: string; offset: number; size: number; signed: boolean }[] };
    expect(rec.probe).toBe("tracepoint:syscalls:sys_exit_read");
    const text = readFileSync(`${TRACEFS}/events/syscalls/sys_exit_read/format`, "utf8");
    const ret = /field:long ret;\toffset:(\d+);\tsize:(\d+);\tsigned:(\d)/.exec(text)!;
    expect(rec.fields.find((f) => f.name === "ret")).toMatchObject({ offset: Number(ret[1]), size: Number(ret[2]), signed: ret[3] === "1" });
    const table = probes(["-v", "sched:sched_process_exec"]);
    expect(table.stdout).toMatch(/BTF trace_event_raw_sched_process_exec agrees on 3 fields/);
    expect(table.stdout).toMatch(/filename .*__data_loc char\[\] .* 8 .* 4 .* no .* data_loc_str/);
  });

  test.skipIf(!haveTracefs)("a bad name and an unknown tracepoint: one error line each, exit 2", () => {
    for (const [arg, msg] of [["sch$d:*", /is not a tracepoint name: .*\[EBPFCTL-E1101\]/], ["sched:no_such", /no tracepoint sched:no_such on this kernel \[EBPFCTL-E1102\]/], ["../../etc:passwd", /is not a tracepoint name/]] as const) {
      const r = probes([arg]);
      expect(r.code).toBe(2);
      expect(r.stderr.split("\n").filter((l) => l.startsWith("error:")).length).toBe(1);
      expect(r.stderr).toMatch(msg);
    }
  });
});
