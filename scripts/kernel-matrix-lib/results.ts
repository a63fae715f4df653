// Host side of the kernel-matrix result channel (see init.sh for the guest side).
//   results.ts parse RESULTS_LOG NONCE COMMANDS_TXT WALL_SECONDS TIMED_OUT  -> GuestRun JSON on stdout
//   results.ts summary RUN_JSON          -> one human line (release, wall time, completeness)
//   results.ts run RUN_JSON              -> replays result 0: stdout, stderr, exit code
//   results.ts batch RUN_JSON [OUTFILE]  -> the results array as JSON; exit 124/125 when incomplete
//   results.ts matrix RUN_JSON DIR       -> DIR/{doctor,verify,trace-<recipe>,results}.json; exit != 0 unless
//                                           verify and every trace passed
//   results.ts baseline RUN_JSON FILE    -> result 0's stdout (a verifier baseline) to FILE; exit != 0 unless
//                                           the command succeeded and printed a baseline
import { readFileSync, writeFileSync, existsSync } from "node:fs";

export interface GuestResult { cmd: string; exit: number; stdout: string; stderr: string; /** guest seconds the command took */ seconds?: number }
export interface GuestRun {
  release: string | null;
  wallSeconds: number;
  guestUptimeAtInit: number | null;
  guestUptimeAtDone: number | null;
  complete: boolean;
  timedOut: boolean;
  results: GuestResult[];
}

const EXIT_TIMEOUT = 124;
const EXIT_INFRA = 125;

function parse(logPath: string, nonce: string, commandsPath: string, wall: number, timedOut: boolean): GuestRun {
  const cmds = readFileSync(commandsPath, "utf8").split("\n").filter((l) => l.length > 0);
  const text = existsSync(logPath) ? readFileSync(logPath, "latin1") : "";
  const prefix = `@@KM:${nonce}:`;
  const blocks: { tag: string; idx: number; value: string; payload: Buffer }[] = [];
  let cur: { tag: string; idx: number; value: string; lines: string[] } | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\r$/, "");
    const at = line.indexOf(prefix);
    if (at < 0) {
      if (cur) cur.lines.push(line.trim());
      continue;
    }
    const rest = line.slice(at + prefix.length);
    if (rest === "END") {
      if (cur) blocks.push({ tag: cur.tag, idx: cur.idx, value: cur.value, payload: Buffer.from(cur.lines.join(""), "base64") });
      cur = null;
      continue;
    }
    const [tag, idx, ...value] = rest.split(":");
    cur = { tag: tag ?? "", idx: Number(idx), value: value.join(":"), lines: [] };
  }
  const started: number[] = [];
  const results: GuestResult[] = cmds.map((c) => ({ cmd: Buffer.from(c, "utf8").toString(), exit: -1, stdout: "", stderr: "" }));
  let release: string | null = null, up0: number | null = null, up1: number | null = null, done = false;
  for (const b of blocks) {
    const r = results[b.idx];
    switch (b.tag) {
      case "BOOT": release = b.payload.toString("utf8").trim(); up0 = Number(b.value); break;
      case "CMD": if (r) { r.cmd = b.payload.toString("utf8"); started[b.idx] = Number(b.value.split(":")[0]); } break;
      case "STDOUT": if (r) r.stdout = b.payload.toString("utf8"); break;
      case "STDERR": if (r) r.stderr = b.payload.toString("utf8"); break;
      case "EXIT": {
        if (!r) break;
        const [code, up] = b.value.split(":");
        r.exit = Number(code);
        if (up !== undefined && started[b.idx] !== undefined) r.seconds = Math.round((Number(up) - started[b.idx]!) * 10) / 10;
        break;
      }
      case "DONE": done = true; up1 = Number(b.value); break;
    }
  }
  for (const r of results) {
    if (r.exit === -1) {
      r.exit = timedOut ? EXIT_TIMEOUT : EXIT_INFRA;
      r.stderr += `kernel-matrix: no exit status from the guest (${timedOut ? "timed out" : release ? "guest stopped early" : "guest never reached /init"})\n`;
    }
  }
  return { release, wallSeconds: wall, guestUptimeAtInit: up0, guestUptimeAtDone: up1, complete: done && results.every((r) => r.exit !== EXIT_INFRA), timedOut, results };
}

function load(path: string): GuestRun { return JSON.parse(readFileSync(path, "utf8")); }

function status(run: GuestRun): number {
  if (run.complete) return 0;
  return run.timedOut ? EXIT_TIMEOUT : EXIT_INFRA;
}

async function write(stream: NodeJS.WriteStream, s: string) {
  if (!s) return;
  await new Promise<void>((resolve) => stream.write(s, () => resolve()));
}

