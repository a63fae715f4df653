// Generates docs/kernel-matrix.md from the recipe manifests (recipes/*.yaml) and the committed
// verifier baselines (bpf/verifier-baseline/<kernel release>.json, written by
// `ebpfctl verify --write-baseline`: each holds the kernel's probed features, every alternative's
// verdict and verified instructions, and the alternative the profile selection chooses there).
// Deterministic: the same inputs give the same bytes (no dates), so CI can diff it.
//
//   bun scripts/gen-kernel-matrix-doc.ts            write docs/kernel-matrix.md
//   bun scripts/gen-kernel-matrix-doc.ts --check    exit 1 if docs/kernel-matrix.md is out of date
//   bun scripts/gen-kernel-matrix-doc.ts --stdout   print it
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseManifest, type Manifest } from "../src/recipe/manifest";
import { ATTACH_FEATURE } from "../src/kernel/profile";
import type { AltResult, VerifyReport } from "../src/verifier/verify";

const ROOT = join(import.meta.dir, "..");
const OUT = join(ROOT, "docs/kernel-matrix.md");

const manifests: Manifest[] = readdirSync(join(ROOT, "recipes"))
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((f) => parseManifest(readFileSync(join(ROOT, "recipes", f), "utf8"), `recipes/${f}`));

const dir = join(ROOT, "bpf/verifier-baseline");
const numeric = (r: string) => r.split(/[.-]/).map((x) => (/^\d+$/.test(x) ? Number(x) : 0));
const newestFirst = (a: VerifyReport, b: VerifyReport) => {
  const x = numeric(a.kernel), y = numeric(b.kernel);
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (y[i] ?? 0) - (x[i] ?? 0);
  return 0;
};
const kernels: VerifyReport[] = (existsSync(dir) ? readdirSync(dir) : [])
  .filter((f) => f.endsWith(".json"))
  .map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as VerifyReport)
  .sort(newestFirst);

const PROGRAM_FEATURES = ["tracepoint", "raw_tp", "tp_btf", "kprobe", "kretprobe", "fentry", "fexit", "perf_event", "uprobe", "lsm"];
const esc = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const short = (s: string, n = 140) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
const mark = (status: string | undefined) => (status === "yes" ? "yes" : status === "no" ? "**no**" : (status ?? "?"));

function altOn(k: VerifyReport, recipe: string, probe: string, program: string): { alt?: AltResult; chosen: boolean } {
  const p = k.recipes.find((r) => r.recipe === recipe)?.probes.find((x) => x.name === probe);
  return { alt: p?.alternatives.find((a) => a.program === program), chosen: p?.chosen === program };
}

function cell(a: AltResult | undefined, chosen: boolean): string {
  if (!a) return "—";
  const s = a.status === "accepted" ? `accepted, ${a.verified_insns} insns` : a.status;
  return chosen ? `**▶ ${s}**` : a.status === "rejected" ? `**${s}**` : s;
}

function where(k: VerifyReport): string {
  if (/^5\.10\..*cloud-amd64$/.test(k.kernel)) return "Debian 11 cloud kernel, qemu TCG guest (`scripts/kernel-matrix --kernel 5.10`)";
  if (/^6\.1\.0-.*cloud-amd64$/.test(k.kernel)) return "Debian 12 cloud kernel, qemu TCG guest (`--kernel 6.1`)";
  if (/^6\.12\..*cloud-amd64$/.test(k.kernel)) return "bookworm-backports cloud kernel, qemu TCG guest (`--kernel 6.12`)";
  return "the CI host itself, natively (no guest)";
}

