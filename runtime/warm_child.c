/* libcodejail-warm.so: the confinement of the warm path, loaded with
 * ctypes.PyDLL by the warm interpreter (warm_zygote.py).
 *
 * The warm interpreter imported the operator's modules once; each execution
 * is a clone of it that, inside this library and before it returns to any
 * Python code, enters the same fresh namespaces and cgroup, drops the same
 * privileges and applies the same Landlock and seccomp as the cold path
 * (spawn.c), and changes to the sandbox's AppArmor profile at once instead
 * of at an exec.  Exec itself is already gone: noexec.c, linked into this
 * library, installs its filter when the library is loaded, so the warm
 * interpreter and every clone of it can never run a program.
 *
 * Each execution has two processes.  Its init, PID 1 of fresh namespaces,
 * shares this interpreter's address space (CLONE_VM: see launch), so the
 * warm interpreter's page tables are copied once per execution, not twice;
 * the interpreter that runs the request is the init's child, PID 2, as on
 * the cold path, and owns a copy-on-write copy of the warm memory. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <stdint.h>
#include <linux/futex.h>
#include <ucontext.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apparmor.h"
#include "caps.h"
#include "cgroup.h"
#include "cj_seccomp.h"
#include "cj_spawn.h"
#include "landlock.h"
#include "mounts.h"
#include "netns.h"
#include "sandbox.h"

#define MAX_LIST 32
#define MAX_FDS 16
#define MAX_PENDING 4096
#define STATUS_FD 4

struct cj_warm {
    uid_t uid;
    gid_t gid;
    int landlock;
    int proc_fd;
    char *apparmor;
    char *tmp_opts;
    char *binds[MAX_LIST + 1], *links[MAX_LIST + 1];
    size_t nb, nl;
    cj_seccomp seccomp;
    int have_seccomp;
};

/* Exported for warm_zygote.py; everything else stays hidden. */
__attribute__((visibility("default"))) void *cj_warm_new(const char *blob, size_t len);
__attribute__((visibility("default"))) void cj_warm_exit(int code);
__attribute__((visibility("default"))) int cj_warm_serve(void *h, int ctl);

/* "key=value\0" entries: the service's settings, sent once at start. */
void *cj_warm_new(const char *blob, size_t len)
{
    struct cj_warm *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->proc_fd = -1;
    for (size_t off = 0; off < len;) {
        const char *e = blob + off;
        size_t n = strnlen(e, len - off);
        off += n + 1;
        const char *eq = memchr(e, '=', n);
        if (eq == NULL)
            continue;
        size_t k = (size_t)(eq - e);
        const char *v = eq + 1;
        if (k == 3 && memcmp(e, "uid", 3) == 0)
            w->uid = (uid_t)strtoul(v, NULL, 10);
        else if (k == 3 && memcmp(e, "gid", 3) == 0)
            w->gid = (gid_t)strtoul(v, NULL, 10);
        else if (k == 8 && memcmp(e, "landlock", 8) == 0)
            w->landlock = v[0] == '1';
        else if (k == 7 && memcmp(e, "seccomp", 7) == 0)
            w->have_seccomp = v[0] == '1';
        else if (k == 8 && memcmp(e, "apparmor", 8) == 0 && v[0] != '\0')
            w->apparmor = strdup(v);
        else if (k == 3 && memcmp(e, "tmp", 3) == 0)
            w->tmp_opts = strdup(v);
        else if (k == 4 && memcmp(e, "bind", 4) == 0 && w->nb < MAX_LIST)
            w->binds[w->nb++] = strdup(v);
        else if (k == 4 && memcmp(e, "link", 4) == 0 && w->nl < MAX_LIST)
            w->links[w->nl++] = strdup(v);
    }
    cj_err err = {0};
    if (w->uid == 0 || w->gid == 0 || w->tmp_opts == NULL) {
        fprintf(stderr, "codejail-warm: incomplete settings (uid, gid, tmp)\n");
        return NULL;
    }
    if (w->have_seccomp && cj_seccomp_build_stage1(&w->seccomp, &err) < 0) {
        fprintf(stderr, "codejail-warm: seccomp: %s\n", err.msg);
        return NULL;
    }
    if (w->apparmor != NULL && (w->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        perror("codejail-warm: /proc");
        return NULL;
    }
    return w;
}

/* Only the five stream fds stay, at 0..4: the interpreter's own (modules'
 * files, the zygote's control socket) never reach the execution. */
static int place_fds(const int *fds)
{
    int high[5];
    for (int i = 0; i < 5; i++)
        if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64)) < 0)
            return -1;
    for (int i = 0; i < 5; i++)
        if ((i < 4 ? dup2(high[i], i) : dup3(high[i], i, O_CLOEXEC)) < 0)
            return -1;
    return close_range(5, ~0U, 0);
}

