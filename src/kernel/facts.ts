// What the running kernel and this process look like, read from /proc and /sys only (no bpf(2)
// calls, so this works unprivileged and never fails). Each fact that cannot be read says why.
import { readFileSync, readdirSync, statSync } from "node:fs";
import { machine, release } from "node:os";

export interface SysctlFact {
  /** The integer value, or null when it could not be read. */
  value: number | null;
  /** What the value means for ebpfctl, or why it is unknown. */
  meaning: string;
}

export interface MountFact {
  mounted: boolean;
  /** Where it is mounted (first mount point in /proc/mounts). */
  at?: string;
}

export type LockdownMode = "none" | "integrity" | "confidentiality" | "unknown";

export interface KernelFacts {
  release: string;
  arch: string;
  bootId: string | null;
  /**
   * The running kernel image's GNU build-id (hex, from the ELF notes in /sys/kernel/notes): the
   * same id, the same image and so the same vmlinux BTF, across reboots. Null if it has none.
   */
  buildId: string | null;
  /** `moduleNames`: the modules with BTF now loaded, sorted (a module load can change CO-RE's answers). */
  btf: { vmlinux: boolean; vmlinuxBytes: number | null; modules: number; moduleNames: string[]; evidence: string };
  lockdown: { mode: LockdownMode; evidence: string };
  /** Active LSMs from /sys/kernel/security/lsm (null when securityfs is not mounted). */
  lsms: string[] | null;
  unprivilegedBpfDisabled: SysctlFact;
  perfEventParanoid: SysctlFact;
  jit: SysctlFact;
  bpfStatsEnabled: SysctlFact;
  mounts: { tracefs: MountFact; debugfs: MountFact; securityfs: MountFact; bpffs: MountFact };
  capabilities: {
    /** CapEff from /proc/self/status, hex as the kernel prints it. */
    effectiveHex: string | null;
    /** Names of every effective capability. */
    effective: string[];
    /** The ones that matter for tracing, each held or not. */
    relevant: Record<string, boolean>;
  };
}

/** capability numbers (linux/capability.h) → names. */
export const CAPABILITY_NAMES: readonly string[] = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
  "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/** The capabilities tracing needs or benefits from (README: Least privilege). */
export const RELEVANT_CAPABILITIES = ["CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_SYS_PTRACE", "CAP_NET_ADMIN", "CAP_DAC_READ_SEARCH"] as const;

