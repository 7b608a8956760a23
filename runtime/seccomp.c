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

/* Stage 1 is a deny-list on purpose (default action ALLOW).  The interpreter,
 * numpy, scipy and their BLAS threads need a broad syscall set that changes
 * with every library and kernel release; an allow-list would break them in
 * ways that only show up in production.  The filesystem and the network are
 * already confined by the namespaces and Landlock, so this filter's job is
 * narrower: close the kernel interfaces those layers do not cover and that
 * have a history of privilege escalations, and make the sandbox unable to
 * take its own walls down.  What it refuses, it refuses on purpose with an
 * errno Python turns into PermissionError (EPERM/EACCES); ENOSYS is kept for
 * clone3, where it means "fall back" to glibc.
 *
 * Deliberately allowed: seccomp() and landlock_*(), since stacking another
 * filter or ruleset can only restrict the caller further (and stage 2 is
 * itself installed through seccomp()); execve, so the interpreter can start
 * (stage 2 takes it away once it has). */

/* A syscall named twice: as text, for messages and for a run-time lookup,
 * and as SCMP_SYS(), which is a compile-time error if this libseccomp does
 * not know the name at all, and a negative pseudo-number when the kernel
 * headers we build against lack it on this architecture. */
struct cj_sys {
    const char *name;
    int nr;
};
#define CJ_SYS(n) {#n, SCMP_SYS(n)}

/* Calls that fail with EPERM whatever their arguments. */
static const struct cj_sys deny_eperm[] = {
    /* Namespaces: a new user namespace hands the caller a full capability
     * set inside it, which opens the kernel code (netfilter, mount, ...)
     * behind most recent local privilege escalations; setns() would let a
     * leaked namespace fd pull the process out of its jail. */
    CJ_SYS(unshare),
    CJ_SYS(setns),
    /* Mount table: the sandbox may hold CAP_SYS_ADMIN over its own mount
     * namespace; unmounting or remounting could uncover what the read-only
     * and tmpfs mounts hide, or build a view Landlock was not written for. */
    CJ_SYS(mount),
    CJ_SYS(umount2),
    CJ_SYS(pivot_root),
    CJ_SYS(chroot),
    CJ_SYS(move_mount),
    CJ_SYS(open_tree),
    CJ_SYS(fsopen),
    CJ_SYS(fsconfig),
    CJ_SYS(fsmount),
    CJ_SYS(fspick),
    CJ_SYS(mount_setattr),
    /* Other processes' memory and files: ptrace also used to be a way round
     * seccomp itself (a tracer could rewrite a syscall after the check). */
    CJ_SYS(ptrace),
    CJ_SYS(process_vm_readv),
    CJ_SYS(process_vm_writev),
    CJ_SYS(process_madvise),
    CJ_SYS(pidfd_getfd),
    CJ_SYS(kcmp),
    /* Large kernel attack surface with a record of exploits: eBPF
     * verifier bugs; perf; userfaultfd, the usual tool to stretch a kernel
     * race window; keyrings, largely shared with the host and other
     * containers. */
    CJ_SYS(bpf),
    CJ_SYS(perf_event_open),
    CJ_SYS(userfaultfd),
    CJ_SYS(keyctl),
    CJ_SYS(add_key),
    CJ_SYS(request_key),
    /* io_uring runs socket, connect, openat... as ring operations that
     * never pass through this filter, so it would void the socket rule. */
    CJ_SYS(io_uring_setup),
    CJ_SYS(io_uring_enter),
    CJ_SYS(io_uring_register),
    /* The whole machine: kernel code, power, swap, accounting, quotas. */
    CJ_SYS(kexec_load),
    CJ_SYS(kexec_file_load),
    CJ_SYS(init_module),
    CJ_SYS(finit_module),
    CJ_SYS(delete_module),
    CJ_SYS(reboot),
    CJ_SYS(swapon),
    CJ_SYS(swapoff),
    CJ_SYS(acct),
    CJ_SYS(quotactl),
    CJ_SYS(quotactl_fd),
    CJ_SYS(lookup_dcookie),
    /* Open a file by inode handle, skipping path lookup: the "shocker"
     * container escape; Landlock's rules are path-based and cannot help. */
    CJ_SYS(name_to_handle_at),
    CJ_SYS(open_by_handle_at),
    /* The kernel log leaks kernel addresses (defeats KASLR); fanotify
     * watches whole filesystems. */
    CJ_SYS(syslog),
    CJ_SYS(fanotify_init),
    /* Terminal, host name, clocks: shared with the host or meaningless. */
    CJ_SYS(vhangup),
    CJ_SYS(setdomainname),
    CJ_SYS(sethostname),
    CJ_SYS(settimeofday),
    CJ_SYS(clock_settime),
    CJ_SYS(clock_adjtime),
    CJ_SYS(adjtimex),
    /* x86 hardware and legacy interfaces: direct I/O ports, the LDT (a
     * favourite of past exploits), a.out loading, the dead NFS server call.
     * Those this architecture lacks are skipped. */
    CJ_SYS(ioperm),
    CJ_SYS(iopl),
    CJ_SYS(modify_ldt),
    CJ_SYS(uselib),
    CJ_SYS(nfsservctl),
    /* SysV IPC: its objects outlive the processes that make them and are
     * found by a guessable key, a channel from one execution to the next
     * wherever an IPC namespace does not separate them (namespaces: false).
     * Python's own machinery uses POSIX shared memory and pipes instead. */
    CJ_SYS(msgget),
    CJ_SYS(msgsnd),
    CJ_SYS(msgrcv),
    CJ_SYS(msgctl),
    CJ_SYS(semget),
    CJ_SYS(semop),
    CJ_SYS(semtimedop),
    CJ_SYS(semctl),
    CJ_SYS(shmget),
    CJ_SYS(shmat),
    CJ_SYS(shmdt),
    CJ_SYS(shmctl),
};

