#!/usr/bin/env bash
# Builds (or finds in the cache) what the VM tier boots for one kernel of
# tests/vm/kernels: that kernel, pinned by exact version, a tiny busybox
# initramfs with the modules it needs to mount the root over 9p, and a
# minimal Debian 12 root filesystem with AppArmor and the sandbox Python,
# shared by every kernel.
#
#   build-image.sh NAME       prints the image directory on its last line
#                             (vmlinuz, initrd.img, rootfs)
#
# Everything lives OUTSIDE the repository, in $CJVM_CACHE (default
# /var/cache/codejail-vm): rootfs-<key>/ and kernel-<name>-<key>/, each key
# hashed from what goes into it, so a warm run pays only the boot and an input
# change rebuilds by itself.  Which suite and which kernels come from this
# script and the list; only the mirror comes from the host's apt
# configuration (CJVM_MIRROR, CJVM_SECURITY_MIRROR override it).  The kernel
# is fetched with apt under a private configuration of our own: signatures
# checked against debian-archive-keyring, the host's lists untouched.
#
# Needs root (debootstrap), debootstrap, apt.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${CJVM_CACHE:-/var/cache/codejail-vm}
suite=bookworm
# What the guest needs, as compose/Dockerfile's runtime stage has it: the
# shared libraries the binaries link (keep in step with CMakeLists.txt; the
# guest's first check names any that is missing), the sandbox Python
# (python3-venv, and what graders import: numpy, six, random2); and for the
# tests: AppArmor's tools, pytest and requests for the escape suite, iproute2
# to bring lo up (the service listens on 127.0.0.1; the guest has no other
# network); busybox-static for every kernel's initramfs.
libs=libh2o-evloop0.13,libyaml-0-2,libcap2,libnl-3-200,libnl-route-3-200,libapparmor1,libseccomp2,libssl3,zlib1g
packages=$libs,apparmor,python3,python3-venv,python3-numpy,python3-six,python3-random2,python3-pytest,python3-requests,iproute2,busybox-static
# What the initramfs loads (kmods.py adds what each depends on, per kernel):
# the virtio PCI transport, 9p over virtio, and overlayfs for a writable root
# over the read-only cached one.
modules="virtio_pci 9pnet_virtio 9p overlay"

die() { echo "build-image: $*" >&2; exit 1; }
[ $# = 1 ] || die "usage: build-image.sh NAME (a name from $here/kernels)"
name=$1
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, file ownership in the root filesystem)"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"

read -r _ ksuite kpkg kver _ < <(awk -v n="$name" '$1 == n' "$here/kernels") ||
    die "no kernel named '$name' in $here/kernels"
[ -n "${kver:-}" ] || die "the line for '$name' in $here/kernels has no version"

# The host's Debian mirror for a suite (not third-party repositories), from
# deb822 .sources or the one-line format: the first URI whose suites hold
# exactly $1 and whose path ends in /debian (or /debian-security).
host_uri() {
    local want=$1 f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Stanzas are separated by blank lines.
        awk -v suite="$want" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uri = ""; ok = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
                    if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
                }
                if (ok && uri ~ /debian(-security)?\/?$/) { print uri; exit }
            }' "$f"
    done
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
        awk -v suite="$want" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) break;
                                            if ($(i + 1) == suite && $i ~ /debian(-security)?\/?$/) print $i }'
}
mirror=${CJVM_MIRROR:-$(host_uri "$suite" | sed -n 1p)}
[ -n "$mirror" ] || die "no Debian $suite mirror in /etc/apt/sources.list*; set CJVM_MIRROR"
mirror=${mirror%/}
# The security archive lives beside the main one (debian -> debian-security)
# unless the host names its own.
security=${CJVM_SECURITY_MIRROR:-$(host_uri "$suite-security" | sed -n 1p)}
security=${security:-$mirror-security}
security=${security%/}
case $ksuite in
*-security) kmirror=$security ;;
*) kmirror=$mirror ;;
esac

hash() { sha256sum | cut -c1-16; }
script_sum=$(sha256sum <"$here/build-image.sh" | cut -c1-64)
root_inputs="suite=$suite
mirror=$mirror
packages=$packages
build-image.sh=$script_sum"
root_key=$(printf '%s\n' "$root_inputs" | hash)
root_dir=$cache/rootfs-$root_key
kernel_inputs="rootfs=$root_key
kernel=$kpkg=$kver from $kmirror $ksuite
modules=$modules
build-image.sh=$script_sum
kmods.py=$(sha256sum <"$here/kmods.py" | cut -c1-64)
initramfs-init=$(sha256sum <"$here/initramfs-init" | cut -c1-64)"
kernel_dir=$cache/kernel-$name-$(printf '%s\n' "$kernel_inputs" | hash)

if [ -f "$kernel_dir/complete" ] && [ -f "$root_dir/complete" ]; then
    touch "$kernel_dir/complete" "$root_dir/complete" # most recently used, for the pruning below
    echo "$kernel_dir"
    exit 0
fi

mkdir -p "$cache"
# One builder at a time (two CI jobs on one machine): the second waits, then
# finds the image made.  Bounded: a stuck builder does not hang CI forever.
exec 9>"$cache/.lock"
flock -w 1200 9 || die "timed out waiting for $cache/.lock"
start=$SECONDS

