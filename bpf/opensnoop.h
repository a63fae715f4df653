/* SPDX-License-Identifier: GPL-2.0 */
#ifndef OPENSNOOP_H
#define OPENSNOOP_H

#define OPEN_PATH_LEN 256

/* ret is the fd on success, -errno on failure. */
struct open_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__s32 ret;
	__s32 flags;
	__u32 mode;
	char comm[TASK_COMM_LEN];
	char path[OPEN_PATH_LEN];
};

#endif
