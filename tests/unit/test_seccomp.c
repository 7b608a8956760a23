/* Unit tests for runtime/seccomp.c (stage 1) and runtime/noexec.c (stage 2)
 * against the real kernel.  Stage 1 is built once in this process, as the
 * server does; every probe runs in a forked child that applies it and
 * reports the errno it saw as its exit status (0: the call succeeded), so
 * one failing rule does not hide the others.  Where the kernel would answer
 * differently without the filter (ENOENT, EFAULT, success...), the probe is
 * written so: a pass then proves the filter, not a missing privilege.
 *
 * argv[1] is the path of codejail-noexec.so; without it the stage-2 checks
 * fail rather than skip.  Children leave with _exit so that sanitizer exit
 * hooks (LeakSanitizer uses ptrace and clone) never run under the filter.
 *
 * <spawn.h> and libseccomp's <seccomp.h> are shadowed by runtime/'s own
 * headers on this target's -I path, so posix_spawn is exercised from Python
 * and the one extra filter below is written in BPF. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/msg.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cj_seccomp.h"

#define APPLY_FAILED 200 /* exit status: the filter could not be applied */
#define X32_BIT 0x40000000L

extern char **environ;

/* A probe runs in the child after the filter; it returns 0 if the call
 * succeeded, else the errno it failed with. */
typedef int (*probe_fn)(void);

#define ERRNO_OF(call) ((call) < 0 ? errno : 0)

/* Forks, applies s (unless NULL) and runs probe.  Returns the wait status. */
static int run(const cj_seccomp *s, probe_fn probe)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (s != NULL && cj_seccomp_apply(s) != 0)
            _exit(APPLY_FAILED);
        _exit(probe());
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return st;
}

/* True if the probe under s failed with exactly want (0: succeeded). */
static int gives(const cj_seccomp *s, probe_fn probe, int want)
{
    int st = run(s, probe);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == want)
        return 1;
    if (st != -1 && WIFEXITED(st))
        fprintf(stderr, "  probe exited %d (%s), want %d\n", WEXITSTATUS(st), strerror(WEXITSTATUS(st)), want);
    else if (st != -1 && WIFSIGNALED(st))
        fprintf(stderr, "  probe killed by signal %d, want exit %d\n", WTERMSIG(st), want);
    return 0;
}

static int killed_by(const cj_seccomp *s, probe_fn probe, int sig)
{
    int st = run(s, probe);
    return st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == sig;
}

static int sock(int domain, int type, int proto)
{
    int fd = socket(domain, type | SOCK_CLOEXEC, proto);
    return fd < 0 ? errno : (close(fd), 0);
}
static int p_inet(void) { return sock(AF_INET, SOCK_STREAM, 0); }
static int p_inet6(void) { return sock(AF_INET6, SOCK_DGRAM, 0); }
static int p_netlink(void) { return sock(AF_NETLINK, SOCK_RAW, 0); }
static int p_packet(void) { return sock(AF_PACKET, SOCK_RAW, 0); }
static int p_unix(void) { return sock(AF_UNIX, SOCK_STREAM, 0); }
/* AF_UNIX with junk in the upper half, which the kernel would drop. */
static int p_unix_hi(void) { return ERRNO_OF(syscall(SYS_socket, (1L << 32) | AF_UNIX, SOCK_STREAM, 0)); }
static int p_pair_unix(void)
{
    int sv[2];
    return socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ? errno : (close(sv[0]), close(sv[1]), 0);
}
static int p_pair_inet(void)
{
    int sv[2];
    return ERRNO_OF(socketpair(AF_INET, SOCK_STREAM, 0, sv)); /* EOPNOTSUPP unfiltered */
}

/* A named AF_UNIX socket the probe itself listens on: without the filter,
 * connect() and sendto() reach it. */
