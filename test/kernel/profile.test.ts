import { describe, expect, test } from "bun:test";
import { selectProfile, compatRecord, ATTACH_FEATURE } from "../../src/kernel/profile";
import { kernelFeatures, resetFeatureCache, PROGRAM_FEATURES, type Feature } from "../../src/kernel/features";
import { readKernelFacts } from "../../src/kernel/facts";
import { AttachType, parseManifest, type Probe } from "../../src/recipe/manifest";
import { embeddedSources } from "../../src/recipe/catalog";
import { kernelTest } from "./helpers";

const yes = (name: string): Feature => ({ name, kind: "program", status: "yes", evidence: `${name} attached` });
const no = (name: string, evidence = `${name} attach failed: ENOENT`): Feature => ({ name, kind: "program", status: "no", evidence });
const unknown = (name: string): Feature => ({ name, kind: "program", status: "unknown", evidence: "unknown, because EPERM without CAP_BPF" });
const table = (...fs: Feature[]) => Object.fromEntries(fs.map((f) => [f.name, f]));

const probes = (...ps: Partial<Probe>[]) => ({ probes: ps.map((p) => ({ essential: true, ...p }) as Probe) });

// A recipe that prefers fentry, falls back to kprobe, then to a syscall tracepoint, plus an
// optional probe that only a kretprobe can serve.
const manifest = probes(
  {
    name: "enter",
    alternatives: [
      { program: "fentry_enter", type: "fentry", target: "vfs_open" },
      { program: "kp_enter", type: "kprobe", target: "vfs_open", loses: "~100 ns more per event" },
      { program: "tp_enter", type: "tracepoint", target: "syscalls/sys_enter_openat", loses: "opens not made through openat" },
    ],
  },
  { name: "ret", essential: false, alternatives: [{ program: "kret", type: "kretprobe", target: "vfs_open", loses: "" }] },
);

describe("selectProfile (pure)", () => {
  test("full: every probe gets its first alternative", () => {
    const s = selectProfile(manifest, table(yes("fentry"), yes("kprobe"), yes("kretprobe"), yes("tracepoint")));
    expect(s.profile).toBe("full");
    expect(s.probes.map((p) => [p.name, p.chosen?.program, p.chosenIndex, p.lost])).toEqual([
      ["enter", "fentry_enter", 0, ""],
      ["ret", "kret", 0, ""],
    ]);
    expect(s.reasons).toEqual([]);
  });

  test("reduced: a later alternative is taken, and what it loses is said", () => {
    const s = selectProfile(manifest, table(no("fentry", "load refused: EPERM"), yes("kprobe"), yes("kretprobe"), yes("tracepoint")));
    expect(s.profile).toBe("reduced");
    const enter = s.probes[0]!;
    expect(enter.chosen?.program).toBe("kp_enter");
    expect(enter.chosenIndex).toBe(1);
    expect(enter.lost).toBe("~100 ns more per event");
    expect(enter.skipped).toEqual([{ alt: manifest.probes[0]!.alternatives[0]!, reason: "fentry: no — load refused: EPERM" }]);
    expect(s.reasons[0]).toContain("enter: using kprobe vfs_open (kp_enter) instead of fentry vfs_open (fentry_enter) because fentry: no — load refused: EPERM");
  });

  test("reduced: an optional probe with no alternative is dropped", () => {
    const s = selectProfile(manifest, table(no("fentry"), no("kprobe"), no("kretprobe"), yes("tracepoint")));
    expect(s.profile).toBe("reduced");
    expect(s.probes[0]!.chosen?.program).toBe("tp_enter");
    expect(s.probes[1]).toMatchObject({ name: "ret", essential: false, chosen: null, chosenIndex: -1 });
    expect(s.probes[1]!.lost).toContain("ret");
    expect(s.reasons.some((r) => r.startsWith("ret (optional) is dropped: kretprobe vfs_open (kret): kretprobe: no"))).toBe(true);
  });

  test("disabled: an essential probe has nothing, and every refusal is quoted", () => {
    const s = selectProfile(manifest, table(no("fentry", "load refused: EPERM"), no("kprobe", "attach failed: ENOENT"), no("tracepoint", "masked by EBPFCTL_MASK_FEATURES"), yes("kretprobe")));
    expect(s.profile).toBe("disabled");
    expect(s.probes[0]!.chosen).toBeNull();
    expect(s.reasons[0]).toStartWith("enter (essential) has no usable alternative:");
    for (const e of ["load refused: EPERM", "attach failed: ENOENT", "masked by EBPFCTL_MASK_FEATURES"]) expect(s.reasons[0]).toContain(e);
  });

  test("unknown is not available; an unprobed feature is unknown", () => {
    const s = selectProfile(manifest, table(unknown("fentry"), yes("tracepoint")));
    expect(s.probes[0]!.chosen?.program).toBe("tp_enter");
    expect(s.probes[0]!.skipped.map((x) => x.reason)).toEqual(["fentry: unknown — unknown, because EPERM without CAP_BPF", "kprobe: unknown — not probed"]);
  });

  test("uretprobe is decided by the uprobe feature; every attach type has a feature", () => {
    expect(ATTACH_FEATURE.uretprobe).toBe("uprobe");
    const m = probes({ name: "ret", alternatives: [{ program: "ur", type: "uretprobe" }] });
    expect(selectProfile(m, table(yes("uprobe"))).profile).toBe("full");
    expect(selectProfile(m, table(no("uprobe"))).profile).toBe("disabled");
    for (const t of AttachType.options) expect(PROGRAM_FEATURES as readonly string[]).toContain(ATTACH_FEATURE[t]);
  });
});

