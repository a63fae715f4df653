// The live terminal in a real pseudo-terminal: tmux (Debian's) runs dist/ebpfctl trace execsnoop
// at 80 and then 160 columns while the test execs a marker program every 50 ms; capture-pane
// snapshots the screen as the user sees it. No captured line may hold both status text and a
// table row, no line may have wrapped, the status line carries its numbers (cpu 0.4/10%), and
// after a resize (SIGWINCH) the status line fits the new width.
import { afterAll, describe, expect } from "bun:test";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { kernelTest } from "../kernel/helpers";

const ROOT = join(import.meta.dir, "../..");
const EBPFCTL = join(ROOT, "dist/ebpfctl");
const SESSION = `ebpfctl-term-${process.pid}`;

const tmux = (...args: string[]) => {
  const r = Bun.spawnSync(["tmux", ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`tmux ${args.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
};

afterAll(() => {
  Bun.spawnSync(["tmux", "kill-session", "-t", SESSION], { stderr: "ignore" });
});

/** A status line: elapsed, rate and the budgets with their numbers. */
const STATUS = /ev\/s|drops \d/;

interface Capture {
  width: number;
  /** Rows written in this phase carry this marker (rows written before a resize may be reflowed by tmux). */
  phaseMarker: string;
  /** As displayed (one entry per screen row). */
  rows: string[];
  /** Wrapped rows joined back (capture-pane -J): longer than the width iff the row wrapped. */
  joined: string[];
}

function capture(width: number, phaseMarker: string): Capture {
  const rows = tmux("capture-pane", "-p", "-t", SESSION).split("\n");
  const joined = tmux("capture-pane", "-p", "-J", "-t", SESSION).split("\n");
  return { width, phaseMarker, rows, joined };
}

async function execsWhile(ms: number, marker: () => string, during: () => Promise<void>): Promise<number> {
  let n = 0;
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      await Bun.spawn(["/bin/true", marker()]).exited;
      n++;
      await Bun.sleep(50);
    }
  })();
  await Promise.race([during(), Bun.sleep(ms)]);
  stop = true;
  await loop;
  return n;
}

describe("live table and status line in tmux", () => {
  kernelTest("80 and 160 columns, events arriving, and a resize: no mixed lines, nothing wraps", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ebpfctl-term-"));
    const marker = `ebpfctl-term-marker-${process.pid}`;
    tmux("new-session", "-d", "-s", SESSION, "-x", "80", "-y", "50",
      `env EBPFCTL_AUDIT_LOG=${dir}/audit.jsonl ${EBPFCTL} trace execsnoop -c true --status-interval 200ms -d 30; sleep 60`);
    // Wait for "attached".
    const deadline = Date.now() + 20_000;
    while (!tmux("capture-pane", "-p", "-t", SESSION).includes("attached")) {
      if (Date.now() > deadline) throw new Error(`never attached:\n${tmux("capture-pane", "-p", "-t", SESSION)}`);
      await Bun.sleep(100);
    }
    const captures: Capture[] = [];
    let phase = 1;
    const phaseMarker = () => `${marker}-p${phase}`;
    const snap = async (width: number, ms: number) => {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        captures.push(capture(width, phaseMarker()));
        await Bun.sleep(70);
      }
    };
    const execs = await execsWhile(12_000, phaseMarker, async () => {
      await snap(80, 3500);
      phase = 2;
      tmux("resize-window", "-t", SESSION, "-x", "160", "-y", "50");
      await Bun.sleep(300);
      await snap(160, 3500);
      phase = 3;
      tmux("resize-window", "-t", SESSION, "-x", "80", "-y", "50");
      await Bun.sleep(300);
      await snap(80, 3000);
    });
    expect(execs).toBeGreaterThan(20);
    let statusSeen = 0;
    let rowsSeen = 0;
    const problems: string[] = [];
    for (const c of captures) {
      for (const row of c.rows) {
        const isStatus = STATUS.test(row);
        const isRow = row.includes(marker) || /^PCOMM/.test(row);
        if (isStatus) statusSeen++;
        if (row.includes(marker)) rowsSeen++;
        if (isStatus && isRow) problems.push(`mixed at ${c.width}: ${row}`);
        if (isStatus && !/cpu (?:[█·]{8} )?[\d.]+\/10%/.test(row)) problems.push(`status without its numbers at ${c.width}: ${row}`);
      }
      // Rows written before a resize are reflowed by tmux itself: check what was written at this width.
      for (const line of c.joined) {
        const current = STATUS.test(line) || line.includes(c.phaseMarker) || !line.includes(marker);
        if (current && line.trimEnd().length > c.width) problems.push(`wrapped at ${c.width}: ${line.trimEnd()}`);
      }
    }
    console.log(`terminal: ${captures.length} captures, ${execs} execs, ${rowsSeen} marker rows and ${statusSeen} status lines seen, ${problems.length} problems`);
    expect(problems.slice(0, 5)).toEqual([]);
    expect(statusSeen).toBeGreaterThan(20);
    expect(rowsSeen).toBeGreaterThan(20);
  }, 90_000);
});