/** What each kernel lacks, beyond the table: written by hand from the matrix runs (scripts/kernel-matrix). */
const LACKS: [RegExp, string[]][] = [
  [/^6\.18\./, [
    "Lockdown `integrity`, no kprobes (kprobe/kretprobe attach refused), fentry/fexit/lsm refused (EPERM): tcpconnect runs",
    "`reduced` on its tracepoint (no source port), oomkill `reduced` on tp_btf mark_victim.",
  ]],
  [/^6\.12\./, [
    "Nothing ebpfctl uses: every variant of every recipe loads and is chosen as preferred; every recipe traced its event.",
    "Under TCG only: QEMU 7.2 mis-emulates the gs-prefixed cmpxchg16b of 6.12's SLUB fast path (double fault at boot), so",
    "every guest's CPU is `max,la57=off,cx16=off`. Separately, 5.10 and 6.1 guests sometimes livelock on a loaded host",
    "once tracing runs there (soft lockups on both vCPUs, RCU stalls; 3 of 4 CI boots, 1 of 7 idle local boots, with or",
    "without cx16; cause not found). The CI test boots a guest that timed out once more, one command at a time.",
  ]],
  [/^6\.1\.0-/, ["Nothing ebpfctl uses: every variant of every recipe loads and is chosen as preferred; every recipe traced its event."]],
  [/^5\.10\./, [
    "Has BTF (CONFIG_DEBUG_INFO_BTF=y), ring buffers (5.8+), tp_btf, raw_tp, fentry/fexit, kprobes. Every recipe traces its",
    "event there, on these fallbacks (each decided at run time, none keyed on the version):",
    "- **no fetching atomics** (BPF_ATOMIC | BPF_FETCH and cmpxchg are 5.12+; the verifier refuses the encoding anywhere:",
    "  `BPF_STX uses reserved fields`): the `atomic_fetch` feature probe says no, so `fetch_atomics` in .rodata is false and",
    "  the rate cap and sampling take their plain-add path; the unreachable fetching instructions are poisoned as libbpf",
    "  poisons a failed CO-RE relocation (src/libbpf/fetch-atomics.ts). Under contention a rate window may admit one",
    "  extra event per CPU.",
    "- **no BPF perf links** (< 5.15): libbpf attaches tracepoint, kprobe, uprobe and perf_event programs with",
    "  PERF_EVENT_IOC_SET_BPF; the `attached` record says `attached_by: perf_event_ioctl`, with no link id.",
    "- **every bpf() command needs CAP_BPF** (kernel.unprivileged_bpf_disabled is checked for the whole syscall; not on",
    "  Debian's 6.1, 6.12 or the host): after attach the main",
    "  thread keeps CAP_BPF (the `attached` record says why in `kept_because`); the seccomp filter still denies loading,",
    "  creating and attaching, and the runtime's other threads keep nothing.",
    "- **no bpf_task_pt_regs / bpf_get_current_task_btf** (5.15+ / 5.11+): opensnoop runs `reduced` on its tp_btf",
    "  `sys_exit` programs; exitsnoop on tp_btf. No `bpf_get_attach_cookie` (5.15+): one-liners (`trace -e`) cannot run.",
  ]],
];

/** CI cost of the matrix, measured (2-core VM shared with other jobs; see the load average). */
const TIMING = [
  "Measured on the 2-core CI VM with `scripts/kernel-matrix --kernel K` (2026-12-02, load average 2-3: the lead's runs",
  "only). Guests boot one after the other, never two at once, each `-smp 2 -m 1024`; inside, two commands at a time (one",
  "per vCPU); every trace lasts 1.8 s after attach. Per-command figures are guest seconds (they overlap in the two",
  "lanes); \"whole run\" is the wall time of `scripts/kernel-matrix --kernel K` (prepare from cache + one boot + doctor +",
  "verify + 13 traces):",
  "",
  "| guest | reaches /init | doctor | verify | traces (each, 2 lanes) | whole run |",
  "|---|---|---|---|---|---|",
  "| 5.10.0-43-cloud-amd64 | 13.1 s | 20.2 s | 12.9 s | 5.7-17.7 s (all 13 trace) | 109.0 s |",
  "| 6.1.0-56-cloud-amd64 | 10.8 s | 22.2 s | 21.3 s | 5.7-15.8 s | 104.7 s |",
  "| 6.12.95+deb12-cloud-amd64 | 8.4 s | 25.1 s | 22.9 s | 4.9-19.0 s | 102.3 s |",
  "| 6.18 host (natively, no guest) | — | — | ~1 s (test/verifier/verify.test.ts: 9 s for the file) | in the recipe tests | — |",
  "",
  "The three guests add ~320 s (5.3 min) of wall time on an idle machine; in CI (load average 7-20 from the suite's own",
  "jobs) the file took 500 s before. The first run also downloads the two packages the machine's apt does not have",
  "(~55 MB, seconds) and builds the shared initramfs (~60 MB, 10-20 s). test/verifier/matrix/kernel-matrix.test.ts adds",
  "two more 6.1 boots (~1-2 min).",
];

