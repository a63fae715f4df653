import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { Cli } from "clipanion";
import { DoctorCommand, type DoctorReport } from "../../src/cli/doctor";
import { resetFeatureCache } from "../../src/kernel/features";
import { kernelTest } from "./helpers";

const root = join(import.meta.dir, "../..");
const bun = join(root, "node_modules/.bin/bun");

function cli(args: string[], env: Record<string, string> = {}) {
  const p = Bun.spawnSync([bun, "src/cli/main.ts", ...args], { cwd: root, env: { ...process.env, NO_COLOR: "1", EBPFCTL_MASK_FEATURES: "", ...env } });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

/** Runs the command in-process (clipanion, captured streams). */
async function inProcess(args: string[]): Promise<{ code: number; out: string }> {
  const c = new Cli({ binaryName: "ebpfctl" });
  c.register(DoctorCommand);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  stdout.on("data", (d) => (out += d));
  stderr.on("data", (d) => (out += d));
  const code = await c.run(args, { ...Cli.defaultContext, stdout, stderr });
  return { code, out };
}

describe("ebpfctl doctor", () => {
  test("build/embedded.ts exists (run bash scripts/build first)", () => {
    expect(existsSync(join(root, "build/embedded.ts"))).toBe(true);
  });

  kernelTest("--output json through the real CLI: facts, features with evidence, recipe profiles", () => {
    const runDir = mkdtempSync(join(tmpdir(), "ebpfctl-doctor-"));
    try {
      const r = cli(["doctor", "--output", "json"], { EBPFCTL_RUN_DIR: runDir });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout) as DoctorReport;
      expect(report.facts.release).toBe(require("node:os").release());
      expect(report.facts.btf.vmlinux).toBe(true);
      expect(report.features.features.kprobe).toMatchObject({ status: "no" });
      expect(report.features.features.fentry).toMatchObject({ status: "no" });
      expect(report.features.features.tracepoint).toMatchObject({ status: "yes" });
      expect(report.features.features.ringbuf).toMatchObject({ status: "yes" });
      const names = report.recipes.map((x) => x.recipe);
      expect(names).toContain("execsnoop");
      const profile = (name: string) => {
        const rec = report.recipes.find((x) => x.recipe === name);
        return rec && !("error" in rec) ? rec.profile : undefined;
      };
      for (const rec of report.recipes) expect("error" in rec).toBe(false);
      // Tracepoint-only recipes run in full; none is disabled on this kernel.
      expect(profile("execsnoop")).toBe("full");
      expect(profile("opensnoop")).toBe("full");
      for (const rec of report.recipes) if (!("error" in rec)) expect(rec.profile).not.toBe("disabled");
      // tcpconnect prefers fentry/kprobe, which this kernel refuses: it runs reduced on its tracepoint.
      expect(profile("tcpconnect")).toBe("reduced");
      // A second run in the same run dir reads the per-boot cache.
      const again = JSON.parse(cli(["doctor", "--output", "json"], { EBPFCTL_RUN_DIR: runDir }).stdout) as DoctorReport;
      expect(again.features.source).toBe("cache");
      expect(again.features.features).toEqual(report.features.features);
    } finally {
      rmSync(runDir, { recursive: true, force: true });
    }
  });

  kernelTest("EBPFCTL_MASK_FEATURES=tracepoint disables the tracepoint recipes, saying why", () => {
    const r = cli(["doctor", "--output", "json"], { EBPFCTL_MASK_FEATURES: "tracepoint" });
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as DoctorReport;
    expect(report.features.masked).toEqual(["tracepoint"]);
    const exec = report.recipes.find((x) => x.recipe === "execsnoop")!;
    expect("error" in exec).toBe(false);
    if ("error" in exec) return;
    expect(exec.profile).toBe("disabled");
    expect(exec.probes.every((p) => p.chosen === null)).toBe(true);
    expect(exec.reasons[0]).toContain("masked by EBPFCTL_MASK_FEATURES");
  });

  kernelTest("table output: kernel facts, the features table and each recipe's profile", async () => {
    resetFeatureCache();
    const prev = process.env.EBPFCTL_MASK_FEATURES;
    process.env.EBPFCTL_MASK_FEATURES = "kprobe";
    try {
      const { code, out } = await inProcess(["doctor"]);
      expect(code).toBe(0);
      expect(out).toContain("lockdown");
      expect(out).toMatch(/kprobe\s+│ program │ no\s+│ masked by EBPFCTL_MASK_FEATURES/);
      expect(out).toMatch(/tracepoint\s+│ program │ yes/);
      expect(out).toMatch(/execsnoop\s+full/);
      expect(out).not.toContain("\x1b["); // not a TTY: no colour
    } finally {
      if (prev === undefined) delete process.env.EBPFCTL_MASK_FEATURES;
      else process.env.EBPFCTL_MASK_FEATURES = prev;
    }
  });

  test("--output other than table/json is a usage error", async () => {
    const { code, out } = await inProcess(["doctor", "--output", "yaml"]);
    expect(code).toBe(2);
    expect(out).toContain("EBPFCTL-E0001");
  });
});
