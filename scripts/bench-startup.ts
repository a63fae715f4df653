// bench-startup: time from exec to "attached" for ebpfctl, side by side with libbpf-tools.
//
// Per round, in this order (interleaved, so machine noise hits every tool alike):
//   [--fresh] ebpfctl with every cache deleted (run dir and cache dir): the first run after an
//            install, an upgrade or a new kernel (it hashes the executable, ~200 ms)
//   [--cold] ebpfctl after deleting the run dir's caches (features.json): the first run after a
//            reboot into the same kernel (the cache dir, /var/cache/ebpfctl, survives a reboot)
//   ebpfctl trace execsnoop -o json   (warm: features.json in $EBPFCTL_RUN_DIR, the digest and
//                                      core-btf/ in $EBPFCTL_CACHE_DIR)
//   /usr/sbin/execsnoop               (C, libbpf-tools, Debian)
//   … then the same for opensnoop.
//   [--floor] two programs compiled like dist/ebpfctl, timed to their first stderr line: an empty
//            one (Bun alone) and one that loads clipanion and zod/mini and parses a command line of
//            the `trace` command's shape (the fixed stack's share, before any ebpfctl code).
// ebpfctl's marker is its `{"kind":"attached"}` record on stderr (-o json). The C tools print
// their column header right after attaching; their stdout is a pipe, so they run under
// `stdbuf -oL` (line-buffered stdout) — otherwise the header sits in a 4 KiB stdio buffer.
// stdbuf adds one exec of a tiny binary and an LD_PRELOAD (about 1 ms) to the C figures.
import { existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { fmt, max, mdTable, median, min, parseArgs } from "./bench-lib/stats";
import { timeToMarker } from "./bench-lib/spawn";

const args = parseArgs(process.argv.slice(2), { runs: "string", bin: "string", tools: "string", compare: "string", cold: "boolean", fresh: "boolean", floor: "boolean", phases: "boolean", json: "boolean", help: "boolean" });
if (args.help) {
  console.log(`usage: scripts/bench-startup [--runs N] [--bin dist/ebpfctl] [--tools execsnoop,opensnoop] [--fresh] [--cold] [--floor] [--phases] [--json]
  --runs N     rounds (default 9; each round runs every tool once)
  --compare LABEL=PATH  also time another ebpfctl binary (e.g. an older build) in the same rounds
  --fresh      also time ebpfctl with every cache deleted (first run after an install or a new kernel)
  --cold       also time ebpfctl with the run dir's caches deleted (first run after a reboot)
  --floor      also time the stack's floor: an empty compiled Bun program, and one that only loads
               clipanion + zod/mini and parses a trace-shaped command line
  --phases     break ebpfctl's time down by its lifecycle records (exec→verified→compat→attached)
  --json       print the raw samples as JSON instead of tables
Env: EBPFCTL_RUN_DIR (default /tmp/bench/run), EBPFCTL_AUDIT_LOG (default /tmp/bench/audit.jsonl),
     EBPFCTL_CACHE_DIR (default /tmp/bench/cache)`);
  process.exit(0);
}
const runs = Number(args.runs ?? 9);
const bin = resolve(String(args.bin ?? join(import.meta.dir, "../dist/ebpfctl")));
const tools = String(args.tools ?? "execsnoop,opensnoop").split(",");
const runDir = process.env.EBPFCTL_RUN_DIR ?? "/tmp/bench/run";
const env = { ...process.env, EBPFCTL_RUN_DIR: runDir, EBPFCTL_AUDIT_LOG: process.env.EBPFCTL_AUDIT_LOG ?? "/tmp/bench/audit.jsonl", EBPFCTL_CACHE_DIR: process.env.EBPFCTL_CACHE_DIR ?? "/tmp/bench/cache" };
mkdirSync(runDir, { recursive: true });
if (!existsSync(bin)) throw new Error(`${bin} is missing: run scripts/build`);

type Sample = { ms: number; phases?: Record<string, number> };
const samples: Record<string, Sample[]> = {};
const add = (k: string, s: Sample) => (samples[k] ??= []).push(s);

const compare = args.compare ? (String(args.compare).split("=", 2) as [string, string]) : undefined;

// The compared binary gets its own run dir and cache dir: its features.json key (probe object)
// may differ, and its digest (binary-sha256.json) does: two binaries sharing one cache would keep
// invalidating each other's, and every run would hash the whole executable again.
const compareEnv = { ...env, EBPFCTL_RUN_DIR: `${runDir}-compare`, EBPFCTL_CACHE_DIR: `${env.EBPFCTL_CACHE_DIR}-compare` };
mkdirSync(compareEnv.EBPFCTL_RUN_DIR, { recursive: true });

async function ebpfctl(tool: string, exe = bin): Promise<Sample> {
  const wall0 = Date.now();
  const r = await timeToMarker([exe, "trace", tool, "-o", "json", "--status-interval", "0"], {
    stream: "stderr",
    env: exe === bin ? env : compareEnv,
    isMarker: (l) => l.includes('"kind":"attached"'),
  });
  const phases: Record<string, number> = {};
  let prev = wall0;
  for (const line of r.text.split("\n")) {
    if (!line.startsWith("{")) continue;
    const rec = JSON.parse(line) as { kind: string; ts: string };
    const t = Date.parse(rec.ts);
    phases[`→${rec.kind}`] = t - prev;
    prev = t;
  }
  return { ms: r.ms, phases };
}

async function cTool(tool: string): Promise<Sample> {
  const r = await timeToMarker(["stdbuf", "-oL", `/usr/sbin/${tool}`], { stream: "stdout", env, isMarker: () => true });
  return { ms: r.ms };
}

// --floor: compiled with scripts/build's flags, rebuilt when their sources change.
const floorDir = "/tmp/bench/floor";
const floorBins = { empty: join(floorDir, "empty"), stack: join(floorDir, "stack") };
if (args.floor) {
  mkdirSync(floorDir, { recursive: true });
  for (const [name, out] of Object.entries(floorBins)) {
    const src = join(import.meta.dir, `bench-lib/floor-${name}.ts`);
    if (existsSync(out) && statSync(out).mtimeMs > statSync(src).mtimeMs) continue;
    const r = Bun.spawnSync([join(import.meta.dir, "../node_modules/.bin/bun"), "build", "--compile", "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--bytecode", "--format=cjs", "--minify-syntax", "--sourcemap=none", src, "--outfile", out]);
    if (r.exitCode !== 0) throw new Error(`compiling ${src} failed: ${r.stderr}`);
  }
}
const floorArgs = ["trace", "opensnoop", "-o", "json", "--string-option-12", "0"];
async function floor(which: keyof typeof floorBins): Promise<Sample> {
  const r = await timeToMarker([floorBins[which], ...floorArgs], { stream: "stderr", env, isMarker: (l) => l === "ready" });
  return { ms: r.ms };
}

// One untimed warm-up of each so the 100 MB binary and the C tools are in the page cache and
// features.json exists (the cold column deletes it on purpose).
for (const t of tools) {
  await ebpfctl(t);
  await cTool(t);
  if (compare) await ebpfctl(t, resolve(compare[1]));
}
if (args.floor) for (const f of ["empty", "stack"] as const) await floor(f);
for (let i = 0; i < runs; i++) {
  for (const t of tools) {
    // Cold first: the caches it deletes are remade by that run (features.json before it attaches,
    // this recipe's minimised BTF after it detaches), so the warm run that follows is warm again.
    if (args.fresh) {
      rmSync(join(runDir, "features.json"), { force: true });
      rmSync(env.EBPFCTL_CACHE_DIR, { recursive: true, force: true });
      add(`ebpfctl ${t} (fresh)`, await ebpfctl(t));
    }
    if (args.cold) {
      rmSync(join(runDir, "features.json"), { force: true });
      add(`ebpfctl ${t} (cold)`, await ebpfctl(t));
    }
    add(`ebpfctl ${t}`, await ebpfctl(t));
    add(`C ${t}`, await cTool(t));
    if (compare) add(`ebpfctl@${compare[0]} ${t}`, await ebpfctl(t, resolve(compare[1])));
  }
  if (args.floor) {
    add("floor: Bun, empty program", await floor("empty"));
    add("floor: Bun + clipanion + zod/mini, trace-shaped parse", await floor("stack"));
  }
  process.stderr.write(`round ${i + 1}/${runs}\r`);
}
process.stderr.write("\n");

if (args.json) {
  console.log(JSON.stringify({ runs, bin, samples }, null, 1));
  process.exit(0);
}
const ms = (k: string) => (samples[k] ?? []).map((s) => s.ms);
const rows: (string | number)[][] = [];
for (const t of tools) {
  const c = median(ms(`C ${t}`));
  for (const k of [`ebpfctl ${t}`, ...(compare ? [`ebpfctl@${compare[0]} ${t}`] : []), ...(args.fresh ? [`ebpfctl ${t} (fresh)`] : []), ...(args.cold ? [`ebpfctl ${t} (cold)`] : []), `C ${t}`]) {
    const xs = ms(k);
    rows.push([k, xs.length, fmt(median(xs)), fmt(min(xs)), fmt(max(xs)), k.startsWith("C ") ? "1.00" : fmt(median(xs) / c, 2)]);
  }
}
console.log(`exec → attached, ms (${runs} interleaved rounds; C tools under stdbuf -oL, timed to their header line)\n`);
console.log(mdTable(["tool", "n", "median", "min", "max", "ratio vs C"], rows));
if (args.floor) {
  const c = Object.fromEntries(tools.map((t) => [t, median(ms(`C ${t}`))]));
  const frows = ["floor: Bun, empty program", "floor: Bun + clipanion + zod/mini, trace-shaped parse"].map((k) => {
    const xs = ms(k);
    return [k, xs.length, fmt(median(xs)), fmt(min(xs)), fmt(max(xs)), ...tools.map((t) => fmt(median(xs) / c[t]!, 2))];
  });
  console.log(`\nThe stack's floor (exec → first stderr line of programs compiled like dist/ebpfctl, same rounds)\n`);
  console.log(mdTable(["program", "n", "median", "min", "max", ...tools.map((t) => `vs C ${t}`)], frows));
}
if (args.phases) {
  console.log(`\nebpfctl phases, median ms (from the lifecycle records' ms timestamps; "→verified" includes exec and bun start)\n`);
  const prow: (string | number)[][] = [];
  for (const k of Object.keys(samples).filter((k) => k.startsWith("ebpfctl"))) {
    const names = Object.keys(samples[k]![0]!.phases ?? {});
    prow.push([k, ...names.map((n) => `${n.slice(1)} ${fmt(median(samples[k]!.map((s) => s.phases?.[n] ?? NaN)), 0)}`)]);
  }
  console.log(mdTable(["run", "phase 1", "phase 2", "phase 3", "phase 4"].slice(0, Math.max(...prow.map((r) => r.length))), prow.map((r) => [...r, "", "", ""].slice(0, Math.max(...prow.map((x) => x.length))))));
}
