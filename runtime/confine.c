#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "apparmor.h"
#include "caps.h"
#include "cgroup.h"
#include "cj_seccomp.h"
#include "netns.h"
#include "rlimits.h"
#include "wire.h"

const char *cj_setup_step_name(int step)
{
    static const char *const names[CJ_STEP_COUNT] = {
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
        [CJ_STEP_CGROUP_NS] = "cgroup namespace", [CJ_STEP_CAPS_VERIFY] = "capabilities (verify none left)",
    };
    if (step <= 0 || step >= CJ_STEP_COUNT || names[step] == NULL)
        return "unknown";
    return names[step];
}

size_t cj_confine_steps(const cj_confine_plan *p, int *steps, size_t max)
{
    int s[CJ_STEP_COUNT];
    size_t n = 0;
    if (p->exec)
        s[n++] = CJ_STEP_SIGNALS;
    if (p->own_session)
        s[n++] = CJ_STEP_SETSID;
    s[n++] = CJ_STEP_PDEATHSIG;
    if (p->n_cgroup_procs > 0 || p->cgroup_dir >= 0)
        s[n++] = CJ_STEP_CGROUP;
    if (p->mounts != NULL) {
        /* Once in its cgroup: the namespace's root is the execution's own. */
        s[n++] = CJ_STEP_CGROUP_NS;
        s[n++] = CJ_STEP_MOUNTS;
        s[n++] = CJ_STEP_HOSTNAME;
        s[n++] = CJ_STEP_NETWORK;
    }
    s[n++] = CJ_STEP_CHDIR;
    /* Limits before the identity change: NPROC is checked against the new
     * uid at setuid and fork time. */
    s[n++] = CJ_STEP_RLIMITS;
    s[n++] = CJ_STEP_CAPS;
    s[n++] = CJ_STEP_IDENTITY;
    /* After the identity change: the sandbox profile denies every
     * capability, and dropping the bounding set needs one. */
    if (p->apparmor_profile != NULL)
        s[n++] = CJ_STEP_APPARMOR;
    /* Only now: the AppArmor step still needs the host /proc fd. */
    s[n++] = CJ_STEP_FDS;
    s[n++] = CJ_STEP_CAPS_VERIFY;
    s[n++] = CJ_STEP_NO_NEW_PRIVS;
    if (p->landlock != NULL)
        s[n++] = CJ_STEP_LANDLOCK;
    /* Last: the filter must not stand in the way of the steps above. */
    if (p->seccomp != NULL)
        s[n++] = CJ_STEP_SECCOMP;
    if (n > max)
        return 0;
    memcpy(steps, s, n * sizeof(int));
    return n;
}

/* The service blocks signals for its signalfd and ignores SIGPIPE; an
 * interpreter about to start must find the defaults. */
static int reset_signals(void)
{
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP)
            continue;
        if (signal(s, SIG_DFL) == SIG_ERR && errno != EINVAL)
            return errno;
    }
    sigset_t none;
    sigemptyset(&none);
    return sigprocmask(SIG_SETMASK, &none, NULL) < 0 ? errno : 0;
}

static int join_cgroup(const cj_confine_plan *p, const char **detail)
{
    int r = cj_cgroup_enter_self(p->cgroup_procs, p->n_cgroup_procs);
    if (r < 0 || p->cgroup_dir < 0)
        return -r;
    /* v2, not born in it (glibc's clone() has no CLONE_INTO_CGROUP): by
     * the directory's cgroup.procs. */
    *detail = "cgroup.procs";
    int procs = openat(p->cgroup_dir, "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (procs < 0)
        return errno;
    r = cj_cgroup_enter_self(&procs, 1);
    close(procs);
    return -r;
}

/* Verify rather than trust: every id must now be the sandbox's. */
static int identity(uid_t uid, gid_t gid)
{
    if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
        return errno;
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) < 0 || getresgid(&rg, &eg, &sg) < 0)
        return errno;
    if (r != uid || e != uid || s != uid || rg != gid || eg != gid || sg != gid || getgroups(0, NULL) != 0)
        return EPERM;
    return 0;
}

/* Unprivileged now, the task is briefly made dumpable so that its own
 * /proc attribute file is its own to write (a uid change makes it root's),
 * and made non-dumpable again at once. */
static int apparmor(const cj_confine_plan *p, const char **detail)
{
    *detail = "dumpable";
    if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
        return errno;
    int r = p->exec ? cj_apparmor_onexec(p->proc_fd, p->apparmor_profile)
                    : cj_apparmor_change_now(p->proc_fd, p->apparmor_profile);
    if (r < 0) {
        *detail = p->apparmor_profile;
        return -r;
    }
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 ? errno : 0;
}

/* The explicit allowlist: 0..4 (and the request socket) stay, nothing else
 * of the service's or the warm interpreter's reaches the sandbox, whatever
 * CLOEXEC discipline the rest of the process kept.  The streams survive
 * exec; the setup stream and the request socket do not. */
