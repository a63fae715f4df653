// SPDX-License-Identifier: GPL-2.0
/* OOM kills: victim and trigger, with the victim's memory at the time. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "ebpfctl.bpf.h"
#include "oomkill.h"

EVENTS_RINGBUF(events, 64 * 1024);
/* Keeps struct oom_event in the object's BTF (a ring buffer map carries no value type; user space
 * decodes events by member name from BTF). 8 bytes of .rodata, never read. */
const struct oom_event *const ebpfctl_event_type = 0;

#define PAGE_KB 4 /* x86-64 base pages */

/*
 * mm_struct.rss_stat before 6.2: one struct of atomic counters (vmlinux.h, from 6.2+, has an
 * array of percpu_counter instead). CO-RE flavors (the ___old suffix is ignored when matching
 * kernel types; preserve_access_index makes every access through them a relocation, as
 * vmlinux.h does for its own types); bpf_core_field_exists() picks the layout at load time and
 * libbpf turns the other branch's unresolvable relocations into dead code.
 */
struct mm_rss_stat___old {
	atomic_long_t count[NR_MM_COUNTERS];
} __attribute__((preserve_access_index));

struct mm_struct___old {
	struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

/* Page count of one rss_stat counter (0 if neither layout is found). */
static __always_inline long mm_rss_pages(struct mm_struct *mm, int member)
{
	if (bpf_core_field_exists(mm->rss_stat[0].count)) {
		/* 6.2+: percpu_counter.count, the shared part of the per-CPU counters (close to the sum). */
		switch (member) {
		case MM_ANONPAGES:
			return mm->rss_stat[MM_ANONPAGES].count;
		case MM_FILEPAGES:
			return mm->rss_stat[MM_FILEPAGES].count;
		default:
			return mm->rss_stat[MM_SHMEMPAGES].count;
		}
	}
	struct mm_struct___old *old = (void *)mm;
	if (bpf_core_field_exists(old->rss_stat.count)) {
		/*
		 * Before 6.2: atomic_long_t, synced from the per-task caches (also approximate). Read
		 * with bpf_probe_read_kernel: the 6.1 verifier cannot walk a direct load into an array
		 * of a typedef'd struct ("Type 'atomic_long_t' is not a struct"). Never reached on 6.2+,
		 * so the tp_btf program still needs no bpf_probe_read_kernel there (lockdown).
		 */
		switch (member) {
		case MM_ANONPAGES:
			return BPF_CORE_READ(old, rss_stat.count[MM_ANONPAGES].counter);
		case MM_FILEPAGES:
			return BPF_CORE_READ(old, rss_stat.count[MM_FILEPAGES].counter);
		default:
			return BPF_CORE_READ(old, rss_stat.count[MM_SHMEMPAGES].counter);
		}
	}
	return 0;
}

/* Filters (pid/uid/comm) apply to the victim: "tell me when my service is OOM-killed". */
static __always_inline bool victim_matches(__u32 tgid, __u32 uid, const char *comm)
{
	if (targ_tgid && tgid != targ_tgid)
		return false;
	if (targ_uid != (__u32)-1 && uid != targ_uid)
		return false;
	return comm_matches(comm);
}

static __always_inline void fill_trigger(struct oom_event *e)
{
	e->ts_ns = bpf_ktime_get_ns();
	e->fpid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->fcomm, sizeof(e->fcomm));
}

/* BCC's hook: oom_kill_process(oc, message) with oc->chosen the victim. */
SEC("kprobe/oom_kill_process")
int BPF_KPROBE(kprobe_oom_kill_process, struct oom_control *oc, const char *message)
{
	struct task_struct *victim = BPF_CORE_READ(oc, chosen);
	char tcomm[TASK_COMM_LEN];
	BPF_CORE_READ_STR_INTO(&tcomm, victim, comm);
	__u32 tgid = BPF_CORE_READ(victim, tgid);
	__u32 uid = BPF_CORE_READ(victim, cred, uid.val);
	if (!victim_matches(tgid, uid, tcomm))
		return 0;
	struct oom_event *e = reserve_event(&events, struct oom_event);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	fill_trigger(e);
	e->tpid = tgid;
	e->tuid = uid;
	__builtin_memcpy(e->tcomm, tcomm, sizeof(tcomm));
	e->total_pages = BPF_CORE_READ(oc, totalpages);
	e->total_vm_kb = BPF_CORE_READ(victim, mm, total_vm) * PAGE_KB;
	e->oom_score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	submit_event(&events, e);
	return 0;
}

/* tp_btf: the victim is BTF-typed; everything is read directly (no bpf_probe_read_kernel). */
SEC("tp_btf/mark_victim")
int BPF_PROG(btf_mark_victim, struct task_struct *task, uid_t uid)
{
	if (!victim_matches(task->tgid, uid, task->comm))
		return 0;
	struct oom_event *e = reserve_event(&events, struct oom_event);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	fill_trigger(e);
	e->tpid = task->tgid;
	e->tuid = uid;
	__builtin_memcpy(e->tcomm, task->comm, sizeof(e->tcomm));
	struct mm_struct *mm = task->mm;
	e->total_vm_kb = mm->total_vm * PAGE_KB;
	long anon = mm_rss_pages(mm, MM_ANONPAGES);
	long file = mm_rss_pages(mm, MM_FILEPAGES);
	long shmem = mm_rss_pages(mm, MM_SHMEMPAGES);
	e->anon_rss_kb = anon > 0 ? anon * PAGE_KB : 0;
	e->file_rss_kb = file > 0 ? file * PAGE_KB : 0;
	e->shmem_rss_kb = shmem > 0 ? shmem * PAGE_KB : 0;
	e->oom_score_adj = task->signal->oom_score_adj;
	submit_event(&events, e);
	return 0;
}

/* The tracepoint record has the sizes in KiB already; comm is a __data_loc string. */
SEC("tracepoint/oom/mark_victim")
int tp_mark_victim(struct trace_event_raw_mark_victim *ctx)
{
	char tcomm[TASK_COMM_LEN] = {};
	bpf_probe_read_kernel_str(tcomm, sizeof(tcomm), (void *)ctx + (ctx->__data_loc_comm & 0xffff));
	if (!victim_matches(ctx->pid, ctx->uid, tcomm))
		return 0;
	struct oom_event *e = reserve_event(&events, struct oom_event);
	if (!e)
		return 0;
	__builtin_memset(e, 0, sizeof(*e));
	fill_trigger(e);
	e->tpid = ctx->pid;
	e->tuid = ctx->uid;
	__builtin_memcpy(e->tcomm, tcomm, sizeof(tcomm));
	e->total_vm_kb = ctx->total_vm;
	e->anon_rss_kb = ctx->anon_rss;
	e->file_rss_kb = ctx->file_rss;
	e->shmem_rss_kb = ctx->shmem_rss;
	e->oom_score_adj = ctx->oom_score_adj;
	submit_event(&events, e);
	return 0;
}
