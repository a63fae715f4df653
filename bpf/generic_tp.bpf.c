// SPDX-License-Identifier: GPL-2.0
/*
 * One program for any tracepoint, driven by a table in .rodata (generic_tp.h) that ebpfctl's
 * one-liner compiler writes. Fields are read with bounded bpf_probe_read_kernel at table
 * offsets: the verifier rejects variable-offset loads from the context.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "ebpfctl.bpf.h"
#include "generic_tp.h"

#define GEN_NPROBES GTP_MAX_PROBES

/*
 * Entry 0 of the table serves every attachment of one load: the index is the constant 0, so the
 * verifier reads the frozen table's values and prunes every branch the entry does not take. Several
 * tracepoints share one load when the compiler wrote the same entry for each (only builtins, or
 * fields at the same offsets); otherwise each gets a load of its own, its entry as entry 0, the
 * maps shared with the first load (ebpfctl's session).
 *
 * The probe id (the `probe` builtin, and the tracepoint an event names): the attach cookie when
 * one load serves several tracepoints and the one-liner tells them apart (Linux 5.15+); else the
 * load's own constant, so such a one-liner also runs where the kernel has no cookie, one load per
 * tracepoint.
 */
const volatile __u8 gtp_cookie_probe = 0;
const volatile __u32 gtp_probe_id = 0;

static __always_inline __s64 read_int(void *ctx, const volatile struct gtp_operand *op)
{
	__u16 off = op->offset;
	__u8 sz = op->size;
	bool sgn = op->is_signed;
	if (sz == 1) {
		__u8 v = 0;
		bpf_probe_read_kernel(&v, 1, ctx + off);
		return sgn ? (__s64)(__s8)v : (__s64)v;
	}
	if (sz == 2) {
		__u16 v = 0;
		bpf_probe_read_kernel(&v, 2, ctx + off);
		return sgn ? (__s64)(__s16)v : (__s64)v;
	}
	if (sz == 4) {
		__u32 v = 0;
		bpf_probe_read_kernel(&v, 4, ctx + off);
		return sgn ? (__s64)(__s32)v : (__s64)v;
	}
	__u64 v = 0;
	bpf_probe_read_kernel(&v, 8, ctx + off);
	return (__s64)v;
}

/* A string field into dst[GTP_STR_CAP] (zeroed by the caller), always NUL-terminated. */
static __always_inline void gen_src_str(void *ctx, const volatile struct gtp_operand *op, char *dst)
{
	__u16 off = op->offset;
	if (op->src != GTP_SRC_FIELD)
		return;
	switch (op->read) {
	case GTP_READ_DATA_LOC:
	case GTP_READ_REL_LOC: {
		__u32 loc = 0;
		bpf_probe_read_kernel(&loc, 4, ctx + off);
		__u32 at = (loc & 0xffff) + (op->read == GTP_READ_REL_LOC ? off + 4 : 0);
		bpf_probe_read_kernel_str(dst, GTP_STR_CAP, ctx + (at & 0xffff));
		return;
	}
	case GTP_READ_USER_STR:
	case GTP_READ_KERNEL_STR: {
		const char *p = 0;
		bpf_probe_read_kernel(&p, 8, ctx + off);
		if (op->read == GTP_READ_USER_STR)
			bpf_probe_read_user_str(dst, GTP_STR_CAP, p);
		else
			bpf_probe_read_kernel_str(dst, GTP_STR_CAP, p);
		return;
	}
	case GTP_READ_CHARS: {
		__u32 n = op->size;
		if (n > GTP_STR_CAP - 1)
			n = GTP_STR_CAP - 1;
		bpf_probe_read_kernel(dst, n & (GTP_STR_CAP - 1), ctx + off);
		dst[n & (GTP_STR_CAP - 1)] = 0;
		return;
	}
	}
}

static __always_inline __s64 gen_src_value(void *ctx, const volatile struct gtp_operand *op)
{
	return op->src == GTP_SRC_FIELD ? read_int(ctx, op) : 0;
}

#include "generic.bpf.h"

SEC("tracepoint")
int generic_tp(void *ctx)
{
	if (!current_task_matches())
		return 0;
	__u32 probe = gtp_cookie_probe ? (__u32)bpf_get_attach_cookie(ctx) : gtp_probe_id;
	return generic_run_entry(ctx, ctx, 0, probe & (GTP_MAX_PROBES - 1));
}
