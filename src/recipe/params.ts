// The parameter catalog: one meaning per flag across every recipe (PRIOR-ART: libbpf-tools
// reuse letters with different meanings; we never do). A recipe declares which it supports and
// binds each to a .rodata variable; values are validated before anything loads.
import * as z from "zod/mini";
import { parameterInvalid } from "../errors";
import { parseDuration, parseCount } from "../units";
import type { Manifest } from "./manifest";

export interface ParameterSpec {
  flag: string;
  description: string;
  /** Validates the raw flag value and converts it to what the kernel side expects. */
  parse: (raw: string | boolean) => number | string | boolean;
}

const positiveInt = (what: string, max = 2 ** 32 - 2) => (raw: string | boolean) => {
  const r = z.coerce.number().check(z.int(), z.gte(0), z.lte(max)).safeParse(raw);
  if (!r.success || typeof raw === "boolean" || String(raw).trim() === "") throw new Error(`expected ${what}, got "${raw}"`);
  return r.data;
};

export const PARAMETERS: Record<string, ParameterSpec> = {
  pid: { flag: "-p,--pid", description: "Only this process (thread group id)", parse: positiveInt("a process id") },
  uid: { flag: "-u,--uid", description: "Only this user id", parse: positiveInt("a user id") },
  comm: {
    flag: "-c,--comm",
    description: "Only this command name (as in /proc/PID/comm, at most 15 bytes)",
    parse: (raw) => {
      const s = String(raw);
      if (!s || Buffer.byteLength(s) > 15) throw new Error(`expected a command name of 1 to 15 bytes, got "${s}"`);
      return s;
    },
  },
  errors_only: { flag: "-x,--errors-only", description: "Only failed calls", parse: (raw) => raw === true || raw === "true" },
  cgroup: {
    flag: "--cgroup",
    description: "Only tasks in this cgroup v2 directory (filtered in the kernel by cgroup id); --unit NAME.service resolves a systemd unit's",
    // The caller (run-trace) resolves the path to its id first: recipe/ must not reach into kernel/.
    parse: positiveInt("a cgroup id", Number.MAX_SAFE_INTEGER),
  },
  per_process: { flag: "-P,--per-process", description: "Aggregate per process", parse: (raw) => raw === true || raw === "true" },
  min_latency: {
    flag: "-m,--min-latency",
    description: "Only operations slower than this (e.g. 10ms)",
    parse: (raw) => Math.round(parseDuration(String(raw)) * 1e6), // to nanoseconds
  },
  freq: { flag: "-F,--freq", description: "Sampling frequency in Hz", parse: (raw) => parseCount(String(raw)) },
  signal: {
    flag: "-s,--signal",
    description: "Only this signal (number or name such as KILL)",
    parse: (raw) => signalNumber(String(raw)),
  },
  by: {
    flag: "--by",
    description: "profile: rows by stack (default) or by function (a flat top of self time)",
    parse: (raw) => {
      const s = String(raw);
      if (s !== "stack" && s !== "function") throw new Error(`expected stack or function, got "${s}"`);
      return s;
    },
  },
  port: { flag: "--port", description: "Only this port", parse: positiveInt("a port (0-65535)", 65535) },
  binary: {
    flag: "--binary",
    description: "Absolute path of the binary to probe (root-owned, not writable by others)",
    parse: (raw) => String(raw),
  },
  symbol: {
    flag: "--symbol",
    description: "Function symbol in --binary",
    parse: (raw) => {
      const s = String(raw);
      if (!/^[A-Za-z_][A-Za-z0-9_.$@]*$/.test(s)) throw new Error(`expected a symbol name, got "${s}"`);
      return s;
    },
  },
};

const SIGNALS: Record<string, number> = {
  HUP: 1, INT: 2, QUIT: 3, ILL: 4, TRAP: 5, ABRT: 6, BUS: 7, FPE: 8, KILL: 9, USR1: 10, SEGV: 11, USR2: 12,
  PIPE: 13, ALRM: 14, TERM: 15, STKFLT: 16, CHLD: 17, CONT: 18, STOP: 19, TSTP: 20, TTIN: 21, TTOU: 22,
  URG: 23, XCPU: 24, XFSZ: 25, VTALRM: 26, PROF: 27, WINCH: 28, IO: 29, PWR: 30, SYS: 31,
};
export function signalNumber(s: string): number {
  if (/^\d+$/.test(s) && Number(s) >= 1 && Number(s) <= 64) return Number(s);
  const n = SIGNALS[s.toUpperCase().replace(/^SIG/, "")];
  if (!n) throw new Error(`expected a signal number or name such as KILL, got "${s}"`);
  return n;
}
export function signalName(n: number): string {
  const e = Object.entries(SIGNALS).find(([, v]) => v === n);
  return e ? `SIG${e[0]}` : String(n);
}

export type ParameterValues = Record<string, number | string | boolean>;

/**
 * Validate the flags given against what the recipe supports: unknown-to-recipe flags are errors
 * (a filter silently ignored would mislead), bounds from the manifest are enforced, and
 * defaults filled in.
 */
export function resolveParameters(manifest: Manifest, given: Record<string, string | boolean | undefined>): ParameterValues {
  const out: ParameterValues = {};
  for (const [name, raw] of Object.entries(given)) {
    if (raw === undefined || raw === false) continue;
    const spec = PARAMETERS[name];
    if (!spec) throw parameterInvalid(`unknown parameter ${name}`);
    if (!(name in manifest.parameters)) {
      const supported = Object.keys(manifest.parameters).map((p) => PARAMETERS[p]?.flag ?? p);
      throw parameterInvalid(`${manifest.name} does not support ${spec.flag}; it supports ${supported.join(", ") || "no parameters"}`, `ebpfctl explain ${manifest.name} says what it answers and how`);
    }
  }
  for (const [name, binding] of Object.entries(manifest.parameters)) {
    const spec = PARAMETERS[name];
    if (!spec) throw parameterInvalid(`${manifest.name}: parameter ${name} is not in ebpfctl's parameter catalog`);
    const raw = given[name] ?? (binding.default !== undefined ? (binding.default as string | boolean) : undefined);
    if (raw === undefined || raw === false) {
      if (binding.required) throw parameterInvalid(`${manifest.name} needs ${spec.flag}`);
      continue;
    }
    let value: number | string | boolean;
    try {
      value = spec.parse(typeof raw === "number" ? String(raw) : raw);
    } catch (e) {
      throw parameterInvalid(`${spec.flag.split(",").pop()}: ${(e as Error).message}`);
    }
    if (typeof value === "number") {
      if (binding.min !== undefined && value < binding.min) throw parameterInvalid(`${spec.flag.split(",").pop()}: ${value} is below the minimum ${binding.min}`);
      if (binding.max !== undefined && value > binding.max) throw parameterInvalid(`${spec.flag.split(",").pop()}: ${value} is above the maximum ${binding.max}`);
    }
    out[name] = value;
  }
  return out;
}
