/* SPDX-License-Identifier: GPL-2.0 */
#ifndef TCPCONNECT_H
#define TCPCONNECT_H

#define AF_INET 2
#define AF_INET6 10

/* Active TCP connects. Addresses are in network byte order; for AF_INET only the first 4 bytes
 * of saddr/daddr are used. Ports are in host byte order (sport is 0 when the source port was not
 * chosen yet at the hook, see the manifest's alternatives). */
struct connect_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u16 __pad;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[TASK_COMM_LEN];
};

#endif
