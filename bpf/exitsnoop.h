/* SPDX-License-Identifier: GPL-2.0 */
#ifndef EXITSNOOP_H
#define EXITSNOOP_H

/*
 * One event per process exit (per thread exit when threads is set).
 * exit_code is the raw wait status: (code << 8) | signal, with 0x80 set when a core was dumped.
 */
struct exit_event {
	__u64 ts_ns;
	__u64 lifetime_ns; /* exit time - task start_time (CLOCK_MONOTONIC) */
	__u32 pid;         /* tgid */
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__s32 exit_code;   /* (exit_code >> 8) & 0xff */
	__u32 sig;         /* exit_code & 0x7f: the signal that killed it, 0 for a normal exit */
	__u32 core_dumped; /* 1 if exit_code & 0x80 */
	__u32 __pad;
	char comm[TASK_COMM_LEN];
};

#endif
