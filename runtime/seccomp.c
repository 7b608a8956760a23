#include "cj_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h> /* libseccomp's: ours is cj_seccomp.h so the names never clash */
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_syscalls.h"

/* Stage 1 is an allow-list with a default answer of ENOSYS: a syscall
 * this filter does not name behaves as on a kernel that lacks it, so glibc
 * and Python take their fallbacks (clone3 -> clone above all), and a call
 * newer than the table (listmount, statmount, whatever comes next) never
 * reaches the kernel.  EPERM would break those fallbacks; killing the
 * process would turn a library's feature probe into a crash.  The table,
 * with a reason per group, is seccomp_syscalls.c; the calls whose answer
 * depends on their arguments are here.  What the filter refuses on purpose
 * it refuses with an errno Python turns into PermissionError (EPERM/EACCES).
 *
 * The filter is applied before the interpreter's exec (or, on the warm
 * path, before the clone returns to Python), so the exec and the loader's
 * calls are on the list; stage 2 takes exec away afterwards. */

/* clone()'s flags are its first argument everywhere but on s390. */
#if defined(__s390__) || defined(__s390x__)
#define CJ_CLONE_FLAGS_ARG 1
#else
#define CJ_CLONE_FLAGS_ARG 0
#endif

#define CJ_DEFAULT_ERRNO ENOSYS
#define CJ_MAX_NR 1024 /* above every native syscall number; checked */

/* The namespaces clone() can create.  CLONE_NEWTIME is left out: its bit
 * falls inside clone()'s exit-signal byte and the kernel accepts it only
 * from clone3() and unshare(), both refused whole. */
