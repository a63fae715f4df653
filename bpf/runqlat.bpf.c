// SPDX-License-Identifier: GPL-2.0
/*
 * Run-queue (scheduler) latency: time from a task becoming runnable (wakeup, or preempted while
 * runnable) to running on a CPU, as a log2 histogram in microseconds.
 * Three program sets, one per attach type: tp_btf (BTF-typed tasks), raw_tp (BPF_CORE_READ of the
 * task pointers in ctx->args, needs bpf_probe_read_kernel, unavailable under
 * lockdown=confidentiality), tracepoint (the records' own pid/comm fields only).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ebpfctl.bpf.h"
#include "runqlat.h"
#include "histogram.bpf.h"

#define TASK_RUNNING 0
/* sched_switch's tracepoint prev_state carries TASK_REPORT_MAX (0x100) when prev was preempted. */
#define TP_PREEMPTED 0x100

const volatile bool per_process = false;

/* Before 5.14 the task's state was `state` (renamed `__state`): CO-RE picks whichever exists. */
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

static __always_inline bool btf_task_running(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return t->__state == TASK_RUNNING;
	return ((struct task_struct___pre514 *)t)->state == TASK_RUNNING;
}

static __always_inline bool raw_task_running(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state) == TASK_RUNNING;
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state) == TASK_RUNNING;
}

/* Enqueue time by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct hist_key);
	__type(value, struct hist);
} hists SEC(".maps");

/* Filters apply to the task being scheduled, not to current (the waker). */
static __always_inline bool task_matches(__u32 tgid, const char *comm)
{
	if (targ_tgid && tgid != targ_tgid)
		return false;
	return comm_matches(comm);
}

/* tid 0 is every CPU's idle task (swapper/N): never enqueued, as in libbpf-tools' runqlat. */
static __always_inline void enqueue(__u32 tid)
{
	if (!tid)
		return;
	__u64 ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &tid, &ts, BPF_ANY);
}

static __always_inline void record(__u32 tid, __u32 key_pid, const char *comm)
{
	if (!tid)
		return;
	__u64 *tsp = bpf_map_lookup_elem(&start, &tid);
	if (!tsp)
		return;
	__u64 delta_us = (bpf_ktime_get_ns() - *tsp) / 1000;
	bpf_map_delete_elem(&start, &tid);
	if (!admit_event())
		return;
	struct hist_key key = {};
	if (per_process) {
		key.pid = key_pid;
		__builtin_memcpy(key.comm, comm, sizeof(key.comm));
	}
	struct hist *h = bpf_map_lookup_elem(&hists, &key);
	if (!h) {
		static const struct hist zero;
		bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h) {
			/* No room in the aggregation map: counted with the other "no room" drops. */
			stat_add(STAT_DROPPED_RINGBUF);
			return;
		}
	}
	hist_add(h, delta_us);
	/* Aggregated: for an aggregate recipe "submitted" means "in the map". */
	stat_add(STAT_SUBMITTED);
}

/* ---- tp_btf: direct reads of BTF-typed tasks ---- */

