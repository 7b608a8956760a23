#include "pool.h"

#include <stdio.h>
#include <stdlib.h>

/* After a sandbox could not be made, or died waiting: wait this long before
 * the next, so that one that cannot be made is not remade in a loop. */
#define RETRY_MS 1000

enum slot_state { SLOT_EMPTY, SLOT_MAKING, SLOT_WAITING };

struct slot {
    enum slot_state state;
    void *item;
    uint64_t seq; /* when it began to wait: the oldest goes first */
};

struct cj_pool {
    h2o_loop_t *loop;
    const struct cj_log *log;
    const cj_pool_backend *be;
    void *ctx;
    struct slot *slots;
    size_t n;
    uint64_t seq;
    int started, drained;
    int failing; /* the last one could not be made: say it once, wait before the next */
    h2o_timeout_t now, later;
    h2o_timeout_entry_t refill_entry;
};

static void clear(const cj_pool *p, struct slot *s)
{
    if (s->item != NULL)
        p->be->destroy(s->item);
    s->item = NULL;
    s->state = SLOT_EMPTY;
}

static void link_refill(cj_pool *p)
{
    if (!h2o_timeout_is_linked(&p->refill_entry))
        h2o_timeout_link(p->loop, p->failing ? &p->later : &p->now, &p->refill_entry);
}

static void fail(cj_pool *p, const char *why)
{
    /* Requests still run (cold, made when they come); say it once. */
    if (!p->failing)
        cj_log(p->log, CJ_LOG_WARNING, "cannot make a %s: %s", p->be->what, why);
    p->failing = 1;
    link_refill(p);
}

static void refill(cj_pool *p)
{
    for (size_t i = 0; p->started && !p->drained && i < p->n; i++) {
        struct slot *s = &p->slots[i];
        if (s->state != SLOT_EMPTY)
            continue;
        cj_err err = {0};
        int making = 0;
        if (p->be->make(p->ctx, i, &s->item, &making, &err) < 0) {
            s->item = NULL;
            fail(p, err.msg);
            return;
        }
        if (making) {
            s->state = SLOT_MAKING;
        } else {
            p->failing = 0;
            s->state = SLOT_WAITING;
            s->seq = ++p->seq;
        }
    }
}

static void on_refill(h2o_timeout_entry_t *entry)
{
    refill(H2O_STRUCT_FROM_MEMBER(cj_pool, refill_entry, entry));
}

cj_pool *cj_pool_create(h2o_loop_t *loop, const struct cj_log *log, size_t n, const cj_pool_backend *be, void *ctx,
                        int started)
{
    cj_pool *p = calloc(1, sizeof(*p));
    if (p == NULL || (p->slots = calloc(n ? n : 1, sizeof(*p->slots))) == NULL) {
        free(p);
        return NULL;
    }
    p->loop = loop;
    p->log = log;
    p->be = be;
    p->ctx = ctx;
    p->n = n;
    p->started = started;
    h2o_timeout_init(loop, &p->now, 0);
    h2o_timeout_init(loop, &p->later, RETRY_MS);
    p->refill_entry.cb = on_refill;
    cj_pool_refill(p);
    return p;
}

void cj_pool_start(cj_pool *p)
{
    p->started = 1;
    cj_pool_refill(p);
}

void cj_pool_made(cj_pool *p, size_t slot, pid_t pid)
{
    if (slot >= p->n || p->slots[slot].state != SLOT_MAKING)
        return;
    struct slot *s = &p->slots[slot];
    p->be->made(s->item, pid);
    s->state = SLOT_WAITING;
    s->seq = ++p->seq;
    p->failing = 0;
    if (p->drained)
        clear(p, s); /* it can only be killed now that its pid is known */
}

void cj_pool_failed(cj_pool *p, size_t slot, const char *why)
{
    if (slot >= p->n || p->slots[slot].state != SLOT_MAKING)
        return;
    clear(p, &p->slots[slot]);
    fail(p, why);
}

void *cj_pool_take(cj_pool *p)
{
    cj_pool_on_sigchld(p);
    struct slot *pick = NULL;
    int pick_settled = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct slot *s = &p->slots[i];
        if (s->state != SLOT_WAITING)
            continue;
        int settled = p->be->settled(s->item);
        if (pick == NULL || settled > pick_settled || (settled == pick_settled && s->seq < pick->seq)) {
            pick = s;
            pick_settled = settled;
        }
    }
    if (pick == NULL)
        return NULL;
    void *item = pick->item;
    pick->item = NULL;
    pick->state = SLOT_EMPTY;
    /* Else refilled once this execution is answered (cj_pool_refill): only
     * an empty pool at once. */
    if (p->be->refill_on_take || !cj_pool_ready(p))
        cj_pool_refill(p);
    return item;
}

size_t cj_pool_waiting(const cj_pool *p, size_t *settled)
{
    size_t n = 0, k = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->slots[i].state == SLOT_WAITING) {
            n++;
            k += settled != NULL && p->be->settled(p->slots[i].item);
        }
    if (settled != NULL)
        *settled = k;
    return n;
}

size_t cj_pool_making(const cj_pool *p)
{
    size_t n = 0;
    for (size_t i = 0; i < p->n; i++)
        n += p->slots[i].state == SLOT_MAKING;
    return n;
}

int cj_pool_ready(const cj_pool *p)
{
    return cj_pool_waiting(p, NULL) > 0;
}

size_t cj_pool_size(const cj_pool *p)
{
    return p->n;
}

void cj_pool_refill(cj_pool *p)
{
    if (p->started && !p->drained)
        link_refill(p);
}

void cj_pool_on_sigchld(cj_pool *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct slot *s = &p->slots[i];
        char why[256];
        if (s->state != SLOT_WAITING || !p->be->ended(s->item, why, sizeof(why)))
            continue;
        cj_log(p->log, CJ_LOG_WARNING, "a %s ended before its request: %s", p->be->what, why);
        clear(p, s);
        p->failing = 1; /* one that cannot be made must not be remade in a loop */
        cj_pool_refill(p);
    }
}

size_t cj_pool_drain(cj_pool *p)
{
    size_t killed = 0;
    p->drained = 1;
    if (h2o_timeout_is_linked(&p->refill_entry))
        h2o_timeout_unlink(&p->refill_entry);
    for (size_t i = 0; i < p->n; i++)
        if (p->slots[i].state == SLOT_WAITING) {
            clear(p, &p->slots[i]);
            killed++;
        }
    return killed;
}

void cj_pool_destroy(cj_pool *p)
{
    if (p == NULL)
        return;
    if (h2o_timeout_is_linked(&p->refill_entry))
        h2o_timeout_unlink(&p->refill_entry);
    h2o_timeout_dispose(p->loop, &p->now);
    h2o_timeout_dispose(p->loop, &p->later);
    for (size_t i = 0; i < p->n; i++)
        clear(p, &p->slots[i]);
    free(p->slots);
    free(p);
}

int cj_pool_sandbox_settled(const void *item)
{
    return cj_sandbox_settled(item);
}

/* Only a prepared sandbox (our child) can be reaped here; a warm clone's
 * end shows when it is taken (its hand-over fails). */
int cj_pool_sandbox_ended(void *item, char *why, size_t len)
{
    int status;
    cj_err err = {0};
    if (cj_sandbox_reap(item, &status, &err) == 0)
        return 0;
    cj_sandbox_failure(item, why, len);
    return 1;
}

void cj_pool_sandbox_made(void *item, pid_t pid)
{
    cj_sandbox_warm_started(item, pid);
}

void cj_pool_sandbox_destroy(void *item)
{
    cj_sandbox_destroy(item);
}
