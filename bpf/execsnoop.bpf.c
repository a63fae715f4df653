// SPDX-License-Identifier: GPL-2.0
/* exec() calls: filename and argv captured at entry, result and new comm at exit. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "ebpfctl.bpf.h"
#include "execsnoop.h"

/* -x: only failed exec() calls (ret < 0). */
const volatile bool targ_failed = false;

EVENTS_RINGBUF(events, 1024 * 1024);
EVENT_TYPE(struct exec_event);

/* In-flight execs between entry and exit, keyed by pid; bounded, oldest evicted first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct exec_event);
} execs SEC(".maps");

static const struct exec_event empty_event = {};

SEC("tracepoint/syscalls/sys_enter_execve")
int tp_execve_enter(struct trace_event_raw_sys_enter *ctx)
{
	if (!current_task_matches())
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 pid = (__u32)id;
	if (bpf_map_update_elem(&execs, &pid, &empty_event, BPF_ANY))
		return 0;
	struct exec_event *e = bpf_map_lookup_elem(&execs, &pid);
	if (!e)
		return 0;

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = tgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->uid = (__u32)bpf_get_current_uid_gid();
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), (const char *)ctx->args[0]);

	const char **argv = (const char **)ctx->args[1];
	const char *argp;
#pragma unroll
	for (int i = 0; i < EXEC_MAX_ARGS; i++) {
		if (bpf_probe_read_user(&argp, sizeof(argp), &argv[i]) || !argp)
			break;
		if (e->args_size > EXEC_ARGS_LEN - EXEC_ARG_LEN)
			break;
		long n = bpf_probe_read_user_str(&e->args[e->args_size], EXEC_ARG_LEN, argp);
		if (n <= 0)
			break;
		e->args_count++;
		e->args_size += n;
		/* An argument cut at EXEC_ARG_LEN: the reader marks the list truncated (" ..."). */
		if (n == EXEC_ARG_LEN)
			e->args_truncated = 1;
	}
	/* More arguments than were copied (count or space ran out). */
	if (e->args_count && bpf_probe_read_user(&argp, sizeof(argp), &argv[e->args_count]) == 0 && argp)
		e->args_truncated = 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_execve")
int tp_execve_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u32 pid = (__u32)bpf_get_current_pid_tgid();
	struct exec_event *stored = bpf_map_lookup_elem(&execs, &pid);
	if (!stored)
		return 0;
	if (targ_failed && ctx->ret >= 0)
		goto out;
	char comm[TASK_COMM_LEN];
	bpf_get_current_comm(comm, sizeof(comm));
	if (!comm_matches(comm))
		goto out;
	struct exec_event *e = reserve_event(&events, struct exec_event);
	if (!e)
		goto out;
	/* Too large for an inline copy; map value to ring buffer memory. */
	bpf_probe_read_kernel(e, sizeof(*e), stored);
	e->ret = ctx->ret;
	__builtin_memcpy(e->comm, comm, sizeof(comm));
	submit_event(&events, e);
out:
	bpf_map_delete_elem(&execs, &pid);
	return 0;
}
