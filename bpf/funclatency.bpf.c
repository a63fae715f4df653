// SPDX-License-Identifier: GPL-2.0
/*
 * Latency of one user-space function: a uprobe at its entry, a uretprobe at its return. The
 * programs carry no target; user space attaches both to binary + the symbol's file offset.
 * Nested or recursive calls on one thread keep only the innermost entry time.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfctl.bpf.h"
#include "funclatency.h"
#include "histogram.bpf.h"

const volatile bool per_process = false;

/* Entry time by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, __u64);
} starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct hist_key);
	__type(value, struct hist);
} hists SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(funclat_entry)
{
	if (!target_matches())
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&starts, &tid, &ts, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(funclat_return)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 *tsp = bpf_map_lookup_elem(&starts, &tid);
	if (!tsp)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - *tsp;
	bpf_map_delete_elem(&starts, &tid);
	if (!admit_event())
		return 0;
	struct hist_key key = {};
	if (per_process) {
		key.pid = id >> 32;
		bpf_get_current_comm(key.comm, sizeof(key.comm));
	}
	struct hist *h = bpf_map_lookup_elem(&hists, &key);
	if (!h) {
		static const struct hist zero;
		bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h) {
			/* No room in the aggregation map: counted with the other "no room" drops. */
			stat_add(STAT_DROPPED_RINGBUF);
			return 0;
		}
	}
	hist_add(h, delta);
	/* Aggregated: for an aggregate recipe "submitted" means "in the map". */
	stat_add(STAT_SUBMITTED);
	return 0;
}
