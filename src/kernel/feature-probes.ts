// The feature probes: what this kernel lets ebpfctl do, tried for real (features.ts caches the answers).
// Every feature answers one of three things, as cilium/ebpf's features package does:
//   yes      – shown to work here (a program loaded and attached, a map was created, …)
//   no       – shown not to work, with the specific refusal as evidence
//   unknown  – the probe itself could not decide (no privilege, out of memory…), and why
// "unknown, because …" is always preferred over a wrong "no".
//
// libbpf's probes only ask whether the kernel *knows* a program type; that is not enough: with
// CONFIG_KPROBES=n the kprobe type still loads but nothing can attach, and libbpf reports
// BPF_PROG_TYPE_TRACING as supported without trying a real fentry load (libbpf 1.1
// libbpf_probe.c: it only checks for "attach_btf_id 1 is not a function"). So every program type
// is also tried for real with bpf/feature-probes.bpf.c: load one program, attach it, detach at once.
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BpfLink, BpfObject, BpfStatsHandle, LibbpfError, LoadError, captureLibbpfLog, drainLibbpfLog } from "../libbpf";
import { BpfMapType, BpfProgType, closeFd, openQuietPerfEvent, probeHelper, probeMapType, probeProgType } from "../libbpf/probe";
import { strerror } from "../libbpf/ffi";
import { mayLoadTracing, readKernelFacts, type KernelFacts } from "./facts";
import { probeObjectMissing } from "../errors";

export type FeatureStatus = "yes" | "no" | "unknown";
export type FeatureKind = "program" | "map" | "helper" | "instruction" | "stats";

export interface Feature {
  name: string;
  kind: FeatureKind;
  status: FeatureStatus;
  /** Which check decided, and what the kernel said (errno text, verifier line). */
  evidence: string;
}

export interface FeatureReport {
  kernel: string;
  bootId: string | null;
  /** Milliseconds the probes took when they ran (0 when read from the cache). */
  probeMs: number;
  source: "probed" | "cache";
  /** Features forced to "no" by EBPFCTL_MASK_FEATURES. */
  masked: string[];
  features: Record<string, Feature>;
}

export const PROGRAM_FEATURES = ["kprobe", "kretprobe", "tracepoint", "raw_tp", "tp_btf", "fentry", "fexit", "perf_event", "uprobe", "lsm"] as const;
export type ProgramFeature = (typeof PROGRAM_FEATURES)[number];

const MAP_TYPES = {
  ringbuf: BpfMapType.RINGBUF,
  perf_event_array: BpfMapType.PERF_EVENT_ARRAY,
  hash: BpfMapType.HASH,
  lru_hash: BpfMapType.LRU_HASH,
  percpu_hash: BpfMapType.PERCPU_HASH,
  percpu_array: BpfMapType.PERCPU_ARRAY,
  array: BpfMapType.ARRAY,
  stack_trace: BpfMapType.STACK_TRACE,
} as const;
export const MAP_FEATURES = Object.keys(MAP_TYPES) as (keyof typeof MAP_TYPES)[];

/** Helpers the recipes call, with their enum bpf_func_id numbers (bpf/bpf_helper_defs.h). */
const HELPERS = {
  bpf_map_lookup_elem: 1,
  bpf_ktime_get_ns: 5,
  bpf_get_current_pid_tgid: 14,
  bpf_get_current_uid_gid: 15,
  bpf_get_current_comm: 16,
  bpf_perf_event_output: 25,
  bpf_get_stackid: 27,
  bpf_get_current_task: 35,
  bpf_probe_read_user: 112,
  bpf_probe_read_kernel: 113,
  bpf_probe_read_user_str: 114,
  bpf_probe_read_kernel_str: 115,
  bpf_ringbuf_reserve: 131,
  bpf_ringbuf_submit: 132,
  bpf_ringbuf_query: 134,
  bpf_get_current_task_btf: 158,
  /* 5.15+: one loaded generic program serves several attachments, told apart by the cookie */
  bpf_get_attach_cookie: 174,
} as const;
export const HELPER_FEATURES = Object.keys(HELPERS) as (keyof typeof HELPERS)[];
/** Helpers the kernel withholds under lockdown=confidentiality (LOCKDOWN_BPF_READ_KERNEL). */
const KERNEL_READ_HELPERS = new Set(["bpf_probe_read_kernel", "bpf_probe_read_kernel_str", "bpf_probe_read_user", "bpf_probe_read_user_str"]);

