// The error catalog: every expected failure is a value with a permanent code, a one-line message
// that says what to do, and a documented exit code (README "Exit codes"). Codes are never reused.

export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  RECIPE: 3,
  TRUST: 4,
  KERNEL: 5,
  AUDIT: 6,
  BUDGET_BREACH: 7,
  KILL_SWITCH: 8,
  UNSUPPORTED: 9,
  POLICY: 10,
  VERIFY_GATE: 11,
  AUDIT_CHAIN: 12,
  OUTPUT_WRITE: 13,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export class EbpfctlError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: ExitCodeValue,
    readonly hint?: string,
  ) {
    super(message);
    this.name = "EbpfctlError";
  }
}

export const usageError = (msg: string, hint?: string) => new EbpfctlError("EBPFCTL-E0001", msg, ExitCode.USAGE, hint);
export const recipeNotFound = (name: string, known: string[]) =>
  new EbpfctlError("EBPFCTL-E0010", `unknown recipe "${name}"`, ExitCode.RECIPE, `run "ebpfctl list"; known: ${known.join(", ")}`);
export const manifestInvalid = (file: string, problems: string[]) =>
  new EbpfctlError("EBPFCTL-E0011", `${file}: ${problems.join("; ")}`, ExitCode.RECIPE, "fix the manifest and sign it again");
/** A stop signal arrived before anything was attached: the session ends "cancelled" (exit 0, as a signal after attach). */
export class SessionCancelled extends EbpfctlError {
  constructor(readonly signal: string, readonly stage: string) {
    super("EBPFCTL-E0014", `cancelled by ${signal} ${stage}; nothing was attached`, ExitCode.OK);
    this.name = "SessionCancelled";
  }
}
export const parameterInvalid = (msg: string, hint?: string) => new EbpfctlError("EBPFCTL-E0012", msg, ExitCode.USAGE, hint);
export const kernelRefused = (msg: string, hint?: string) => new EbpfctlError("EBPFCTL-E0020", msg, ExitCode.KERNEL, hint);
export const verifierRejected = (msg: string, hint?: string) => new EbpfctlError("EBPFCTL-E0021", msg, ExitCode.KERNEL, hint);
export const attachFailed = (msg: string, hint?: string) => new EbpfctlError("EBPFCTL-E0022", msg, ExitCode.KERNEL, hint);
export const notRoot = () =>
  new EbpfctlError("EBPFCTL-E0023", "tracing needs CAP_BPF and CAP_PERFMON (or root)", ExitCode.KERNEL, "run with sudo, or as the ebpfctl service identity (README: Least privilege)");

// ---- Audit log (EBPFCTL-E05xx) ----
const AUDIT_WRITE_HINT = "ebpfctl will not trace without an audit record: free space or fix permissions on the log's filesystem, or pass --audit-log PATH";
/** The audit log could not be created, opened, locked, written or synced; `errno` is the symbolic errno ("EROFS"). */
export class AuditWriteError extends EbpfctlError {
  constructor(readonly path: string, readonly op: string, readonly errno: string, readonly detail?: string) {
    super("EBPFCTL-E0500", `audit log ${path}: cannot ${op}: ${errno}${detail ? ` (${detail})` : ""}`, ExitCode.AUDIT, AUDIT_WRITE_HINT);
    this.name = "AuditWriteError";
  }
}
export const auditTailDamaged = (file: string, detail: string) =>
  new EbpfctlError("EBPFCTL-E0501", `audit log ${file}: ${detail}; refusing to extend a damaged chain`, ExitCode.AUDIT, "run \"ebpfctl audit verify\"; \"ebpfctl audit rotate\" keeps the damaged file as evidence and starts a new linked file");
export const auditChainBroken = (msg: string) =>
  new EbpfctlError("EBPFCTL-E0502", msg, ExitCode.AUDIT_CHAIN, "the log changed after it was written: keep the files as evidence and compare them with the syslog mirror");
