// `ebpfctl verify` on the running kernel: every alternative the kernel supports loads alone
// (never attached) and matches the committed baseline bpf/verifier-baseline/<uname -r>.json, or,
// for a build with none of its own, the nearest committed baseline of the same major.minor;
// the gate fails (exit 11, EBPFCTL-E0701) and names the change when acceptance, the chosen
// variant or (own baseline only) verified_insns past --threshold differ. Needs root and a BTF
// kernel; under CI=true a missing precondition (or no baseline of this major.minor) fails instead
// of skipping.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import { compareWithBaseline, toBaseline, type VerifyReport } from "../../src/verifier/verify";
import { chooseBaseline, majorMinor, nearestRelease } from "../../src/verifier/baseline-select";
import { kernelTest } from "../kernel/helpers";

const ROOT = join(import.meta.dir, "../..");
const BUN = join(ROOT, "node_modules/.bin/bun");
const BASELINE_DIR = join(ROOT, "bpf/verifier-baseline");
// This kernel's own baseline, else the nearest of its major.minor (what `--baseline DIR` picks).
const BASELINE = chooseBaseline(BASELINE_DIR, release()).file ?? join(BASELINE_DIR, `${release()}.json`);

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
  test(`a committed baseline exists for this kernel (${release()}) or another ${majorMinor(release())} build`, () => {
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

  kernelTest("matches the committed baseline for this kernel, own or nearest of its major.minor (the CI gate: --baseline DIR)", () => {
    if (!existsSync(BASELINE)) throw new Error(`no baseline ${BASELINE}: write it with ebpfctl verify --write-baseline`);
    const candidates = join(dir, "gate-candidates");
    const r = cli(["verify", "--baseline", BASELINE_DIR, "--candidate-dir", candidates, "--output", "json"]);
    const out = JSON.parse(r.stdout);
    expect(out.baseline.changes.filter((c: { fails: boolean }) => c.fails)).toEqual([]);
    expect(r.code).toBe(0);
    expect(out.baseline.ok).toBe(true);
    expect(out.baseline.file).toBe(BASELINE);
    const own = BASELINE.endsWith(`/${release()}.json`);
    expect(out.baseline.mode).toBe(own ? "exact" : "nearest");
    // Only a build without its own baseline leaves a candidate.
    expect(out.baseline.candidate).toBe(own ? undefined : join(candidates, `${release()}.json`));
    // The table form says so too (tcpconnect: the same on every 6.18 build seen so far).
    const t = cli(["verify", "--baseline", BASELINE_DIR, "--candidate-dir", candidates, "--recipe", "tcpconnect"]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain("no changes");
  });

  kernelTest("a copy of this host's baseline renamed to another build of the same major.minor passes, and a candidate is written and named", () => {
    const own = join(dir, "own.json");
    expect(cli(["verify", "--write-baseline", own, "--output", "json"]).code).toBe(0);
    const mm = majorMinor(release())!;
    const other = `${mm}.0-renamed-v1`; // another build string of this kernel's major.minor
    const baselines = join(dir, "renamed");
    mkdirSync(baselines);
    const doc = JSON.parse(readFileSync(own, "utf8")) as VerifyReport;
    doc.kernel = other;
    // insns drift alone does not fail against another build: halve one count
    const alt = doc.recipes.flatMap((r) => r.probes.flatMap((p) => p.alternatives)).find((a) => a.status === "accepted" && a.verified_insns! > 10)!;
    alt.verified_insns = Math.floor(alt.verified_insns! / 2);
    writeFileSync(join(baselines, `${other}.json`), JSON.stringify(doc));
    writeFileSync(join(baselines, "5.10.0-1-cloud-amd64.json"), JSON.stringify({ ...doc, kernel: "5.10.0-1-cloud-amd64" })); // another series: never picked
    const candidates = join(dir, "candidates");
    const r = cli(["verify", "--baseline", baselines, "--candidate-dir", candidates, "--output", "json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.baseline).toMatchObject({ file: join(baselines, `${other}.json`), mode: "nearest", baselineKernel: other, ok: true });
    expect(out.baseline.changes.map((c: { kind: string; fails: boolean }) => `${c.kind}:${c.fails}`)).toEqual(["insns:false"]);
    const candidate = join(candidates, `${release()}.json`);
    expect(out.baseline.candidate).toBe(candidate);
    expect(r.stderr).toContain(`wrote candidate baseline ${candidate} for ${release()}`);
    expect(r.stderr).toContain(`commit it as bpf/verifier-baseline/${release()}.json`);
    // The candidate is this build's own baseline: the next run compares exactly and finds nothing.
    expect((JSON.parse(readFileSync(candidate, "utf8")) as VerifyReport).kernel).toBe(release());
    const again = cli(["verify", "--baseline", candidate, "--output", "json"]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).baseline).toMatchObject({ mode: "exact", changes: [], ok: true });
    // The table says which baseline and why insns drift is only a note.
    const t = cli(["verify", "--baseline", baselines, "--candidate-dir", candidates]);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain(`the nearest ${mm} build, NOT this build ${release()}`);
    expect(t.stdout).toMatch(/note insns/);
  });

  kernelTest("against the nearest build's baseline, an acceptance or chosen-variant change still fails (exit 11) and a candidate is still written", () => {
    const own = join(dir, "own2.json");
    expect(cli(["verify", "--recipe", "execsnoop", "--recipe", "tcplife", "--write-baseline", own, "--output", "json"]).code).toBe(0);
    const other = `${majorMinor(release())}.0-tampered-v2`;
    const baselines = join(dir, "tampered-series");
    mkdirSync(baselines);
    const doc = JSON.parse(readFileSync(own, "utf8")) as VerifyReport;
    doc.kernel = other;
    const exec = doc.recipes.find((x) => x.recipe === "execsnoop")!.probes[0]!.alternatives[0]!;
    exec.status = "rejected";
    delete exec.verified_insns;
    const life = doc.recipes.find((x) => x.recipe === "tcplife")!.probes[0]!;
    const second = life.alternatives[1]!;
    life.chosen = second.program; // the baseline chose the fallback
    life.chosen_type = second.type;
    writeFileSync(join(baselines, `${other}.json`), JSON.stringify(doc));
    const candidates = join(dir, "candidates2");
    const r = cli(["verify", "--baseline", baselines, "--candidate-dir", candidates, "--recipe", "execsnoop", "--recipe", "tcplife"]);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain("[EBPFCTL-E0701]");
    expect(r.stderr).toContain(`execsnoop/execve_enter/${exec.program}: rejected -> accepted`);
    expect(r.stderr).toContain(`tcplife/${life.name}: chooses ${second.program} (${second.type}) -> chooses`);
    expect(r.stderr).toContain(`nearest baseline of ${release()}'s series`);
    expect(existsSync(join(candidates, `${release()}.json`))).toBe(true);
    expect(r.stderr).toContain(`review and commit the candidate ${join(candidates, `${release()}.json`)}`);
  });

  kernelTest("a directory with no baseline of this major.minor fails (exit 11), after writing the candidate", () => {
    const baselines = join(dir, "other-series");
    mkdirSync(baselines);
    writeFileSync(join(baselines, "4.19.0-1-amd64.json"), readFileSync(BASELINE));
    const candidates = join(dir, "candidates3");
    const r = cli(["verify", "--baseline", baselines, "--candidate-dir", candidates, "--recipe", "opensnoop"]);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain(`no baseline for kernel ${release()} or any other ${majorMinor(release())} build in ${baselines}`);
    expect(existsSync(join(candidates, `${release()}.json`))).toBe(true);
  });

  kernelTest("fails with exit 11 and names each change when acceptance, choice or verified_insns differ", () => {
    if (!existsSync(BASELINE)) throw new Error(`no baseline ${BASELINE}`);
    const base = JSON.parse(readFileSync(BASELINE, "utf8")) as VerifyReport;
    base.kernel = release(); // this kernel's own baseline, tampered with: compared exactly
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

  test("a --baseline path that does not exist is a usage error (exit 2) before anything loads", () => {
    for (const f of ["/nonexist.json", join(dir, "nope.json"), join(dir, "no-such-dir/")]) {
      const r = cli(["verify", "--baseline", f]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--baseline ${f}: no such file or directory [EBPFCTL-E0001]`);
      expect(r.stdout).toBe("");
    }
  });

  test("a malformed baseline is an error before anything loads (exit 11, EBPFCTL-E0702)", () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{\"not\": \"a baseline\"}");
    const r = cli(["verify", "--baseline", bad]);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain("[EBPFCTL-E0702]");
    expect(r.stdout).toBe("");
  });
});

describe("nearestRelease", () => {
  const have = ["6.18.44-fc-v669", "6.18.44-fc-v1200", "6.18.2-fc-v10", "6.1.0-56-cloud-amd64", "5.10.0-43-cloud-amd64"];
  test("own release first; else the newest older build of the same major.minor; else the oldest newer one; never another series", () => {
    expect(nearestRelease("6.18.44-fc-v669", have)).toBe("6.18.44-fc-v669");
    expect(nearestRelease("6.18.44-fc-v1045", have)).toBe("6.18.44-fc-v669");
    expect(nearestRelease("6.18.44-fc-v2000", have)).toBe("6.18.44-fc-v1200");
    expect(nearestRelease("6.18.1-fc-v5", have)).toBe("6.18.2-fc-v10");
    expect(nearestRelease("6.1.0-57-cloud-amd64", have)).toBe("6.1.0-56-cloud-amd64");
    expect(nearestRelease("6.12.95+deb12-cloud-amd64", have)).toBeUndefined();
    expect(nearestRelease("5.10.0-46-cloud-amd64", have)).toBe("5.10.0-43-cloud-amd64");
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
  test("against another build of the same major.minor, insns drift never fails; acceptance still does", () => {
    const other = (r: VerifyReport) => ({ ...r, kernel: "6.18.44-fc-v669" });
    const run = (r: VerifyReport) => ({ ...r, kernel: "6.18.44-fc-v1045" });
    const drift = compareWithBaseline(run(report(300)), other(report(100)), 10);
    expect(drift).toMatchObject({ mode: "nearest", ok: true, changes: [{ kind: "insns", fails: false }] });
    expect(compareWithBaseline(run(report(0, "rejected")), other(report(100)), 10)).toMatchObject({ mode: "nearest", ok: false });
    expect(compareWithBaseline(run(report(300)), { ...report(100), kernel: "6.1.0-1" }, 10)).toMatchObject({ mode: "other", ok: false });
  });
  test("a baseline drops timings, and round-trips with no changes", () => {
    const b = toBaseline(report(100));
    expect(b.recipes[0]!.probes[0]!.alternatives[0]).not.toHaveProperty("load_ms");
    expect(compareWithBaseline(report(100), b, 10)).toMatchObject({ ok: true, changes: [] });
  });
});
