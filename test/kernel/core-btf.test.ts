// CO-RE against a cached minimised kernel BTF: the first run of a recipe on a boot loads against
// the kernel's BTF and, after detaching, caches bpftool's minimised BTF with the digests of its
// relocated programs; later runs load against that file and still see correct events. A cached
// file that relocates differently, or that someone else could have written, is never used.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { kernelTest } from "./helpers";
import { assertBuilt, ebpfctl, isolatedEnv, tempDir, trace } from "../helpers/trace";
import { CoreBtfCache, kernelImageId, moduleBtfDigest, relocationDigest } from "../../src/kernel/core-btf";

beforeAll(() => assertBuilt());

// ---- pure: which instruction bytes the digest ignores ----

/** One 8-byte BPF instruction: opcode, dst/src registers, 16-bit offset, 32-bit immediate. */
function insn(code: number, dst: number, src: number, off: number, imm: number): number[] {
  const b = new DataView(new ArrayBuffer(8));
  b.setUint8(0, code);
  b.setUint8(1, (src << 4) | dst);
  b.setInt16(2, off, true);
  b.setInt32(4, imm, true);
  return [...new Uint8Array(b.buffer)];
}
const LDX_DW = 0x79;
const LDIMM64 = 0x18;
const program = (...insns: number[][]) => new Uint8Array(insns.flat());

describe("relocationDigest", () => {
  test("ignores the map fd of an ldimm64 map reference, nothing else", () => {
    const withFd = (fd: number, valueOffset = 0, loadOffset = 8) =>
      program(insn(LDIMM64, 1, 2, 0, fd), insn(0, 0, 0, 0, valueOffset), insn(LDX_DW, 2, 1, loadOffset, 0));
    expect(relocationDigest(withFd(5))).toBe(relocationDigest(withFd(9)));
    // A field offset CO-RE relocated differently, or another offset into the map value: different.
    expect(relocationDigest(withFd(5, 0, 16))).not.toBe(relocationDigest(withFd(5, 0, 8)));
    expect(relocationDigest(withFd(5, 4))).not.toBe(relocationDigest(withFd(5, 0)));
    // A 64-bit constant (src_reg 0) is not a file descriptor: its immediate counts.
    const constant = (imm: number) => program(insn(LDIMM64, 1, 0, 0, imm), insn(0, 0, 0, 0, 0));
    expect(relocationDigest(constant(1))).not.toBe(relocationDigest(constant(2)));
  });
});

describe("CoreBtfCache key", () => {
  test("the image id is the kernel's build-id and BTF size when there is one, else the boot", () => {
    expect(kernelImageId({ buildId: "4a5a", bootId: "b1", btf: { vmlinuxBytes: 5516713 } })).toBe("build-id 4a5a btf 5516713");
    expect(kernelImageId({ buildId: null, bootId: "b1", btf: { vmlinuxBytes: 5516713 } })).toBe("boot b1");
  });

  test("another kernel image, object, program set or set of modules with BTF is another entry; program order is not", () => {
    const key = { kernel: "6.18", image: "build-id 4a5a btf 5516713", moduleBtf: moduleBtfDigest([]), objectSha256: "a".repeat(64), programs: ["p1", "p2"] };
    const path = (k: typeof key) => new CoreBtfCache("/run/x", k).path;
    expect(path({ ...key, programs: ["p2", "p1"] })).toBe(path(key));
    for (const other of [{ image: "build-id 4a5b btf 5516713" }, { objectSha256: "b".repeat(64) }, { programs: ["p1"] }, { moduleBtf: moduleBtfDigest(["nf_conntrack"]) }]) {
      expect(path({ ...key, ...other })).not.toBe(path(key));
    }
  });
});

// ---- on the kernel, through the compiled binary ----

interface AuditLine {
  event: string;
  session: string;
  [k: string]: unknown;
}
const auditOf = (env: Record<string, string>): AuditLine[] =>
  readFileSync(env.EBPFCTL_AUDIT_LOG!, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditLine);
const cacheDir = (env: Record<string, string>) => join(env.EBPFCTL_CACHE_DIR!, "core-btf");
const cacheFiles = (env: Record<string, string>) => readdirSync(cacheDir(env)).sort();