static int place_fds(const cj_confine_plan *p)
{
    int src[CJ_SANDBOX_FDS + 1], high[CJ_SANDBOX_FDS + 1];
    int n = p->fd_request >= 0 ? CJ_FD_REQUEST + 1 : CJ_SANDBOX_FDS;
    memcpy(src, p->fds, sizeof(p->fds));
    src[CJ_FD_REQUEST] = p->fd_request;
    for (int i = 0; i < n; i++)
        if ((high[i] = fcntl(src[i], F_DUPFD_CLOEXEC, CJ_HIGH_FD)) < 0)
            return errno;
    for (int i = 0; i < n; i++)
        if ((i < CJ_FD_SETUP ? dup2(high[i], i) : dup3(high[i], i, O_CLOEXEC)) < 0)
            return errno;
    return close_range((unsigned)n, ~0U, 0) < 0 ? errno : 0;
}

static int neg(int r)
{
    return r < 0 ? -r : 0;
}

/* One step: 0, or the errno it failed with (the one place a step's
 * failure becomes a record). */
static int step(const cj_confine_plan *p, int s, const char **detail)
{
    switch (s) {
    case CJ_STEP_SIGNALS:
        return reset_signals();
    case CJ_STEP_SETSID:
        return setsid() < 0 ? errno : 0;
    case CJ_STEP_PDEATHSIG:
        return prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ? errno : 0;
    case CJ_STEP_CGROUP:
        return join_cgroup(p, detail);
    case CJ_STEP_CGROUP_NS:
        return unshare(CLONE_NEWCGROUP) < 0 ? errno : 0;
    case CJ_STEP_MOUNTS:
        return neg(cj_mounts_enter(p->mounts, detail));
    case CJ_STEP_HOSTNAME:
        return sethostname(CJ_HOSTNAME, strlen(CJ_HOSTNAME)) < 0 ? errno : 0;
    case CJ_STEP_NETWORK:
        return neg(cj_netns_setup());
    case CJ_STEP_CHDIR:
        *detail = p->cwd;
        return chdir(p->cwd) < 0 ? errno : 0;
    case CJ_STEP_RLIMITS:
        return neg(cj_rlimits_apply(p->limits, p->nproc_rlimit));
    case CJ_STEP_CAPS:
        *detail = "bounding set";
        return neg(cj_caps_lock_down());
    case CJ_STEP_IDENTITY:
        return identity(p->uid, p->gid);
    case CJ_STEP_APPARMOR:
        return apparmor(p, detail);
    case CJ_STEP_FDS:
        return place_fds(p);
    case CJ_STEP_CAPS_VERIFY:
        return neg(cj_caps_verify_none());
    case CJ_STEP_NO_NEW_PRIVS:
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
            return errno;
        return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : EPERM;
    case CJ_STEP_LANDLOCK:
        return neg(cj_landlock_apply(p->landlock));
    case CJ_STEP_SECCOMP:
        return neg(cj_seccomp_apply(p->seccomp));
    }
    return EINVAL;
}

void cj_confine(const cj_confine_plan *p)
{
    int steps[CJ_STEP_COUNT];
    size_t n = cj_confine_steps(p, steps, CJ_STEP_COUNT);
    int fd = p->fds[CJ_FD_SETUP];
    if (n == 0)
        cj_record_fail(fd, CJ_STEP_CLONE, EINVAL, "plan");
    for (size_t i = 0; i < n; i++) {
        const char *detail = NULL;
        errno = 0;
        int e = step(p, steps[i], &detail);
        if (e != 0)
            cj_record_fail(fd, steps[i], e, detail);
        if (steps[i] == CJ_STEP_FDS)
            fd = CJ_FD_SETUP;
    }
}

int cj_confine_await(int keep_setup)
{
    cj_record_send(CJ_FD_SETUP, CJ_RECORD_READY, 0, 0, NULL);
    struct cj_request_msg m;
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } c;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
    ssize_t n;
    while ((n = recvmsg(CJ_FD_REQUEST, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n == 0)
        _exit(0);
    struct cmsghdr *cm = n == (ssize_t)sizeof(m) ? CMSG_FIRSTHDR(&mh) : NULL;
    if (cm == NULL || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
        cm->cmsg_len != CMSG_LEN(sizeof(int)))
        cj_record_fail(CJ_FD_SETUP, CJ_STEP_REQUEST, n < 0 ? errno : EPROTO, NULL);
    int in;
    memcpy(&in, CMSG_DATA(cm), sizeof(in));
    if (dup2(in, CJ_FD_STDIN) < 0 || close(in) < 0 || close(CJ_FD_REQUEST) < 0)
        cj_record_fail(CJ_FD_SETUP, CJ_STEP_REQUEST, errno, "stdin");
    cj_sandbox_limits l = {.cpu = m.cpu, .vmem = m.vmem, .fsize = m.fsize, .nproc = m.nproc};
    int r = cj_rlimits_apply(&l, m.nproc_rlimit);
    if (r < 0)
        cj_record_fail(CJ_FD_SETUP, CJ_STEP_RLIMITS, -r, NULL);
    if (!keep_setup)
        close(CJ_FD_SETUP);
    return m.zip_on_path;
}
