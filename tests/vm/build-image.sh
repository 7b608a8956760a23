#!/usr/bin/env bash
# Builds (or finds in the cache) what the VM tier boots: a stock Debian 12
# kernel, a tiny busybox initramfs that mounts the root over 9p, and a
# minimal Debian 12 root filesystem with AppArmor and the sandbox Python.
#
#   build-image.sh            prints the image directory on its last line
#
# The image lives OUTSIDE the repository, in $CJVM_CACHE (default
# /var/cache/codejail-vm), under a key hashed from everything that goes into
# it (kernel and busybox package versions, the package list, the mirror and
# suite, this script and the initramfs script), so a warm run pays only the
# boot and an input change rebuilds by itself.  Nothing is downloaded but
# Debian packages, from the mirror this machine's apt already uses.
#
# Needs root (debootstrap), apt lists (apt-get update), debootstrap.
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
# network).
libs=libh2o-evloop0.13,libyaml-0-2,libcap2,libnl-3-200,libnl-route-3-200,libapparmor1,libseccomp2,libssl3,zlib1g
packages=$libs,apparmor,python3,python3-venv,python3-numpy,python3-six,python3-random2,python3-pytest,python3-requests,iproute2
# Loaded by path in this order by the initramfs (no depmod in there): the
# virtio PCI transport, 9p over virtio, and overlayfs for a writable root over
# the read-only cached one.
modules="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev
drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci fs/netfs/netfs fs/fscache/fscache
net/9p/9pnet net/9p/9pnet_virtio fs/9p/9p fs/overlayfs/overlay"

die() { echo "build-image: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, file ownership in the root filesystem)"
command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"

# The Debian mirror this machine's apt uses for the main suite (not
# -security, not third-party repositories), from deb822 .sources or the
# one-line format.  CJVM_MIRROR overrides it.
find_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Stanzas are separated by blank lines: print URIs of the first one
        # whose Suites list holds exactly "bookworm".
        awk -v suite="$suite" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uri = ""; ok = 0
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
                    if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
                }
                if (ok && uri ~ /debian\/?$/) { print uri; exit }
            }' "$f"
    done
    { cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true; } |
        awk -v suite="$suite" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) break;
                                             if ($(i + 1) == suite && $i ~ /debian\/?$/) print $i }'
}
mirror=${CJVM_MIRROR:-$(find_mirror | sed -n 1p)}
[ -n "$mirror" ] || die "no Debian $suite mirror found in /etc/apt/sources.list*; set CJVM_MIRROR"

# The kernel linux-image-amd64 points at in the current apt lists (6.1.0-NN),
# and the exact versions, so a new upload rebuilds the image.
candidate() { apt-cache policy "$1" | awk '/Candidate:/ { print $2 }'; }
kpkg=${CJVM_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
    awk '/Depends: linux-image-[0-9]/ { print $2; exit }')}
[ -n "$kpkg" ] || die "apt knows no linux-image-amd64: run apt-get update"
kver=$(candidate "$kpkg")
bbver=$(candidate busybox-static)
[ -n "$kver" ] && [ "$kver" != "(none)" ] || die "no candidate version of $kpkg"
[ -n "$bbver" ] && [ "$bbver" != "(none)" ] || die "no candidate version of busybox-static"

inputs="suite=$suite
mirror=$mirror
kernel=$kpkg=$kver
busybox-static=$bbver
packages=$packages
modules=$(echo $modules)
build-image.sh=$(sha256sum <"$here/build-image.sh" | cut -c1-64)
initramfs-init=$(sha256sum <"$here/initramfs-init" | cut -c1-64)"
key=$(printf '%s\n' "$inputs" | sha256sum | cut -c1-16)
out=$cache/$key

if [ -f "$out/complete" ]; then
    touch "$out/complete" # most recently used, for the pruning below
    echo "$out"
    exit 0
fi

mkdir -p "$cache"
# One builder at a time (two CI jobs on one machine): the second waits, then
# finds the image made.  Bounded: a stuck builder does not hang CI forever.
exec 9>"$cache/.lock"
flock -w 1200 9 || die "timed out waiting for $cache/.lock"
if [ -f "$out/complete" ]; then
    echo "$out"
    exit 0
fi

echo "build-image: building $out" >&2
printf '%s\n' "$inputs" | sed 's/^/build-image:   /' >&2
tmp=$cache/$key.tmp
rm -rf "$tmp"
mkdir -p "$tmp/dl"
start=$SECONDS

# apt's download sandbox user cannot write into a root-only directory;
# it is our own directory, so download as root (no warning).
(cd "$tmp/dl" && apt-get -q -o APT::Sandbox::User=root download "$kpkg=$kver" "busybox-static=$bbver" >&2)
dpkg -x "$tmp"/dl/linux-image-*.deb "$tmp/kernel"
dpkg -x "$tmp"/dl/busybox-static_*.deb "$tmp/busybox"
kdir=$(echo "$tmp"/kernel/lib/modules/*)
cp "$tmp"/kernel/boot/vmlinuz-* "$tmp/vmlinuz"
cp "$tmp"/kernel/boot/config-* "$tmp/config"

# initramfs: busybox, our /init, the modules flat in /modules.
ird=$tmp/initramfs
mkdir -p "$ird/bin" "$ird/modules" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/newroot"
cp "$tmp/busybox/bin/busybox" "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"
install -m 0755 "$here/initramfs-init" "$ird/init"
for m in $modules; do
    f=$kdir/kernel/$m.ko
    [ -f "$f" ] || die "module $m.ko is not in $kpkg (compressed or built in?)"
    cp "$f" "$ird/modules/"
done
(cd "$ird" && find . | "$tmp/busybox/bin/busybox" cpio -o -H newc 2>/dev/null) | gzip -1 >"$tmp/initrd.img"

# The root filesystem.  minbase + what the tests need; debootstrap resolves
# the Depends of --include (not Recommends, which we do not want anyway).
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
# The sandbox interpreter exactly as compose/Dockerfile makes it: a venv with
# a copy of the binary (the profiles name /opt/sandbox-venv/bin/python* in
# their change_profile and mount rules), Debian's numpy & co visible, and the
# bytecode compiled now (the sandbox runs `python -B` on read-only mounts;
# compiling at each start would also cost seconds under emulation).
chroot "$r" /usr/bin/python3 -m venv --copies --system-site-packages --without-pip /opt/sandbox-venv
chroot "$r" /opt/sandbox-venv/bin/python -c "import numpy, six, random2"
stdlib=$(chroot "$r" /usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
chroot "$r" /usr/bin/python3 -m compileall -q -j 0 /usr/lib/python3/dist-packages "$stdlib" \
    /opt/sandbox-venv >/dev/null || true # a few test files in the stdlib do not compile; harmless

rm -rf "$tmp/dl" "$tmp/kernel" "$tmp/busybox" "$ird"
printf '%s\n' "$inputs" >"$tmp/inputs.txt"
echo "built in $((SECONDS - start)) s" >>"$tmp/inputs.txt"
touch "$tmp/complete"
rm -rf "$out"
mv "$tmp" "$out"

# Keep the two most recently used images; older keys are dead weight
# (~300 MB each).  "complete" is touched on every use.
ls -1t "$cache"/*/complete 2>/dev/null | tail -n +3 | while read -r done_file; do
    old=$(dirname "$done_file")
    echo "build-image: pruning $old" >&2
    rm -rf "$old"
done
echo "build-image: done in $((SECONDS - start)) s" >&2
echo "$out"
