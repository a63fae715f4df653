// Pure tests (no BPF): ELF symbol resolution against a fixture built with gcc, and kallsyms parsing.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ElfFile, SymbolTable, symbolOffset, ElfError } from "../../src/symbols/elf-symbols";
import { Kallsyms } from "../../src/symbols/kallsyms";

const ROOT = join(import.meta.dir, "../..");
const HOT = join(ROOT, "build/fixtures/hot_function");
const SLEEPY = join(ROOT, "build/fixtures/sleepy_function");

let built = false;
let buildError = "";
beforeAll(() => {
  const r = Bun.spawnSync(["bash", join(ROOT, "test/fixtures/build.sh")], { stderr: "pipe" });
  built = r.exitCode === 0 && existsSync(HOT);
  buildError = r.stderr.toString();
});

/** The fixture needs gcc; without it the test skips, or fails under CI=true. */
function needFixture(): boolean {
  if (built) return true;
  if (process.env.CI === "true") throw new Error(`fixtures did not build (gcc missing?): ${buildError}`);
  console.warn(`skipping: fixtures did not build: ${buildError}`);
  return false;
}

/** nm's view of a symbol, as an independent oracle (skipped silently if binutils is absent). */
function nmVaddr(path: string, symbol: string): bigint | undefined {
  const r = Bun.spawnSync(["nm", path], { stderr: "ignore" });
  if (r.exitCode !== 0) return undefined;
  const line = r.stdout.toString().split("\n").find((l) => l.endsWith(` ${symbol}`));
  return line ? BigInt("0x" + line.split(" ")[0]) : undefined;
}

describe("elf-symbols", () => {
  test("symbolOffset resolves a function of a gcc-built fixture to its file offset", () => {
    if (!needFixture()) return;
    const off = symbolOffset(HOT, "ebpfctl_hot_spin");
    expect(off).toBeGreaterThan(0);
    const elf = ElfFile.read(HOT);
    const v = nmVaddr(HOT, "ebpfctl_hot_spin");
    if (v !== undefined) expect(BigInt(off)).toBe(elf.vaddrToOffset(v)!);
    expect(symbolOffset(HOT, "main")).toBeGreaterThan(0);
    expect(symbolOffset(SLEEPY, "ebpfctl_sleepy")).toBeGreaterThan(0);
  });

  test("SymbolTable maps offsets and vaddrs inside a function back to it", () => {
    if (!needFixture()) return;
    const t = SymbolTable.read(HOT);
    const off = symbolOffset(HOT, "ebpfctl_hot_spin");
    expect(t.lookup(off)).toEqual({ name: "ebpfctl_hot_spin", offset: 0 });
    expect(t.lookup(off + 7)).toEqual({ name: "ebpfctl_hot_spin", offset: 7 });
    const v = t.elf.offsetToVaddr(BigInt(off))!;
    expect(t.lookup(v + 3n, "vaddr")?.name).toBe("ebpfctl_hot_spin");
    expect(t.lookup(symbolOffset(HOT, "main"))?.name).toBe("main");
    expect(t.lookup(0)).toBeUndefined(); // the ELF header is in no function
  });

  test("a shared library's .dynsym resolves (libc malloc)", () => {
    const libc = ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"].find(existsSync);
    if (!libc) return;
    const off = symbolOffset(libc, "malloc");
    expect(SymbolTable.read(libc).lookup(off)?.offset).toBe(0);
  });

  test("errors name the file and the problem", () => {
    expect(() => symbolOffset("/proc/self/status", "x")).toThrow(ElfError);
    expect(() => symbolOffset("/nonexistent/binary", "x")).toThrow(/cannot read/);
    if (!needFixture()) return;
    expect(() => symbolOffset(HOT, "no_such_symbol_here")).toThrow(/no symbol "no_such_symbol_here"/);
  });
});

describe("kallsyms", () => {
  const sample = [
    "ffffffff81000000 T _stext",
    "ffffffff81000100 t do_one_initcall",
    "ffffffff81000400 T vfs_read",
    "ffffffff82000000 D some_data",
    "ffffffffc0001000 t ext4_read [ext4]",
    "",
  ].join("\n");

  test("parses text symbols and finds the nearest one below an address", () => {
    const k = Kallsyms.parse(sample);
    expect(k.addressesHidden).toBe(false);
    expect(k.warning).toBeUndefined();
    expect(k.size).toBe(4); // data symbols are left out
    expect(k.lookup(0xffffffff81000400n)).toEqual({ name: "vfs_read", module: undefined, offset: 0 });
    expect(k.lookup(0xffffffff81000123n)).toEqual({ name: "do_one_initcall", module: undefined, offset: 0x23 });
    expect(k.lookup(0xffffffffc0001010n)).toEqual({ name: "ext4_read", module: "ext4", offset: 0x10 });
    expect(k.lookup(0x1000n)).toBeUndefined();
  });

  test("all-zero addresses (kptr_restrict) are detected, not turned into symbols", () => {
    const k = Kallsyms.parse("0000000000000000 T _stext\n0000000000000000 T vfs_read\n");
    expect(k.addressesHidden).toBe(true);
    expect(k.warning).toMatch(/kptr_restrict/);
    expect(k.lookup(0xffffffff81000400n)).toBeUndefined();
  });

  test("the live /proc/kallsyms parses (visible as root unless kptr_restrict=2)", () => {
    if (!existsSync("/proc/kallsyms")) return;
    const k = Kallsyms.load();
    if (k.addressesHidden) return expect(k.warning).toBeDefined();
    expect(k.size).toBeGreaterThan(1000);
    const line = readFileSync("/proc/kallsyms", "utf8").split("\n").find((l) => / [tT] vfs_read$/.test(l));
    if (line) expect(k.lookup(BigInt("0x" + line.split(" ")[0]) + 4n)?.name).toBe("vfs_read");
  });
});
