/* SPDX-License-Identifier: GPL-2.0 */
#ifndef OOMKILL_H
#define OOMKILL_H

/*
 * The OOM killer chose a victim. fpid/fcomm: the task that triggered the OOM (current when the
 * victim is marked); tpid/tcomm: the victim. Sizes in KiB; a field the chosen hook cannot see is 0
 * (totalpages only from the kprobe; rss fields are the per-CPU counters' approximate sums).
 */
struct oom_event {
	__u64 ts_ns;
	__u64 total_pages;   /* oom_control.totalpages: memory the OOM decision was made against */
	__u64 total_vm_kb;
	__u64 anon_rss_kb;
	__u64 file_rss_kb;
	__u64 shmem_rss_kb;
	__u32 fpid;
	__u32 tpid;
	__u32 tuid;
	__s32 oom_score_adj;
	char fcomm[TASK_COMM_LEN];
	char tcomm[TASK_COMM_LEN];
};

#endif
