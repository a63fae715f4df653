// SPDX-License-Identifier: GPL-2.0
/*
 * Block device I/O latency: request issue (to the driver) to completion, as a log2 histogram in
 * microseconds. tp_btf keys in-flight requests by their struct request address; the tracepoint
 * fallback has no request pointer and keys them by (dev, sector).
 * Completions run in interrupt context, so pid/uid/comm filters do not apply to this recipe.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfctl.bpf.h"
#include "biolatency.h"
#include "histogram.bpf.h"

#define MINORBITS 20

/* One histogram per disk (set by user space; not a CLI parameter yet). */
const volatile bool per_disk = false;

struct rq_key {
	__u64 rq;     /* struct request address (tp_btf), or 0 */
	__u64 sector; /* tracepoint fallback: (dev, sector) */
	__u32 dev;
	__u32 __pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rq_key);
	__type(value, __u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct hist_key);
	__type(value, struct hist);
} hists SEC(".maps");

static __always_inline void issue(struct rq_key *k)
{
	__u64 ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, k, &ts, BPF_ANY);
}

static __always_inline void complete(struct rq_key *k, __u32 dev)
{
	__u64 *tsp = bpf_map_lookup_elem(&start, k);
	if (!tsp)
		return;
	__u64 delta_us = (bpf_ktime_get_ns() - *tsp) / 1000;
	bpf_map_delete_elem(&start, k);
	if (!admit_event())
		return;
	struct hist_key hk = { .dev = per_disk ? dev : 0 };
	struct hist *h = bpf_map_lookup_elem(&hists, &hk);
	if (!h) {
		static const struct hist zero;
		bpf_map_update_elem(&hists, &hk, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &hk);
		if (!h) {
			/* No room in the aggregation map: counted with the other "no room" drops. */
			stat_add(STAT_DROPPED_RINGBUF);
			return;
		}
	}
	hist_add(h, delta_us);
	/* Aggregated: for an aggregate recipe "submitted" means "in the map". */
	stat_add(STAT_SUBMITTED);
}

static __always_inline __u32 rq_dev(struct request *rq)
{
	if (!per_disk)
		return 0;
	struct gendisk *disk = rq->q->disk;
	if (!disk)
		return 0;
	return ((__u32)disk->major << MINORBITS) | (__u32)disk->first_minor;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(btf_block_rq_issue, struct request *rq)
{
	struct rq_key k = { .rq = (__u64)rq };
	issue(&k);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(btf_block_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	struct rq_key k = { .rq = (__u64)rq };
	complete(&k, rq_dev(rq));
	return 0;
}

SEC("tracepoint/block/block_rq_issue")
int tp_block_rq_issue(struct trace_event_raw_block_rq *ctx)
{
	struct rq_key k = { .dev = ctx->dev, .sector = ctx->sector };
	issue(&k);
	return 0;
}

SEC("tracepoint/block/block_rq_complete")
int tp_block_rq_complete(struct trace_event_raw_block_rq_completion *ctx)
{
	struct rq_key k = { .dev = ctx->dev, .sector = ctx->sector };
	complete(&k, ctx->dev);
	return 0;
}
