#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"

struct cj_cgroup_pool {
    const struct cj_log *log;
    cj_cgroups *cgs;
    cj_cgroup **idle;
    size_t n_idle, max_idle;
    unsigned long long seq;
    unsigned int tag; /* random: names stay apart between services sharing a parent */
};

cj_cgroup_pool *cj_cgroup_pool_new(cj_cgroups *cgs, size_t max_idle, const struct cj_log *log)
{
    cj_cgroup_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->idle = calloc(max_idle ? max_idle : 1, sizeof(*p->idle));
    if (p->idle == NULL) {
        free(p);
        return NULL;
    }
    p->log = log;
    p->cgs = cgs;
    p->max_idle = max_idle;
    /* Not the pid: services in pid namespaces of their own all have small,
     * equal pids. */
    if (getrandom(&p->tag, sizeof(p->tag), 0) != (ssize_t)sizeof(p->tag))
        p->tag = (unsigned int)getpid() ^ (unsigned int)time(NULL);
    return p;
}

static void destroy_logged(const cj_cgroup_pool *p, cj_cgroup *cg)
{
    cj_err e = {0};
    if (cj_cgroup_destroy(cg, &e) < 0)
        cj_log(p->log, CJ_LOG_ERROR, "%s", e.msg);
}

/* Oldest first: the one whose last processes had the longest to exit.  One
 * still busy stays for later; none free, a new one is made. */
int cj_cgroup_pool_get(cj_cgroup_pool *p, const cj_cgroup_limits *lim, cj_cgroup **out, cj_err *err)
{
    for (size_t i = 0; i < p->n_idle;) {
        cj_cgroup *cg = p->idle[i];
        cj_err e = {0};
        int r = cj_cgroup_reuse(cg, lim, &e);
        if (r == 1) {
            i++;
            continue;
        }
        memmove(&p->idle[i], &p->idle[i + 1], (p->n_idle - i - 1) * sizeof(*p->idle));
        p->n_idle--;
        if (r == 0) {
            *out = cg;
            return 0;
        }
        cj_log(p->log, CJ_LOG_WARNING, "not reusing a cgroup: %s", e.msg);
        destroy_logged(p, cg);
    }
    char name[64];
    snprintf(name, sizeof(name), "exec-%08x-%llu", p->tag, ++p->seq);
    cj_log(p->log, CJ_LOG_DEBUG, "cgroup pool: making %s (%zu idle, none free)", name, p->n_idle);
    return cj_cgroup_create(p->cgs, name, lim, out, err);
}

void cj_cgroup_pool_put(cj_cgroup_pool *p, cj_cgroup *cg)
{
    if (cg == NULL)
        return;
    if (p->n_idle < p->max_idle) {
        /* A straggler must not live on into the next execution: killed
         * now, and reuse waits until it is gone; its teardown yields. */
        cj_err e = {0};
        (void)cj_cgroup_set_background(cg, 1, &e);
        cj_cgroup_kill_nowait(cg);
        p->idle[p->n_idle++] = cg;
        return;
    }
    destroy_logged(p, cg);
}

void cj_cgroup_pool_free(cj_cgroup_pool *p)
{
    if (p == NULL)
        return;
    while (p->n_idle > 0)
        destroy_logged(p, p->idle[--p->n_idle]);
    free(p->idle);
    free(p);
}
