/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The in-kernel half every recipe shares: target filters, the event-rate cap (token window),
 * 1-in-N sampling, per-cause drop counters and the ring buffer wakeup policy.
 * User space sets the const volatile tunables before load (dead branches are pruned by the
 * verifier when a filter is off) and reads session_stats, a per-CPU array, at any time.
 */
#ifndef EBPFCTL_BPF_H
#define EBPFCTL_BPF_H

#include "ebpfctl.h"

/* Filters (0 / empty = off). self_tgid: ebpfctl itself, never traced (its own writes are noise). */
const volatile __u32 self_tgid = 0;
const volatile __u32 targ_tgid = 0;
const volatile __u32 targ_uid = (__u32)-1;
const volatile bool filter_comm = false;
const volatile char targ_comm[TASK_COMM_LEN] = {};
/* cgroup v2 id (the cgroup directory's inode): --cgroup PATH and --unit NAME.service. */
const volatile __u64 targ_cgroup = 0;

/* Rate cap: at most rate_window_limit events per rate_window_ns window (0 = unlimited). */
const volatile __u64 rate_window_ns = 0;
const volatile __u64 rate_window_limit = 0;

/*
 * Whether the kernel has fetching atomics (BPF_ATOMIC | BPF_FETCH, cmpxchg: 5.12+). User space
 * sets it from the atomic_fetch feature probe; when false the verifier never visits the fetching
 * branches (a frozen .rodata constant), so a 5.10 kernel accepts the program. The fallback only
 * uses the plain atomic add (BPF_XADD, any kernel), and is approximate under contention.
 */
const volatile bool fetch_atomics = true;

/* Wake the consumer only once this many bytes are pending; it also polls on a timer. */
const volatile __u64 wakeup_bytes = 256 * 1024;

/* Written by user space while running (mmaped .bss): keep 1 event in sample_every (0/1 = all). */
volatile __u32 sample_every = 0;

/* One word: high 32 bits window id, low 32 bits events admitted in it. */
__u64 rate_window_state = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} session_stats SEC(".maps");

static __always_inline void stat_add(__u32 which)
{
	__u64 *v = bpf_map_lookup_elem(&session_stats, &which);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline bool comm_matches(const char *comm)
{
	if (!filter_comm)
		return true;
#pragma unroll
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != targ_comm[i])
			return false;
		if (comm[i] == 0)
			return true;
	}
	return true;
}

