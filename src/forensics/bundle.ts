// The minimal forensic bundle (`ebpfctl bundle`): what an on-call engineer attaches to an incident.
// SUMMARY.txt comes first in the archive and reads in under a minute; the rest is the evidence:
//   SUMMARY.txt            host, kernel, versions, kill switch, running sessions, last sessions and
//                          how they ended, breaches, audit chain verdict
//   doctor.json            `ebpfctl doctor --output json` (facts incl. capabilities, features, recipes)
//   versions.json          ebpfctl, libbpf, kernel, binary hash
//   compat.jsonl           the compat record of each bundled session (what the kernel could do)
//   sessions.json          per session: how it ended, breaches, accounting from session_end (map
//                          memory, rate, CPU, drops: the budget usage), profile, capabilities held
//   live.json              running sessions (registry), host reservations, kill switch state
//   audit-tail.jsonl       the last records of the audit log, and audit-verify.json: the chain verdict
//   verifier-logs/         full verifier logs saved by refused loads ($EBPFCTL_RUN_DIR/verifier-logs)
// The archive is written by the system tar (GNU tar, gzip), never by hand.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { writeExclusive } from "../files/regular-file";
import { hostname, tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { EbpfctlError, ExitCode, bundleFailed } from "../errors";
import { verifyLog, describeProblem, readRecords } from "../audit/chain";
import { summarizeSessions, type SessionSummary } from "../audit/sessions";
import type { AuditRecord } from "../audit/record";
import { readKillSwitch, describeKillSwitch } from "../host/kill-switch";
import { listSessions } from "../host/registry";
import { readReservations } from "../host/host-budget";
import { runDir } from "../host/host-paths";

export interface BundleOptions {
  auditLogPath: string;
  output: string;
  /** Only this session (id or unique prefix); default: the last `last` sessions. */
  session?: string;
  last?: number;
  auditTail?: number;
  doctor: () => unknown;
  versions: () => Record<string, unknown>;
}

export interface BundleResult {
  file: string;
  entries: string[];
  sessions: string[];
  auditOk: boolean | null;
}

type Rec = AuditRecord & Record<string, unknown>;

export function writeBundle(o: BundleOptions): BundleResult {
  const stage = mkdtempSync(join(tmpdir(), "ebpfctl-bundle-"));
  const top = `ebpfctl-bundle-${hostname()}-${new Date().toISOString().replace(/[:.]/g, "").slice(0, 15)}`;
  const dir = join(stage, top);
  mkdirSync(dir);
  const entries: string[] = [];
  const put = (name: string, text: string) => {
    writeExclusive(join(dir, name), text, 0o600);
    entries.push(name);
  };
  try {
    // Audit: verdict first (a bundle of a tampered log says so on its first page).
    let verify: ReturnType<typeof verifyLog> | undefined;
    let records: Rec[] = [];
    let auditError: string | undefined;
    try {
      verify = verifyLog(o.auditLogPath);
      records = readRecords(verify.files) as Rec[];
    } catch (e) {
      auditError = (e as Error).message;
    }
    const all = summarizeSessions(records);
    let chosen: SessionSummary[];
    if (o.session) {
      chosen = all.filter((s) => s.session.startsWith(o.session!));
      if (chosen.length !== 1) throw new EbpfctlError("EBPFCTL-E0903", `no single session "${o.session}" in ${o.auditLogPath} (${chosen.length} match)`, ExitCode.USAGE, "ebpfctl audit show lists sessions");
    } else chosen = all.slice(-(o.last ?? 10));
    const ids = new Set(chosen.map((s) => s.session));
    const bySession = (id: string) => records.filter((r) => r.session === id);
    const sessions = chosen.map((s) => {
      const recs = bySession(s.session);
      const find = (ev: string) => recs.find((r) => r.event === ev);
      const end = find("session_end");
      const attached = find("attached");
      return {
        ...s,
        exit_code: end?.exit_code ?? null,
        accounting: end?.accounting ?? null,
        breaches: recs.filter((r) => r.event === "budget_breach").map((r) => ({ budget: r.budget, observed: r.observed, limit: r.limit, ts: r.ts })),
        detached: find("detached") ? { reason: find("detached")!.reason, detail: find("detached")!.detail ?? null } : null,
        refused: find("refused") ? { reason: find("refused")!.reason, code: find("refused")!.code } : null,
        programs: find("loaded")?.programs ?? null,
        map_memory_estimate: find("loaded")?.map_memory_estimate ?? null,
        capabilities: (attached?.capabilities as { effective?: string[] } | undefined)?.effective ?? null,
        profile: find("profile") ?? null,
        host_budget: find("host_budget") ?? null,
      };
    });
    const live = listSessions({ keepStale: true });
    let reservations: unknown;
    try {
      reservations = readReservations().live;
    } catch (e) {
      reservations = { error: (e as Error).message };
    }
    const ks = readKillSwitch();
    const versions = safe(o.versions);
    const doctor = safe(o.doctor) as { facts?: { release?: string; lockdown?: { mode?: string }; btf?: { vmlinux?: boolean }; capabilities?: { effective?: string[] } } } | { error: string };
    const tailN = o.auditTail ?? 200;
    const tail = (o.session ? records.filter((r) => ids.has(r.session)) : records).slice(-tailN);
    const admin = records.filter((r) => r.event === "kill_switch_on" || r.event === "kill_switch_off").slice(-5);

    // Verifier logs: all of them for a full bundle; for one session, those of its recipe written during it.
    const vdir = join(runDir(), "verifier-logs");
    let vlogs = existsSync(vdir) ? readdirSync(vdir).filter((f) => f.endsWith(".log")) : [];
    if (o.session && chosen[0]) {
      const s = chosen[0];
      const from = Date.parse(s.start) - 1000;
      const to = Date.parse(s.end) + 1000;
      vlogs = vlogs.filter((f) => (s.recipe ? f.startsWith(`${s.recipe}-`) : true) && inWindow(statSync(join(vdir, f)).mtimeMs, from, to));
    }

    // SUMMARY.txt
    const L: string[] = [];
    const facts = "facts" in doctor ? doctor.facts : undefined;
    L.push(`ebpfctl forensic bundle — ${new Date().toISOString()}`, "");
    L.push(`host        ${hostname()}`);
    L.push(`kernel      ${facts?.release ?? (versions as Record<string, unknown>).kernel ?? "?"}  lockdown=${facts?.lockdown?.mode ?? "?"}  BTF=${facts?.btf?.vmlinux ? "yes" : "no"}`);
    L.push(`versions    ebpfctl ${(versions as Record<string, unknown>).version ?? "?"}  libbpf ${(versions as Record<string, unknown>).libbpf ?? "?"}`);
    L.push(`bundler caps ${facts?.capabilities?.effective?.length ? facts.capabilities.effective.length + " effective" : "none"}`);
    L.push(`kill switch ${ks ? `ON — ${describeKillSwitch(ks)}` : "off"}`);
    const chain = auditError ? `UNREADABLE: ${auditError}` : !verify!.files.length ? `no audit log at ${o.auditLogPath}` : verify!.result.ok ? `intact (${verify!.result.records} records, ${verify!.files.length} file(s))` : `BROKEN — ${describeProblem(verify!.result)}`;
    L.push(`audit chain ${chain}`);
    L.push(`running     ${live.live.length ? live.live.map((s) => `${s.id} ${s.recipe} pid ${s.pid} (${s.user})`).join("; ") : "no sessions"}`);
    L.push("");
    L.push(o.session ? `Session ${o.session}` : `Last ${chosen.length} session(s) (oldest first)`);
    if (!sessions.length) L.push("  (none in the audit log)");
    for (const s of sessions) {
      const a = s.accounting as Record<string, number | string> | null;
      L.push(`  ${s.start}  ${s.session}  ${s.recipe ?? "?"}  by ${s.user}  ended: ${s.ended}${s.exit_code !== null ? ` (exit ${s.exit_code})` : ""}`);
      if (a) L.push(`      ${a.delivered} events, ${Number(a.dropped_rate) + Number(a.dropped_ringbuf)} dropped (${a.verdict}), peak ${a.peak_rate}/s, cpu ${a.cpu_percent}%, map memory ${a.peak_map_memory} B, ${a.duration_ms} ms`);
      for (const b of s.breaches) L.push(`      BREACH ${b.budget}: observed ${b.observed} > limit ${b.limit}`);
      if (s.refused) L.push(`      refused: ${s.refused.reason} [${s.refused.code}]`);
    }
    const breaches = sessions.flatMap((s) => s.breaches.map((b) => ({ ...b, session: s.session })));
    L.push("", `Breaches: ${breaches.length ? breaches.map((b) => `${b.session} ${b.budget}`).join(", ") : "none"}`);
    if (admin.length) {
      L.push("", "Kill switch history (latest 5)");
      for (const r of admin) L.push(`  ${r.ts}  ${r.event === "kill_switch_on" ? "ON " : "OFF"}  by ${r.by ?? "?"}: ${r.reason ?? ""}`);
    }
    L.push("", `Verifier logs: ${vlogs.length ? vlogs.join(", ") : "none"}`);
    L.push("", "Files: SUMMARY.txt doctor.json versions.json compat.jsonl sessions.json live.json audit-tail.jsonl audit-verify.json verifier-logs/");
    put("SUMMARY.txt", L.join("\n") + "\n");

    put("doctor.json", JSON.stringify(doctor, null, 1) + "\n");
    put("versions.json", JSON.stringify(versions, null, 1) + "\n");
    put("compat.jsonl", records.filter((r) => r.event === "compat" && ids.has(r.session)).map((r) => JSON.stringify(r)).join("\n") + "\n");
    put("sessions.json", JSON.stringify(sessions, null, 1) + "\n");
    put("live.json", JSON.stringify({ kill_switch: ks ?? null, sessions: live.live, stale: live.stale, reservations }, null, 1) + "\n");
    put("audit-tail.jsonl", tail.map((r) => JSON.stringify(r)).join("\n") + (tail.length ? "\n" : ""));
    put("audit-verify.json", JSON.stringify(auditError ? { error: auditError } : { log: o.auditLogPath, files: verify!.files, ...verify!.result }, null, 1) + "\n");
    mkdirSync(join(dir, "verifier-logs"));
    for (const f of vlogs) {
      copyFileSync(join(vdir, f), join(dir, "verifier-logs", basename(f)));
      entries.push(`verifier-logs/${f}`);
    }
    if (!vlogs.length) put("verifier-logs/NONE", "no verifier log was saved for the bundled sessions\n");

    // SUMMARY.txt first, then the rest in a stable order.
    const out = resolve(o.output);
    const members = entries.map((e) => `${top}/${e}`);
    const order = [top, ...members.filter((m) => !m.includes("/verifier-logs/")), `${top}/verifier-logs`, ...members.filter((m) => m.includes("/verifier-logs/"))];
    const r = spawnSync("tar", ["-czf", out, "-C", stage, "--no-recursion", ...order], { encoding: "utf8" });
    if (r.error) throw bundleFailed(`cannot run tar: ${r.error.message}`);
    if (r.status !== 0) throw bundleFailed(`tar exited ${r.status}: ${r.stderr.trim()}`);
    return { file: out, entries, sessions: chosen.map((s) => s.session), auditOk: auditError || !verify?.files.length ? null : verify!.result.ok };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function safe(fn: () => unknown): Record<string, unknown> {
  try {
    return fn() as Record<string, unknown>;
  } catch (e) {
    return { error: (e as Error).message };
  }
}

const inWindow = (t: number, from: number, to: number) => t >= from && t <= to;
