// Optional mirror of every audit record to the local syslog daemon, so a copy of the trail leaves
// the file the tracer writes. Facility authpriv (10): the records say who traced what.
//
// Transport: Bun's node:dgram knows only udp4/udp6 ("Bad socket type specified"), and Bun.connect
// speaks stream sockets while /dev/log is a datagram socket on Debian (systemd-journald and
// rsyslog both bind SOCK_DGRAM). So the line is handed to util-linux logger(1), which writes one
// datagram (falling back to a stream socket) in the local RFC 3164 form
// "<PRI>Mmm dd hh:mm:ss ebpfctl[pid]: {json}".
import { spawnSync } from "node:child_process";

export const AUTHPRIV = 10;
export type Severity = "notice" | "info";
const SEVERITY_CODE: Record<Severity, number> = { notice: 5, info: 6 };

/** Events an operator wants to notice; everything else is info. */
const NOTICE_EVENTS = new Set(["refused", "budget_breach", "kill_switch_on", "kill_switch_off", "rotated"]);

export function severityOf(event: string, fields: Record<string, unknown>): Severity {
  if (NOTICE_EVENTS.has(event)) return "notice";
  if (event === "detached" && fields.reason !== undefined && fields.reason !== "completed") return "notice";
  return "info";
}

/** The PRI value of an authpriv message: facility * 8 + severity. */
export const priority = (sev: Severity): number => AUTHPRIV * 8 + SEVERITY_CODE[sev];

/** The socket path in force: EBPFCTL_SYSLOG_SOCKET, else /dev/log. */
export const syslogSocketPath = (): string => process.env.EBPFCTL_SYSLOG_SOCKET || "/dev/log";

/**
 * Send one line; returns null on success or a one-line reason. Never throws: the file is the
 * record of truth and the mirror is best effort (the caller keeps the reason for `doctor`).
 */
export function sendToSyslog(line: string, sev: Severity, socket: string = syslogSocketPath(), pid = process.pid): string | null {
  const r = spawnSync(
    "logger",
    ["-p", `authpriv.${sev}`, "-t", "ebpfctl", `--id=${pid}`, "-u", socket, "--socket-errors=on", "--size", "65536", "--", line],
    { encoding: "utf8", timeout: 5000, stdio: ["ignore", "ignore", "pipe"] },
  );
  if (r.error) return `logger: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`;
  if (r.status !== 0) return `logger exited ${r.status ?? r.signal}: ${(r.stderr ?? "").trim().split("\n")[0] ?? ""}`;
  return null;
}