describe("selectProfile on this kernel, with masking", () => {
  // tracepoint first, raw_tp as the fallback.
  const m = probes(
    { name: "exec", alternatives: [{ program: "tp_exec", type: "tracepoint", target: "sched/sched_process_exec" }, { program: "raw_exec", type: "raw_tp", target: "sched_process_exec", loses: "nothing; raw arguments" }] },
    { name: "switch", essential: false, alternatives: [{ program: "btf_switch", type: "tp_btf", target: "sched_switch" }] },
  );
  const run = (mask?: string) => {
    return selectProfile(m, kernelFeatures({ env: { EBPFCTL_MASK_FEATURES: mask, EBPFCTL_RUN_DIR: undefined } }));
  };

  kernelTest("full → reduced → disabled as features are masked", () => {
    expect(run().profile).toBe("full");
    const reduced = run("tracepoint");
    expect(reduced.profile).toBe("reduced");
    expect(reduced.probes[0]!.chosen?.program).toBe("raw_exec");
    expect(reduced.reasons[0]).toContain("masked by EBPFCTL_MASK_FEATURES");
    const dropped = run("tp_btf");
    expect(dropped.profile).toBe("reduced");
    expect(dropped.probes[1]!.chosen).toBeNull();
    const disabled = run("tracepoint,raw_tp");
    expect(disabled.profile).toBe("disabled");
    expect(disabled.reasons[0]).toStartWith("exec (essential) has no usable alternative");
  });

  kernelTest("a kprobe-first probe falls back on this kernel (CONFIG_KPROBES=n) without any mask", () => {
    const kp = probes({ name: "x", alternatives: [{ program: "kp", type: "kprobe", target: "do_sys_openat2" }, { program: "tp", type: "tracepoint", target: "syscalls/sys_enter_openat", loses: "openat2 only" }] });
    resetFeatureCache();
    const s = selectProfile(kp, kernelFeatures({ env: { EBPFCTL_MASK_FEATURES: undefined } }));
    expect(s.profile).toBe("reduced");
    expect(s.probes[0]!.skipped[0]!.reason).toStartWith("kprobe: no — program type loads but attach");
  });

  kernelTest("compatRecord for each embedded recipe", () => {
    resetFeatureCache();
    const facts = readKernelFacts();
    const report = kernelFeatures({ facts, env: { EBPFCTL_MASK_FEATURES: "kprobe" } });
    for (const src of embeddedSources()) {
      const man = parseManifest(src.manifestText, src.manifestFile);
      const rec = compatRecord(man, facts, report, selectProfile(man, report));
      expect(rec.recipe).toBe(man.name);
      expect(rec.kernel.release).toBe(facts.release);
      expect(rec.btf.vmlinux).toBe(true);
      expect(rec.features.no).toContain("kprobe");
      expect(rec.features.masked).toEqual(["kprobe"]);
      expect(rec.probes.length).toBe(man.probes.length);
      expect(["full", "reduced", "disabled"]).toContain(rec.profile);
      expect(JSON.parse(JSON.stringify(rec))).toEqual(rec);
    }
  });
});
