// The fleet layer on the lab: six hosts (network + mount namespaces, each with its own sshd),
// real ansible-playbook driving the ebpfctl.fleet collection, real ebpfctl sessions on one kernel.
// Ground truth is read from each host's own directories (audit log, kill-switch files, the
// installed binary), not from what the playbooks report. Under CI=true a lab that cannot come
// up fails the suite instead of skipping it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HOSTS, KILL_STATE, LAB, audit, clearSwitches, ensureInstalled, hostDir, hostSwitchStatus, lab, labDown, labMissing, labUp, onHost, playbook, readJson, repoRoot, reportDir, sessionStarts, switches } from "./lab";

const missing = labMissing();
let upError: string | null = missing;
const CI = process.env.CI === "true";
const T = 240_000;

beforeAll(() => {
  if (missing) return;
  const r = labUp(6);
  if (!r.ok) upError = `scripts/fleet-lab up 6 failed: ${r.output}`;
}, 120_000);
afterAll(() => {
  if (!missing) labDown();
}, 60_000);

/** A lab test: skipped without the lab, failed under CI=true. */
function labTest(name: string, fn: () => Promise<void> | void, timeout = T) {
  if (missing && !CI) return test.skip(`${name} (${missing})`, () => {});
  test(name, async () => {
    if (upError) throw new Error(`the fleet lab is not available: ${upError}`);
    await fn();
  }, timeout);
}

const sha256 = (f: string) => createHash("sha256").update(readFileSync(f)).digest("hex");
const recap = (out: string) => Object.fromEntries([...out.matchAll(/^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/gm)].map((m) => [m[1], { ok: +m[2]!, changed: +m[3]!, unreachable: +m[4]!, failed: +m[5]! }]));

