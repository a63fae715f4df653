// SPDX-License-Identifier: GPL-2.0
/*
 * One program for any user-space function, entry (uprobe) or return (uretprobe), driven by the
 * same table as generic_tp (generic_tp.h) with a single entry: one load per attachment, so the
 * index is the constant 0 and the verifier prunes what the frozen table does not use (no attach
 * cookie: 5.10 has none). Operands: argN (the calling convention's registers) and retval.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfctl.bpf.h"
#include "generic_tp.h"

#define GEN_NPROBES 1

/* libbpf 1.1's bpf_tracing.h stops at PARM5: the sixth integer argument is r9 (x86-64 SysV). */
#ifndef PT_REGS_PARM6
#define PT_REGS_PARM6(x) (__PT_REGS_CAST(x)->r9)
#endif

/*
 * The registers the table may name, copied once at entry with constant-offset loads: the
 * verifier refuses a load through a ctx pointer the compiler offset by a variable (a switch
 * on the table's arg index folds into one), so generic_run() gets this copy as its ctx.
 */
struct up_regs {
	__s64 arg[6];
	__s64 rc;
};

#define GEN_USER_ARGS
static __always_inline __s64 gen_arg(void *ctx, __u16 n)
{
	return n < 6 ? ((const struct up_regs *)ctx)->arg[n] : 0;
}

static __always_inline __s64 gen_retval(void *ctx)
{
	return ((const struct up_regs *)ctx)->rc;
}

#include "generic.bpf.h"

SEC("uprobe")
int generic_up(struct pt_regs *ctx)
{
	if (!current_task_matches())
		return 0;
	struct up_regs r = {
		.arg = { PT_REGS_PARM1(ctx), PT_REGS_PARM2(ctx), PT_REGS_PARM3(ctx), PT_REGS_PARM4(ctx), PT_REGS_PARM5(ctx), PT_REGS_PARM6(ctx) },
		.rc = PT_REGS_RC(ctx),
	};
	/* Operands from the copy; stack keys from the program's own context. */
	return generic_run_ctx(&r, ctx, 0);
}
