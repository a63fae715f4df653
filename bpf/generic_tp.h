/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The table that drives bpf/generic_tp.bpf.c (and generic_up, generic_usdt, generic_pe: one entry), shared with user space (src/oneliner/codegen.ts
 * writes it; test/oneliner checks its layout against this object's BTF). One entry per attached
 * tracepoint, selected by the attach cookie: which fields to read and where, the predicates,
 * the key and the action. No code is generated: the program is fixed, signed and verified.
 */
#ifndef GENERIC_TP_H
#define GENERIC_TP_H

#define GTP_MAX_PROBES 16
#define GTP_MAX_PREDS 4
#define GTP_MAX_OPS 16
#define GTP_MAX_KEYS 2
#define GTP_MAX_ARGS 4
#define GTP_STR_CAP 64
#define GTP_KEY_SLOT 64
#define GTP_HIST_SLOTS 66
#define GTP_STACK_DEPTH 127 /* frames kept per stack (PERF_MAX_STACK_DEPTH) */

/* Where an operand's value comes from. */
enum gtp_src {
	GTP_SRC_NONE = 0,
	GTP_SRC_FIELD = 1,  /* a tracepoint field at offset/size */
	GTP_SRC_PID = 2,    /* tgid */
	GTP_SRC_TID = 3,
	GTP_SRC_UID = 4,
	GTP_SRC_CGROUP = 5, /* cgroup v2 id */
	GTP_SRC_PROBE = 6,  /* the attachment's index (its cookie) */
	GTP_SRC_COMM = 7,   /* string */
	GTP_SRC_ARG = 8,    /* uprobe/USDT argument, its index in offset (a user string if is_str) */
	GTP_SRC_RETVAL = 9, /* uretprobe return value */
	GTP_SRC_KSTACK = 10, /* map keys only: a kernel stack id into `stacks` */
	GTP_SRC_USTACK = 11, /* map keys only: a user stack id, and the tgid at byte 8 */
};

/* How a field is read. */
enum gtp_read {
	GTP_READ_INT = 0,       /* size 1/2/4/8, sign-extended if is_signed */
	GTP_READ_DATA_LOC = 1,  /* __data_loc char[]: u32 (len << 16 | offset in the record) */
	GTP_READ_REL_LOC = 2,   /* __rel_loc char[]: offset from the end of the u32 */
	GTP_READ_USER_STR = 3,  /* char * into user memory (syscalls) */
	GTP_READ_KERNEL_STR = 4,/* char * into kernel memory */
	GTP_READ_CHARS = 5,     /* char name[size] in the record */
};

struct gtp_operand {
	__u8 src;
	__u8 read;
	__u8 size;
	__u8 is_signed;
	__u16 offset;
	__u16 is_str; /* 1: a string operand (comm or a string field) */
};

enum gtp_cmp { GTP_EQ = 0, GTP_NE = 1, GTP_LT = 2, GTP_LE = 3, GTP_GT = 4, GTP_GE = 5 };

struct gtp_pred {
	struct gtp_operand lhs;
	__u32 op;
	__u32 pad;
	__s64 value;
	char str[GTP_STR_CAP] __attribute__((aligned(8))); /* zero-padded */
};

/* The predicate program, postfix: 1..4 pushes predicate n-1, then AND, OR, NOT; END stops. */
enum gtp_bool { GTP_B_END = 0, GTP_B_AND = 0x10, GTP_B_OR = 0x11, GTP_B_NOT = 0x12 };

enum gtp_action {
	GTP_ACT_COUNT = 0, GTP_ACT_SUM = 1, GTP_ACT_MIN = 2, GTP_ACT_MAX = 3, GTP_ACT_AVG = 4,
	GTP_ACT_HIST = 5, GTP_ACT_LHIST = 6, GTP_ACT_EVENT = 7,
};

struct gtp_probe {
	__u32 enabled;
	__u32 action;
	__u32 npreds;
	__u32 nkeys;
	__u32 nargs;
	__u32 pad;
	__u8 ops[GTP_MAX_OPS];
	struct gtp_pred preds[GTP_MAX_PREDS];
	struct gtp_operand keys[GTP_MAX_KEYS];
	struct gtp_operand value;          /* sum/min/max/avg/hist/lhist */
	struct gtp_operand args[GTP_MAX_ARGS]; /* printf */
	__s64 lhist_min;
	__s64 lhist_max;
	__s64 lhist_step;
};

/* Key slots: an integer in the first 8 bytes, or a NUL-terminated string. */
struct gtp_key {
	char slot[GTP_MAX_KEYS][GTP_KEY_SLOT];
};

struct gtp_value {
	__u64 count;
	__s64 sum;
	__s64 min;
	__s64 max;
	__u64 slots[GTP_HIST_SLOTS];
};

struct gtp_event {
	__u32 probe;
	__u32 nargs;
	__s64 int0;
	__s64 int1;
	__s64 int2;
	__s64 int3;
	char str0[GTP_STR_CAP];
	char str1[GTP_STR_CAP];
	char str2[GTP_STR_CAP];
	char str3[GTP_STR_CAP];
};

#endif
