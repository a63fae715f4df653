// The fleet lab (scripts/fleet-lab) from a test: bring it up, drive real ansible-playbook as the
// controller, and read each host's ground truth straight from its bound directories
// (build/fleet-lab/hostN/...), never through ebpfctl or Ansible.
import { spawn, spawnSync } from "bun";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const repoRoot = new URL("../../", import.meta.url).pathname;
export const LAB = join(repoRoot, "build/fleet-lab");
const FLEET_LAB = join(repoRoot, "scripts/fleet-lab");
export const HOSTS = [1, 2, 3, 4, 5, 6].map((i) => `host${i}`);

/** Why the lab cannot run here, or null. */
export function labMissing(): string | null {
  if (process.getuid?.() !== 0) return "not root";
  for (const [bin, pkg] of [["/usr/sbin/sshd", "openssh-server"], ["/usr/bin/ansible-playbook", "ansible-core"], ["/usr/bin/ansible-lint", "ansible-lint"], ["/usr/bin/minisign", "minisign"]]) {
    if (!existsSync(bin!)) return `${bin} missing (apt install ${pkg}; scripts/setup)`;
  }
  if (!existsSync(join(repoRoot, "dist/ebpfctl.minisig"))) return "dist/ebpfctl.minisig missing (scripts/build)";
  return null;
}

export function labUp(n = 6): { ok: boolean; output: string } {
  const r = spawnSync(["bash", FLEET_LAB, "up", String(n)], { stdout: "pipe", stderr: "pipe" });
  return { ok: r.exitCode === 0, output: r.stdout.toString() + r.stderr.toString() };
}

export function labDown(): void {
  spawnSync(["bash", FLEET_LAB, "down"], { stdout: "ignore", stderr: "ignore" });
}

export function lab(...args: string[]): { code: number; out: string } {
  const r = spawnSync(["bash", FLEET_LAB, ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}

export const reportDir = (): string => mkdtempSync("/tmp/ebpfctl-fleet-report-");

export interface PlaybookRun {
  code: number;
  out: string;
  startedMs: number;
  wallMs: number;
}

/** ansible-playbook as the controller (its network namespace, the lab's ansible.cfg). */
export async function playbook(name: string, opts: { extra?: Record<string, unknown>; reports: string; args?: string[] }): Promise<PlaybookRun> {
  const args = ["bash", FLEET_LAB, "run", "ansible-playbook", join(repoRoot, "deploy/playbooks", `${name}.yml`)];
  if (opts.extra) args.push("-e", JSON.stringify(opts.extra));
  args.push(...(opts.args ?? []));
  const startedMs = Date.now();
  const p = spawn(args, { env: { ...process.env, EBPFCTL_REPORT_DIR: opts.reports, ANSIBLE_NOCOLOR: "1", ANSIBLE_FORCE_COLOR: "0" }, stdout: "pipe", stderr: "pipe" });
  const [out, err] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const code = await p.exited;
  return { code, out: out + err, startedMs, wallMs: Date.now() - startedMs };
}

/** A process run inside host I (its namespaces), e.g. a trace an SRE left running. */
export function onHost(i: number, cmd: string[]) {
  return spawn(["bash", FLEET_LAB, "exec", String(i), ...cmd], { stdout: "pipe", stderr: "pipe" });
}

export const hostDir = (host: string) => join(LAB, host);

/** The host's audit records, read from its /var/log (bound directory). */
export function audit(host: string): Record<string, unknown>[] {
  const file = join(hostDir(host), "var-log/ebpfctl/audit.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

export const sessionStarts = (host: string) => audit(host).filter((r) => r.event === "session_start").length;

/** Which kill-switch files the host has (its /etc/ebpfctl and /run/ebpfctl). */
export function switches(host: string): string[] {
  const out: string[] = [];
  for (const [dir, label] of [["etc-ebpfctl", "persistent"], ["run-ebpfctl", "runtime"]]) {
    const d = join(hostDir(host), dir!);
    if (!existsSync(d)) continue;
    for (const f of require("node:fs").readdirSync(d) as string[]) if (f === "kill-switch" || f.startsWith("kill-switch@")) out.push(`${label}:${f}`);
  }
  return out.sort();
}

export function readJson<T = any>(file: string): T {
  return JSON.parse(readFileSync(file, "utf8")) as T;
}

/** The controller's record of the fleet kill switch (kill_switch.yml writes it next to the inventory). */
export const KILL_STATE = join(LAB, "ebpfctl_kill_switch.json");

/** The kill switch as host I itself reports it (`ebpfctl kill-switch status -o json` in its namespaces). */
export function hostSwitchStatus(i: number): { code: number; status: any } {
  const r = spawnSync(["bash", FLEET_LAB, "exec", String(i), "/usr/local/sbin/ebpfctl", "kill-switch", "status", "-o", "json"], { stdout: "pipe", stderr: "pipe" });
  let status: any = null;
  try {
    status = JSON.parse(r.stdout.toString());
  } catch {
    status = { unparsable: r.stdout.toString() + r.stderr.toString() };
  }
  return { code: r.exitCode ?? -1, status };
}

/**
 * The installed binary on every host (a filtered run, `-t`, skips the install test): runs the
 * install playbook once when a host lacks it.
 */
export async function ensureInstalled(): Promise<void> {
  if (HOSTS.every((h) => existsSync(join(hostDir(h), "usr-local-sbin/ebpfctl")))) return;
  const r = await playbook("install", { reports: reportDir() });
  if (r.code !== 0) throw new Error(`install failed: ${r.out.slice(-2000)}`);
}

/** Clear every kill switch on every host directly, and the controller's record (test setup, not the code under test). */
export function clearSwitches(): void {
  require("node:fs").rmSync(KILL_STATE, { force: true });
  for (const h of HOSTS) {
    for (const dir of ["etc-ebpfctl", "run-ebpfctl"]) {
      const d = join(hostDir(h), dir);
      if (!existsSync(d)) continue;
      for (const f of require("node:fs").readdirSync(d) as string[]) if (f === "kill-switch" || f.startsWith("kill-switch@")) require("node:fs").rmSync(join(d, f));
    }
  }
}
