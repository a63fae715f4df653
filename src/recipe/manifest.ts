// The recipe manifest: a strict zod schema (unknown keys are errors) and one entry point that
// parses YAML and turns every problem into "file: path: expected …, got …".
// zod/mini: the same validation as classic zod at a fraction of the start-up cost (schemas are
// built at every start; classic's chainable methods cost ~4 ms more of `ebpfctl trace`).
import * as z from "zod/mini";
import { manifestInvalid } from "../errors";
import { parseBytes, parseCount, parseDuration, parsePercent } from "../units";

const unit = (parse: (v: string | number) => number) =>
  z.pipe(
    z.union([z.string(), z.number()]),
    z.transform((v: string | number, ctx) => {
      try {
        return parse(v);
      } catch (e) {
        ctx.issues.push({ code: "custom", message: (e as Error).message, input: v });
        return z.NEVER;
      }
    }),
  );

export const durationMs = unit(parseDuration);
export const bytes = unit(parseBytes);
export const count = unit(parseCount);
export const percent = unit(parsePercent);

const identifier = z.string().check(z.regex(/^[a-z_][a-z0-9_]*$/, "expected a lower-case C identifier"));
const nonEmpty = () => z.string().check(z.minLength(1));

export const BudgetSet = z.strictObject({
  max_duration: durationMs,
  max_rate: count,
  max_memory: bytes,
  max_cpu: percent,
  max_output: bytes,
});
export type BudgetSet = z.infer<typeof BudgetSet>;

export const AttachType = z.enum(["tracepoint", "raw_tp", "tp_btf", "kprobe", "kretprobe", "fentry", "fexit", "uprobe", "uretprobe", "usdt", "perf_event"]);
export type AttachType = z.infer<typeof AttachType>;

export const Alternative = z.strictObject({
  program: identifier,
  type: AttachType,
  /** tracepoint: "category/event"; raw_tp/tp_btf: event; kprobe/fentry: kernel function; uprobe: from parameters */
  target: z.optional(nonEmpty()),
  /** What choosing this alternative gives up compared with the first one. */
  loses: z.optional(z.string()),
});
export type Alternative = z.infer<typeof Alternative>;

export const Probe = z.strictObject({
  name: identifier,
  essential: z._default(z.boolean(), true),
  /** Measured cost rank for --profile reduced: higher is dropped first among optional probes. */
  cost: z.optional(z.int().check(z.gte(0), z.lte(100))),
  alternatives: z.array(Alternative).check(z.minLength(1)),
});
export type Probe = z.infer<typeof Probe>;

export const ParameterBinding = z.strictObject({
  /** The .rodata variable this parameter sets. */
  rodata: z.optional(identifier),
  default: z.optional(z.union([z.string(), z.number(), z.boolean()])),
  min: z.optional(z.number()),
  max: z.optional(z.number()),
  required: z.optional(z.boolean()),
});

export const Column = z.strictObject({
  field: identifier,
  header: nonEmpty(),
  format: z.optional(z.enum(["int", "string", "argv", "errno", "fd_or_errno", "ns_ts", "ns_duration", "hex", "open_flags", "signal", "family", "ipv4", "ipv6", "ip", "port", "bytes", "syscall"])),
  width: z.optional(z.int().check(z.positive())),
});
export type Column = z.infer<typeof Column>;

export const Manifest = z
  .strictObject({
    name: z.string().check(z.regex(/^[a-z][a-z0-9-]*$/, "expected a lower-case recipe name")),
    version: z.string().check(z.regex(/^\d+\.\d+\.\d+$/, "expected a semantic version such as 1.0.0")),
    summary: nonEmpty(),
    kind: z.enum(["stream", "aggregate"]),
    object: z.strictObject({
      file: z.string().check(z.regex(/^[a-z0-9_-]+\.bpf\.o$/, "expected a file name such as execsnoop.bpf.o")),
      sha256: z.optional(z.string().check(z.regex(/^[0-9a-f]{64}$/, "expected 64 lower-case hex digits"))),
    }),
    event: z.optional(
      z.strictObject({
        struct: identifier,
        ringbuf: identifier,
        strings: z.optional(z.record(identifier, z.strictObject({ length_field: identifier }))),
      }),
    ),
    aggregate: z.optional(
      z.strictObject({
        map: identifier,
        key_struct: z.optional(identifier),
        value_struct: z.optional(identifier),
        render: z.enum(["histogram", "table", "stacks"]),
        /** Histograms: what the log2 slots count (ns, us or ms of latency; count for plain values). */
        unit: z.optional(z.enum(["ns", "us", "ms", "count"])),
        /** Histograms: what is measured, for the JSON record and the header (e.g. "run-queue latency"). */
        label: z.optional(nonEmpty()),
      }),
    ),
    probes: z.array(Probe).check(z.minLength(1)),
    parameters: z._default(z.record(identifier, ParameterBinding), {}),
    columns: z._default(z.array(Column), []),
    maps: z.optional(z.record(identifier, z.strictObject({ max_entries: z.int().check(z.positive()) }))),
    /**
     * Generic (one-liner) recipes: the one-liner whose compiled tables `ebpfctl verify` loads the
     * program with, a representative worst case. With an empty table the verifier would prune the
     * whole body and the baseline would check nothing.
     */
    verify: z.optional(z.strictObject({ oneliner: nonEmpty() })),
    budgets: z.strictObject({
      defaults: BudgetSet,
      ceilings: BudgetSet,
      on_rate_breach: z._default(z.enum(["drop", "sample", "detach"]), "drop"),
    }),
  })
  .check(
    z.superRefine((m, ctx) => {
      if (m.kind === "stream" && !m.event) ctx.addIssue({ code: "custom", path: ["event"], message: "a stream recipe needs an event section" });
      if (m.kind === "aggregate" && !m.aggregate) ctx.addIssue({ code: "custom", path: ["aggregate"], message: "an aggregate recipe needs an aggregate section" });
      for (const k of Object.keys(m.budgets.defaults) as (keyof BudgetSet)[]) {
        if (m.budgets.defaults[k] > m.budgets.ceilings[k]) {
          ctx.addIssue({ code: "custom", path: ["budgets", "defaults", k], message: `default ${m.budgets.defaults[k]} is above the ceiling ${m.budgets.ceilings[k]}` });
        }
      }
    }),
  );
export type Manifest = z.infer<typeof Manifest>;

/** "path.to.field: message" for each issue, the way an operator reads them. */
export function formatZodIssues(error: { issues: z.core.$ZodIssue[] }): string[] {
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
