#include "prepared.h"

#include <stdio.h>
#include <stdlib.h>

struct entry {
    cj_sandbox *sb;
    uint64_t seq; /* made when: the oldest goes first */
};

struct cj_prepared {
    h2o_loop_t *loop;
    const cj_sandbox_env *env;
    cj_sandbox_limits defaults;
    struct entry *slots; /* sb NULL: empty */
    size_t n;
    uint64_t seq;
    int failing; /* the last one could not be made: wait before trying again */
    h2o_timeout_t now, later;
    h2o_timeout_entry_t refill_entry;
};

#define RETRY_MS 1000

static void refill(cj_prepared *p)
{
    for (size_t i = 0; i < p->n; i++) {
        if (p->slots[i].sb != NULL)
            continue;
        cj_err err = {0};
        if (cj_sandbox_prepare(p->env, &p->defaults, &p->slots[i].sb, &err) < 0) {
            /* Requests still run (spawned when they come); say it once. */
            if (!p->failing)
                fprintf(stderr, "codejail-server: cannot prepare a sandbox: %s\n", err.msg);
            p->failing = 1;
            p->slots[i].sb = NULL;
            h2o_timeout_link(p->loop, &p->later, &p->refill_entry);
            return;
        }
        p->failing = 0;
        p->slots[i].seq = ++p->seq;
    }
}

static void on_refill(h2o_timeout_entry_t *entry)
{
    refill(H2O_STRUCT_FROM_MEMBER(cj_prepared, refill_entry, entry));
}

cj_prepared *cj_prepared_create(h2o_loop_t *loop, const cj_sandbox_env *env, const cj_sandbox_limits *defaults,
                                size_t n)
{
    cj_prepared *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->slots = calloc(n ? n : 1, sizeof(*p->slots))) == NULL) {
        free(p);
        return NULL;
    }
    p->loop = loop;
    p->env = env;
    p->defaults = *defaults;
    p->n = n;
    h2o_timeout_init(loop, &p->now, 0);
    h2o_timeout_init(loop, &p->later, RETRY_MS);
    p->refill_entry.cb = on_refill;
    cj_prepared_refill(p);
    return p;
}

void cj_prepared_refill(cj_prepared *p)
{
    if (!h2o_timeout_is_linked(&p->refill_entry))
        h2o_timeout_link(p->loop, p->failing ? &p->later : &p->now, &p->refill_entry);
}

cj_sandbox *cj_prepared_take(cj_prepared *p)
{
    cj_prepared_on_sigchld(p);
    struct entry *pick = NULL;
    int pick_settled = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct entry *e = &p->slots[i];
        if (e->sb == NULL)
            continue;
        int settled = cj_sandbox_settled(e->sb);
        if (pick == NULL || settled > pick_settled || (settled == pick_settled && e->seq < pick->seq)) {
            pick = e;
            pick_settled = settled;
        }
    }
    if (pick == NULL)
        return NULL;
    cj_sandbox *sb = pick->sb;
    pick->sb = NULL;
    /* Refilled now, beside this execution: back-to-back requests find one
     * ready.  It is made in a cgroup of low CPU weight, so it yields to the
     * one running (cj_cgroup_set_background). */
    cj_prepared_refill(p);
    return sb;
}

int cj_prepared_ready(const cj_prepared *p)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->slots[i].sb != NULL)
            return 1;
    return 0;
}

void cj_prepared_on_sigchld(cj_prepared *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct entry *e = &p->slots[i];
        int status;
        cj_err err = {0};
        if (e->sb == NULL || cj_sandbox_reap(e->sb, &status, &err) == 0)
            continue;
        char why[256];
        cj_sandbox_failure(e->sb, why, sizeof(why));
        fprintf(stderr, "codejail-server: a prepared sandbox ended before its request: %s\n", why);
        cj_sandbox_destroy(e->sb);
        e->sb = NULL;
        p->failing = 1; /* a sandbox that cannot be made must not be remade in a loop */
        cj_prepared_refill(p);
    }
}

void cj_prepared_destroy(cj_prepared *p)
{
    if (p == NULL)
        return;
    if (h2o_timeout_is_linked(&p->refill_entry))
        h2o_timeout_unlink(&p->refill_entry);
    h2o_timeout_dispose(p->loop, &p->now);
    h2o_timeout_dispose(p->loop, &p->later);
    for (size_t i = 0; i < p->n; i++)
        cj_sandbox_destroy(p->slots[i].sb);
    free(p->slots);
    free(p);
}
