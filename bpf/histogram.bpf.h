/* SPDX-License-Identifier: GPL-2.0 */
/*
 * log2 histograms shared by the aggregate recipes (biolatency, funclatency, runqlat): the slot of
 * a value, clamped to the last slot, in a form every supported verifier can bound.
 *
 * Why not `__u32 slot = log2(v); if (slot >= MAX_SLOTS) ...`: clang -mcpu=v3 computes log2 with
 * 32-bit ALU ops and narrows the clamp to a 32-bit compare (`if w1 < N`). Older verifiers (6.1)
 * mark the whole 64-bit destination of an OR whose source is not a known constant unknown, without
 * the zero extension of the upper half (adjust_scalar_min_max_vals), and a 32-bit compare then
 * bounds only the low half: `&h->slots[slot]` is rejected with "math between map_value pointer and
 * register with unbounded min value". The clamp below is a 64-bit compare in inline asm, which
 * clang cannot narrow, so the index is bounded in 64 bits on every kernel.
 */
#ifndef EBPFCTL_HISTOGRAM_BPF_H
#define EBPFCTL_HISTOGRAM_BPF_H

/* floor(log2(v)), 0 for v <= 1 (libbpf-tools bits.bpf.h). */
static __always_inline __u64 log2_u32(__u32 v)
{
	__u32 r, shift;
	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline __u64 log2_u64(__u64 v)
{
	__u32 hi = v >> 32;
	return hi ? log2_u32(hi) + 32 : log2_u32(v);
}

/*
 * Slot of v in a log2 histogram of max_slots slots (a constant): min(log2(v), max_slots - 1),
 * as a __u64 the verifier knows is < max_slots.
 */
#define hist_slot(v, max_slots)                                                   \
	({                                                                        \
		__u64 __slot = log2_u64(v);                                       \
		asm volatile("if %[slot] < %[max] goto +1\n\t"                    \
			     "%[slot] = %[last]"                                  \
			     : [slot] "+r"(__slot)                                \
			     : [max] "i"(max_slots), [last] "i"((max_slots) - 1)); \
		__slot;                                                           \
	})

/* Count v in h->slots (an array of MAX_SLOTS counters). */
#define hist_add(h, v) __sync_fetch_and_add(&(h)->slots[hist_slot(v, MAX_SLOTS)], 1)

#endif
