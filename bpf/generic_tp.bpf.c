// SPDX-License-Identifier: GPL-2.0
/*
 * One program for any tracepoint, driven by a table in .rodata (generic_tp.h) that ebpfctl's
 * one-liner compiler writes. The attach cookie selects the table entry, so one loaded program
 * serves every tracepoint a one-liner names. Fields are read with bounded bpf_probe_read_kernel
 * at table offsets: the verifier rejects variable-offset loads from the context.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "generic.bpf.h"

SEC("tracepoint")
int generic_tp(void *ctx)
{
	if (!current_task_matches())
		return 0;
	__u32 probe = gtp_single ? 0 : (__u32)bpf_get_attach_cookie(ctx) & (GTP_MAX_PROBES - 1);
	return generic_run(ctx, probe);
}
