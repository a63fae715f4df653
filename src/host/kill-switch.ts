// The host kill switch. Engaged, it stops every running session within a second and refuses new
// ones. Two forms: runtime ($EBPFCTL_RUN_DIR/kill-switch, tmpfs: gone at reboot) and persistent
// ($EBPFCTL_CONFIG_DIR/kill-switch: survives reboot). Either one being present means "on".
//
// Sessions do not poll: they watch both directories with inotify (fs.watch), so an idle session
// costs nothing, and the watcher's callback only sets a flag the session loop reads every ≤50 ms.
import { existsSync, rmSync, watch, type FSWatcher } from "node:fs";
import { InputFileError, KiB, readRegularText } from "../files/regular-file";
import { ExitCode } from "../errors";
import { dirname, join } from "node:path";
import { hostname } from "node:os";
import { invokingUser } from "../audit/sessions";
import { configDir, ensureDir, runDir, writeAtomic } from "./host-paths";

export interface KillSwitchRecord {
  by: string;
  uid: number;
  at: string;
  reason: string;
  host: string;
  pid: number;
}
export interface KillSwitchState extends KillSwitchRecord {
  persistent: boolean;
  file: string;
}

export const runtimeSwitchFile = (): string => join(runDir(), "kill-switch");
export const persistentSwitchFile = (): string => join(configDir(), "kill-switch");

function readSwitch(file: string, persistent: boolean): KillSwitchState | undefined {
  let text: string;
  try {
    text = readRegularText(file, { what: "kill switch", maxBytes: 64 * KiB, exitCode: ExitCode.KILL_SWITCH });
  } catch (e) {
    if (e instanceof InputFileError && e.reason === "missing") return undefined;
    // Present but unreadable (or not a regular file: a FIFO there would block a plain read) still means on: fail closed.
    return { by: "unknown", uid: -1, at: "unknown", reason: `${file} exists but cannot be read (${e instanceof InputFileError ? e.message : (e as NodeJS.ErrnoException).code})`, host: hostname(), pid: -1, persistent, file };
  }
  let rec: Partial<KillSwitchRecord> = {};
  try {
    rec = JSON.parse(text) as Partial<KillSwitchRecord>;
  } catch {
    // A file written by hand (touch /etc/ebpfctl/kill-switch) is a valid switch: its text is the reason.
    rec = { reason: text.trim() || "(no reason given)" };
  }
  return {
    by: String(rec.by ?? "unknown"),
    uid: Number(rec.uid ?? -1),
    at: String(rec.at ?? "unknown"),
    reason: String(rec.reason ?? "(no reason given)"),
    host: String(rec.host ?? hostname()),
    pid: Number(rec.pid ?? -1),
    persistent,
    file,
  };
}

/** The switch in force (the runtime one first), or undefined when off. */
export function readKillSwitch(): KillSwitchState | undefined {
  return readSwitch(runtimeSwitchFile(), false) ?? readSwitch(persistentSwitchFile(), true);
}

export function describeKillSwitch(s: KillSwitchState): string {
  return `engaged by ${s.by} (uid ${s.uid}) at ${s.at}${s.persistent ? " (persistent)" : ""}: ${s.reason}`;
}

export function engageKillSwitch(opts: { reason?: string; persistent?: boolean }): KillSwitchState {
  const user = invokingUser();
  const rec: KillSwitchRecord = { by: user.user, uid: user.uid, at: new Date().toISOString(), reason: opts.reason ?? "(no reason given)", host: hostname(), pid: process.pid };
  const file = opts.persistent ? persistentSwitchFile() : runtimeSwitchFile();
  ensureDir(dirname(file));
  writeAtomic(file, JSON.stringify(rec) + "\n");
  return { ...rec, persistent: Boolean(opts.persistent), file };
}

/** Remove both forms; returns the states that were removed. */
export function releaseKillSwitch(): KillSwitchState[] {
  const removed: KillSwitchState[] = [];
  for (const [file, persistent] of [[runtimeSwitchFile(), false], [persistentSwitchFile(), true]] as const) {
    const s = readSwitch(file, persistent);
    if (!s) continue;
    rmSync(file, { force: true });
    removed.push(s);
  }
  return removed;
}

/**
 * Call `onEngaged` (once) when the switch turns on. Watches the run and config directories (or the
 * nearest existing parent, so a config directory created later is still seen). Checks once after
 * the watchers are in place, so a switch engaged just before is not missed.
 */
export class KillSwitchWatcher implements Disposable {
  private readonly watchers: FSWatcher[] = [];
  private fired = false;

  constructor(private readonly onEngaged: (s: KillSwitchState) => void) {
    const dirs = new Set<string>([ensureDir(runDir())]);
    let cfg = configDir();
    while (!existsSync(cfg) && dirname(cfg) !== cfg) cfg = dirname(cfg);
    dirs.add(cfg);
    for (const dir of dirs) {
      try {
        const w = watch(dir, { persistent: false }, () => this.check());
        w.on("error", () => this.check());
        this.watchers.push(w);
      } catch {
        /* an unwatchable directory: the check below and refusals at start still hold */
      }
    }
    this.check();
  }

  check(): void {
    if (this.fired) return;
    const s = readKillSwitch();
    if (!s) return;
    this.fired = true;
    this.onEngaged(s);
  }

  close(): void {
    for (const w of this.watchers.splice(0)) w.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
