/* SPDX-License-Identifier: GPL-2.0 */
#ifndef FUNCLATENCY_H
#define FUNCLATENCY_H

/* User-space function latency in nanoseconds, log2 buckets: slot i counts [2^i, 2^(i+1)). */
#define MAX_SLOTS 40

/* pid/comm of the calling process when per_process, else zeros. */
struct hist_key {
	__u32 pid;
	char comm[TASK_COMM_LEN];
};

struct hist {
	__u32 slots[MAX_SLOTS];
};

#endif
