/* codejail-noexec.so: preloaded (LD_PRELOAD) into the sandbox interpreter,
 * its constructor takes exec away before any Python code runs.
 *
 * Why here and not earlier: the interpreter itself must be exec'd once, so
 * a filter installed before that exec cannot deny exec.  Landlock cannot do
 * it either: the dynamic loader must stay executable for the interpreter to
 * start, and `ld.so PROGRAM` runs any readable file without exec rights on
 * it.  So the filter is installed by the first code of ours that runs in
 * the new image: this constructor, which the loader runs before main().
 * Without exec, user code cannot start a shell, a compiler or a fresh
 * interpreter that sheds the state this process was started in.
 *
 * Fail closed: if the filter cannot be installed and proven, the process
 * exits 126 before the interpreter's main() ever runs.  The program is
 * written by hand in BPF so that this object needs nothing but libc. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) && !defined(__ILP32__)
#define CJ_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CJ_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "codejail-noexec: name this architecture's AUDIT_ARCH_* here"
#endif

static void die(const char *msg, size_t len)
{
    ssize_t r = write(2, msg, len);
    (void)r;
    _exit(126);
}
#define DIE(s) die("codejail-noexec: " s "\n", sizeof("codejail-noexec: " s "\n") - 1)

/* Allowed to fail only with EACCES from the filter.  An empty path means
 * that without the filter the kernel answers ENOENT and runs nothing. */
static int exec_refused(long nr)
{
    char *const none[] = {NULL};
    long r = nr == SYS_execveat ? syscall(nr, -1, "", none, none, 0) : syscall(nr, "", none, none);
    return r == -1 && errno == EACCES;
}

__attribute__((constructor)) static void cj_noexec_init(void)
{
    struct sock_filter insns[] = {
        /* A syscall made through another ABI (i386's int $0x80) has other
         * numbers: an execve there would not match below.  Kill it. */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CJ_AUDIT_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#ifdef __x86_64__
        /* x32 shares x86_64's arch value and sets bit 30 in the number
         * (its execve is 520|bit): kill it too.  nr == -1 is let through
         * (the kernel answers ENOSYS), as libseccomp does. */
        BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 2),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0xffffffffu, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
#endif
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execve, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_execveat, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EACCES & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog = {
        .len = (unsigned short)(sizeof(insns) / sizeof(insns[0])),
        .filter = insns,
    };

    /* Required to install a filter without privilege; it also keeps a
     * setuid binary from gaining anything, were exec ever possible. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0 || prctl(PR_GET_NO_NEW_PRIVS, 0L, 0L, 0L, 0L) != 1)
        DIE("cannot set no_new_privs; refusing to run");
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0L, &prog) != 0)
        DIE("cannot install the exec filter; refusing to run");
    /* Prove it rather than trust the return code. */
    if (prctl(PR_GET_SECCOMP, 0L, 0L, 0L, 0L) != SECCOMP_MODE_FILTER || !exec_refused(SYS_execve) ||
        !exec_refused(SYS_execveat))
        DIE("exec is not refused; refusing to run");
}
