// Lifecycle messages on stderr (events go to stdout). JSON mode: one record per line with a
// `kind`. Human mode: short lines; on a TTY a live status line with a bar per budget, elsewhere a
// plain status line per interval.
import pc from "picocolors";
import type { SessionResult, SessionStatus } from "../session/session";
import { formatBudget, type BudgetName } from "../budget/budgets";
import { formatCount, formatDuration, formatBytes } from "../units";

interface Options {
  json: boolean;
  color: boolean;
  tty: boolean;
  session: string;
}

const BUDGETS: BudgetName[] = ["max_duration", "max_rate", "max_memory", "max_cpu", "max_output"];
const LABEL: Record<BudgetName, string> = { max_duration: "time", max_rate: "rate", max_memory: "mem", max_cpu: "cpu", max_output: "out" };

export class LifecycleReporter {
  private statusShown = false;
  private lastStatusText = "";

  constructor(private readonly out: NodeJS.WritableStream, private readonly o: Options) {}

  private write(s: string): void {
    this.out.write(s);
  }

  private record(kind: string, fields: Record<string, unknown>): void {
    this.write(JSON.stringify({ kind, ts: new Date().toISOString(), session: this.o.session, ...fields }) + "\n");
  }

  private line(s: string): void {
    this.clearStatus();
    this.write(s + "\n");
  }

  private c(f: (s: string) => string, s: string): string {
    return this.o.color ? f(s) : s;
  }

  info(kind: string, text: string, fields: Record<string, unknown> = {}): void {
    if (this.o.json) this.record(kind, { message: text, ...fields });
    else this.line(`${this.c(pc.dim, "ebpfctl:")} ${text}`);
  }

  warn(kind: string, text: string, fields: Record<string, unknown> = {}): void {
    if (this.o.json) this.record(kind, { level: "warning", message: text, ...fields });
    else this.line(`${this.c(pc.yellow, "warning:")} ${text}`);
  }

  compat(c: { profile: string; reasons: string[] }): void {
    if (this.o.json) this.record("compat", c as unknown as Record<string, unknown>);
    else if (c.profile === "reduced") this.line(`${this.c(pc.yellow, "reduced profile:")} ${c.reasons.join("; ")}`);
  }

  event(kind: string, fields: Record<string, unknown>): void {
    if (this.o.json) return this.record(kind, fields);
    switch (kind) {
      case "attached": {
        const probes = (fields.probes as string[]).join(", ");
        this.line(`${this.c(pc.green, "attached")} ${fields.recipe} (${probes}) session ${this.o.session}. Ctrl-C to end.`);
        break;
      }
      case "budget_breach":
        this.line(
          `${this.c(pc.red, "budget breach:")} ${fields.budget} ${formatBudget(fields.budget as BudgetName, Number(fields.observed))} over the limit of ${formatBudget(fields.budget as BudgetName, Number(fields.limit))}; every probe detached`,
        );
        break;
      case "warning":
        this.warn("warning", String(fields.message));
        break;
      case "fallback":
        this.line(`${this.c(pc.yellow, "fallback:")} ${fields.probe}: ${fields.failed}; trying ${fields.next}`);
        break;
      default:
        this.line(`${this.c(pc.dim, "ebpfctl:")} ${kind} ${JSON.stringify(fields)}`);
    }
  }