function readText(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** Decode a CapEff hex mask into capability names (unknown bits as CAP_<n>). */
/** NT_GNU_BUILD_ID from the kernel's ELF notes (namesz, descsz, type, name, desc; 4-byte aligned). */
export function parseBuildId(notes: Uint8Array): string | null {
  const dv = new DataView(notes.buffer, notes.byteOffset, notes.byteLength);
  const align = (n: number) => (n + 3) & ~3;
  for (let p = 0; p + 12 <= notes.length; ) {
    const namesz = dv.getUint32(p, true);
    const descsz = dv.getUint32(p + 4, true);
    const type = dv.getUint32(p + 8, true);
    const name = p + 12;
    const desc = name + align(namesz);
    if (desc + descsz > notes.length) return null;
    if (type === 3 && namesz === 4 && new TextDecoder().decode(notes.subarray(name, name + 3)) === "GNU" && descsz > 0) {
      return Buffer.from(notes.subarray(desc, desc + descsz)).toString("hex");
    }
    p = desc + align(descsz);
  }
  return null;
}

function kernelBuildId(): string | null {
  try {
    return parseBuildId(readFileSync("/sys/kernel/notes"));
  } catch {
    return null;
  }
}

export function decodeCapabilities(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim()}`);
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if ((mask >> BigInt(bit)) & 1n) names.push(CAPABILITY_NAMES[bit] ?? `CAP_${bit}`);
  }
  return names;
}

/** "none [integrity] confidentiality" → "integrity". */
export function parseLockdown(text: string): LockdownMode {
  const m = /\[(none|integrity|confidentiality)\]/.exec(text);
  return (m?.[1] as LockdownMode | undefined) ?? "unknown";
}

/** Mount points by filesystem type from /proc/mounts text. */
export function parseMounts(text: string): Map<string, string> {
  const byType = new Map<string, string>();
  for (const line of text.split("\n")) {
    const [, mountPoint, fsType] = line.split(" ");
    if (fsType && mountPoint && !byType.has(fsType)) byType.set(fsType, mountPoint.replace(/\\040/g, " "));
  }
  return byType;
}

function sysctl(path: string, describe: (v: number) => string): SysctlFact {
  const text = readText(path);
  if (text === null) return { value: null, meaning: `unknown, because ${path} is not readable` };
  const value = Number.parseInt(text.trim(), 10);
  if (Number.isNaN(value)) return { value: null, meaning: `unknown, because ${path} holds "${text.trim()}"` };
  return { value, meaning: describe(value) };
}

export function readKernelFacts(): KernelFacts {
  const mountsText = readText("/proc/mounts") ?? "";
  const mounts = parseMounts(mountsText);
  const mount = (type: string): MountFact => (mounts.has(type) ? { mounted: true, at: mounts.get(type) } : { mounted: false });
  const securityfs = mount("securityfs");

  // BTF: vmlinux plus one file per module that carries BTF.
  let vmlinuxBytes: number | null = null;
  try {
    vmlinuxBytes = statSync("/sys/kernel/btf/vmlinux").size;
  } catch {
    /* no vmlinux BTF */
  }
  const vmlinux = vmlinuxBytes !== null;
  let moduleNames: string[] = [];
  let btfEvidence: string;
  try {
    moduleNames = readdirSync("/sys/kernel/btf")
      .filter((f) => f !== "vmlinux")
      .sort();
    const modules = moduleNames.length;
    btfEvidence = vmlinux ? `/sys/kernel/btf/vmlinux present, ${modules} module BTF file(s)` : "/sys/kernel/btf exists but has no vmlinux (CONFIG_DEBUG_INFO_BTF off?)";
  } catch {
    btfEvidence = "/sys/kernel/btf is absent: the kernel was built without CONFIG_DEBUG_INFO_BTF";
  }

  // Lockdown: only readable through securityfs.
  let lockdown: KernelFacts["lockdown"];
  const lockdownText = readText("/sys/kernel/security/lockdown");
  if (lockdownText !== null) {
    const mode = parseLockdown(lockdownText);
    lockdown = { mode, evidence: `/sys/kernel/security/lockdown reads "${lockdownText.trim()}"` };
  } else if (!securityfs.mounted) {
    lockdown = { mode: "unknown", evidence: "unknown, because securityfs is not mounted (mount -t securityfs none /sys/kernel/security)" };
  } else {
    lockdown = { mode: "none", evidence: "securityfs is mounted but has no lockdown file: the lockdown LSM is not built in" };
  }
  const lsmText = readText("/sys/kernel/security/lsm");
  const lsms = lsmText === null ? null : lsmText.trim().split(",").filter(Boolean);

  const capHex = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(readText("/proc/self/status") ?? "")?.[1] ?? null;
  const effective = capHex ? decodeCapabilities(capHex) : [];
  const relevant = Object.fromEntries(RELEVANT_CAPABILITIES.map((c) => [c, effective.includes(c)]));

  return {
    release: readText("/proc/sys/kernel/osrelease")?.trim() ?? release(),
    arch: machine(),
    bootId: readText("/proc/sys/kernel/random/boot_id")?.trim() ?? null,
    buildId: kernelBuildId(),
    btf: { vmlinux, vmlinuxBytes, modules: moduleNames.length, moduleNames, evidence: btfEvidence },
    lockdown,
    lsms,
    unprivilegedBpfDisabled: sysctl("/proc/sys/kernel/unprivileged_bpf_disabled", (v) =>
      v === 0 ? "unprivileged bpf() allowed" : v === 1 ? "unprivileged bpf() disabled (locked until reboot)" : v === 2 ? "unprivileged bpf() disabled (admin may re-enable)" : `unrecognised value ${v}`,
    ),
    perfEventParanoid: sysctl("/proc/sys/kernel/perf_event_paranoid", (v) =>
      v <= -1 ? "no restrictions" : v === 0 ? "CPU events allowed without CAP_PERFMON, no raw tracepoints" : v === 1 ? "kernel profiling needs CAP_PERFMON" : v === 2 ? "user-space-only measurement without CAP_PERFMON" : "perf_event_open needs CAP_PERFMON (distribution hardening)",
    ),
    jit: sysctl("/proc/sys/net/core/bpf_jit_enable", (v) => (v === 0 ? "interpreter only (slow)" : v === 1 ? "JIT on" : v === 2 ? "JIT on with debug output" : `unrecognised value ${v}`)),
    bpfStatsEnabled: sysctl("/proc/sys/kernel/bpf_stats_enabled", (v) => (v ? "run-time statistics on globally" : "off globally (ebpfctl turns them on per session with BPF_ENABLE_STATS)")),
    mounts: { tracefs: mount("tracefs"), debugfs: mount("debugfs"), securityfs, bpffs: mount("bpf") },
    capabilities: { effectiveHex: capHex, effective, relevant },
  };
}

/** Whether this process may load tracing programs at all (CAP_BPF+CAP_PERFMON, or CAP_SYS_ADMIN). */
export function mayLoadTracing(facts: KernelFacts): boolean {
  const c = facts.capabilities.relevant;
  return Boolean(c.CAP_SYS_ADMIN || (c.CAP_BPF && c.CAP_PERFMON));
}
