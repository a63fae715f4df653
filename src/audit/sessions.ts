// Summaries of tracing sessions from audit records: who traced what, for how long, how it ended.
import { existsSync, readFileSync } from "node:fs";
import { hostname, userInfo } from "node:os";
import { parseRfc3339, type AuditRecord } from "./record";

/** Records that belong to the log's housekeeping, not to a tracing session. */
const ADMIN_EVENTS = new Set(["rotated", "kill_switch_on", "kill_switch_off", "audit_sealed", "checkpoint"]);

export interface SessionSummary {
  session: string;
  host: string;
  pid: number;
  /** ts of the first record (session_start when present). */
  start: string;
  /** ts of the last record. */
  end: string;
  durationMs: number;
  user: string;
  uid: number | null;
  recipe: string | null;
  events: number;
  drops: number;
  breaches: number;
  /** completed, SIGINT, breach, kill-switch, error, refused, exit N, running, ended without record, unknown (other host). */
  ended: string;
  records: number;
}

/** The person behind this process: SUDO_USER when run through sudo, else the login name (or uid). */
export function invokingUser(): { user: string; uid: number } {
  const uid = process.getuid?.() ?? -1;
  const sudo = process.env.SUDO_USER;
  if (sudo) return { user: sudo, uid: Number(process.env.SUDO_UID ?? uid) };
  return { user: userName(uid), uid };
}

/** The passwd name of a uid (Bun's os.userInfo() answers "unknown" here), else the number. */
export function userName(uid: number): string {
  try {
    const line = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((l) => l.split(":")[2] === String(uid));
    const name = line?.split(":")[0];
    if (name) return name;
  } catch {
    /* no passwd file: fall through */
  }
  try {
    const name = userInfo().username;
    if (name && name !== "unknown") return name;
  } catch {
    /* no user database entry */
  }
  return String(uid);
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : null);
const str = (v: unknown): string | null => (typeof v === "string" && v !== "" ? v : null);

/**
 * Is the session's process still running here? kill(pid, 0) plus a start-time check, so a pid
 * the kernel reused for another process after a SIGKILL does not count as alive.
 */
export function sessionAlive(pid: number, startedMs: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const startTicks = Number(fields[19]);
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync("/proc/stat", "utf8"))?.[1]);
    const procStartMs = (btime + startTicks / 100) * 1000; // USER_HZ is 100 on Linux
    return procStartMs <= startedMs + 2000;
  } catch {
    return existsSync(`/proc/${pid}`);
  }
}

/** Group records by session, oldest session first. */
export function summarizeSessions(records: AuditRecord[], alive: (pid: number, startedMs: number) => boolean = sessionAlive): SessionSummary[] {
  const groups = new Map<string, AuditRecord[]>();
  for (const r of records) {
    const g = groups.get(r.session);
    if (g) g.push(r);
    else groups.set(r.session, [r]);
  }
  const out: SessionSummary[] = [];
  const here = hostname();
  for (const [session, recs] of groups) {
    if (recs.every((r) => ADMIN_EVENTS.has(r.event))) continue;
    const find = (ev: string) => recs.find((r) => r.event === ev) as (AuditRecord & Record<string, unknown>) | undefined;
    const start = find("session_start");
    const end = find("session_end");
    const detached = find("detached");
    const refused = find("refused");
    const first = start ?? recs[0]!;
    const last = recs[recs.length - 1]!;
    const startMs = parseRfc3339(first.ts);
    const endMs = parseRfc3339((end ?? last).ts);
    const durationMs = end && num(end.duration_ms) !== null ? num(end.duration_ms)! : Math.max(0, endMs - startMs);
    const recipe = str(start?.recipe) ?? str(refused?.recipe) ?? str(find("recipe_verified")?.recipe) ?? null;
    const counts = (key: "events" | "drops") => num(end?.[key]) ?? num(detached?.[key]) ?? 0;
    let ended: string;
    if (detached && str(detached.reason)) ended = str(detached.reason)!;
    else if (end && str(end.reason)) ended = str(end.reason)!;
    else if (refused) ended = "refused";
    else if (end) ended = num(end.exit_code) !== null ? `exit ${num(end.exit_code)}` : "completed";
    else if (first.host !== here) ended = "unknown (other host)";
    else ended = alive(first.pid, startMs) ? "running" : "ended without record";
    out.push({
      session,
      host: first.host,
      pid: first.pid,
      start: first.ts,
      end: (end ?? last).ts,
      durationMs,
      user: str(start?.user) ?? (num(start?.uid) !== null ? String(num(start?.uid)) : "?"),
      uid: num(start?.uid),
      recipe,
      events: counts("events"),
      drops: counts("drops"),
      breaches: recs.filter((r) => r.event === "budget_breach").length,
      ended,
      records: recs.length,
    });
  }
  return out.sort((a, b) => parseRfc3339(a.start) - parseRfc3339(b.start));
}

export interface SessionFilter {
  sinceMs?: number;
  untilMs?: number;
  user?: string;
  recipe?: string;
  /** Full id or a prefix. */
  session?: string;
}

export function filterSessions(list: SessionSummary[], f: SessionFilter): SessionSummary[] {
  return list.filter((s) => {
    const t = parseRfc3339(s.start);
    if (f.sinceMs !== undefined && t < f.sinceMs) return false;
    if (f.untilMs !== undefined && t > f.untilMs) return false;
    if (f.user !== undefined && s.user !== f.user && String(s.uid) !== f.user) return false;
    if (f.recipe !== undefined && s.recipe !== f.recipe) return false;
    if (f.session !== undefined && !s.session.startsWith(f.session)) return false;
    return true;
  });
}

const RELATIVE: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since`/`--until`: RFC 3339, or a span back from now such as 90s, 30m, 1h, 2d, 1w. NaN if neither. */
export function parseTimeFilter(s: string, nowMs = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d|w)$/.exec(s.trim());
  if (m) return nowMs - Number(m[1]) * RELATIVE[m[2]!]!;
  return parseRfc3339(s);
}

/** 850ms, 12.3s, 5m02s, 2h05m. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
