/* Sandboxes made ahead of their request, of one kind (a backend: the
 * prepared cold kind, executor.c; the warm kind, one pool per warm
 * interpreter, warm.c).  Each of n slots is empty, being made, or waiting.
 * Ready means one thing: a slot waits.  A request takes one that has said
 * it is ready (its setup stream is readable: confined and, warm, rehearsed)
 * before one that has not, then the oldest; the pool is refilled when
 * nobody waits for the CPU it takes.  Every pool is the executor's. */
#ifndef CJ_POOL_H
#define CJ_POOL_H

#include <h2o.h>

#include "log.h"
#include "sandbox.h"

typedef struct cj_pool cj_pool;

/* The kind's operations on one of its items (a cj_sandbox for both real
 * kinds: CJ_POOL_SANDBOX_OPS). */
typedef struct cj_pool_backend {
    const char *what; /* the kind, for the log: "prepared sandbox", "warm clone" */
    /* Makes one for slot: 0 with *item set, waiting already, or (*making
     * set) once cj_pool_made says so; -1 with err on failure. */
    int (*make)(void *ctx, size_t slot, void **item, int *making, cj_err *err);
    void (*made)(void *item, pid_t pid); /* made: its process is pid */
    int (*settled)(const void *item);    /* it said it is ready (or ended) */
    /* 1 when it ended while waiting, with why; 0 while it lives. */
    int (*ended)(void *item, char *why, size_t len);
    void (*destroy)(void *item); /* kills and frees */
    /* Refilled beside the execution that took one (it is made at the
     * background CPU weight), rather than once that one is answered. */
    int refill_on_take;
} cj_pool_backend;

int cj_pool_sandbox_settled(const void *item);
int cj_pool_sandbox_ended(void *item, char *why, size_t len);
void cj_pool_sandbox_made(void *item, pid_t pid);
void cj_pool_sandbox_destroy(void *item);
#define CJ_POOL_SANDBOX_OPS                                                                              \
    .made = cj_pool_sandbox_made, .settled = cj_pool_sandbox_settled, .ended = cj_pool_sandbox_ended, \
    .destroy = cj_pool_sandbox_destroy

/* started: may make sandboxes now (else once cj_pool_start is called). */
cj_pool *cj_pool_create(h2o_loop_t *loop, const struct cj_log *log, size_t n, const cj_pool_backend *be, void *ctx,
                        int started);
void cj_pool_start(cj_pool *p);
/* A slot being made now waits (pid: its process); a drained pool destroys it. */
void cj_pool_made(cj_pool *p, size_t slot, pid_t pid);
void cj_pool_failed(cj_pool *p, size_t slot, const char *why);
/* One ready item, or NULL; the caller then owns it (cj_sandbox_hand_over,
 * or destroy). */
void *cj_pool_take(cj_pool *p);
/* How many wait, and how many of those said they are ready. */
size_t cj_pool_waiting(const cj_pool *p, size_t *settled);
size_t cj_pool_making(const cj_pool *p);
int cj_pool_ready(const cj_pool *p);
size_t cj_pool_size(const cj_pool *p);
/* Refill now that nobody waits (an execution was answered). */
void cj_pool_refill(cj_pool *p);
/* Drops the waiting ones whose processes ended (logging why). */
void cj_pool_on_sigchld(cj_pool *p);
/* Kills the waiting ones and makes no more (the ones still being made are
 * destroyed when made); returns how many it killed. */
size_t cj_pool_drain(cj_pool *p);
void cj_pool_destroy(cj_pool *p);

#endif
