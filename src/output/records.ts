// The JSON contract: every record ebpfctl writes, on stdout or stderr, carries `kind`, `recipe`,
// `session` and `schema_version`. Bump SCHEMA_VERSION when a field changes meaning or goes away
// (adding a field is not a change); docs/schema/ holds the JSON Schema of every record kind.
import type { EbpfctlError } from "../errors";

export const SCHEMA_VERSION = 1;

export interface RecordEnvelope {
  kind: string;
  schema_version: number;
  recipe: string | null;
  session: string | null;
}

/** The envelope first, so a reader sees what a line is before its fields. */
export function envelope(kind: string, recipe: string | null, session: string | null): RecordEnvelope {
  return { kind, schema_version: SCHEMA_VERSION, recipe, session };
}

export function errorRecord(err: EbpfctlError, o: { recipe: string | null; session: string | null }): Record<string, unknown> {
  return { ...envelope("error", o.recipe, o.session), ts: new Date().toISOString(), code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}), exit_code: err.exitCode };
}

/** JSON for scripts is snake_case: a deep copy with camelCase keys renamed (objectSha256 → object_sha256). */
export function snakeKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(snakeKeys);
  if (v === null || typeof v !== "object") return v;
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase(), snakeKeys(x)]));
}
