// Parses a tracefs `format` file (events/<category>/<event>/format) into typed fields. Pure: the
// text in, the fields out, so every quirk of the format is unit-tested without a kernel.
// Decoding follows size and signedness, never the declared C type (which may be a typedef the
// reader does not know); the type only tells strings apart from integers.
import { EbpfctlError, ExitCode } from "../errors";

export type FieldKind =
  /** an integer of `size` bytes (1, 2, 4 or 8), signed or not */
  | "int"
  /** __data_loc char[]: a u32 at offset, low 16 bits the string's offset in the record, high 16 its length */
  | "data_loc_str"
  /** __rel_loc char[]: like data_loc, offset relative to the end of the field */
  | "rel_loc_str"
  /** a char array embedded in the record (e.g. char comm[16]) */
  | "char_array"
  /** a pointer to a string (const char *): a user pointer for syscalls, a kernel one otherwise */
  | "str_ptr"
  /** anything else (arrays of integers, structs): listed, not readable by one-liners */
  | "other";

export interface TracepointField {
  name: string;
  /** the declared C type, as the kernel wrote it (e.g. "const char *", "__data_loc char[]") */
  type: string;
  offset: number;
  size: number;
  signed: boolean;
  kind: FieldKind;
  /** common_* fields are the trace_entry header every event shares */
  common: boolean;
}

export interface TracepointFormat {
  name: string;
  id: number;
  fields: TracepointField[];
}

export const formatInvalid = (where: string, detail: string) =>
  new EbpfctlError("EBPFCTL-E1103", `${where}: unreadable tracepoint format (${detail})`, ExitCode.KERNEL, "the kernel's tracefs format file is not in the expected form; report it with ebpfctl bundle");

const FIELD_LINE = /^\s*field:(.+);\s*offset:(\d+);\s*size:(\d+);\s*signed:([01]);\s*$/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Splits "type name" or "type name[N]" into its parts. */
function declaration(decl: string): { type: string; name: string; arrayLen?: number } | undefined {
  const m = /^(.*?)([A-Za-z_][A-Za-z0-9_]*)\s*(\[\s*(\d*)\s*\])?\s*$/.exec(decl.trim());
  if (!m) return undefined;
  const type = m[1]!.trim();
  if (!type) return undefined;
  return { type: m[3] ? `${type}[${m[4] ?? ""}]` : type, name: m[2]!, ...(m[4] ? { arrayLen: Number(m[4]) } : {}) };
}

function kindOf(type: string, size: number): FieldKind {
  if (type.startsWith("__data_loc ")) return "data_loc_str";
  if (type.startsWith("__rel_loc ")) return "rel_loc_str";
  if (/\bchar\s*\[\d*\]$/.test(type)) return "char_array";
  if (/\bchar\s*\*$/.test(type) && size === 8) return "str_ptr";
  if (/\[/.test(type) || ![1, 2, 4, 8].includes(size)) return "other";
  return "int";
}

export function parseFormat(text: string, where = "format"): TracepointFormat {
  let name: string | undefined;
  let id: number | undefined;
  const fields: TracepointField[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("name:")) name = line.slice(5).trim();
    else if (line.startsWith("ID:")) id = Number(line.slice(3).trim());
    else if (/^\s*field:/.test(line)) {
      const m = FIELD_LINE.exec(line);
      if (!m) throw formatInvalid(where, `field line "${line.trim()}"`);
      const d = declaration(m[1]!);
      if (!d) throw formatInvalid(where, `declaration "${m[1]}"`);
      const offset = Number(m[2]);
      const size = Number(m[3]);
      fields.push({ name: d.name, type: d.type, offset, size, signed: m[4] === "1", kind: kindOf(d.type, size), common: d.name.startsWith("common_") });
    } else if (line.startsWith("print fmt:")) break;
  }
  if (!name || !NAME.test(name)) throw formatInvalid(where, "no valid name: line");
  if (id === undefined || !Number.isInteger(id)) throw formatInvalid(where, "no ID: line");
  if (!fields.length) throw formatInvalid(where, "no fields");
  return { name, id, fields };
}