/* The init shares the warm interpreter's memory, errno included, and runs
 * while the warm interpreter serves the next fork request: once it has
 * let the warm interpreter go, it makes only these raw system calls, which
 * write nothing but their own stack. */
static long raw4(long nr, long a, long b, long c, long d)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = d;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c,
                                     x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
#else
#error "codejail-warm: write this architecture's raw system call in raw4()"
#endif
}

#define INIT_STACK (64 * 1024)

/* One execution's launch block, mapped by the warm interpreter: the init's
 * stack (a guard page below it) and, above the stack, what the init and the
 * interpreter need.  Unmapped when the init has been reaped: the kernel
 * clears `busy` at the init's exit (CLONE_CHILD_CLEARTID). */
struct launch {
    int busy; /* futex: 1 until the init has forked the interpreter or died */
    volatile int resumed; /* set in the interpreter's copy only */
    ucontext_t ctx; /* where the interpreter continues: in launch() */
    struct cj_warm *w;
    int fds[MAX_FDS], nfds, n_cg, cg_dirfd;
    char dir[4096], inner[4096];
};

static size_t launch_size(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return page + INIT_STACK + ((sizeof(struct launch) + page - 1) & ~(page - 1));
}

static struct launch *launch_map(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *m = mmap(NULL, launch_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    if (mprotect(m, page, PROT_NONE) < 0) {
        munmap(m, launch_size());
        return NULL;
    }
    return (struct launch *)(m + page + INIT_STACK);
}

static void launch_unmap(struct launch *l)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    munmap((char *)l - INIT_STACK - page, launch_size());
}

/* Joins the execution's cgroup with raw calls (see raw4): "0" into each
 * v1 cgroup.procs, or into the v2 directory's; -errno. */
