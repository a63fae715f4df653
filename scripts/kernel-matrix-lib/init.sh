#!/bin/sh
# /init of the kernel-matrix guest (busybox sh). Mounts the usual pseudo filesystems, runs the
# command lines of /matrix/commands (one base64-encoded line each) with `sh -c` in /work, and
# streams each result to the results port (ttyS1; the console ttyS0 carries kernel messages)
# framed as
#   @@KM:<nonce>:<TAG>:<index>[:<value>]   ...base64 payload...   @@KM:<nonce>:END
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
i=0
while read -r line; do
  [ -n "$line" ] || continue
  echo "$line" | base64 -d >/tmp/.cmd
  emit CMD "$i" /tmp/.cmd
  sh -c "$(cat /tmp/.cmd)" </dev/null >/tmp/.out 2>/tmp/.err
  rc=$?
  emit STDOUT "$i" /tmp/.out
  emit STDERR "$i" /tmp/.err
  emit EXIT "$i:$rc"
  i=$((i + 1))
done </matrix/commands

emit DONE "$i:$(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
