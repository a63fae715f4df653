// probe-attach: loads probe-attach.bpf.o with libbpf, and for each requested program kind
// (kprobe, fentry, tracepoint, kretprobe; default all) loads and attaches only that program,
// calls getppid() 8 times and reads the hit counter back. Prints one JSON line per kind:
//   {"kind":"fentry","load":true,"attach":true,"hits":8,"target":"__do_sys_getppid","error":""}
// Exit 0 when every requested kind attached and counted hits, 1 otherwise, 2 on usage errors.
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *kinds[] = {"kprobe", "fentry", "tracepoint", "kretprobe"};
static const char *progs[] = {"probe_kprobe", "probe_fentry", "probe_tracepoint", "probe_kretprobe"};
static char last_log[4096];
// fentry needs the traced function in the kernel's BTF: the syscall wrapper where it is
// described, else the static function behind it (6.1 only has __do_sys_getppid).
static const char *fentry_targets[] = {"__x64_sys_getppid", "__do_sys_getppid", NULL};

static int log_cb(enum libbpf_print_level level, const char *fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  vsnprintf(line, sizeof line, fmt, ap);
  line[strcspn(line, "\n")] = 0;
  if (line[0]) snprintf(last_log, sizeof last_log, "%s", line);
  if (getenv("PROBE_ATTACH_VERBOSE")) fprintf(stderr, "libbpf: %s\n", line);
  return 0;
}

static void json_str(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
    else putchar(*s);
  }
  putchar('"');
}

static int check(const char *obj_path, int k) {
  int load = 0, attach = 0, ok = 0;
  unsigned long long hits = 0;
  char err[512] = "";
  struct bpf_link *link = NULL;
  const char *target = k == 2 ? "syscalls/sys_enter_getppid" : k == 1 ? "" : "__x64_sys_getppid";
  last_log[0] = 0;
  struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
  if (!obj) { snprintf(err, sizeof err, "open %s: %s", obj_path, strerror(errno)); goto out; }
  struct bpf_program *p;
  bpf_object__for_each_program(p, obj)
    bpf_program__set_autoload(p, strcmp(bpf_program__name(p), progs[k]) == 0);
  if (k == 1) {
    struct btf *vmlinux = btf__load_vmlinux_btf();
    for (int i = 0; vmlinux && fentry_targets[i]; i++)
      if (btf__find_by_name_kind(vmlinux, fentry_targets[i], BTF_KIND_FUNC) > 0) { target = fentry_targets[i]; break; }
    btf__free(vmlinux);
    if (!target[0]) { snprintf(err, sizeof err, "no getppid function in the kernel BTF"); goto out; }
    bpf_program__set_attach_target(bpf_object__find_program_by_name(obj, progs[k]), 0, target);
  }
  int rc = bpf_object__load(obj);
  if (rc) { snprintf(err, sizeof err, "load: %s (%s)", strerror(-rc), last_log); goto out; }
  load = 1;
  p = bpf_object__find_program_by_name(obj, progs[k]);
  link = bpf_program__attach(p);
  if (!link) { snprintf(err, sizeof err, "attach: %s (%s)", strerror(errno), last_log); goto out; }
  attach = 1;
  for (int i = 0; i < 8; i++) syscall(SYS_getppid);
  __u32 key = k;
  int fd = bpf_map__fd(bpf_object__find_map_by_name(obj, "hits"));
  if (bpf_map_lookup_elem(fd, &key, &hits)) snprintf(err, sizeof err, "map lookup: %s", strerror(errno));
  ok = hits >= 8;
  if (!ok && !err[0]) snprintf(err, sizeof err, "attached but counted %llu hits, expected >= 8", hits);
out:
  printf("{\"kind\":\"%s\",\"load\":%s,\"attach\":%s,\"hits\":%llu,\"target\":\"%s\",\"error\":", kinds[k],
         load ? "true" : "false", attach ? "true" : "false", hits, target);
  json_str(err);
  printf("}\n");
  fflush(stdout);
  bpf_link__destroy(link);
  bpf_object__close(obj);
  return ok;
}

int main(int argc, char **argv) {
  const char *obj = getenv("PROBE_ATTACH_OBJ");
  if (!obj) obj = "/usr/lib/kernel-matrix/probe-attach.bpf.o";
  libbpf_set_print(log_cb);
  int failed = 0, n = 0;
  for (int k = 0; k < 4; k++) {
    int wanted = argc < 2;
    for (int i = 1; i < argc; i++) wanted |= strcmp(argv[i], kinds[k]) == 0 || strcmp(argv[i], "all") == 0;
    if (!wanted) continue;
    n++;
    if (!check(obj, k)) failed = 1;
  }
  if (!n) { fprintf(stderr, "usage: probe-attach [all|kprobe|fentry|tracepoint|kretprobe]...\n"); return 2; }
  return failed;
}
