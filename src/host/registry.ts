// Live sessions: each running session keeps $EBPFCTL_RUN_DIR/sessions/<id>.json up to date (about
// once a second), so `ebpfctl ps` and `ebpfctl stop` work without talking to the session.
// An entry names its process by pid AND the process's start time (/proc/PID/stat field 22, clock
// ticks since boot): after a crash the kernel may hand the pid to an unrelated process, and the
// start time tells them apart. Entries whose process is gone are stale and get removed.
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { MiB, readRegularText } from "../files/regular-file";
import { ExitCode } from "../errors";
import { join } from "node:path";
import { ensureDir, sessionsDir, writeAtomic } from "./host-paths";
import type { Budgets } from "../budget/budgets";

export interface SessionUsage {
  elapsed_ms: number;
  rate: number;
  memory: number;
  cpu_percent: number;
  output_bytes: number;
  produced: number;
  delivered: number;
  dropped: number;
  sampled_out: number;
}

export interface SessionEntry {
  id: string;
  pid: number;
  /** /proc/PID/stat starttime (clock ticks since boot) of the session's process. */
  start_ticks: number;
  boot_id: string | null;
  recipe: string;
  user: string;
  uid: number;
  started: string;
  profile: "full" | "reduced";
  state: "starting" | "running" | "stopping";
  limits: Budgets;
  usage: SessionUsage | null;
  prog_ids: number[];
  link_ids: number[];
  capabilities: string[] | null;
  updated: string;
}

/** starttime of a process, or undefined when it does not exist. */
export function procStartTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
  } catch {
    return undefined;
  }
}

export function bootId(): string | null {
  try {
    return readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  } catch {
    return null;
  }
}

/** Is the process that wrote this (pid, start time) still the one running under that pid? */
export function processAlive(pid: number, startTicks: number): boolean {
  return procStartTicks(pid) === startTicks;
}

const entryFile = (id: string) => join(sessionsDir(), `${id}.json`);

export class SessionRegistration implements Disposable {
  private entry: SessionEntry;
  private removed = false;

  constructor(init: Omit<SessionEntry, "pid" | "start_ticks" | "boot_id" | "updated" | "usage" | "prog_ids" | "link_ids" | "capabilities" | "state">) {
    ensureDir(sessionsDir());
    this.entry = { ...init, pid: process.pid, start_ticks: procStartTicks(process.pid) ?? -1, boot_id: bootId(), state: "starting", usage: null, prog_ids: [], link_ids: [], capabilities: null, updated: new Date().toISOString() };
    this.write();
  }

  get id(): string {
    return this.entry.id;
  }

  update(patch: Partial<SessionEntry>): void {
    if (this.removed) return;
    this.entry = { ...this.entry, ...patch, updated: new Date().toISOString() };
    try {
      this.write();
    } catch {
      /* ps shows the previous figures; the session itself is not at stake */
    }
  }

  private write(): void {
    writeAtomic(entryFile(this.entry.id), JSON.stringify(this.entry) + "\n");
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    rmSync(entryFile(this.entry.id), { force: true });
  }

  [Symbol.dispose](): void {
    this.remove();
  }
}

export interface ListedSession extends SessionEntry {
  alive: boolean;
}

/** Every registered session; stale entries (dead process, reused pid, earlier boot) are removed unless `keepStale`. */
export function listSessions(opts: { keepStale?: boolean } = {}): { live: ListedSession[]; stale: ListedSession[] } {
  const live: ListedSession[] = [];
  const stale: ListedSession[] = [];
  let files: string[];
  try {
    files = readdirSync(sessionsDir()).filter((f) => f.endsWith(".json"));
  } catch {
    return { live, stale };
  }
  const boot = bootId();
  for (const f of files) {
    let e: SessionEntry;
    try {
      e = JSON.parse(readRegularText(join(sessionsDir(), f), { what: "session entry", maxBytes: MiB, exitCode: ExitCode.INTERNAL, noFollow: true })) as SessionEntry;
    } catch {
      continue; // being replaced right now, or not ours
    }
    const alive = (e.boot_id === null || e.boot_id === boot) && processAlive(e.pid, e.start_ticks);
    (alive ? live : stale).push({ ...e, alive });
    if (!alive && !opts.keepStale) rmSync(join(sessionsDir(), f), { force: true });
  }
  live.sort((a, b) => a.started.localeCompare(b.started));
  return { live, stale };
}