const lines: string[] = [];
const push = (...l: string[]) => lines.push(...l);
push(
  "# Kernel matrix",
  "",
  "<!-- Generated by scripts/gen-kernel-matrix-doc.ts from recipes/*.yaml and bpf/verifier-baseline/*.json. Do not edit. -->",
  "",
  "Which variant of each recipe ebpfctl runs on each kernel it is tested on, and what the kernel's verifier says about",
  "every variant. For every probe a recipe lists alternatives in order of preference; on a given kernel `ebpfctl trace`",
  "attaches the first one whose attach kind works there (`ebpfctl doctor` shows the evidence). `ebpfctl verify` loads every",
  "alternative the kernel supports, alone and without attaching, and records the verifier's verdict and the",
  "instructions it processed (`verified_insns`).",
  "",
  "Four kernels: the CI host's own 6.18 (natively: it is the machine the suite runs on, locked down, no kprobes or",
  "fentry) and three Debian cloud kernels booted under qemu TCG by `scripts/kernel-matrix --kernel 5.10|6.1|6.12`",
  "(Debian 11, Debian 12, bookworm-backports; kprobes, fentry, BTF, no lockdown). Each guest boots once: `ebpfctl",
  "doctor`, `ebpfctl verify` against that kernel's baseline, and every recipe tracing a real event the guest makes",
  "(scripts/kernel-matrix-lib/trace-recipe.sh; checked by test/verifier/matrix/verify-matrix.test.ts).",
  "",
  "Regenerate: `scripts/kernel-matrix --kernel K` (then this file is rewritten), or `bun scripts/gen-kernel-matrix-doc.ts`.",
  "After a change to a BPF program, refresh the baselines first: `scripts/kernel-matrix --kernel K write-baseline` for",
  "each guest (it also writes the host's `bpf/verifier-baseline/$(uname -r).json`), and commit them.",
  "",
  "## The verifier gate",
  "",
  "- **Pinned guest kernels are compared exactly**: the guest runs `ebpfctl verify --baseline",
  "  bpf/verifier-baseline/<release>.json --threshold 0`; any change in acceptance (accepted / rejected / unsupported),",
  "  in a probe's chosen variant, an alternative appearing or disappearing, or any growth of `verified_insns` fails",
  "  (exit 11). The same package and the same objects give the same verifier run, so there is no noise to allow for.",
  "- **The host is compared with its own baseline, or the nearest of its major.minor**: CI runs `ebpfctl verify",
  "  --baseline bpf/verifier-baseline` (a directory). A host build with a baseline of its own is compared exactly",
  "  (`verified_insns` growth past `--threshold`, default 10 %, fails). A new build with none of its own (say",
  "  6.18.44-fc-v1045 after 6.18.44-fc-v669) is compared with the nearest committed baseline of the same major.minor",
  "  (the newest older build, else the oldest newer one): any change in acceptance or chosen variant still fails,",
  "  `verified_insns` drift is listed as a note and does not fail (a rebuilt kernel prunes differently; a variant that",
  "  stops loading is what the gate exists to catch). The run writes a candidate baseline for the new build to",
  "  `build/verifier-baseline/<release>.json` and names it on stderr and in the JSON (`baseline.candidate`): review it",
  "  and commit it as `bpf/verifier-baseline/<release>.json`. No baseline of that major.minor at all fails (exit 11),",
  "  after writing the candidate. A `--baseline` path that does not exist is a usage error (exit 2).",
  "",
  "Legend: **▶** = the variant chosen on that kernel; *unsupported* = the kernel lacks the attach kind (not loaded);",
  "**rejected** = the verifier refused it (reasons below).",
  "",
  "## Kernels",
  "",
  `| | ${kernels.map((k) => `\`${k.kernel}\``).join(" | ")} |`,
  `|---|${kernels.map(() => "---").join("|")}|`,
  `| where | ${kernels.map(where).join(" | ")} |`,
  `| lockdown | ${kernels.map((k) => k.lockdown).join(" | ")} |`,
  `| ebpfctl | ${kernels.map((k) => k.ebpfctl).join(" | ")} |`,
  `| verdicts | ${kernels.map((k) => `${k.totals.accepted} accepted, ${k.totals.rejected} rejected, ${k.totals.unsupported} unsupported`).join(" | ")} |`,
);
for (const f of PROGRAM_FEATURES) push(`| ${f} | ${kernels.map((k) => mark(k.features?.[f])).join(" | ")} |`);
push("");

push("## Profiles", "", `| recipe | ${kernels.map((k) => `\`${k.kernel}\``).join(" | ")} |`, `|---|${kernels.map(() => "---").join("|")}|`);
for (const m of manifests) {
  const cells = kernels.map((k) => {
    const r = k.recipes.find((x) => x.recipe === m.name);
    if (!r) return "—";
    const variants = r.probes.map((p) => `${p.name}=${p.chosen_type ?? "none"}`).join(", ");
    const broken = r.probes.filter((p) => p.chosen && p.alternatives.find((a) => a.program === p.chosen)?.status === "rejected").map((p) => p.name);
    return `${r.profile} (${variants})${broken.length ? ` — **chosen variant rejected by the verifier: ${broken.join(", ")}; trace fails here**` : ""}`;
  });
  push(`| ${m.name} | ${cells.join(" | ")} |`);
}
push("");

push("## Recipes", "");
for (const m of manifests) {
  push(`### ${m.name}`, "", esc(m.summary), "");
  push(`| probe | alternative | type / target | needs | loses | ${kernels.map((k) => `\`${k.kernel}\``).join(" | ")} |`, `|---|---|---|---|---|${kernels.map(() => "---").join("|")}|`);
  for (const p of m.probes) {
    for (const [i, a] of p.alternatives.entries()) {
      const probeCell = i === 0 ? `${p.name}${p.essential ? "" : " (optional)"}` : "";
      const per = kernels.map((k) => {
        const { alt, chosen } = altOn(k, m.name, p.name, a.program);
        return cell(alt, chosen);
      });
      push(`| ${probeCell} | \`${a.program}\` | ${a.type}${a.target ? ` \`${a.target}\`` : ""} | ${ATTACH_FEATURE[a.type]} | ${i === 0 ? "(preferred)" : esc(a.loses?.trim() || "—")} | ${per.join(" | ")} |`);
    }
  }
  push("");
}

push("## What each kernel lacks", "");
for (const k of kernels) {
  const notes = LACKS.find(([re]) => re.test(k.kernel))?.[1] ?? ["Not described yet: run the matrix there and add it to LACKS in scripts/gen-kernel-matrix-doc.ts."];
  push(`### \`${k.kernel}\``, "", ...notes, "");
}

