// `ebpfctl verify` on the running kernel: every alternative the kernel supports loads alone
// (never attached) and matches the committed baseline bpf/verifier-baseline/<uname -r>.json;
// the gate fails (exit 11, EBPFCTL-E0701) and names the change when acceptance, the chosen
// variant or verified_insns (past --threshold) differ. Needs root and a BTF kernel; under CI=true
// a missing precondition (or a missing baseline for this kernel) fails instead of skipping.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { compareWithBaseline, toBaseline, type VerifyReport } from "../../src/verifier/verify";
import { kernelTest } from "../kernel/helpers";

const ROOT = join(import.meta.dir, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const BASELINE = join(ROOT, "bpf/verifier-baseline", `${release()}.json`);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ebpfctl-verify-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cli(args: string[]) {
  const p = Bun.spawnSync([BUN, "src/cli/main.ts", ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: "1", EBPFCTL_MASK_FEATURES: "", EBPFCTL_RUN_DIR: dir } });
  return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
}

const embedded = (): { name: string; manifest: string }[] => require("../../build/embedded").EMBEDDED_RECIPES;

describe("ebpfctl verify (running kernel)", () => {
  test(`a committed baseline exists for this kernel (${release()})`, () => {
    if (!existsSync(BASELINE) && process.env.CI !== "true") return; // locally: another kernel, nothing to compare
    expect(existsSync(BASELINE)).toBe(true);
  });

  kernelTest("loads every supported alternative alone and reports verdict, verified_insns and load time", () => {
    const r = cli(["verify", "--output", "json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout) as VerifyReport;
    expect(rep.kernel).toBe(release());
    expect(rep.recipes.map((x) => x.recipe).sort()).toEqual(embedded().map((e) => e.name).sort());
    const alts = rep.recipes.flatMap((x) => x.probes.flatMap((p) => p.alternatives));
    expect(alts.length).toBe(rep.totals.accepted + rep.totals.rejected + rep.totals.unsupported);
    for (const a of alts) {
      if (a.status === "accepted") {
        expect(a.verified_insns).toBeGreaterThan(0);
        expect(a.load_ms).toBeGreaterThan(0);
      } else if (a.status === "unsupported") {
        // not loaded: evidence from the feature probe, no verdict
        expect(a.evidence).toStartWith(`${a.feature}: `);
        expect(a.verified_insns).toBeUndefined();
        expect(a.load_ms).toBeUndefined();
        expect(rep.features[a.feature]).not.toBe("yes");
      } else {
        expect(a.reason!.length).toBeGreaterThan(0);
      }
    }
    // Every probe records the alternative `trace` would choose here, and it is a supported one.
    for (const rec of rep.recipes) for (const p of rec.probes) if (p.chosen) expect(p.alternatives.find((a) => a.program === p.chosen)!.status).not.toBe("unsupported");
  });

  kernelTest("matches the committed baseline for this kernel (the CI gate)", () => {
    if (!existsSync(BASELINE)) throw new Error(`no baseline ${BASELINE}: write it with ebpfctl verify --write-baseline`);
    const r = cli(["verify", "--baseline", BASELINE, "--output", "json"]);
    const out = JSON.parse(r.stdout);
    expect(out.baseline.changes.filter((c: { fails: boolean }) => c.fails)).toEqual([]);
    expect(r.code).toBe(0);
    expect(out.baseline.ok).toBe(true);
    // The table form says so too.
    const t = cli(["verify", "--baseline", BASELINE, "--recipe", "tcpconnect"]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain("no changes");
  });

  kernelTest("fails with exit 11 and names each change when acceptance, choice or verified_insns differ", () => {
    if (!existsSync(BASELINE)) throw new Error(`no baseline ${BASELINE}`);
    const base = JSON.parse(readFileSync(BASELINE, "utf8")) as VerifyReport;
    const rec = base.recipes.find((r) => r.recipe === "execsnoop")!;
    const enter = rec.probes[0]!.alternatives[0]!;
    const exit = rec.probes[1]!.alternatives[0]!;
    enter.status = "rejected"; // was accepted: an acceptance change
    delete enter.verified_insns;
    exit.verified_insns = Math.floor(exit.verified_insns! / 2); // now ~+100 %: past the 10 % threshold
    const tampered = join(dir, "tampered.json");
    writeFileSync(tampered, JSON.stringify(base));
    const r = cli(["verify", "--baseline", tampered, "--recipe", "execsnoop"]);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain("[EBPFCTL-E0701]");
    expect(r.stderr).toContain(`execsnoop/execve_enter/${enter.program}: rejected -> accepted`);
    expect(r.stderr).toContain(`execsnoop/execve_exit/${exit.program}: ${exit.verified_insns} verified insns ->`);
    expect(r.stdout).toMatch(/FAIL acceptance/);
    expect(r.stdout).toMatch(/FAIL insns/);
    // A threshold above the growth lets the insns change pass (the acceptance change still fails).
    const loose = cli(["verify", "--baseline", tampered, "--recipe", "execsnoop", "--threshold", "500", "--output", "json"]);
    expect(loose.code).toBe(11);
    const kinds = JSON.parse(loose.stdout).baseline.changes.map((c: { kind: string; fails: boolean }) => `${c.kind}:${c.fails}`);
    expect(kinds.sort()).toEqual(["acceptance:true", "insns:false"]);
  });

  kernelTest("--write-baseline writes a baseline without timings that the next run matches", () => {
    const file = join(dir, "written.json");
    const w = cli(["verify", "--recipe", "opensnoop", "--recipe", "tcpconnect", "--write-baseline", file, "--output", "json"]);
    expect(w.code).toBe(0);
    expect(w.stderr).toContain(`wrote baseline ${file}`);
    const text = readFileSync(file, "utf8");
    expect(text).not.toContain("load_ms\": 1");
    expect(text).not.toContain("log_file");
    const again = cli(["verify", "--recipe", "opensnoop", "--recipe", "tcpconnect", "--baseline", file, "--output", "json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).baseline.changes).toEqual([]);
  });

  test("a missing or malformed baseline is an error before anything loads (exit 11, EBPFCTL-E0702)", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{\"not\": \"a baseline\"}");
    for (const f of [join(dir, "nope.json"), bad]) {
      const r = cli(["verify", "--baseline", f]);
      expect(r.code).toBe(11);
      expect(r.stderr).toContain("[EBPFCTL-E0702]");
      expect(r.stdout).toBe("");
    }
  });
});

describe("compareWithBaseline", () => {
  const report = (insns: number, status: "accepted" | "rejected" | "unsupported" = "accepted", chosen = "p_a"): VerifyReport => ({
    schema: 1, kernel: "k", arch: "x86_64", lockdown: "none", ebpfctl: "0", features: {},
    totals: { accepted: 0, rejected: 0, unsupported: 0, load_ms: 0 },
    recipes: [{ recipe: "r", version: "1.0.0", object_sha256: "", profile: "full", probes: [{ name: "p", essential: true, chosen, chosen_type: "tracepoint", variant: 0, alternatives: [
      { program: "p_a", type: "tracepoint", feature: "tracepoint", status, ...(status === "accepted" ? { verified_insns: insns, load_ms: 3 } : {}) },
      { program: "p_b", type: "kprobe", feature: "kprobe", status: "unsupported", evidence: "kprobe: no — x" },
    ] }] }],
  });
  test("growth up to the threshold passes, beyond it fails; shrinking is only reported", () => {
    expect(compareWithBaseline(report(110), report(100), 10).ok).toBe(true);
    expect(compareWithBaseline(report(111), report(100), 10).ok).toBe(false);
    const shrink = compareWithBaseline(report(50), report(100), 10);
    expect(shrink.ok).toBe(true);
    expect(shrink.changes).toMatchObject([{ kind: "insns", fails: false }]);
  });
  test("any acceptance change fails, either way, and so does a different chosen variant", () => {
    expect(compareWithBaseline(report(0, "rejected"), report(100), 10).changes[0]).toMatchObject({ kind: "acceptance", was: "accepted", fails: true });
    expect(compareWithBaseline(report(100), report(0, "rejected"), 10).ok).toBe(false);
    expect(compareWithBaseline(report(0, "unsupported"), report(100), 10).ok).toBe(false);
    expect(compareWithBaseline(report(100, "accepted", "p_b"), report(100), 10).changes).toMatchObject([{ kind: "chosen", fails: true }]);
  });
  test("a baseline drops timings, and round-trips with no changes", () => {
    const b = toBaseline(report(100));
    expect(b.recipes[0]!.probes[0]!.alternatives[0]).not.toHaveProperty("load_ms");
    expect(compareWithBaseline(report(100), b, 10)).toMatchObject({ ok: true, changes: [] });
  });
});
