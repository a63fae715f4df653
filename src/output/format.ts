// Presentation of decoded event fields by the manifest's column formats.
import { constants } from "node:os";
import type { DecodedEvent, EventValue } from "../libbpf/event-reader";
import type { Column } from "../recipe/manifest";

const ERRNO_NAME = new Map<number, string>(Object.entries(constants.errno).map(([k, v]) => [v as number, k]));
const SIGNAL_NAME = new Map<number, string>(Object.entries(constants.signals).map(([k, v]) => [v as number, k]));

export const errnoName = (n: number) => ERRNO_NAME.get(n) ?? `E${n}`;
/** A signal's name; "" for 0, which is no signal (exitsnoop: a normal exit; sigsnoop: kill(pid, 0)). */
export const signalName = (n: number) => (n === 0 ? "" : SIGNAL_NAME.get(n) ?? `SIG${n}`);

const OPEN_FLAGS: [number, string][] = [
  [0o100, "O_CREAT"], [0o200, "O_EXCL"], [0o1000, "O_TRUNC"], [0o2000, "O_APPEND"], [0o4000, "O_NONBLOCK"],
  [0o200000, "O_DIRECTORY"], [0o400000, "O_NOFOLLOW"], [0o2000000, "O_CLOEXEC"], [0o10000000, "O_PATH"], [0o20000000, "O_TMPFILE"],
];
/** open(2) flags by name (x86_64 values), access mode first: 577 → O_WRONLY, O_CREAT, O_TRUNC. Unknown bits as octal. */
export function openFlagList(f: number): string[] {
  const acc = ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"][f & 3]!;
  const names = [acc];
  let rest = f & ~3;
  for (const [bit, n] of OPEN_FLAGS) {
    if ((f & bit) === bit) {
      names.push(n);
      rest &= ~bit;
    }
  }
  if (rest) names.push(`0${(rest >>> 0).toString(8)}`); // unsigned: bit 31 set makes a negative int32
  return names;
}
export const openFlags = (f: number): string => openFlagList(f).join("|");

/** Address families by number (linux/socket.h) as JSON names them, and as the IP column shows them. */
const FAMILY: Record<number, { name: string; ip: string }> = { 2: { name: "inet", ip: "4" }, 10: { name: "inet6", ip: "6" }, 1: { name: "unix", ip: "unix" } };
export const familyName = (f: number): string => FAMILY[f]?.name ?? `af_${f}`;
export const ipVersion = (f: number): string => FAMILY[f]?.ip ?? `af${f}`;

export function ipv4(v: EventValue): string {
  if (Array.isArray(v)) return (v as number[]).slice(0, 4).join(".");
  const n = Number(v);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join(".");
}
export function ipv6(v: EventValue): string {
  const b = v as number[];
  if (b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `::ffff:${b.slice(12, 16).join(".")}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // RFC 5952 4.2: "::" replaces the longest run of two or more zero groups, the first on a tie.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(":");
  return `${groups.slice(0, best).join(":")}::${groups.slice(best + bestLen).join(":")}`;
}
/** A 16-byte address field that holds IPv4 in its first 4 bytes when family is AF_INET (2). */
export function ipAny(v: EventValue, family: number | undefined): string {
  return family === 2 ? ipv4((v as number[]).slice(0, 4)) : ipv6(v);
}

/** Text for one column in the human table. */
export function formatCell(col: Column, e: DecodedEvent, bootToWallMs: number): string {
  const v = e[col.field];
  if (v === undefined) return "";
  switch (col.format) {
    case "argv": {
      const text = (v as string[]).map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(" ");
      // Cut in the kernel (too many or too long arguments): marked the way libbpf-tools does.
      return e[`${col.field}_truncated`] ? `${text} ...` : text;
    }
    case "errno":
      return Number(v) < 0 ? errnoName(-Number(v)) : String(v);
    case "fd_or_errno":
      return Number(v) < 0 ? errnoName(-Number(v)) : String(v);
    case "ns_ts":
      return new Date(bootToWallMs + Number(v) / 1e6).toISOString().slice(11, 23);
    case "ns_duration":
      return formatNs(Number(v));
    case "hex":
      return `0x${Number(v).toString(16)}`;
    case "open_flags":
      return openFlags(Number(v));
    case "signal":
      return signalName(Number(v));
    case "family":
      return ipVersion(Number(v));
    case "ipv4":
      return ipv4(v);
    case "ipv6":
      return ipv6(v);
    case "ip":
      return ipAny(v, e.family as number | undefined);
    default:
      return Array.isArray(v) ? v.join(",") : String(v);
  }
}

export function formatNs(ns: number): string {
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(1)}µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(2)}ms`;
  return `${(ns / 1e9).toFixed(2)}s`;
}

/**
 * The JSON form of an event: every decoded field, with addresses as strings and a symbolic
 * `errno` added where a result column is negative, so scripts need no lookup tables.
 */
/** The JSON form of an event; `owned`: e is a fresh decode nobody else holds, so it is filled in place. */
/**
 * Enums are decoded beside their raw value: `"flags": ["O_WRONLY","O_CREAT","O_TRUNC"],
 * "flags_raw": 577`, `"family": "inet6", "family_raw": 10` (any event's address family field, shown
 * as a column or not), `"sig_name": null` for no signal.
 */
export function jsonEvent(columns: Column[], e: DecodedEvent, owned = false): Record<string, unknown> {
  const out: Record<string, unknown> = owned ? e : { ...e };
  const family = typeof e.family === "number" ? e.family : undefined;
  for (const c of columns) {
    const v = e[c.field];
    if (v === undefined) continue;
    if ((c.format === "errno" || c.format === "fd_or_errno") && Number(v) < 0) out.errno = errnoName(-Number(v));
    else if (c.format === "ipv4") out[c.field] = ipv4(v);
    else if (c.format === "ipv6") out[c.field] = ipv6(v);
    else if (c.format === "ip") out[c.field] = ipAny(v, family);
    else if (c.format === "signal") out[`${c.field}_name`] = signalName(Number(v)) || null;
    else if (c.format === "open_flags") {
      out[c.field] = openFlagList(Number(v));
      out[`${c.field}_raw`] = Number(v);
    }
  }
  if (family !== undefined) {
    out.family = familyName(family);
    out.family_raw = family;
  }
  return out;
}
