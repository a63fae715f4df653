// SPDX-License-Identifier: GPL-2.0
/* open()/openat() calls: path and flags at entry, fd or errno at exit. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfctl.bpf.h"
#include "opensnoop.h"

EVENTS_RINGBUF(events, 1024 * 1024);
EVENT_TYPE(struct open_event);

const volatile bool errors_only = false;

struct open_args {
	const char *path;
	__s32 flags;
	__u32 mode;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct open_args);
} opens SEC(".maps");

static __always_inline int on_enter(const char *path, __s32 flags, __u32 mode)
{
	if (!target_matches())
		return 0;
	/* Admit at entry when every call becomes an event: a rate-capped storm then costs no map work. */
	if (!errors_only && !admit_early())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct open_args a = { .path = path, .flags = flags, .mode = mode };
	bpf_map_update_elem(&opens, &tid, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_openat_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[1], (__s32)ctx->args[2], (__u32)ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_enter_open")
int tp_open_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((const char *)ctx->args[0], (__s32)ctx->args[1], (__u32)ctx->args[2]);
}

static __always_inline int on_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct open_args *a = bpf_map_lookup_elem(&opens, &tid);
	if (!a)
		return 0;
	struct open_event *e;
	if (errors_only) {
		if (ret >= 0 || !admit_event())
			goto out;
	} else {
		produce_admitted();
	}
	e = reserve_admitted(&events, struct open_event);
	if (!e)
		goto out;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = tid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = ret;
	e->flags = a->flags;
	e->mode = a->mode;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->path, sizeof(e->path), a->path);
	submit_event(&events, e);
out:
	bpf_map_delete_elem(&opens, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_openat")
int tp_openat_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_open")
int tp_open_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit(ctx->ret);
}