export const auditPathRefused = (file: string, why: string) =>
  new EbpfctlError("EBPFCTL-E0504", `audit log ${file}: refused: ${why}`, ExitCode.AUDIT, "point --audit-log or EBPFCTL_AUDIT_LOG at a new path, or at a regular file ebpfctl created (owned by the user it runs as, mode 0600)");
export const auditSealError = (file: string, detail: string) =>
  new EbpfctlError("EBPFCTL-E0505", `audit log ${file}: ${detail}`, ExitCode.AUDIT, "the sealing key files beside the log (.key, .sign) are needed to write a sealed log: restore them, or keep the files as evidence and start a new log with \"ebpfctl audit init\"");
export const auditAlreadySealed = (file: string) =>
  new EbpfctlError("EBPFCTL-E0507", `audit log ${file} is already sealed`, ExitCode.AUDIT, "verify it with the secret printed when it was sealed (ebpfctl audit verify --key); to seal anew, start a new log with --audit-log PATH");
export const auditSecretInvalid = (detail: string) =>
  new EbpfctlError("EBPFCTL-E0506", `--key: ${detail}`, ExitCode.USAGE, "pass the verification secret \"ebpfctl audit init\" printed (ebpfctl-seal-1:…), or a file holding it");
export const auditLogMissing = (file: string) =>
  new EbpfctlError("EBPFCTL-E0503", `no audit log at ${file}`, ExitCode.AUDIT, "pass --audit-log PATH or set EBPFCTL_AUDIT_LOG");

export const probeObjectMissing = (file: string) =>
  new EbpfctlError("EBPFCTL-E0601", `the feature-probe object ${file} is not in this build`, ExitCode.INTERNAL, "rebuild with scripts/build (it embeds build/bpf/*.bpf.o)");
export const recipeUnsupported = (recipe: string, reasons: string[]) =>
  new EbpfctlError("EBPFCTL-E0602", `recipe ${recipe} cannot run on this kernel: ${reasons.join("; ")}`, ExitCode.UNSUPPORTED, 'run "ebpfctl doctor" to see what this kernel supports');

// ---- Verifier gate (EBPFCTL-E07xx): ebpfctl verify against a committed baseline ----
export const verifyGateFailed = (msg: string, hint: string) => new EbpfctlError("EBPFCTL-E0701", `verifier baseline check failed: ${msg}`, ExitCode.VERIFY_GATE, hint);
export const baselineInvalid = (file: string, msg: string) =>
  new EbpfctlError("EBPFCTL-E0702", `verifier baseline ${file}: ${msg}`, ExitCode.VERIFY_GATE, "write one with `ebpfctl verify --write-baseline FILE` on the kernel it describes");

/** Turn anything thrown into a catalog error (unexpected ones become INTERNAL). */
export function asEbpfctlError(e: unknown): EbpfctlError {
  if (e instanceof EbpfctlError) return e;
  const err = e as { code?: string; message?: string };
  if (typeof err?.code === "string" && err.code.startsWith("EBPFCTL-")) {
    return new EbpfctlError(err.code, err.message ?? String(e), ExitCode.KERNEL);
  }
  return new EbpfctlError("EBPFCTL-E0000", `internal error: ${err?.message ?? String(e)}`, ExitCode.INTERNAL, "please report this with the output of ebpfctl bundle");
}

