import { Command, Option } from "clipanion";
import { renderTable } from "../output/aggregate-table";
import { EbpfctlCommand, outputOption } from "./base";
import { auditLogMissing, usageError } from "../errors";
import { readRecords } from "../audit/chain";
import { chainFiles } from "../audit/record";
import { filterSessions, formatDuration, parseTimeFilter, summarizeSessions, type SessionFilter } from "../audit/sessions";

export class AuditShowCommand extends EbpfctlCommand {
  static paths = [["audit", "show"]];
  static usage = Command.Usage({
    description: "Summarise the tracing sessions recorded in the audit log",
    details: `
      One row per session: when it started, who ran it (SUDO_USER or uid), the recipe, how long it
      ran, events delivered and dropped, and how it ended (completed, a signal name, breach,
      kill-switch, error, refused). "ended without record" is a session with no session_end whose
      process is gone: it was SIGKILLed and the kernel detached its programs. Rotated files are
      read too. --since and --until take RFC 3339 times or spans back from now (90s, 30m, 1h, 2d, 1w).
    `,
    examples: [
      ["Sessions of the last hour", "ebpfctl audit show --since 1h"],
      ["One user's opensnoop sessions, as JSON", "ebpfctl audit show --user alice --recipe opensnoop --output json"],
    ],
  });
  since = Option.String("--since", { description: "Only sessions started at or after this time (RFC 3339 or 1h, 2d …)" });
  until = Option.String("--until", { description: "Only sessions started at or before this time" });
  user = Option.String("--user", { description: "Only this user (name or uid)" });
  recipe = Option.String("--recipe", { description: "Only this recipe" });
  session = Option.String("--session", { description: "Only this session (id or prefix)" });
  output = outputOption();

  async run(): Promise<number> {
    const path = this.auditLogPath();
    const files = chainFiles(path);
    if (files.length === 0) throw auditLogMissing(path);
    const filter: SessionFilter = { user: this.user, recipe: this.recipe, session: this.session };
    for (const [flag, value, key] of [["--since", this.since, "sinceMs"], ["--until", this.until, "untilMs"]] as const) {
      if (value === undefined) continue;
      const ms = parseTimeFilter(value);
      if (Number.isNaN(ms)) throw usageError(`${flag}: expected an RFC 3339 time or a span such as 30m, 1h, 2d, got "${value}"`);
      filter[key] = ms;
    }
    const sessions = filterSessions(summarizeSessions(readRecords(files)), filter);
    // A running session's last record is its start: its duration is how long it has run so far.
    const durationOf = (x: (typeof sessions)[number]) => (x.ended === "running" ? Math.max(0, Date.now() - Date.parse(x.start)) : x.durationMs);
    if (this.output === "json") {
      // snake_case like the audit records themselves.
      const out = sessions.map(({ durationMs: _d, ...x }) => ({ ...x, duration_ms: Math.round(durationOf(x as (typeof sessions)[number])) }));
      this.context.stdout.write(JSON.stringify(out) + "\n");
      return 0;
    }
    if (this.output !== "table") throw usageError(`--output: expected table or json, got "${this.output}"`);
    const rows = sessions.map((s) => [s.start.slice(0, 19).replace("T", " ") + "Z", s.user, s.recipe ?? "-", `${formatDuration(durationOf(s))}${s.ended === "running" ? " so far" : ""}`, String(s.events), String(s.drops), s.ended, s.session.slice(0, 8)]);
    const table = renderTable(["TIME", "USER", "RECIPE", "DURATION", "EVENTS", "DROPS", "ENDED", "SESSION"].map((header) => ({ header, align: header === "EVENTS" || header === "DROPS" ? ("right" as const) : ("left" as const) })), rows);
    this.context.stdout.write(sessions.length ? table.join("\n") + "\n" : "no sessions match\n");
    return 0;
  }
}
