#include "reach.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define REACH_MAX 32

struct verdict {
    int index; /* the first unreachable entry; -1: all reachable; -2: identity */
    int errnum;
};

/* The child's side: only system calls.  The ids are dropped for good, so
 * the kernel answers exactly as it will for an execution. */
static __attribute__((noreturn)) void check_as(const cj_reach *items, size_t n, const int *dirfds,
                                               const char *const *rels, uid_t uid, gid_t gid, int out)
{
    struct verdict v = {-1, 0};
    if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0 ||
        geteuid() != uid || getegid() != gid) {
        v.index = -2;
        v.errnum = errno ? errno : EPERM;
    }
    for (size_t i = 0; v.index == -1 && i < n; i++) {
        int flags = rels[i][0] == '\0' ? AT_EMPTY_PATH : 0;
        if (faccessat(dirfds[i], rels[i], items[i].mode, flags) < 0) {
            v.index = (int)i;
            v.errnum = errno;
        }
    }
    ssize_t w = write(out, &v, sizeof(v));
    _exit(w == (ssize_t)sizeof(v) ? 0 : 1);
}

/* For a path seen through a bind: an O_PATH fd of the bind (opened here, as
 * root, as the sandbox's init binds it) and the rest of the path below it. */
static int resolve(const cj_reach *it, int *dirfd, const char **rel, cj_err *err)
{
    *dirfd = AT_FDCWD;
    *rel = it->path;
    if (it->bind == NULL)
        return 0;
    size_t len = strlen(it->bind);
    if (strncmp(it->path, it->bind, len) != 0 || (it->path[len] != '\0' && it->path[len] != '/'))
        return cj_fail(err, EINVAL, "%s is not under %s", it->path, it->bind);
    *rel = it->path + len + (it->path[len] == '/');
    *dirfd = open(it->bind, O_PATH | O_CLOEXEC);
    if (*dirfd < 0)
        return cj_fail(err, errno, "%s (%s)", it->bind, it->why);
    return 0;
}

int cj_reach_check(const cj_reach *items, size_t n, uid_t uid, gid_t gid, cj_err *err)
{
    int dirfds[REACH_MAX], p[2] = {-1, -1}, rc = -1;
    const char *rels[REACH_MAX];
    size_t opened = 0;
    if (n > REACH_MAX)
        return cj_fail(err, E2BIG, "too many paths to check");
    for (; opened < n; opened++)
        if (resolve(&items[opened], &dirfds[opened], &rels[opened], err) < 0)
            goto out;
    if (pipe2(p, O_CLOEXEC) < 0) {
        cj_fail(err, errno, "pipe");
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        cj_fail(err, errno, "fork");
        goto out;
    }
    if (pid == 0)
        check_as(items, n, dirfds, rels, uid, gid, p[1]);
    close(p[1]);
    p[1] = -1;
    struct verdict v = {-2, EIO};
    ssize_t r;
    while ((r = read(p[0], &v, sizeof(v))) < 0 && errno == EINTR)
        ;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    /* Fails closed: no verdict is a failure, not a pass. */
    if (r != (ssize_t)sizeof(v) || v.index == -2) {
        cj_fail(err, r == (ssize_t)sizeof(v) ? v.errnum : EIO, "cannot check what uid %u can reach",
                (unsigned)uid);
    } else if (v.index >= 0) {
        const cj_reach *it = &items[v.index];
        cj_fail(err, v.errnum, "the sandbox user (uid %u) cannot reach %s, %s (%s)", (unsigned)uid, it->path,
                it->why,
                it->bind == NULL ? "without namespaces every directory above it must be searchable by that user"
                                 : "that user needs access to it and every directory from its bind down");
    } else {
        rc = 0;
    }
out:
    for (size_t i = 0; i < opened; i++)
        if (dirfds[i] >= 0)
            close(dirfds[i]);
    if (p[0] >= 0)
        close(p[0]);
    if (p[1] >= 0)
        close(p[1]);
    return rc;
}
