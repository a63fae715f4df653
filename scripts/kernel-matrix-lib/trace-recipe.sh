#!/bin/sh
# trace-recipe.sh RECIPE: runs `ebpfctl trace RECIPE --output json` in the kernel-matrix guest and,
# once its "attached" record is out, makes the one real event the recipe exists to see (a known
# exec, open, bind, connect, signal, exit, OOM kill, block read, uprobe'd call; CPU and scheduler
# work for the aggregations). The trace's events/aggregates are its stdout, its lifecycle records
# (compat, attached, end) its stderr; the exit code is the trace's. The host side
# (test/verifier/matrix/recipes-matrix.test.ts) checks each event against what is done here.
# Known values: exec /bin/true; open /etc/hostname; bind 0.0.0.0:4242; connect 127.0.0.1:9;
# tcplife 127.0.0.1 -> 127.0.0.1:4343 ("matrix-hello" sent); SIGUSR1 to a `sleep 30`; exit 7 of a
# child `sh`; OOM kill of a `dd` with a 48 MiB buffer in a 16 MiB memory cgroup; reads of /dev/nvme0n1;
# funclatency on ebpfctl_sleepy of /usr/bin/sleepy_function (20 ms x 5).
# Each trace lasts 1.8 s after attach (the actions take well under a second even under TCG): the
# CPU budget trips only after two consecutive 1 s intervals over the ceiling, and under TCG on a
# shared host ebpfctl's own post-attach CPU, measured against an emulated CPU 20-50x slower, reads
# 70-120 %. A longer trace would end in a max_cpu breach that says nothing about the kernel. The
# CPU budget is raised to the recipes' ceiling (25 %) for the same reason.
# trace-recipe.sh oneliner-NAME runs one of the one-liners below (ebpfctl trace -e) the same way:
# the generic programs, with the tables a real one-liner writes, on this guest's kernel.
r=$1
D=${TRACE_DURATION:-1800ms}
args=""
case "$r" in
  funclatency) args="--binary /usr/bin/sleepy_function --symbol ebpfctl_sleepy" ;;
  profile) args="-F 99" ;;
esac
prog=""
case "$r" in
  oneliner-tracepoint) prog='tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { @[comm] = count(); }' ;;
  oneliner-two-tracepoints) prog='tracepoint:sched:sched_process_exec,tracepoint:sched:sched_process_exit /comm == "true"/ { @[probe] = count(); }' ;;
  # several tracepoints, one table entry (only builtins): no attach cookie needed, so 5.10 runs it
  # (its own comm: the one-liners run at the same time, and two-tracepoints counts "true")
  oneliner-same-entry) prog='tracepoint:sched:sched_process_exec,tracepoint:sched:sched_process_exit /comm == "same_entry"/ { @[comm] = count(); }' ;;
  oneliner-profile) prog='profile:hz:99 { @[comm] = count(); }' ;;
  oneliner-uprobe) prog='uprobe:/usr/bin/sleepy_function:ebpfctl_sleepy { @ = count(); }' ;;
  oneliner-usdt) prog='usdt:/usr/bin/uprobe_target:ebpfctl_fixture:tick { @[str(arg1)] = count(); }' ;;
  oneliner-*) echo "trace-recipe.sh: no one-liner $r" >&2; exit 2 ;;
esac

act() {
  case "$r" in
    execsnoop) /bin/true ;;
    opensnoop) cat /etc/hostname >/dev/null ;;
    bindsnoop) nc -l -p 4242 </dev/null >/dev/null 2>&1 & l=$!; sleep 0.5; kill $l 2>/dev/null; wait $l ;;
    tcpconnect) nc 127.0.0.1 9 </dev/null >/dev/null 2>&1 ;;
    tcplife)
      nc -l -p 4343 </dev/null >/dev/null 2>&1 & l=$!
      sleep 0.3
      echo matrix-hello | nc -w 1 127.0.0.1 4343 >/dev/null 2>&1
      # the listener ends by itself once it has read the bytes (killed early, it may not have:
      # rx_bytes 0 on a loaded guest); the kill is only a bound
      (sleep 3; kill $l 2>/dev/null) & wait $l ;;
    sigsnoop) sleep 30 & c=$!; sleep 0.2; kill -USR1 $c; wait $c; echo "sigsnoop-child=$c" >&2 ;;
    exitsnoop) sh -c 'exit 7' ;;
    oomkill)
      g=/sys/fs/cgroup/matrix-oom
      mkdir -p $g && echo 16M >$g/memory.max && echo 0 >$g/memory.swap.max 2>/dev/null
      sh -c "echo \$\$ >$g/cgroup.procs && exec dd if=/dev/zero of=/dev/null bs=48M count=1" >/dev/null 2>&1 ;;
    biolatency) echo 3 >/proc/sys/vm/drop_caches; dd if=/dev/nvme0n1 of=/dev/null bs=4k count=256 2>/dev/null ;;
    funclatency | oneliner-uprobe) sleepy_function 20 5 >/dev/null ;;
    profile | oneliner-profile) i=0; while [ $i -lt 30000 ]; do i=$((i + 1)); done ;;
    oneliner-tracepoint) cat /etc/hostname >/dev/null ;;
    oneliner-two-tracepoints) /bin/true ;;
    # a real ELF (busybox runs its applets without exec); comm is the name it was exec'd by
    oneliner-same-entry) ln -sf /usr/bin/true /tmp/same_entry && /tmp/same_entry ;;
    oneliner-usdt) uprobe_target 7:2 8:1 >/dev/null ;;
    runqlat) for i in 1 2 3 4 5; do sleep 0.05; done ;;
    syscount) cat /etc/hostname /etc/passwd >/dev/null ;;
  esac
}

# Each recipe's --max-cpu ceiling: under TCG the consumer's first seconds (Bun's JIT warming up)
# cost many times what they do on hardware; opensnoop measured 43% of a vCPU for 120 events on
# 6.12 (CI, 2026-12-02), over the 25 the other recipes allow at most.
cpu=25
case $r in execsnoop | opensnoop) cpu=50 ;; esac
if [ -n "$prog" ]; then
  ebpfctl trace -e "$prog" --output json -d "$D" --max-cpu $cpu 2>/tmp/trace-$r.err &
else
  # shellcheck disable=SC2086 # $args is a list of words
  ebpfctl trace "$r" --output json -d "$D" --max-cpu $cpu $args 2>/tmp/trace-$r.err &
fi
p=$!
i=0
until grep -q '"kind":"attached"' /tmp/trace-$r.err || ! kill -0 $p 2>/dev/null || [ $i -ge 900 ]; do sleep 0.1; i=$((i + 1)); done
grep -q '"kind":"attached"' /tmp/trace-$r.err && act
wait $p
rc=$?
cat /tmp/trace-$r.err >&2
exit $rc