static int unix_pair_by_name(int type, int use_sendto)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "/tmp/cj-sc-%d.sock", (int)getpid());
    unlink(a.sun_path);
    int srv = socket(AF_UNIX, type | SOCK_CLOEXEC, 0), cli = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    int r = 0;
    if (srv < 0 || cli < 0 || bind(srv, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        (type == SOCK_STREAM && listen(srv, 1) < 0))
        r = 200; /* set-up itself failed: neither 0 nor a filter errno */
    else if (use_sendto)
        r = ERRNO_OF(sendto(cli, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)));
    else
        r = ERRNO_OF(connect(cli, (struct sockaddr *)&a, sizeof(a)));
    unlink(a.sun_path);
    return r;
}
static int p_unix_connect(void) { return unix_pair_by_name(SOCK_STREAM, 0); }
static int p_unix_sendto(void) { return unix_pair_by_name(SOCK_DGRAM, 1); }
static int p_msgget(void) { return ERRNO_OF(msgget(IPC_PRIVATE, IPC_CREAT | 0600)); }
static int p_shmget(void) { return ERRNO_OF(shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600)); }

static int p_unshare_user(void) { return ERRNO_OF(unshare(CLONE_NEWUSER)); }
static int p_unshare_none(void) { return ERRNO_OF(unshare(0)); } /* succeeds unfiltered */

static int raw_clone(unsigned long flags)
{
    long r = syscall(SYS_clone, flags | SIGCHLD, 0L, 0L, 0L, 0L);
    if (r == 0)
        _exit(0); /* only reached if the rule failed */
    if (r < 0)
        return errno;
    waitpid((pid_t)r, NULL, 0);
    return 0;
}
static int p_clone_newns(void) { return raw_clone(CLONE_NEWNS); }
static int p_clone_newnet(void) { return raw_clone(CLONE_NEWNET | CLONE_FILES); }
static int p_clone_plain(void) { return raw_clone(0); }

static int p_clone3(void)
{
    struct clone_args ca;
    memset(&ca, 0, sizeof(ca));
    ca.exit_signal = SIGCHLD;
    long r = syscall(SYS_clone3, &ca, sizeof(ca));
    if (r == 0)
        _exit(0);
    if (r < 0)
        return errno;
    waitpid((pid_t)r, NULL, 0);
    return 0;
}

static int p_fork(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(7);
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return errno;
    return WIFEXITED(st) && WEXITSTATUS(st) == 7 ? 0 : 99;
}

static void *thread_main(void *arg) { return arg; }
static int p_thread(void)
{
    pthread_t t;
    void *got = NULL;
    int rc = pthread_create(&t, NULL, thread_main, (void *)&got);
    if (rc != 0)
        return rc;
    pthread_join(t, &got);
    return got == (void *)&got ? 0 : 99;
}

static int p_execve_true(void)
{
    char *argv[] = {"true", NULL};
    execve("/usr/bin/true", argv, environ);
    return errno;
}

static int p_mount(void) { return ERRNO_OF(mount("none", "/nonexistent-cj", "tmpfs", 0, NULL)); }
static int p_umount(void) { return ERRNO_OF(umount2("/nonexistent-cj", 0)); }
static int p_chroot(void) { return ERRNO_OF(chroot("/")); }
static int p_ptrace(void) { return ERRNO_OF(ptrace(PTRACE_TRACEME, 0, NULL, NULL)); }
static int p_bpf(void) { return ERRNO_OF(syscall(SYS_bpf, -1, NULL, 0)); }
static int p_keyctl(void) { return ERRNO_OF(syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0)); }
static int p_io_uring(void) { return ERRNO_OF(syscall(SYS_io_uring_setup, 1, NULL)); } /* EFAULT */
static int p_perf(void) { return ERRNO_OF(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)); }
static int p_userfaultfd(void) { return ERRNO_OF(syscall(SYS_userfaultfd, O_CLOEXEC)); }
static int p_vm_readv(void) { return ERRNO_OF(process_vm_readv(getpid(), NULL, 0, NULL, 0, 0)); }
static int p_open_by_handle(void) { return ERRNO_OF(syscall(SYS_open_by_handle_at, -1, NULL, 0)); }
static int p_pers_query(void) { return ERRNO_OF(personality(0xffffffff)); }
static int p_pers_set(void) { return ERRNO_OF(personality(ADDR_NO_RANDOMIZE)); }
/* On a pipe (not a tty) terminal commands are ENOTTY unfiltered.  The
 * argument has room for whatever a command writes back (FIONREAD: an int). */
