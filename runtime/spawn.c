#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "rlimits.h"

/* Sources are first moved above this, so dup2 into 0..4 can never clobber a
 * source that happens to sit at a low number. */
#define CJ_HIGH_FD 64

const char *cj_setup_step_name(int step)
{
    static const char *const names[] = {
        [CJ_STEP_SIGNALS] = "signals",       [CJ_STEP_SETSID] = "setsid",
        [CJ_STEP_PDEATHSIG] = "pdeathsig",   [CJ_STEP_FDS] = "file descriptors",
        [CJ_STEP_CHDIR] = "chdir",           [CJ_STEP_RLIMITS] = "rlimits",
        [CJ_STEP_IDENTITY] = "identity",     [CJ_STEP_NO_NEW_PRIVS] = "no_new_privs",
        [CJ_STEP_EXEC] = "exec",
    };
    if (step <= 0 || (size_t)step >= sizeof(names) / sizeof(names[0]) || names[step] == NULL)
        return "unknown";
    return names[step];
}

static __attribute__((noreturn)) void child_fail(int setup_fd, int step, int errnum)
{
    struct cj_setup_failure f = {.step = step, .errnum = errnum};
    /* A short write to a pipe of this size is atomic; nothing else to do if it fails. */
    ssize_t n = write(setup_fd, &f, sizeof(f));
    (void)n;
    _exit(127);
}

static int child_signals(void)
{
    /* The server blocks signals for its signalfd and ignores SIGPIPE; the
     * interpreter must start with the defaults. */
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP)
            continue;
        if (signal(s, SIG_DFL) == SIG_ERR && errno != EINVAL)
            return -1;
    }
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL);
}

static int child_fds(const cj_spawn_args *a, int *setup_fd)
{
    int src[5] = {a->fd_stdin, a->fd_stdout, a->fd_stderr, a->fd_result, a->fd_setup};
    int high[5];
    for (int i = 0; i < 5; i++) {
        high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, CJ_HIGH_FD);
        if (high[i] < 0)
            return -1;
    }
    *setup_fd = high[4];
    for (int i = 0; i < 4; i++)
        if (dup2(high[i], i) < 0) /* dup2 clears CLOEXEC: these survive exec */
            return -1;
    if (dup3(high[4], 4, O_CLOEXEC) < 0)
        return -1;
    *setup_fd = 4;
    /* The explicit allowlist: 0-4 stay, nothing else of the server's reaches
     * the sandbox, whatever CLOEXEC discipline the rest of the process kept. */
    if (close_range(5, ~0U, 0) < 0)
        return -1;
    return 0;
}

static int child_identity(uid_t uid, gid_t gid)
{
    if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
        return -1;
    /* Verify rather than trust: every id must now be the sandbox's. */
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return -1;
    if (r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid ||
        getgroups(0, NULL) != 0) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

static __attribute__((noreturn)) void child_main(const cj_spawn_args *a, pid_t parent)
{
    int setup_fd = a->fd_setup;
    if (child_signals() < 0)
        child_fail(setup_fd, CJ_STEP_SIGNALS, errno);
    /* Its own session and process group: the whole tree is killed at once. */
    if (setsid() < 0)
        child_fail(setup_fd, CJ_STEP_SETSID, errno);
    /* Should the service die, no execution outlives it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_fail(setup_fd, CJ_STEP_PDEATHSIG, errno);
    if (getppid() != parent)
        child_fail(setup_fd, CJ_STEP_PDEATHSIG, ESRCH);
    if (child_fds(a, &setup_fd) < 0)
        child_fail(setup_fd, CJ_STEP_FDS, errno);
    if (chdir(a->dir) < 0)
        child_fail(setup_fd, CJ_STEP_CHDIR, errno);
    /* Limits before the identity change: NPROC is checked against the new
     * uid at setuid and fork time. */
    int r = cj_rlimits_apply(&a->limits);
    if (r < 0)
        child_fail(setup_fd, CJ_STEP_RLIMITS, -r);
    if (child_identity(a->uid, a->gid) < 0)
        child_fail(setup_fd, CJ_STEP_IDENTITY, errno);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        child_fail(setup_fd, CJ_STEP_NO_NEW_PRIVS, errno);
    execve(a->path, a->argv, a->envp);
    child_fail(setup_fd, CJ_STEP_EXEC, errno);
}

pid_t cj_spawn(const cj_spawn_args *a, cj_err *err)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return cj_fail(err, errno, "fork");
    if (pid == 0)
        child_main(a, parent);
    return pid;
}
