// The host policy, <config>/policy.yaml: what the machine's owner allows on this host, whatever
// the recipe or the command line asks for. A missing file means the safe defaults (unsigned
// recipes refused). The file is path-checked like every other trust anchor.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { policyInvalid } from "../errors";
import { bytes, count, formatZodIssues, percent } from "./manifest";
import { checkTrustedFile, existsPath } from "./trust-path";

export const HostPolicy = z
  .object({
    /** Whether --allow-unsigned may run an unsigned recipe on this host. */
    allow_unsigned: z.boolean().default(false),
    /** Also send audit records to syslog. */
    audit_syslog: z.boolean().default(false),
    /** Host-wide ceilings above every recipe's own. */
    host: z
      .object({
        max_sessions: z.number().int().positive().optional(),
        max_memory: bytes.optional(),
        max_rate: count.optional(),
        max_cpu: percent.optional(),
      })
      .strict()
      .default({}),
  })
  .strict();
export type HostPolicy = z.infer<typeof HostPolicy>;

export const configDir = (): string => process.env.EBPFCTL_CONFIG_DIR ?? "/etc/ebpfctl";
export const policyFile = (): string => join(configDir(), "policy.yaml");

/** The host policy in force; `file` is undefined when the defaults apply (no policy.yaml). */
export function loadPolicy(): HostPolicy & { file: string | undefined } {
  const file = policyFile();
  if (!existsPath(file)) return { ...HostPolicy.parse({}), file: undefined };
  const real = checkTrustedFile(file, configDir());
  const text = readFileSync(real, "utf8");
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
