/* SPDX-License-Identifier: GPL-2.0 */
#ifndef BINDSNOOP_H
#define BINDSNOOP_H

#define AF_INET 2
#define AF_INET6 10

/* bind(2) on IPv4/IPv6 sockets: the requested address (network byte order; AF_INET uses the
 * first 4 bytes) and port (host byte order, 0 = kernel picks), and the result (0 or -errno). */
struct bind_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 ret;
	__s32 fd;
	__u16 family;
	__u16 port;
	__u8 addr[16];
	char comm[TASK_COMM_LEN];
};

#endif
