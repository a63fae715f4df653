// The host policy, <config>/policy.yaml: what the machine's owner allows on this host, whatever
// the recipe or the command line asks for. A missing file means the safe defaults (unsigned
// recipes refused). The file is path-checked like every other trust anchor.
import { join } from "node:path";
import * as z from "zod/mini";
import { ExitCode, policyInvalid } from "../errors";
import { MiB, readRegularText } from "../files/regular-file";
import { bytes, count, formatZodIssues, percent } from "./manifest";
import { checkTrustedFile, existsPath } from "./trust-path";

export const HostPolicy = z.strictObject({
  /** Whether --allow-unsigned may run an unsigned recipe on this host. */
  allow_unsigned: z._default(z.boolean(), false),
  /** Also send audit records to syslog. */
  audit_syslog: z._default(z.boolean(), false),
  /** Host-wide ceilings above every recipe's own. */
  host: z._default(
    z.strictObject({
      max_sessions: z.optional(z.int().check(z.positive())),
      max_memory: z.optional(bytes),
      max_rate: z.optional(count),
      max_cpu: z.optional(percent),
    }),
    {},
  ),
  /** One-liners (ebpfctl trace -e): on by default; off, or restricted to tracepoint categories and string fields. */
  adhoc: z._default(
    z.strictObject({
      enabled: z._default(z.boolean(), true),
      /** false: sampling one-liners (profile:hz:N, on-CPU stacks of every process) are refused. */
      profile: z._default(z.boolean(), true),
      /** Globs of tracepoint categories one-liners may attach to (e.g. [syscalls, sched]); absent = all. */
      tracepoint_categories: z.optional(z.array(z.string().check(z.regex(/^[A-Za-z0-9_*]+$/, "expected a category name or glob")))),
      /** Globs of category:event:field whose strings one-liners may not read (e.g. "syscalls:sys_enter_write:buf"). */
      deny_string_fields: z.optional(z.array(z.string().check(z.regex(/^[A-Za-z0-9_*]+:[A-Za-z0-9_*]+:[A-Za-z0-9_*]+$/, "expected category:event:field (globs allowed)")))),
      /**
       * Path globs (* within a component, ** across) of the binaries uprobe/uretprobe/usdt
       * one-liners may probe, matched against the real path (symlinks resolved); absent =
       * DEFAULT_UPROBE_BINARIES. The file must also be root-owned and not group/other-writable.
       */
      uprobe_binaries: z.optional(z.array(z.string().check(z.regex(/^\//, "expected an absolute path or path glob")))),
    }),
    { enabled: true, profile: true },
  ),
});
export type HostPolicy = z.infer<typeof HostPolicy>;

/** The package manager's places: system binaries and libraries (and /opt), not home directories or /tmp. */
export const DEFAULT_UPROBE_BINARIES = ["/usr/bin/*", "/usr/sbin/*", "/usr/lib/**", "/usr/lib64/**", "/usr/libexec/**", "/usr/local/bin/*", "/usr/local/sbin/*", "/usr/local/lib/**", "/opt/**"];

export const configDir = (): string => process.env.EBPFCTL_CONFIG_DIR ?? "/etc/ebpfctl";
export const policyFile = (): string => join(configDir(), "policy.yaml");

/** The host policy in force; `file` is undefined when the defaults apply (no policy.yaml). */
export function loadPolicy(): HostPolicy & { file: string | undefined } {
  const file = policyFile();
  if (!existsPath(file)) return { ...HostPolicy.parse({}), file: undefined };
  const real = checkTrustedFile(file, configDir());
  const text = readRegularText(real, { what: "host policy", maxBytes: MiB, code: "EBPFCTL-E0331", exitCode: ExitCode.POLICY, noFollow: true, hint: "the host policy is a small regular YAML file (keys: allow_unsigned, audit_syslog, host)" });
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch (e) {
    throw policyInvalid(file, [`not valid YAML: ${String((e as Error).message).split("\n")[0]}`]);
  }
  const r = HostPolicy.safeParse(doc ?? {});
  if (!r.success) throw policyInvalid(file, formatZodIssues(r.error));
  return { ...r.data, file };
}
