/* Starting the sandboxed interpreter: the fork and the child's linear
 * checklist up to exec.  Everything the child needs is prepared by the parent;
 * the child only makes system calls, and on any failure reports
 * (step, errno) over the setup pipe and exits: it fails closed. */
#ifndef CJ_SPAWN_H
#define CJ_SPAWN_H

#include <sys/types.h>

#include "error.h"
#include "sandbox.h"

typedef struct cj_spawn_args {
    const char *dir;            /* the execution directory: the child's cwd */
    const char *path;           /* the interpreter */
    char *const *argv;
    char *const *envp;
    int fd_stdin;               /* becomes 0 */
    int fd_stdout, fd_stderr;   /* become 1, 2 */
    int fd_result;              /* becomes 3 */
    int fd_setup;               /* becomes 4, closed by exec (CLOEXEC) */
    cj_sandbox_limits limits;
    uid_t uid;
    gid_t gid;
} cj_spawn_args;

enum cj_setup_step {
    CJ_STEP_SIGNALS = 1,
    CJ_STEP_SETSID,
    CJ_STEP_PDEATHSIG,
    CJ_STEP_FDS,
    CJ_STEP_CHDIR,
    CJ_STEP_RLIMITS,
    CJ_STEP_IDENTITY,
    CJ_STEP_NO_NEW_PRIVS,
    CJ_STEP_EXEC,
};

/* Returns the child's pid, or -1. */
pid_t cj_spawn(const cj_spawn_args *a, cj_err *err);

#endif
