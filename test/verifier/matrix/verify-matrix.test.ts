// The standard matrix in each guest kernel under qemu TCG (scripts/kernel-matrix --kernel K):
// Debian 11's 5.10, Debian 12's 6.1 and bookworm-backports' 6.12 cloud kernels, booted one after
// the other (never two guests at once), ONE boot each: `ebpfctl doctor`, `ebpfctl verify` against
// that kernel's committed baseline compared exactly (--threshold 0), and every recipe tracing a
// real event the guest makes itself (scripts/kernel-matrix-lib/trace-recipe.sh says which): each
// stream recipe must report that event, each aggregation must be non-empty and well-formed.
// The host's own 6.18 is covered natively by test/verifier/verify.test.ts and the recipe tests.
// Locally a guest that cannot be prepared skips; under CI=true it fails, naming the kernel.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { KERNEL_MATRIX, ROOT, guestInfo, prepareGuest } from "./guest";
import type { VerifyReport } from "../../../src/verifier/verify";

const ci = process.env.CI === "true";
// The generic one-liner programs run only from a one-liner (trace -e), not by name: the host's
// test/oneliner covers them; scripts/kernel-matrix leaves them out of the guest batch too.
const RECIPES = readdirSync(join(ROOT, "recipes")).filter((f) => f.endsWith(".yaml") && !f.startsWith("generic-")).map((f) => f.slice(0, -5)).sort();
/** Per guest boot (prepare is done before, by prepareGuest): under ~4 min on the loaded 2-core CI host. */
const BOOT_TIMEOUT_SEC = 420;

interface Rec { kind: string; [k: string]: unknown }
interface Trace { exit: number; stdout: string; stderr: string }
interface Hist { kind: string; total: number; buckets: { low: number; high: number; count: number }[] }

function wellFormedHistogram(h: Hist): void {
  expect(h.kind).toBe("histogram");
  let sum = 0;
  h.buckets.forEach((b, i) => {
    expect(b.low).toBe(i === 0 ? 0 : 2 ** i);
    expect(b.high).toBe(2 ** (i + 1) - 1);
    sum += b.count;
  });
  expect(sum).toBe(h.total);
  expect(h.total).toBeGreaterThan(0);
}

/** What each recipe must have seen of the action trace-recipe.sh made. */
const EXPECT: Record<string, (events: Rec[], t: Trace) => void> = {
  execsnoop: (ev) => expect(ev.find((e) => e.filename === "/bin/true")).toMatchObject({ comm: "true", ret: 0, args: ["/bin/true"] }),
  opensnoop: (ev) => expect(ev.find((e) => e.path === "/etc/hostname" && e.comm === "cat")).toMatchObject({ flags_raw: 0, flags: ["O_RDONLY"] }),
  bindsnoop: (ev) => expect(ev.find((e) => e.port === 4242)).toMatchObject({ comm: "nc", ret: 0 }),
  tcpconnect: (ev) => {
    const e = ev.find((x) => x.dport === 9 && x.comm === "nc")!;
    expect(e).toMatchObject({ family: "inet", family_raw: 2, saddr: "127.0.0.1", daddr: "127.0.0.1" });
    expect(e.sport).toBeGreaterThan(0); // only the fentry/kprobe variants (chosen in every guest) see the source port
  },
  tcplife: (ev) => {
    // "matrix-hello\n" (13 bytes) from the client, received by the listener: both ends' lives.
    expect(ev.find((e) => e.dport === 4343 && e.comm === "nc")).toMatchObject({ tx_bytes: 13 });
    expect(ev.find((e) => e.sport === 4343 && e.comm === "nc")).toMatchObject({ rx_bytes: 13 });
  },
  sigsnoop: (ev, t) => {
    const child = Number(/sigsnoop-child=(\d+)/.exec(t.stderr)?.[1]);
    expect(child).toBeGreaterThan(0);
    expect(ev.find((e) => e.sig === 10 && e.tpid === child)).toMatchObject({ sig_name: "SIGUSR1", tcomm: "sleep", result: 0 });
  },
  exitsnoop: (ev) => expect(ev.find((e) => e.comm === "sh" && e.exit_code === 7)).toMatchObject({ sig: 0 }),
  oomkill: (ev) => expect(ev.find((e) => e.tcomm === "dd")).toMatchObject({ fcomm: "dd" }),
  biolatency: (ev) => wellFormedHistogram(ev.find((e) => e.kind === "histogram") as unknown as Hist),
  runqlat: (ev) => wellFormedHistogram(ev.find((e) => e.kind === "histogram") as unknown as Hist),
  funclatency: (ev) => {
    // sleepy_function 20 5: five calls of a 20 ms function, none shorter than 2^24 ns
    const h = ev.find((e) => e.kind === "histogram") as unknown as Hist;
    wellFormedHistogram(h);
    expect(h.total).toBe(5);
    expect(h.buckets.filter((b) => b.count > 0 && b.high < 2 ** 24)).toEqual([]);
  },
  profile: (ev) => {
    const stacks = ev.filter((e) => e.kind === "stack") as unknown as { count: number; comm: string; kernel_stack?: string[]; user_stack?: string[] }[];
    expect(stacks.length).toBeGreaterThan(0);
    for (const s of stacks) expect(s.count).toBeGreaterThan(0);
  },
  syscount: (ev) => {
    const t = ev.find((e) => e.kind === "table") as unknown as { rows: { syscall: string; count: number }[] };
    expect(t.rows.length).toBeGreaterThan(0);
    expect(t.rows.filter((r) => typeof r.syscall === "string" && r.syscall.length > 0).length).toBe(t.rows.length);
    for (const r of t.rows) expect(r.count).toBeGreaterThan(0);
  },
};

