#include "cj_spawn.h"

#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "wire.h"

/* The cgroup namespace is the checklist's (confine.c): made once the
 * interpreter is in its cgroup. */
#define CJ_NS_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

static __attribute__((noreturn)) void interpreter_main(const cj_spawn_args *a)
{
    cj_confine(&a->confine);
    char *const *argv = a->argv;
    if (a->confine.fd_request >= 0) {
        int paths = cj_confine_await(1);
        argv = paths == 0 ? a->argv : paths == 1 ? a->argv_zip : a->argv_src;
    }
    execve(a->path, argv, a->envp);
    cj_record_fail(CJ_FD_SETUP, CJ_STEP_EXEC, errno, a->path);
}

/* Closes every fd but the ones the interpreter child needs: the init never
 * execs, so CLOEXEC does not stop it from holding the listener or other
 * executions' pipes (which would delay their EOF). */
static int init_fds(const cj_confine_plan *p)
{
    unsigned keep[CJ_SANDBOX_FDS + 2];
    size_t n = 0;
    for (int i = 0; i < CJ_SANDBOX_FDS; i++)
        keep[n++] = (unsigned)p->fds[i];
    if (p->proc_fd >= 0)
        keep[n++] = (unsigned)p->proc_fd;
    if (p->fd_request >= 0)
        keep[n++] = (unsigned)p->fd_request;
    for (size_t i = 1; i < n; i++) /* insertion sort: seven numbers at most */
        for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            unsigned t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned from = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] > from && close_range(from, keep[i] - 1, 0) < 0)
            return -1;
        from = keep[i] + 1;
    }
    return close_range(from, ~0U, 0);
}

/* PID 1 of the sandbox's namespaces. */
static __attribute__((noreturn)) void init_main(const cj_spawn_args *args)
{
    cj_spawn_args copy = *args, *a = &copy;
    int fd = a->confine.fds[CJ_FD_SETUP], r;
    /* Should the service die, the whole namespace goes with this process. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        cj_record_fail(fd, CJ_STEP_PDEATHSIG, errno, NULL);
    if ((r = cj_cgroup_enter_self(a->confine.cgroup_procs, a->confine.n_cgroup_procs)) < 0)
        cj_record_fail(fd, CJ_STEP_CGROUP, -r, NULL);
    a->confine.n_cgroup_procs = 0; /* joined, and about to be closed: the child inherits it */
    if (init_fds(&a->confine) < 0)
        cj_record_fail(fd, CJ_STEP_FDS, errno, "init");
    pid_t child = fork();
    if (child < 0)
        cj_record_fail(fd, CJ_STEP_FORK, errno, NULL);
    if (child == 0)
        interpreter_main(a);
    /* Only the interpreter holds the streams now: their EOF is its end. */
    for (int i = 0; i < CJ_SANDBOX_FDS; i++)
        if (i != CJ_FD_SETUP)
            close(a->confine.fds[i]);
    if (a->confine.fd_request >= 0)
        close(a->confine.fd_request);
    for (;;) {
        int st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0 && errno == EINTR)
            continue;
        if (p < 0) /* cannot happen while the child is ours; report and leave */
            cj_record_fail(fd, CJ_STEP_FORK, errno, "waitpid");
        if (p == child) {
            /* The answer goes now; the namespace's teardown (this exit
             * waits for it) follows in a cgroup of low weight by then. */
            cj_record_send(fd, CJ_RECORD_STATUS, 0, st, NULL);
            _exit(0); /* the kernel kills whatever the interpreter left */
        }
    }
}

pid_t cj_spawn(const cj_spawn_args *a, cj_err *err)
{
    struct clone_args ca = {.exit_signal = SIGCHLD};
    if (a->confine.mounts != NULL)
        ca.flags |= CJ_NS_FLAGS;
    if (a->cgroup_dirfd >= 0) {
        /* Born inside its cgroup: no window outside it, and no write to
         * cgroup.procs, which is slow under contention. */
        ca.flags |= CLONE_INTO_CGROUP;
        ca.cgroup = (unsigned long long)a->cgroup_dirfd;
    }
    pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid < 0)
        return cj_fail(err, errno, "clone3");
    if (pid == 0) {
        if (a->confine.mounts != NULL)
            init_main(a);
        interpreter_main(a);
    }
    return pid;
}