push("## CI time", "", ...TIMING, "");

push("## Rejections and unsupported variants", "");
for (const k of kernels) {
  push(`### \`${k.kernel}\``, "");
  const rows: string[] = [];
  for (const r of k.recipes) {
    for (const p of r.probes) {
      for (const a of p.alternatives) {
        if (a.status === "rejected") rows.push(`- \`${r.recipe}/${a.program}\` rejected (errno ${a.errno}): ${esc(short((a.reason ?? []).at(-1) ?? "no verifier log"))}`);
        if (a.status === "unsupported") rows.push(`- \`${r.recipe}/${a.program}\` unsupported: ${esc(short(a.evidence ?? ""))}`);
      }
    }
  }
  push(...(rows.length ? rows : ["None."]), "");
}

const text = lines.join("\n");
const arg = process.argv[2];
if (arg === "--stdout") process.stdout.write(text);
else if (arg === "--check") {
  const cur = existsSync(OUT) ? readFileSync(OUT, "utf8") : "";
  if (cur !== text) {
    console.error("docs/kernel-matrix.md is out of date: run bun scripts/gen-kernel-matrix-doc.ts");
    process.exit(1);
  }
} else {
  writeFileSync(OUT, text);
  console.error(`gen-kernel-matrix-doc: wrote docs/kernel-matrix.md (${manifests.length} recipes, kernels: ${kernels.map((k) => k.kernel).join(", ")})`);
}
