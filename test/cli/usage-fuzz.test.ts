// 2,000 generated bad command lines through the compiled binary: every one is a usage error
// (exit 2, or the documented recipe/verify code for a named thing that does not exist), none
// exits 1 (an internal error), none hangs, and each prints one error line (plus its hint line)
// and nothing on stdout. Lines are built from the real command definitions (typos of real
// options, real options missing their value, extra arguments, values of the wrong kind), so
// none of them loads a program. Deterministic (seeded); a failure prints the line.
import { expect, test } from "bun:test";
import { spawn } from "bun";
import { EBPFCTL, isolatedEnv } from "../helpers/trace";

const SEED = Number(process.env.EBPFCTL_FUZZ_SEED ?? 0xc1);
const TOTAL = 2_000;
const PARALLEL = 8;

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}
const rand = rng(SEED);
const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)]!;

const STREAM = ["execsnoop", "opensnoop", "exitsnoop", "sigsnoop", "tcpconnect", "bindsnoop", "tcplife", "oomkill"];
const AGG = ["runqlat", "biolatency", "syscount", "profile"];
const VALUE_OPTS = ["--pid", "-p", "--uid", "-u", "--comm", "-c", "--duration", "-d", "--max-rate", "--max-memory", "--max-cpu", "--max-output", "--max-duration", "--output", "-o", "--interval", "-i", "--top", "--cgroup", "--unit", "--nice", "--status-interval"];
const BOOL_OPTS = ["--errors-only", "-x", "--per-process", "-P", "--timestamp", "-T", "--folded", "--allow-unsigned"];
/** Valid option/value pairs that may precede the bad token. */
const GOOD_PREFIX: string[][] = [["-p", "1"], ["-c", "bash"], ["-d", "1"], ["-u", "0"], ["--max-rate", "1k"], ["-o", "json"], ["-o", "table"], ["--max-memory", "32MiB"]];
const COMMANDS = ["trace", "list", "version", "doctor", "audit", "keys", "recipe", "verify", "kill-switch", "ps", "stop", "bundle"];
const GROUPS: Record<string, string[]> = { audit: ["show", "verify", "tail", "rotate"], keys: ["generate", "list"], recipe: ["sign", "verify", "inspect"], "kill-switch": ["on", "off", "status"] };

function typo(word: string): string {
  const chars = word.split("");
  const at = 2 + Math.floor(rand() * Math.max(1, chars.length - 2));
  switch (Math.floor(rand() * 4)) {
    case 0:
      chars.splice(at, 0, chars[at - 1] ?? "z"); // doubled letter: --pidd
      break;
    case 1:
      chars.splice(at, 1); // dropped letter
      break;
    case 2:
      chars.splice(at, 0, "q"); // inserted letter
      break;
    default:
      [chars[at - 1], chars[at]] = [chars[at] ?? "k", chars[at - 1]!]; // swapped
  }
  return chars.join("");
}

const LONG_NAMES = new Set([...VALUE_OPTS, ...BOOL_OPTS, "--help", "--recipe-file", "--binary", "--symbol", "--port", "--freq", "--signal", "--min-latency", "--sample-every", "--profile", "--output-file", "--audit-syslog", "--audit-log", "--max-duration"]);

/** One bad trace line: a valid start, then a token clipanion or the recipe refuses. */
function badTrace(): string[] {
  const recipe = pick(rand() < 0.6 ? STREAM : AGG);
  const line = ["trace", recipe];
  for (let n = Math.floor(rand() * 3); n > 0; n--) line.push(...pick(GOOD_PREFIX));
  // Two lines in three fail in clipanion's parse (cheap); the rest in the recipe's checks, which
  // open the audit log and verify the recipe first (about 4 times the cost).
  const which = rand() < 0.67 ? Math.floor(rand() * 6) : 6 + Math.floor(rand() * 6);
  switch (which) {
    case 0: {
      let t = typo(pick([...VALUE_OPTS, ...BOOL_OPTS].filter((o) => o.startsWith("--"))));
      while (LONG_NAMES.has(t)) t += "x";
      line.push(t, "1");
      break;
    }
    case 1:
      line.push(`-${pick("abegjklnqrtvwyzABCDEGHIJKLMNOQRSUWXYZ".split(""))}`);
      break;
    case 2:
      line.push(pick(VALUE_OPTS)); // no value at the end
      break;
    case 3:
      line.push(pick(["-d", "-p", "-u", "--top", "-i", "--max-rate"]), `-${1 + Math.floor(rand() * 99)}`);
      break;
    case 4:
      line.push(pick(["extra", "now", "10", "execsnoop", "stray"]));
      break;
    case 5:
      line.push(`${pick(BOOL_OPTS.filter((o) => o.startsWith("--")))}=${pick(["yes", "1", "no"])}`);
      break;
    case 6:
      line.push(pick(["-d", "--duration", "--max-duration", "--status-interval"]), pick(["abc", "10x", "1 hour", "", "forever", "-"]));
      break;
    case 7:
      line.push(pick(["--max-rate", "--max-memory", "--max-cpu", "--max-output"]), pick(["fast", "lots", "1e999", "0", "-", "NaN"]));
      break;
    case 8:
      line.push(pick(["-p", "-u", "--pid", "--uid"]), pick(["abc", "1.5", "", "99999999999", "0x"]));
      break;
    case 9:
      // An output flag the recipe's kind cannot honour.
      if (STREAM.includes(recipe)) line.push(...pick([["-i", "2"], ["--top", "3"], ["--folded"], ["-o", "openmetrics"]]));
      else line.push(...pick([["-T"], ["--folded", "--top", "1"], ["-x"]]).filter((t) => !(recipe === "profile" && t === "--folded")), ...(recipe === "syscount" ? ["--freq", "9"] : []));
      break;
    case 10:
      line.push(pick(["-o", "--output"]), pick(["xml", "yaml", "JSON", "csv", ""]));
      break;
    default:
      line.push(pick(["--cgroup", "--unit"]), pick(["/nonexistent/cg", "/tmp", "no-such-unit-xyz.service", "bad/unit", ""]));
  }
  return line;
}

