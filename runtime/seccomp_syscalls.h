/* Stage 1's syscall table (seccomp_syscalls.c), read by seccomp.c only.
 *
 * A syscall is named twice: as text, for messages and a run-time lookup,
 * and as SCMP_SYS(), which is a compile-time error if this libseccomp does
 * not know the name at all, and a negative pseudo-number when the kernel
 * headers we build against lack it on this architecture. */
#ifndef CJ_SECCOMP_SYSCALLS_H
#define CJ_SECCOMP_SYSCALLS_H

#include <stddef.h>

struct cj_sys {
    const char *name;
    int nr;
};
#define CJ_SYS(n) {#n, SCMP_SYS(n)}

/* A group of calls that get one answer whatever their arguments. */
struct cj_sys_group {
    const char *what;
    int refuse; /* 0: allowed; else the errno they fail with */
    const struct cj_sys *calls;
    size_t n;
};

/* The groups, allowed and refused; *n is set to their number. */
const struct cj_sys_group *cj_seccomp_groups(size_t *n);

/* Resolves e's number for the native architecture: the build-time number,
 * else libseccomp's own table (newer than the kernel headers we built
 * with).  -1 when neither knows it: the call does not exist here. */
int cj_sys_resolve(const struct cj_sys *e);

#endif
