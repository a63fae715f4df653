// Every recipe object loads and attaches on this kernel: for each probe the last alternative of a
// type that can work here (tracepoint, raw_tp, tp_btf, perf_event, uprobe) is chosen; if the
// kernel refuses one (e.g. bpf_probe_read_kernel under lockdown=confidentiality), the next
// earlier one of those types is tried, the way a session falls back.
// Needs root and built objects (bash scripts/build); under CI=true a missing precondition fails.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BpfObject, BtfKind, LoadError, type BpfLink } from "../../src/libbpf";
import { parseManifest, type Manifest, type Alternative } from "../../src/recipe/manifest";

const ROOT = join(import.meta.dir, "../..");
const WORKS_HERE = new Set(["tracepoint", "raw_tp", "tp_btf", "perf_event", "uprobe", "uretprobe", "usdt"]);
const FIXED_TARGET = new Set(["tracepoint", "raw_tp", "tp_btf"]);

function precondition(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (CAP_BPF, CAP_PERFMON)";
  if (!existsSync(join(ROOT, "build/bpf"))) return "no build/bpf: run bash scripts/build";
  return undefined;
}

/** bun:test has no runtime skip; skip at definition time, or fail under CI. */
function gatedTest(name: string, fn: () => void | Promise<void>, reason = precondition()) {
  if (reason && process.env.CI === "true") test(name, () => expect(`skipped: ${reason}`).toBe("not skipped under CI=true"));
  else test.skipIf(!!reason)(name, fn);
}

const recipes = readdirSync(join(ROOT, "recipes"))
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => parseManifest(readFileSync(join(ROOT, "recipes", f), "utf8"), f));

interface Outcome {
  chosen: Alternative[];
  insns: Record<string, number>;
}

function loadWithFallback(m: Manifest, elf: Uint8Array): Outcome {
  const candidates = m.probes.map((p) => p.alternatives.filter((a) => WORKS_HERE.has(a.type)).reverse());
  for (const [i, c] of candidates.entries()) if (c.length === 0) throw new Error(`${m.name}: probe ${m.probes[i]!.name} has no alternative that can work on this kernel`);
  const pick = candidates.map(() => 0);
  const failures: string[] = [];
  for (;;) {
    const chosen = candidates.map((c, i) => c[pick[i]!]!);
    const obj = BpfObject.openMemory(elf, m.name);
    const links: BpfLink[] = [];
    try {
      const names = new Set(chosen.map((a) => a.program));
      for (const p of obj.programs()) p.autoload = names.has(p.name);
      try {
        obj.load();
      } catch (e) {
        const failed = e instanceof LoadError ? e.program : undefined;
        const idx = chosen.findIndex((a) => a.program === failed);
        failures.push(`${failed ?? "?"}: ${(e as Error).message}${e instanceof LoadError ? `\n${e.verifierLog.split("\n").slice(-8).join("\n")}` : ""}`);
        if (idx < 0 || pick[idx]! + 1 >= candidates[idx]!.length) throw new Error(`${m.name}: no loadable combination:\n${failures.join("\n")}`);
        pick[idx]!++;
        continue;
      }
      const insns: Record<string, number> = {};
      for (const a of chosen) {
        const prog = obj.program(a.program);
        insns[a.program] = prog.info().verifiedInsns;
        // A tracepoint is attached where the manifest says (generic programs have no target in their SEC name).
        if (a.type === "tracepoint" && a.target) links.push(prog.attachTracepoint(...(a.target.split("/") as [string, string])));
        else if (FIXED_TARGET.has(a.type)) links.push(prog.attach());
      }
      return { chosen, insns };
    } finally {
      for (const l of links.reverse()) l.close();
      obj.close();
    }
  }
}

describe("recipe catalog loads on this kernel", () => {
  for (const m of recipes) {
    gatedTest(`${m.name}: chosen alternatives load, attach and are verified`, () => {
      const objPath = join(ROOT, "build/bpf", m.object.file);
      expect(existsSync(objPath)).toBe(true);
      const { chosen, insns } = loadWithFallback(m, new Uint8Array(readFileSync(objPath)));
      expect(chosen.length).toBe(m.probes.length);
      for (const a of chosen) expect(insns[a.program]).toBeGreaterThan(0);
      if (process.env.EBPFCTL_TEST_VERBOSE) console.log(m.name, JSON.stringify(insns));
    });
  }

  // Each preferred alternative of a type that works here loads on its own too (not only the fallback
  // the catalog test ends up choosing). Under lockdown=confidentiality bpf_probe_read_kernel is
  // unavailable, so alternatives whose manifest says they need it may be refused there.
  const confidential = (() => {
    try {
      return readFileSync("/sys/kernel/security/lockdown", "utf8").includes("[confidentiality]");
    } catch {
      return false;
    }
  })();
  for (const m of recipes) {
    gatedTest(`${m.name}: every alternative that can work here loads alone`, () => {
      const elf = new Uint8Array(readFileSync(join(ROOT, "build/bpf", m.object.file)));
      for (const a of m.probes.flatMap((p) => p.alternatives).filter((a) => WORKS_HERE.has(a.type))) {
        const obj = BpfObject.openMemory(elf, m.name);
        try {
          for (const p of obj.programs()) p.autoload = p.name === a.program;
          try {
            obj.load();
          } catch (e) {
            if (confidential && /bpf_probe_read_kernel/.test(a.loses ?? "")) continue;
            throw e;
          }
          expect(`${a.program}: ${obj.program(a.program).info().verifiedInsns > 0}`).toBe(`${a.program}: true`);
        } finally {
          obj.close();
        }
      }
    });
  }

  gatedTest("every program named in a manifest exists in its object, and maps listed exist", () => {
    for (const m of recipes) {
      const obj = BpfObject.openMemory(new Uint8Array(readFileSync(join(ROOT, "build/bpf", m.object.file))), m.name);
      try {
        const progs = new Set(obj.programs().map((p) => p.name));
        for (const p of m.probes) for (const a of p.alternatives) expect(`${m.name}:${a.program}:${progs.has(a.program)}`).toBe(`${m.name}:${a.program}:true`);
        // Listed maps exist (the manifest may size them differently from the object's default).
        for (const name of Object.keys(m.maps ?? {})) expect(`${m.name}:${name}:${obj.map(name).maxEntries > 0}`).toBe(`${m.name}:${name}:true`);
        const btf = obj.btf();
        const hasStruct = (name: string) => `${m.name}: struct ${name} in BTF: ${btf.find(name, BtfKind.STRUCT) !== undefined}`;
        if (m.aggregate) {
          expect(obj.map(m.aggregate.map).maxEntries).toBeGreaterThan(0);
          for (const s of [m.aggregate.key_struct, m.aggregate.value_struct]) if (s) expect(hasStruct(s)).toEndWith("true");
        }
        if (m.event) {
          expect(obj.map(m.event.ringbuf).maxEntries).toBeGreaterThan(0);
          expect(hasStruct(m.event.struct)).toEndWith("true");
        }
        const rodata = btf.sectionVariables(".rodata");
        for (const [param, b] of Object.entries(m.parameters)) {
          if (b.rodata) expect(`${m.name}: ${param} -> ${b.rodata}: ${rodata.has(b.rodata)}`).toEndWith("true");
        }
      } finally {
        obj.close();
      }
    }
  }, precondition() === "needs root (CAP_BPF, CAP_PERFMON)" ? undefined : precondition());
});
