/* SPDX-License-Identifier: GPL-2.0 */
/* Constants shared by every recipe's kernel side and by user space (session_stats indices). */
#ifndef EBPFCTL_H
#define EBPFCTL_H

#define TASK_COMM_LEN 16

/*
 * Per-CPU counters. Every event that passes the filters ends as exactly one of submitted,
 * dropped (rate cap), dropped (ring buffer full / map full) or sampled out, so user space derives
 * produced as their sum: one counter increment per delivered event instead of two.
 */
enum session_stat {
	STAT_SUBMITTED = 0,    /* written to the ring buffer (or counted in a map) */
	STAT_DROPPED_RATE = 1, /* over the rate cap */
	STAT_DROPPED_RINGBUF = 2, /* ring buffer full */
	STAT_SAMPLED_OUT = 3,  /* skipped by 1-in-N sampling */
	STAT_SAMPLE_TICK = 4,  /* sampling counter, not an outcome */
	STAT_LAST_WAKEUP = 5,  /* ktime of this CPU's last forced wakeup, not an outcome */
	STAT_MAX = 6,
};

#endif
