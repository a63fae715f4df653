// Kernel reality through `trace`: a recipe whose preferred variant is fentry/kprobe runs on its
// tracepoint fallback here and says so; masked features move recipes full → reduced → disabled
// with the right message and exit code.
import { beforeAll, describe, expect } from "bun:test";
import { kernelTest } from "../kernel/helpers";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { assertBuilt, ebpfctl, isolatedEnv, trace } from "../helpers/trace";

beforeAll(() => assertBuilt());

interface Compat {
  kind: string;
  profile: string;
  reasons: string[];
  probes: { name: string; chosen: { type: string; program: string } | null; variant: number; lost: string }[];
  features: { no: string[]; masked: string[] };
}

describe("first run after boot", () => {
  kernelTest("trace probes only the features its recipe's alternatives need", async () => {
    const env = isolatedEnv(); // an empty EBPFCTL_RUN_DIR: no features.json yet
    const t = trace(["execsnoop", "-o", "json", "-d", "0.3"], env);
    const compat = (await t.waitFor("compat")) as unknown as Compat & { features: { yes: string[] } };
    expect(await t.exited).toBe(0);
    // its alternatives' attach type, and whether the programs may use fetching atomics
    expect([...compat.features.yes].sort()).toEqual(["atomic_fetch", "tracepoint"]);
    const cached = JSON.parse(readFileSync(join(env.EBPFCTL_RUN_DIR!, "features.json"), "utf8"));
    expect(Object.keys(cached.features).sort()).toEqual(["atomic_fetch", "tracepoint"]);
  });
});

describe("fallbacks on this kernel (no kprobes, fentry refused)", () => {
  kernelTest("tcpconnect runs on its tracepoint fallback and says so", async () => {
    const t = trace(["tcpconnect", "-o", "json", "-d", "1"]);
    const compat = (await t.waitFor("compat")) as unknown as Compat;
    expect(await t.exited).toBe(0);
    expect(compat.profile).toBe("reduced");
    expect(compat.features.no).toEqual(expect.arrayContaining(["kprobe", "fentry"]));
    const connect = compat.probes.find((p) => p.chosen?.type === "tracepoint");
    expect(connect).toBeDefined();
    expect(connect!.variant).toBeGreaterThan(0);
    expect(compat.reasons.join(" ")).toMatch(/fentry/);
    // Human mode announces it in one line.
    const human = await ebpfctl(["trace", "tcpconnect", "-d", "1"]);
    expect(human.code).toBe(0);
    expect(human.stderr).toMatch(/^reduced profile: .*tracepoint/m);
  });
});

describe("masked features", () => {
  kernelTest("full: nothing masked, execsnoop runs on its tracepoints", async () => {
    const t = trace(["execsnoop", "-o", "json", "-d", "1"]);
    const compat = (await t.waitFor("compat")) as unknown as Compat;
    expect(await t.exited).toBe(0);
    expect(compat.profile).toBe("full");
  });

  kernelTest("reduced: exitsnoop loses tp_btf and falls back to its tracepoint", async () => {
    const t = trace(["exitsnoop", "-o", "json", "-d", "1"], isolatedEnv({ EBPFCTL_MASK_FEATURES: "tp_btf" }));
    const compat = (await t.waitFor("compat")) as unknown as Compat;
    expect(await t.exited).toBe(0);
    expect(compat.profile).toBe("reduced");
    expect(compat.features.masked).toEqual(["tp_btf"]);
    expect(compat.probes[0]!.chosen?.type).toBe("tracepoint");
    expect(compat.reasons.join(" ")).toMatch(/masked by EBPFCTL_MASK_FEATURES/);
  });

  kernelTest("disabled: with tracepoints masked execsnoop is refused (exit 9) before anything loads", async () => {
    const r = await ebpfctl(["trace", "execsnoop", "-d", "1"], isolatedEnv({ EBPFCTL_MASK_FEATURES: "tracepoint" }));
    expect(r.code).toBe(9);
    expect(r.stderr).toMatch(/^error: execsnoop cannot run on this kernel: .*tracepoint.*masked by EBPFCTL_MASK_FEATURES/m);
    expect(r.stderr).not.toMatch(/attached/);
  });

  kernelTest("list and doctor show the masked profiles", async () => {
    const env = isolatedEnv({ EBPFCTL_MASK_FEATURES: "tracepoint" });
    const l = await ebpfctl(["list", "--output", "json"], env);
    expect(l.code).toBe(0);
    const rows = l.stdout.trim().split("\n").map((x) => JSON.parse(x) as { name: string; profile: string });
    expect(rows.find((r) => r.name === "execsnoop")?.profile).toBe("disabled");
    // opensnoop has a tp_btf fallback (sys_exit, for kernels without bpf_task_pt_regs)
    expect(rows.find((r) => r.name === "opensnoop")?.profile).toBe("reduced");
  });
});
