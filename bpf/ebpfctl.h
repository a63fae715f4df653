/* SPDX-License-Identifier: GPL-2.0 */
/* Constants shared by every recipe's kernel side and by user space (session_stats indices). */
#ifndef EBPFCTL_H
#define EBPFCTL_H

#define TASK_COMM_LEN 16

enum session_stat {
	STAT_PRODUCED = 0,     /* passed the filters */
	STAT_SUBMITTED = 1,    /* written to the ring buffer */
	STAT_DROPPED_RATE = 2, /* over the rate cap */
	STAT_DROPPED_RINGBUF = 3, /* ring buffer full */
	STAT_SAMPLED_OUT = 4,  /* skipped by 1-in-N sampling */
	STAT_SAMPLE_TICK = 5,  /* sampling counter, not an outcome */
	STAT_MAX = 6,
};

#endif
