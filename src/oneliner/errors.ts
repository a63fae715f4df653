// The compiler's errors: one line each, naming the construct and where it is (column), with the
// nearest supported form as the hint. Exit code 2 (usage): the one-liner is the user's input.
import { EbpfctlError, ExitCode } from "../errors";

/** User text quoted in a message stays on one line: control characters are shown escaped. */
export const oneLine = (s: string): string => s.replace(/[\x00-\x1f\x7f]/g, (c) => (c === "\n" ? "\\n" : c === "\t" ? "\\t" : `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));

export const syntaxError = (col: number, msg: string, hint?: string) =>
  new EbpfctlError("EBPFCTL-E1110", `one-liner, column ${col}: ${oneLine(msg)}`, ExitCode.USAGE, hint ?? "README \"One-liners\" documents the supported subset");
export const unsupported = (col: number, construct: string, nearest: string) =>
  new EbpfctlError("EBPFCTL-E1111", `one-liner, column ${col}: ${oneLine(construct)} is not supported by ebpfctl one-liners`, ExitCode.USAGE, nearest);
export const semanticError = (col: number, msg: string, hint?: string) =>
  new EbpfctlError("EBPFCTL-E1112", `one-liner, column ${col}: ${oneLine(msg)}`, ExitCode.USAGE, hint ?? "README \"One-liners\" documents the supported subset");
export const adhocRefused = (msg: string) =>
  new EbpfctlError("EBPFCTL-E1113", oneLine(msg), ExitCode.POLICY, "the host policy (policy.yaml, adhoc:) decides what one-liners may do on this host");
export const costRefused = (msg: string) =>
  new EbpfctlError("EBPFCTL-E1114", msg, ExitCode.BUDGET_BREACH, "narrow the one-liner (fewer keys, no hist) or raise --max-memory within the ceiling");
export const usdtNeedsCookie = (binary: string) =>
  new EbpfctlError(
    "EBPFCTL-E1116",
    `${oneLine(binary)} is position-independent, and libbpf attaches USDT probes in such a file for every process only with the attach cookie (bpf_get_attach_cookie, Linux 5.15+), which this kernel lacks`,
    ExitCode.UNSUPPORTED,
    "on this kernel, trace it with a uprobe on the function the probe sits in (uprobe:PATH:FUNC)",
  );