/** Instruction-set features: atomic_fetch is BPF_ATOMIC | BPF_FETCH and cmpxchg (5.12+). */
export const INSTRUCTION_FEATURES = ["atomic_fetch"] as const;

export const ALL_FEATURES: readonly string[] = [...PROGRAM_FEATURES, ...MAP_FEATURES, ...HELPER_FEATURES, ...INSTRUCTION_FEATURES, "bpf_stats"];

interface ProgramSpec {
  program: string;
  type: number;
  typeName: string;
  attach: "section" | "perf_event" | "uprobe";
  /** What the attach test hooks, for the evidence text. */
  target: string;
}

const PROGRAMS: Record<ProgramFeature, ProgramSpec> = {
  kprobe: { program: "probe_kprobe", type: BpfProgType.KPROBE, typeName: "BPF_PROG_TYPE_KPROBE", attach: "section", target: "kprobe hrtimer_nanosleep" },
  kretprobe: { program: "probe_kretprobe", type: BpfProgType.KPROBE, typeName: "BPF_PROG_TYPE_KPROBE", attach: "section", target: "kretprobe hrtimer_nanosleep" },
  tracepoint: { program: "probe_tracepoint", type: BpfProgType.TRACEPOINT, typeName: "BPF_PROG_TYPE_TRACEPOINT", attach: "section", target: "tracepoint syscalls/sys_enter_getpid" },
  raw_tp: { program: "probe_raw_tp", type: BpfProgType.RAW_TRACEPOINT, typeName: "BPF_PROG_TYPE_RAW_TRACEPOINT", attach: "section", target: "raw_tp sched_process_exec" },
  tp_btf: { program: "probe_tp_btf", type: BpfProgType.TRACING, typeName: "BPF_PROG_TYPE_TRACING", attach: "section", target: "tp_btf sched_process_exec" },
  fentry: { program: "probe_fentry", type: BpfProgType.TRACING, typeName: "BPF_PROG_TYPE_TRACING", attach: "section", target: "fentry hrtimer_nanosleep" },
  fexit: { program: "probe_fexit", type: BpfProgType.TRACING, typeName: "BPF_PROG_TYPE_TRACING", attach: "section", target: "fexit hrtimer_nanosleep" },
  perf_event: { program: "probe_perf_event", type: BpfProgType.PERF_EVENT, typeName: "BPF_PROG_TYPE_PERF_EVENT", attach: "perf_event", target: "a disabled software cpu-clock event on CPU 0" },
  uprobe: { program: "probe_uprobe", type: BpfProgType.KPROBE, typeName: "BPF_PROG_TYPE_KPROBE", attach: "uprobe", target: "uprobe on a scratch file nobody maps" },
  lsm: { program: "probe_lsm", type: BpfProgType.LSM, typeName: "BPF_PROG_TYPE_LSM", attach: "section", target: "lsm file_open" },
};

export const PROBE_OBJECT_FILE = "feature-probes.bpf.o";

const EPERM = 1, ENOENT = 2, ESRCH = 3, E2BIG = 7, EACCES = 13, ENODEV = 19, EINVAL = 22, ENOSYS = 38, EOPNOTSUPP = 95, ENOTSUPP = 524;
/** Errnos by which the kernel says "this does not exist / is not supported here": conclusive. */
const CONCLUSIVE = new Set([ENOENT, ESRCH, E2BIG, EACCES, ENODEV, EINVAL, ENOSYS, EOPNOTSUPP, ENOTSUPP]);

function errText(e: number): string {
  // libbpf_strerror knows ENOTSUPP (524), which glibc's strerror does not.
  return `${errName(e)} (${strerror(e)})`;
}
function errName(e: number): string {
  const names: Record<number, string> = { 1: "EPERM", 2: "ENOENT", 3: "ESRCH", 7: "E2BIG", 12: "ENOMEM", 13: "EACCES", 16: "EBUSY", 19: "ENODEV", 22: "EINVAL", 38: "ENOSYS", 95: "EOPNOTSUPP", 524: "ENOTSUPP" };
  return names[e] ?? `errno ${e}`;
}

// ---------------------------------------------------------------------------------------------
// Probing

