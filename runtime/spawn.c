#include "cj_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apparmor.h"
#include "caps.h"
#include "cgroup.h"
#include "netns.h"
#include "rlimits.h"
#include "cj_seccomp.h"

/* Sources are first moved above this, so dup2 into 0..4 can never clobber a
 * source that happens to sit at a low number. */
#define CJ_HIGH_FD 64
#define CJ_GO_FD 5
#define CJ_NS_FLAGS (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

const char *cj_setup_step_name(int step)
{
    static const char *const names[] = {
        [CJ_STEP_CLONE] = "clone",           [CJ_STEP_SIGNALS] = "signals",
        [CJ_STEP_SETSID] = "setsid",         [CJ_STEP_PDEATHSIG] = "pdeathsig",
        [CJ_STEP_CGROUP] = "cgroup",         [CJ_STEP_MOUNTS] = "mounts",
        [CJ_STEP_HOSTNAME] = "hostname",     [CJ_STEP_NETWORK] = "network",
        [CJ_STEP_FORK] = "fork",             [CJ_STEP_APPARMOR] = "apparmor",
        [CJ_STEP_FDS] = "file descriptors",  [CJ_STEP_CHDIR] = "chdir",
        [CJ_STEP_RLIMITS] = "rlimits",       [CJ_STEP_CAPS] = "capabilities",
        [CJ_STEP_IDENTITY] = "identity",     [CJ_STEP_NO_NEW_PRIVS] = "no_new_privs",
        [CJ_STEP_LANDLOCK] = "landlock",     [CJ_STEP_SECCOMP] = "seccomp",
        [CJ_STEP_EXEC] = "exec",             [CJ_STEP_REQUEST] = "request",
    };
    if (step <= 0 || (size_t)step >= sizeof(names) / sizeof(names[0]) || names[step] == NULL)
        return "unknown";
    return names[step];
}

static int reset_signals(void)
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
    if (a->fd_go >= 0) {
        int go = fcntl(a->fd_go, F_DUPFD_CLOEXEC, CJ_HIGH_FD);
        if (go < 0 || dup3(go, CJ_GO_FD, O_CLOEXEC) < 0)
            return -1;
    }
    /* The explicit allowlist: 0-4 (and the request socket, closed by exec)
     * stay, nothing else of the server's reaches the sandbox, whatever
     * CLOEXEC discipline the rest of the process kept. */
    return close_range(a->fd_go >= 0 ? CJ_GO_FD + 1 : CJ_GO_FD, ~0U, 0);
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
    if (r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid || getgroups(0, NULL) != 0) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* A prepared sandbox: confined completely, it says so and waits for its
 * request; the rlimits are the request's, so they come last.  No request
 * (the service let it go): it leaves without a word. */
