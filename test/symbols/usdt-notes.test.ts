// USDT notes (.note.stapsdt) of the fixture built with <sys/sdt.h>, held to readelf -n's view, and
// the refusal naming what the binary does have. Pure tests (no BPF).
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ElfError, ElfFile } from "../../src/symbols/elf-symbols";
import { usdtNotes, usdtProvider } from "../../src/symbols/usdt-notes";

const ROOT = join(import.meta.dir, "../..");
const TARGET = join(ROOT, "build/fixtures/uprobe_target");
const HOT = join(ROOT, "build/fixtures/hot_function");

let buildError = "";
beforeAll(() => {
  buildError = Bun.spawnSync(["bash", join(ROOT, "test/fixtures/build.sh")], { stderr: "pipe" }).stderr.toString();
});
function needFixture(): boolean {
  if (existsSync(TARGET)) return true;
  if (process.env.CI === "true") throw new Error(`fixtures did not build (gcc or systemtap-sdt-dev missing?): ${buildError}`);
  console.warn(`skipping: fixtures did not build: ${buildError}`);
  return false;
}

/** readelf -n's Provider/Name/Arguments lines, as an independent oracle. */
function readelfNotes(path: string): { provider: string; name: string; args: string }[] | undefined {
  const r = Bun.spawnSync(["readelf", "-n", path], { stderr: "ignore" });
  if (r.exitCode !== 0) return undefined;
  const out: { provider: string; name: string; args: string }[] = [];
  let cur: Partial<{ provider: string; name: string; args: string }> = {};
  for (const l of r.stdout.toString().split("\n")) {
    const m = /^\s+(Provider|Name|Arguments): ?(.*)$/.exec(l);
    if (!m) continue;
    if (m[1] === "Provider") cur = { provider: m[2]! };
    else if (m[1] === "Name") cur.name = m[2]!;
    else out.push({ provider: cur.provider!, name: cur.name!, args: m[2]! });
  }
  return out;
}

describe("USDT notes", () => {
  test("the fixture's probe as readelf -n sees it", () => {
    if (!needFixture()) return;
    const notes = usdtNotes(ElfFile.read(TARGET));
    expect(notes.map((n) => `${n.provider}:${n.name}`)).toEqual(["ebpfctl_fixture:tick"]);
    expect(notes[0]!.args.split(" ").length).toBe(2);
    const oracle = readelfNotes(TARGET);
    if (oracle) expect(notes).toEqual(oracle);
  });
  test("the provider is found when omitted; a missing probe names what there is; no notes at all", () => {
    if (!needFixture()) return;
    expect(usdtProvider(TARGET, undefined, "tick")).toBe("ebpfctl_fixture");
    expect(usdtProvider(TARGET, "ebpfctl_fixture", "tick")).toBe("ebpfctl_fixture");
    expect(() => usdtProvider(TARGET, "other", "tick")).toThrow(ElfError);
    expect(() => usdtProvider(TARGET, undefined, "tock")).toThrow(/no USDT probe tock in .note.stapsdt \(it has ebpfctl_fixture:tick\)/);
    expect(() => usdtProvider(HOT, undefined, "tick")).toThrow(/\(it has none\)/);
  });
});
