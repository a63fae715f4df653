// The JSON contract as zod schemas, the single source of docs/schema/*.json (scripts/gen-schema.ts
// writes them with z.toJSONSchema; test/output/schema.test.ts checks they are current and
// validates real output against them with ajv). Not loaded by the CLI at run time.
import * as z from "zod";
import type { FieldLayout } from "../libbpf/btf";
import type { Manifest } from "../recipe/manifest";
import { SCHEMA_VERSION } from "./records";

const envelopeShape = (kind: z.ZodType) => ({
  kind,
  schema_version: z.literal(SCHEMA_VERSION),
  recipe: z.string().nullable().describe("The recipe's name; null before one was resolved (a usage error)"),
  session: z.string().nullable().describe("The session id (16 hex digits); null when no session started"),
});

const ts = z.string().describe("RFC 3339 time the record was written");

export const ErrorRecord = z
  .object({ ...envelopeShape(z.literal("error")), ts, code: z.string().regex(/^EBPFCTL-E\d{4}$/), message: z.string(), hint: z.string().optional(), exit_code: z.number().int() })
  .describe("An error, on stderr, in -o json mode; an end record follows");

export const EndRecord = z
  .object({
    ...envelopeShape(z.literal("end")),
    ts,
    reason: z.string().describe("completed, SIGINT, SIGTERM, breach, kill-switch, error, refused, usage …"),
    ended_by: z.string().optional().describe("What ended a completed session other than -d: a one-liner's interval:s:N { exit(); }"),
    exit_code: z.number().int(),
    error: z.string().optional(),
    code: z.string().optional(),
    breach: z.record(z.string(), z.unknown()).optional(),
    accounting: z.record(z.string(), z.unknown()).optional().describe("produced = delivered + dropped + sampled out, peaks, verdict"),
  })
  .describe("The last record of every session on stderr in -o json mode, whatever the path");

export const StatusRecord = z
  .object({
    ...envelopeShape(z.literal("status")),
    ts,
    elapsed_ms: z.number(),
    rate: z.number(),
    produced: z.number().int(),
    delivered: z.number().int(),
    dropped_rate: z.number().int(),
    dropped_ringbuf: z.number().int(),
    sampled_out: z.number().int(),
    usage: z.record(z.string(), z.number()),
    budgets: z.record(z.string(), z.number()),
  })
  .describe("Budget usage at each status interval, on stderr");

export const WarningRecord = z.object({ ...envelopeShape(z.literal("warning")), ts, level: z.literal("warning").optional(), message: z.string() }).describe("A warning, on stderr (never stdout)");

/** Other lifecycle records on stderr (verified, compat, attached, detached, profile, …): the envelope plus their fields. */
export const LifecycleRecord = z
  .looseObject({ ...envelopeShape(z.string().regex(/^[a-z_]+$/)), ts })
  .describe("A lifecycle record on stderr: verified, compat, loaded, attached, detached, profile, budget_breach …");

const aggregateMeta = { time: ts, interval_ms: z.number().optional(), final: z.boolean() };
export const HistogramRecord = z.looseObject({ ...envelopeShape(z.literal("histogram")), ...aggregateMeta, label: z.string().optional(), unit: z.string(), key: z.record(z.string(), z.unknown()), buckets: z.array(z.looseObject({ count: z.number().int() })), total: z.number().int() }).describe("An aggregation snapshot of a histogram recipe, on stdout");
export const TableRecord = z.looseObject({ ...envelopeShape(z.literal("table")), ...aggregateMeta, per_process: z.boolean(), rows: z.array(z.record(z.string(), z.unknown())), total_rows: z.number().int(), top: z.number().int() }).describe("An aggregation snapshot of a table recipe (syscount), on stdout");
export const StackRecord = z.looseObject({ ...envelopeShape(z.literal("stack")), ...aggregateMeta, pid: z.number().int(), comm: z.string(), count: z.number().int(), user_stack: z.array(z.unknown()), kernel_stack: z.array(z.unknown()) }).describe("One sampled stack (profile), on stdout");
export const FoldedRecord = z.looseObject({ ...envelopeShape(z.literal("folded")), ...aggregateMeta, stack: z.string(), count: z.number().int() }).describe("One folded stack (profile --folded -o json), on stdout");
export const ProfileSummaryRecord = z.looseObject({ ...envelopeShape(z.literal("profile_summary")), ...aggregateMeta, samples: z.number().int(), stacks: z.number().int(), shown: z.number().int() }).describe("The totals after profile's stacks, on stdout");