export function probeObjectBytes(): Uint8Array {
  let b64: string | undefined;
  try {
    // Present once scripts/build ran; the compiled binary always has it.
    b64 = (require("../../build/embedded") as { EMBEDDED_OBJECTS?: Record<string, string> }).EMBEDDED_OBJECTS?.[PROBE_OBJECT_FILE];
  } catch {
    b64 = undefined;
  }
  if (b64) return new Uint8Array(Buffer.from(b64, "base64"));
  const disk = join(import.meta.dir, "../../build/bpf", PROBE_OBJECT_FILE);
  if (existsSync(disk)) return new Uint8Array(readFileSync(disk));
  throw probeObjectMissing(PROBE_OBJECT_FILE);
}

interface Ctx {
  facts: KernelFacts;
  privileged: boolean;
  elf: Uint8Array;
  progTypeProbe: Map<number, number>;
}

/** Why an EPERM is or is not conclusive, for the evidence text. */
function epermVerdict(ctx: Ctx, what: string): Pick<Feature, "status" | "evidence"> {
  if (!ctx.privileged) {
    return { status: "unknown", evidence: `unknown, because ${what}: EPERM and this process lacks CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN); run doctor as root to find out` };
  }
  const lockdown = ctx.facts.lockdown.mode;
  const cause = lockdown === "integrity" || lockdown === "confidentiality" ? ` (kernel lockdown is "${lockdown}": a possible cause)` : lockdown === "unknown" ? " (lockdown state unknown: mount securityfs to see it)" : "";
  return { status: "no", evidence: `${what}: EPERM (Operation not permitted) although this process holds CAP_BPF and CAP_PERFMON${cause}` };
}

function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter(Boolean);
  return lines.at(-1) ?? "";
}

/** libbpf's first warning about `program` since the last drain (the specific one, not the summary). */
function libbpfWarning(program: string): string {
  const warnings = drainLibbpfLog().filter((l) => l.level === "warn").map((l) => l.text.replace(/^libbpf: /, ""));
  return warnings.find((w) => w.includes(`'${program}'`)) ?? warnings.at(-1) ?? "";
}

/** The probe object opened with only `program` to load, libbpf's log drained. */
function openProbeObject(ctx: Ctx, program: string): BpfObject {
  const obj = BpfObject.openMemory(ctx.elf, "feature_probes");
  try {
    for (const p of obj.programs()) p.autoload = p.name === program;
  } catch (e) {
    obj.close();
    throw e;
  }
  drainLibbpfLog();
  return obj;
}

function probeProgram(ctx: Ctx, feature: ProgramFeature): Feature {
  const spec = PROGRAMS[feature];
  const out = (status: FeatureStatus, evidence: string): Feature => ({ name: feature, kind: "program", status, evidence });

  let known = ctx.progTypeProbe.get(spec.type);
  if (known === undefined) {
    known = probeProgType(spec.type);
    ctx.progTypeProbe.set(spec.type, known);
  }
  // libbpf's answer is only a note: its TRACING probe expects one exact verifier message and says
  // "no" when the kernel refuses the dummy load differently (seen on 6.18 with lockdown), while a
  // real tp_btf load works. The real load below decides.
  const libbpfNote = known === 1 || !ctx.privileged ? "" : known === 0 ? ` (libbpf_probe_bpf_prog_type says ${spec.typeName} is unsupported)` : ` (libbpf_probe_bpf_prog_type failed: ${errText(-known)})`;
  const outNoted = (status: FeatureStatus, evidence: string): Feature => out(status, evidence + libbpfNote);

  const obj = openProbeObject(ctx, spec.program);
  try {
    try {
      obj.load();
    } catch (e) {
      if (!(e instanceof LibbpfError)) throw e;
      const verifier = e instanceof LoadError ? lastLine(e.verifierLog) : "";
      const libbpfLine = libbpfWarning(spec.program);
      const detail = verifier ? `; verifier: "${verifier}"` : libbpfLine ? `; libbpf: "${libbpfLine}"` : "";
      const typeNote = known === 1 ? `${spec.typeName} is known to the kernel but ` : "";
      if (e.errno === EPERM) {
        const v = epermVerdict(ctx, `${typeNote}loading ${spec.program} was refused`);
        return outNoted(v.status, v.evidence + detail);
      }
      if (CONCLUSIVE.has(e.errno)) return outNoted("no", `${typeNote}loading ${spec.program} failed: ${errText(e.errno)}${detail}`);
      return outNoted("unknown", `unknown, because loading ${spec.program} failed with ${errText(e.errno)}${detail}`);
    }
    return attachTest(ctx, feature, spec, obj, outNoted);
  } finally {
    obj.close();
  }
}

