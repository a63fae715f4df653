// SPDX-License-Identifier: GPL-2.0
/* Process exits: exit code or killing signal, lifetime and parent, from sched_process_exit. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfctl.bpf.h"
#include "exitsnoop.h"

EVENTS_RINGBUF(events, 256 * 1024);
/* Keeps struct exit_event in the object's BTF (a ring buffer map carries no value type; user space
 * decodes events by member name from BTF). 8 bytes of .rodata, never read. */
const struct exit_event *const ebpfctl_event_type = 0;

/* errors_only: only exits with a non-zero code or a signal. threads: every thread, not only the
 * thread-group leader (set by user space only; not a CLI parameter). */
const volatile bool errors_only = false;
const volatile bool threads = false;

/*
 * Every field is read through a BTF-typed task pointer (tp_btf argument or
 * bpf_get_current_task_btf()): direct loads, no bpf_probe_read_kernel, so the program loads under
 * lockdown=confidentiality, where that helper is unavailable.
 */
static __always_inline int on_exit(struct task_struct *task)
{
	__u32 tgid = task->tgid;
	__u32 tid = task->pid;
	if (!threads && tgid != tid)
		return 0;
	if (!target_matches())
		return 0;
	int code = task->exit_code;
	if (errors_only && code == 0)
		return 0;
	struct exit_event *e = reserve_event(&events, struct exit_event);
	if (!e)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	e->ts_ns = now;
	e->lifetime_ns = now - task->start_time;
	e->pid = tgid;
	e->tid = tid;
	e->ppid = task->real_parent->tgid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->exit_code = (code >> 8) & 0xff;
	e->sig = code & 0x7f;
	e->core_dumped = (code & 0x80) ? 1 : 0;
	e->__pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	submit_event(&events, e);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(btf_process_exit, struct task_struct *task)
{
	return on_exit(task);
}

/* The tracepoint fires in the exiting task's context, so current is the task. */
SEC("tracepoint/sched/sched_process_exit")
int tp_process_exit(void *ctx)
{
	return on_exit(bpf_get_current_task_btf());
}
