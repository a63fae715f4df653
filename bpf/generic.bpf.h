/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The body every generic one-liner program shares (generic_tp, generic_up, generic_usdt): the
 * table in .rodata (generic_tp.h), predicates, aggregation into `agg` and printf events. Each
 * program defines, before including this, GEN_NPROBES (table entries) and how its own operand
 * sources are read: gen_src_value() (tracepoint fields) and gen_src_str() (strings other than
 * comm), or, for user-space probes, GEN_USER_ARGS with gen_arg() and gen_retval(). Then its entry
 * point calls generic_run(), or generic_run_ctx() when the operands come from a copy of the
 * registers (generic_up) while stack keys need the program's own context, or generic_run_entry()
 * when the table entry and the probe id differ (generic_tp, one entry for every attachment).
 */
#ifndef GENERIC_BPF_H
#define GENERIC_BPF_H

#include "ebpfctl.bpf.h"
#include "generic_tp.h"

const volatile struct gtp_probe gtp_cfg[GEN_NPROBES] = {};

#ifdef GEN_USER_ARGS
static __always_inline __s64 gen_src_value(void *ctx, const volatile struct gtp_operand *op)
{
	if (op->src == GTP_SRC_ARG)
		return gen_arg(ctx, op->offset);
	if (op->src == GTP_SRC_RETVAL)
		return gen_retval(ctx);
	return 0;
}

/* str(argN): the argument is a pointer into the traced process's memory. */
static __always_inline void gen_src_str(void *ctx, const volatile struct gtp_operand *op, char *dst)
{
	if (op->src != GTP_SRC_ARG)
		return;
	bpf_probe_read_user_str(dst, GTP_STR_CAP, (const void *)gen_arg(ctx, op->offset));
}
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct gtp_key);
	__type(value, struct gtp_value);
} agg SEC(".maps");