describe("fleet lab and the ebpfctl.fleet collection", () => {
  labTest("ansible-lint (Debian's) is clean and every playbook passes --syntax-check", async () => {
    const lint = Bun.spawnSync(["ansible-lint", "--nocolor", "-p"], { cwd: join(repoRoot, "deploy"), env: { ...process.env, ANSIBLE_COLLECTIONS_PATH: join(LAB, "collections") }, stdout: "pipe", stderr: "pipe" });
    const text = lint.stdout.toString() + lint.stderr.toString();
    // (ansible-lint 6.13 renders templates with the collection's own filters mocked; the real
    // filters run in every playbook test below.)
    expect({ code: lint.exitCode, text: text.slice(-600) }).toMatchObject({ code: 0 });
    for (const pb of ["install", "rollout", "kill_switch", "capture", "report", "reconcile"]) {
      const r = lab("run", "ansible-playbook", "--syntax-check", join(repoRoot, "deploy/playbooks", `${pb}.yml`));
      expect({ pb, code: r.code, out: r.code ? r.out : "" }).toEqual({ pb, code: 0, out: "" });
    }
  });

  labTest("install refuses a binary whose signature does not verify, then installs the signed one idempotently", async () => {
    const reports = reportDir();
    // A forged signature next to the real binary (hard link: same bytes, no copy).
    const bad = mkdtempSync("/tmp/ebpfctl-fleet-bad-");
    linkSync(join(repoRoot, "dist/ebpfctl"), join(bad, "ebpfctl"));
    copyFileSync(join(repoRoot, "dist/ebpfctl.pub"), join(bad, "ebpfctl.pub"));
    const sig = readFileSync(join(repoRoot, "dist/ebpfctl.minisig"), "utf8").split("\n");
    sig[1] = Buffer.from(Buffer.from(sig[1]!, "base64").map((b, i) => (i === 20 ? b ^ 1 : b))).toString("base64");
    writeFileSync(join(bad, "ebpfctl.minisig"), sig.join("\n"));
    const refused = await playbook("install", { reports, extra: { ebpfctl_artifact_dir: bad } });
    expect(refused.code).not.toBe(0);
    expect(refused.out).toContain("Verify the staged executable's signature");
    for (const h of HOSTS) expect(existsSync(join(hostDir(h), "usr-local-sbin/ebpfctl"))).toBe(false);
    rmSync(bad, { recursive: true, force: true });

    const first = await playbook("install", { reports });
    expect({ code: first.code, out: first.code ? first.out.slice(-2000) : "" }).toEqual({ code: 0, out: "" });
    const want = sha256(join(repoRoot, "dist/ebpfctl"));
    for (const h of HOSTS) {
      const bin = join(hostDir(h), "usr-local-sbin/ebpfctl");
      const st = statSync(bin);
      expect({ h, sha: sha256(bin), mode: (st.mode & 0o7777).toString(8), uid: st.uid }).toEqual({ h, sha: want, mode: "755", uid: 0 });
      expect(existsSync(join(hostDir(h), "facts.d/ebpfctl.fact"))).toBe(true);
    }
    const again = await playbook("install", { reports });
    expect(again.code).toBe(0);
    const r = recap(again.out);
    for (const h of HOSTS) expect({ h, changed: r[h]?.changed }).toEqual({ h, changed: 0 });
    console.log(`install: first ${(first.wallMs / 1000).toFixed(1)} s, idempotent re-run ${(again.wallMs / 1000).toFixed(1)} s (changed=0 on all 6)`);
  }, 480_000);

  labTest("a six-host staged rollout passes its gates; the report matches every host's audit log", async () => {
    clearSwitches();
    const reports = reportDir();
    const before = Object.fromEntries(HOSTS.map((h) => [h, sessionStarts(h)]));
    const run = await playbook("rollout", { reports, extra: { ebpfctl_rollout_duration: "2s" } });
    expect({ code: run.code, out: run.code ? run.out.slice(-3000) : "" }).toEqual({ code: 0, out: "" });
    const rep = readJson(join(reports, "rollout.json"));
    expect(rep.passed).toBe(true);
    expect(rep.stages.map((s: any) => [s.name, s.hosts])).toEqual([
      ["canary", ["host1"]],
      ["cell", ["host2", "host3"]],
      ["quarter", ["host4", "host5"]],
      ["rest", ["host6"]],
    ]);
    for (const st of rep.stages) {
      expect(st.gate.passed).toBe(true);
      for (const g of st.gate.hosts) {
        // Ground truth: the host's own audit log has this session, started and ended with exit 0.
        const recs = audit(g.host).filter((r) => r.session === g.record.session);
        expect(recs.map((r) => r.event)).toContain("session_start");
        const end = recs.find((r) => r.event === "session_end")!;
        expect(end.exit_code).toBe(0);
        expect(end.events).toBe(g.record.events);
      }
    }
    for (const h of HOSTS) expect({ h, n: sessionStarts(h) - before[h]! }).toEqual({ h, n: 1 });
    expect(readFileSync(join(reports, "rollout.md"), "utf8")).toContain("Result: **passed**");
    console.log(`rollout (6 hosts, 2 s per stage): ${(run.wallMs / 1000).toFixed(1)} s total; ${rep.stages.map((s: any) => `${s.name} ${s.wall_s} s`).join(", ")}`);

    // Blast radius, with this rollout's results: both host classes, differing where tp_btf matters.
    const br = await playbook("report", { reports });
    expect({ code: br.code, out: br.code ? br.out.slice(-2000) : "" }).toEqual({ code: 0, out: "" });
    const radius = readJson(join(reports, "blast_radius.json"));
    const byClass = Object.fromEntries(radius.classes.map((c: any) => [c.host_class, c]));
    expect(Object.keys(byClass).sort()).toEqual(["full", "no_tp_btf"]);
    expect(byClass.full.hosts).toEqual(["host1", "host3", "host5"]);
    expect(byClass.no_tp_btf.hosts).toEqual(["host2", "host4", "host6"]);
    expect(byClass.no_tp_btf.masked).toEqual(["tp_btf"]);
    expect(byClass.full.recipes.exitsnoop.variants.process_exit).toBe("tp_btf");
    expect(byClass.no_tp_btf.recipes.exitsnoop.profile).toBe("reduced");
    expect(byClass.no_tp_btf.recipes.exitsnoop.variants.process_exit).toMatch(/^tracepoint/);
    expect(byClass.full.rollout).toEqual({ passed: 3, failed: 0, not_run: 0 });
    expect(byClass.no_tp_btf.rollout).toEqual({ passed: 3, failed: 0, not_run: 0 });
    const md = readFileSync(join(reports, "blast_radius.md"), "utf8");
    expect(md).toContain("no_tp_btf (masked: tp_btf)");
  }, 480_000);

  labTest("a canary over its CPU budget stops the rollout after the canary and engages its kill switch", async () => {
    clearSwitches();
    const reports = reportDir();
    mkdirSync(join(LAB, "host_vars"), { recursive: true });
    writeFileSync(join(LAB, "host_vars/host1.yml"), "ebpfctl_trace_max_cpu: 0.001\n");
    const before = Object.fromEntries(HOSTS.map((h) => [h, sessionStarts(h)]));
    try {
      // 5 s: the CPU budget breaches only when sustained over consecutive one-second samples.
      const run = await playbook("rollout", { reports, extra: { ebpfctl_rollout_duration: "5s" } });
      expect(run.code).not.toBe(0);
      expect(run.out).toContain("stage 1 failed its gate");
      const rep = readJson(join(reports, "rollout.json"));
      expect(rep.passed).toBe(false);
      expect(rep.failed_stage).toBe(1);
      expect(rep.stages.length).toBe(1);
      const g = rep.stages[0].gate.hosts[0];
      expect(g.record.exit_code).toBe(7);
      expect(g.reasons.join(" ")).toContain("max_cpu");
      expect(rep.kill_switch.map((k: any) => [k.host, k.ok])).toEqual([["host1", true]]);
      // Ground truth: host1's persistent switch file exists; no later host started a session.
      expect(switches("host1")).toEqual(["persistent:kill-switch"]);
      expect(audit("host1").filter((r) => r.event === "session_end").at(-1)!.exit_code).toBe(7);
      for (const h of HOSTS.slice(1)) expect({ h, new_session_starts: sessionStarts(h) - before[h]!, switches: switches(h) }).toEqual({ h, new_session_starts: 0, switches: [] });
      expect(readFileSync(join(reports, "rollout.md"), "utf8")).toContain("FAILED");
    } finally {
      rmSync(join(LAB, "host_vars"), { recursive: true, force: true });
    }
  });

  labTest("a host whose sshd is stopped in stage 2 halts the rollout there", async () => {
    clearSwitches();
    const reports = reportDir();
    const before = Object.fromEntries(HOSTS.map((h) => [h, sessionStarts(h)]));
    expect(lab("stop-sshd", "2").code).toBe(0);
    try {
      const run = await playbook("rollout", { reports, extra: { ebpfctl_rollout_duration: "2s" } });
      expect(run.code).not.toBe(0);
      const rep = readJson(join(reports, "rollout.json"));
      expect(rep.failed_stage).toBe(2);
      expect(rep.stages.map((s: any) => s.gate.passed)).toEqual([true, false]);
      const host2 = rep.stages[1].gate.hosts.find((x: any) => x.host === "host2");
      expect(host2.passed).toBe(false);
      expect(host2.reasons.join(" ")).toMatch(/unreachable|no end record/);
      // Touched so far: host1..3; host2 cannot confirm, the others can.
      expect(Object.fromEntries(rep.kill_switch.map((k: any) => [k.host, k.ok]))).toEqual({ host1: true, host2: false, host3: true });
      expect(switches("host1")).toEqual(["persistent:kill-switch"]);
      expect(switches("host3")).toEqual(["persistent:kill-switch"]);
      expect(sessionStarts("host2") - before.host2!).toBe(0);
      for (const h of ["host4", "host5", "host6"]) expect({ h, n: sessionStarts(h) - before[h]! }).toEqual({ h, n: 0 });
      // The rollback is recorded like the fleet kill switch: host2 is pending.
      expect(readJson(KILL_STATE).switches.map((e: any) => [e.key, e.hosts, e.pending])).toEqual([["", ["host1", "host3", "host2"], ["host2"]]]);
    } finally {
      expect(lab("start-sshd", "2").code).toBe(0);
    }
    // Back: the reconcile gives host2 the switch the failed rollout could not confirm there.
    const rec = await playbook("reconcile", { reports });
    expect({ code: rec.code, out: rec.code ? rec.out.slice(-2000) : "" }).toEqual({ code: 0, out: "" });
    expect(hostSwitchStatus(2)).toMatchObject({ code: 8, status: { on: true, persistent: true } });
    expect(readJson(KILL_STATE).switches[0].pending).toEqual([]);
  });

  labTest("a rollout whose stage workload is a one-liner passes its gates; the report shows it", async () => {
    await ensureInstalled();
    clearSwitches();
    const reports = reportDir();
    const oneliner = "tracepoint:raw_syscalls:sys_enter { @[comm] = count(); }";
    const before = Object.fromEntries(HOSTS.map((h) => [h, audit(h).length]));
    const run = await playbook("rollout", { reports, extra: { ebpfctl_rollout_duration: "2s", ebpfctl_rollout_oneliner: oneliner } });
    expect({ code: run.code, out: run.code ? run.out.slice(-3000) : "" }).toEqual({ code: 0, out: "" });
    const rep = readJson(join(reports, "rollout.json"));
    expect({ passed: rep.passed, oneliner: rep.oneliner, recipe: rep.recipe, stages: rep.stages.length }).toEqual({ passed: true, oneliner, recipe: "generic-tracepoint", stages: 4 });
    for (const st of rep.stages) {
      expect(st.gate.passed).toBe(true);
      for (const g of st.gate.hosts) {
        // Ground truth: the host's own audit log has this one-liner session, ended with exit 0, and
        // its events file has the per-comm counts (sys_enter fires constantly: never empty).
        const recs = audit(g.host).slice(before[g.host]!).filter((r) => r.session === g.record.session);
        const start = recs.find((r) => r.event === "session_start")!;
        expect({ recipe: start.recipe, argv: (start.argv as string[]).slice(1, 4) }).toEqual({ recipe: "oneliner", argv: ["trace", "-e", oneliner] });
        expect(recs.find((r) => r.event === "session_end")!.exit_code).toBe(0);
        const counts = readFileSync(join(hostDir(g.host), "var-log/ebpfctl/rollout-events.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.kind === "oneliner_map");
        expect(counts.length).toBeGreaterThan(0);
        expect(counts.every((c) => Array.isArray(c.key) && typeof c.key[0] === "string" && c.count > 0)).toBe(true);
      }
    }
    const md = readFileSync(join(reports, "rollout.md"), "utf8");
    expect(md).toContain(`# ebpfctl rollout: one-liner \`${oneliner}\``);
    expect(md).toContain("Result: **passed**");
    expect(run.out).toContain(`one-liner \`${oneliner}\` (generic-tracepoint): every gate passed`);
    console.log(`rollout of a one-liner (6 hosts, 2 s per stage): ${(run.wallMs / 1000).toFixed(1)} s total; ${rep.stages.map((s: any) => `${s.name} ${s.wall_s} s`).join(", ")}`);
  });

  labTest("fleet kill switch with one host down: five receipts, the sixth listed, non-zero; the recorded switch reaches it once back", async () => {
    await ensureInstalled();
    clearSwitches();
    const reports = reportDir();
    // A session an SRE left running on host1: the receipt must show it ended.
    const running = onHost(1, ["/usr/local/sbin/ebpfctl", "trace", "execsnoop", "-d", "120s", "-o", "json", "--output-file", "/var/log/ebpfctl/left-running.jsonl"]);
    const stderr = new Response(running.stderr).text();
    for (let i = 0; i < 200 && !audit("host1").some((r) => r.event === "attached" && r.pid === running.pid); i++) await Bun.sleep(100);
    expect(lab("stop-sshd", "6").code).toBe(0);
    let run;
    try {
      run = await playbook("kill_switch", { reports });
    } finally {
      expect(lab("start-sshd", "6").code).toBe(0);
    }
    expect(run.code).not.toBe(0);
    expect(await running.exited).toBe(8);
    expect(await stderr).toContain("kill-switch");
    const ks = readJson(join(reports, "kill_switch.json"));
    expect(ks.receipts.map((r: any) => r.host)).toEqual(["host1", "host2", "host3", "host4", "host5"]);
    expect(ks.missing.map((m: any) => m.host)).toEqual(["host6"]);
    expect(run.out).toContain("NO RECEIPT: host6");
    const host1 = ks.receipts[0];
    expect(host1.sessions_ended.length).toBe(1);
    // Ground truth: each receipt's audit head is the host's last audit record (host1: the ended
    // session's session_end), and its own record is a kill_switch_on.
    for (const r of ks.receipts) {
      const recs = audit(r.host);
      const last = recs.at(-1)!;
      expect({ h: r.host, event: last.event, seq: last.seq, hash: last.hash }).toEqual({ h: r.host, event: r.host === "host1" ? "session_end" : "kill_switch_on", seq: r.audit_seq, hash: r.audit_head });
      expect(recs.find((x) => x.seq === r.audit_record_seq)!.event).toBe("kill_switch_on");
      expect(switches(r.host)).toEqual(["persistent:kill-switch"]);
    }
    const lastReceiptMs = Math.max(...ks.receipts.map((r: any) => Date.parse(r.at)));
    console.log(`kill switch, 6 hosts (1 down): start → last receipt ${lastReceiptMs - run.startedMs} ms; playbook wall ${run.wallMs} ms; load ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}`);

    // The controller recorded the desired state: the host-wide persistent switch on all six,
    // host6 pending (no receipt).
    const recorded = readJson(KILL_STATE);
    expect(recorded.switches.map((e: any) => ({ key: e.key, persistent: e.persistent, hosts: e.hosts, pending: e.pending }))).toEqual([{ key: "", persistent: true, hosts: HOSTS, pending: ["host6"] }]);
    expect(Object.keys(recorded.switches[0].confirmed).sort()).toEqual(HOSTS.slice(0, 5));
    expect(switches("host6")).toEqual([]);

    // host6 comes back: the reconcile delivers the recorded switch to it, and only to it.
    const auditLen = Object.fromEntries(HOSTS.map((h) => [h, audit(h).length]));
    const rec = await playbook("reconcile", { reports });
    expect({ code: rec.code, out: rec.code ? rec.out.slice(-2000) : "" }).toEqual({ code: 0, out: "" });
    expect(rec.out).toContain("pending: host6");
    const recap6 = recap(rec.out);
    expect(Object.keys(recap6).sort()).toEqual(["host6", "localhost"]);
    // Ground truth on host6, through its own namespaces: the persistent switch, and a trace refused.
    const st6 = hostSwitchStatus(6);
    expect({ code: st6.code, on: st6.status.on, persistent: st6.status.persistent, recipe: st6.status.recipe, file: st6.status.file }).toEqual({ code: 8, on: true, persistent: true, recipe: null, file: "/etc/ebpfctl/kill-switch" });
    expect(switches("host6")).toEqual(["persistent:kill-switch"]);
    const refused6 = lab("exec", "6", "/usr/local/sbin/ebpfctl", "trace", "exitsnoop", "-d", "1s", "-o", "json");
    expect(refused6.code).toBe(8);
    expect(refused6.out).toContain("kill switch is on");
    // Its receipt: the host's own last audit record is that kill_switch_on; the other hosts got nothing new.
    const enforced = readJson(join(reports, "kill_switch_enforced.json"));
    expect(enforced.engaged.map((r: any) => r.host)).toEqual(["host6"]);
    expect(enforced.pending).toEqual([]);
    // (The refused trace above wrote its own records after it: the receipt's head is that kill_switch_on.)
    const own6 = audit("host6").filter((r) => r.seq === enforced.engaged[0].audit_record_seq);
    expect(own6.map((r) => [r.event, r.persistent, r.hash])).toEqual([["kill_switch_on", true, enforced.engaged[0].audit_head]]);
    expect(audit("host6")[auditLen.host6!]!.seq).toBe(own6[0]!.seq);
    for (const h of HOSTS.slice(0, 5)) expect({ h, n: audit(h).length }).toEqual({ h, n: auditLen[h]! });
    const after = readJson(KILL_STATE);
    expect(after.switches[0].pending).toEqual([]);
    expect(after.switches[0].confirmed.host6.audit_head).toBe(enforced.engaged[0].audit_head);
    // Nothing pending any more: a second reconcile touches no host.
    const again = await playbook("reconcile", { reports });
    expect(again.code).toBe(0);
    expect(Object.keys(recap(again.out))).toEqual(["localhost"]);

    // ...and a host that comes back (its /run emptied as after a reboot, sshd restarted) stays killed.
    lab("stop-sshd", "1");
    rmSync(join(hostDir("host1"), "run-ebpfctl"), { recursive: true, force: true });
    mkdirSync(join(hostDir("host1"), "run-ebpfctl"));
    expect(lab("start-sshd", "1").code).toBe(0);
    const refused = lab("exec", "1", "/usr/local/sbin/ebpfctl", "trace", "exitsnoop", "-d", "1s", "-o", "json");
    expect(refused.code).toBe(8);
    expect(refused.out).toContain("kill switch is on");

    // Any playbook enforces the record first: host3 lost its switch file while away (reimaged);
    // the blast-radius report, first contact, engages it again; hosts already killed get no new record.
    rmSync(join(hostDir("host3"), "etc-ebpfctl/kill-switch"));
    const auditLen2 = Object.fromEntries(HOSTS.map((h) => [h, audit(h).length]));
    const br = await playbook("report", { reports });
    expect({ code: br.code, out: br.code ? br.out.slice(-2000) : "" }).toEqual({ code: 0, out: "" });
    expect(hostSwitchStatus(3)).toMatchObject({ code: 8, status: { on: true, persistent: true } });
    const enforced2 = readJson(join(reports, "kill_switch_enforced.json"));
    expect(enforced2.engaged.map((r: any) => r.host)).toEqual(["host3"]);
    expect(enforced2.in_force.map((r: any) => r.host)).toEqual(["host1", "host2", "host4", "host5", "host6"]);
    expect(audit("host3").at(-1)!.event).toBe("kill_switch_on");
    for (const h of HOSTS.filter((x) => x !== "host3")) expect({ h, n: audit(h).length }).toEqual({ h, n: auditLen2[h]! });

    // Off clears the record (and every host's switch).
    const off = await playbook("kill_switch", { reports, extra: { ebpfctl_kill_state: "off" } });
    expect(off.code).toBe(0);
    expect(existsSync(KILL_STATE)).toBe(false);
    for (const h of HOSTS) expect(hostSwitchStatus(Number(h.slice(4)))).toMatchObject({ code: 0, status: { on: false } });
  }, 480_000);

  labTest("per-recipe kill switch on a fact-selected class: only that recipe stops and is refused", async () => {
    clearSwitches();
    const reports = reportDir();
    const exec4 = onHost(4, ["/usr/local/sbin/ebpfctl", "trace", "execsnoop", "-d", "60s", "-o", "json", "--output-file", "/var/log/ebpfctl/a.jsonl"]);
    const exit4 = onHost(4, ["/usr/local/sbin/ebpfctl", "trace", "exitsnoop", "-d", "60s", "-o", "json", "--output-file", "/var/log/ebpfctl/b.jsonl"]);
    for (let i = 0; i < 300 && audit("host4").filter((r) => r.event === "attached" && (r.pid === exec4.pid || r.pid === exit4.pid)).length < 2; i++) await Bun.sleep(100);
    const run = await playbook("kill_switch", {
      reports,
      extra: { ebpfctl_kill_recipe: "execsnoop", ebpfctl_kill_persistent: false, ebpfctl_kill_select_fact: "ansible_local.ebpfctl.host_class", ebpfctl_kill_select_value: "no_tp_btf" },
    });
    expect({ code: run.code, out: run.code ? run.out.slice(-2000) : "" }).toEqual({ code: 0, out: "" });
    const ks = readJson(join(reports, "kill_switch.json"));
    expect(ks.receipts.map((r: any) => [r.host, r.recipe])).toEqual([["host2", "execsnoop"], ["host4", "execsnoop"], ["host6", "execsnoop"]]);
    expect(ks.skipped).toEqual(["host1", "host3", "host5"]);
    for (const h of HOSTS) expect({ h, s: switches(h) }).toEqual({ h, s: ["host2", "host4", "host6"].includes(h) ? ["runtime:kill-switch@execsnoop"] : [] });
    expect(await exec4.exited).toBe(8); // execsnoop stopped...
    expect(exit4.exitCode).toBeNull(); // ...exitsnoop still running
    expect(lab("exec", "4", "/usr/local/sbin/ebpfctl", "trace", "execsnoop", "-d", "1s", "-o", "json").code).toBe(8);
    expect(lab("exec", "4", "/usr/local/sbin/ebpfctl", "trace", "exitsnoop", "-d", "1s", "-o", "json", "--output-file", "/var/log/ebpfctl/c.jsonl").code).toBe(0);
    expect(lab("exec", "1", "/usr/local/sbin/ebpfctl", "trace", "execsnoop", "-d", "1s", "-o", "json", "--output-file", "/var/log/ebpfctl/d.jsonl").code).toBe(0);
    exit4.kill("SIGTERM");
    expect(await exit4.exited).toBe(0);
    const off = await playbook("kill_switch", { reports, extra: { ebpfctl_kill_state: "off" } });
    expect(off.code).toBe(0);
    for (const h of HOSTS) expect(switches(h)).toEqual([]);
  });

  labTest("capture: JSON lines, end records and audit excerpts from a group, merged and labelled by host", async () => {
    clearSwitches();
    const reports = reportDir();
    const marker = `fleet-capture-${process.pid}-${Date.now()}`;
    const group = ["host4", "host5", "host6"];
    const attached = (h: string) => audit(h).filter((r) => r.event === "attached").length;
    const before = Object.fromEntries(group.map((h) => [h, attached(h)]));
    const cap = playbook("capture", { reports, extra: { ebpfctl_target: "cell_b", ebpfctl_capture_recipe: "execsnoop", ebpfctl_capture_seconds: 8, ebpfctl_capture_id: "t" } });
    // Ground truth the test makes: execs with a unique argument while every capture is attached
    // (one kernel serves every host, so every host's execsnoop sees them).
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !group.every((h) => attached(h) > before[h]!)) await Bun.sleep(100);
    for (let i = 0; i < 3; i++) Bun.spawnSync(["/bin/echo", marker], { stdout: "ignore" });
    const run = await cap;
    expect({ code: run.code, out: run.code ? run.out.slice(-2000) : "" }).toEqual({ code: 0, out: "" });
    const dir = join(reports, "capture-t");
    const events = readFileSync(join(dir, "events.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const withMarker = events.filter((e) => JSON.stringify(e.args ?? "").includes(marker));
    expect([...new Set(withMarker.map((e) => e.fleet_host))].sort()).toEqual(["host4", "host5", "host6"]);
    for (const h of ["host4", "host5", "host6"]) expect(withMarker.filter((e) => e.fleet_host === h).length).toBe(3);
    const summary = readJson<any[]>(join(dir, "summary.json"));
    expect(summary.map((s) => s.host)).toEqual(["host4", "host5", "host6"]);
    for (const s of summary) {
      expect(s.end.exit_code).toBe(0);
      expect(s.audit.map((r: any) => r.event)).toEqual(expect.arrayContaining(["session_start", "attached", "session_end"]));
      expect(s.audit.every((r: any) => r.session === s.end.session && r.host === s.host)).toBe(true);
    }
  });
});
