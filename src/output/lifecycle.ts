// Lifecycle messages on stderr (events go to stdout). JSON mode: one record per line with a
// `kind`. Human mode: short lines; on a TTY a live status line with a bar per budget, elsewhere a
// plain status line per interval.
import { writeSync } from "node:fs";
import pc from "picocolors";
import type { SessionResult, SessionStatus } from "../session/session";
import { formatBudget, type BudgetName } from "../budget/budgets";
import { formatCount, formatDuration, formatBytes } from "../units";
import { envelope, errorRecord } from "./records";
import type { EbpfctlError } from "../errors";

interface Options {
  json: boolean;
  color: boolean;
  tty: boolean;
  session: string;
  /** The recipe's name once known (every JSON record carries it; null before). */
  recipe?: string | null;
}

const BUDGETS: BudgetName[] = ["max_duration", "max_rate", "max_memory", "max_cpu", "max_output"];
const LABEL: Record<BudgetName, string> = { max_duration: "time", max_rate: "rate", max_memory: "mem", max_cpu: "cpu", max_output: "out" };

export class LifecycleReporter {
  private statusShown = false;
  private lastStatus: SessionStatus | undefined;
  private ended = false;
  private lastStatusLength = 0;
  private readonly onResize = () => {
    // The terminal got narrower than the line on it: a reflowing terminal (tmux, VTE, kitty…)
    // rewrapped it onto several rows with the cursor on the last. Erase them all, then draw the
    // line for the new width.
    if (!this.statusShown || !this.lastStatus) return;
    const rows = Math.ceil(this.lastStatusLength / terminalWidth(this.out));
    this.write("\r\x1b[2K" + "\x1b[1A\x1b[2K".repeat(Math.max(0, rows - 1)));
    this.status(this.lastStatus);
  };

  constructor(private readonly out: NodeJS.WritableStream, private readonly o: Options) {
    if (o.tty && !o.json) (out as unknown as { on?: (e: string, f: () => void) => void }).on?.("resize", this.onResize);
  }

  /** True once the `end` record (or the human summary) was written. */
  get hasEnded(): boolean {
    return this.ended;
  }

  /** The recipe every later record names. */
  setRecipe(name: string): void {
    this.o.recipe = name;
  }

  /** Stop following the terminal's size (end of session). */
  close(): void {
    (this.out as unknown as { off?: (e: string, f: () => void) => void }).off?.("resize", this.onResize);
  }

  private write(s: string): void {
    // On the terminal, write synchronously: the status line is lifted and redrawn around rows
    // written with writeSync on stdout, and an async stderr write could land after the row.
    if (this.o.tty && this.out === process.stderr) writeSync(2, s);
    else this.out.write(s);
  }

  private record(kind: string, fields: Record<string, unknown>): void {
    this.write(JSON.stringify({ ...envelope(kind, this.o.recipe ?? null, this.o.session), ts: new Date().toISOString(), ...fields }) + "\n");
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
    // One line: libbpf's wrapped text collapsed, each reason cut short (the compat record has it whole).
    else if (c.profile === "reduced") this.line(`${this.c(pc.yellow, "reduced profile:")} ${c.reasons.map((r) => shorten(r.replace(/\s+/g, " ").trim(), 100)).join("; ")}`);
  }