build_rootfs() {
    echo "build-image: building $root_dir" >&2
    printf '%s\n' "$root_inputs" | sed 's/^/build-image:   /' >&2
    local tmp=$root_dir.tmp r
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # minbase + what the tests need; debootstrap resolves the Depends of
    # --include (not Recommends, which we do not want anyway).
    if ! debootstrap --variant=minbase --include="$packages" "$suite" "$tmp/rootfs" "$mirror" \
            >"$tmp/debootstrap.log" 2>&1; then
        tail -n 30 "$tmp/debootstrap.log" >&2
        [ -f "$tmp/rootfs/debootstrap/debootstrap.log" ] && tail -n 30 "$tmp/rootfs/debootstrap/debootstrap.log" >&2
        die "debootstrap failed (log: $tmp/debootstrap.log)"
    fi
    r=$tmp/rootfs
    rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/*
    echo cjvm >"$r/etc/hostname"
    printf '127.0.0.1 localhost cjvm\n::1 localhost\n' >"$r/etc/hosts"
    # Mount points for the shares (see initramfs-init); /opt/codejail is where
    # the AppArmor profiles and compose/Dockerfile put the installed tree.
    mkdir -p "$r/opt/codejail" "$r/opt/codejail-src" "$r/opt/cjvm-out"
    # The sandbox interpreter exactly as compose/Dockerfile makes it: a venv
    # with a copy of the binary (the profiles name /opt/sandbox-venv/bin/python*
    # in their change_profile and mount rules), Debian's numpy & co visible,
    # and the bytecode compiled now (the sandbox runs `python -B` on read-only
    # mounts; compiling at each start would also cost seconds under emulation).
    chroot "$r" /usr/bin/python3 -m venv --copies --system-site-packages --without-pip /opt/sandbox-venv
    chroot "$r" /opt/sandbox-venv/bin/python -c "import numpy, six, random2"
    local stdlib
    stdlib=$(chroot "$r" /usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
    chroot "$r" /usr/bin/python3 -m compileall -q -j 0 /usr/lib/python3/dist-packages "$stdlib" \
        /opt/sandbox-venv >/dev/null || true # a few test files in the stdlib do not compile; harmless
    printf '%s\n' "$root_inputs" >"$tmp/inputs.txt"
    touch "$tmp/complete"
    rm -rf "$root_dir"
    mv "$tmp" "$root_dir"
}

# apt under a configuration of our own: only the kernel's suite, its lists
# and downloads in the cache, the host's status and preferences left out.
fetch_kernel() { # DIR
    local apt=$cache/apt/$ksuite
    mkdir -p "$apt/lists/partial" "$apt/archives/partial"
    : >"$apt/status"
    echo "deb $kmirror $ksuite main" >"$apt/sources.list"
    local opts=(-q -o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
                -o Dir::State::Lists="$apt/lists" -o Dir::State::status="$apt/status"
                -o Dir::Cache="$apt" -o Dir::Cache::Archives="$apt/archives"
                -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
                -o Acquire::Languages=none -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update >&2 || die "apt-get update of $kmirror $ksuite failed"
    if ! (cd "$1" && apt-get "${opts[@]}" download "$kpkg=$kver" >&2); then
        local now
        now=$(apt-cache "${opts[@]}" policy "$kpkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')
        die "$kmirror $ksuite no longer serves $kpkg=$kver (it has ${now:-no $kpkg}): pin a current version in $here/kernels"
    fi
}

build_kernel() {
    echo "build-image: building $kernel_dir" >&2
    printf '%s\n' "$kernel_inputs" | sed 's/^/build-image:   /' >&2
    local tmp=$kernel_dir.tmp moddir ird
    rm -rf "$tmp"
    mkdir -p "$tmp/dl"
    fetch_kernel "$tmp/dl"
    dpkg -x "$tmp"/dl/*.deb "$tmp/kernel"
    cp "$tmp"/kernel/boot/vmlinuz-* "$tmp/vmlinuz"
    cp "$tmp"/kernel/boot/config-* "$tmp/config"
    # /lib/modules before Debian 13, /usr/lib/modules since.
    moddir=
    for d in "$tmp"/kernel/lib/modules/* "$tmp"/kernel/usr/lib/modules/*; do
        [ -d "$d" ] && moddir=$d && break
    done
    [ -n "$moddir" ] || die "$kpkg holds no modules directory"
    # initramfs: busybox (from the shared root filesystem), our /init, the
    # modules in load order.
    ird=$tmp/initramfs
    mkdir -p "$ird/bin" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/newroot"
    cp "$root_dir/rootfs/bin/busybox" "$ird/bin/busybox"
    ln -s busybox "$ird/bin/sh"
    install -m 0755 "$here/initramfs-init" "$ird/init"
    echo "build-image: modules for $kpkg: $(/usr/bin/python3 "$here/kmods.py" "$moddir" "$ird/modules" $modules)" >&2
    (cd "$ird" && find . | "$ird/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -1 >"$tmp/initrd.img"
    ln -s "../rootfs-$root_key/rootfs" "$tmp/rootfs"
    rm -rf "$tmp/dl" "$tmp/kernel" "$ird"
    printf '%s\n' "$kernel_inputs" >"$tmp/inputs.txt"
    touch "$tmp/complete"
    rm -rf "$kernel_dir"
    mv "$tmp" "$kernel_dir"
}

[ -f "$root_dir/complete" ] || build_rootfs
[ -f "$kernel_dir/complete" ] || build_kernel
touch "$kernel_dir/complete" "$root_dir/complete"

# Keep the two most recently used root filesystems (~300 MB each) and, per
# kernel of the list, its most recent image; the rest is dead weight.
prune() { # GLOB KEEP: by the time each "complete" was last touched
    ls -1t $1/complete 2>/dev/null | tail -n +"$(($2 + 1))" | while read -r done_file; do
        echo "build-image: pruning $(dirname "$done_file")" >&2
        rm -rf "$(dirname "$done_file")"
    done
}
prune "$cache/rootfs-*" 2
prune "$cache/kernel-$name-*" 1
echo "build-image: done in $((SECONDS - start)) s" >&2
echo "$kernel_dir"