static int ioctl_on_pipe(unsigned long cmd)
{
    int p[2];
    if (pipe(p) < 0)
        return 99;
    long arg[16] = {'x'};
    int r = ERRNO_OF(ioctl(p[0], cmd, arg));
    close(p[0]);
    close(p[1]);
    return r;
}
static int p_tiocsti(void) { return ioctl_on_pipe(TIOCSTI); }
static int p_tiocsti_hi(void) { return ioctl_on_pipe((1UL << 32) | TIOCSTI); }
static int p_landlock(void)
{
    /* Allowed: the answer is the ABI version, or the kernel's own error. */
    long r = syscall(SYS_landlock_create_ruleset, NULL, 0, 1U /* VERSION */);
    return r >= 1 || errno == EOPNOTSUPP || errno == ENOSYS ? 0 : errno;
}
static int p_seccomp(void)
{
    uint32_t action = SECCOMP_RET_ALLOW;
    return ERRNO_OF(syscall(SYS_seccomp, 2 /* GET_ACTION_AVAIL */, 0, &action));
}
static int p_getpid(void) { return getpid() > 0 ? 0 : 99; }
static int p_pers_query_hi(void) { return ERRNO_OF(syscall(SYS_personality, (1L << 32) | 0xffffffffL)); }
static int p_tioclinux(void) { return ioctl_on_pipe(TIOCLINUX); }
/* Allowed commands, on a pipe: FIONREAD answers, tty commands are the
 * kernel's ENOTTY (not the filter's ENOSYS); 0x5410 and 0x541e are the
 * ends of the run the ioctl rules list one by one. */
static int p_fionread(void) { return ioctl_on_pipe(FIONREAD); }
static int p_fionread_hi(void) { return ioctl_on_pipe((1UL << 32) | FIONREAD); }
static int p_ioctl_5410(void) { return ioctl_on_pipe(0x5410); }
static int p_ioctl_541e(void) { return ioctl_on_pipe(0x541e); }
static int p_tcgets(void) { return ioctl_on_pipe(TCGETS); }
static int p_fioclex(void) { return ioctl_on_pipe(FIOCLEX); }
/* sendto() without an address, on a connected pair. */
static int p_pair_sendto(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return 200;
    int r = sendto(sv[0], "x", 1, 0, NULL, 0) == 1 ? 0 : errno;
    close(sv[0]);
    close(sv[1]);
    return r;
}

/* Did the kernel see the call?  A filter installed before stage 1 answers
 * E2BIG for number probe_nr.  When two filters both return ERRNO, the most
 * recent one's errno wins, so a call stage 1 refuses itself comes back
 * ENOSYS (or EPERM...), and one stage 1 lets through comes back E2BIG.  A
 * plain call could not tell: the kernel says ENOSYS for 600 or 1000 too. */
static int under_e2big(const cj_seccomp *s, long nr)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | E2BIG),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(insns) / sizeof(insns[0]), .filter = insns};
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
            _exit(APPLY_FAILED);
        if (s != NULL && cj_seccomp_apply(s) != 0)
            _exit(APPLY_FAILED);
        _exit(ERRNO_OF(syscall(nr, 0L, 0L, 0L, 0L, 0L)));
    }
    int st;
    return waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

/* What applying s costs an execution, in microseconds: the median of
 * `runs` forked children, each timing its own cj_seccomp_apply.  Printed
 * for the record (kernels differ: JIT, the allow cache of 5.11+); only a
 * failed apply fails the test.  -1 on failure. */
