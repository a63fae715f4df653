/* SPDX-License-Identifier: GPL-2.0 */
#ifndef TCPLIFE_H
#define TCPLIFE_H

#define AF_INET 2
#define AF_INET6 10

/*
 * One event per TCP session when it closes. pid/comm/uid are those of the process seen at the
 * connect or close (falling back to the task current at close). Addresses in network byte
 * order (AF_INET: first 4 bytes), ports in host byte order. rx/tx bytes are
 * payload bytes (tcp_sock bytes_received less the peer's FIN; bytes_sent less bytes_retrans);
 * has_bytes is 0 when the chosen hook cannot read them.
 */
struct life_event {
	__u64 ts_ns;
	__u64 span_ns;
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u32 pid;
	__u32 uid;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u16 has_bytes;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[TASK_COMM_LEN];
};

/* Who owns a socket, recorded in process context (connect, close). */
struct life_ident {
	__u32 pid;
	__u32 uid;
	char comm[TASK_COMM_LEN];
};

#endif
