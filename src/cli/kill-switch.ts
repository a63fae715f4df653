// ebpfctl kill-switch on|off|status: stop every tracing session on this host (or one recipe's) now,
// and refuse new ones. With -o json each prints one receipt a fleet tool can check: the switch, the
// sessions it ended and the audit chain head after its own record.
import { Command, Option } from "clipanion";
import { hostname } from "node:os";
import { EbpfctlCommand, outputOption } from "./base";
import { AuditLog, newSessionId } from "../audit/audit-log";
import { readHeadFile } from "../audit/chain";
import { headPath } from "../audit/record";
import { invokingUser } from "../audit/sessions";
import { usageError } from "../errors";
import { describeKillSwitch, engageKillSwitch, listKillSwitches, readKillSwitch, releaseKillSwitch, validSwitchRecipe, type KillSwitchState } from "../host/kill-switch";
import { listSessions } from "../host/registry";
import { remainingKernelIds, waitForExit } from "../host/host-stop";

/** Append one admin record; returns its seq. */
function record(path: string, event: "kill_switch_on" | "kill_switch_off", fields: Record<string, unknown>): number | null {
  const log = AuditLog.open({ path, session: newSessionId() });
  try {
    log.append(event, fields);
  } finally {
    log.close();
  }
  const head = readHeadFile(headPath(path));
  return head && head !== "garbage" ? head.seq : null;
}

/**
 * The receipt's audit part: the chain head now (after the sessions it waited for wrote their
 * session_end) and the seq of the command's own record.
 */
function auditReceipt(path: string, recordSeq: number | null): { file: string; seq: number | null; hash: string | null; record_seq: number | null } {
  const read = readHeadFile(headPath(path));
  const head = read && read !== "garbage" ? read : undefined;
  return { file: path, seq: head?.seq ?? null, hash: head?.hash ?? null, record_seq: recordSeq };
}

function checkFormat(output: string): void {
  if (output !== "json" && output !== "table") throw usageError(`--output must be table or json, got "${output}"`);
}

function checkRecipe(recipe: string | undefined): void {
  if (recipe !== undefined && !validSwitchRecipe(recipe)) throw usageError(`--recipe: "${recipe}" is not a recipe name (lower-case letters, digits, - and _)`);
}

const recipeOption = () => Option.String("--recipe", { description: "Only this recipe: its sessions stop, it is refused; other recipes keep running" });

export class KillSwitchOnCommand extends EbpfctlCommand {
  static paths = [["kill-switch", "on"]];
  static usage = Command.Usage({
    description: "Engage the host kill switch: every running session (or one recipe's) detaches within a second, new ones are refused",
    details: `
      Writes $EBPFCTL_RUN_DIR/kill-switch (/run/ebpfctl: gone at reboot) or, with --persistent,
      $EBPFCTL_CONFIG_DIR/kill-switch (/etc/ebpfctl: survives reboot). Running sessions watch both
      (inotify, no polling), detach at once, record \`detached\` with reason kill-switch and exit 8.
      New sessions are refused (exit 8) naming who engaged the switch, when and why. The command
      waits up to --wait seconds for the running sessions to end and reports how long each took.
      Engaging is an audit event (kill_switch_on, with by and reason).

      With --recipe NAME the switch is kill-switch@NAME in the same directories: only that
      recipe's sessions stop and only it is refused.

      -o json prints one receipt: {host, kill_switch, sessions: [{id, recipe, ended, ms, ...}],
      audit: {file, seq, hash, record_seq}}: the audit chain head once the sessions it waited for
      wrote their session_end, and the seq of its own kill_switch_on record. Exit 0 when every
      session it waited for ended, 1 when one is still running after --wait.
    `,
    examples: [
      ["Stop all tracing during an incident", "sudo ebpfctl kill-switch on --reason 'INC-4211: CPU regression'"],
      ["Keep tracing off across reboots", "sudo ebpfctl kill-switch on --persistent --reason 'host under investigation'"],
      ["Stop only the costliest recipe", "sudo ebpfctl kill-switch on --recipe profile --reason 'INC-4212: profile overhead'"],
    ],
  });
  reason = Option.String("--reason", { description: "Why (shown to everyone who is refused)" });
  persistent = Option.Boolean("--persistent", false, { description: "Survive reboot (/etc/ebpfctl/kill-switch)" });
  wait = Option.String("--wait", "5", { description: "Seconds to wait for running sessions to end (0: do not wait)" });
  recipe = recipeOption();
  output = outputOption();

