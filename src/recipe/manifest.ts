// The recipe manifest: a strict zod schema (unknown keys are errors) and one entry point that
// parses YAML and turns every problem into "file: path: expected …, got …".
import { z } from "zod";
import { manifestInvalid } from "../errors";
import { parseBytes, parseCount, parseDuration, parsePercent } from "../budget/units";

const unit = (parse: (v: string | number) => number, what: string) =>
  z.union([z.string(), z.number()]).transform((v, ctx) => {
    try {
      return parse(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
      return z.NEVER;
    }
  });

export const durationMs = unit(parseDuration, "duration");
export const bytes = unit(parseBytes, "size");
export const count = unit(parseCount, "count");
export const percent = unit(parsePercent, "percentage");

const identifier = z.string().regex(/^[a-z_][a-z0-9_]*$/, "expected a lower-case C identifier");

export const BudgetSet = z
  .object({
    max_duration: durationMs,
    max_rate: count,
    max_memory: bytes,
    max_cpu: percent,
    max_output: bytes,
  })
  .strict();
export type BudgetSet = z.infer<typeof BudgetSet>;

export const AttachType = z.enum(["tracepoint", "raw_tp", "tp_btf", "kprobe", "kretprobe", "fentry", "fexit", "uprobe", "uretprobe", "perf_event"]);
export type AttachType = z.infer<typeof AttachType>;

export const Alternative = z
  .object({
    program: identifier,
    type: AttachType,
    /** tracepoint: "category/event"; raw_tp/tp_btf: event; kprobe/fentry: kernel function; uprobe: from parameters */
    target: z.string().min(1).optional(),
    /** What choosing this alternative gives up compared with the first one. */
    loses: z.string().optional(),
  })
  .strict();
export type Alternative = z.infer<typeof Alternative>;

export const Probe = z
  .object({
    name: identifier,
    essential: z.boolean().default(true),
    /** Measured cost rank for --profile reduced: higher is dropped first among optional probes. */
    cost: z.number().int().min(0).max(100).optional(),
    alternatives: z.array(Alternative).min(1),
  })
  .strict();
export type Probe = z.infer<typeof Probe>;

export const ParameterBinding = z
  .object({
    /** The .rodata variable this parameter sets. */
    rodata: identifier.optional(),
    default: z.union([z.string(), z.number(), z.boolean()]).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    required: z.boolean().optional(),
  })
  .strict();

export const Column = z
  .object({
    field: identifier,
    header: z.string().min(1),
    format: z.enum(["int", "string", "argv", "errno", "fd_or_errno", "ns_ts", "ns_duration", "hex", "open_flags", "signal", "ipv4", "ipv6", "ip", "port", "bytes", "syscall"]).optional(),
    width: z.number().int().positive().optional(),
  })
  .strict();
export type Column = z.infer<typeof Column>;

export const Manifest = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9-]*$/, "expected a lower-case recipe name"),
    version: z.string().regex(/^\d+\.\d+\.\d+$/, "expected a semantic version such as 1.0.0"),
    summary: z.string().min(1),
    kind: z.enum(["stream", "aggregate"]),
    object: z
      .object({
        file: z.string().regex(/^[a-z0-9_-]+\.bpf\.o$/, "expected a file name such as execsnoop.bpf.o"),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lower-case hex digits").optional(),
      })
      .strict(),
    event: z
      .object({
        struct: identifier,
        ringbuf: identifier,
        strings: z.record(identifier, z.object({ length_field: identifier }).strict()).optional(),
      })
      .strict()
      .optional(),
    aggregate: z
      .object({
        map: identifier,
        key_struct: identifier.optional(),
        value_struct: identifier.optional(),
        render: z.enum(["histogram", "table", "stacks"]),
        /** Histograms: what the log2 slots count (ns, us or ms of latency; count for plain values). */
        unit: z.enum(["ns", "us", "ms", "count"]).optional(),
        /** Histograms: what is measured, for the JSON record and the header (e.g. "run-queue latency"). */
        label: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    probes: z.array(Probe).min(1),
    parameters: z.record(identifier, ParameterBinding).default({}),
    columns: z.array(Column).default([]),
    maps: z.record(identifier, z.object({ max_entries: z.number().int().positive() }).strict()).optional(),
    budgets: z
      .object({
        defaults: BudgetSet,
        ceilings: BudgetSet,
        on_rate_breach: z.enum(["drop", "sample", "detach"]).default("drop"),
      })
      .strict(),
  })
  .strict()
  .superRefine((m, ctx) => {
    if (m.kind === "stream" && !m.event) ctx.addIssue({ code: "custom", path: ["event"], message: "a stream recipe needs an event section" });
    if (m.kind === "aggregate" && !m.aggregate) ctx.addIssue({ code: "custom", path: ["aggregate"], message: "an aggregate recipe needs an aggregate section" });
    for (const k of Object.keys(m.budgets.defaults) as (keyof BudgetSet)[]) {
      if (m.budgets.defaults[k] > m.budgets.ceilings[k]) {
        ctx.addIssue({ code: "custom", path: ["budgets", "defaults", k], message: `default ${m.budgets.defaults[k]} is above the ceiling ${m.budgets.ceilings[k]}` });
      }
    }
  });
export type Manifest = z.infer<typeof Manifest>;

/** "path.to.field: message" for each issue, the way an operator reads them. */
export function formatZodIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const path = i.path.length ? i.path.map(String).join(".") : "(top level)";
    let msg = i.message;
    if (i.code === "invalid_type" && /received undefined/.test(msg)) msg = "required";
    else if (i.code === "invalid_union" && i.path.length) msg = "required (a number or a string with a unit)";
    else if (i.code === "invalid_key") msg = `invalid key: expected a lower-case C identifier`;
    if (i.code === "unrecognized_keys") msg = `unknown key${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `"${k}"`).join(", ")}`;
    return `${path}: ${msg}`.replace(/\s+/g, " ");
  });
}

/** Parse and validate manifest text. Throws EBPFCTL-E0011 naming the file and every field at fault. */
export function parseManifest(text: string, file: string): Manifest {
  let doc: unknown;
  try {
    doc = Bun.YAML.parse(text);
  } catch (e) {
    throw manifestInvalid(file, [`not valid YAML: ${String((e as Error).message).split("\n")[0]}`]);
  }
  const r = Manifest.safeParse(doc);
  if (!r.success) throw manifestInvalid(file, formatZodIssues(r.error));
  return r.data;
}
