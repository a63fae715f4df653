// When the verifier refuses a program: keep the few lines that explain it for the user, and the
// whole log in a file named in the message.
import { mkdirSync } from "node:fs";
import { writeExclusive } from "../files/regular-file";
import { join } from "node:path";
import { verifierRejected } from "../errors";

export function runDir(): string {
  return process.env.EBPFCTL_RUN_DIR ?? "/run/ebpfctl";
}

/** The lines worth showing: the last few before the verifier's closing statistics. */
export function explainVerifierLog(log: string, max = 6): string[] {
  const lines = log.split("\n").map((l) => l.trimEnd()).filter(Boolean);
  const stats = lines.findIndex((l) => /^processed \d+ insns/.test(l));
  const body = stats >= 0 ? lines.slice(0, stats) : lines;
  return body.slice(-max);
}

/** One line: what the verifier said after the last instruction it looked at (its verdict), e.g.
 * "invalid access to map value, value_size=8 off=16 size=8 — R0 min value is outside of the allowed memory range". */
export function verifierReason(log: string): string {
  const body = explainVerifierLog(log, 1_000_000);
  const lastInsn = body.findLastIndex((l) => /^\d+: \(/.test(l));
  const verdict = body.slice(lastInsn + 1).filter((l) => !l.startsWith(";"));
  return (verdict.length ? verdict : body.slice(-1)).join(" — ");
}

export function saveVerifierLog(recipe: string, program: string, log: string): string {
  const dir = join(runDir(), "verifier-logs");
  let path = join(dir, `${recipe}-${program}-${Date.now()}.log`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeExclusive(path, log, 0o600);
  } catch {
    path = join("/tmp", `ebpfctl-verifier-${recipe}-${program}-${Date.now()}.log`);
    writeExclusive(path, log, 0o600);
  }
  return path;
}

export function verifierError(recipe: string, program: string | undefined, errno: number, log: string) {
  if (!program || !log) {
    return verifierRejected(`the kernel refused to load ${recipe} (errno ${errno}) and gave no verifier log`, "run ebpfctl doctor to see which program types this kernel allows");
  }
  const path = saveVerifierLog(recipe, program, log);
  const why = explainVerifierLog(log);
  return verifierRejected(`the verifier rejected ${recipe}:${program}: ${why.join(" | ")}`, `full verifier log saved to ${path}`);
}