static double apply_cost_us(const cj_seccomp *s, int runs)
{
    double t[64];
    if (runs > 64)
        runs = 64;
    for (int i = 0; i < runs; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            return -1;
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0)
            return -1;
        if (pid == 0) {
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            int r = cj_seccomp_apply(s);
            clock_gettime(CLOCK_MONOTONIC, &b);
            double us = r != 0 ? -1 : (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
            _exit(write(p[1], &us, sizeof(us)) == sizeof(us) ? 0 : 1);
        }
        close(p[1]);
        ssize_t n = read(p[0], &t[i], sizeof(t[i]));
        close(p[0]);
        waitpid(pid, NULL, 0);
        if (n != sizeof(t[i]) || t[i] < 0)
            return -1;
    }
    for (int i = 1; i < runs; i++) /* insertion sort: 64 numbers at most */
        for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
            double x = t[j];
            t[j] = t[j - 1];
            t[j - 1] = x;
        }
    return t[runs / 2];
}

/* The exported program run in user space, for arguments too many to probe
 * one by one in the kernel (every ioctl command, clone flag, socket
 * family).  It knows the instructions libseccomp emits; any other makes it
 * answer BAD_INSN, which no check accepts. */
#define BAD_INSN 0xdeadbeefU
#if defined(__x86_64__)
#define NATIVE_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define NATIVE_ARCH AUDIT_ARCH_AARCH64
#endif
static uint32_t emulate(const struct sock_fprog *p, const struct seccomp_data *d)
{
    uint32_t a = 0;
    for (unsigned pc = 0; pc < p->len; pc++) {
        const struct sock_filter *f = &p->filter[pc];
        switch (f->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (f->k % 4 != 0 || f->k > sizeof(*d) - 4)
                return BAD_INSN;
            memcpy(&a, (const char *)d + f->k, 4);
            break;
        case BPF_ALU | BPF_AND | BPF_K:
            a &= f->k;
            break;
        case BPF_JMP | BPF_JA:
            pc += f->k;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            pc += a == f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JGT | BPF_K:
            pc += a > f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
            pc += a >= f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JSET | BPF_K:
            pc += (a & f->k) ? f->jt : f->jf;
            break;
        case BPF_RET | BPF_K:
            return f->k;
        default:
            return BAD_INSN;
        }
    }
    return BAD_INSN;
}

static uint32_t answer(const cj_seccomp *s, uint32_t arch, long nr, uint64_t a0, uint64_t a1, uint64_t a4)
{
    struct seccomp_data d;
    memset(&d, 0, sizeof(d));
    d.nr = (int)nr;
    d.arch = arch;
    d.args[0] = a0;
    d.args[1] = a1;
    d.args[4] = a4;
    return emulate(&s->prog, &d);
}

static uint64_t next_rand(uint64_t *x) /* xorshift64: the same values every run */
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

#define ALLOW SECCOMP_RET_ALLOW
#define REFUSE(e) (SECCOMP_RET_ERRNO | (e))

/* Every argument rule against what it must mean, over many values; returns
 * the number of values answered wrongly (each reported). */