  status(s: SessionStatus): void {
    const drops = s.counts.droppedRate + s.counts.droppedRingbuf;
    if (this.o.json) {
      this.record("status", {
        elapsed_ms: Math.round(s.elapsedMs),
        rate: Math.round(s.rate),
        produced: s.counts.produced,
        delivered: s.counts.delivered,
        dropped_rate: s.counts.droppedRate,
        dropped_ringbuf: s.counts.droppedRingbuf,
        sampled_out: s.counts.sampledOut,
        usage: s.usage,
        budgets: s.budgets,
      });
      return;
    }
    // Time runs to the end the user asked for (-d) when it comes before the duration budget.
    const limits = { ...s.budgets, max_duration: Math.min(s.endMs ?? Infinity, s.budgets.max_duration) };
    if (!this.o.tty) {
      // Not a terminal (a file, a pipe, tee): a plain line per interval, nothing redrawn.
      const usage = BUDGETS.map((b) => `${LABEL[b]} ${formatBudget(b, s.usage[b])} of ${formatBudget(b, limits[b])}`).join(", ");
      this.line(`${this.c(pc.dim, "status:")} ${s.counts.delivered} delivered, ${drops} dropped${s.counts.sampledOut ? `, ${s.counts.sampledOut} sampled out` : ""}; ${usage}`);
      return;
    }
    const bars = BUDGETS.map((b) => `${LABEL[b]} ${bar(s.usage[b] / limits[b], this.o.color)}`).join(" ");
    const text = `${formatDuration(s.elapsedMs)}/${formatDuration(limits.max_duration)} ${formatCount(s.rate)} ev/s drops ${drops} ${bars}`;
    this.lastStatusText = text;
    this.write(`\r\x1b[2K${text}`);
    this.statusShown = true;
  }

  /** Put the last status line back after events were written to the same terminal. */
  redrawStatus(): void {
    if (this.lastStatusText && !this.statusShown) {
      this.write(`\r\x1b[2K${this.lastStatusText}`);
      this.statusShown = true;
    }
  }

  clearStatus(): void {
    if (this.statusShown) {
      this.write("\r\x1b[2K");
      this.statusShown = false;
    }
  }

  summary(recipe: string, r: SessionResult): void {
    const a = r.accounting;
    if (this.o.json) {
      this.record("end", { recipe, reason: r.reason, exit_code: r.exitCode, ...(r.breach ? { breach: r.breach } : {}), ...(r.error ? { error: r.error.message } : {}), ...(r.fallbacks?.length ? { fallbacks: r.fallbacks } : {}), accounting: a });
      return;
    }
    const verdict = a.verdict === "complete" ? this.c(pc.green, a.verdict) : this.c(pc.yellow, a.verdict);
    this.line(
      `${recipe}: ${a.delivered} events in ${formatDuration(a.duration_ms)} (${verdict}); ${identityText(a)}; ` +
        `peak ${formatCount(a.peak_rate)}/s, cpu ${a.cpu_percent}%, maps ${formatBytes(a.peak_map_memory)}, rss ${formatBytes(a.peak_rss)}; ended: ${r.reason}`,
    );
    for (const f of r.fallbacks ?? []) this.line(`${this.c(pc.yellow, "fell back:")} ${f.probe}: ${f.type} (${f.program}) ${f.stage === "load" ? "rejected by the verifier" : "failed to attach"}: ${f.reason}${f.log ? `; log ${f.log}` : ""}`);
  }
}

/** "produced N = delivered D + cause C…" (the kernel's causes always, the output's when they happened); ≠ when it does not add up. */
export function identityText(a: SessionResult["accounting"]): string {
  const terms: [string, number][] = [
    ["rate-dropped", a.dropped_rate],
    ["ring-full", a.dropped_ringbuf],
    ["sampled-out", a.sampled_out],
  ];
  if (a.dropped_output_budget) terms.push(["over-output-budget", a.dropped_output_budget]);
  if (a.dropped_reader_closed) terms.push(["reader-closed", a.dropped_reader_closed]);
  if (a.dropped_write_error) terms.push(["write-error", a.dropped_write_error]);
  const sum = `delivered ${a.delivered}${terms.map(([k, v]) => ` + ${k} ${v}`).join("")}`;
  if (a.identity_holds) return `produced ${a.produced} = ${sum}`;
  const accounted = a.delivered + terms.reduce((x, [, v]) => x + v, 0);
  return `produced ${a.produced} ≠ ${sum} (${Math.abs(a.produced - accounted)} events ${a.produced > accounted ? "unaccounted for" : "counted twice"})`;
}

function bar(fraction: number, color: boolean): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const n = Math.round(f * 8);
  const s = "█".repeat(n) + "·".repeat(8 - n);
  if (!color) return s;
  return f > 0.9 ? pc.red(s) : f > 0.7 ? pc.yellow(s) : pc.green(s);
}
