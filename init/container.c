/* Preparing the container codejail-server runs in.
 *
 * As PID 1 we are in one already (Docker, Kubernetes): we make its mounts
 * private, delegate cgroups and mount the work tmpfs.  Started on a bare host
 * (a systemd unit, the tests) we first make the container: new mount, ipc,
 * uts and cgroup namespaces, and a child in a new pid namespace, its PID 1,
 * which carries on as init in there while we stay outside as a relay.  With --no-namespaces we
 * stay on the host, where no mount is ours to change.
 *
 * Everything here runs with every signal blocked and before the main child
 * exists: a failing step says which it was, and setup() ends in exit 125. */
#include "init.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/sched.h> /* struct clone_args */
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

/* The pid namespace comes with the clone of its init, see below. */
#define NS_FLAGS (CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP)

static int mount_work_tmpfs(const struct cj_log *log, const struct work_tmpfs *w)
{
    /* mode 0755, root's: only the service writes there, and each sandbox
     * gets its own directory bound in.  Execution directories hold code to
     * read, never binaries to run, setuid files or devices. */
    char opts[64];
    snprintf(opts, sizeof(opts), "size=%s,mode=0755", w->size);
    if (mount("codejail-work", w->path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts) < 0)
        return fail(log, "work tmpfs: mount on %s", w->path);
    /* Verify what is mounted there now rather than trust the return code;
     * tmpfs rounds its size up to whole pages. */
    unsigned long long page = (unsigned long long)sysconf(_SC_PAGESIZE);
    unsigned long long want = (w->bytes + page - 1) / page * page;
    unsigned long flags = ST_NOSUID | ST_NODEV | ST_NOEXEC;
    struct statfs sf;
    if (statfs(w->path, &sf) < 0)
        return fail(log, "work tmpfs: statfs %s", w->path);
    if (sf.f_type != TMPFS_MAGIC || ((unsigned long)sf.f_flags & flags) != flags ||
        (unsigned long long)sf.f_blocks * (unsigned long long)sf.f_bsize != want) {
        cj_log(log, CJ_LOG_ERROR, "work tmpfs: %s is not the nosuid,nodev,noexec tmpfs of %llu bytes just mounted",
               w->path, want);
        return -1;
    }
    return 0;
}

/* The child is PID 1 of a new pid namespace: it returns here as that init,
 * with the rest of the container to prepare; we return as the relay, whose
 * main child it is.  clone3 rather than unshare(CLONE_NEWPID) and fork: after
 * unshare, every process we created would land in that namespace, and once
 * its init is gone creating one fails (ENOMEM), e.g. a sanitizer's helper at
 * exit.  Like fork() here: no stack given, and one thread, so no atfork work
 * is missed. */
static int fork_container_init(struct init_ctx *c)
{
    int alive[2];
    if (pipe2(alive, O_CLOEXEC) < 0)
        return fail(&c->log, "pipe");
    struct clone_args ca = {.flags = CLONE_NEWPID, .exit_signal = SIGCHLD};
    pid_t pid = (pid_t)syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid < 0) {
        close(alive[0]);
        close(alive[1]);
        return fail(&c->log, "clone3 the container's init (new pid namespace)");
    }
    if (pid > 0) {
        /* The write end stays open as long as we live: its EOF tells the
         * child we are gone. */
        close(alive[0]);
        c->child = pid;
        c->relay = true;
        return 0;
    }
    close(alive[1]);
    /* SIGKILL cannot be forwarded: should the relay get one (kill -9,
     * systemd's last resort), the kernel SIGKILLs this init, and with it the
     * whole pid namespace, rather than leave the container running with no
     * one to stop it.  The pipe covers a relay that died before the prctl. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        return fail(&c->log, "prctl(PR_SET_PDEATHSIG)");
    struct pollfd p = {.fd = alive[0], .events = POLLIN};
    int gone = poll(&p, 1, 0);
    if (gone != 0) {
        if (gone < 0)
            return fail(&c->log, "poll");
        cj_log(&c->log, CJ_LOG_ERROR, "the outer codejail-init is gone");
        return -1;
    }
    close(alive[0]);
    /* A session of our own: a terminal's ^C then reaches only the relay (in
     * the foreground group), which forwards it once. */
    (void)setsid();
    c->self = getpid();
    c->pid1 = true;
    /* The /proc we inherited shows the host's pids: ours makes /proc/<pid>
     * and ps agree with the pids this namespace hands out.  It goes in a
     * mount namespace of ours (a private copy of the relay's, work tmpfs and
     * cgroup mount included), since the relay lives on outside this pid
     * namespace and its /proc/self must stay its own. */
    if (unshare(CLONE_NEWNS) < 0)
        return fail(&c->log, "unshare(CLONE_NEWNS) for the container's /proc");
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return fail(&c->log, "mount /proc for the new pid namespace");
    return 0;
}

int prepare_container(struct init_ctx *c)
{
    if (!c->pid1 && !c->namespaces) {
        /* The host's namespaces: the cgroup is ours to set up, its mounts are
         * not. */
        if (c->work.path[0] != '\0') {
            cj_log(&c->log, CJ_LOG_ERROR,
                   "--work-tmpfs needs a mount namespace of its own: with --no-namespaces (and not PID 1) it "
                   "would mount %s on the host; refused", c->work.path);
            return -1;
        }
        return c->cgroups ? cgroups_prepare(&c->log, c->cgroup_parent, false, false) : 0;
    }
    bool make_ns = !c->pid1;
    if (make_ns && unshare(NS_FLAGS) < 0)
        return fail(&c->log, "unshare (new mount, ipc, uts and cgroup namespaces)");
    /* First of all: a new mount namespace still shares propagation with the
     * host's shared mounts, and a container runtime may leave / shared
     * (rshared); any mount of ours would then appear outside. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        /* EINVAL: "/" is no mount point, i.e. a plain chroot.  The
         * sandboxes could not be built there either (pivot_root needs the
         * caller's root to be a mount point), so say what fixes it. */
        if (errno == EINVAL) {
            cj_log(&c->log, CJ_LOG_ERROR,
                   "/ is not a mount point (started in a plain chroot?): the sandboxes need a root that is one. "
                   "Bind-mount the chroot's directory onto itself before entering it (mount --bind DIR DIR), "
                   "or run in a container (docker, systemd-nspawn)");
            return -1;
        }
        return fail(&c->log, "make mount propagation private");
    }
    if (c->cgroups && cgroups_prepare(&c->log, c->cgroup_parent, true, make_ns) < 0)
        return -1;
    if (c->work.path[0] != '\0' && mount_work_tmpfs(&c->log, &c->work) < 0)
        return -1;
    return make_ns ? fork_container_init(c) : 0;
}