static long raw_enter_cgroup(const int *procs, int n, int v2_dir)
{
    for (int i = 0; i < n; i++) {
        long w = raw4(SYS_write, procs[i], (long)"0", 1, 0);
        if (w != 1)
            return w < 0 ? w : -EIO;
    }
    if (v2_dir < 0)
        return 0;
    long fd = raw4(SYS_openat, v2_dir, (long)"cgroup.procs", O_WRONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return fd;
    long w = raw4(SYS_write, fd, (long)"0", 1, 0);
    raw4(SYS_close, fd, 0, 0, 0);
    return w == 1 ? 0 : w < 0 ? w : -EIO;
}

static __attribute__((noreturn)) void raw_fail(int fd, int step, long err)
{
    struct cj_sandbox_record rec = {.kind = CJ_RECORD_FAILURE, .step = step, .value = (int)-err};
    raw4(SYS_write, fd, (long)&rec, sizeof(rec), 0);
    for (;;)
        raw4(SYS_exit_group, 127, 0, 0, 0);
}

/* PID 1 of the execution's namespaces, as the cold path's init (spawn.c):
 * forks the interpreter, then holds nothing but the setup stream and the
 * cgroup it joins, reaps, reports the interpreter's status, and its exit
 * takes the namespace down.  Its child resumes the warm interpreter's own
 * stack (setcontext), so it returns from launch() as a fork would, with the
 * warm interpreter's memory copied once.  The fork comes before the cgroup
 * (the interpreter joins it itself, confine()): the warm interpreter waits
 * for this fork, and in the cgroup it would run at the background weight of
 * a sandbox made ahead.  Every signal stays blocked (the warm interpreter
 * blocked them before the clone): a handler here would run the warm
 * interpreter's code on its memory. */
static int init_main(void *arg)
{
    struct launch *l = arg;
    int fd = l->fds[4];
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        cj_record_fail(fd, CJ_STEP_PDEATHSIG, errno, NULL);
    /* glibc's fork, for what it resets in the child (its thread id, the
     * libraries' atfork handlers); those handlers run here on the warm
     * interpreter's memory while it waits, as they would in its own fork. */
    pid_t interp = fork();
    if (interp == 0) {
        l->resumed = 1;
        setcontext(&l->ctx);
        _exit(127);
    }
    if (interp < 0)
        cj_record_fail(fd, CJ_STEP_FORK, errno, NULL);
    int n_cg = l->n_cg, cg[MAX_FDS], v2 = l->cg_dirfd;
    memcpy(cg, l->fds + 5, sizeof(int) * (size_t)n_cg);
    /* Let the warm interpreter go; from here on, raw calls only. */
    __atomic_store_n(&l->busy, 0, __ATOMIC_RELEASE);
    raw4(SYS_futex, (long)&l->busy, FUTEX_WAKE, 1, 0);
    long r = raw_enter_cgroup(cg, n_cg, v2);
    if (r < 0)
        raw_fail(fd, CJ_STEP_CGROUP, r);
    long keep = raw4(SYS_fcntl, fd, F_DUPFD_CLOEXEC, 64, 0);
    if (keep < 0 || raw4(SYS_close_range, 0, 63, 0, 0) < 0 || raw4(SYS_close_range, keep + 1, ~0U, 0, 0) < 0)
        raw4(SYS_exit_group, 127, 0, 0, 0);
    for (;;) {
        int st = 0;
        long p = raw4(SYS_wait4, -1, (long)&st, 0, 0);
        if (p == -EINTR)
            continue;
        if (p < 0)
            raw4(SYS_exit_group, 127, 0, 0, 0);
        if (p == interp) {
            struct cj_sandbox_record rec = {.kind = CJ_RECORD_STATUS, .value = st};
            raw4(SYS_write, keep, (long)&rec, sizeof(rec), 0);
            raw4(SYS_exit_group, 0, 0, 0, 0);
        }
    }
}

/* The interpreter's side, once resumed: everything the cold path's child
 * does before its exec (spawn.c), in the same order. */
static void confine(struct launch *l)
{
    struct cj_warm *w = l->w;
    const char *inner = l->inner;
    int fd = l->fds[4], r;
    const char *step = NULL;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        cj_record_fail(fd, CJ_STEP_PDEATHSIG, errno, NULL);
    if ((r = cj_cgroup_enter_self(l->fds + 5, (size_t)l->n_cg)) < 0)
        cj_record_fail(fd, CJ_STEP_CGROUP, -r, NULL);
    if (l->cg_dirfd >= 0) {
        /* v2: glibc's clone() has no CLONE_INTO_CGROUP, so the
         * interpreter joins by the directory's cgroup.procs. */
        int procs = openat(l->cg_dirfd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
        if (procs < 0 || (r = cj_cgroup_enter_self(&procs, 1)) < 0)
            cj_record_fail(fd, CJ_STEP_CGROUP, procs < 0 ? errno : -r, "cgroup.procs");
        close(procs);
    }
    /* Once in it: the namespace's root is the execution's own cgroup. */
    if (unshare(CLONE_NEWCGROUP) < 0)
        cj_record_fail(fd, CJ_STEP_CGROUP, errno, "cgroup namespace");
    char inner_tmp[sizeof(l->inner) + 4];
    snprintf(inner_tmp, sizeof(inner_tmp), "%s/tmp", inner);
    cj_mount_plan mp = {.host_dir = l->dir, .inner_dir = inner, .inner_tmp = inner_tmp,
                        .binds = (const char *const *)w->binds, .links = (const char *const *)w->links,
                        .tmp_options = w->tmp_opts};
    if ((r = cj_mounts_enter(&mp, &step)) < 0)
        cj_record_fail(fd, CJ_STEP_MOUNTS, -r, step);
    if (sethostname("codejail", 8) < 0)
        cj_record_fail(fd, CJ_STEP_HOSTNAME, errno, NULL);
    if ((r = cj_netns_setup()) < 0)
        cj_record_fail(fd, CJ_STEP_NETWORK, -r, NULL);
    if (chdir(inner) < 0)
        cj_record_fail(fd, CJ_STEP_CHDIR, errno, inner);
    /* The request's own limits are set by the interpreter once it has read
     * them, before any code of the request runs; these are the ones no
     * request changes. */
    struct rlimit core = {0, 0}, nofile = {128, 128};
    if (setrlimit(RLIMIT_CORE, &core) < 0 || setrlimit(RLIMIT_NOFILE, &nofile) < 0)
        cj_record_fail(fd, CJ_STEP_RLIMITS, errno, NULL);
    if ((r = cj_caps_lock_down()) < 0)
        cj_record_fail(fd, CJ_STEP_CAPS, -r, "bounding set");
    if (setgroups(0, NULL) < 0 || setresgid(w->gid, w->gid, w->gid) < 0 || setresuid(w->uid, w->uid, w->uid) < 0 ||
        getuid() != w->uid || geteuid() != w->uid || getgid() != w->gid)
        cj_record_fail(fd, CJ_STEP_IDENTITY, errno ? errno : EPERM, NULL);
    /* The profile change comes after the privileges are gone: the sandbox
     * profile denies every capability, and dropping the bounding set needs
     * one.  Now unprivileged, the task is briefly made dumpable so that its
     * own /proc attribute file is its own to write (a uid change makes it
     * root's), and made non-dumpable again at once. */
    if (w->apparmor != NULL) {
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
            cj_record_fail(fd, CJ_STEP_APPARMOR, errno, "dumpable");
        if ((r = cj_apparmor_change_now(w->proc_fd, w->apparmor)) < 0)
            cj_record_fail(fd, CJ_STEP_APPARMOR, -r, w->apparmor);
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
            cj_record_fail(fd, CJ_STEP_APPARMOR, errno, "dumpable");
    }
    /* Only now: the AppArmor step above still needed the host /proc fd. */
    if (place_fds(l->fds) < 0)
        cj_record_fail(fd, CJ_STEP_FDS, errno, NULL);
    fd = STATUS_FD;
    if ((r = cj_caps_verify_none()) < 0)
        cj_record_fail(fd, CJ_STEP_CAPS, -r, "verify none left");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        cj_record_fail(fd, CJ_STEP_NO_NEW_PRIVS, errno, NULL);
    if (w->landlock) {
        const char *exec[MAX_LIST + 1] = {0}, *read[8] = {0}, *write[4] = {0};
        for (size_t i = 0; i < w->nb; i++)
            exec[i] = w->binds[i];
        const char *rd[] = {inner, "/dev/zero", "/dev/urandom", "/dev/random", NULL};
        memcpy(read, rd, sizeof(rd));
        write[0] = inner_tmp;
        write[1] = "/dev/null";
        cj_landlock_spec ll = {.exec_paths = exec, .read_paths = read, .write_paths = write};
        if ((r = cj_landlock_apply(&ll)) < 0)
            cj_record_fail(fd, CJ_STEP_LANDLOCK, -r, NULL);
    }
    if (w->have_seccomp && (r = cj_seccomp_apply(&w->seccomp)) < 0)
        cj_record_fail(fd, CJ_STEP_SECCOMP, -r, NULL);
}

/* The init's pid (its failure, if any, is on the setup stream), or -errno;
 * 0 in the interpreter, confined.  The init is a CLONE_VM child running on
 * the launch block's stack, and the warm interpreter waits until it has
 * forked: nothing else may touch this memory (the allocator above all)
 * while that fork copies it. */
static long launch(struct launch *l, const sigset_t *all)
{
    if (getcontext(&l->ctx) < 0)
        return -errno;
    if (l->resumed) {
        confine(l);
        return 0;
    }
    l->busy = 1;
    sigset_t mask;
    if (sigprocmask(SIG_SETMASK, all, &mask) < 0)
        return -errno;
    int flags = CLONE_VM | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
                CLONE_CHILD_CLEARTID | SIGCHLD;
    long pid = clone(init_main, l, flags, l, NULL, NULL, &l->busy);
    int e = errno;
    sigprocmask(SIG_SETMASK, &mask, NULL);
    if (pid < 0)
        return -e;
    while (__atomic_load_n(&l->busy, __ATOMIC_ACQUIRE) != 0)
        syscall(SYS_futex, &l->busy, FUTEX_WAIT, 1, NULL, NULL, 0);
    return pid;
}

struct reply {
    char kind; /* P pid, E error (warm.c) */
    char pad[3];
    uint32_t slot;
    int32_t value;
    uint32_t spare;
};

struct pending {
    pid_t pid;
    int fd; /* the clone's setup stream: how it ended is written there */
    struct launch *l; /* its init's stack: unmapped once the init is reaped */
};

/* Reports each clone that ended (its init's wait status) on its setup
 * stream: the service's word when the clone's init could not give one. */
static void reap(struct pending *p, size_t *n)
{
    for (;;) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid <= 0)
            return;
        for (size_t i = 0; i < *n; i++) {
            if (p[i].pid != pid)
                continue;
            cj_record_send(p[i].fd, CJ_RECORD_STATUS, 0, st, NULL);
            close(p[i].fd);
            launch_unmap(p[i].l);
            p[i] = p[--*n];
            break;
        }
    }
}

