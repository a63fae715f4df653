// SPDX-License-Identifier: GPL-2.0
/*
 * TCP session lifespans from sock:inet_sock_set_state: birth at the first state change seen,
 * owner at SYN_SENT / FIN_WAIT1 / LAST_ACK (process context), one event at TCP_CLOSE.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "ebpfctl.bpf.h"
#include "tcplife.h"

#define IPPROTO_TCP 6
enum {
	ST_ESTABLISHED = 1,
	ST_SYN_SENT = 2,
	ST_FIN_WAIT1 = 4,
	ST_CLOSE = 7,
	ST_LAST_ACK = 9,
};

EVENTS_RINGBUF(events, 256 * 1024);
/* Keeps struct life_event in the object's BTF (a ring buffer map carries no value type; user space
 * decodes events by member name from BTF). 8 bytes of .rodata, never read. */
const struct life_event *const ebpfctl_event_type = 0;

/* Local or remote port filter, host byte order (0 = any). */
const volatile __u16 targ_port = 0;

/* Socket address -> first-seen timestamp. Bounded; a socket evicted before close is not reported. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} birth SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct life_ident);
} idents SEC(".maps");

static __always_inline void record_ident(__u64 skey, __u64 flags)
{
	struct life_ident id = {};
	id.pid = bpf_get_current_pid_tgid() >> 32;
	id.uid = (__u32)bpf_get_current_uid_gid();
	bpf_get_current_comm(id.comm, sizeof(id.comm));
	bpf_map_update_elem(&idents, &skey, &id, flags);
}

/*
 * Bookkeeping for every transition. At TCP_CLOSE of a socket that passes the filters and is
 * admitted, fills the address-independent fields of *e (on the stack) and returns true.
 *
 * The ring buffer record is reserved by the caller, right before it is filled and submitted: a
 * reference returned from a helper and null-checked twice (here, then in the caller) is lost by
 * the 6.1 verifier, which does not treat a checked ring buffer pointer as non-NULL on the second
 * check and reports "Unreleased reference" on the impossible NULL path.
 */
static __always_inline bool on_state(struct life_event *e, __u64 skey, int newstate, __u16 sport,
				     __u16 dport)
{
	if (newstate < ST_FIN_WAIT1) {
		__u64 ts = bpf_ktime_get_ns();
		bpf_map_update_elem(&birth, &skey, &ts, BPF_NOEXIST);
	}
	if (newstate == ST_SYN_SENT)
		record_ident(skey, BPF_ANY);
	else if (newstate == ST_FIN_WAIT1 || newstate == ST_LAST_ACK)
		record_ident(skey, BPF_NOEXIST);
	if (newstate != ST_CLOSE)
		return false;

	bool report = false;
	__u64 *start = bpf_map_lookup_elem(&birth, &skey);
	if (!start)
		goto out;
	if (targ_port && sport != targ_port && dport != targ_port)
		goto out;
	struct life_ident cur = {}, *id = bpf_map_lookup_elem(&idents, &skey);
	if (!id) {
		cur.pid = bpf_get_current_pid_tgid() >> 32;
		cur.uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(cur.comm, sizeof(cur.comm));
		id = &cur;
	}
	if (targ_tgid && id->pid != targ_tgid)
		goto out;
	if (targ_uid != (__u32)-1 && id->uid != targ_uid)
		goto out;
	if (!comm_matches(id->comm))
		goto out;
	if (!admit_event())
		goto out;
	__u64 now = bpf_ktime_get_ns();
	e->ts_ns = now;
	e->span_ns = now - *start;
	e->pid = id->pid;
	e->uid = id->uid;
	__builtin_memcpy(e->comm, id->comm, sizeof(e->comm));
	e->sport = sport;
	e->dport = dport;
	report = true;
out:
	bpf_map_delete_elem(&birth, &skey);
	bpf_map_delete_elem(&idents, &skey);
	return report;
}

/* tp_btf: the sock is BTF-typed, so bytes come from tcp_sock without bpf_probe_read_kernel. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(btf_inet_sock_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	const struct sock_common *c = &sk->__sk_common;
	__u16 family = c->skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	/*
	 * The local port from inet_sport, as the tracepoint does: by TCP_CLOSE, inet_put_port() has
	 * already zeroed skc_num (inet_num) of a socket that owned its port (found by a test: every
	 * closed session reported sport 0).
	 */
	__u16 sport = tp ? bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport) : c->skc_num;
	struct life_event ev = {};
	if (!on_state(&ev, (__u64)sk, newstate, sport, bpf_ntohs(c->skc_dport)))
		return 0;
	ev.family = family;
	if (family == AF_INET) {
		__builtin_memcpy(ev.saddr, &c->skc_rcv_saddr, 4);
		__builtin_memcpy(ev.daddr, &c->skc_daddr, 4);
	} else {
		__builtin_memcpy(ev.saddr, c->skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
		__builtin_memcpy(ev.daddr, c->skc_v6_daddr.in6_u.u6_addr8, 16);
	}
	if (tp) {
		/*
		 * Payload bytes only. bytes_acked and bytes_received count sequence space, so the SYN and
		 * a FIN count one each (a 1234-byte session read 1236 acked, 1 + 1234 + 1). Sent: data
		 * octets out minus retransmitted ones. Received: rcv_nxt progress minus the peer's FIN,
		 * which tcp_fin() marks with SOCK_DONE.
		 */
		__u64 rx = tp->bytes_received;
		if (rx && (c->skc_flags & (1UL << SOCK_DONE)))
			rx--;
		ev.rx_bytes = rx;
		ev.tx_bytes = tp->bytes_sent - tp->bytes_retrans;
		ev.has_bytes = 1;
	}
	struct life_event *e = reserve_admitted(&events, struct life_event);
	if (!e)
		return 0;
	__builtin_memcpy(e, &ev, sizeof(ev));
	submit_event(&events, e);
	return 0;
}

/* Tracepoint: only the record's own fields (works under any lockdown); no byte counts. */
SEC("tracepoint/sock/inet_sock_set_state")
int tp_inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	__u16 family = ctx->family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	struct life_event ev = {};
	if (!on_state(&ev, (__u64)ctx->skaddr, ctx->newstate, ctx->sport, ctx->dport))
		return 0;
	ev.family = family;
	/* Volatile loads keep ctx offsets constant (the verifier rejects ctx + variable). */
	if (family == AF_INET) {
		*(__u32 *)ev.saddr = *(volatile __u32 *)ctx->saddr;
		*(__u32 *)ev.daddr = *(volatile __u32 *)ctx->daddr;
	} else {
		((__u64 *)ev.saddr)[0] = *(volatile __u64 *)&ctx->saddr_v6[0];
		((__u64 *)ev.saddr)[1] = *(volatile __u64 *)&ctx->saddr_v6[8];
		((__u64 *)ev.daddr)[0] = *(volatile __u64 *)&ctx->daddr_v6[0];
		((__u64 *)ev.daddr)[1] = *(volatile __u64 *)&ctx->daddr_v6[8];
	}
	struct life_event *e = reserve_admitted(&events, struct life_event);
	if (!e)
		return 0;
	__builtin_memcpy(e, &ev, sizeof(ev));
	submit_event(&events, e);
	return 0;
}
