/* SPDX-License-Identifier: GPL-2.0 */
#ifndef RUNQLAT_H
#define RUNQLAT_H

/* Run-queue latency in microseconds, log2 buckets: slot i counts values in [2^i, 2^(i+1)) (slot 0: 0-1). */
#define MAX_SLOTS 26

/* pid = process id (thread id with the tracepoint fallback) and its comm when per_process, else zeros. */
struct hist_key {
	__u32 pid;
	char comm[TASK_COMM_LEN];
};

struct hist {
	__u32 slots[MAX_SLOTS];
};

#endif