static int argument_rules_hold(const cj_seccomp *s)
{
    int bad = 0;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    const uint64_t ns = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                        CLONE_NEWPID | CLONE_NEWNET;
#define EXPECT(got, want, what, v)                                                          \
    do {                                                                                    \
        uint32_t g_ = (got), w_ = (want);                                                   \
        if (g_ != w_ && bad++ < 10)                                                         \
            fprintf(stderr, "  %s 0x%llx: answer 0x%x, want 0x%x\n", what, (unsigned long long)(v), g_, w_); \
    } while (0)
    for (uint64_t i = 0; i < 400000; i++) {
        uint64_t r = next_rand(&x), hi = next_rand(&x) & ~0xffffffffULL;
        /* ioctl: the first 0x20000 commands, then random ones, each with
         * and without junk in the upper half. */
        uint64_t cmd = i < 0x20000 ? i : (r & 0xffffffffULL);
        for (int junk = 0; junk < 2; junk++) {
            uint64_t c = cmd | (junk ? hi : 0);
            uint32_t lo = (uint32_t)c;
            EXPECT(answer(s, NATIVE_ARCH, SYS_ioctl, 3, c, 0),
                   lo == TIOCSTI || lo == TIOCLINUX ? REFUSE(EPERM) : ALLOW, "ioctl", c);
        }
        uint64_t flags = i < 64 ? (1ULL << i) | SIGCHLD : r;
        EXPECT(answer(s, NATIVE_ARCH, SYS_clone, flags, 0, 0), flags & ns ? REFUSE(EPERM) : ALLOW, "clone", flags);
        uint64_t fam = i < 64 ? i : (i % 3 == 0 ? (AF_UNIX | hi) : r);
        EXPECT(answer(s, NATIVE_ARCH, SYS_socket, fam, 0, 0), fam == AF_UNIX ? ALLOW : REFUSE(EACCES), "socket", fam);
        EXPECT(answer(s, NATIVE_ARCH, SYS_socketpair, fam, 0, 0), fam == AF_UNIX ? ALLOW : REFUSE(EACCES),
               "socketpair", fam);
        uint64_t addr = i % 2 ? 0 : r;
        EXPECT(answer(s, NATIVE_ARCH, SYS_sendto, 3, 0, addr), addr == 0 ? ALLOW : REFUSE(EACCES), "sendto", addr);
        EXPECT(answer(s, NATIVE_ARCH, SYS_connect, 3, r, 0), REFUSE(EACCES), "connect", r);
        uint64_t pers = i % 2 ? 0xffffffffULL | (i % 4 == 1 ? hi : 0) : r;
        EXPECT(answer(s, NATIVE_ARCH, SYS_personality, pers, 0, 0), pers == 0xffffffffULL ? ALLOW : REFUSE(EPERM),
               "personality", pers);
    }
    /* Numbers beyond every call on the list (the newest, futex_waitv, is
     * 449), as a newer kernel would have them; -1, which the kernel itself
     * answers ENOSYS. */
    for (long nr = 450; nr < 1024; nr++)
        EXPECT(answer(s, NATIVE_ARCH, nr, 0, 0, 0), REFUSE(ENOSYS), "syscall", nr);
    EXPECT(answer(s, NATIVE_ARCH, -1, 0, 0, 0), REFUSE(ENOSYS), "syscall", -1);
    EXPECT(answer(s, NATIVE_ARCH, SYS_clone3, 0, 0, 0), REFUSE(ENOSYS), "clone3", 0);
    EXPECT(answer(s, NATIVE_ARCH, SYS_getpid, 0, 0, 0), ALLOW, "getpid", 0);
    EXPECT(answer(s, NATIVE_ARCH, SYS_unshare, 0, 0, 0), REFUSE(EPERM), "unshare", 0);
#ifdef __x86_64__
    EXPECT(answer(s, AUDIT_ARCH_I386, 20, 0, 0, 0), SECCOMP_RET_KILL_PROCESS, "i386 getpid", 20);
    EXPECT(answer(s, NATIVE_ARCH, X32_BIT | 39, 0, 0, 0), SECCOMP_RET_KILL_PROCESS, "x32 getpid", 39);
#endif
#undef EXPECT
    return bad;
}

/* A filter that allows everything: applying it must be reported as not
 * in force, since unshare(0) then succeeds. */
static int apply_allow_all(void)
{
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    cj_seccomp fake = {{1, &allow}};
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 0;
    if (pid == 0)
        _exit(cj_seccomp_apply(&fake) == -EPERM ? 0 : 1);
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
static int p_x32_getpid(void)
{
    syscall(X32_BIT | SYS_getpid);
    return 0;
}

#ifdef __x86_64__
/* getpid through the i386 ABI (int $0x80, number 20): a different syscall
 * table, and a filter keyed on x86_64 numbers would misread it. */
static int p_int80(void)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "r8", "r9", "r10", "r11", "cc", "memory");
    return ret == getpid() ? 0 : 99;
}
#endif

/* Stage 2 alone: the .so loaded into this process (its constructor runs at
 * dlopen), then the probe.  Returns the wait status. */