static __always_inline void btf_enqueue(struct task_struct *p)
{
	char comm[TASK_COMM_LEN];
	__builtin_memcpy(comm, p->comm, sizeof(comm));
	if (task_matches(p->tgid, comm))
		enqueue(p->pid);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(btf_sched_wakeup, struct task_struct *p)
{
	btf_enqueue(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(btf_sched_wakeup_new, struct task_struct *p)
{
	btf_enqueue(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(btf_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	if (btf_task_running(prev))
		btf_enqueue(prev);
	char comm[TASK_COMM_LEN];
	__builtin_memcpy(comm, next->comm, sizeof(comm));
	record(next->pid, next->tgid, comm);
	return 0;
}

/* ---- raw_tp: untyped u64 args, CO-RE reads through bpf_probe_read_kernel ---- */

static __always_inline void raw_enqueue(struct task_struct *p)
{
	char comm[TASK_COMM_LEN];
	BPF_CORE_READ_STR_INTO(&comm, p, comm);
	if (task_matches(BPF_CORE_READ(p, tgid), comm))
		enqueue(BPF_CORE_READ(p, pid));
}

SEC("raw_tp/sched_wakeup")
int raw_sched_wakeup(struct bpf_raw_tracepoint_args *ctx)
{
	raw_enqueue((struct task_struct *)ctx->args[0]);
	return 0;
}

SEC("raw_tp/sched_wakeup_new")
int raw_sched_wakeup_new(struct bpf_raw_tracepoint_args *ctx)
{
	raw_enqueue((struct task_struct *)ctx->args[0]);
	return 0;
}

SEC("raw_tp/sched_switch")
int raw_sched_switch(struct bpf_raw_tracepoint_args *ctx)
{
	/* (bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state) */
	struct task_struct *prev = (struct task_struct *)ctx->args[1];
	struct task_struct *next = (struct task_struct *)ctx->args[2];
	if (raw_task_running(prev))
		raw_enqueue(prev);
	char comm[TASK_COMM_LEN];
	BPF_CORE_READ_STR_INTO(&comm, next, comm);
	record(BPF_CORE_READ(next, pid), BPF_CORE_READ(next, tgid), comm);
	return 0;
}

/* ---- tracepoint: the records' fields only; thread ids stand in for process ids ---- */

/*
 * ctx loads must use the ctx register plus a constant offset (the verifier rejects ctx + variable,
 * and clang 14 may otherwise fold the comm copy into a moved base pointer): inline asm pins that.
 */
#define CTX_U32(ctx, off)                                                         \
	({                                                                        \
		__u32 __v;                                                        \
		asm volatile("%0 = *(u32 *)(%1 + %2)" : "=r"(__v) : "r"(ctx), "i"(off)); \
		__v;                                                              \
	})
#define COPY_CTX_COMM(dst, ctx, type, field)                                      \
	do {                                                                      \
		((__u32 *)(dst))[0] = CTX_U32(ctx, __builtin_offsetof(type, field) + 0);  \
		((__u32 *)(dst))[1] = CTX_U32(ctx, __builtin_offsetof(type, field) + 4);  \
		((__u32 *)(dst))[2] = CTX_U32(ctx, __builtin_offsetof(type, field) + 8);  \
		((__u32 *)(dst))[3] = CTX_U32(ctx, __builtin_offsetof(type, field) + 12); \
	} while (0)

static __always_inline void tp_enqueue(struct trace_event_raw_sched_wakeup_template *ctx)
{
	char comm[TASK_COMM_LEN];
	COPY_CTX_COMM(comm, ctx, struct trace_event_raw_sched_wakeup_template, comm);
	if (task_matches(ctx->pid, comm))
		enqueue(ctx->pid);
}

SEC("tracepoint/sched/sched_wakeup")
int tp_sched_wakeup(struct trace_event_raw_sched_wakeup_template *ctx)
{
	tp_enqueue(ctx);
	return 0;
}

SEC("tracepoint/sched/sched_wakeup_new")
int tp_sched_wakeup_new(struct trace_event_raw_sched_wakeup_template *ctx)
{
	tp_enqueue(ctx);
	return 0;
}

SEC("tracepoint/sched/sched_switch")
int tp_sched_switch(struct trace_event_raw_sched_switch *ctx)
{
	long state = ctx->prev_state;
	char comm[TASK_COMM_LEN];
	if (state == TASK_RUNNING || (state & TP_PREEMPTED)) {
		COPY_CTX_COMM(comm, ctx, struct trace_event_raw_sched_switch, prev_comm);
		if (task_matches(ctx->prev_pid, comm))
			enqueue(ctx->prev_pid);
	}
	COPY_CTX_COMM(comm, ctx, struct trace_event_raw_sched_switch, next_comm);
	record(ctx->next_pid, ctx->next_pid, comm);
	return 0;
}
