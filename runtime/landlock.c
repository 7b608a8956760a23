#include "landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The build host's linux-libc-dev may predate the kernel we run on (Debian
 * 12's header stops at ABI 2); the values below are the kernel's UAPI, fixed
 * forever once released, so defining them here is safe. */
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13) /* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0) /* ABI 4 */
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1) /* ABI 6 */
#endif

/* The newest ABI whose rights this file knows how to grant.  A newer kernel
 * is driven at this level: rights we have not reviewed stay unhandled rather
 * than being denied or granted by accident. */
#define CJ_LANDLOCK_ABI_MAX 6

/* The kernel's struct landlock_ruleset_attr as of ABI 6.  Ours, not the
 * header's, because an old header's struct has only the first field; the
 * size passed to the kernel tells it how much of this an ABI understands. */
struct cj_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
};

#define FS_ABI1                                                                                    \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |   \
     LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |                                 \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | \
     LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |   \
     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

#define GRANT_READ (LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define GRANT_EXEC (GRANT_READ | LANDLOCK_ACCESS_FS_EXECUTE)
/* Spelled out rather than "all but EXECUTE" so that raising
 * CJ_LANDLOCK_ABI_MAX never hands the sandbox a new right unreviewed.
 * EXECUTE is absent so nothing the code writes can be exec'd (Landlock's
 * EXECUTE governs execve, not mapping a file executable: a shared object
 * written to tmp/ can still be dlopen'd, which gives no more than ctypes
 * already does; running programs is seccomp's to forbid); MAKE_CHAR/MAKE_BLOCK are absent because a device
 * node in tmp/ would be a door to raw hardware should a capability leak. */
#define GRANT_WRITE                                                                                \
    (GRANT_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                  \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |  \
     LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_SYM |   \
     LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE | LANDLOCK_ACCESS_FS_IOCTL_DEV)

/* The kernel rejects directory rights on a non-directory with EINVAL, so a
 * file listed on its own keeps only these.  IOCTL_DEV, though the kernel
 * would accept it, is left out: files we list alone are sinks like
 * /dev/null, and device ioctls are how a sandbox reaches a driver (or, on a
 * tty, pushes input into someone else's shell with TIOCSTI). */
#define FILE_RIGHTS                                                                                \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |   \
     LANDLOCK_ACCESS_FS_TRUNCATE)

/* Not in landlock.h: production has no reason to ask for less than the
 * newest ABI both sides know.  The unit test calls it to exercise the
 * ABI 1..5 rulesets (Debian 12's kernel is ABI 2) on a newer kernel. */
int cj_landlock_apply_abi(const cj_landlock_spec *spec, int max_abi);

static long ll_version(void)
{
    return syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
}

int cj_landlock_abi(void)
{
    long v = ll_version();
    return v < 0 ? 0 : (int)v;
}

/* Every filesystem right the ABI knows is handled, so whatever is not granted
 * below is denied; a right left unhandled would be silently allowed. */
static uint64_t fs_handled(int abi)
{
    uint64_t fs = FS_ABI1;
    if (abi >= 2)
        fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 5)
        fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    return fs;
}

/* One rule per path.  Only syscalls: we run between fork and exec, where the
 * parent's malloc lock may be held by a thread that no longer exists. */
static int add_paths(int ruleset, const char *const *paths, uint64_t grant, uint64_t handled)
{
    for (; paths != NULL && *paths != NULL; paths++) {
        /* O_PATH: the rule needs an identity, not access, so even an
         * unreadable directory can be granted; CLOEXEC in case a failed
         * apply is followed by an exec anyway. */
        int fd = open(*paths, O_PATH | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        struct stat st;
        if (fstat(fd, &st) < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        /* A right outside the handled set is EINVAL, so an older ABI's
         * ruleset simply grants less. */
        uint64_t allowed = grant & handled;
        if (!S_ISDIR(st.st_mode))
            allowed &= FILE_RIGHTS;
        int r = 0;
        if (allowed != 0) {
            struct landlock_path_beneath_attr pb = {.allowed_access = allowed, .parent_fd = fd};
            if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
                r = -errno;
        }
        close(fd);
        if (r < 0)
            return r;
    }
    return 0;
}

/* landlock_restrict_self needs no_new_privs without CAP_SYS_ADMIN, and we
 * want it regardless: a setuid binary exec'd by the sandbox must not run
 * with privileges it could use to act outside the domain.  Read back rather
 * than trusting prctl's return. */
static int ensure_no_new_privs(void)
{
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1)
        return 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -errno;
    return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : -EPERM;
}

int cj_landlock_apply_abi(const cj_landlock_spec *spec, int max_abi)
{
    if (spec == NULL || max_abi < 1)
        return -EINVAL;
    /* No Landlock is an error, not a no-op: the caller decides whether the
     * sandbox may run without this layer, we never decide it silently. */
    long kabi = ll_version();
    if (kabi < 0)
        return -errno;
    if (kabi == 0)
        return -EOPNOTSUPP;
    int abi = kabi < max_abi ? (int)kabi : max_abi;
    if (abi > CJ_LANDLOCK_ABI_MAX)
        abi = CJ_LANDLOCK_ABI_MAX;

    /* The size tells the kernel which fields we mean: an ABI 2 kernel
     * rejects a 24-byte struct only if the tail is non-zero, but passing
     * exactly what the ABI defines keeps the intent unambiguous. */
    struct cj_ruleset_attr attr = {.handled_access_fs = fs_handled(abi)};
    size_t size = offsetof(struct cj_ruleset_attr, handled_access_net);
    if (abi >= 4) {
        /* No TCP rules follow, so all TCP bind and connect is denied: the
         * sandbox has no business serving or reaching anything, and this
         * holds even if the network namespace were ever shared. */
        attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
        size = offsetof(struct cj_ruleset_attr, scoped);
    }
    if (abi >= 6) {
        /* Abstract UNIX sockets ignore the filesystem (and so the rules
         * above) and signals reach any same-uid process: scoping confines
         * both to processes inside this sandbox's domain. */
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
        size = sizeof(attr);
    }

    /* The kernel opens the ruleset fd CLOEXEC, so it cannot reach the
     * sandboxed program even on a path that forgets to close it. */
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0)
        return -errno;

    uint64_t h = attr.handled_access_fs;
    int r = add_paths(ruleset, spec->exec_paths, GRANT_EXEC, h);
    if (r == 0)
        r = add_paths(ruleset, spec->read_paths, GRANT_READ, h);
    if (r == 0)
        r = add_paths(ruleset, spec->write_paths, GRANT_WRITE, h);
    /* Only now that every rule is in do we change the process: a missing
     * path leaves it exactly as it was (not even no_new_privs set), so the
     * caller's abort is the only consequence. */
    if (r == 0)
        r = ensure_no_new_privs();
    /* Restricts the calling thread only (before ABI 8); the child between
     * fork and exec has no other threads, and exec makes it the process. */
    if (r == 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
        r = -errno;
    close(ruleset);
    return r < 0 ? r : abi;
}

int cj_landlock_apply(const cj_landlock_spec *spec)
{
    return cj_landlock_apply_abi(spec, CJ_LANDLOCK_ABI_MAX);
}