static const uint64_t clone_ns_flags[] = {
    CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

/* Terminal ioctls that push bytes into a terminal's input queue: if the
 * sandbox ever held an fd on the server's terminal, it could type commands
 * into the shell that owns it (CVE-2017-5226 in bubblewrap; TIOCLINUX did
 * the same on virtual consoles, CVE-2023-1523). */
static const uint32_t deny_ioctls[] = {TIOCSTI, TIOCLINUX};

struct builder {
    scmp_filter_ctx ctx;
    uint64_t seen[CJ_MAX_NR / 64]; /* numbers already given rules */
    cj_err *err;
};

/* e's number, or -1 when it does not exist here (then it gets no rule and
 * answers ENOSYS).  A call may be claimed once: libseccomp would silently
 * merge two rule sets for one call, and the table must say one thing. */
static int claim(struct builder *b, const struct cj_sys *e, int *nr)
{
    *nr = cj_sys_resolve(e);
    if (*nr < 0)
        return 0;
    if (*nr >= CJ_MAX_NR)
        return cj_fail(b->err, ERANGE, "seccomp: %s is number %d", e->name, *nr);
    uint64_t bit = 1ULL << (*nr % 64);
    if (b->seen[*nr / 64] & bit)
        return cj_fail(b->err, EEXIST, "seccomp: %s is named twice", e->name);
    b->seen[*nr / 64] |= bit;
    return 0;
}

static int rule(struct builder *b, uint32_t action, int nr, const char *name, unsigned n,
                const struct scmp_arg_cmp *cmp)
{
    int rc = seccomp_rule_add_exact_array(b->ctx, action, nr, n, cmp);
    if (rc < 0)
        return cj_fail(b->err, -rc, "seccomp: rule for %s", name);
    return 0;
}

static int add_groups(struct builder *b)
{
    size_t ng;
    const struct cj_sys_group *g = cj_seccomp_groups(&ng);
    for (size_t i = 0; i < ng; i++) {
        uint32_t action = g[i].refuse ? SCMP_ACT_ERRNO((uint32_t)g[i].refuse) : SCMP_ACT_ALLOW;
        for (size_t j = 0; j < g[i].n; j++) {
            int nr;
            if (claim(b, &g[i].calls[j], &nr) < 0)
                return cj_wrap(b->err, "group %s", g[i].what);
            if (nr >= 0 && rule(b, action, nr, g[i].calls[j].name, 0, NULL) < 0)
                return -1;
        }
    }
    return 0;
}

/* Each argument rule below is written as a pair that covers every value:
 * under a default other than ALLOW, a value no rule matches would fall to
 * ENOSYS, and libseccomp drops conditional rules beside an unconditional
 * one for the same call. */

/* Sockets: only AF_UNIX, which the interpreter's own machinery uses
 * (multiprocessing, socketpairs); its abstract names are private to the
 * network namespace and its path names reach only sockets the mount
 * namespace shows.  Every other family is the network, or a way into the
 * kernel's network code (netlink, packet, and dozens of rarely used
 * protocol modules with their own bug history).  socketpair() gets the same
 * rule: a few families besides AF_UNIX (TIPC) implement it.  The 64-bit
 * compare also refuses a family with junk in the upper half, which the
 * kernel would drop.
 *
 * Nor may an AF_UNIX socket reach a socket by name: connect(), and sendto()
 * with an address.  Landlock does not mediate path-named UNIX sockets, so
 * without a mount namespace (namespaces: false) a host daemon's socket
 * (syslog, D-Bus, a container engine) would be in reach.  socketpair(),
 * which multiprocessing and asyncio use, needs neither.  (sendmsg() with an
 * address cannot be told apart here: its address is in user memory; there
 * only the mount namespace, or AppArmor, stops it.) */
static int add_socket_rules(struct builder *b)
{
    const struct cj_sys calls[] = {CJ_SYS(socket), CJ_SYS(socketpair), CJ_SYS(connect), CJ_SYS(sendto)};
    const uint32_t eacces = SCMP_ACT_ERRNO(EACCES);
    int nr[4];
    for (size_t i = 0; i < 4; i++)
        if (claim(b, &calls[i], &nr[i]) < 0)
            return -1;
    const struct scmp_arg_cmp is_unix = SCMP_A0_64(SCMP_CMP_EQ, AF_UNIX, 0),
                              not_unix = SCMP_A0_64(SCMP_CMP_NE, AF_UNIX, 0),
                              no_addr = SCMP_A4_64(SCMP_CMP_EQ, 0, 0), has_addr = SCMP_A4_64(SCMP_CMP_NE, 0, 0);
    for (size_t i = 0; i < 2; i++)
        if (nr[i] >= 0 && (rule(b, SCMP_ACT_ALLOW, nr[i], calls[i].name, 1, &is_unix) < 0 ||
                           rule(b, eacces, nr[i], calls[i].name, 1, &not_unix) < 0))
            return -1;
    if ((nr[2] >= 0 && rule(b, eacces, nr[2], calls[2].name, 0, NULL) < 0) ||
        (nr[3] >= 0 && (rule(b, SCMP_ACT_ALLOW, nr[3], calls[3].name, 1, &no_addr) < 0 ||
                        rule(b, eacces, nr[3], calls[3].name, 1, &has_addr) < 0)))
        return -1;
    return 0;
}

/* clone() with any CLONE_NEW* flag: the same escape as unshare().  One
 * rule per flag, since a filter can test "these bits equal" but not "any
 * of these bits set"; rules for one syscall are ORed.  fork(), threads and
 * posix_spawn (CLONE_VM|CLONE_VFORK) have none of the bits and pass.
 *
 * clone3() takes its flags in a struct in user memory, which a seccomp
 * filter cannot read, so it gets no rule: the default ENOSYS is what makes
 * glibc's pthread_create and posix_spawn, which try clone3() first, fall
 * back to clone(), where the rules see the flags. */
static int add_clone_rules(struct builder *b)
{
    const struct cj_sys clone_ = CJ_SYS(clone), clone3 = CJ_SYS(clone3);
    int nr, nr3;
    if (claim(b, &clone_, &nr) < 0 || claim(b, &clone3, &nr3) < 0)
        return -1;
    if (nr < 0)
        return cj_fail(b->err, ENOSYS, "seccomp: no clone() here");
    uint64_t all = 0;
    for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
        const struct scmp_arg_cmp has =
            SCMP_CMP64(CJ_CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);
        if (rule(b, SCMP_ACT_ERRNO(EPERM), nr, "clone", 1, &has) < 0)
            return -1;
        all |= clone_ns_flags[i];
    }
    const struct scmp_arg_cmp none = SCMP_CMP64(CJ_CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, all, 0);
    return rule(b, SCMP_ACT_ALLOW, nr, "clone", 1, &none);
}