static int run_noexec(const char *so, probe_fn probe)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (dlopen(so, RTLD_NOW) == NULL)
            _exit(APPLY_FAILED);
        _exit(probe());
    }
    int st;
    return waitpid(pid, &st, 0) < 0 ? -1 : st;
}
static int p_execveat_true(void)
{
    char *argv[] = {"true", NULL};
    int fd = open("/usr/bin/true", O_PATH | O_CLOEXEC);
    syscall(SYS_execveat, fd, "", argv, environ, AT_EMPTY_PATH);
    return errno;
}
static int p_x32_execve(void)
{
    char *argv[] = {"true", NULL};
    syscall(X32_BIT | 520 /* x32 execve */, "/usr/bin/true", argv, environ);
    return errno;
}

/* Under stage 1 alone, what the interpreter and numeric libraries do must
 * keep working: threads and the process APIs built on clone3 with a clone
 * fallback (posix_spawn, subprocess's vfork), and AF_UNIX socketpairs. */
static const char py_works[] =
    "import os, socket, subprocess, threading\n"
    "t = threading.Thread(target=lambda: None); t.start(); t.join()\n"
    "_, st = os.waitpid(os.posix_spawn('/usr/bin/true', ['true'], {}), 0)\n"
    "assert st == 0, st\n"
    "assert subprocess.run(['/usr/bin/true']).returncode == 0\n"
    "a, b = socket.socketpair(); a.send(b'x'); assert b.recv(1) == b'x'\n"
    "try:\n"
    "    socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
    "    print('CJ-INET-ALLOWED')\n"
    "except PermissionError:\n"
    "    print('CJ-STAGE1-OK')\n";

/* Python code for the end-to-end test: each way to run a program must
 * raise PermissionError.  The fexecve path is glibc's execveat. */
static const char py_denied[] =
    "import os, subprocess, sys\n"
    "def denied(f):\n"
    "    try:\n"
    "        f()\n"
    "    except PermissionError:\n"
    "        return True\n"
    "    return False\n"
    "tries = [\n"
    "    lambda: os.execv('/usr/bin/true', ['true']),\n"
    "    lambda: os.execv(sys.executable, [sys.executable, '-c', 'pass']),\n"
    "    lambda: os.execve(os.open('/usr/bin/true', os.O_RDONLY), ['true'], {}),\n"
    "    lambda: os.waitpid(os.posix_spawn('/usr/bin/true', ['true'], {}), 0),\n"
    "    lambda: subprocess.run(['/usr/bin/true']),\n"
    "    lambda: subprocess.run('true', shell=True),\n"
    "]\n"
    "results = [denied(f) for f in tries]\n"
    "print('CJ-ALL-EXEC-DENIED' if all(results) else 'CJ-EXEC-ALLOWED %r' % results)\n";

/* Makes seccomp() itself fail with EPERM, to see the .so fail closed. */
static int deny_seccomp_syscall(void)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof(insns) / sizeof(insns[0]), .filter = insns};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0L, 0L);
}

/* Runs python3 (with the .so preloaded unless so is NULL) after the filter s
 * and, if break_seccomp, one that refuses seccomp(); captures its stdout and
 * stderr. */
