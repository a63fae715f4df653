// bench-fleet: `kill_switch.yml` on the lab's hosts, rep by rep. Each measured run engages the switch
// (persistent, every host); an unmeasured `off` run follows it. The figure is the time from the
// playbook's start to the latest receipt's engagement time (`at`, written by ebpfctl on the host when
// the switch file is in place), read from kill_switch.json. "warm": ssh masters from the previous run
// are still up (ControlPersist); "cold": every master is closed and its socket removed first, so each
// host costs a full ssh handshake. The floor: an empty play on localhost. Medians, min–max, and the
// 1-minute load average at each run (the machine is shared).
//   scripts/bench-fleet [--reps N] [--hosts N] [--pause S]
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fmt, max, mdTable, median, min, parseArgs } from "./bench-lib/stats";

const args = parseArgs(process.argv.slice(2), { reps: "string", hosts: "string", pause: "string" });
const REPS = Number(args.reps ?? 5);
const HOSTS = Number(args.hosts ?? 6);
const PAUSE_MS = Number(args.pause ?? 5) * 1000;
const ROOT = join(import.meta.dir, "..");
const LAB = join(ROOT, "build/fleet-lab");
const FLEET_LAB = join(ROOT, "scripts/fleet-lab");
const REPORTS = mkdtempSync("/tmp/bench-fleet-");

function sh(cmd: string[], env: Record<string, string> = {}): { code: number; out: string } {
  const r = Bun.spawnSync(cmd, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, out: r.stdout.toString() + r.stderr.toString() };
}
const load1 = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

function playbook(file: string, extra?: Record<string, unknown>): { code: number; startMs: number; wallMs: number; out: string } {
  const cmd = ["bash", FLEET_LAB, "run", "ansible-playbook", file];
  if (extra) cmd.push("-e", JSON.stringify(extra));
  const startMs = Date.now();
  const r = sh(cmd, { EBPFCTL_REPORT_DIR: REPORTS, ANSIBLE_NOCOLOR: "1" });
  return { ...r, startMs, wallMs: Date.now() - startMs };
}

/** Closes every ssh master of the lab's controller: the next run connects from scratch. */
function closeMasters(): void {
  const dir = join(LAB, "cp");
  if (!existsSync(dir)) return;
  for (const s of readdirSync(dir)) {
    sh(["bash", FLEET_LAB, "run", "ssh", "-o", `ControlPath=${join(dir, s)}`, "-O", "exit", "lab"]);
    rmSync(join(dir, s), { force: true });
  }
}

if (!existsSync(join(LAB, "ansible.cfg")) || readFileSync(join(LAB, "hosts"), "utf8").trim().split("\n").length !== HOSTS) {
  const up = sh(["bash", FLEET_LAB, "up", String(HOSTS)]);
  if (up.code !== 0) throw new Error(`fleet-lab up failed:\n${up.out}`);
}
const KS = join(ROOT, "deploy/playbooks/kill_switch.yml");
if (!existsSync(join(LAB, "host1/usr-local-sbin/ebpfctl"))) {
  const inst = playbook(join(ROOT, "deploy/playbooks/install.yml"));
  if (inst.code !== 0) throw new Error(`install failed:\n${inst.out.slice(-3000)}`);
}
const EMPTY = join(REPORTS, "empty.yml");
writeFileSync(EMPTY, "- name: Nothing\n  hosts: localhost\n  gather_facts: false\n  tasks: []\n");
playbook(KS, { ebpfctl_kill_state: "off" });

interface Row { mode: string; first: number[]; last: number[]; wall: number[]; load: number[] }
const rows: Row[] = ["floor (empty playbook)", "warm", "cold"].map((mode) => ({ mode, first: [], last: [], wall: [], load: [] }));
for (let rep = 0; rep < REPS; rep++) {
  for (const row of rows) {
    await Bun.sleep(PAUSE_MS);
    row.load.push(load1());
    if (row.mode.startsWith("floor")) {
      const r = playbook(EMPTY);
      if (r.code !== 0) throw new Error(`empty playbook failed:\n${r.out}`);
      row.wall.push(r.wallMs);
      continue;
    }
    if (row.mode === "cold") closeMasters();
    const r = playbook(KS);
    if (r.code !== 0) throw new Error(`kill_switch.yml failed (${r.code}):\n${r.out.slice(-3000)}`);
    const receipts = JSON.parse(readFileSync(join(REPORTS, "kill_switch.json"), "utf8")).receipts as { host: string; at: string | null }[];
    const at = receipts.map((x) => Date.parse(x.at ?? "")).filter(Number.isFinite);
    if (at.length !== HOSTS) throw new Error(`${at.length} receipts with a time, expected ${HOSTS}`);
    row.first.push(Math.min(...at) - r.startMs);
    row.last.push(Math.max(...at) - r.startMs);
    row.wall.push(r.wallMs);
    const off = playbook(KS, { ebpfctl_kill_state: "off" });
    if (off.code !== 0) throw new Error(`kill_switch.yml off failed:\n${off.out.slice(-3000)}`);
  }
}
const s = (xs: number[]) => (xs.length ? `${fmt(median(xs) / 1000, 2)} (${fmt(min(xs) / 1000, 2)}–${fmt(max(xs) / 1000, 2)})` : "–");
console.log(`bench-fleet: ${HOSTS} hosts, ${REPS} reps, ${PAUSE_MS / 1000} s pause before each run; seconds, median (min–max)\n`);
console.log(mdTable(["run", "first receipt", "last receipt", "playbook wall", "load avg (1 min)"],
  rows.map((r) => [r.mode, s(r.first), s(r.last), s(r.wall), `${fmt(min(r.load), 1)}–${fmt(max(r.load), 1)}`])));
rmSync(REPORTS, { recursive: true, force: true });
