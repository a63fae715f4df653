// Bounded-memory symbolisation (issue 20): the descriptor-backed ELF index against nm and readelf
// (independent oracles), a deleted file still resolving, the LRU byte cap, and kallsyms' size.
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ElfSymbolIndex } from "../../src/symbols/elf-index";
import { UserSymbols, parseMaps, UNKNOWN_FRAME } from "../../src/symbols/user-symbols";
import { Kallsyms } from "../../src/symbols/kallsyms";

const ROOT = join(import.meta.dir, "../..");
const HOT = join(ROOT, "build/fixtures/hot_function");

beforeAll(() => {
  const r = Bun.spawnSync(["bash", join(ROOT, "test/fixtures/build.sh")], { stderr: "pipe" });
  if (r.exitCode !== 0 || !existsSync(HOT)) throw new Error(`fixtures did not build: ${r.stderr}`);
});

const tool = (argv: string[]) => {
  const r = Bun.spawnSync(argv, { stderr: "ignore" });
  if (r.exitCode !== 0) throw new Error(`${argv[0]} failed (binutils is needed for these oracles)`);
  return r.stdout.toString();
};
const nmVaddr = (path: string, sym: string) => Number(BigInt("0x" + tool(["nm", path]).split("\n").find((l) => l.endsWith(` ${sym}`))!.split(" ")[0]));
const readelfBuildId = (path: string) => /Build ID: ([0-9a-f]+)/.exec(tool(["readelf", "-n", path]))?.[1];

describe("ElfSymbolIndex", () => {
  test("names a function from its vaddr and file offset, and reads the build-id readelf shows", () => {
    const idx = new ElfSymbolIndex(openSync(HOT, "r"), HOT);
    try {
      const v = nmVaddr(HOT, "ebpfctl_hot_spin");
      expect(idx.lookupVaddr(v)).toEqual({ name: "ebpfctl_hot_spin", offset: 0 });
      expect(idx.lookupVaddr(v + 5)).toEqual({ name: "ebpfctl_hot_spin", offset: 5 });
      expect(idx.lookupVaddr(nmVaddr(HOT, "main"))?.name).toBe("main");
      expect(idx.buildId).toBe(readelfBuildId(HOT));
      expect(idx.functions).toBeGreaterThan(3);
    } finally {
      idx.close();
    }
  });

  test("libLLVM (110 MB): indexed in a few MB, through a descriptor, not the file", () => {
    const llvm = ["/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1", "/usr/lib/x86_64-linux-gnu/libLLVM-15.so.1"].find(existsSync);
    if (!llvm) return;
    const idx = new ElfSymbolIndex(openSync(llvm, "r"), llvm);
    try {
      const line = tool(["sh", "-c", `nm -D --defined-only ${llvm} | grep -m1 -E ' T _ZN4llvm'`]).trim();
      const [addr, , versioned] = line.split(" ");
      const name = versioned!.replace(/@.*$/, ""); // nm adds the symbol version
      expect(idx.lookupVaddr(Number(BigInt("0x" + addr)))?.name).toBe(name);
      expect(idx.bytes).toBeLessThan(8 << 20);
    } finally {
      idx.close();
    }
  });

  test("a deleted file still resolves through its open descriptor", () => {
    const dir = mkdtempSync(join(tmpdir(), "ebpfctl-elf-"));
    const copy = join(dir, "gone");
    copyFileSync(HOT, copy);
    const idx = new ElfSymbolIndex(openSync(copy, "r"), copy);
    unlinkSync(copy);
    try {
      expect(idx.lookupVaddr(nmVaddr(HOT, "ebpfctl_hot_spin"))?.name).toBe("ebpfctl_hot_spin");
    } finally {
      idx.close();
    }
  });
});

describe("UserSymbols", () => {
  test("the LRU byte cap: indexes beyond it are dropped and rebuilt on use; answers stay right", async () => {
    const child = Bun.spawn([HOT, "2"], { stdout: "ignore" });
    try {
      await Bun.sleep(100);
      const maps = parseMaps(child.pid, readFileSync(`/proc/${child.pid}/maps`, "utf8"));
      const exe = maps.find((m) => m.path.endsWith("/hot_function"))!;
      const libc = maps.find((m) => /libc\.so/.test(m.path))!;
      // The runtime address of the function: nm's vaddr through the executable LOAD segment readelf shows.
      const seg = /LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+\S+\s+\S+\s+\S+\s+R E/.exec(tool(["readelf", "-lW", HOT]))!;
      const hotOff = BigInt(nmVaddr(HOT, "ebpfctl_hot_spin")) - BigInt("0x" + seg[2]) + BigInt("0x" + seg[1]);
      const hotAddr = exe.start + hotOff - exe.offset;
      const libcFn = libc.start + 0x100n; // somewhere in libc's text
      const u = new UserSymbols({ maxBytes: 1, warn: () => {} });
      u.remember(child.pid);
      expect(u.user(child.pid, [hotAddr])).toEqual(["ebpfctl_hot_spin"]);
      const afterExe = u.bytes;
      u.user(child.pid, [libcFn + 0x100n]);
      // Cap of 1 byte: only the index just used stays built.
      expect(u.bytes).toBeLessThan(afterExe + (8 << 20));
      expect(u.user(child.pid, [hotAddr])).toEqual(["ebpfctl_hot_spin"]);
      expect(u.bytes).toBe(afterExe);
      expect(u.user(child.pid, [0x10n])).toEqual([UNKNOWN_FRAME]);
      u.close();
    } finally {
      child.kill();
      await child.exited;
    }
  });
});

describe("Kallsyms", () => {
  test("the live table costs a few MB, and names what /proc/kallsyms says", () => {
    const k = Kallsyms.load();
    if (k.addressesHidden) return;
    const lines = readFileSync("/proc/kallsyms", "utf8").split("\n").filter((l) => / [tTwW] /.test(l) && !l.startsWith("0000000000000000"));
    expect(k.size).toBe(lines.length);
    expect(k.bytes).toBeLessThan(lines.length * 48);
    const mod = lines.find((l) => / \[\w+\]$/.test(l));
    if (mod) {
      const [addr, , name, m] = mod.split(/\s+/);
      expect(k.lookup(BigInt("0x" + addr))).toMatchObject({ name, module: m!.slice(1, -1), offset: 0 });
    }
  });
});