/**
 * What each guest kernel cannot run (docs/kernel-matrix.md, "What each kernel lacks"), pinned so
 * that a fix or a new breakage both show up here. Every recipe traces on every guest now; 5.10
 * runs on its fallbacks: no fetching atomics (libbpf/fetch-atomics.ts), perf events attached by
 * ioctl (no BPF perf links before 5.15), CAP_BPF kept for bpf() on its own fds (5.10 checks the sysctl for the whole syscall).
 */
const REFUSED: Record<string, Record<string, 5 | 9>> = {
  // No attach cookie before 5.15: libbpf attaches USDT probes of a position-independent file for
  // every process only with it (refused before load). Two tracepoints told apart get a load each.
  "5.10": { "oneliner-usdt": 9 },
  "6.1": {},
  "6.12": {},
};

/**
 * The one-liners every guest runs (scripts/kernel-matrix ONE_LINERS, trace-recipe.sh oneliner-NAME)
 * and what their map must hold after the action trace-recipe.sh made: the generic programs with
 * a real table, on each kernel. Keys and counts as oneliner_map records give them.
 */
const ONE_LINERS: Record<string, { recipe: string; expect: (rows: { key: unknown[]; value: number }[]) => void; refusal?: RegExp }> = {
  tracepoint: { recipe: "generic-tracepoint", expect: (rows) => expect(rows.find((r) => r.key[0] === "cat")?.value).toBeGreaterThanOrEqual(1) },
  "two-tracepoints": {
    recipe: "generic-tracepoint",
    // /bin/true: one exec, one exit
    // one load with the cookie naming the probe; on 5.10 (no cookie) one load per tracepoint
    expect: (rows) => expect(Object.fromEntries(rows.map((r) => [r.key[0], r.value]))).toEqual({ "tracepoint:sched:sched_process_exec": 1, "tracepoint:sched:sched_process_exit": 1 }),
  },
  // the same tracepoints, keyed by comm: one table entry serves both, with no cookie (5.10 too)
  // (/tmp/same_entry, a link to true: one exec, one exit)
  "same-entry": { recipe: "generic-tracepoint", expect: (rows) => expect(rows.map((r) => [r.key, r.value])).toEqual([[["same_entry"], 2]]) },
  profile: { recipe: "generic-profile", expect: (rows) => expect(rows.reduce((n, r) => n + r.value, 0)).toBeGreaterThan(0) },
  // sleepy_function 20 5: five calls
  uprobe: { recipe: "generic-uprobe", expect: (rows) => expect(rows.map((r) => [r.key, r.value])).toEqual([[[], 5]]) },
  // uprobe_target 7:2 8:1: the probe fires with "v7" twice and "v8" once
  usdt: {
    recipe: "generic-usdt",
    expect: (rows) => expect(Object.fromEntries(rows.map((r) => [String(r.key[0]), r.value]))).toEqual({ v7: 2, v8: 1 }),
    refusal: /is position-independent, and libbpf attaches USDT probes .* only with the attach cookie/,
  },
};

