import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { decodeCapabilities, parseLockdown, parseMounts, readKernelFacts } from "../../src/kernel/facts";

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