function badOther(): string[] {
  switch (Math.floor(rand() * 5)) {
    case 0: {
      let c = typo(pick(COMMANDS));
      while (COMMANDS.includes(c)) c += "x";
      return [c];
    }
    case 1: {
      const g = pick(Object.keys(GROUPS));
      let s = typo(pick(GROUPS[g]!));
      while (GROUPS[g]!.includes(s)) s += "x";
      return [g, s];
    }
    case 2:
      return [pick(["list", "version", "ps", "doctor"]), pick(["--pidd", "-z", "--outptu", "stray"])];
    case 3:
      return [pick(["audit", "keys", "recipe"])];
    default:
      return ["verify", pick(["--baseline", "--threshold"]), pick(["/nonexistent.json", "-5", "abc"])].slice(0, rand() < 0.2 ? 2 : 3);
  }
}

interface Outcome {
  argv: string[];
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

async function run(argv: string[], env: Record<string, string>): Promise<Outcome> {
  const p = spawn([EBPFCTL, ...argv], { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    p.kill("SIGKILL");
  }, 15_000);
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(timer);
  return { argv, code, stdout, stderr, timedOut };
}

/** What a usage error must look like: one error line (text or a JSON record) and at most its hint. */
function problem(o: Outcome): string | undefined {
  if (o.timedOut) return "hung (killed after 15 s)";
  if (o.code === 1) return "exit 1 (internal error)";
  if (o.code === 0) return "exit 0: the line was accepted";
  if (o.stdout !== "") return `wrote to stdout: ${JSON.stringify(o.stdout.slice(0, 200))}`;
  const lines = o.stderr.split("\n").filter((l) => l !== "");
  // The last -o wins, as in clipanion.
  const outs = o.argv.flatMap((t, i) => (t === "-o" || t === "--output" ? [o.argv[i + 1]] : []));
  const json = outs.at(-1) === "json";
  if (json && o.argv[0] === "trace") {
    // -o json: one error record, then the `end` record, nothing else.
    let recs;
    try {
      recs = lines.map((l) => JSON.parse(l));
    } catch {
      return `not JSON lines: ${o.stderr}`;
    }
    return recs.length === 2 && recs[0].kind === "error" && recs[0].exit_code === o.code && recs[1].kind === "end" ? undefined : `JSON error then end expected: ${o.stderr}`;
  }
  if (lines.length < 1 || lines.length > 2) return `${lines.length} lines on stderr:\n${o.stderr}`;
  if (!/^error: .+ \[EBPFCTL-E\d{4}\]$/.test(lines[0]!)) return `not one error line: ${lines[0]}`;
  if (lines[1] !== undefined && !lines[1].startsWith("  hint: ")) return `second line is not a hint: ${lines[1]}`;
  return undefined;
}

test(`${TOTAL} bad command lines: no exit 1, no hang, one error line each`, async () => {
  const lines: string[][] = [];
  for (let i = 0; i < TOTAL; i++) lines.push(rand() < 0.75 ? badTrace() : badOther());
  const env = isolatedEnv();
  const outcomes: Outcome[] = [];
  const started = performance.now();
  for (let i = 0; i < lines.length; i += PARALLEL) outcomes.push(...(await Promise.all(lines.slice(i, i + PARALLEL).map((l) => run(l, env)))));
  const failures = outcomes.map((o) => [o, problem(o)] as const).filter(([, p]) => p);
  const codes = new Map<number | null, number>();
  for (const o of outcomes) codes.set(o.code, (codes.get(o.code) ?? 0) + 1);
  console.log(`usage fuzz: ${TOTAL} lines in ${((performance.now() - started) / 1000).toFixed(1)} s; exit codes ${JSON.stringify(Object.fromEntries(codes))}`);
  for (const [o, p] of failures.slice(0, 30)) console.log(`FAIL ebpfctl ${o.argv.map((t) => JSON.stringify(t)).join(" ")}: ${p}`);
  expect(failures.length).toBe(0);
  expect(codes.get(1) ?? 0).toBe(0);
}, 900_000);