/** The variants each guest's verifier rejects, with the line that says why (verify, in the guest). */
const REJECTED: Record<string, Record<string, RegExp>> = {
  "5.10": {
    // bpf_task_pt_regs is 5.15+, bpf_get_current_task_btf 5.11+: opensnoop takes its tp_btf sys_exit programs
    tp_openat_exit: /invalid func unknown#158/,
    tp_open_exit: /invalid func unknown#158/,
    tp_process_exit: /invalid func unknown#158/,
    // the tracepoint's record struct has another name before 5.11; the tp_btf variant is chosen
    tp_block_rq_complete: /failed to resolve CO-RE relocation .*block_rq_completion/,
  },
  "6.1": {},
  "6.12": {},
};

for (const kernel of ["5.10", "6.1", "6.12"]) {
  const skipReason = prepareGuest({ kernel });
  const release = skipReason ? "" : guestInfo({ kernel }).release!;
  const out = (f: string) => join(ROOT, "build/matrix", release, f);
  const guestTest = (name: string, fn: () => void | Promise<void>): void => {
    if (!skipReason) test(name, fn);
    else if (ci) test(name, () => { throw new Error(`kernel-matrix guest ${kernel} unavailable under CI: ${skipReason}`); });
    else test.skip(`${name} (skipped: ${skipReason})`, fn);
  };

  describe(`kernel matrix ${kernel} (${release || "not prepared"}): doctor + verify + every recipe in one TCG boot`, () => {
    let exit = -1;
    let log = "";
    let wallSeconds = Infinity;

    beforeAll(async () => {
      if (skipReason) return;
      // --no-doc: the test must not rewrite the committed docs/kernel-matrix.md
      const boot = async (lanes: 1 | 2) => {
        const t0 = performance.now();
        const p = Bun.spawn(["bash", KERNEL_MATRIX, "--kernel", kernel, "--no-doc", "--timeout", String(BOOT_TIMEOUT_SEC)], { cwd: ROOT, env: { ...process.env, KERNEL_MATRIX_LANES: String(lanes) }, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
        const [, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
        wallSeconds = (performance.now() - t0) / 1000;
        exit = code;
        log = err;
      };
      await boot(2);
      // A TCG guest on a loaded host can livelock (soft lockups on both vCPUs, see
      // docs/kernel-matrix.md): boot once more, one command at a time, and say so. Only a timeout
      // is retried; any other failure stands.
      if (exit === 124) {
        console.error(`kernel-matrix ${kernel}: guest timed out (${(existsSync(join(ROOT, "build/matrix/last-console.log")) && /soft lockup[^\n]*/.exec(readFileSync(join(ROOT, "build/matrix/last-console.log"), "utf8"))?.[0]) || "no lockup on the console"}); booting once more, one command at a time`);
        await boot(1);
      }
      console.error(`kernel-matrix ${kernel}: guest ${release}: ${/boot \+ \d+ command\(s\) took [^\n]*/.exec(log)?.[0] ?? "(no boot summary)"}; whole run ${wallSeconds.toFixed(1)} s wall`);
      if (exit !== 0) console.error(log);
    }, (2 * BOOT_TIMEOUT_SEC + 120) * 1000);

    const refused = REFUSED[kernel]!;
    guestTest(`the ${kernel} matrix run completes within the boot timeout; only the known refusals fail`, () => {
      const failed = [...log.matchAll(/\[exit (\d+), [^\]]*\] sh \S+trace-recipe\.sh (\S+)/g)].filter((m) => m[1] !== "0").map((m) => m[2]).sort();
      expect(failed).toEqual(Object.keys(refused).sort());
      expect(exit).toBe(failed.length ? 1 : 0); // 1: a command failed; 124/125 would be a timeout or a boot failure
      expect(log).toMatch(/\[exit 0, [^\]]*\] ebpfctl verify /);
      expect(wallSeconds).toBeLessThan(BOOT_TIMEOUT_SEC);
      expect(release.startsWith(`${kernel}.`)).toBe(true);
    });

    guestTest("doctor in the guest: ring buffers, tp_btf and fentry work there, and kprobes (except as REFUSED says for 5.10)", () => {
      const d = JSON.parse(readFileSync(out("doctor.json"), "utf8"));
      expect(d.facts.release).toBe(release);
      for (const f of ["ringbuf", "fentry", "tp_btf", "raw_tp", "kprobe", "tracepoint", "uprobe", "perf_event"]) {
        expect({ f, s: d.features.features[f]?.status }).toEqual({ f, s: "yes" });
      }
      // Fetching atomics (BPF_ATOMIC | BPF_FETCH, cmpxchg) are 5.12+.
      expect(d.features.features.atomic_fetch?.status).toBe(kernel === "5.10" ? "no" : "yes");
    });

    guestTest("verify in the guest matches its committed baseline exactly; the preferred kprobe/fentry variants are chosen", () => {
      const v = JSON.parse(readFileSync(out("verify.json"), "utf8")) as VerifyReport & { baseline: { ok: boolean; file: string; mode: string; changes: unknown[]; baselineKernel: string } };
      expect(v.kernel).toBe(release);
      expect(v.baseline).toMatchObject({ file: `bpf/verifier-baseline/${release}.json`, baselineKernel: release, mode: "exact", changes: [], ok: true });
      expect(existsSync(join(ROOT, v.baseline.file))).toBe(true);
      expect(v.recipes.map((r) => r.recipe).filter((r) => !r.startsWith("generic-")).sort()).toEqual(RECIPES); // verify also loads the generic one-liner programs
      // The guests have kprobes and fentry: the preferred kprobe/fentry variants load and are chosen.
      const probe = (r: string, p: string) => v.recipes.find((x) => x.recipe === r)!.probes.find((x) => x.name === p)!;
      const rejected = v.recipes.flatMap((r) => r.probes.flatMap((p) => p.alternatives.filter((a) => a.status === "rejected").map((a) => ({ program: a.program, reason: (a.reason ?? []).join(" | ") }))));
      expect([...new Set(rejected.map((a) => a.program))].sort()).toEqual(Object.keys(REJECTED[kernel]!).sort());
      for (const a of rejected) expect(a.reason).toMatch(REJECTED[kernel]![a.program]!);
      for (const [r, p, program] of [["tcpconnect", "connect", "fentry_tcp_connect"], ["oomkill", "oom_kill", "kprobe_oom_kill_process"]] as const) {
        expect(probe(r, p)).toMatchObject({ chosen: program, variant: 0 });
        // prog_info.verified_insns is 5.16+: 5.10 reports 0
        if (kernel !== "5.10") expect(probe(r, p).alternatives.find((a) => a.program === program)!.verified_insns).toBeGreaterThan(0);
      }
      expect(v.totals.unsupported).toBe(0);
    });

    for (const recipe of RECIPES) {
      const code = refused[recipe];
      if (code) {
        guestTest(`trace ${recipe} is refused honestly (exit ${code}, one error line saying why)`, () => {
          const t = JSON.parse(readFileSync(out(`trace-${recipe}.json`), "utf8")) as Trace;
          expect(t.exit).toBe(code);
          const v = JSON.parse(readFileSync(out("verify.json"), "utf8")) as VerifyReport;
          const planned = v.recipes.find((r) => r.recipe === recipe)!;
          // -o json: the error is one record on stderr (the JSON contract), followed by an end record
          const records = t.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Rec);
          const errors = records.filter((r) => r.kind === "error").map((r) => String(r.message));
          expect(errors.length).toBe(1);
          expect(records.at(-1)).toMatchObject({ kind: "end" });
          expect(planned.profile).toBe("disabled");
          expect(errors[0]).toContain(`${recipe} cannot run on this kernel`);
          // a variant the verifier rejects here (verify recorded it) is named as such, with its line
          const rejected = planned.probes.flatMap((p) => p.alternatives.filter((a) => a.status === "rejected"));
          if (rejected.length) expect(errors[0]).toMatch(/rejected by the verifier on this kernel image/);
          expect(t.stdout).toBe("");
        });
        continue;
      }
      guestTest(`trace ${recipe} attaches the variant verify chose and sees its event`, () => {
        const t = JSON.parse(readFileSync(out(`trace-${recipe}.json`), "utf8")) as Trace;
        expect({ exit: t.exit, stderr: t.exit === 0 ? "" : t.stderr }).toEqual({ exit: 0, stderr: "" });
        const records = t.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Rec);
        const compat = records.find((r) => r.kind === "compat")!;
        expect((compat.kernel as { release: string }).release).toBe(release);
        const v = JSON.parse(readFileSync(out("verify.json"), "utf8")) as VerifyReport;
        const planned = v.recipes.find((r) => r.recipe === recipe)!;
        // trace runs the profile and variants the verifier gate recorded (sigsnoop: full everywhere)
        expect(compat.profile).toBe(planned.profile);
        if (recipe === "sigsnoop") expect(compat.profile).toBe("full");
        expect((compat.probes as { name: string; chosen: { program: string } | null }[]).map((p) => `${p.name}=${p.chosen?.program ?? "none"}`)).toEqual(planned.probes.map((p) => `${p.name}=${p.chosen ?? "none"}`));
        const attached = records.find((r) => r.kind === "attached") as { links: { link_id: number | null; attached_by?: string; program: string }[]; capabilities: { kept: string[]; kept_because?: string } } | undefined;
        expect(attached).toBeDefined();
        if (kernel === "5.10") {
          // No BPF perf links before 5.15: tracepoint, kprobe, uprobe and perf_event programs are
          // attached by ioctl and have no link id; raw_tp, tp_btf and fentry have real links.
          for (const l of attached!.links) {
            const byIoctl = /^(tp_|kprobe_|funclat_|do_perf_event)/.test(l.program);
            expect({ program: l.program, by: l.attached_by ?? "bpf_link", id: l.link_id === null }).toEqual({ program: l.program, by: byIoctl ? "perf_event_ioctl" : "bpf_link", id: byIoctl });
          }
          // Before 6.5 every bpf() command needs CAP_BPF while unprivileged_bpf_disabled is set.
          expect(attached!.capabilities.kept).toContain("CAP_BPF");
          expect(attached!.capabilities.kept_because).toMatch(/unprivileged_bpf_disabled=[12]/);
        }
        if (kernel === "6.12") expect(attached!.capabilities.kept).not.toContain("CAP_BPF");
        expect(records.find((r) => r.kind === "end")).toMatchObject({ reason: "completed" });
        const events = t.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Rec);
        EXPECT[recipe]!(events, t);
      });
    }

    for (const [name, o] of Object.entries(ONE_LINERS)) {
      const code = refused[`oneliner-${name}`];
      guestTest(code ? `one-liner ${name} is refused before load (exit ${code}, one error line saying why)` : `one-liner ${name} runs ${o.recipe} with its table and counts what was done`, () => {
        const t = JSON.parse(readFileSync(out(`trace-oneliner-${name}.json`), "utf8")) as Trace;
        const records = t.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Rec);
        if (code) {
          expect(t.exit).toBe(code);
          const errors = records.filter((r) => r.kind === "error").map((r) => String(r.message));
          expect(errors.length).toBe(1);
          expect(errors[0]).toMatch(o.refusal!);
          expect(records.some((r) => r.kind === "loaded")).toBe(false);
          return;
        }
        expect({ exit: t.exit, stderr: t.exit === 0 ? "" : t.stderr }).toEqual({ exit: 0, stderr: "" });
        expect(records.find((r) => r.kind === "end")).toMatchObject({ reason: "completed", recipe: o.recipe });
        const rows = t.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Rec).filter((r) => r.kind === "oneliner_map") as unknown as { key: unknown[]; value: number }[];
        o.expect(rows);
      });
    }

    guestTest("every recipe has an expected event (a new recipe needs one in trace-recipe.sh and here)", () => {
      expect(RECIPES.filter((r) => !EXPECT[r])).toEqual([]);
      // ... and every one-liner the guest runs is checked above
      const ran = /^ONE_LINERS="([^"]*)"/m.exec(readFileSync(KERNEL_MATRIX, "utf8"))![1]!.split(" ");
      expect(ran.sort()).toEqual(Object.keys(ONE_LINERS).sort());
    });
  });
}
