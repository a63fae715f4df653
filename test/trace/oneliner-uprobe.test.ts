// uprobe, uretprobe and usdt one-liners end to end against the real kernel. Ground truth is what
// the fixture did (build/fixtures/uprobe_target calls ebpfctl_up_target(VALUE, "vVALUE") COUNT
// times per VALUE:COUNT argument and fires USDT ebpfctl_fixture:tick before each call), and in
// the same run, on the same workload, bpftrace runs the same one-liner: the counts must be equal.
import { describe, expect } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIXTURES, expectIdentity, histBuckets, recipeTest, run, scalarLines, startBpftrace, traceDuring, useFixtures } from "./trace-helpers";

useFixtures();

const TARGET = `${FIXTURES}/uprobe_target`;
/** The fixture lives outside the default uprobe_binaries (system paths): a policy allowing it. */
function policyEnv(): Record<string, string> {
  const config = mkdtempSync(join(tmpdir(), "ebpfctl-uprobe-policy-"));
  chmodSync(config, 0o755);
  writeFileSync(join(config, "policy.yaml"), `adhoc:\n  uprobe_binaries: ["${FIXTURES}/*"]\n`, { mode: 0o644 });
  return { EBPFCTL_CONFIG_DIR: config };
}

/** The same one-liner under bpftrace and ebpfctl, both attached before the workload runs. */
async function sideBySide(prog: string, work: string[], json = false) {
  const bt = await startBpftrace(prog);
  let btOut = "";
  let calls = "";
  const r = await traceDuring(["-e", prog], async () => {
    const w = await run([TARGET, ...work]);
    expect(w.code).toBe(0);
    calls = w.stdout.trim();
    if (bt) btOut = await bt.stop();
  }, { json, env: policyEnv() });
  expect(r.code).toBe(0);
  return { r, btOut, bt: Boolean(bt), calls: Number(calls) };
}

const WORK = ["0:3", "1:5", "3:7", "100:11", "4096:13", "65536:2"];
const CALLS = 3 + 5 + 7 + 11 + 13 + 2;

describe("ebpfctl trace -e: uprobes, uretprobes, USDT", () => {
  recipeTest("uprobe: an exact call count, equal to bpftrace's", async () => {
    const prog = `uprobe:${TARGET}:ebpfctl_up_target { @calls = count(); }`;
    const { r, btOut, bt, calls } = await sideBySide(prog, WORK);
    expect(calls).toBe(CALLS);
    expect(scalarLines(r.stdout).get("@calls")).toBe(CALLS);
    if (bt) expect(scalarLines(btOut).get("@calls")).toBe(CALLS);
  }, 60_000);

  recipeTest("uprobe: @[arg0] = count() and a predicate on arg0: each key exact, equal to bpftrace's", async () => {
    const prog = `uprobe:${TARGET}:ebpfctl_up_target /arg0 > 1/ { @[arg0] = count(); }`;
    const { r, btOut, bt } = await sideBySide(prog, WORK);
    const want = new Map([["@[3]", 7], ["@[100]", 11], ["@[4096]", 13], ["@[65536]", 2]]);
    expect(scalarLines(r.stdout)).toEqual(want);
    if (bt) expect(scalarLines(btOut)).toEqual(want);
  }, 60_000);

  recipeTest("uretprobe: hist(retval), every bucket exact, equal to bpftrace's", async () => {
    const prog = `uretprobe:${TARGET}:ebpfctl_up_target { @ret = hist(retval); }`;
    const { r, btOut, bt } = await sideBySide(prog, WORK);
    const want = new Map([["[0]", 3], ["[1]", 5], ["[2, 4)", 7], ["[64, 128)", 11], ["[4K, 8K)", 13], ["[64K, 128K)", 2]]);
    expect(r.stdout).toMatch(/^@ret:$/m);
    expect(histBuckets(r.stdout)).toEqual(want);
    if (bt) expect(histBuckets(btOut)).toEqual(want);
  }, 60_000);

  recipeTest("usdt: a count and @[str(arg1)] keys exact, equal to bpftrace's", async () => {
    const prog = `usdt:${TARGET}:ebpfctl_fixture:tick { @[str(arg1)] = count(); }`;
    const { r, btOut, bt } = await sideBySide(prog, ["7:4", "8:9", "7:2"]);
    const want = new Map([["@[v7]", 6], ["@[v8]", 9]]);
    expect(scalarLines(r.stdout)).toEqual(want);
    if (bt) expect(scalarLines(btOut)).toEqual(want);
    const total = await sideBySide(`usdt:${TARGET}:ebpfctl_fixture:tick { @ = count(); }`, ["7:4", "8:9", "7:2"]);
    expect(scalarLines(total.r.stdout).get("@")).toBe(15);
    if (total.bt) expect(scalarLines(total.btOut).get("@")).toBe(15);
  }, 90_000);

  recipeTest("printf events: the tracepoint one-liners' envelope, the probe named; the accounting identity holds", async () => {
    const prog = `uprobe:${TARGET}:ebpfctl_up_target /arg0 == 5/ { printf("%d %s %s\\n", arg0, str(arg1), comm); }`;
    const r = await traceDuring(["-e", prog], async () => {
      expect((await run([TARGET, "5:3", "6:4"])).code).toBe(0);
    }, { env: policyEnv() });
    expect(r.code).toBe(0);
    const events = r.records.filter((x) => x.kind === "oneliner_event");
    expect(events).toEqual(Array(3).fill({ kind: "oneliner_event", schema_version: 1, recipe: "generic-uprobe-events", session: expect.stringMatching(/^[0-9a-f]{16}$/), probe: `uprobe:${TARGET}:ebpfctl_up_target`, args: [5, "v5", "uprobe_target"], text: "5 v5 uprobe_target" }));
    expectIdentity(r);
  }, 60_000);
});