// ---- Trust chain (EBPFCTL-E03xx): signatures, keys, pins, trusted paths, host policy ----
export type SignatureReason = "empty" | "malformed" | "untrusted-key" | "bad-signature" | "bad-trusted-comment" | "unsupported-algorithm";
const SIGNATURE_CODES: Record<SignatureReason, string> = {
  empty: "EBPFCTL-E0300",
  malformed: "EBPFCTL-E0301",
  "untrusted-key": "EBPFCTL-E0302",
  "bad-signature": "EBPFCTL-E0303",
  "bad-trusted-comment": "EBPFCTL-E0304",
  "unsupported-algorithm": "EBPFCTL-E0305",
};
/** A minisign signature was refused; `reason` says which check failed. Always exit TRUST. */
export class SignatureError extends EbpfctlError {
  constructor(readonly reason: SignatureReason, message: string, hint?: string) {
    super(SIGNATURE_CODES[reason], message, ExitCode.TRUST, hint);
    this.name = "SignatureError";
  }
}
/** Any other refusal in the trust chain; `reason` is a stable slug, `file` the file at fault. */
export class TrustError extends EbpfctlError {
  constructor(code: string, readonly reason: string, readonly file: string, message: string, hint?: string) {
    super(code, message, ExitCode.TRUST, hint);
    this.name = "TrustError";
  }
}
export const untrustedPath = (reason: string, file: string, msg: string, hint: string) => new TrustError("EBPFCTL-E0310", reason, file, msg, hint);
export const publicKeyInvalid = (file: string, msg: string) =>
  new TrustError("EBPFCTL-E0311", "bad-public-key", file, `${file}: ${msg}`, "a minisign public key is an \"untrusted comment:\" line then one base64 line (minisign -G, ebpfctl keys generate)");
export const secretKeyInvalid = (file: string, msg: string, hint?: string) =>
  new TrustError("EBPFCTL-E0312", "bad-secret-key", file, `${file}: ${msg}`, hint ?? "use a key made by \"minisign -G\" or \"ebpfctl keys generate\"");
export const objectHashMismatch = (objectFile: string, manifestFile: string, want: string, got: string) =>
  new TrustError("EBPFCTL-E0320", "hash-mismatch", objectFile, `object hash check failed: ${objectFile} has sha256 ${got.slice(0, 16)}…, but ${manifestFile} pins ${want.slice(0, 16)}…`, "rebuild the object or re-pin and re-sign the manifest (ebpfctl recipe sign)");
export const objectPinMissing = (manifestFile: string) =>
  new TrustError("EBPFCTL-E0321", "missing-pin", manifestFile, `object hash check failed: ${manifestFile} has no object.sha256 pin`, "pin the object and sign the manifest with \"ebpfctl recipe sign MANIFEST --key KEY\"");
export const recipeUnsigned = (manifestFile: string, signatureFile: string) =>
  new TrustError("EBPFCTL-E0322", "unsigned", manifestFile, `signature check failed: ${manifestFile} is not signed (${signatureFile} is missing)`, "sign it with \"ebpfctl recipe sign\"; --allow-unsigned works only where policy.yaml sets allow_unsigned: true");
export const unsignedNotAllowed = (manifestFile: string, policyFile: string) =>
  new TrustError("EBPFCTL-E0323", "unsigned-denied", manifestFile, `refusing unsigned ${manifestFile}: the host policy (${policyFile}) does not allow unsigned recipes`, "sign the recipe, or set allow_unsigned: true in the policy file (not recommended)");
export const objectUnreadable = (objectFile: string, msg: string) =>
  new TrustError("EBPFCTL-E0324", "object-unreadable", objectFile, `object hash check failed: cannot read ${objectFile}: ${msg}`, "build the object (bash scripts/build) and keep it beside its manifest");
export const recipeNameMismatch = (manifestFile: string, expected: string, got: string) =>
  new TrustError("EBPFCTL-E0325", "name-mismatch", manifestFile, `${manifestFile}: declares name "${got}" but is installed as "${expected}"`, `rename the file to ${got}.yaml (the signed name wins)`);
export const policyInvalid = (file: string, problems: string[]) =>
  new EbpfctlError("EBPFCTL-E0330", `${file}: ${problems.join("; ")}`, ExitCode.POLICY, "fix the host policy file (keys: allow_unsigned, audit_syslog, host, adhoc)");