static int await_request(int fd)
{
    cj_record_send(fd, CJ_RECORD_READY, 0, 0, NULL);
    struct cj_go_msg m;
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } c;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
    ssize_t n;
    while ((n = recvmsg(CJ_GO_FD, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n == 0)
        _exit(0);
    struct cmsghdr *cm = n == (ssize_t)sizeof(m) ? CMSG_FIRSTHDR(&mh) : NULL;
    if (cm == NULL || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
        cm->cmsg_len != CMSG_LEN(sizeof(int)))
        cj_record_fail(fd, CJ_STEP_REQUEST, n < 0 ? errno : EPROTO, NULL);
    int in;
    memcpy(&in, CMSG_DATA(cm), sizeof(in));
    if (dup2(in, 0) < 0 || close(in) < 0 || close(CJ_GO_FD) < 0)
        cj_record_fail(fd, CJ_STEP_REQUEST, errno, "stdin");
    cj_sandbox_limits l = {.cpu = m.cpu, .vmem = m.vmem, .fsize = m.fsize, .nproc = m.nproc};
    int r = cj_rlimits_apply(&l, m.nproc_rlimit);
    if (r < 0)
        cj_record_fail(fd, CJ_STEP_RLIMITS, -r, NULL);
    return m.zip_on_path;
}

/* The interpreter child: the same checklist with or without namespaces. */
static __attribute__((noreturn)) void interpreter_main(const cj_spawn_args *a, int in_namespaces)
{
    int fd = a->fd_setup, r;
    if (reset_signals() < 0)
        cj_record_fail(fd, CJ_STEP_SIGNALS, errno, NULL);
    if (!in_namespaces && setsid() < 0) /* its own group: killed as one */
        cj_record_fail(fd, CJ_STEP_SETSID, errno, NULL);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        cj_record_fail(fd, CJ_STEP_PDEATHSIG, errno, NULL);
    if (!in_namespaces && (r = cj_cgroup_enter_self(a->cgroup_fds, a->n_cgroup_fds)) < 0)
        cj_record_fail(fd, CJ_STEP_CGROUP, -r, NULL);
    /* Before the fds are closed and before Landlock would refuse /proc. */
    if (a->apparmor_profile != NULL && (r = cj_apparmor_onexec(a->proc_fd, a->apparmor_profile)) < 0)
        cj_record_fail(fd, CJ_STEP_APPARMOR, -r, a->apparmor_profile);
    if (child_fds(a, &fd) < 0)
        cj_record_fail(fd, CJ_STEP_FDS, errno, NULL);
    if (chdir(a->cwd) < 0)
        cj_record_fail(fd, CJ_STEP_CHDIR, errno, a->cwd);
    /* Limits before the identity change: NPROC is checked against the new
     * uid at setuid and fork time. */
    if (a->fd_go < 0 && (r = cj_rlimits_apply(&a->limits, a->nproc_rlimit)) < 0)
        cj_record_fail(fd, CJ_STEP_RLIMITS, -r, NULL);
    if ((r = cj_caps_lock_down()) < 0)
        cj_record_fail(fd, CJ_STEP_CAPS, -r, "bounding set");
    if (child_identity(a->uid, a->gid) < 0)
        cj_record_fail(fd, CJ_STEP_IDENTITY, errno, NULL);
    if ((r = cj_caps_verify_none()) < 0)
        cj_record_fail(fd, CJ_STEP_CAPS, -r, "verify none left");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        cj_record_fail(fd, CJ_STEP_NO_NEW_PRIVS, errno, NULL);
    if (a->landlock != NULL && (r = cj_landlock_apply(a->landlock)) < 0)
        cj_record_fail(fd, CJ_STEP_LANDLOCK, -r, NULL);
    /* Last: the filter must not stand in the way of the steps above. */
    if (a->seccomp != NULL && (r = cj_seccomp_apply(a->seccomp)) < 0)
        cj_record_fail(fd, CJ_STEP_SECCOMP, -r, NULL);
    char *const *argv = a->argv;
    if (a->fd_go >= 0) {
        int paths = await_request(fd);
        argv = paths == 0 ? a->argv : paths == 1 ? a->argv_zip : a->argv_src;
    }
    execve(a->path, argv, a->envp);
    cj_record_fail(fd, CJ_STEP_EXEC, errno, a->path);
}

/* Closes every fd but the ones the sandbox needs: the init never execs, so
 * CLOEXEC does not stop it from holding the listener or other executions'
 * pipes (which would delay their EOF). */
static int init_fds(const cj_spawn_args *b)
{
    unsigned keep[7] = {(unsigned)b->fd_stdin, (unsigned)b->fd_stdout, (unsigned)b->fd_stderr,
                        (unsigned)b->fd_result, (unsigned)b->fd_setup};
    size_t n = 5;
    if (b->proc_fd >= 0)
        keep[n++] = (unsigned)b->proc_fd;
    if (b->fd_go >= 0)
        keep[n++] = (unsigned)b->fd_go;
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
    int fd = args->fd_setup, r;
    const char *step = NULL;
    cj_spawn_args copy = *args, *a = &copy;
    /* Should the service die, the whole namespace goes with this process. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        cj_record_fail(fd, CJ_STEP_PDEATHSIG, errno, NULL);
    if ((r = cj_cgroup_enter_self(a->cgroup_fds, a->n_cgroup_fds)) < 0)
        cj_record_fail(fd, CJ_STEP_CGROUP, -r, NULL);
    a->n_cgroup_fds = 0; /* joined, and about to be closed: the children inherit it */
    if (init_fds(a) < 0)
        cj_record_fail(fd, CJ_STEP_FDS, errno, "init"); /* joined: the children inherit it */
    if ((r = cj_mounts_enter(a->mounts, &step)) < 0)
        cj_record_fail(fd, CJ_STEP_MOUNTS, -r, step);
    if (sethostname("codejail", 8) < 0)
        cj_record_fail(fd, CJ_STEP_HOSTNAME, errno, NULL);
    if ((r = cj_netns_setup()) < 0)
        cj_record_fail(fd, CJ_STEP_NETWORK, -r, NULL);
    pid_t child = fork();
    if (child < 0)
        cj_record_fail(fd, CJ_STEP_FORK, errno, NULL);
    if (child == 0)
        interpreter_main(a, 1);
    /* Only the interpreter holds the output pipes now: their EOF is its end. */
    if (a->fd_go >= 0)
        close(a->fd_go);
    close(a->fd_stdin);
    close(a->fd_stdout);
    close(a->fd_stderr);
    close(a->fd_result);
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
    if (a->mounts != NULL)
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
        if (a->mounts != NULL)
            init_main(a);
        interpreter_main(a, 0);
    }
    return pid;
}