  event(kind: string, fields: Record<string, unknown>): void {
    if (this.o.json) return this.record(kind, fields);
    switch (kind) {
      case "attached": {
        // Short enough for 80 columns; the probes and variants are in the audit log and -o json.
        const probes = (fields.probes as string[]).length;
        this.line(`${this.c(pc.green, "attached")} ${fields.recipe} (${probes} probe${probes === 1 ? "" : "s"}) session ${this.o.session}; Ctrl-C ends`);
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
    this.lastStatus = s;
    const shown = { ...s, budgets: limits };
    const text = fitStatus(shown, drops, terminalWidth(this.out), this.o.color);
    this.lastStatusLength = fitStatus(shown, drops, terminalWidth(this.out), false).length;
    this.write(`\r\x1b[2K${text}`);
    this.statusShown = true;
  }

  /** Put the last status line back after events were written to the same terminal. */
  redrawStatus(): void {
    if (this.lastStatus && !this.statusShown && !this.ended) this.status(this.lastStatus);
  }

  /** Lift the status line off the terminal: the cursor is left at the start of an empty line. */
  clearStatus(): void {
    if (this.statusShown) {
      this.write("\r\x1b[2K");
      this.statusShown = false;
    }
  }

  /** An error as a JSON record (JSON mode); the caller still ends with end(). */
  error(err: EbpfctlError): void {
    this.clearStatus();
    if (this.o.json) this.write(JSON.stringify({ ...errorRecord(err, { recipe: this.o.recipe ?? null, session: this.o.session }) }) + "\n");
  }

  /** JSON mode: the `end` record for a session that never ran (refused before attach). */
  refusedEnd(err: EbpfctlError): void {
    if (this.o.json && !this.ended) this.record("end", { reason: "refused", exit_code: err.exitCode, error: err.message, code: err.code });
    this.ended = true;
  }

  /** endedBy: what made a "completed" session end when it was not -d (a one-liner's interval:s:N { exit(); }). */
  summary(recipe: string, r: SessionResult, endedBy?: string): void {
    const a = r.accounting;
    this.ended = true;
    if (this.o.json) {
      this.record("end", { recipe, reason: r.reason, ...(endedBy ? { ended_by: endedBy } : {}), exit_code: r.exitCode, ...(r.breach ? { breach: r.breach } : {}), ...(r.error ? { error: r.error.message } : {}), ...(r.fallbacks?.length ? { fallbacks: r.fallbacks } : {}), accounting: a });
      return;
    }
    const verdict = a.verdict === "complete" ? this.c(pc.green, a.verdict) : this.c(pc.yellow, a.verdict);
    this.line(
      `${recipe}: ${a.delivered} events in ${formatDuration(a.duration_ms)} (${verdict}); ${identityText(a)}; ` +
        `peak ${formatCount(a.peak_rate)}/s, cpu ${a.cpu_percent}%, maps ${formatBytes(a.peak_map_memory)}, rss ${formatBytes(a.peak_rss)}; ended: ${r.reason}${endedBy ? ` (${endedBy})` : ""}`,
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

const shorten = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 3)}...` : s);

function terminalWidth(out: NodeJS.WritableStream): number {
  const c = (out as { columns?: number }).columns;
  return typeof c === "number" && c > 0 ? c : 80;
}

/**
 * The live status line for a terminal `width` columns wide, never wider than width - 1 (writing
 * the last column makes some terminals wrap). Most detail first (a bar and its numbers per
 * budget), then numbers only, then the least urgent budgets dropped.
 */
export function fitStatus(s: SessionStatus, drops: number, width: number, color: boolean): string {
  const head = [`${formatCount(s.rate)} ev/s`, `drops ${drops}`];
  const nums = (b: BudgetName) => `${LABEL[b]} ${usageOf(b, s.usage[b], s.budgets[b])}`;
  const withBar = (b: BudgetName) => `${LABEL[b]} ${bar(s.usage[b] / s.budgets[b], false)} ${usageOf(b, s.usage[b], s.budgets[b])}`;
  // The budgets in the order they are dropped when space runs out: output and time first.
  const keep: BudgetName[][] = [BUDGETS, ["max_duration", "max_rate", "max_memory", "max_cpu"], ["max_duration", "max_memory", "max_cpu"], ["max_duration", "max_cpu"], ["max_cpu"]];
  const max = Math.max(10, width - 1);
  const candidates: string[][] = [BUDGETS.map(withBar), ...keep.map((k) => k.map(nums))];
  for (const parts of candidates) {
    const line = [...head, ...parts].join("  ");
    if (line.length <= max) return color ? colorBars(line, s) : line;
  }
  const line = [formatDuration(s.elapsedMs), ...head].join(" ");
  return line.length <= max ? line : line.slice(0, max);
}

/** "1.2/10%", "2.4/64 MiB": what is used of a budget, compact. */
function usageOf(b: BudgetName, used: number, limit: number): string {
  switch (b) {
    case "max_cpu":
      return `${used < 10 ? used.toFixed(1) : Math.round(used)}/${formatBudget(b, limit)}`;
    case "max_rate":
      return `${formatCount(used)}/${formatBudget(b, limit)}`;
    case "max_duration":
      return `${formatDuration(used)}/${formatDuration(limit)}`;
    default: {
      const [u, unit] = formatBytes(limit).split(" ");
      const scale = limit / Number(u);
      return `${Number.isFinite(scale) && scale > 0 ? +(used / scale).toFixed(used / scale < 10 ? 1 : 0) : formatBytes(used)}/${u}${unit ? ` ${unit}` : ""}`;
    }
  }
}

/** Colour each bar by how close its budget is, after the line was fitted (escapes take no columns). */
function colorBars(line: string, s: SessionStatus): string {
  let i = 0;
  return line.replace(/[█·]{8}/g, (m) => {
    const b = BUDGETS[i++]!;
    const f = s.usage[b] / s.budgets[b];
    return f > 0.9 ? pc.red(m) : f > 0.7 ? pc.yellow(m) : pc.green(m);
  });
}

function bar(fraction: number, color: boolean): string {
  const f = Math.max(0, Math.min(1, Number.isFinite(fraction) ? fraction : 0));
  const n = Math.round(f * 8);
  const s = "█".repeat(n) + "·".repeat(8 - n);
  if (!color) return s;
  return f > 0.9 ? pc.red(s) : f > 0.7 ? pc.yellow(s) : pc.green(s);
}