  async run(): Promise<number> {
    checkFormat(this.output);
    checkRecipe(this.recipe);
    const waitS = Number(this.wait);
    if (!Number.isFinite(waitS) || waitS < 0) throw usageError(`--wait: expected seconds, got "${this.wait}"`);
    const user = invokingUser();
    // Record first: a switch the audit log cannot record is not engaged (fail closed on the log, not on the host).
    const recordSeq = record(this.auditLogPath(), "kill_switch_on", { by: user.user, uid: user.uid, reason: this.reason ?? null, persistent: this.persistent, recipe: this.recipe ?? null });
    const running = listSessions().live.filter((e) => !this.recipe || e.recipe === this.recipe);
    const t0 = performance.now();
    const state = engageKillSwitch({ reason: this.reason, persistent: this.persistent, recipe: this.recipe });
    const gone = waitS > 0 ? await waitForExit(running, waitS * 1000, t0) : new Map<string, number>();
    const ended = running.filter((e) => gone.has(e.id));
    const ids = ended.length ? await remainingKernelIds(ended) : { progs: new Map(), links: new Map() };
    const sessions = running.map((e) => ({
      id: e.id,
      pid: e.pid,
      recipe: e.recipe,
      ended: gone.has(e.id),
      ms: gone.has(e.id) ? Math.round(gone.get(e.id)!) : null,
      remaining_prog_ids: ids.progs.get(e.id) ?? [],
      remaining_link_ids: ids.links.get(e.id) ?? [],
    }));
    const ok = sessions.every((s) => s.ended || waitS === 0);
    if (this.output === "json") {
      const audit = auditReceipt(this.auditLogPath(), recordSeq);
      this.context.stdout.write(JSON.stringify({ kind: "kill_switch_receipt", host: hostname(), on: true, ok, kill_switch: state, sessions, audit }) + "\n");
    } else {
      this.context.stdout.write(`kill switch on (${state.file}): ${describeKillSwitch(state)}\n`);
      for (const s of sessions) {
        const left = s.remaining_prog_ids.length + s.remaining_link_ids.length;
        this.context.stdout.write(
          `  session ${s.id} (${s.recipe}, pid ${s.pid}): ${s.ended ? `ended after ${s.ms} ms${left ? `, but the kernel still holds prog ${s.remaining_prog_ids.join(",")} link ${s.remaining_link_ids.join(",")}` : ", kernel shows none of its programs"}` : waitS > 0 ? `still running after ${waitS}s` : "signalled"}\n`,
        );
      }
      if (!running.length) this.context.stdout.write(`  no ${this.recipe ? `${this.recipe} ` : ""}sessions were running\n`);
    }
    return ok ? 0 : 1;
  }
}

export class KillSwitchOffCommand extends EbpfctlCommand {
  static paths = [["kill-switch", "off"]];
  static usage = Command.Usage({
    description: "Release the host kill switch: every switch (host-wide and per recipe), or one recipe's",
    details: "-o json prints {host, on: false, removed: [...], audit: {file, seq, hash, record_seq}}. Exit 0.",
    examples: [
      ["Allow tracing again", "sudo ebpfctl kill-switch off --reason 'INC-4211 resolved'"],
      ["Allow one recipe again", "sudo ebpfctl kill-switch off --recipe profile"],
    ],
  });
  reason = Option.String("--reason", { description: "Why it is safe again" });
  recipe = recipeOption();
  output = outputOption();

  async run(): Promise<number> {
    checkFormat(this.output);
    checkRecipe(this.recipe);
    const user = invokingUser();
    const current = this.recipe ? listKillSwitches().filter((s) => s.recipe === this.recipe) : listKillSwitches();
    const was = current.map((c) => ({ by: c.by, at: c.at, reason: c.reason, persistent: c.persistent, recipe: c.recipe }));
    const recordSeq = record(this.auditLogPath(), "kill_switch_off", { by: user.user, uid: user.uid, reason: this.reason ?? null, recipe: this.recipe ?? null, was: was[0] ?? null, ...(was.length > 1 ? { also: was.slice(1) } : {}) });
    const removed = releaseKillSwitch({ recipe: this.recipe });
    if (this.output === "json") {
      this.context.stdout.write(JSON.stringify({ kind: "kill_switch_receipt", host: hostname(), on: false, ok: true, removed, audit: auditReceipt(this.auditLogPath(), recordSeq) }) + "\n");
    } else {
      this.context.stdout.write(removed.length ? `kill switch off (removed ${removed.map((r) => r.file).join(", ")})\n` : "kill switch was already off\n");
    }
    return 0;
  }
}

export class KillSwitchStatusCommand extends EbpfctlCommand {
  static paths = [["kill-switch", "status"], ["kill-switch"]];
  static usage = Command.Usage({
    description: "Show whether the host kill switch is on (and which recipes have their own), who engaged it, when and why",
    details: "Exit 0 when off, 8 when on (with --recipe: when that recipe is refused), so scripts can test it.",
    examples: [["Check", "ebpfctl kill-switch status"], ["As JSON", "ebpfctl kill-switch status --output json"], ["Is profile allowed?", "ebpfctl kill-switch status --recipe profile"]],
  });
  recipe = recipeOption();
  output = outputOption();

  async run(): Promise<number> {
    checkFormat(this.output);
    checkRecipe(this.recipe);
    const s = readKillSwitch(this.recipe);
    const recipes = listKillSwitches().filter((x) => x.recipe !== null);
    if (this.output === "json") {
      this.context.stdout.write(JSON.stringify({ ...(s ? { on: true, ...s } : { on: false }), host: hostname(), recipes: recipes.map(brief) }) + "\n");
    } else {
      this.context.stdout.write(s ? `kill switch on (${s.file}): ${describeKillSwitch(s)}\n` : "kill switch off\n");
      for (const r of recipes) if (r.file !== s?.file) this.context.stdout.write(`  recipe ${r.recipe} refused (${r.file}): ${describeKillSwitch(r)}\n`);
    }
    return s ? 8 : 0;
  }
}

const brief = (s: KillSwitchState) => ({ recipe: s.recipe, persistent: s.persistent, by: s.by, at: s.at, reason: s.reason, file: s.file });
