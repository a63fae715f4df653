// SPDX-License-Identifier: GPL-2.0
/*
 * One program for any USDT probe (.note.stapsdt), driven by the same table as generic_tp
 * (generic_tp.h) with a single entry (one load per attachment, index the constant 0). argN is
 * decoded by libbpf's usdt.bpf.h from the note's argument specs (register, memory, constant).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>
#include "ebpfctl.bpf.h"
#include "generic_tp.h"

#define GEN_NPROBES 1

#define GEN_USER_ARGS
static __always_inline __s64 gen_arg(void *ctx, __u16 n)
{
	long v = 0;
	/* A missing argument (n beyond the probe's count) reads as 0; the compiler caps n at 5. */
	if (bpf_usdt_arg(ctx, n, &v))
		return 0;
	return v;
}

/* USDT probes have no return value (the compiler refuses retval on them). */
static __always_inline __s64 gen_retval(void *ctx)
{
	return 0;
}

#include "generic.bpf.h"

SEC("usdt")
int generic_usdt(struct pt_regs *ctx)
{
	if (!current_task_matches())
		return 0;
	return generic_run(ctx, 0);
}
