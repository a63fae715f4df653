// Tiny BPF object used by the kernel matrix to prove that a kprobe / fentry / tracepoint
// program really loads *and attaches* in the guest kernel: each program counts calls of
// getppid() into its own slot of an array map. Plain types only (no CO-RE), so it loads on
// any kernel that supports the program type.
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 4);
  __type(key, __u32);
  __type(value, __u64);
} hits SEC(".maps");

static __always_inline int bump(__u32 slot) {
  __u64 *v = bpf_map_lookup_elem(&hits, &slot);
  if (v) __sync_fetch_and_add(v, 1);
  return 0;
}

SEC("kprobe/__x64_sys_getppid")
int probe_kprobe(void *ctx) { return bump(0); }

SEC("fentry/__x64_sys_getppid")
int probe_fentry(void *ctx) { return bump(1); }

SEC("tracepoint/syscalls/sys_enter_getppid")
int probe_tracepoint(void *ctx) { return bump(2); }

SEC("kretprobe/__x64_sys_getppid")
int probe_kretprobe(void *ctx) { return bump(3); }
