// SPDX-License-Identifier: GPL-2.0
/*
 * Syscall counts and total latency, per syscall or per process, from raw_syscalls sys_enter/sys_exit.
 * A call is counted at exit (so calls that never return - exit, a successful execve - are not).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfctl.bpf.h"
#include "syscount.h"

const volatile bool per_process = false;
/* Only calls that returned an error (-4095..-1). */
const volatile bool errors_only = false;

struct start {
	__u64 ts;
	__u64 nr;
};

/* In-flight calls by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct start);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct syscount_key);
	__type(value, struct syscount_value);
} counts SEC(".maps");

static __always_inline int on_enter(long nr)
{
	if (nr < 0)
		return 0;
	if (!target_matches())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct start s = { .ts = bpf_ktime_get_ns(), .nr = nr };
	bpf_map_update_elem(&starts, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct start *s = bpf_map_lookup_elem(&starts, &tid);
	if (!s)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - s->ts;
	struct syscount_key key = { .id = per_process ? (__u32)(id >> 32) : (__u32)s->nr };
	bpf_map_delete_elem(&starts, &tid);
	if (errors_only && !(ret < 0 && ret >= -4095))
		return 0;
	if (!admit_event())
		return 0;
	struct syscount_value *v = bpf_map_lookup_elem(&counts, &key);
	if (!v) {
		struct syscount_value zero = {};
		bpf_map_update_elem(&counts, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&counts, &key);
		if (!v) {
			/* No room in the aggregation map: counted with the other "no room" drops. */
			stat_add(STAT_DROPPED_RINGBUF);
			return 0;
		}
	}
	__sync_fetch_and_add(&v->count, 1);
	/*
	 * The name is taken in the kernel, so it outlives the process; on every call, as libbpf-tools'
	 * save_proc_name does, because exec changes it (a forked child starts with its parent's).
	 */
	if (per_process)
		bpf_get_current_comm(v->comm, sizeof(v->comm));
	__sync_fetch_and_add(&v->total_ns, delta);
	/* Aggregated: for an aggregate recipe "submitted" means "in the map". */
	stat_add(STAT_SUBMITTED);
	return 0;
}

/* raw_tp: args are (struct pt_regs *regs, long id) / (struct pt_regs *regs, long ret). */
SEC("raw_tp/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	return on_enter((long)ctx->args[1]);
}

SEC("raw_tp/sys_exit")
int raw_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	return on_exit((long)ctx->args[1]);
}

SEC("tracepoint/raw_syscalls/sys_enter")
int tp_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->id);
}

SEC("tracepoint/raw_syscalls/sys_exit")
int tp_sys_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}
