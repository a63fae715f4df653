/* SPDX-License-Identifier: GPL-2.0 */
#ifndef PROFILE_H
#define PROFILE_H

#define PERF_MAX_STACK_DEPTH 127

/* Sample counts by process and stack: kern_stack_id indexes stack_traces (ips), user_stack_id
 * indexes user_stacks (struct bpf_stack_build_id frames). A stack id < 0 is a bpf_get_stackid error (-EFAULT: no
 * user stack, e.g. a kernel thread; -EEXIST/-ENOMEM: stack_traces full or a hash collision). */
struct profile_key {
	__u32 pid;
	__s32 kern_stack_id;
	__s32 user_stack_id;
	char comm[TASK_COMM_LEN];
};

#endif
