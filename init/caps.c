/* The server's capabilities: CMD's bounding set keeps only what
 * codejail-server uses, so a bug in the server (it parses untrusted requests)
 * cannot load modules, trace, reboot, bind raw sockets and so on. */
#include "init.h"

#include <errno.h>
#include <linux/capability.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static const int server_caps[] = {
    CAP_SYS_ADMIN,    /* each execution's namespaces, mounts, pivot_root, hostname */
    CAP_SETUID,       /* switching an execution to the sandbox uid */
    CAP_SETGID,       /* ... and gid, dropping supplementary groups */
    CAP_SETPCAP,      /* emptying the execution's own bounding set */
    CAP_DAC_OVERRIDE, /* removing what an execution left as another uid */
    CAP_FOWNER,       /* ... including modes and sticky directories it set */
    CAP_CHOWN,        /* handing the execution its tmp/ */
    CAP_KILL,         /* killing executions that run as another uid */
    CAP_MKNOD,        /* each execution's own /dev/null, zero, random, urandom */
    CAP_NET_ADMIN,    /* bringing lo up in each execution's network namespace */
};

/* Capabilities past 63 do not exist yet; the loops stop at the first number
 * the kernel rejects, so caps newer than our headers are dropped too. */
#define MAX_CAP 63

int caps_limit_to_server(const char **step)
{
    uint64_t keep = 0;
    for (size_t i = 0; i < sizeof(server_caps) / sizeof(server_caps[0]); i++)
        keep |= 1ULL << server_caps[i];
    for (int cap = 0; cap <= MAX_CAP; cap++) {
        int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in < 0 && errno == EINVAL)
            break;
        *step = "drop from the bounding set";
        /* Only what is there: dropping needs CAP_SETPCAP, which a set that
         * is small enough already need not hold. */
        if (in < 0 || (in == 1 && !(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0))
            return -1;
    }
    /* At exec P' = (P_inh & F_inh) | (F_perm & bounding) | P_amb: inheritable
     * and ambient capabilities pass the bounding set by.  With both empty,
     * root's CMD gets exactly the bounding set.  The kernel keeps ambient a
     * subset of inheritable, so emptying inheritable empties both. */
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct d[2];
    *step = "clear the inheritable set";
    if (syscall(SYS_capget, &h, d) < 0)
        return -1;
    d[0].inheritable = d[1].inheritable = 0;
    if (syscall(SYS_capset, &h, d) < 0)
        return -1;

    /* Verify the state itself, not the return codes above. */
    *step = "verify";
    for (int cap = 0; cap <= MAX_CAP; cap++) {
        int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in < 0)
            break;
        if (in == 1 && !(keep & (1ULL << cap))) {
            errno = EPERM;
            return -1;
        }
    }
    if (syscall(SYS_capget, &h, d) < 0)
        return -1;
    if (d[0].inheritable != 0 || d[1].inheritable != 0) {
        errno = EPERM;
        return -1;
    }
    return 0;
}
