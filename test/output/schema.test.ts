// The JSON contract, checked against real output: docs/schema/ is what scripts/gen-schema.ts
// generates from the zod schemas (no hand edits, no drift), and every record every recipe writes
// with -o json — events and snapshots on stdout, lifecycle records on stderr — validates with
// ajv against the schema of its kind, carries kind, recipe, session and schema_version, and has
// no padding field. The workload makes each stream recipe see at least one event of its own.
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import Ajv2020 from "ajv/dist/2020";
import { recipeTest, run, traceDuring, useFixtures, ROOT, BUN } from "../trace/trace-helpers";

useFixtures();

const SCHEMA = join(ROOT, "docs/schema");
const ajv = new Ajv2020({ allErrors: true, strict: false });
const load = (rel: string) => ajv.compile(JSON.parse(readFileSync(join(SCHEMA, rel), "utf8")));
const records = Object.fromEntries(readdirSync(join(SCHEMA, "records")).map((f) => [f.replace(/\.json$/, ""), load(`records/${f}`)]));
const events = Object.fromEntries(readdirSync(join(SCHEMA, "events")).map((f) => [f.replace(/\.json$/, ""), load(`events/${f}`)]));

test("docs/schema is up to date with the zod schemas and the objects' BTF", () => {
  const r = Bun.spawnSync([BUN, join(ROOT, "scripts/gen-schema.ts"), "--check"], { stderr: "pipe" });
  expect(r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
});

/** Something for every stream recipe to see: exec, open, exit, a signal, a bind and a connect. */
async function workload(): Promise<void> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open(s) { s.end(); } } });
  try {
    const sock = await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {} } });
    sock.end();
    const c = Bun.spawn(["sh", "-c", "cat /etc/hostname >/dev/null; sleep 5"]);
    await Bun.sleep(100);
    c.kill("SIGUSR1");
    await c.exited;
    await Bun.spawn(["sh", "-c", "exit 3"]).exited;
    await Bun.sleep(200);
  } finally {
    server.stop(true);
  }
}

function validate(recipe: string, line: string, stream: "stdout" | "stderr"): string | undefined {
  let r: Record<string, unknown>;
  try {
    r = JSON.parse(line);
  } catch {
    return `${stream} line is not JSON: ${line}`;
  }
  for (const k of ["kind", "recipe", "session", "schema_version"]) if (!(k in r)) return `${stream} record without ${k}: ${line}`;
  if (Object.keys(r).some((k) => k.startsWith("__"))) return `padding field in ${line}`;
  if (stream === "stdout" && (r.kind === "warning" || r.kind === "error")) return `${r.kind} on stdout: ${line}`;
  const v = r.kind === "event" ? events[recipe] : records[String(r.kind)] ?? records.lifecycle;
  if (!v) return `no schema for ${recipe} ${r.kind}`;
  const kind = String(r.kind);
  if (!v(r)) return `${recipe} ${kind}: ${ajv.errorsText(v.errors)}: ${line.slice(0, 300)}`;
  return undefined;
}

// The generic (one-liner) recipes run from a one-liner (below), not by name: a uprobe one needs its binary.
const RECIPES = readdirSync(join(ROOT, "recipes")).filter((f) => f.endsWith(".yaml") && !f.startsWith("generic-")).map((f) => f.replace(/\.yaml$/, "")).sort();

describe("every recipe's -o json output validates against docs/schema", () => {
  for (const recipe of RECIPES) {
    recipeTest(recipe, async () => {
      const args = recipe === "funclatency" ? [recipe, "--binary", "/lib/x86_64-linux-gnu/libc.so.6", "--symbol", "getpid"] : [recipe];
      const r = await traceDuring(args, workload, { settleMs: 300 });
      expect(r.code).toBe(0);
      const out = r.stdout.split("\n").filter(Boolean);
      const err = r.stderr.split("\n").filter(Boolean);
      const problems = [...out.map((l) => validate(recipe, l, "stdout")), ...err.map((l) => validate(recipe, l, "stderr"))].filter(Boolean);
      expect(problems).toEqual([]);
      expect(JSON.parse(err.at(-1)!).kind).toBe("end");
      const kinds = new Set(out.map((l) => JSON.parse(l).kind));
      if (["execsnoop", "opensnoop", "exitsnoop", "sigsnoop", "tcpconnect", "tcplife"].includes(recipe)) expect(kinds.has("event")).toBe(true);
    }, 60_000);
  }
});

describe("one-liners' -o json output validates against docs/schema", () => {
  const TARGET = join(ROOT, "build/fixtures/uprobe_target");
  const ONE_LINERS: [string, string][] = [
    ["generic-tracepoint: a count by comm", 'tracepoint:syscalls:sys_enter_openat { @opens[comm] = count(); }'],
    ["generic-tracepoint: a histogram", "tracepoint:syscalls:sys_exit_read /args.ret >= 0/ { @bytes = hist(args.ret); }"],
    ["generic-tracepoint-events: a printf", 'tracepoint:syscalls:sys_enter_openat { printf("%s %d %s\\n", comm, pid, str(args.filename)); }'],
    ["generic-tracepoint: kernel stacks", "tracepoint:syscalls:sys_enter_openat { @[kstack] = count(); }"],
    ["generic-profile: user stacks and comm", "profile:hz:99 { @[ustack, comm] = count(); }"],
    ["generic-uprobe: a count by an argument", `uprobe:${TARGET}:ebpfctl_up_target { @[arg0] = count(); }`],
    ["generic-uprobe-events: a printf", `uretprobe:${TARGET}:ebpfctl_up_target { printf("%s %d\\n", comm, retval); }`],
    ["generic-usdt: a count by a string argument", `usdt:${TARGET}:ebpfctl_fixture:tick { @[str(arg1)] = count(); }`],
    ["generic-usdt-events: a printf", `usdt:${TARGET}:ebpfctl_fixture:tick { printf("%d %s\\n", arg0, str(arg1)); }`],
  ];
  // The fixture is outside the default uprobe_binaries (system paths): a policy that allows it.
  const config = mkdtempSync(join(tmpdir(), "ebpfctl-schema-policy-"));
  chmodSync(config, 0o755);
  writeFileSync(join(config, "policy.yaml"), `adhoc:\n  uprobe_binaries: ["${dirname(TARGET)}/*"]\n`, { mode: 0o644 });
  const work = async () => {
    await workload();
    await run([TARGET, "7:2", "8:1"]);
  };
  for (const [what, prog] of ONE_LINERS) {
    recipeTest(what, async () => {
      const r = await traceDuring(["-e", prog], work, { settleMs: 300, env: { EBPFCTL_CONFIG_DIR: config } });
      expect(r.code).toBe(0);
      const out = r.stdout.split("\n").filter(Boolean);
      const err = r.stderr.split("\n").filter(Boolean);
      const recipe = JSON.parse(err.at(-1)!).recipe as string;
      expect(recipe).toBe(what.split(":")[0]!);
      const problems = [...out.map((l) => validate(recipe, l, "stdout")), ...err.map((l) => validate(recipe, l, "stderr"))].filter(Boolean);
      expect(problems).toEqual([]);
      expect(out.length).toBeGreaterThan(0);
      expect(new Set(out.map((l) => JSON.parse(l).kind))).toEqual(new Set([prog.includes("printf") ? "oneliner_event" : "oneliner_map"]));
    }, 60_000);
  }
});