static int run_python(const cj_seccomp *s, const char *so, int break_seccomp, const char *code, char *out,
                      size_t outsz)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (dup2(p[1], 1) < 0 || dup2(p[1], 2) < 0)
            _exit(APPLY_FAILED);
        if (s != NULL && cj_seccomp_apply(s) != 0)
            _exit(APPLY_FAILED);
        if (break_seccomp && deny_seccomp_syscall() != 0)
            _exit(APPLY_FAILED);
        char preload[4096];
        snprintf(preload, sizeof(preload), "LD_PRELOAD=%s", so ? so : "");
        char *envp[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", so ? preload : NULL, NULL};
        char *argv[] = {"python3", "-I", "-S", "-c", (char *)code, NULL};
        execve("/usr/bin/python3", argv, envp);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < outsz && ((r = read(p[0], out + n, outsz - 1 - n)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0)
            n += (size_t)r;
    out[n] = '\0';
    close(p[0]);
    int st;
    return waitpid(pid, &st, 0) < 0 ? -1 : st;
}

int main(int argc, char **argv)
{
    CHECK_INIT;
    cj_err err = {0};
    cj_seccomp s1;
    if (cj_seccomp_build_stage1(&s1, &err) != 0) {
        fprintf(stderr, "build_stage1: %s\n", err.msg);
        CHECK(0);
        return CHECK_DONE();
    }
    CHECK(s1.prog.len > 10 && s1.prog.filter != NULL);

    /* Sockets: only AF_UNIX. */
    CHECK(gives(&s1, p_inet, EACCES));
    CHECK(gives(&s1, p_inet6, EACCES));
    CHECK(gives(&s1, p_netlink, EACCES));
    CHECK(gives(&s1, p_packet, EACCES));
    CHECK(gives(&s1, p_unix_hi, EACCES));
    CHECK(gives(&s1, p_pair_inet, EACCES));
    CHECK(gives(&s1, p_unix, 0));
    CHECK(gives(&s1, p_pair_unix, 0));
    /* No socket reached by name; no SysV IPC.  Unfiltered, both work. */
    CHECK(gives(NULL, p_unix_connect, 0));
    CHECK(gives(NULL, p_unix_sendto, 0));
    CHECK(gives(&s1, p_unix_connect, EACCES));
    CHECK(gives(&s1, p_unix_sendto, EACCES));
    CHECK(gives(&s1, p_msgget, EPERM));
    CHECK(gives(&s1, p_shmget, EPERM));

    /* Namespaces, by unshare and by clone flags; clone3 falls back. */
    CHECK(gives(&s1, p_unshare_user, EPERM));
    CHECK(gives(&s1, p_unshare_none, EPERM));
    CHECK(gives(&s1, p_clone_newns, EPERM));
    CHECK(gives(&s1, p_clone_newnet, EPERM));
    CHECK(gives(&s1, p_clone3, ENOSYS));
    CHECK(gives(&s1, p_clone_plain, 0));
    CHECK(gives(&s1, p_fork, 0));
    CHECK(gives(&s1, p_thread, 0));

    CHECK(gives(&s1, p_mount, EPERM));
    CHECK(gives(&s1, p_umount, EPERM));
    CHECK(gives(&s1, p_chroot, EPERM));
    CHECK(gives(&s1, p_ptrace, EPERM));
    CHECK(gives(&s1, p_bpf, EPERM));
    CHECK(gives(&s1, p_keyctl, EPERM));
    CHECK(gives(&s1, p_io_uring, EPERM));
    CHECK(gives(&s1, p_perf, EPERM));
    CHECK(gives(&s1, p_userfaultfd, EPERM));
    CHECK(gives(&s1, p_vm_readv, EPERM));
    CHECK(gives(&s1, p_open_by_handle, EPERM));
    CHECK(gives(&s1, p_pers_query, 0));
    CHECK(gives(&s1, p_pers_set, EPERM));
    CHECK(gives(&s1, p_tiocsti, EPERM));
    CHECK(gives(&s1, p_tiocsti_hi, EPERM));
    CHECK(gives(&s1, p_landlock, 0));
    CHECK(gives(&s1, p_seccomp, 0));
    CHECK(gives(&s1, p_getpid, 0));
    CHECK(gives(&s1, p_pers_query_hi, EPERM));
    CHECK(gives(NULL, p_tioclinux, ENOTTY));
    CHECK(gives(&s1, p_tioclinux, EPERM));
    CHECK(gives(&s1, p_fionread, 0));
    CHECK(gives(&s1, p_fionread_hi, 0));
    CHECK(gives(&s1, p_fioclex, 0));
    CHECK(gives(&s1, p_tcgets, ENOTTY));
    CHECK(gives(&s1, p_ioctl_5410, ENOTTY));
    CHECK(gives(&s1, p_ioctl_541e, ENOTTY));
    CHECK(gives(&s1, p_pair_sendto, 0));

    /* An allow-list: what it does not name never reaches the kernel, and
     * says ENOSYS.  457/458 are statmount/listmount (6.8+); 600 and 1000
     * exist nowhere yet; get_robust_list and mq_open exist everywhere but
     * are not on the list.  getppid is, and reaches the E2BIG filter. */
    const long unlisted[] = {457, 458, 600, 1000, SYS_get_robust_list, SYS_mq_open};
    for (size_t i = 0; i < sizeof(unlisted) / sizeof(unlisted[0]); i++) {
        int got = under_e2big(&s1, unlisted[i]);
        if (got != ENOSYS)
            fprintf(stderr, "  syscall %ld: errno %d, want ENOSYS\n", unlisted[i], got);
        CHECK(got == ENOSYS);
    }
    CHECK(under_e2big(NULL, 1000) == E2BIG);
    CHECK(under_e2big(&s1, SYS_getppid) == E2BIG);
    CHECK(under_e2big(&s1, SYS_clone3) == ENOSYS);
    CHECK(apply_allow_all());
    CHECK(argument_rules_hold(&s1) == 0);
    CHECK(gives(&s1, p_execve_true, 0)); /* exit 0 of /usr/bin/true */

    /* Other ABIs are killed, whatever the call. */
    CHECK(killed_by(&s1, p_x32_getpid, SIGSYS));
#ifdef __x86_64__
    /* Without the filter int $0x80 must work, or the kernel was built
     * without ia32 emulation and SIGSYS cannot be told from SIGSEGV. */
    if (gives(NULL, p_int80, 0))
        CHECK(killed_by(&s1, p_int80, SIGSYS));
    else
        fprintf(stderr, "note: no ia32 emulation; int $0x80 check not meaningful\n");
#endif

    double cost = apply_cost_us(&s1, 64);
    CHECK(cost > 0);
    fprintf(stderr, "note: stage 1 is %u instructions; applying it takes %.1f us (median of 64)\n", s1.prog.len,
            cost);

    /* The API's edges. */
    cj_seccomp empty = {{0, NULL}};
    CHECK(cj_seccomp_apply(&empty) == -EINVAL);
    CHECK(cj_seccomp_apply(NULL) == -EINVAL);
    cj_seccomp s1b;
    CHECK(cj_seccomp_build_stage1(&s1b, &err) == 0 && s1b.prog.len == s1.prog.len &&
          memcmp(s1b.prog.filter, s1.prog.filter, s1.prog.len * sizeof(struct sock_filter)) == 0);
    cj_seccomp_free(&s1b);
    CHECK(s1b.prog.filter == NULL && s1b.prog.len == 0);
    cj_seccomp_free(&s1b);

    char out[4096];
    int st = run_python(&s1, NULL, 0, py_works, out, sizeof(out));
    CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(strstr(out, "CJ-STAGE1-OK\n") != NULL);

    /* Stage 2. */
    const char *so = argc > 1 ? argv[1] : NULL;
    if (so == NULL || access(so, R_OK) != 0) {
        fprintf(stderr, "usage: %s PATH/codejail-noexec.so (missing or unreadable: %s)\n", argv[0],
                so ? so : "(none)");
        CHECK(0);
    } else {
        st = run_noexec(so, p_execve_true);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == EACCES);
        st = run_noexec(so, p_execveat_true);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == EACCES);
        st = run_noexec(so, p_fork);
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
#ifdef __x86_64__
        st = run_noexec(so, p_x32_execve);
        CHECK(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
#endif

        st = run_python(&s1, so, 0, py_denied, out, sizeof(out));
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
        CHECK(strstr(out, "CJ-ALL-EXEC-DENIED\n") != NULL);
        if (strstr(out, "CJ-ALL-EXEC-DENIED\n") == NULL)
            fprintf(stderr, "  python printed: %s\n", out);

        /* Fail closed: if the filter cannot be installed, the interpreter
         * never reaches its main(). */
        st = run_python(&s1, so, 1, "print('CJ-RAN')", out, sizeof(out));
        CHECK(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 126);
        CHECK(strstr(out, "CJ-RAN") == NULL);
        CHECK(strstr(out, "codejail-noexec: cannot install the exec filter") != NULL);
    }

    cj_seccomp_free(&s1);
    return CHECK_DONE();
}