/* The warm interpreter's loop, in C: the service's fork requests come on
 * ctl ('F', slot, "dir\0inner\0cgroup-v2\0", the clone's fds as
 * SCM_RIGHTS: five streams, v1 cgroup.procs files, the v2 cgroup directory
 * last).  After a clone, every page this process writes is copied, so
 * between clones no Python runs here.  Returns 0 in a clone (confined, its
 * streams at 0..4), -1 when the service is gone or on a broken request
 * channel. */
int cj_warm_serve(void *h, int ctl)
{
    struct cj_warm *w = h;
    sigset_t chld, old, all;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigfillset(&all);
    if (sigprocmask(SIG_BLOCK, &chld, &old) < 0)
        return -1;
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    struct pending *pend = calloc(MAX_PENDING, sizeof(*pend));
    if (sfd < 0 || pend == NULL)
        return -1;
    size_t npend = 0;
    for (;;) {
        struct pollfd pf[2] = {{.fd = ctl, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (pf[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) > 0)
                ;
            reap(pend, &npend);
        }
        if (!(pf[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char msg[2 * 4096 + 64];
        union {
            char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
            struct cmsghdr align;
        } c;
        struct iovec iov = {.iov_base = msg, .iov_len = sizeof(msg) - 1};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
        ssize_t n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1; /* the service is gone */
        msg[n] = '\0';
        int fds[MAX_FDS], nfds = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                for (int i = 0; i < k && nfds < MAX_FDS; i++)
                    memcpy(&fds[nfds++], CMSG_DATA(cm) + (size_t)i * sizeof(int), sizeof(int));
            }
        uint32_t slot = 0;
        const char *dir = msg + 5, *inner = NULL, *cgv2 = NULL;
        if (n > 5 && msg[0] == 'F') {
            memcpy(&slot, msg + 1, 4);
            inner = memchr(dir, '\0', (size_t)(msg + n - dir));
            inner = inner != NULL && inner + 1 < msg + n ? inner + 1 : NULL;
            cgv2 = inner != NULL ? memchr(inner, '\0', (size_t)(msg + n - inner)) : NULL;
            cgv2 = cgv2 != NULL && cgv2 + 1 < msg + n ? cgv2 + 1 : NULL;
        }
        int into = cgv2 != NULL && atoi(cgv2) >= 0;
        int n_cg = nfds - 5 - into;
        struct launch *l = NULL;
        long pid = -EPROTO;
        if (cgv2 != NULL && n_cg >= 0 && npend < MAX_PENDING && strlen(dir) < sizeof(l->dir) &&
            strlen(inner) < sizeof(l->inner)) {
            pid = -ENOMEM;
            l = launch_map();
        }
        if (l != NULL) {
            l->w = w;
            memcpy(l->fds, fds, sizeof(fds));
            l->nfds = nfds;
            l->n_cg = n_cg;
            l->cg_dirfd = into ? fds[nfds - 1] : -1;
            strcpy(l->dir, dir);
            strcpy(l->inner, inner);
            pid = launch(l, &all);
            if (pid < 0) {
                launch_unmap(l);
                l = NULL;
            }
        }
        if (pid == 0) {
            /* In the clone: its fds are in place; back to the interpreter. */
            sigprocmask(SIG_SETMASK, &old, NULL);
            return 0;
        }
        for (int i = 0; i < nfds; i++)
            if (i != 4 || pid < 0)
                close(fds[i]);
        struct reply r = {.kind = pid < 0 ? 'E' : 'P', .slot = slot, .value = (int32_t)(pid < 0 ? -pid : pid)};
        if (pid > 0) {
            pend[npend].pid = (pid_t)pid;
            pend[npend].fd = fds[4];
            pend[npend].l = l;
            npend++;
        }
        if (send(ctl, &r, sizeof(r), MSG_NOSIGNAL) < 0 && errno == EPIPE)
            return -1;
        reap(pend, &npend);
    }
}

/* The heir of an interpreter's address space: it holds no fd and blocks
 * every signal but SIGKILL, which its init's exit sends with the namespace. */
static int heir(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0;
}

/* How a warm execution ends.  Unmapping a clone of a big interpreter (every
 * page table entry copied from the warm one) takes most of a millisecond,
 * and the kernel does it before the exit is visible to the init that
 * reports it.  So the streams are closed first (the service sees them end),
 * then a process sharing the address space (CLONE_VM) is left holding it,
 * and the interpreter's own exit is only a reference dropped: its init
 * reports the real exit status at once, and the teardown happens when the
 * init's exit kills the heir with the rest of the namespace.  If no process
 * can be made (the request used its NPROC), it simply exits. */
void cj_warm_exit(int code)
{
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL); /* the heir starts with this mask */
    close_range(0, ~0U, 0);
    size_t size = 64 * 1024;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack != MAP_FAILED)
        clone(heir, (char *)stack + size, CLONE_VM, NULL);
    _exit(code & 0xff);
}
