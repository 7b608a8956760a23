/* The pool of sandboxes made ahead (http/pool.c), on a fake kind: it fills
 * its slots from the loop, hands out a settled one before an unsettled one
 * and then the oldest, refills when its kind says, waits after a failure
 * before making again, drops the ones that end while waiting, and a drained
 * pool makes no more and destroys what is made for it late.  Nothing is
 * leaked: every item made is destroyed or handed out. */
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "pool.h"

struct item {
    int id, settled, ended;
    pid_t pid;
    struct kind *k;
};

struct kind {
    int made, destroyed, fail_next, making; /* making: items wait for cj_pool_made */
    struct item *last[16];
};

static int make(void *ctx, size_t slot, void **out, int *making, cj_err *err)
{
    struct kind *k = ctx;
    if (k->fail_next) {
        k->fail_next--;
        return cj_fail(err, 5, "no room");
    }
    struct item *it = calloc(1, sizeof(*it));
    it->id = ++k->made;
    it->k = k;
    k->last[slot] = it;
    *making = k->making;
    *out = it;
    return 0;
}

static void made(void *item, pid_t pid)
{
    ((struct item *)item)->pid = pid;
}

static int settled(const void *item)
{
    return ((const struct item *)item)->settled;
}

static int ended(void *item, char *why, size_t len)
{
    snprintf(why, len, "test");
    return ((struct item *)item)->ended;
}

static void destroy(void *item)
{
    ((struct item *)item)->k->destroyed++;
    free(item);
}

static void spin(h2o_loop_t *loop, int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        h2o_evloop_run(loop, 10);
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static void give_back(struct item *it)
{
    if (it != NULL)
        destroy(it);
}

int main(void)
{
    CHECK_INIT;
    h2o_loop_t *loop = h2o_evloop_create();
    struct kind k = {0};
    cj_pool_backend be = {.what = "fake", .make = make, .made = made, .settled = settled, .ended = ended,
                          .destroy = destroy, .refill_on_take = 0};
    const struct cj_log log = {.level = CJ_LOG_INFO, .prog = "test_pool"};
    cj_pool *p = cj_pool_create(loop, &log, 3, &be, &k, 1);
    CHECK(p != NULL && !cj_pool_ready(p)); /* filled from the loop, not inside create */
    spin(loop, 20);
    size_t settled_n = 9;
    CHECK(k.made == 3 && cj_pool_waiting(p, &settled_n) == 3 && settled_n == 0);

    /* Settled first, then the oldest. */
    k.last[2]->settled = 1;
    struct item *a = cj_pool_take(p);
    CHECK(a != NULL && a->id == 3);
    struct item *b = cj_pool_take(p);
    CHECK(b != NULL && b->id == 1);
    /* refill_on_take off: not refilled while one is still waiting... */
    spin(loop, 20);
    CHECK(k.made == 3 && cj_pool_waiting(p, NULL) == 1);
    /* ...but when asked (an execution was answered). */
    cj_pool_refill(p);
    spin(loop, 20);
    CHECK(k.made == 5 && cj_pool_waiting(p, NULL) == 3);
    give_back(a);
    give_back(b);

    /* One that ended while waiting is dropped, and the next is made only
     * after a pause. */
    k.last[0]->ended = 1;
    int before = k.destroyed;
    cj_pool_on_sigchld(p);
    CHECK(k.destroyed == before + 1 && cj_pool_waiting(p, NULL) == 2);
    spin(loop, 100);
    CHECK(k.made == 5);
    spin(loop, 1200);
    CHECK(k.made == 6 && cj_pool_waiting(p, NULL) == 3);

    /* A failure to make: said once, retried after the pause. */
    struct item *c = cj_pool_take(p);
    cj_pool_refill(p);
    k.fail_next = 1;
    spin(loop, 100);
    CHECK(k.made == 6 && cj_pool_waiting(p, NULL) == 2);
    spin(loop, 1200);
    CHECK(k.made == 7 && cj_pool_waiting(p, NULL) == 3);
    give_back(c);

    /* Drained: the waiting killed, nothing more made. */
    CHECK(cj_pool_drain(p) == 3);
    CHECK(!cj_pool_ready(p) && cj_pool_take(p) == NULL);
    cj_pool_refill(p);
    spin(loop, 20);
    CHECK(k.made == 7);
    cj_pool_destroy(p);
    CHECK(k.destroyed == k.made); /* the three handed out were given back above */

    /* A kind made asynchronously: waiting only once made; a failure
     * empties the slot; made for a drained pool: destroyed at once. */
    struct kind m = {.making = 1};
    cj_pool *q = cj_pool_create(loop, &log, 2, &be, &m, 0);
    spin(loop, 20);
    CHECK(m.made == 0); /* not started */
    cj_pool_start(q);
    spin(loop, 20);
    CHECK(m.made == 2 && cj_pool_making(q) == 2 && !cj_pool_ready(q));
    cj_pool_made(q, 0, 1234);
    CHECK(m.last[0]->pid == 1234 && cj_pool_ready(q) && cj_pool_making(q) == 1);
    cj_pool_made(q, 0, 99); /* not being made: ignored */
    CHECK(m.last[0]->pid == 1234);
    cj_pool_failed(q, 1, "fork failed");
    CHECK(cj_pool_making(q) == 0 && m.destroyed == 1);
    spin(loop, 1200);
    CHECK(m.made == 3 && cj_pool_making(q) == 1);
    CHECK(cj_pool_drain(q) == 1);
    cj_pool_made(q, 1, 77);
    CHECK(m.destroyed == 3 && !cj_pool_ready(q));
    cj_pool_destroy(q);
    CHECK(m.destroyed == m.made);
    h2o_evloop_destroy(loop);
    return CHECK_DONE();
}
