/* Whether the sandbox user can reach what every execution needs: the
 * interpreter and the installed files.  Checked once at startup, so that an
 * installation the sandbox user cannot enter (a clone under /root, mode
 * 0700) stops the service with one line naming the path, instead of failing
 * every execution at a set-up step. */
#ifndef CJ_REACH_H
#define CJ_REACH_H

#include <sys/types.h>

#include "error.h"

/* One path the sandbox needs.  With a mount namespace the sandbox sees
 * `path` through a bind of `bind` (a directory or the file itself), whose
 * parents are its own root's: only the part from `bind` down counts.
 * Without, bind is NULL and the whole host path counts. */
typedef struct cj_reach {
    const char *path;
    const char *bind;
    int mode;        /* access(2) mode: X_OK, R_OK */
    const char *why; /* what it is, for the message */
} cj_reach;

/* Checks each entry as uid/gid in a child process; 0 when all are
 * reachable, else -1 and err names the first path that is not. */
int cj_reach_check(const cj_reach *items, size_t n, uid_t uid, gid_t gid, cj_err *err);

#endif
