// SPDX-License-Identifier: GPL-2.0
/*
 * One trivial program per attach kind, used by `ebpfctl doctor` and the feature probes
 * (src/kernel/features.ts). libbpf_probe_bpf_prog_type() only asks whether the kernel knows a
 * program type; these are loaded (one at a time, autoload on for just one) and, where cheap and
 * safe, attached and detached at once, which is what a recipe actually needs.
 * None of them does anything: every body returns 0 at once.
 * Targets are chosen to be quiet and present on every kernel we support:
 *   hrtimer_nanosleep (kprobe/fentry), sched_process_exec (raw_tp/tp_btf), sys_enter_getpid.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("kprobe/hrtimer_nanosleep")
int probe_kprobe(struct pt_regs *ctx)
{
	return 0;
}

SEC("kretprobe/hrtimer_nanosleep")
int probe_kretprobe(struct pt_regs *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("raw_tp/sched_process_exec")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(probe_tp_btf)
{
	return 0;
}

SEC("fentry/hrtimer_nanosleep")
int BPF_PROG(probe_fentry)
{
	return 0;
}

SEC("fexit/hrtimer_nanosleep")
int BPF_PROG(probe_fexit)
{
	return 0;
}

SEC("perf_event")
int probe_perf_event(void *ctx)
{
	return 0;
}

/* Attached by hand to a scratch file nobody maps, so it can never fire. */
SEC("uprobe")
int probe_uprobe(struct pt_regs *ctx)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(probe_lsm, struct file *file)
{
	return 0;
}

/*
 * Loaded, never attached: fetching atomics (BPF_ATOMIC | BPF_FETCH and cmpxchg, 5.12+). Older
 * verifiers refuse the encoding ("BPF_STX uses reserved fields") wherever it appears.
 */
__u64 probe_atomic_word = 0;

SEC("tracepoint/syscalls/sys_enter_getpid")
int probe_atomic_fetch(void *ctx)
{
	__u64 old = __sync_fetch_and_add(&probe_atomic_word, 1);
	__sync_val_compare_and_swap(&probe_atomic_word, old + 1, old);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
