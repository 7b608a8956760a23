/* The one checklist: every layer of the sandbox, applied in the process
 * that will run the request's code, in one order, on every path.  The
 * cold and prepared paths run it in a fresh child and exec the interpreter
 * after it; the warm path runs it in a clone of the warm interpreter,
 * which returns to Python after it.  The paths differ only in how that
 * process is made (spawn.c, warm_child.c) and in how it receives its
 * request (at once, or cj_confine_await).
 *
 * Each step is made with system calls only (it runs between fork and exec,
 * or in a clone sharing pages with the warm interpreter) and verified where
 * the kernel can be asked; a failed step is reported as a record on the
 * setup stream and the process exits 127: fail closed. */
#ifndef CJ_CONFINE_H
#define CJ_CONFINE_H

#include <stddef.h>
#include <sys/types.h>

#include "landlock.h"
#include "layout.h"
#include "mounts.h"
#include "sandbox.h"

struct cj_seccomp;

/* A FAILURE record's step.  Fixed numbers: the service names them. */
enum cj_setup_step {
    CJ_STEP_CLONE = 1,
    CJ_STEP_SIGNALS,
    CJ_STEP_SETSID,
    CJ_STEP_PDEATHSIG,
    CJ_STEP_CGROUP,
    CJ_STEP_MOUNTS,
    CJ_STEP_HOSTNAME,
    CJ_STEP_NETWORK,
    CJ_STEP_FORK,
    CJ_STEP_APPARMOR,
    CJ_STEP_FDS,
    CJ_STEP_CHDIR,
    CJ_STEP_RLIMITS,
    CJ_STEP_CAPS,
    CJ_STEP_IDENTITY,
    CJ_STEP_NO_NEW_PRIVS,
    CJ_STEP_LANDLOCK,
    CJ_STEP_SECCOMP,
    CJ_STEP_EXEC,
    CJ_STEP_REQUEST,
    CJ_STEP_CGROUP_NS,
    CJ_STEP_CAPS_VERIFY,
    CJ_STEP_COUNT
};
const char *cj_setup_step_name(int step);

typedef struct cj_confine_plan {
    /* An exec follows (cold and prepared): the signal dispositions are
     * reset for it and AppArmor's profile takes effect at it.  Else (warm)
     * the profile is changed at once and the Python handlers stay. */
    int exec;
    /* No namespaces: a session of its own, so its group is killed as one. */
    int own_session;
    /* Cgroups it joins itself: v1 cgroup.procs files, and the v2 directory
     * when it was not born in it (-1 otherwise). */
    const int *cgroup_procs;
    size_t n_cgroup_procs;
    int cgroup_dir;
    /* NULL: no namespaces.  Else a cgroup namespace rooted at its cgroup,
     * this root, the hostname and a loopback of its own. */
    const cj_mount_plan *mounts;
    const char *cwd;
    /* The request's limits, or NULL when they come with the request
     * (cj_confine_await); the fixed ones are set either way. */
    const cj_sandbox_limits *limits;
    int nproc_rlimit; /* no pids cgroup: RLIMIT_NPROC instead */
    uid_t uid;
    gid_t gid;
    const char *apparmor_profile; /* NULL: off */
    int proc_fd;                  /* O_PATH host /proc, for AppArmor */
    const cj_landlock_spec *landlock;   /* NULL: off */
    const struct cj_seccomp *seccomp;   /* NULL: off */
    int fds[CJ_SANDBOX_FDS]; /* what becomes 0..4 */
    int fd_request;          /* what becomes CJ_FD_REQUEST, or -1 */
} cj_confine_plan;

/* The steps cj_confine takes for p, in order (at most max): pure, so the
 * unit test can hold every path's plan against the others.  Returns how
 * many, or 0 when max is too small. */
size_t cj_confine_steps(const cj_confine_plan *p, int *steps, size_t max);

/* Takes them.  Returns with every layer in force and the fds at 0..4 (and
 * CJ_FD_REQUEST); on a failure it does not return. */
void cj_confine(const cj_confine_plan *p);

/* A sandbox waiting for its request, confined: says READY on the setup
 * stream, takes the request from CJ_FD_REQUEST (struct cj_request_msg, its
 * stdin as SCM_RIGHTS, which becomes fd 0), applies its limits.  The
 * setup stream stays open when keep_setup (an exec follows, and closes it),
 * else it is closed.  No request (the service let it go): exits 0 without
 * a word.  Returns the request's zip_on_path. */
int cj_confine_await(int keep_setup);

/* The record writers (record.c): a record on the setup stream; and the
 * fail-closed exit after a failed step, reporting it first. */
void cj_record_send(int fd, int kind, int step, int value, const char *detail);
__attribute__((noreturn)) void cj_record_fail(int fd, int step, int errnum, const char *detail);

#endif
