/* SPDX-License-Identifier: GPL-2.0 */
#ifndef BIOLATENCY_H
#define BIOLATENCY_H

/* Block I/O latency (issue to completion) in microseconds, log2 buckets: slot i counts [2^i, 2^(i+1)). */
#define MAX_SLOTS 27

/* dev: the disk's dev_t in the kernel's encoding (major << 20 | minor) when per_disk, else 0. */
struct hist_key {
	__u32 dev;
};

struct hist {
	__u32 slots[MAX_SLOTS];
};

#endif
