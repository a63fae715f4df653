// SPDX-License-Identifier: GPL-2.0
/*
 * CPU profiler: a perf_event program that user space attaches to one cpu-clock event per CPU at
 * freq Hz. Each sample records the kernel and user stacks (ids into stack_traces) and counts it
 * by (pid, stacks, comm). The idle task is not sampled. User stacks are recorded as build-id +
 * file offset (BPF_F_STACK_BUILD_ID) so they resolve after their process exits; the kernel falls
 * back to a raw ip per frame when it cannot read the build-id (status BPF_STACK_BUILD_ID_IP).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ebpfctl.bpf.h"
#include "profile.h"

/* Samples lost because counts was full (read from .bss by user space). */
__u64 counts_full = 0;

/* Never written: it puts struct bpf_stack_build_id in the object's BTF, from which user space
 * decodes the frames of user_stacks (no offsets kept by hand). */
struct bpf_stack_build_id user_frame_layout = {};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__uint(value_size, PERF_MAX_STACK_DEPTH * sizeof(__u64));
} stack_traces SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_STACK_BUILD_ID);
	__type(key, __u32);
	__uint(value_size, PERF_MAX_STACK_DEPTH * sizeof(struct bpf_stack_build_id));
} user_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct profile_key);
	__type(value, __u64);
} counts SEC(".maps");

SEC("perf_event")
int do_perf_event(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if ((__u32)id == 0)
		return 0; /* idle */
	if (!target_matches())
		return 0;
	if (!admit_event())
		return 0;
	struct profile_key key = {};
	key.pid = id >> 32;
	bpf_get_current_comm(key.comm, sizeof(key.comm));
	key.kern_stack_id = bpf_get_stackid(ctx, &stack_traces, 0);
	key.user_stack_id = bpf_get_stackid(ctx, &user_stacks, BPF_F_USER_STACK);
	/* Every admitted sample ends as exactly one of: counted (STAT_SUBMITTED, "in the map") or
	 * lost because counts is full (counts_full, and STAT_DROPPED_RINGBUF, the "no room" cause). */
	__u64 *v = bpf_map_lookup_elem(&counts, &key);
	if (v) {
		__sync_fetch_and_add(v, 1);
		stat_add(STAT_SUBMITTED);
		return 0;
	}
	__u64 one = 1;
	if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST)) {
		/* Another CPU inserted it first (-EEXIST): count there; otherwise the map is full. */
		v = bpf_map_lookup_elem(&counts, &key);
		if (!v) {
			__sync_fetch_and_add(&counts_full, 1);
			stat_add(STAT_DROPPED_RINGBUF);
			return 0;
		}
		__sync_fetch_and_add(v, 1);
	}
	stat_add(STAT_SUBMITTED);
	return 0;
}
