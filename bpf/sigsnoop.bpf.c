// SPDX-License-Identifier: GPL-2.0
/* Signals as they are generated: sender, target, signal number and whether it was delivered. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfctl.bpf.h"
#include "sigsnoop.h"

EVENTS_RINGBUF(events, 256 * 1024);
/* Keeps struct signal_event in the object's BTF (a ring buffer map carries no value type; user space
 * decodes events by member name from BTF). 8 bytes of .rodata, never read. */
const struct signal_event *const ebpfctl_event_type = 0;

/* Only this signal (0 = any). */
const volatile __s32 targ_sig = 0;
/* Only signals that were not delivered (result != TRACE_SIGNAL_DELIVERED). */
const volatile bool errors_only = false;

static __always_inline struct signal_event *new_event(int sig, int result, int code)
{
	if (targ_sig && sig != targ_sig)
		return NULL;
	if (errors_only && result == 0)
		return NULL;
	if (!target_matches())
		return NULL;
	struct signal_event *e = reserve_event(&events, struct signal_event);
	if (!e)
		return NULL;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->sig = sig;
	e->result = result;
	e->code = code;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

/* tp_btf: the target task is BTF-typed, so tpid is its process id (tgid), read directly. */
SEC("tp_btf/signal_generate")
int BPF_PROG(btf_signal_generate, int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
	     int result)
{
	int code = 0;
	/* info may be SEND_SIG_NOINFO (0) or SEND_SIG_PRIV (1), not a pointer. Kernels from 6.1x on
	 * type such an argument as a scalar ("may encode error"), so a direct load is rejected there:
	 * read it with a bounded probe read, which every kernel since 5.5 accepts. */
	if ((unsigned long)info > 1)
		bpf_probe_read_kernel(&code, sizeof(code), &info->si_code);
	struct signal_event *e = new_event(sig, result, code);
	if (!e)
		return 0;
	e->tpid = task->tgid;
	__builtin_memcpy(e->tcomm, task->comm, sizeof(e->tcomm));
	submit_event(&events, e);
	return 0;
}

SEC("tracepoint/signal/signal_generate")
int tp_signal_generate(struct trace_event_raw_signal_generate *ctx)
{
	struct signal_event *e = new_event(ctx->sig, ctx->result, ctx->code);
	if (!e)
		return 0;
	e->tpid = ctx->pid;
	/* Constant-offset ctx loads (comm sits at offset 20; the verifier rejects ctx + variable). */
	__u32 *dst = (__u32 *)e->tcomm;
	dst[0] = *(volatile __u32 *)&ctx->comm[0];
	dst[1] = *(volatile __u32 *)&ctx->comm[4];
	dst[2] = *(volatile __u32 *)&ctx->comm[8];
	dst[3] = *(volatile __u32 *)&ctx->comm[12];
	submit_event(&events, e);
	return 0;
}
