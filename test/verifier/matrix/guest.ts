// Runs command lines inside a kernel-matrix guest (a Debian cloud kernel under qemu TCG: 6.1 by
// default, --kernel 5.10 or 6.12; see scripts/kernel-matrix). One boot per call, so batch what you
// can: a boot costs ~10-25 s.
//
//   const [r] = await runInGuest(["ebpfctl trace execsnoop -d 2 --output json"]);
//   expect(r.exit).toBe(0);
//
// Each command line runs under the guest's busybox `sh -c` in /work (which holds
// bpf/verifier-baseline), as root, with ebpfctl (= dist/ebpfctl), bpftool and probe-attach on PATH.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface GuestResult { cmd: string; exit: number; stdout: string; stderr: string }

export interface RunInGuestOptions {
  /** Seconds for the whole boot (default 120). A command still running then gets exit 124. */
  timeoutSec?: number;
  /** The ebpfctl binary to put in the guest (default dist/ebpfctl, or $KERNEL_MATRIX_EBPFCTL). */
  ebpfctl?: string;
  /** Kernel series: 5.10 (Debian 11), 6.1 (Debian 12, the default) or 6.12 (bookworm-backports). */
  kernel?: string;
  /** Debian kernel package (default: the series' cached one with a committed baseline, else the newest). */
  kernelPkg?: string;
  /** Print the guest console on the script's stderr (collected in GuestRun.log). */
  verbose?: boolean;
}

export interface GuestRun {
  results: GuestResult[];
  /** scripts/kernel-matrix's exit: 0, 124 (timed out before every result came back) or 125. */
  exit: number;
  /** The script's own stderr: progress lines, boot wall time, errors. */
  log: string;
  /** Boot + commands wall time in seconds, measured around qemu. */
  wallSeconds: number | null;
}

export const ROOT = new URL("../../..", import.meta.url).pathname.replace(/\/$/, "");
export const KERNEL_MATRIX = join(ROOT, "scripts/kernel-matrix");

function optionArgs(opts: RunInGuestOptions): string[] {
  const a: string[] = [];
  if (opts.timeoutSec) a.push("--timeout", String(opts.timeoutSec));
  if (opts.ebpfctl) a.push("--ebpfctl", opts.ebpfctl);
  if (opts.kernel) a.push("--kernel", opts.kernel);
  if (opts.kernelPkg) a.push("--kernel-pkg", opts.kernelPkg);
  if (opts.verbose) a.push("--verbose");
  return a;
}

/** Boots the guest once, runs every command line in order, and returns each one's result. */
export async function runInGuestDetailed(commands: string[], opts: RunInGuestOptions = {}): Promise<GuestRun> {
  if (commands.length === 0) throw new Error("runInGuest: no commands");
  for (const c of commands) if (c.includes("\n")) throw new Error(`runInGuest: command lines cannot contain newlines: ${c}`);
  const dir = mkdtempSync(join(tmpdir(), "kernel-matrix-"));
  try {
    const file = join(dir, "commands.txt");
    const out = join(dir, "results.json");
    writeFileSync(file, commands.join("\n") + "\n");
    const proc = Bun.spawn(["bash", KERNEL_MATRIX, ...optionArgs(opts), "--out", out, "batch", file], {
      cwd: ROOT,
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [, log, exit] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (!existsSync(out)) throw new Error(`scripts/kernel-matrix batch failed (exit ${exit}):\n${log}`);
    const results = JSON.parse(readFileSync(out, "utf8")) as GuestResult[];
    const wall = /took ([\d.]+) s wall/.exec(log);
    return { results, exit, log, wallSeconds: wall ? Number(wall[1]) : null };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Boots the guest once and runs the command lines in order: one {cmd, exit, stdout, stderr} each. */
export async function runInGuest(commands: string[], opts: RunInGuestOptions = {}): Promise<GuestResult[]> {
  return (await runInGuestDetailed(commands, opts)).results;
}

/**
 * Fetches the kernel, installs qemu/busybox if missing and builds the initramfs
 * (`scripts/kernel-matrix prepare`). Returns undefined when the guest can run, else why not.
 */
export function prepareGuest(opts: RunInGuestOptions = {}): string | undefined {
  const r = Bun.spawnSync(["bash", KERNEL_MATRIX, ...optionArgs(opts), "info"], { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  if (r.exitCode === 0) return undefined;
  const err = r.stderr.toString().trim().split("\n").filter((l) => l.includes("error")).join("; ");
  return err || `scripts/kernel-matrix info exited ${r.exitCode}: ${r.stderr.toString().trim()}`;
}

/** `scripts/kernel-matrix info` as key/values (release, kernel, initramfs, ebpfctl). */
export function guestInfo(opts: RunInGuestOptions = {}): Record<string, string> {
  const r = Bun.spawnSync(["bash", KERNEL_MATRIX, "--quiet", ...optionArgs(opts), "info"], { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const info: Record<string, string> = {};
  for (const line of r.stdout.toString().split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) info[line.slice(0, i)] = line.slice(i + 1);
  }
  return info;
}
