/* libcodejail-warm.so: the confinement of the warm path, loaded with
 * ctypes.PyDLL by the warm interpreter (warm_zygote.py).
 *
 * The warm interpreter imported the operator's modules once; each execution
 * is a clone of it that, inside this library and before it returns to any
 * Python code, takes the same checklist as the cold path (confine.h): the
 * same fresh namespaces and cgroup, privileges dropped, Landlock and
 * seccomp, and the sandbox's AppArmor profile at once instead of at an
 * exec.  It then waits for its request as a prepared sandbox does
 * (cj_warm_await).  Exec itself is already gone: noexec.c, linked into this
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

#include "cj_seccomp.h"
#include "confine.h"
#include "log.h"
#include "warm_settings.h"
#include "wire.h"

#define MAX_PENDING 4096

struct cj_warm {
    cj_warm_settings set;
    struct cj_log log;
    int proc_fd;
    cj_seccomp seccomp;
};

/* Exported for warm_zygote.py; everything else stays hidden. */
#define EXPORT __attribute__((visibility("default")))
EXPORT void *cj_warm_new(const char *blob, size_t len);
EXPORT const char *cj_warm_setting(void *h, const char *key, size_t i);
EXPORT int cj_warm_serve(void *h, int ctl);
EXPORT int cj_warm_environ(const char *inner_tmp, char *buf, size_t len);
EXPORT int cj_warm_await(void);
EXPORT void cj_warm_exit(int code);

