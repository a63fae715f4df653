// The byte layout of bpf/generic_tp.h's structs (natural alignment, little-endian), written by
// codegen. test/oneliner/layout.test.ts holds every offset here to the object's own BTF.
export const GTP = {
  MAX_PROBES: 16,
  MAX_PREDS: 4,
  MAX_OPS: 16,
  MAX_KEYS: 2,
  MAX_ARGS: 4,
  STR_CAP: 64,
  KEY_SLOT: 64,
  HIST_SLOTS: 66,
  STACK_DEPTH: 127,
} as const;

export const SRC = { NONE: 0, FIELD: 1, PID: 2, TID: 3, UID: 4, CGROUP: 5, PROBE: 6, COMM: 7, ARG: 8, RETVAL: 9, KSTACK: 10, USTACK: 11 } as const;
export const READ = { INT: 0, DATA_LOC: 1, REL_LOC: 2, USER_STR: 3, KERNEL_STR: 4, CHARS: 5 } as const;
export const CMP = { "==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5 } as const;
export const BOOL = { END: 0, AND: 0x10, OR: 0x11, NOT: 0x12 } as const;
export const ACTION = { count: 0, sum: 1, min: 2, max: 3, avg: 4, hist: 5, lhist: 6, event: 7 } as const;

/** struct gtp_operand: 8 bytes */
export const OPERAND = { size: 8, src: 0, read: 1, fsize: 2, is_signed: 3, offset: 4, is_str: 6 } as const;
/** struct gtp_pred: 88 bytes */
export const PRED = { size: 88, lhs: 0, op: 8, value: 16, str: 24 } as const;
/** struct gtp_probe: 472 bytes */
export const PROBE = {
  size: 472, enabled: 0, action: 4, npreds: 8, nkeys: 12, nargs: 16, ops: 24, preds: 40, keys: 392, value: 408, args: 416, lhist_min: 448, lhist_max: 456, lhist_step: 464,
} as const;
/** struct gtp_key: MAX_KEYS slots of KEY_SLOT bytes */
export const KEY_SIZE = GTP.MAX_KEYS * GTP.KEY_SLOT;
/** struct gtp_value: count, sum, min, max, then the histogram slots */
export const VALUE = { size: 32 + 8 * GTP.HIST_SLOTS, count: 0, sum: 8, min: 16, max: 24, slots: 32 } as const;
/** struct gtp_event */
export const EVENT_SIZE = 8 + 4 * 8 + 4 * GTP.STR_CAP;
