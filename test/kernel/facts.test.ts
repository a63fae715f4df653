import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { decodeCapabilities, parseBuildId, parseLockdown, parseMounts, readKernelFacts } from "../../src/kernel/facts";

describe("kernel facts parsers", () => {
  test("lockdown: the bracketed mode wins", () => {
    expect(parseLockdown("none [integrity] confidentiality\n")).toBe("integrity");
    expect(parseLockdown("[none] integrity confidentiality")).toBe("none");
    expect(parseLockdown("none integrity [confidentiality]")).toBe("confidentiality");
    expect(parseLockdown("garbage")).toBe("unknown");
  });

  test("CapEff decodes to names, and a missing bit is missing", () => {
    const caps = decodeCapabilities("000001fffeffffff");
    expect(caps).toContain("CAP_BPF");
    expect(caps).toContain("CAP_PERFMON");
    expect(caps).toContain("CAP_SYS_ADMIN");
    expect(caps).not.toContain("CAP_SYS_RESOURCE"); // bit 24 clear
    expect(decodeCapabilities("0000000000000000")).toEqual([]);
    expect(decodeCapabilities(((1n << 39n) | (1n << 38n)).toString(16))).toEqual(["CAP_PERFMON", "CAP_BPF"]);
  });

  test("build-id: the GNU NT_GNU_BUILD_ID note among others (Xen, Linux), 4-byte aligned", () => {
    const note = (name: string, type: number, desc: number[]) => {
      const n = Buffer.from(name + "\0");
      const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((4 - (b.length % 4)) % 4)]);
      const h = Buffer.alloc(12);
      h.writeUInt32LE(n.length, 0);
      h.writeUInt32LE(desc.length, 4);
      h.writeUInt32LE(type, 8);
      return Buffer.concat([h, pad(n), pad(Buffer.from(desc))]);
    };
    const notes = Buffer.concat([note("Xen", 6, [0x4c, 0x69, 0x6e, 0x75, 0x78]), note("GNU", 3, [0xde, 0xad, 0xbe, 0xef, 0x01]), note("Linux", 0x100, [1, 2, 3])]);
    expect(parseBuildId(notes)).toBe("deadbeef01");
    expect(parseBuildId(note("Linux", 0x100, [1, 2, 3]))).toBeNull();
    expect(parseBuildId(Buffer.from([1, 2, 3]))).toBeNull();
  });

  test("/proc/mounts: first mount point per filesystem type", () => {
    const m = parseMounts("none /sys/kernel/tracing tracefs rw 0 0\nsysfs /sys sysfs rw 0 0\nnone /mnt/my\\040dir tracefs rw 0 0\n");
    expect(m.get("tracefs")).toBe("/sys/kernel/tracing");
    expect(m.has("debugfs")).toBe(false);
  });
});

describe("kernel facts on this machine", () => {
  const facts = readKernelFacts();

  test("release, arch and boot id match /proc", () => {
    expect(facts.release).toBe(readFileSync("/proc/sys/kernel/osrelease", "utf8").trim());
    expect(facts.arch.length).toBeGreaterThan(0);
    expect(facts.bootId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test("the kernel's build-id and BTF size: what readelf would show, what stat says", () => {
    const notes = readFileSync("/sys/kernel/notes");
    if (notes.includes(Buffer.from("GNU\0"))) {
      // This machine's does (20 bytes, checked by hand with xxd /sys/kernel/notes).
      expect(facts.buildId).toMatch(/^[0-9a-f]{32,128}$/);
      expect(notes.includes(Buffer.from(facts.buildId!, "hex"))).toBe(true);
    } else {
      expect(facts.buildId).toBeNull();
    }
    expect(facts.btf.vmlinuxBytes).toBe(require("node:fs").statSync("/sys/kernel/btf/vmlinux").size);
  });

  test("capabilities agree with /proc/self/status", () => {
    const hex = /^CapEff:\s*(\S+)$/m.exec(readFileSync("/proc/self/status", "utf8"))![1]!;
    expect(facts.capabilities.effectiveHex).toBe(hex);
    expect(facts.capabilities.relevant.CAP_BPF).toBe(facts.capabilities.effective.includes("CAP_BPF"));
  });

  test("every fact is either a value or says why not", () => {
    for (const s of [facts.unprivilegedBpfDisabled, facts.perfEventParanoid, facts.jit, facts.bpfStatsEnabled]) {
      expect(s.meaning.length).toBeGreaterThan(0);
      if (s.value === null) expect(s.meaning).toStartWith("unknown, because");
    }
    if (facts.lockdown.mode === "unknown") expect(facts.lockdown.evidence).toContain("because");
    else expect(facts.lockdown.evidence).toContain("/sys/kernel/security");
    expect(typeof facts.mounts.tracefs.mounted).toBe("boolean");
  });
});
