/* SPDX-License-Identifier: GPL-2.0 */
#ifndef EXECSNOOP_H
#define EXECSNOOP_H

#define EXEC_FILENAME_LEN 256
#define EXEC_MAX_ARGS 20
#define EXEC_ARG_LEN 128
#define EXEC_ARGS_LEN 1024

/* args holds argv[0..args_count) as NUL-separated strings, args_size bytes in all. */
struct exec_event {
	__u64 ts_ns;
	__u32 pid;
	__u32 ppid;
	__u32 uid;
	__s32 ret;
	__u32 args_count;
	__u32 args_size;
	/* 1 when argv had more than was copied: shown as " ..." like libbpf-tools. */
	__u32 args_truncated;
	char comm[TASK_COMM_LEN];
	char filename[EXEC_FILENAME_LEN];
	char args[EXEC_ARGS_LEN];
};

#endif