/* The service's settings (warm_settings.h), sent once at start. */
void *cj_warm_new(const char *blob, size_t len)
{
    struct cj_warm *w = calloc(1, sizeof(*w));
    cj_err err = {0};
    if (w == NULL)
        return NULL;
    w->proc_fd = -1;
    w->log = (struct cj_log){.level = CJ_LOG_INFO, .prog = "codejail-warm"};
    if (cj_warm_settings_parse(blob, len, &w->set, &err) < 0) {
        cj_log(&w->log, CJ_LOG_ERROR, "%s", err.msg);
        free(w);
        return NULL;
    }
    w->log.level = w->set.log_level;
    w->log.format = w->set.log_format;
    if (w->set.seccomp && cj_seccomp_build_stage1(&w->seccomp, &err) < 0) {
        cj_log(&w->log, CJ_LOG_ERROR, "seccomp: %s", err.msg);
        return NULL;
    }
    if (w->set.apparmor != NULL && (w->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        cj_log(&w->log, CJ_LOG_ERROR, "/proc: %s", strerror(errno));
        return NULL;
    }
    return w;
}

/* A key the Python side asks for and the settings do not know means the
 * two sides disagree: the interpreter stops at once. */
const char *cj_warm_setting(void *h, const char *key, size_t i)
{
    struct cj_warm *w = h;
    int bad;
    const char *v = cj_warm_settings_get(&w->set, key, i, &bad);
    if (bad) {
        cj_log(&w->log, CJ_LOG_ERROR, "no setting '%s'", key);
        _exit(2);
    }
    return v;
}

/* The clone's environment, "KEY=VALUE\0" entries (layout.h), for Python's
 * os.environ: the number of entries, or -1. */
int cj_warm_environ(const char *inner_tmp, char *buf, size_t len)
{
    char *envp[12];
    int n = cj_layout_environ(inner_tmp, NULL, buf, len, envp, 12);
    return n < 0 ? -1 : n;
}

/* In a clone, confined: its request (confine.h); the setup stream is
 * closed after it, as an exec would: nothing of the request writes there. */
int cj_warm_await(void)
{
    return cj_confine_await(0);
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
    int fds[CJ_WARM_MAX_FDS], nfds, n_cg, cg_dirfd;
    char dir[PATH_MAX];
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
    struct cj_sandbox_record rec = {.kind = CJ_RECORD_FAILURE, .step = step, .value = (int32_t)-err};
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
    int fd = l->fds[CJ_FD_SETUP];
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
    int n_cg = l->n_cg, cg[CJ_WARM_MAX_FDS], v2 = l->cg_dirfd;
    memcpy(cg, l->fds + CJ_WARM_FORK_FDS, sizeof(int) * (size_t)n_cg);
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

/* The interpreter's side, once resumed: the checklist, as the cold path's
 * child takes it before its exec. */
static void confine(struct launch *l)
{
    const cj_warm_settings *set = &l->w->set;
    cj_views v;
    cj_layout_in li = {.host_dir = l->dir, .namespaces = 1, .tmp_bytes = set->tmp_bytes, .uid = set->uid,
                       .gid = set->gid, .binds = (const char *const *)set->binds};
    if (cj_layout_views(&li, &v) < 0)
        cj_record_fail(l->fds[CJ_FD_SETUP], CJ_STEP_LANDLOCK, E2BIG, NULL);
    cj_mount_plan mp = {.host_dir = l->dir, .inner_dir = v.inner_dir, .inner_tmp = v.inner_tmp,
                        .binds = (const char *const *)set->binds, .links = (const char *const *)set->links,
                        .tmp_options = v.tmp_opts};
    cj_landlock_spec ll = {.exec_paths = v.exec, .read_paths = v.read, .write_paths = v.write};
    cj_confine_plan p = {
        .exec = 0, .own_session = 0,
        .cgroup_procs = l->fds + CJ_WARM_FORK_FDS, .n_cgroup_procs = (size_t)l->n_cg, .cgroup_dir = l->cg_dirfd,
        .mounts = &mp, .cwd = v.inner_dir,
        .limits = NULL, .nproc_rlimit = 0, /* the request's come with it: cj_warm_await */
        .uid = set->uid, .gid = set->gid,
        .apparmor_profile = set->apparmor, .proc_fd = l->w->proc_fd,
        .landlock = set->landlock ? &ll : NULL, .seccomp = set->seccomp ? &l->w->seccomp : NULL,
        .fds = {l->fds[0], l->fds[1], l->fds[2], l->fds[3], l->fds[4]}, .fd_request = l->fds[CJ_FD_REQUEST],
    };
    cj_confine(&p);
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
 * ctl (struct cj_warm_fork, wire.h), after it says it is up.  After a clone, every page this process writes is copied, so
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
    /* Its preloads are imported: the service may ask for clones. */
    struct cj_warm_reply up = {.kind = CJ_WARM_UP, .value = (int32_t)getpid()};
    if (send(ctl, &up, sizeof(up), MSG_NOSIGNAL) < 0)
        return -1;
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
        struct cj_warm_fork m;
        union {
            char buf[CMSG_SPACE(sizeof(int) * CJ_WARM_MAX_FDS)];
            struct cmsghdr align;
        } c;
        struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
        ssize_t n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return -1; /* the service is gone */
        int fds[CJ_WARM_MAX_FDS], nfds = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
            if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
                int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
                for (int i = 0; i < k && nfds < CJ_WARM_MAX_FDS; i++)
                    memcpy(&fds[nfds++], CMSG_DATA(cm) + (size_t)i * sizeof(int), sizeof(int));
            }
        int whole = n == (ssize_t)sizeof(m) && !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
                    memchr(m.dir, '\0', sizeof(m.dir)) != NULL &&
                    nfds == CJ_WARM_FORK_FDS + (int)m.n_cgroup_procs + (m.cgroup_v2 ? 1 : 0);
        struct launch *l = NULL;
        long pid = -EPROTO;
        if (whole && npend < MAX_PENDING) {
            pid = -ENOMEM;
            l = launch_map();
        }
        if (l != NULL) {
            l->w = w;
            memcpy(l->fds, fds, sizeof(fds));
            l->nfds = nfds;
            l->n_cg = (int)m.n_cgroup_procs;
            l->cg_dirfd = m.cgroup_v2 ? fds[nfds - 1] : -1;
            memcpy(l->dir, m.dir, sizeof(l->dir));
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
            if (i != CJ_FD_SETUP || pid < 0)
                close(fds[i]);
        struct cj_warm_reply r = {.kind = pid < 0 ? CJ_WARM_ERROR : CJ_WARM_PID, .slot = m.slot,
                                  .value = (int32_t)(pid < 0 ? -pid : pid)};
        if (pid > 0) {
            pend[npend].pid = (pid_t)pid;
            pend[npend].fd = fds[CJ_FD_SETUP];
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
