// Boots Debian 12's 6.1 cloud kernel under qemu TCG (scripts/kernel-matrix) and checks, inside
// it, that ebpfctl runs and that kprobe/fentry programs really attach there (they cannot on the
// host: lockdown, no kprobes). One boot for the batch, one for the `run` CLI contract.
// Locally the suite skips when the guest cannot be prepared (no qemu, kernel not obtainable, no
// dist/ebpfctl); under CI=true it fails instead.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { KERNEL_MATRIX, ROOT, guestInfo, prepareGuest, runInGuestDetailed, type GuestResult, type GuestRun } from "./guest";

const BOOT_TIMEOUT_MS = 400_000; // first run may download the kernel and build the initramfs

const skipReason = prepareGuest();
const ci = process.env.CI === "true";
const release = skipReason ? "" : guestInfo().release;
const ebpfctl = process.env.KERNEL_MATRIX_EBPFCTL ?? join(ROOT, "dist/ebpfctl");

function guestTest(name: string, fn: () => void | Promise<void>, timeoutMs = 10_000): void {
  if (!skipReason) test(name, fn, timeoutMs);
  else if (ci) test(name, () => { throw new Error(`kernel-matrix guest unavailable under CI: ${skipReason}`); });
  else test.skip(`${name} (skipped: ${skipReason})`, fn);
}

const COMMANDS = [
  "ebpfctl version --output json",
  "ebpfctl version",
  "ebpfctl list",
  "bpftool feature probe kernel",
  "probe-attach kprobe fentry tracepoint kretprobe",
  "cat /sys/kernel/security/lockdown",
  "/bin/true",
  "echo to-stderr >&2; echo to-stdout; exit 3",
];

describe("kernel-matrix guest (Debian 6.1 cloud kernel, qemu TCG)", () => {
  let run: GuestRun;
  const result = (cmd: string): GuestResult => {
    const r = run.results.find((x) => x.cmd === cmd);
    if (!r) throw new Error(`no result for ${cmd}`);
    return r;
  };

  beforeAll(async () => {
    if (skipReason) return;
    run = await runInGuestDetailed(COMMANDS, { timeoutSec: 240 });
    console.error(`kernel-matrix: guest ${release}, boot + ${COMMANDS.length} commands: ${run.wallSeconds} s wall`);
    if (run.exit !== 0) console.error(run.log);
  }, BOOT_TIMEOUT_MS);

  guestTest("the boot completes and every command returns a result", () => {
    expect(run.exit).toBe(0);
    expect(run.results.map((r) => r.cmd)).toEqual(COMMANDS);
    expect(release).toMatch(/^6\.1\.0-\d+-cloud-amd64$/);
  });

  guestTest("ebpfctl version inside reports the guest's 6.1 kernel", () => {
    const json = result("ebpfctl version --output json");
    expect(json.exit).toBe(0);
    const v = JSON.parse(json.stdout);
    expect(v.kernel).toMatch(/^6\.1\./);
    expect(v.kernel).toBe(release);
    expect(v.libbpf).toMatch(/^v1\./);
    const text = result("ebpfctl version");
    expect(text.exit).toBe(0);
    expect(text.stdout).toMatch(/kernel\s+6\.1\.\S+/);
  });

  guestTest("the guest runs the same dist/ebpfctl as the host (ebpfctl list: same exit, same output)", () => {
    const host = Bun.spawnSync([ebpfctl, "list"], { stdout: "pipe", stderr: "pipe" });
    const guest = result("ebpfctl list");
    expect(guest.exit).toBe(host.exitCode);
    // (list's output may legitimately differ between kernels; an error message may not)
    const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");
    if (host.exitCode !== 0) expect(plain(guest.stdout)).toBe(plain(host.stdout.toString()));
  });

  guestTest("bpftool lists kprobe and tracing (fentry) program types as available", () => {
    const r = result("bpftool feature probe kernel");
    expect(r.exit).toBe(0);
    const lines = new Set(r.stdout.split("\n"));
    const want = ["eBPF program_type kprobe is available", "eBPF program_type tracing is available", "CONFIG_KPROBE_EVENTS is set to y", "CONFIG_DEBUG_INFO_BTF is set to y"];
    expect(want.filter((l) => !lines.has(l))).toEqual([]);
  });

  guestTest("a kprobe, a kretprobe, an fentry and a tracepoint program really attach and fire", () => {
    const r = result("probe-attach kprobe fentry tracepoint kretprobe");
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.kind)).toEqual(["kprobe", "fentry", "tracepoint", "kretprobe"]);
    for (const l of lines) {
      expect({ kind: l.kind, load: l.load, attach: l.attach, error: l.error }).toEqual({ kind: l.kind, load: true, attach: true, error: "" });
      expect(l.hits).toBeGreaterThanOrEqual(8);
    }
    expect(r.exit).toBe(0);
  });

  guestTest("the guest kernel is not locked down", () => {
    expect(result("cat /sys/kernel/security/lockdown").stdout).toContain("[none]");
  });

  guestTest("exit codes, stdout and stderr come back separately", () => {
    expect(result("/bin/true")).toMatchObject({ exit: 0, stdout: "", stderr: "" });
    expect(result("echo to-stderr >&2; echo to-stdout; exit 3")).toMatchObject({ exit: 3, stdout: "to-stdout\n", stderr: "to-stderr\n" });
  });

  guestTest("the boot (kernel + initramfs + commands) stays well inside the default 120 s limit", () => {
    expect(run.wallSeconds).not.toBeNull();
    expect(run.wallSeconds!).toBeLessThan(120);
  });

  guestTest(
    "`scripts/kernel-matrix run -- CMD` replays the guest command's stdout, stderr and exit code",
    () => {
      const r = Bun.spawnSync(["bash", KERNEL_MATRIX, "--quiet", "run", "--", "sh", "-c", "printf 'a b'; printf oops >&2; exit 7"], {
        cwd: ROOT,
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
      });
      expect(r.stdout.toString()).toBe("a b");
      expect(r.stderr.toString()).toBe("oops");
      expect(r.exitCode).toBe(7);
    },
    BOOT_TIMEOUT_MS,
  );
});

test("kernel-matrix is executable", () => {
  expect(existsSync(KERNEL_MATRIX)).toBe(true);
});
