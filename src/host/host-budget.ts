// The host-wide budget: policy.yaml `host:` ceilings across every session on the machine.
// Each session reserves its own limits (max_memory, max_rate, max_cpu: what its budgets allow it to
// use, not what it happens to use now) before it loads anything; the sum over live reservations
// must stay within the ceilings. The table lives in $EBPFCTL_RUN_DIR/reservations.json and is only
// read or changed under an exclusive flock(2) on reservations.lock. A reservation whose process is
// gone (SIGKILL, crash) or whose pid now belongs to another process (start-time mismatch) is
// reclaimed by the next reservation.
import { closeSync } from "node:fs";
import { MiB, openRegularForAppend, readRegularText } from "../files/regular-file";
import { join } from "node:path";
import { lockExclusive } from "../libbpf/flock";
import { formatBudget, type Budgets } from "../budget/budgets";
import { ExitCode, hostBudgetExceeded } from "../errors";
import type { HostPolicy } from "../recipe/policy";
import { ensureDir, runDir, writeAtomic } from "./host-paths";
import { processAlive, procStartTicks } from "./registry";

export interface Reservation {
  session: string;
  pid: number;
  start_ticks: number;
  recipe: string;
  memory: number;
  rate: number;
  cpu: number;
  at: string;
}

export interface HostUsage {
  sessions: number;
  memory: number;
  rate: number;
  cpu: number;
}

const tableFile = () => join(runDir(), "reservations.json");
const lockFile = () => join(runDir(), "reservations.lock");

function withLock<T>(fn: () => T): T {
  ensureDir(runDir());
  const fd = openRegularForAppend(lockFile(), 0o644);
  try {
    lockExclusive(fd);
    return fn();
  } finally {
    closeSync(fd); // closing drops the lock
  }
}

function readTable(): Reservation[] {
  try {
    const v = JSON.parse(readRegularText(tableFile(), { what: "host budget table", maxBytes: 4 * MiB, exitCode: ExitCode.POLICY })) as { reservations?: Reservation[] };
    return Array.isArray(v.reservations) ? v.reservations : [];
  } catch {
    return [];
  }
}

const writeTable = (list: Reservation[]) => writeAtomic(tableFile(), JSON.stringify({ reservations: list }, null, 1) + "\n");

export function sumReservations(list: Reservation[]): HostUsage {
  return list.reduce((a, r) => ({ sessions: a.sessions + 1, memory: a.memory + r.memory, rate: a.rate + r.rate, cpu: a.cpu + r.cpu }), { sessions: 0, memory: 0, rate: 0, cpu: 0 });
}

/** Live reservations (dead ones are reclaimed on the way). */
export function readReservations(): { live: Reservation[]; reclaimed: Reservation[] } {
  return withLock(() => {
    const all = readTable();
    const live = all.filter((r) => processAlive(r.pid, r.start_ticks));
    const reclaimed = all.filter((r) => !live.includes(r));
    if (reclaimed.length) writeTable(live);
    return { live, reclaimed };
  });
}

/**
 * Reserve this session's share, or throw (exit 10) naming every ceiling it would exceed with the
 * figures: in use by N live sessions + this request > ceiling.
 */
export function reserveHostBudget(req: { session: string; recipe: string; budgets: Budgets }, host: HostPolicy["host"]): { reservation: Reservation; reclaimed: Reservation[]; before: HostUsage } {
  return withLock(() => {
    const all = readTable();
    const live = all.filter((r) => processAlive(r.pid, r.start_ticks) && r.session !== req.session);
    const reclaimed = all.filter((r) => !live.includes(r) && r.session !== req.session);
    const me: Reservation = {
      session: req.session,
      pid: process.pid,
      start_ticks: procStartTicks(process.pid) ?? -1,
      recipe: req.recipe,
      memory: req.budgets.max_memory,
      rate: req.budgets.max_rate,
      cpu: req.budgets.max_cpu,
      at: new Date().toISOString(),
    };
    const used = sumReservations(live);
    const over: string[] = [];
    const n = `${used.sessions} running session${used.sessions === 1 ? "" : "s"}`;
    if (host.max_sessions !== undefined && used.sessions + 1 > host.max_sessions) over.push(`max_sessions: ${n} + this one > ${host.max_sessions}`);
    if (host.max_memory !== undefined && used.memory + me.memory > host.max_memory)
      over.push(`max_memory: ${formatBudget("max_memory", used.memory)} reserved by ${n} + ${formatBudget("max_memory", me.memory)} asked > ${formatBudget("max_memory", host.max_memory)}`);
    if (host.max_rate !== undefined && used.rate + me.rate > host.max_rate)
      over.push(`max_rate: ${formatBudget("max_rate", used.rate)} reserved by ${n} + ${formatBudget("max_rate", me.rate)} asked > ${formatBudget("max_rate", host.max_rate)}`);
    if (host.max_cpu !== undefined && used.cpu + me.cpu > host.max_cpu)
      over.push(`max_cpu: ${formatBudget("max_cpu", used.cpu)} reserved by ${n} + ${formatBudget("max_cpu", me.cpu)} asked > ${formatBudget("max_cpu", host.max_cpu)}`);
    if (over.length) {
      if (reclaimed.length) writeTable(live);
      throw hostBudgetExceeded(over.join("; "));
    }
    writeTable([...live, me]);
    return { reservation: me, reclaimed, before: used };
  });
}

export function releaseHostBudget(session: string): void {
  withLock(() => {
    const all = readTable();
    const rest = all.filter((r) => r.session !== session);
    if (rest.length !== all.length) writeTable(rest);
  });
}
