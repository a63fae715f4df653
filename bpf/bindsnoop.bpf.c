// SPDX-License-Identifier: GPL-2.0
/*
 * bind(2) of IPv4/IPv6 sockets from the syscall tracepoints: the sockaddr is read from user memory
 * at entry, the result at exit. (BCC hooks inet_bind/inet6_bind with kprobes, which also gives
 * the protocol and socket options; that needs a kprobe/kretprobe pair per family.)
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "ebpfctl.bpf.h"
#include "bindsnoop.h"

EVENTS_RINGBUF(events, 256 * 1024);
/* Keeps struct bind_event in the object's BTF (a ring buffer map carries no value type; user space
 * decodes events by member name from BTF). 8 bytes of .rodata, never read. */
const struct bind_event *const ebpfctl_event_type = 0;

const volatile bool errors_only = false;
/* Port filter, host byte order (0 = any). */
const volatile __u16 targ_port = 0;

struct bind_args {
	__s32 fd;
	__u16 family;
	__u16 port;
	__u8 addr[16];
};

/* In-flight bind() calls by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct bind_args);
} binds SEC(".maps");

/* sockaddr_in6 is the largest we parse: family, port, flowinfo, addr[16], scope_id. */
struct sa_buf {
	__u16 family;
	__u16 port;
	__u32 v4_or_flow;
	__u8 v6[16];
	__u32 scope;
};

SEC("tracepoint/syscalls/sys_enter_bind")
int tp_bind_enter(struct trace_event_raw_sys_enter *ctx)
{
	if (!target_matches())
		return 0;
	struct sa_buf sa = {};
	__u64 len = ctx->args[2];
	if (len < 8)
		return 0;
	if (bpf_probe_read_user(&sa, len < sizeof(sa) ? 8 : sizeof(sa), (void *)ctx->args[1]))
		return 0;
	if (sa.family != AF_INET && sa.family != AF_INET6)
		return 0;
	struct bind_args a = {};
	a.fd = (__s32)ctx->args[0];
	a.family = sa.family;
	a.port = bpf_ntohs(sa.port);
	if (targ_port && a.port != targ_port)
		return 0;
	if (sa.family == AF_INET)
		__builtin_memcpy(a.addr, &sa.v4_or_flow, 4);
	else
		__builtin_memcpy(a.addr, sa.v6, 16);
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	bpf_map_update_elem(&binds, &tid, &a, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_bind")
int tp_bind_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct bind_args *a = bpf_map_lookup_elem(&binds, &tid);
	if (!a)
		return 0;
	long ret = ctx->ret;
	if (errors_only && ret >= 0)
		goto out;
	struct bind_event *e = reserve_event(&events, struct bind_event);
	if (!e)
		goto out;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = tid;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->ret = ret;
	e->fd = a->fd;
	e->family = a->family;
	e->port = a->port;
	__builtin_memcpy(e->addr, a->addr, sizeof(e->addr));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	submit_event(&events, e);
out:
	bpf_map_delete_elem(&binds, &tid);
	return 0;
}
