// SPDX-License-Identifier: GPL-2.0
/*
 * One perf_event program for sampling one-liners (profile:hz:N), driven by the same table as
 * generic_tp (generic_tp.h, written by src/oneliner). User space attaches it to one cpu-clock
 * event per online CPU at the one-liner's frequency, as the profile recipe attaches its own.
 * The table has a single entry, index 0: the verifier reads the frozen table and prunes what it
 * does not use (no attach cookie, so it loads on 5.10 too). There are no tracepoint fields: the
 * analyser refuses args.* on profile probes.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfctl.bpf.h"
#include "generic_tp.h"

#define GEN_NPROBES 1

/* No operand source of its own: only builtins (comm, pid, …) and stack keys. */
static __always_inline __s64 gen_src_value(void *ctx, const volatile struct gtp_operand *op)
{
	return 0;
}

static __always_inline void gen_src_str(void *ctx, const volatile struct gtp_operand *op, char *dst)
{
}

#include "generic.bpf.h"

SEC("perf_event")
int generic_pe(struct bpf_perf_event_data *ctx)
{
	if (!current_task_matches())
		return 0;
	return generic_run(ctx, 0);
}