/* Stack keys (kstack, ustack): ids into this map. Sized per run by user space (1 entry when the
 * one-liner has no stack key), and counted in its worst-case cost. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(value_size, GTP_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

EVENTS_RINGBUF(events, 1 << 20);
EVENT_TYPE(struct gtp_event);

/* A zeroed value to insert, and a key buffer: both too large for comfort on the stack. */
struct scratch {
	struct gtp_key key;
	struct gtp_value zero;
	char str[GTP_STR_CAP];
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/* A string operand into dst[GTP_STR_CAP], always NUL-terminated. */
static __always_inline void read_str(void *ctx, const volatile struct gtp_operand *op, char *dst)
{
	/* dst comes zeroed (key, event, predicate buffer): strings stay zero-padded. */
	dst[0] = 0;
	if (op->src == GTP_SRC_COMM) {
		bpf_get_current_comm(dst, TASK_COMM_LEN);
		return;
	}
	gen_src_str(ctx, op, dst);
}

static __always_inline __s64 read_value(void *ctx, const volatile struct gtp_operand *op, __u32 probe)
{
	switch (op->src) {
	/* Only the sources this program has: every case is a path for the verifier to walk. */
#ifdef GEN_USER_ARGS
	case GTP_SRC_ARG:
	case GTP_SRC_RETVAL:
#else
	case GTP_SRC_FIELD:
#endif
		return gen_src_value(ctx, op);
	case GTP_SRC_PID:
		return bpf_get_current_pid_tgid() >> 32;
	case GTP_SRC_TID:
		return (__u32)bpf_get_current_pid_tgid();
	case GTP_SRC_UID:
		return (__u32)bpf_get_current_uid_gid();
	case GTP_SRC_CGROUP:
		return bpf_get_current_cgroup_id();
	case GTP_SRC_PROBE:
		return probe;
	}
	return 0;
}

static __always_inline bool pred_holds(void *ctx, const volatile struct gtp_pred *p, __u32 probe, char *buf)
{
	__u32 op = p->op;
	if (p->lhs.is_str) {
		__builtin_memset(buf, 0, GTP_STR_CAP);
		read_str(ctx, &p->lhs, buf);
		/* Both sides are zero-padded to GTP_STR_CAP (the table by user space, buf by read_str). */
		const __u64 *a = (const __u64 *)buf;
		const volatile __u64 *b = (const volatile __u64 *)p->str;
		__u64 diff = 0;
#pragma unroll
		for (int i = 0; i < GTP_STR_CAP / 8; i++)
			diff |= a[i] ^ b[i];
		return op == GTP_NE ? diff != 0 : diff == 0;
	}
	__s64 v = read_value(ctx, &p->lhs, probe);
	__s64 c = p->value;
	switch (op) {
	case GTP_EQ: return v == c;
	case GTP_NE: return v != c;
	case GTP_LT: return v < c;
	case GTP_LE: return v <= c;
	case GTP_GT: return v > c;
	case GTP_GE: return v >= c;
	}
	return false;
}

/* The postfix predicate program over a bit stack (depth <= GTP_MAX_OPS). */
static __always_inline bool predicates_hold(void *ctx, const volatile struct gtp_probe *cfg, __u32 probe, char *buf)
{
	if (!cfg->npreds)
		return true;
	__u32 results = 0;
	for (int i = 0; i < GTP_MAX_PREDS; i++)
		if (i < cfg->npreds && pred_holds(ctx, &cfg->preds[i], probe, buf))
			results |= 1u << i;
	__u32 stack = 0, depth = 0;
	for (int i = 0; i < GTP_MAX_OPS; i++) {
		__u8 o = cfg->ops[i];
		if (o == GTP_B_END)
			break;
		if (o >= 1 && o <= GTP_MAX_PREDS) {
			stack = (stack << 1) | ((results >> (o - 1)) & 1);
			depth++;
		} else if (o == GTP_B_NOT) {
			stack ^= 1;
		} else if (depth >= 2) {
			__u32 a = stack & 1, b = (stack >> 1) & 1;
			stack = (stack >> 2) << 1 | (o == GTP_B_AND ? (a & b) : (a | b));
			depth--;
		}
	}
	return stack & 1;
}

static __always_inline __u32 log2_slot(__s64 v)
{
	if (v < 0)
		return 0;
	if (v == 0)
		return 1;
	__u64 x = v;
	__u32 r = 0;
	for (int i = 32; i > 0; i >>= 1) {
		if (x >> i) {
			x >>= i;
			r += i;
		}
	}
	return r + 2;
}

static __always_inline void fetch_min_max(__s64 *slot, __s64 v, bool is_min)
{
	for (int i = 0; i < 4; i++) {
		__s64 cur = *slot;
		if (is_min ? cur <= v : cur >= v)
			return;
		if (!fetch_atomics) {
			/* No cmpxchg before 5.12: a racing update on another CPU may win. */
			*slot = v;
			return;
		}
		if (__sync_val_compare_and_swap(slot, cur, v) == cur)
			return;
	}
}

/*
 * A stack key: the id (negative: the stack was lost, e.g. -EEXIST on a bucket collision, -EFAULT
 * with no user stack) in the first 8 bytes; a user stack also keeps its tgid at byte 8, which
 * user space needs to symbolise it (/proc/PID/maps), as bpftrace keys ustack.
 */
static __always_inline void stack_key(void *prog_ctx, __u8 src, char *slot)
{
	/* Branch-free on purpose: fewer states for the verifier on generic_tp's cookie path. */
	__u64 user = (__u64)(src - GTP_SRC_KSTACK) & 1;
	*(__s64 *)slot = bpf_get_stackid(prog_ctx, &stacks, user * BPF_F_USER_STACK);
	*(__u32 *)(slot + 8) = (__u32)(bpf_get_current_pid_tgid() >> 32) & -(__u32)user;
}

static __always_inline int aggregate(void *ctx, void *prog_ctx, const volatile struct gtp_probe *cfg, __u32 probe, struct scratch *s)
{
	__builtin_memset(&s->key, 0, sizeof(s->key));
	for (int k = 0; k < GTP_MAX_KEYS; k++) {
		if (k >= cfg->nkeys)
			break;
		const volatile struct gtp_operand *op = &cfg->keys[k];
		if (op->is_str)
			read_str(ctx, op, s->key.slot[k]);
		else if (op->src >= GTP_SRC_KSTACK)
			stack_key(prog_ctx, op->src, s->key.slot[k]);
		else
			*(__s64 *)s->key.slot[k] = read_value(ctx, op, probe);
	}
	__u32 action = cfg->action;
	__s64 v = action == GTP_ACT_COUNT ? 1 : read_value(ctx, &cfg->value, probe);
	struct gtp_value *val = bpf_map_lookup_elem(&agg, &s->key);
	if (!val) {
		__builtin_memset(&s->zero, 0, sizeof(s->zero));
		s->zero.min = v;
		s->zero.max = v;
		bpf_map_update_elem(&agg, &s->key, &s->zero, BPF_NOEXIST);
		val = bpf_map_lookup_elem(&agg, &s->key);
		if (!val) {
			stat_add(STAT_DROPPED_RINGBUF);
			return 0;
		}
	}
	__sync_fetch_and_add(&val->count, 1);
	__sync_fetch_and_add(&val->sum, v);
	if (action == GTP_ACT_MIN || action == GTP_ACT_AVG)
		fetch_min_max(&val->min, v, true);
	if (action == GTP_ACT_MAX || action == GTP_ACT_AVG)
		fetch_min_max(&val->max, v, false);
	if (action == GTP_ACT_HIST) {
		__u32 slot = log2_slot(v);
		if (slot < GTP_HIST_SLOTS)
			__sync_fetch_and_add(&val->slots[slot], 1);
	} else if (action == GTP_ACT_LHIST) {
		/* slot 0: below min; 1..n: [min + (i-1)*step, +step); last: at or above max */
		__s64 step = cfg->lhist_step > 0 ? cfg->lhist_step : 1;
		__u64 slot;
		if (v < cfg->lhist_min)
			slot = 0;
		else if (v >= cfg->lhist_max)
			slot = ((__u64)(cfg->lhist_max - cfg->lhist_min) + step - 1) / step + 1;
		else
			slot = (__u64)(v - cfg->lhist_min) / step + 1;
		if (slot < GTP_HIST_SLOTS)
			__sync_fetch_and_add(&val->slots[slot], 1);
	}
	stat_add(STAT_SUBMITTED);
	return 0;
}

static __always_inline void event_arg(void *ctx, const volatile struct gtp_operand *op, __u32 probe, __s64 *i, char *s)
{
	if (op->is_str)
		read_str(ctx, op, s);
	else
		*i = read_value(ctx, op, probe);
}

/* Everything after the entry point chose the table entry: predicates, rate cap, then the action. */
static __always_inline int generic_run_entry(void *ctx, void *prog_ctx, __u32 entry, __u32 probe)
{
	const volatile struct gtp_probe *cfg = &gtp_cfg[entry];
	if (!cfg->enabled)
		return 0;
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 0;
	if (!predicates_hold(ctx, cfg, probe, s->str))
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (!admit_at(now))
		return 0;
	if (cfg->action != GTP_ACT_EVENT)
		return aggregate(ctx, prog_ctx, cfg, probe, s);
	struct gtp_event *e = reserve_admitted(&events, struct gtp_event);
	if (!e)
		return 0;
	e->probe = probe;
	e->nargs = cfg->nargs;
	e->int0 = e->int1 = e->int2 = e->int3 = 0;
	/* Ring buffer memory is reused: unused string slots are zeroed, never stale. */
	__builtin_memset(e->str0, 0, GTP_STR_CAP);
	__builtin_memset(e->str1, 0, GTP_STR_CAP);
	__builtin_memset(e->str2, 0, GTP_STR_CAP);
	__builtin_memset(e->str3, 0, GTP_STR_CAP);
	if (cfg->nargs > 0)
		event_arg(ctx, &cfg->args[0], probe, &e->int0, e->str0);
	if (cfg->nargs > 1)
		event_arg(ctx, &cfg->args[1], probe, &e->int1, e->str1);
	if (cfg->nargs > 2)
		event_arg(ctx, &cfg->args[2], probe, &e->int2, e->str2);
	if (cfg->nargs > 3)
		event_arg(ctx, &cfg->args[3], probe, &e->int3, e->str3);
	submit_event_at(&events, e, now);
	return 0;
}

/* The table entry and the probe id (the `probe` builtin) are one index, except on generic_tp. */
#define generic_run_ctx(ctx, prog_ctx, probe) generic_run_entry(ctx, prog_ctx, probe, probe)
#define generic_run(ctx, probe) generic_run_ctx(ctx, ctx, probe)

#endif
