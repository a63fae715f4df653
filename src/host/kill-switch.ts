// The host kill switch. Engaged, it stops every running session within a second and refuses new
// ones. Two forms: runtime ($EBPFCTL_RUN_DIR/kill-switch, tmpfs: gone at reboot) and persistent
// ($EBPFCTL_CONFIG_DIR/kill-switch: survives reboot). Either one being present means "on".
//
// A recipe switch (kill-switch on --recipe NAME) is the same file with the recipe's name,
// kill-switch@NAME, in the same two directories: it stops and refuses that recipe only ("disable
// the highest-cost probes first").
//
// Sessions do not poll: they watch both directories with inotify (fs.watch), so an idle session
// costs nothing, and the watcher's callback only sets a flag the session loop reads every ≤50 ms.
import { existsSync, readdirSync, rmSync, watch, type FSWatcher } from "node:fs";
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
  /** The recipe this switch is for; null for the host-wide switch. */
  recipe: string | null;
}

const RECIPE_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const switchName = (recipe?: string | null): string => (recipe ? `kill-switch@${recipe}` : "kill-switch");
export const runtimeSwitchFile = (recipe?: string | null): string => join(runDir(), switchName(recipe));
export const persistentSwitchFile = (recipe?: string | null): string => join(configDir(), switchName(recipe));

/** A recipe name usable in a switch file name (a recipe's manifest name has the same shape). */
export function validSwitchRecipe(name: string): boolean {
  return RECIPE_NAME.test(name);
}

function readSwitch(file: string, persistent: boolean, recipe: string | null = null): KillSwitchState | undefined {
  let text: string;
  try {
    text = readRegularText(file, { what: "kill switch", maxBytes: 64 * KiB, exitCode: ExitCode.KILL_SWITCH });
  } catch (e) {
    if (e instanceof InputFileError && e.reason === "missing") return undefined;
    // Present but unreadable (or not a regular file: a FIFO there would block a plain read) still means on: fail closed.
    return { by: "unknown", uid: -1, at: "unknown", reason: `${file} exists but cannot be read (${e instanceof InputFileError ? e.message : (e as NodeJS.ErrnoException).code})`, host: hostname(), pid: -1, persistent, file, recipe };
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
    recipe,
  };
}

/**
 * The switch in force (host-wide first, then the recipe's own; runtime before persistent), or
 * undefined when off. Without `recipe`, only the host-wide switch counts.
 */
export function readKillSwitch(recipe?: string): KillSwitchState | undefined {
  const host = readSwitch(runtimeSwitchFile(), false) ?? readSwitch(persistentSwitchFile(), true);
  if (host || !recipe) return host;
  return readSwitch(runtimeSwitchFile(recipe), false, recipe) ?? readSwitch(persistentSwitchFile(recipe), true, recipe);
}

/** Every switch present: the host-wide ones and each recipe's, runtime and persistent. */
export function listKillSwitches(): KillSwitchState[] {
  const out: KillSwitchState[] = [];
  for (const [dir, persistent] of [[runDir(), false], [configDir(), true]] as const) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names.sort()) {
      if (n !== "kill-switch" && !(n.startsWith("kill-switch@") && validSwitchRecipe(n.slice(12)))) continue;
      const s = readSwitch(join(dir, n), persistent, n === "kill-switch" ? null : n.slice(12));
      if (s) out.push(s);
    }
  }
  return out;
}

export function describeKillSwitch(s: KillSwitchState): string {
  return `${s.recipe ? `(recipe ${s.recipe}) ` : ""}engaged by ${s.by} (uid ${s.uid}) at ${s.at}${s.persistent ? " (persistent)" : ""}: ${s.reason}`;
}

export function engageKillSwitch(opts: { reason?: string; persistent?: boolean; recipe?: string }): KillSwitchState {
  const user = invokingUser();
  const rec: KillSwitchRecord = { by: user.user, uid: user.uid, at: new Date().toISOString(), reason: opts.reason ?? "(no reason given)", host: hostname(), pid: process.pid };
  const file = opts.persistent ? persistentSwitchFile(opts.recipe) : runtimeSwitchFile(opts.recipe);
  ensureDir(dirname(file));
  writeAtomic(file, JSON.stringify(rec) + "\n");
  return { ...rec, persistent: Boolean(opts.persistent), file, recipe: opts.recipe ?? null };
}

/**
 * Remove switches; returns the states that were removed. Without `recipe`: every switch (host-wide
 * and each recipe's), so "off" means tracing is allowed again. With `recipe`: that recipe's only.
 */
export function releaseKillSwitch(opts: { recipe?: string } = {}): KillSwitchState[] {
  const targets = opts.recipe ? listKillSwitches().filter((s) => s.recipe === opts.recipe) : listKillSwitches();
  for (const s of targets) rmSync(s.file, { force: true });
  return targets;
}

/**
 * Call `onEngaged` (once) when the switch turns on. Watches the run and config directories (or the
 * nearest existing parent, so a config directory created later is still seen). Checks once after
 * the watchers are in place, so a switch engaged just before is not missed.
 */
export class KillSwitchWatcher implements Disposable {
  private readonly watchers: FSWatcher[] = [];
  private fired = false;

  /** `recipe`: also fire on that recipe's own switch. */
  constructor(private readonly onEngaged: (s: KillSwitchState) => void, private readonly recipe?: string) {
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
    const s = readKillSwitch(this.recipe);
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
