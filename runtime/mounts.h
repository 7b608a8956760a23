/* The sandbox's filesystem: a fresh tmpfs root, root's and closed to the
 * sandbox user, holding only what the interpreter needs, each through
 * inodes of the execution's own (read-only overlays of the host's
 * directories, copies of its files: no lock or inotify watch reaches
 * another execution), the execution directory at /tmp/codejail-XXXXXX
 * (read-only) with a size-capped tmpfs as its tmp/, its own /dev/null,
 * /dev/zero, /dev/urandom and /dev/random nodes, and empty stand-ins for the standard host paths (/etc/hosts, /proc, /sys...)
 * that answer PermissionError.  Nothing of the host's /proc, /sys, /etc (but
 * what is listed), /home or other executions' directories is in it. */
#ifndef CJ_MOUNTS_H
#define CJ_MOUNTS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct cj_mount_plan {
    const char *host_dir;    /* the execution directory on the host */
    const char *inner_dir;   /* where it appears: /tmp/codejail-XXXXXX */
    const char *inner_tmp;   /* inner_dir + "/tmp" */
    const char *const *binds; /* host paths bound read-only at the same path */
    const char *const *links; /* NAME=TARGET symlinks at the root (merged /usr: lib -> usr/lib) */
    const char *noexec_so;   /* host path of codejail-noexec.so, or NULL */
    const char *tmp_options; /* tmpfs options for tmp/: "size=...,mode=0700,uid=...,gid=..." */
    /* The wrapper compiled (without, with python_lib.zip on sys.path), its
     * file name CJ_PYC_PLACEHOLDER; written at CJ_INNER_PYC[i] with
     * inner_dir's jailed_code in its place.  NULL: none. */
    const char *pyc[2];
    size_t pyc_len[2];
} cj_mount_plan;

/* Where the noexec library appears inside. */
#define CJ_INNER_NOEXEC "/.codejail/noexec.so"
/* The overlays' empty second layer (relative to the root). */
#define CJ_INNER_EMPTY ".codejail/empty"
/* The compiled wrappers inside, and the name they are compiled under: as
 * long as the real one (an execution directory is always
 * /tmp/codejail-XXXXXX), so the bytes are patched in place. */
#define CJ_INNER_PYC0 "/.codejail/jailed_code.pyc"
#define CJ_INNER_PYC1 "/.codejail/jailed_code-zip.pyc"
#define CJ_PYC_PLACEHOLDER "/tmp/codejail-@@@@@@/jailed_code"

/* Child side, in a fresh mount namespace, as root: builds the root and
 * pivots into it.  Only system calls.  Returns 0 or -errno; *step names
 * the failing operation for the log. */
int cj_mounts_enter(const cj_mount_plan *p, const char **step);

#endif