static __always_inline bool current_task_matches(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (self_tgid && tgid == self_tgid)
		return false;
	if (targ_tgid && tgid != targ_tgid)
		return false;
	if (targ_uid != (__u32)-1 && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return false;
	if (targ_cgroup && bpf_get_current_cgroup_id() != targ_cgroup)
		return false;
	return true;
}

/* Filters on the current task; recipes call this first so filtered-out work costs little. */
static __always_inline bool target_matches(void)
{
	if (!current_task_matches())
		return false;
	if (filter_comm) {
		char comm[TASK_COMM_LEN];
		bpf_get_current_comm(comm, sizeof(comm));
		return comm_matches(comm);
	}
	return true;
}

/* The same, for a recipe that puts comm in its event: comm is read once, here, either way. */
static __always_inline bool target_matches_comm(char comm[TASK_COMM_LEN])
{
	if (!current_task_matches())
		return false;
	bpf_get_current_comm(comm, TASK_COMM_LEN);
	return comm_matches(comm);
}

/*
 * Admission of one event at time now (bpf_ktime_get_ns) through sampling and the rate cap. A
 * refused event is counted by its cause; an admitted one must end as submitted or dropped
 * (ring buffer or map full), so that produced = delivered + dropped + sampled out stays exact.
 */
static __always_inline bool admit_at(__u64 now)
{
	__u32 every = sample_every;
	if (every > 1) {
		__u32 key = STAT_SAMPLE_TICK;
		__u64 *tick = bpf_map_lookup_elem(&session_stats, &key);
		__u64 t = 0;
		if (tick) {
			if (fetch_atomics) {
				t = __sync_fetch_and_add(tick, 1);
			} else {
				/* This CPU's own slot: only a nested program on the same CPU could race it. */
				t = *tick;
				*tick = t + 1;
			}
		}
		if (tick && (t % every) != 0) {
			stat_add(STAT_SAMPLED_OUT);
			return false;
		}
	}
	if (rate_window_ns) {
		__u64 window = (now / rate_window_ns) & 0xffffffff;
		__u64 cur = rate_window_state;
		if (!fetch_atomics) {
			/*
			 * Without cmpxchg two CPUs may both reset a new window, and a check may race an add:
			 * a window can admit up to one extra event per CPU. Every refusal is still counted.
			 */
			if ((cur >> 32) != window) {
				rate_window_state = (window << 32) | 1;
				return true;
			}
			if ((cur & 0xffffffff) >= rate_window_limit) {
				stat_add(STAT_DROPPED_RATE);
				return false;
			}
			__sync_fetch_and_add(&rate_window_state, 1);
			return true;
		}
		bool admitted = false;
		/* First event of a new window: one CPU wins the reset, the others count normally. */
		if ((cur >> 32) != window && __sync_val_compare_and_swap(&rate_window_state, cur, (window << 32) | 1) == cur)
			admitted = true;
		if (!admitted) {
			__u64 old = __sync_fetch_and_add(&rate_window_state, 1);
			if ((old >> 32) == window && (old & 0xffffffff) >= rate_window_limit) {
				stat_add(STAT_DROPPED_RATE);
				return false;
			}
		}
	}
	return true;
}

#define admit_event() admit_at(bpf_ktime_get_ns())

/* Reserve ring buffer space for an already admitted event; a full ring buffer is counted, never silent. */
#define reserve_admitted(rb, type)                                                \
	({                                                                        \
		type *__e = bpf_ringbuf_reserve(rb, sizeof(type), 0);             \
		if (!__e)                                                         \
			stat_add(STAT_DROPPED_RINGBUF);                           \
		__e;                                                              \
	})

/*
 * Admission (sampling, rate cap) then reservation: the usual way to produce one event. Hot paths
 * use the _at forms with the event's own timestamp, saving a clock read per call.
 */
#define reserve_event_at(rb, type, now) (admit_at(now) ? reserve_admitted(rb, type) : NULL)
#define reserve_event(rb, type) reserve_event_at(rb, type, bpf_ktime_get_ns())

/*
 * Force a wakeup at most once per WAKEUP_GAP_NS per CPU. Each forced wakeup raises an
 * inter-processor interrupt (a VM exit on a guest, ~1 us); while the consumer lags behind, the
 * pending data stays above the threshold and every event would otherwise send one (measured:
 * ~500 ns per event on opensnoop flat out).
 */
#define WAKEUP_GAP_NS 1000000ULL
static __always_inline __u64 wakeup_flag(__u64 now)
{
	__u32 key = STAT_LAST_WAKEUP;
	__u64 *last = bpf_map_lookup_elem(&session_stats, &key);
	if (!last || now - *last < WAKEUP_GAP_NS)
		return BPF_RB_NO_WAKEUP;
	*last = now;
	return BPF_RB_FORCE_WAKEUP;
}

/*
 * Submit with the wakeup policy: no wakeup per event, only when enough is pending (rate-limited,
 * above); the consumer also polls on a timer, which bounds the latency of a quiet trickle.
 */
#define submit_event_at(rb, e, now)                                               \
	do {                                                                      \
		__u64 __flags = bpf_ringbuf_query(rb, BPF_RB_AVAIL_DATA) >= wakeup_bytes \
					? wakeup_flag(now)                        \
					: BPF_RB_NO_WAKEUP;                       \
		stat_add(STAT_SUBMITTED);                                         \
		bpf_ringbuf_submit(e, __flags);                                   \
	} while (0)
#define submit_event(rb, e) submit_event_at(rb, e, bpf_ktime_get_ns())

#define EVENTS_RINGBUF(name, bytes)                                               \
	struct {                                                                  \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                               \
		__uint(max_entries, bytes);                                       \
	} name SEC(".maps")

/*
 * Keep the event struct in the object's BTF: clang emits a type only when something typed
 * references it, and a ring buffer map has no value type. User space decodes events by it.
 */
#define EVENT_TYPE(type) const type *const ebpfctl_event_type = 0

char LICENSE[] SEC("license") = "GPL";

#endif