/* clone()'s flags are its first argument everywhere but on s390. */
#if defined(__s390__) || defined(__s390x__)
#define CJ_CLONE_FLAGS_ARG 1
#else
#define CJ_CLONE_FLAGS_ARG 0
#endif

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
static const uint64_t deny_ioctls[] = {TIOCSTI, TIOCLINUX};

/* Resolves e's number for the native architecture: the build-time number,
 * else libseccomp's own table (newer than the kernel headers we built
 * with).  Returns -1 when neither knows it: the call does not exist here. */
static int resolve(const struct cj_sys *e)
{
    if (e->nr >= 0)
        return e->nr;
    int nr = seccomp_syscall_resolve_name(e->name);
    return nr >= 0 ? nr : -1;
}

static int add(scmp_filter_ctx ctx, uint32_t action, const struct cj_sys *e, unsigned n,
               const struct scmp_arg_cmp *cmp, cj_err *err)
{
    int nr = resolve(e);
    if (nr < 0)
        return 0;
    int rc = seccomp_rule_add_exact_array(ctx, action, nr, n, cmp);
    if (rc < 0)
        return cj_fail(err, -rc, "seccomp: rule for %s", e->name);
    return 0;
}

static int add_rules(scmp_filter_ctx ctx, cj_err *err)
{
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    for (size_t i = 0; i < sizeof(deny_eperm) / sizeof(deny_eperm[0]); i++)
        if (add(ctx, eperm, &deny_eperm[i], 0, NULL, err) < 0)
            return -1;

    /* Sockets: only AF_UNIX, which the interpreter's own machinery uses
     * (multiprocessing, socketpairs); its abstract names are private to the
     * network namespace and its path names reach only sockets the mount
     * namespace shows.  Every other family is the network, or a way into
     * the kernel's network code (netlink, packet, and dozens of rarely used
     * protocol modules with their own bug history).  socketpair() gets the
     * same rule: a few families besides AF_UNIX (TIPC) implement it.  The
     * 64-bit compare also refuses a family with junk in the upper half,
     * which the kernel would drop. */
    const struct cj_sys sys_socket = CJ_SYS(socket), sys_socketpair = CJ_SYS(socketpair);
    const struct scmp_arg_cmp not_unix = SCMP_A0_64(SCMP_CMP_NE, AF_UNIX, 0);
    if (add(ctx, SCMP_ACT_ERRNO(EACCES), &sys_socket, 1, &not_unix, err) < 0 ||
        add(ctx, SCMP_ACT_ERRNO(EACCES), &sys_socketpair, 1, &not_unix, err) < 0)
        return -1;

    /* Nor may an AF_UNIX socket reach a socket by name: connect(), and
     * sendto() with an address.  Landlock does not mediate path-named UNIX
     * sockets, so without a mount namespace (namespaces: false) a host
     * daemon's socket (syslog, D-Bus, a container engine) would be in reach.
     * socketpair(), which multiprocessing and asyncio use, needs neither.
     * (sendmsg() with an address cannot be told apart here: its address is
     * in user memory; there only the mount namespace, or AppArmor, stops it.) */
    const struct cj_sys sys_connect = CJ_SYS(connect), sys_sendto = CJ_SYS(sendto);
    const struct scmp_arg_cmp has_addr = SCMP_A4_64(SCMP_CMP_NE, 0, 0);
    if (add(ctx, SCMP_ACT_ERRNO(EACCES), &sys_connect, 0, NULL, err) < 0 ||
        add(ctx, SCMP_ACT_ERRNO(EACCES), &sys_sendto, 1, &has_addr, err) < 0)
        return -1;

    /* clone() with any CLONE_NEW* flag: the same escape as unshare().  One
     * rule per flag, since a filter can test "these bits equal" but not
     * "any of these bits set"; rules for one syscall are ORed.  fork(),
     * threads and posix_spawn (CLONE_VM|CLONE_VFORK) pass untouched. */
    const struct cj_sys sys_clone = CJ_SYS(clone);
    for (size_t i = 0; i < sizeof(clone_ns_flags) / sizeof(clone_ns_flags[0]); i++) {
        const struct scmp_arg_cmp has =
            SCMP_CMP64(CJ_CLONE_FLAGS_ARG, SCMP_CMP_MASKED_EQ, clone_ns_flags[i], clone_ns_flags[i]);
        if (add(ctx, eperm, &sys_clone, 1, &has, err) < 0)
            return -1;
    }

    /* clone3() takes its flags in a struct in user memory, which a seccomp
     * filter cannot read, so namespace flags there cannot be told apart.
     * ENOSYS (not EPERM) is what makes glibc's pthread_create and
     * posix_spawn, which try clone3() first, fall back to clone(), where the
     * rule above sees the flags. */
    const struct cj_sys sys_clone3 = CJ_SYS(clone3);
    if (add(ctx, SCMP_ACT_ERRNO(ENOSYS), &sys_clone3, 0, NULL, err) < 0)
        return -1;

    /* personality(): only the query (0xffffffff).  Setting it could turn
     * off address randomisation (ADDR_NO_RANDOMIZE) or make every readable
     * mapping executable (READ_IMPLIES_EXEC), weakening exploit defences
     * for whatever runs next. */
    const struct cj_sys sys_pers = CJ_SYS(personality);
    const struct scmp_arg_cmp not_query = SCMP_A0_64(SCMP_CMP_NE, 0xffffffffu, 0);
    if (add(ctx, eperm, &sys_pers, 1, &not_query, err) < 0)
        return -1;

    /* ioctl's command is 32 bits to the kernel, which drops the upper half:
     * compare only the lower half so junk there cannot slip by. */
    const struct cj_sys sys_ioctl = CJ_SYS(ioctl);
    for (size_t i = 0; i < sizeof(deny_ioctls) / sizeof(deny_ioctls[0]); i++) {
        const struct scmp_arg_cmp is = SCMP_A1_64(SCMP_CMP_MASKED_EQ, 0xffffffffu, deny_ioctls[i]);
        if (add(ctx, eperm, &sys_ioctl, 1, &is, err) < 0)
            return -1;
    }
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
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
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
    return 0;
}
