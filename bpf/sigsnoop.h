/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SIGSNOOP_H
#define SIGSNOOP_H

/*
 * A signal generated (kill, tgkill, kernel-sent, fault...). pid/comm: the sender (the current task,
 * which is the kernel context for kernel-generated signals); tpid/tcomm: the target.
 * result: 0 delivered, 1 ignored, 2 already pending, 3 overflow, 4 info lost (TRACE_SIGNAL_*).
 */
struct signal_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 uid;
	__u32 tpid;
	__s32 sig;
	__s32 code;   /* si_code: SI_USER 0, SI_KERNEL 0x80, SI_TKILL -6, ... */
	__s32 result;
	char comm[TASK_COMM_LEN];
	char tcomm[TASK_COMM_LEN];
};

#endif