const onelinerKey = z.array(z.union([z.string(), z.number().int(), z.array(z.string())])).describe("The key's values, in key_names order; integers exact (64-bit values keep every digit); a kstack/ustack key is its frames, innermost first");
export const OnelinerMapRecord = z
  .object({
    ...envelopeShape(z.literal("oneliner_map")),
    ...aggregateMeta,
    map: z.string().describe("The map's name as written (@, @bytes …)"),
    fn: z.enum(["count", "sum", "min", "max", "avg", "hist", "lhist"]),
    key_names: z.array(z.string()).describe("The key's operands as written (comm, pid, args.filename …)"),
    key: onelinerKey,
    value: z.number().int().optional().describe("count/sum/min/max/avg: the map's value for this key"),
    buckets: z.array(z.object({ min: z.number().int().nullable(), max: z.number().int().nullable(), count: z.number().int() })).optional().describe("hist/lhist: [min, max) buckets with a count, empty ones left out; null = unbounded"),
    sum: z.number().int().optional().describe("hist/lhist: the exact sum of the values"),
    count: z.number().int().describe("Events that updated this key"),
  })
  .describe("One entry of a one-liner's @map (ebpfctl trace -e … -o json), at each interval and at the end, on stdout");
export const OnelinerEventRecord = z
  .object({
    ...envelopeShape(z.literal("oneliner_event")),
    probe: z.string().nullable().describe("The probe that fired (tracepoint:CATEGORY:EVENT)"),
    args: z.array(z.union([z.string(), z.number()])).describe("printf's arguments, in order"),
    text: z.string().describe("The formatted line, without its trailing newline"),
  })
  .describe("One printf of a one-liner (ebpfctl trace -e '… { printf(…) }' -o json), on stdout");

export const RECORD_SCHEMAS: Record<string, z.ZodType> = {
  error: ErrorRecord,
  end: EndRecord,
  status: StatusRecord,
  warning: WarningRecord,
  lifecycle: LifecycleRecord,
  histogram: HistogramRecord,
  table: TableRecord,
  stack: StackRecord,
  folded: FoldedRecord,
  profile_summary: ProfileSummaryRecord,
  oneliner_map: OnelinerMapRecord,
  oneliner_event: OnelinerEventRecord,
};

/** Column formats whose JSON value is text (addresses), not the raw number. */
const TEXT_FORMATS = new Set(["ipv4", "ipv6", "ip"]);

/**
 * One recipe's event record, from its event struct's BTF layout and its columns: every decoded
 * field (padding excluded), addresses as text, `errno` beside a negative result, `<field>_name`
 * beside a signal, `time` beside ts_ns. Decoded enums may add fields beside raw ones, so the
 * object is open; the fields listed are required with their types.
 */
export function eventSchema(manifest: Manifest, layout: FieldLayout[]): z.ZodType {
  const shape: Record<string, z.ZodType> = { ...envelopeShape(z.literal("event")) };
  const strings = manifest.event?.strings ?? {};
  const formats = new Map(manifest.columns.map((c) => [c.field, c.format]));
  for (const f of layout) {
    if (f.name.startsWith("__")) continue;
    const format = formats.get(f.name);
    let t: z.ZodType;
    if (strings[f.name]) t = z.array(z.string());
    else if (format && TEXT_FORMATS.has(format)) t = z.string();
    else if (f.kind === "chars") t = z.string();
    else if (f.kind === "int" || f.kind === "uint") t = z.number().int();
    else t = z.array(z.number().int());
    shape[f.name] = t;
  }
  for (const c of manifest.columns) {
    if (c.format === "errno" || c.format === "fd_or_errno") shape.errno = z.string().regex(/^E[A-Z0-9]+$/).optional().describe(`Symbolic errno when ${c.field} is negative`);
    if (c.format === "signal") shape[`${c.field}_name`] = z.nullable(z.string()).describe("Signal name, null when there is none");
    if (c.format === "open_flags") {
      shape[c.field] = z.array(z.string().regex(/^O_[A-Z_]+$|^0[0-7]+$/)).describe("Open flags by name (format/jsonEvent)");
      shape[`${c.field}_raw`] = z.number().int().describe(`${c.field} as the kernel gave it`);
    }
  }
  // An address family is decoded beside its raw value wherever an event carries one.
  if (layout.some((f) => f.name === "family")) {
    shape.family = z.string().describe("Address family: inet, inet6, unix, or af_N");
    shape.family_raw = z.number().int().describe("AF_* number as the kernel gave it");
  }
  if (layout.some((f) => f.name === "ts_ns")) shape.time = z.string().describe("Wall-clock time of the event (RFC 3339)");
  return z.looseObject(shape).describe(`${manifest.name} ${manifest.version}: one event (${manifest.event?.struct}), a JSON line on stdout with -o json`);
}

export function toJsonSchema(id: string, schema: z.ZodType): Record<string, unknown> {
  return { $id: `https://ebpfctl.invalid/schema/v${SCHEMA_VERSION}/${id}.json`, ...z.toJSONSchema(schema, { target: "draft-2020-12" }) };
}
