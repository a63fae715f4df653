/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SYSCOUNT_H
#define SYSCOUNT_H

/* id: the syscall number, or the process id (tgid) when per_process is set. */
struct syscount_key {
	__u32 id;
};

/*
 * Completed calls and their summed latency (entry to exit). comm: the process's name at its
 * latest call (per_process only), so a process that exits before the snapshot keeps its name.
 */
struct syscount_value {
	__u64 count;
	__u64 total_ns;
	char comm[TASK_COMM_LEN];
};

#endif
