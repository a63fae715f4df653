// Ending live sessions from outside: SIGTERM (the session detaches and writes its audit end as for
// Ctrl-C), wait for the process to go, then ask the kernel whether any of the session's program or
// link ids still exist. Ids are allocated cyclically and not reused soon, so an id still listed is
// still that session's object.
import { allLinkIds, allProgIds } from "../libbpf/info";
import { processAlive, type SessionEntry } from "./registry";

export interface StopOutcome {
  id: string;
  pid: number;
  recipe: string;
  /** The process ended within the timeout. */
  exited: boolean;
  /** SIGKILL was needed (only with force). */
  killed: boolean;
  ms: number;
  /** Ids the kernel still holds after the process ended (should be empty). */
  remaining_prog_ids: number[];
  remaining_link_ids: number[];
  verified: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until every process is gone (or the deadline); returns when each one went (ms from t0). */
export async function waitForExit(entries: SessionEntry[], timeoutMs: number, t0 = performance.now()): Promise<Map<string, number>> {
  const gone = new Map<string, number>();
  while (gone.size < entries.length && performance.now() - t0 < timeoutMs) {
    for (const e of entries) if (!gone.has(e.id) && !processAlive(e.pid, e.start_ticks)) gone.set(e.id, performance.now() - t0);
    if (gone.size < entries.length) await sleep(10);
  }
  for (const e of entries) if (!gone.has(e.id) && !processAlive(e.pid, e.start_ticks)) gone.set(e.id, performance.now() - t0);
  return gone;
}

/** Ids of these sessions the kernel still lists; programs are freed after an RCU grace period, so retry briefly. */
export async function remainingKernelIds(entries: SessionEntry[], graceMs = 1000): Promise<{ progs: Map<string, number[]>; links: Map<string, number[]> }> {
  const deadline = performance.now() + graceMs;
  for (;;) {
    const progs = new Set(allProgIds());
    const links = new Set(allLinkIds());
    const p = new Map(entries.map((e) => [e.id, e.prog_ids.filter((id) => progs.has(id))]));
    const l = new Map(entries.map((e) => [e.id, e.link_ids.filter((id) => links.has(id))]));
    const any = [...p.values(), ...l.values()].some((v) => v.length);
    if (!any || performance.now() >= deadline) return { progs: p, links: l };
    await sleep(20);
  }
}

export async function stopSessions(entries: SessionEntry[], opts: { timeoutMs: number; force: boolean }): Promise<StopOutcome[]> {
  const t0 = performance.now();
  for (const e of entries) {
    if (!processAlive(e.pid, e.start_ticks)) continue;
    try {
      process.kill(e.pid, "SIGTERM");
    } catch {
      /* gone meanwhile */
    }
  }
  const gone = await waitForExit(entries, opts.timeoutMs, t0);
  const killed = new Set<string>();
  if (opts.force) {
    const stubborn = entries.filter((e) => !gone.has(e.id));
    for (const e of stubborn) {
      if (!processAlive(e.pid, e.start_ticks)) continue;
      try {
        process.kill(e.pid, "SIGKILL");
        killed.add(e.id);
      } catch {
        /* gone meanwhile */
      }
    }
    if (stubborn.length) for (const [id, ms] of await waitForExit(stubborn, 2000, t0)) gone.set(id, ms);
  }
  const ended = entries.filter((e) => gone.has(e.id));
  const { progs, links } = await remainingKernelIds(ended);
  return entries.map((e) => {
    const rp = progs.get(e.id) ?? e.prog_ids;
    const rl = links.get(e.id) ?? e.link_ids;
    return {
      id: e.id,
      pid: e.pid,
      recipe: e.recipe,
      exited: gone.has(e.id),
      killed: killed.has(e.id),
      ms: Math.round(gone.get(e.id) ?? performance.now() - t0),
      remaining_prog_ids: gone.has(e.id) ? rp : e.prog_ids,
      remaining_link_ids: gone.has(e.id) ? rl : e.link_ids,
      verified: gone.has(e.id) && rp.length === 0 && rl.length === 0,
    };
  });
}
