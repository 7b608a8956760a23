/* Starting the sandboxed interpreter.  Everything is prepared by the parent;
 * the children make system calls along one linear checklist, and any failure
 * is reported as a record over the setup pipe before _exit: fail closed.
 *
 * With namespaces: clone3 makes the sandbox's init (PID 1 of fresh pid,
 * mount, net, ipc, uts namespaces, already in the execution's cgroup); it
 * builds the root, brings up lo, forks the interpreter child, reaps, and
 * reports the interpreter's status; its death takes the namespace down.
 * Without: the interpreter child is cloned directly. */
#ifndef CJ_SPAWN_H
#define CJ_SPAWN_H

#include <sys/types.h>

#include "error.h"
#include "landlock.h"
#include "mounts.h"
#include "sandbox.h"

struct cj_seccomp;

typedef struct cj_spawn_args {
    const char *cwd;  /* the execution directory as the interpreter sees it */
    const char *path; /* the interpreter */
    char *const *argv;
    char *const *argv_zip; /* prepared: the argv for a request with python_lib.zip on sys.path */
    char *const *argv_src; /* prepared: the argv running the source (python_path names it more than once) */
    char *const *envp;
    int fd_stdin;             /* becomes 0 */
    int fd_stdout, fd_stderr; /* become 1, 2 */
    int fd_result;            /* becomes 3 */
    int fd_setup;             /* becomes 4 in the interpreter child, closed by exec */
    /* Prepared sandboxes: -1, or a socket (becomes 5, closed by exec) the
     * confined interpreter child waits on, right before exec, for its
     * request: the limits and its stdin (cj_spawn_go, below). */
    int fd_go;
    cj_sandbox_limits limits;
    int nproc_rlimit; /* apply NPROC as an rlimit (when no pids cgroup does it) */
    uid_t uid;
    gid_t gid;
    const cj_mount_plan *mounts; /* NULL: no namespaces */
    const cj_landlock_spec *landlock;   /* NULL: off */
    const struct cj_seccomp *seccomp;   /* NULL: off */
    const char *apparmor_profile;       /* NULL: off */
    int proc_fd;
    int cgroup_dirfd; /* v2: CLONE_INTO_CGROUP, else -1 */
    const int *cgroup_fds; /* v1: cgroup.procs to join */
    size_t n_cgroup_fds;
} cj_spawn_args;

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
};
const char *cj_setup_step_name(int step);

/* Child side (record.c): a record on the setup stream; and the fail-closed
 * exit after a failed step, reporting it first. */
void cj_record_send(int fd, int kind, int step, int value, const char *detail);
__attribute__((noreturn)) void cj_record_fail(int fd, int step, int errnum, const char *detail);

/* What a prepared interpreter child receives on fd_go: the request's
 * limits, and its stdin as SCM_RIGHTS.  Its rlimits are set then, after
 * every other step; the exec follows. */
struct cj_go_msg {
    long long cpu, vmem, fsize, nproc;
    int nproc_rlimit;
    int zip_on_path; /* python_path's entries: 1 runs argv_zip, more argv_src */
};

/* Returns the pid to watch (the sandbox's init, or the interpreter), or -1. */
pid_t cj_spawn(const cj_spawn_args *a, cj_err *err);

#endif
