// SPDX-License-Identifier: GPL-2.0
/*
 * Active TCP connects, IPv4 and IPv6. tcp_connect() runs in the connecting process once the route,
 * source address and source port are chosen, so one hook covers both families (BCC hooks
 * tcp_v4_connect/tcp_v6_connect with a kprobe/kretprobe pair, which needs two programs).
 * Fallback: sock:inet_sock_set_state's CLOSE -> SYN_SENT transition, which fires earlier in
 * tcp_v{4,6}_connect, before the source port is picked.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "ebpfctl.bpf.h"
#include "tcpconnect.h"

#define IPPROTO_TCP 6
#define TCP_SYN_SENT_STATE 2
#define TCP_CLOSE_STATE 7

EVENTS_RINGBUF(events, 256 * 1024);
/* Keeps struct connect_event in the object's BTF (a ring buffer map carries no value type; user space
 * decodes events by member name from BTF). 8 bytes of .rodata, never read. */
const struct connect_event *const ebpfctl_event_type = 0;

/* Destination port filter, host byte order (0 = any). */
const volatile __u16 targ_port = 0;

static __always_inline struct connect_event *new_event(__u16 family, __u16 dport)
{
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	if (targ_port && dport != targ_port)
		return NULL;
	if (!target_matches())
		return NULL;
	struct connect_event *e = reserve_event(&events, struct connect_event);
	if (!e)
		return NULL;
	__u64 id = bpf_get_current_pid_tgid();
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->uid = (__u32)bpf_get_current_uid_gid();
	e->family = family;
	e->dport = dport;
	e->__pad = 0;
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

/* BTF-typed sk: direct loads. */
SEC("fentry/tcp_connect")
int BPF_PROG(fentry_tcp_connect, struct sock *sk)
{
	struct sock_common *c = &sk->__sk_common;
	__u16 family = c->skc_family;
	struct connect_event *e = new_event(family, bpf_ntohs(c->skc_dport));
	if (!e)
		return 0;
	e->sport = c->skc_num;
	if (family == AF_INET) {
		__builtin_memcpy(e->saddr, &c->skc_rcv_saddr, 4);
		__builtin_memcpy(e->daddr, &c->skc_daddr, 4);
	} else {
		__builtin_memcpy(e->saddr, c->skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
		__builtin_memcpy(e->daddr, c->skc_v6_daddr.in6_u.u6_addr8, 16);
	}
	submit_event(&events, e);
	return 0;
}

SEC("kprobe/tcp_connect")
int BPF_KPROBE(kprobe_tcp_connect, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	struct connect_event *e = new_event(family, bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)));
	if (!e)
		return 0;
	e->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)e->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)e->daddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO((struct in6_addr *)e->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO((struct in6_addr *)e->daddr, sk, __sk_common.skc_v6_daddr);
	}
	submit_event(&events, e);
	return 0;
}

/*
 * ctx accesses must use constant offsets: volatile loads stop clang from merging the v4 and v6
 * copies into one "ctx + variable offset" pointer, which the verifier rejects.
 */
static __always_inline void copy_tp_addrs(struct connect_event *e, struct trace_event_raw_inet_sock_set_state *ctx,
					  __u16 family)
{
	if (family == AF_INET) {
		*(__u32 *)e->saddr = *(volatile __u32 *)ctx->saddr;
		*(__u32 *)e->daddr = *(volatile __u32 *)ctx->daddr;
	} else {
		((__u64 *)e->saddr)[0] = *(volatile __u64 *)&ctx->saddr_v6[0];
		((__u64 *)e->saddr)[1] = *(volatile __u64 *)&ctx->saddr_v6[8];
		((__u64 *)e->daddr)[0] = *(volatile __u64 *)&ctx->daddr_v6[0];
		((__u64 *)e->daddr)[1] = *(volatile __u64 *)&ctx->daddr_v6[8];
	}
}

/* Only the tracepoint's own fields: no kernel memory reads, so it works under any lockdown. */
SEC("tracepoint/sock/inet_sock_set_state")
int tp_inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP || ctx->newstate != TCP_SYN_SENT_STATE || ctx->oldstate != TCP_CLOSE_STATE)
		return 0;
	__u16 family = ctx->family;
	struct connect_event *e = new_event(family, ctx->dport);
	if (!e)
		return 0;
	e->sport = ctx->sport;
	copy_tp_addrs(e, ctx, family);
	submit_event(&events, e);
	return 0;
}
