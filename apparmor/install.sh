#!/bin/sh
# Load codejail's AppArmor profiles into the running kernel (or remove them).
#
#   sudo sh apparmor/install.sh              load or update codejail_sandbox and codejail_service
#   sudo sh apparmor/install.sh --persist    ... and copy them to /etc/apparmor.d so they load at boot
#   sudo sh apparmor/install.sh --remove     unload them (and delete the /etc/apparmor.d copies)
#
# The same steps as the devstack codejail page: `apparmor_parser --replace -W
# FILE` for each profile, then `aa-status | grep codejail` to show what the
# kernel has.  Run it on every host (every Kubernetes node) that runs the
# service, again after each change to the profiles.  To rename a profile,
# run --remove with the *old* files first, then install the new ones.
#
# POSIX sh: no bashisms.
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# The sandbox profile first: codejail_service names it in its change_profile rules.
profiles="codejail_sandbox codejail_service"
etc_dir=/etc/apparmor.d

usage() {
    cat <<EOF
Usage: sh $0 [--persist | --remove]
Load (or with --remove unload) the AppArmor profiles codejail_sandbox and
codejail_service from $here.

  --persist   also copy them to $etc_dir, so the apparmor service loads them at boot
  --remove    unload them from the kernel and delete copies made by --persist
  --help      show this help

Needs root and apparmor_parser (Debian/Ubuntu: apt install apparmor).
EOF
}

die() {
    echo "install.sh: $*" >&2
    exit 1
}

action=replace
persist=0
for arg in "$@"; do
    case $arg in
    --remove) action=remove ;;
    --persist) persist=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "install.sh: unknown argument '$arg'" >&2
        usage >&2
        exit 2
        ;;
    esac
done
if [ "$action" = remove ] && [ "$persist" = 1 ]; then
    echo "install.sh: --persist and --remove exclude each other" >&2
    exit 2
fi

parser=$(command -v apparmor_parser 2>/dev/null || true)
[ -n "$parser" ] || die "apparmor_parser not found: install AppArmor first (Debian/Ubuntu: sudo apt install apparmor)"

[ "$(id -u)" = 0 ] || die "must run as root to load profiles into the kernel: sudo sh $0 $*"

enabled=$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || true)
[ "$enabled" = Y ] || die "AppArmor is not enabled in this kernel (/sys/module/apparmor/parameters/enabled is '${enabled:-missing}'); boot with AppArmor on (Debian and Ubuntu do by default)"

for name in $profiles; do
    [ -r "$here/$name" ] || die "profile file $here/$name is missing"
done

status=0
for name in $profiles; do
    file=$here/$name
    if [ "$action" = remove ]; then
        # A profile that is not loaded is not an error: removing twice is fine.
        if grep -q "^$name " /sys/kernel/security/apparmor/profiles 2>/dev/null; then
            echo "install.sh: unloading $name" >&2
            "$parser" --remove "$file" || status=1
        else
            echo "install.sh: $name is not loaded" >&2
        fi
        if [ -f "$etc_dir/$name" ] && cmp -s "$file" "$etc_dir/$name"; then
            rm -f "$etc_dir/$name"
            echo "install.sh: deleted $etc_dir/$name" >&2
        fi
    else
        echo "install.sh: loading $name" >&2
        "$parser" --replace -W "$file" || status=1
        if [ "$persist" = 1 ]; then
            cp "$file" "$etc_dir/$name"
            echo "install.sh: copied to $etc_dir/$name (loaded at boot)" >&2
        fi
    fi
done

if command -v aa-status >/dev/null 2>&1; then
    echo "install.sh: aa-status | grep codejail:" >&2
    aa-status 2>/dev/null | grep codejail || echo "  (no codejail profile loaded)"
else
    grep codejail /sys/kernel/security/apparmor/profiles 2>/dev/null || echo "  (no codejail profile loaded)"
fi
[ "$status" = 0 ] || die "apparmor_parser failed (see above)"