/** Runs opensnoop for one `cat` of an existing and a missing file; returns the session's audit records and the two events. */
async function openRun(env: Record<string, string>) {
  const comm = `ebb${randomBytes(4).toString("hex")}`;
  const dir = tempDir();
  const cat = join(dir, comm);
  copyFileSync("/bin/cat", cat);
  chmodSync(cat, 0o755);
  const existing = join(dir, "exists");
  const missing = join(dir, "missing");
  writeFileSync(existing, "x");
  const t = trace(["opensnoop", "-o", "json", "-c", comm, "-d", "1"], env);
  const attached = await t.waitFor("attached");
  await Bun.spawn([cat, existing, missing], { stdout: "ignore", stderr: "ignore" }).exited;
  expect(await t.exited).toBe(0);
  const events = t.events<{ path: string; ret: number; errno?: string; flags_raw: number; comm: string }>();
  const records = auditOf(env).filter((r) => r.session === attached.session);
  return {
    loaded: records.find((r) => r.event === "loaded")!,
    coreBtf: records.find((r) => r.event === "core_btf"),
    ok: events.find((e) => e.path === existing),
    bad: events.find((e) => e.path === missing),
    events,
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function expectCorrectEvents(r: Awaited<ReturnType<typeof openRun>>): void {
  expect(r.ok?.ret).toBeGreaterThanOrEqual(0);
  expect(r.ok?.errno).toBeUndefined();
    expect(r.ok?.flags_raw).toBe(0); // O_RDONLY, read from the saved registers
  expect(r.bad?.ret).toBe(-2);
  expect(r.bad?.errno).toBe("ENOENT");
}

/** Swap the offsets of two members of one struct in a raw BTF file (a BTF that relocates differently). */
function swapMemberOffsets(btf: Uint8Array, struct: string, a: string, b: string): Uint8Array {
  const out = new Uint8Array(btf);
  const dv = new DataView(out.buffer);
  const hdrLen = dv.getUint32(4, true);
  const typeOff = hdrLen + dv.getUint32(8, true);
  const typeEnd = typeOff + dv.getUint32(12, true);
  const strOff = hdrLen + dv.getUint32(16, true);
  const name = (off: number) => {
    let end = strOff + off;
    while (out[end] !== 0) end++;
    return new TextDecoder().decode(out.subarray(strOff + off, end));
  };
  const extra: Record<number, (vlen: number) => number> = { 1: () => 4, 3: () => 12, 4: (v) => 12 * v, 5: (v) => 12 * v, 6: (v) => 8 * v, 13: (v) => 8 * v, 14: () => 4, 15: (v) => 12 * v, 17: () => 4, 19: (v) => 12 * v };
  for (let p = typeOff; p < typeEnd; ) {
    const info = dv.getUint32(p + 4, true);
    const kind = (info >> 24) & 0x1f;
    const vlen = info & 0xffff;
    if (kind === 4 && name(dv.getUint32(p, true)) === struct) {
      const members = Array.from({ length: vlen }, (_, i) => p + 12 + 12 * i);
      const ma = members.find((m) => name(dv.getUint32(m, true)) === a)!;
      const mb = members.find((m) => name(dv.getUint32(m, true)) === b)!;
      const oa = dv.getUint32(ma + 8, true);
      dv.setUint32(ma + 8, dv.getUint32(mb + 8, true), true);
      dv.setUint32(mb + 8, oa, true);
      return out;
    }
    p += 12 + (extra[kind]?.(vlen) ?? 0);
  }
  throw new Error(`struct ${struct} not in the BTF`);
}

describe("CO-RE against a cached minimised kernel BTF", () => {
  kernelTest("the first run caches it after detach; the next loads against it and sees the same events", async () => {
    const env = isolatedEnv();
    const first = await openRun(env);
    expect(first.loaded.core_btf).toBe("kernel");
    expectCorrectEvents(first);
    expect(first.coreBtf?.result).toBe("cached");
    expect(first.coreBtf?.bytes as number).toBeLessThan(4096); // vs 5.5 MB of kernel BTF
    const files = cacheFiles(env);
    expect(files.filter((f) => f.endsWith(".btf")).length).toBe(1);
    expect(files.filter((f) => f.endsWith(".json")).length).toBe(1);
    for (const f of files) expect(statSync(join(cacheDir(env), f)).mode & 0o022).toBe(0);
    expect(statSync(cacheDir(env)).mode & 0o777).toBe(0o700);
    // doctor says what the cache holds and which bpftool makes it.
    const doctor = await ebpfctl(["doctor", "--output", "json"], env);
    expect(JSON.parse(doctor.stdout).coreBtf).toEqual({ bpftool: "/usr/sbin/bpftool", dir: cacheDir(env), entries: 1 });

    const second = await openRun(env);
    expect(second.loaded.core_btf).toBe("cached");
    expect(second.loaded.core_btf_fallback).toBeUndefined();
    expect(second.coreBtf).toBeUndefined(); // nothing to make
    expectCorrectEvents(second);
  }, 30_000);

  kernelTest("execsnoop against its cached BTF: pid, ppid, filename and args still right", async () => {
    const env = isolatedEnv();
    const execRun = async () => {
      const comm = `ebx${randomBytes(4).toString("hex")}`;
      const bin = join(tempDir(), comm);
      copyFileSync("/bin/true", bin);
      chmodSync(bin, 0o755);
      const arg = randomBytes(6).toString("hex");
      const t = trace(["execsnoop", "-o", "json", "-c", comm, "-d", "1"], env);
      const attached = await t.waitFor("attached");
      const child = Bun.spawn([bin, arg, "second"], { stdout: "ignore" });
      await child.exited;
      expect(await t.exited).toBe(0);
      const loaded = auditOf(env).find((r) => r.session === attached.session && r.event === "loaded")!;
      const ev = t.events<{ pid: number; ppid: number; filename: string; args: string[]; ret: number }>()[0];
      expect(ev?.pid).toBe(child.pid);
      expect(ev?.ppid).toBe(process.pid);
      expect(ev?.filename).toBe(bin);
      expect(ev?.args).toEqual([bin, arg, "second"]);
      expect(ev?.ret).toBe(0);
      return loaded.core_btf;
    };
    expect(await execRun()).toBe("kernel");
    expect(await execRun()).toBe("cached");
  }, 30_000);

  kernelTest("a cached BTF that relocates differently is refused before attach, forgotten and made again", async () => {
    const env = isolatedEnv();
    await openRun(env);
    const btfFile = join(cacheDir(env), cacheFiles(env).find((f) => f.endsWith(".btf"))!);
    const good = readFileSync(btfFile);
    // opensnoop reads the open flags and path from the saved registers: swap where two of them live.
    writeFileSync(btfFile, swapMemberOffsets(good, "pt_regs", "si", "dx"));
    const r = await openRun(env);
    expect(r.loaded.core_btf).toBe("kernel");
    expect(String(r.loaded.core_btf_fallback)).toContain("relocated differently");
    expectCorrectEvents(r);
    expect(r.coreBtf?.result).toBe("cached");
    expect(readFileSync(btfFile).equals(good)).toBe(true);
    expect((await openRun(env)).loaded.core_btf).toBe("cached");
  }, 40_000);

  kernelTest("a build killed mid-way leaves temporaries the next build removes (only those of dead processes)", async () => {
    const env = isolatedEnv();
    await openRun(env);
    const dir = cacheDir(env);
    const [id] = cacheFiles(env).filter((f) => f.endsWith(".json"));
    let deadPid = 4_194_303; // the largest pid Linux allows; walk down to one no process has
    while (isAlive(deadPid)) deadPid--;
    const dead = join(dir, id!.replace(/\.json$/, `.btf.${deadPid}.o`));
    const live = join(dir, id!.replace(/\.json$/, `.btf.${process.pid}.tmp`)); // this test runner is alive
    writeFileSync(dead, "x");
    writeFileSync(live, "x");
    for (const f of cacheFiles(env).filter((f) => f.endsWith(".json") || f.endsWith(".btf"))) rmSync(join(dir, f));
    expect((await openRun(env)).coreBtf?.result).toBe("cached");
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
  }, 30_000);

  kernelTest("a build removes entries of other kernel images, which can never match again", async () => {
    const env = isolatedEnv();
    await openRun(env);
    const dir = cacheDir(env);
    const [index] = cacheFiles(env).filter((f) => f.endsWith(".json"));
    const entry = JSON.parse(readFileSync(join(dir, index!), "utf8")) as { key: Record<string, unknown> };
    // The same entry as if made under another kernel image (an upgrade since).
    const stale = join(dir, "0".repeat(32));
    writeFileSync(`${stale}.json`, JSON.stringify({ ...entry, key: { ...entry.key, image: "build-id 00 btf 1" } }), { mode: 0o600 });
    copyFileSync(join(dir, index!.replace(/\.json$/, ".btf")), `${stale}.btf`);
    const execRun = trace(["execsnoop", "-o", "json", "-d", "0.3"], env); // another recipe: a build happens
    expect(await execRun.exited).toBe(0);
    expect(existsSync(`${stale}.json`)).toBe(false);
    expect(existsSync(`${stale}.btf`)).toBe(false);
    expect(existsSync(join(dir, index!))).toBe(true); // this kernel's entries stay
  }, 30_000);

  kernelTest("a cached BTF that others could have written is not used", async () => {
    const env = isolatedEnv();
    await openRun(env);
    const btfFile = join(cacheDir(env), cacheFiles(env).find((f) => f.endsWith(".btf"))!);
    chmodSync(btfFile, 0o666);
    const r = await openRun(env);
    expect(r.loaded.core_btf).toBe("kernel");
    expectCorrectEvents(r);
    expect(r.coreBtf?.result).toBe("cached");
    expect(statSync(btfFile).mode & 0o022).toBe(0);
  }, 40_000);
});
