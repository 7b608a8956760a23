#include "rlimits.h"

#include "layout.h"

#include <errno.h>
#include <sys/resource.h>

static int set1(int resource, rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    if (setrlimit(resource, &rl) < 0)
        return -errno;
    return 0;
}

int cj_rlimits_apply(const cj_sandbox_limits *l, int nproc)
{
    int r;
    if ((r = set1(RLIMIT_NOFILE, CJ_NOFILE, CJ_NOFILE)) < 0 || (r = set1(RLIMIT_CORE, 0, 0)) < 0)
        return r;
    if (l == NULL)
        return 0;
    /* The hard CPU limit one second above the soft one: at the soft limit the
     * kernel sends SIGXCPU (status -24, as the library reports); were they
     * equal, SIGKILL would win and the status would read like a timeout. */
    if ((r = set1(RLIMIT_CPU, (rlim_t)l->cpu, (rlim_t)l->cpu + 1)) < 0)
        return r;
    rlim_t as = l->vmem > 0 ? (rlim_t)l->vmem : RLIM_INFINITY;
    if ((r = set1(RLIMIT_AS, as, as)) < 0)
        return r;
    if ((r = set1(RLIMIT_FSIZE, (rlim_t)l->fsize, (rlim_t)l->fsize)) < 0)
        return r;
    /* RLIMIT_NPROC counts every process of the uid, so concurrent
     * executions would share it; a pids cgroup, when there is one, limits
     * each execution on its own instead. */
    if (nproc && (r = set1(RLIMIT_NPROC, (rlim_t)l->nproc, (rlim_t)l->nproc)) < 0)
        return r;
    return 0;
}