const [mode, ...rest] = process.argv.slice(2);
// Arguments are positional and checked by the calling shell script.
const a = rest as [string, string, string, string, string];
switch (mode) {
  case "parse":
    process.stdout.write(JSON.stringify(parse(a[0], a[1], a[2], Number(a[3]), a[4] === "1"), null, 2) + "\n");
    break;
  case "summary": {
    const r = load(a[0]);
    const n = r.results.length, got = r.results.filter((x) => !x.stderr.includes("kernel-matrix: no exit status")).length;
    console.log(
      `guest ${r.release ?? "(no release: did not boot)"}: boot + ${n} command(s) took ${r.wallSeconds.toFixed(1)} s wall` +
        (r.guestUptimeAtInit != null ? ` (guest /init at uptime ${r.guestUptimeAtInit.toFixed(1)} s` + (r.guestUptimeAtDone != null ? `, done at ${r.guestUptimeAtDone.toFixed(1)} s)` : ")") : "") +
        (r.complete ? "" : `; INCOMPLETE: ${got}/${n} results${r.timedOut ? ", timed out" : ""}`),
    );
    break;
  }
  case "run": {
    const r = load(a[0]);
    const res = r.results[0];
    if (!res) process.exit(125);
    await write(process.stdout, res.stdout);
    await write(process.stderr, res.stderr);
    process.exit(res.exit);
  }
  case "batch": {
    const r = load(a[0]);
    const json = JSON.stringify(r.results, null, 2) + "\n";
    if (a[1]) writeFileSync(a[1], json);
    else await write(process.stdout, json);
    process.exit(status(r));
  }
  case "matrix": {
    // Results: [doctor, verify, one `trace-recipe.sh RECIPE` per recipe].
    const r = load(a[0]);
    const dir = a[1];
    const [doctor, verify, ...traces] = r.results;
    const body = (x: GuestResult | undefined) => (x && x.stdout.trim() ? x.stdout : JSON.stringify({ error: "no output", exit: x?.exit ?? null, stderr: x?.stderr ?? "" }) + "\n");
    writeFileSync(`${dir}/doctor.json`, body(doctor));
    writeFileSync(`${dir}/verify.json`, body(verify));
    // Each trace's events are JSON lines on stdout, its lifecycle records (compat, attached, end) on stderr.
    const recipeOf = (x: GuestResult) => x.cmd.split(" ").at(-1)!;
    for (const t of traces) writeFileSync(`${dir}/trace-${recipeOf(t)}.json`, JSON.stringify({ cmd: t.cmd, exit: t.exit, stdout: t.stdout, stderr: t.stderr }, null, 2) + "\n");
    writeFileSync(`${dir}/results.json`, JSON.stringify(r, null, 2) + "\n");
    for (const x of r.results) {
      const tail = x.stderr.trim().split("\n").filter((l) => !l.startsWith("{")).slice(-2).join(" | ") || x.stderr.trim().split("\n").at(-1);
      console.error(`kernel-matrix: [exit ${x.exit}, ${x.seconds ?? "?"} s] ${x.cmd}${x.exit !== 0 && tail ? `  -- ${tail}` : ""}`);
    }
    console.error(`kernel-matrix: wrote ${dir}/{doctor,verify,trace-<recipe>,results}.json`);
    if (!r.complete) process.exit(status(r));
    const failed = [verify, ...traces].filter((x) => !x || x.exit !== 0);
    if (failed.length) console.error(`kernel-matrix: error: kernel ${r.release}: ${failed.length} command(s) failed: ${failed.map((x) => (x ? recipeOf(x) : "?")).join(", ")}`);
    process.exit(failed.length ? 1 : 0);
  }
  case "baseline": {
    const r = load(a[0]!);
    const res = r.results[0];
    if (!res) process.exit(125);
    let ok = false;
    try {
      const doc = JSON.parse(res?.stdout ?? "");
      ok = res?.exit === 0 && doc?.schema === 1 && Array.isArray(doc.recipes);
    } catch {
      ok = false;
    }
    if (!ok) {
      console.error(`kernel-matrix: no baseline came back (exit ${res?.exit}): ${(res?.stderr ?? "").trim().split("\n").slice(-3).join(" | ")}`);
      process.exit(r.complete ? 1 : status(r));
    }
    const text = res!.stdout;
    writeFileSync(a[1]!, text.endsWith("\n") ? text : text + "\n");
    console.error(`kernel-matrix: wrote ${a[1]}`);
    process.exit(0);
  }
  default:
    console.error("usage: results.ts parse|summary|run|batch|matrix ...");
    process.exit(2);
}