/* personality(): only the query (0xffffffff).  Setting it could turn off
 * address randomisation (ADDR_NO_RANDOMIZE) or make every readable mapping
 * executable (READ_IMPLIES_EXEC), weakening exploit defences for whatever
 * runs next. */
static int add_personality_rules(struct builder *b)
{
    const struct cj_sys pers = CJ_SYS(personality);
    int nr;
    if (claim(b, &pers, &nr) < 0)
        return -1;
    const struct scmp_arg_cmp query = SCMP_A0_64(SCMP_CMP_EQ, 0xffffffffu, 0),
                              other = SCMP_A0_64(SCMP_CMP_NE, 0xffffffffu, 0);
    if (nr >= 0 && (rule(b, SCMP_ACT_ALLOW, nr, "personality", 1, &query) < 0 ||
                    rule(b, SCMP_ACT_ERRNO(EPERM), nr, "personality", 1, &other) < 0))
        return -1;
    return 0;
}

static int is_denied_ioctl(uint32_t cmd)
{
    for (size_t i = 0; i < sizeof(deny_ioctls) / sizeof(deny_ioctls[0]); i++)
        if (deny_ioctls[i] == cmd)
            return 1;
    return 0;
}

/* ioctl's command is 32 bits to the kernel, which drops the upper half, so
 * every test masks it to the lower half and junk there cannot slip by.
 * "Any command but these" cannot be one rule (libseccomp will not AND two
 * tests of one argument), so it is spelled out with masked equalities:
 * a command that differs from the first denied one in a bit where all
 * denied ones agree is none of them (a rule per such bit); the few commands
 * left agree with it outside those bits and are listed one by one. */
static int add_ioctl_rules(struct builder *b)
{
    const struct cj_sys ioctl_ = CJ_SYS(ioctl);
    int nr;
    if (claim(b, &ioctl_, &nr) < 0)
        return -1;
    if (nr < 0)
        return cj_fail(b->err, ENOSYS, "seccomp: no ioctl() here");
    const uint32_t v0 = deny_ioctls[0];
    uint32_t spread = 0;
    for (size_t i = 0; i < sizeof(deny_ioctls) / sizeof(deny_ioctls[0]); i++)
        spread |= deny_ioctls[i] ^ v0;
    if (__builtin_popcount(spread) > 4)
        return cj_fail(b->err, EINVAL, "seccomp: denied ioctls differ in too many bits");
    for (unsigned bit = 0; bit < 32; bit++) {
        const uint32_t m = 1U << bit;
        const struct scmp_arg_cmp differs = SCMP_A1_64(SCMP_CMP_MASKED_EQ, m, ~v0 & m);
        if (!(spread & m) && rule(b, SCMP_ACT_ALLOW, nr, "ioctl", 1, &differs) < 0)
            return -1;
    }
    for (uint32_t s = spread;; s = (s - 1) & spread) {
        const uint32_t cmd = (v0 & ~spread) | s;
        const struct scmp_arg_cmp is = SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xffffffffu, cmd);
        uint32_t action = is_denied_ioctl(cmd) ? SCMP_ACT_ERRNO(EPERM) : SCMP_ACT_ALLOW;
        if (rule(b, action, nr, "ioctl", 1, &is) < 0)
            return -1;
        if (s == 0)
            break;
    }
    return 0;
}

static int add_rules(scmp_filter_ctx ctx, cj_err *err)
{
    struct builder b = {.ctx = ctx, .err = err};
    if (add_groups(&b) < 0 || add_socket_rules(&b) < 0 || add_clone_rules(&b) < 0 ||
        add_personality_rules(&b) < 0 || add_ioctl_rules(&b) < 0)
        return -1;
    return 0;
}

