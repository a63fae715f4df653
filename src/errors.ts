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
export const parameterInvalid = (msg: string) => new EbpfctlError("EBPFCTL-E0012", msg, ExitCode.USAGE);
export const kernelRefused = (msg: string, hint?: string) => new EbpfctlError("EBPFCTL-E0020", msg, ExitCode.KERNEL, hint);
export const verifierRejected = (msg: string, hint?: string) => new EbpfctlError("EBPFCTL-E0021", msg, ExitCode.KERNEL, hint);
export const attachFailed = (msg: string, hint?: string) => new EbpfctlError("EBPFCTL-E0022", msg, ExitCode.KERNEL, hint);
export const notRoot = () =>
  new EbpfctlError("EBPFCTL-E0023", "tracing needs CAP_BPF and CAP_PERFMON (or root)", ExitCode.KERNEL, "run with sudo, or as the ebpfctl service identity (README: Least privilege)");

/** Turn anything thrown into a catalog error (unexpected ones become INTERNAL). */
export function asEbpfctlError(e: unknown): EbpfctlError {
  if (e instanceof EbpfctlError) return e;
  const err = e as { code?: string; message?: string };
  if (typeof err?.code === "string" && err.code.startsWith("EBPFCTL-")) {
    return new EbpfctlError(err.code, err.message ?? String(e), ExitCode.KERNEL);
  }
  return new EbpfctlError("EBPFCTL-E0000", `internal error: ${err?.message ?? String(e)}`, ExitCode.INTERNAL, "please report this with the output of ebpfctl bundle");
}