function attachTest(ctx: Ctx, feature: ProgramFeature, spec: ProgramSpec, obj: BpfObject, out: (s: FeatureStatus, ev: string) => Feature): Feature {
  const prog = obj.program(spec.program);
  let perfFd = -1;
  let scratch: string | undefined;
  drainLibbpfLog();
  try {
    let link;
    if (spec.attach === "perf_event") {
      perfFd = openQuietPerfEvent(0);
      if (perfFd < 0) {
        const e = -perfFd;
        if (e === EPERM || e === EACCES) {
          const v = epermVerdict(ctx, "program loads but perf_event_open(software cpu-clock) was refused");
          return out(v.status, v.evidence);
        }
        return out(CONCLUSIVE.has(e) ? "no" : "unknown", `program loads but perf_event_open(software cpu-clock) failed: ${errText(e)}`);
      }
      link = prog.attachPerfEvent(perfFd, spec.target);
    } else if (spec.attach === "uprobe") {
      scratch = join(tmpdir(), `ebpfctl-uprobe-probe-${process.pid}`);
      writeFileSync(scratch, new Uint8Array(64).fill(0x90));
      link = prog.attachUprobe(false, scratch, 0);
    } else {
      link = prog.attach();
    }
    // A syscall tracepoint's or a uprobe's release waits a grace period (60-100 ms each here);
    // nothing needs to wait for it.
    BpfLink.closeWithoutWaiting([link]);
    if (feature === "lsm" && ctx.facts.lsms && !ctx.facts.lsms.includes("bpf")) {
      return out("no", `attached to ${spec.target}, but the bpf LSM is not active (/sys/kernel/security/lsm: ${ctx.facts.lsms.join(",")}), so it would never run`);
    }
    return out("yes", `${spec.program} loaded and attached to ${spec.target} (detached at once)`);
  } catch (e) {
    if (!(e instanceof LibbpfError)) throw e;
    const libbpfLine = libbpfWarning(spec.program);
    const detail = libbpfLine ? `; libbpf: "${libbpfLine}"` : "";
    let hint = "";
    if ((feature === "kprobe" || feature === "kretprobe") && !existsSync("/sys/bus/event_source/devices/kprobe")) hint = " (no kprobe PMU in /sys/bus/event_source/devices: CONFIG_KPROBES is likely off)";
    if (e.errno === EPERM) {
      const v = epermVerdict(ctx, `program type loads but attaching to ${spec.target} was refused`);
      return out(v.status, v.evidence + detail);
    }
    if (CONCLUSIVE.has(e.errno)) return out("no", `program type loads but attach to ${spec.target} failed: ${errText(e.errno)}${hint}${detail}`);
    return out("unknown", `unknown, because attaching to ${spec.target} failed with ${errText(e.errno)}${detail}`);
  } finally {
    if (perfFd >= 0) closeFd(perfFd);
    if (scratch) rmSync(scratch, { force: true });
  }
}

function probeMap(ctx: Ctx, name: keyof typeof MAP_TYPES): Feature {
  const rc = probeMapType(MAP_TYPES[name]);
  const out = (status: FeatureStatus, evidence: string): Feature => ({ name, kind: "map", status, evidence });
  // libbpf returns 0 for any failed map creation, EPERM included: without privilege 0 proves nothing.
  if (rc === 0 && !ctx.privileged) return out("unknown", `unknown, because creating a ${name} map failed and this process lacks CAP_BPF (libbpf_probe_bpf_map_type cannot tell EPERM from unsupported)`);
  if (rc === 1) return out("yes", `created a ${name} map (libbpf_probe_bpf_map_type)`);
  if (rc === 0) return out("no", `the kernel refused to create a ${name} map (libbpf_probe_bpf_map_type)`);
  if (-rc === EPERM) {
    const v = epermVerdict(ctx, `creating a ${name} map was refused`);
    return out(v.status, v.evidence);
  }
  return out("unknown", `unknown, because libbpf_probe_bpf_map_type failed: ${errText(-rc)}`);
}