/* libseccomp 2.5 exports BPF only to an fd: an anonymous memory file keeps
 * it off any filesystem, then the program is copied into our own heap so
 * the child can apply it without calling into libseccomp. */
static int export_prog(scmp_filter_ctx ctx, cj_seccomp *out, cj_err *err)
{
    int fd = memfd_create("codejail-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return cj_fail(err, errno, "seccomp: memfd_create");
    struct sock_filter *buf = NULL;
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0) {
        cj_fail(err, -rc, "seccomp: export");
        goto fail;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        cj_fail(err, errno, "seccomp: fstat");
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    size_t n = size / sizeof(struct sock_filter);
    if (n == 0 || n > BPF_MAXINSNS || size % sizeof(struct sock_filter) != 0) {
        cj_fail(err, EINVAL, "seccomp: exported filter has %zu bytes", size);
        goto fail;
    }
    buf = malloc(size);
    if (buf == NULL) {
        cj_fail(err, ENOMEM, "seccomp: filter buffer");
        goto fail;
    }
    for (size_t got = 0; got < size;) {
        ssize_t r = pread(fd, (char *)buf + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            cj_fail(err, r < 0 ? errno : EIO, "seccomp: read back filter");
            goto fail;
        }
        got += (size_t)r;
    }
    close(fd);
    out->prog.filter = buf;
    out->prog.len = (unsigned short)n;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}

int cj_seccomp_build_stage1(cj_seccomp *out, cj_err *err)
{
    out->prog.filter = NULL;
    out->prog.len = 0;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(CJ_DEFAULT_ERRNO));
    if (ctx == NULL)
        return cj_fail(err, ENOMEM, "seccomp: init");
    int ret = -1;
    /* Only the native ABI is in the filter, so every other one (i386 via
     * int $0x80, x32) reaches the bad-arch action: kill.  Each ABI has its
     * own syscall numbers, so a rule keyed on native numbers would miss
     * the same call made through another.  libseccomp counts x32 (native
     * arch value, numbers with __X32_SYSCALL_BIT) as a separate arch and
     * sends it to this action too; test_seccomp proves both. */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc < 0) {
        cj_fail(err, -rc, "seccomp: bad-arch action");
        goto out;
    }
    /* A binary tree on the syscall number, not a chain: the kernel runs the
     * filter for every syscall number when it installs it (its cache of
     * syscalls always allowed), once per execution. */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    if (rc < 0) {
        cj_fail(err, -rc, "seccomp: binary tree");
        goto out;
    }
    if (add_rules(ctx, err) < 0 || export_prog(ctx, out, err) < 0)
        goto out;
    ret = 0;
out:
    seccomp_release(ctx);
    return ret;
}

void cj_seccomp_free(cj_seccomp *s)
{
    if (s == NULL)
        return;
    free(s->prog.filter);
    s->prog.filter = NULL;
    s->prog.len = 0;
}

int cj_seccomp_apply(const cj_seccomp *s)
{
    if (s == NULL || s->prog.filter == NULL || s->prog.len == 0)
        return -EINVAL;
    /* Without no_new_privs an unprivileged process may not install a
     * filter, and a setuid program could be run under a filter it does not
     * expect.  Re-read it rather than trust the return code. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
        return -errno;
    if (prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L) != 1)
        return -EPERM;
    /* No TSYNC: between fork and exec the child has a single thread. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0L, &s->prog) < 0)
        return -errno;
    if (prctl(PR_GET_SECCOMP, 0L, 0L, 0L, 0L) != SECCOMP_MODE_FILTER)
        return -EPERM;
    /* Prove that this filter is the one in force (the warm path already
     * runs under stage 2's): unshare(0) succeeds on any kernel unless a
     * rule refuses it; get_robust_list exists on every kernel we run on,
     * answers EFAULT here without a filter, and is not on the list, so the
     * default must answer it. */
    if (syscall(SYS_unshare, 0L) != -1 || errno != EPERM)
        return -EPERM;
    if (syscall(SYS_get_robust_list, 0L, NULL, NULL) != -1 || errno != CJ_DEFAULT_ERRNO)
        return -EPERM;
    return 0;
}