// ---- Attach-time targets: uprobe binaries and perf events (EBPFCTL-E08xx) ----
/** --binary is not something a root-run probe may trust: it must be root-owned and not writable by others. */
export const uprobeBinaryRefused = (binary: string, why: string, exitCode: ExitCodeValue) =>
  new EbpfctlError(
    "EBPFCTL-E0801",
    `--binary ${binary}: ${why}`,
    exitCode,
    exitCode === ExitCode.TRUST
      ? "probe a copy installed by root (e.g. install -o root -m 0755 FILE /usr/local/bin/) — a file others can replace could redirect the probe"
      : "give the absolute path of an existing executable or shared library (e.g. /usr/bin/bash, /lib/x86_64-linux-gnu/libc.so.6)",
  );
export const uprobeSymbolMissing = (binary: string, detail: string) =>
  new EbpfctlError("EBPFCTL-E0802", detail, ExitCode.USAGE, `list the functions with: nm -D --defined-only ${binary} (or nm for .symtab); a stripped binary has only its dynamic symbols`);
export const usdtProbeMissing = (binary: string, detail: string) =>
  new EbpfctlError("EBPFCTL-E0804", detail, ExitCode.USAGE, `list the binary's USDT probes with: readelf -n ${binary} (section .note.stapsdt)`);
export const perfEventFailed = (detail: string) =>
  new EbpfctlError("EBPFCTL-E0803", `could not open cpu-clock sampling events: ${detail}`, ExitCode.KERNEL, "check kernel.perf_event_paranoid and that the kernel has CONFIG_PERF_EVENTS; run ebpfctl doctor");

// ---- Host governance (EBPFCTL-E09xx): kill switch, host-wide budget, live sessions, privileges ----
export const killSwitchEngaged = (detail: string) =>
  new EbpfctlError("EBPFCTL-E0901", `the host kill switch is on: ${detail}`, ExitCode.KILL_SWITCH, "ask whoever engaged it, or release it with \"ebpfctl kill-switch off\"");
export const hostBudgetExceeded = (detail: string) =>
  new EbpfctlError("EBPFCTL-E0902", `host budget exceeded: ${detail}`, ExitCode.POLICY, "wait for a session to end (ebpfctl ps), ask for tighter budgets (--max-memory, --max-rate, --max-cpu), or raise host: in policy.yaml");
export const sessionNotFound = (id: string) =>
  new EbpfctlError("EBPFCTL-E0903", `no running session "${id}"`, ExitCode.USAGE, "ebpfctl ps lists the running sessions");
export const stopIncomplete = (detail: string) =>
  new EbpfctlError("EBPFCTL-E0904", `stop did not complete: ${detail}`, ExitCode.INTERNAL, "run ebpfctl ps again; bpftool prog/link show lists what the kernel still holds");
export const privilegeDropFailed = (detail: string) =>
  new EbpfctlError("EBPFCTL-E0905", `could not drop capabilities after attach: ${detail}`, ExitCode.INTERNAL, "the session detached; run ebpfctl doctor and report this with ebpfctl bundle");
export const cannotDropEveryThread = () =>
  new EbpfctlError(
    "EBPFCTL-E0908",
    "tracing needs CAP_SETUID as well: without it the capabilities of the runtime's helper threads cannot be dropped after attach",
    ExitCode.KERNEL,
    "add CAP_SETUID to the service identity's ambient set (docs/least-privilege.md), or run as root",
  );
export const runDirUnwritable = (dir: string, detail: string) =>
  new EbpfctlError("EBPFCTL-E0906", `cannot use the run directory ${dir}: ${detail}`, ExitCode.POLICY, "run as root or set EBPFCTL_RUN_DIR to a directory this user can write");
export const bundleFailed = (msg: string) =>
  new EbpfctlError("EBPFCTL-E0907", `bundle: ${msg}`, ExitCode.INTERNAL, "check that tar and gzip are installed and the output directory is writable");