function probeHelperFeature(ctx: Ctx, name: keyof typeof HELPERS): Feature {
  const out = (status: FeatureStatus, evidence: string): Feature => ({ name, kind: "helper", status, evidence });
  // libbpf answers "supported" for any load failure other than "unknown func", EPERM included, so
  // without the privilege to load a tracepoint program its answer means nothing.
  if (!ctx.privileged) return out("unknown", `unknown, because this process lacks CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN) to load the tracepoint program libbpf_probe_bpf_helper needs`);
  const rc = probeHelper(BpfProgType.TRACEPOINT, HELPERS[name]);
  if (rc === 1) return out("yes", `the verifier accepts ${name} in tracepoint programs (libbpf_probe_bpf_helper)`);
  if (rc === 0) {
    const why = KERNEL_READ_HELPERS.has(name) && ctx.facts.lockdown.mode === "confidentiality" ? ' (lockdown "confidentiality" withholds kernel-memory reads)' : "";
    return out("no", `the verifier rejects ${name} in tracepoint programs as an unknown function (libbpf_probe_bpf_helper)${why}`);
  }
  if (-rc === EPERM) {
    const v = epermVerdict(ctx, `the helper probe for ${name} was refused`);
    return out(v.status, v.evidence);
  }
  return out("unknown", `unknown, because libbpf_probe_bpf_helper failed: ${errText(-rc)}`);
}

/** Load (never attach) a program that fetches from an atomic add and does a cmpxchg. */
function probeAtomicFetch(ctx: Ctx): Feature {
  const out = (status: FeatureStatus, evidence: string): Feature => ({ name: "atomic_fetch", kind: "instruction", status, evidence });
  const program = "probe_atomic_fetch";
  const obj = openProbeObject(ctx, program);
  try {
    try {
      obj.load();
    } catch (e) {
      if (!(e instanceof LibbpfError)) throw e;
      const verifier = e instanceof LoadError ? lastLine(e.verifierLog) : "";
      const detail = verifier ? `; verifier: "${verifier}"` : "";
      if (e.errno === EPERM) {
        const v = epermVerdict(ctx, `loading ${program} was refused`);
        return out(v.status, v.evidence + detail);
      }
      // EINVAL with a verifier log is the verifier refusing the encoding: conclusive.
      if (e.errno === EINVAL && verifier) return out("no", `the verifier refuses fetching atomics (atomic fetch-add, cmpxchg)${detail}`);
      return out("unknown", `unknown, because loading ${program} failed with ${errText(e.errno)}${detail}`);
    }
    return out("yes", `${program} (atomic fetch-add and cmpxchg) loaded`);
  } finally {
    drainLibbpfLog();
    obj.close();
  }
}

function probeStats(ctx: Ctx): Feature {
  const out = (status: FeatureStatus, evidence: string): Feature => ({ name: "bpf_stats", kind: "stats", status, evidence });
  try {
    BpfStatsHandle.enable().close();
    return out("yes", "bpf_enable_stats(BPF_STATS_RUN_TIME) returned an fd (closed at once)");
  } catch (e) {
    if (!(e instanceof LibbpfError)) throw e;
    if (e.errno === EPERM) {
      const v = epermVerdict(ctx, "bpf_enable_stats(BPF_STATS_RUN_TIME) was refused");
      return out(v.status, v.evidence);
    }
    return out(CONCLUSIVE.has(e.errno) ? "no" : "unknown", `bpf_enable_stats(BPF_STATS_RUN_TIME) failed: ${errText(e.errno)}`);
  }
}

/** Run the probes now (no caches, no masking): every one, or those named. */
export function runProbes(facts: KernelFacts = readKernelFacts(), names: readonly string[] = ALL_FEATURES): Record<string, Feature> {
  captureLibbpfLog();
  const ctx: Ctx = { facts, privileged: mayLoadTracing(facts), elf: probeObjectBytes(), progTypeProbe: new Map() };
  const wanted = new Set(names);
  const features: Record<string, Feature> = {};
  for (const f of PROGRAM_FEATURES) if (wanted.has(f)) features[f] = guard(f, "program", () => probeProgram(ctx, f));
  for (const m of MAP_FEATURES) if (wanted.has(m)) features[m] = guard(m, "map", () => probeMap(ctx, m));
  for (const h of HELPER_FEATURES) if (wanted.has(h)) features[h] = guard(h, "helper", () => probeHelperFeature(ctx, h));
  if (wanted.has("atomic_fetch")) features.atomic_fetch = guard("atomic_fetch", "instruction", () => probeAtomicFetch(ctx));
  if (wanted.has("bpf_stats")) features.bpf_stats = guard("bpf_stats", "stats", () => probeStats(ctx));
  drainLibbpfLog();
  return features;
}

/** A probe that throws unexpectedly is "unknown, because <error>", never a crash of doctor. */
function guard(name: string, kind: FeatureKind, probe: () => Feature): Feature {
  try {
    return probe();
  } catch (e) {
    return { name, kind, status: "unknown", evidence: `unknown, because the probe itself failed: ${(e as Error).message}` };
  }
}
