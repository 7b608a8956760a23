#!/bin/bash
# Stage 2 of the VM tier's guest: PID 1 after switch_root (initramfs-init).
# It does what a container runtime and the host's boot would: mount the
# kernel's filesystems (proc, sysfs, securityfs for AppArmor, ONLY cgroup2 at
# /sys/fs/cgroup, as on a current Debian/Ubuntu host), bring lo up, then
# exec codejail-init as PID 1 with the guest test runner as its main child,
# the way the container image runs the server.  codejail-init delegates the
# cgroup v2 hierarchy (memory and pids on in the root's subtree_control,
# the `codejail` parent made).  When the runner ends, it powers off; should
# anything here fail, the line below says so and the guest powers off too
# (the host test then finds no CJVM DONE: a failure, never a pass).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8

fatal() {
    echo "CJVM FATAL stage2: $*"
    echo o >/proc/sysrq-trigger
    sleep 10
    exit 1
}

mount -t proc -o nosuid,nodev,noexec proc /proc || fatal "mount proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys || fatal "mount sysfs"
mount -t devtmpfs -o nosuid devtmpfs /dev || fatal "mount devtmpfs"
mkdir -p /dev/pts /dev/shm
mount -t devpts -o nosuid,noexec devpts /dev/pts || fatal "mount devpts"
mount -t tmpfs -o nosuid,nodev shm /dev/shm || fatal "mount /dev/shm"
mount -t tmpfs -o nosuid,nodev,mode=0755 run /run || fatal "mount /run"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmp /tmp || fatal "mount /tmp"
mount -t securityfs -o nosuid,nodev,noexec securityfs /sys/kernel/security || fatal "mount securityfs"
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup || fatal "mount cgroup2"
# Keep every apparmor="DENIED" line: the kernel rate-limits audit printks
# (10 per 5 s) when no audit daemon reads them.
echo 0 >/proc/sys/kernel/printk_ratelimit
ip link set lo up || fatal "ip link set lo up"

prefix=/opt/codejail
for arg in $(cat /proc/cmdline); do
    case $arg in cjvm.prefix=*) prefix=${arg#cjvm.prefix=} ;; esac
done
init=$prefix/bin/codejail-init
runner=/opt/codejail-src/tests/vm/guest/run.py
[ -x "$init" ] || fatal "$init is missing (is the build shared as cjprefix?)"

# --keep-caps: the runner is no server; it loads AppArmor profiles
# (CAP_MAC_ADMIN) and reads the kernel log, which the server's bounding set
# leaves out.
opts=()
"$init" --help 2>&1 | grep -q -- --keep-caps && opts+=(--keep-caps)
shopt -s execfail
exec "$init" "${opts[@]}" -- /usr/bin/python3 -u "$runner" --prefix "$prefix"
fatal "exec $init failed"
