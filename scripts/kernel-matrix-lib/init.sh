#!/bin/sh
# /init of the kernel-matrix guest (busybox sh). Mounts the usual pseudo filesystems, runs the
# command lines of /matrix/commands (one base64-encoded line each) with `sh -c` in /work, and
# streams each result to the results port (ttyS1; the console ttyS0 carries kernel messages)
# framed as
#   @@KM:<nonce>:<TAG>:<index>[:<value>]   (CMD and EXIT values carry the guest uptime: per-command seconds)   ...base64 payload...   @@KM:<nonce>:END
# so nothing else written to a console can be mistaken for a result. Then powers off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8 TMPDIR=/tmp
export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu
# ebpfctl trace needs an audit log; features.json and verifier logs go to the run directory
export EBPFCTL_AUDIT_LOG=/tmp/audit.jsonl EBPFCTL_RUN_DIR=/run/ebpfctl NO_COLOR=1

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
# cgroup v2 with the memory controller: oomkill's event is a memory-cgroup OOM kill
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null && echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /var/log/ebpfctl /var/tmp /root
ulimit -l unlimited 2>/dev/null
hostname kernel-matrix
ip link set lo up 2>/dev/null

OUT=/dev/ttyS1
[ -c "$OUT" ] || OUT=/dev/console
stty -F "$OUT" raw -echo 2>/dev/null
N=$(cat /matrix/nonce)

# emit TAG INDEX[:VALUE] [FILE]
emit() {
  {
    echo "@@KM:$N:$1:$2"
    [ -n "$3" ] && base64 "$3"
    echo "@@KM:$N:END"
  } >"$OUT"
}

uname -r >/tmp/.release
emit BOOT "0:$(cut -d' ' -f1 /proc/uptime)" /tmp/.release

cd /work 2>/dev/null || cd /
# A line starting with "& " runs in the background, at most $LANES at a time (the guest has 2
# vCPUs: TCG time is the matrix's cost); any other line first waits for those. Results are
# emitted by this loop only, each as soon as its command is done, so frames never interleave.
LANES=2
pending="" # indexes started in the background and not yet emitted
run_cmd() { # INDEX: runs /tmp/.cmd.INDEX, leaves .out/.err/.rc/.end.INDEX
  sh -c "$(cat /tmp/.cmd.$1)" </dev/null >/tmp/.out.$1 2>/tmp/.err.$1
  echo $? >/tmp/.rc.$1.tmp
  cut -d' ' -f1 /proc/uptime >/tmp/.end.$1
  mv /tmp/.rc.$1.tmp /tmp/.rc.$1
}
emit_result() {
  emit STDOUT "$1" /tmp/.out.$1
  emit STDERR "$1" /tmp/.err.$1
  emit EXIT "$1:$(cat /tmp/.rc.$1):$(cat /tmp/.end.$1)"
}
reap() { # emits finished background commands; $1 = how many may still run when it returns
  while :; do
    left="" n=0
    for j in $pending; do
      if [ -f /tmp/.rc.$j ]; then emit_result "$j"; else left="$left $j"; n=$((n + 1)); fi
    done
    pending=$left
    [ "$n" -le "$1" ] && return
    sleep 0.2
  done
}
i=0
while read -r line; do
  [ -n "$line" ] || continue
  echo "$line" | base64 -d >/tmp/.cmd.$i
  bg=0
  case "$(cat /tmp/.cmd.$i)" in "& "*) bg=1; sed -i '1s/^& //' /tmp/.cmd.$i ;; esac
  if [ $bg = 1 ]; then reap $((LANES - 1)); else reap 0; fi
  emit CMD "$i:$(cut -d' ' -f1 /proc/uptime)" /tmp/.cmd.$i
  if [ $bg = 1 ]; then
    run_cmd $i &
    pending="$pending $i"
  else
    run_cmd $i
    emit_result $i
  fi
  i=$((i + 1))
done </matrix/commands
reap 0

emit DONE "$i:$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
