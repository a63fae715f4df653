// Optional mirror of every audit record to the local syslog daemon, so a copy of the trail leaves
// the file the tracer writes. Facility authpriv (10): the records say who traced what.
//
// Transport: one datagram on the local AF_UNIX socket (/dev/log is SOCK_DGRAM on Debian:
// systemd-journald and rsyslog both bind it so), in the local RFC 3164 form
// "<PRI>Mmm dd hh:mm:ss ebpfctl[pid]: {json}", sent through libbpf/unix-datagram.ts: no process is
// spawned, so the mirror keeps working after attach, when the seccomp filter denies exec.
import { UnixDatagramSender } from "../libbpf/unix-datagram";

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

const senders = new Map<string, UnixDatagramSender>();
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** RFC 3164 timestamp, local time: "Dec  1 21:08:12". */
export function rfc3164Time(d = new Date()): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, " ")} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/**
 * Send one line; returns null on success or a one-line reason. Never throws: the file is the
 * record of truth and the mirror is best effort (the caller keeps the reason for `doctor`).
 * The socket is opened on first use and kept for the process's life.
 */
export function sendToSyslog(line: string, sev: Severity, socket: string = syslogSocketPath(), pid = process.pid): string | null {
  try {
    let s = senders.get(socket);
    if (!s) senders.set(socket, (s = new UnixDatagramSender(socket)));
    s.send(`<${priority(sev)}>${rfc3164Time()} ebpfctl[${pid}]: ${line}`);
    return null;
  } catch (e) {
    return `syslog ${socket}: ${(e as Error).message}`;
  }
}
