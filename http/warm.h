/* Warm start: a dedicated interpreter (runtime/warm_zygote.py) imports the
 * operator's preloads once; its pool (pool.h) keeps `warm.pool` clones of
 * it forked, confined and waiting, so an execution starts by handing one
 * its request.  The executor owns it.
 * When the warm interpreter dies the service runs cold and restarts it.
 * After warm.max_clones executions or warm.max_age seconds (its clones
 * share its hash seed and address layout) a replacement starts beside it;
 * requests move to the replacement once it has clones ready, and the old
 * one is retired: waiting clones killed, running executions left to end. */
#ifndef CJ_WARM_H
#define CJ_WARM_H

#include <h2o.h>

#include "config.h"
#include "metrics.h"
#include "sandbox.h"

typedef struct cj_warm cj_warm;

cj_warm *cj_warm_create(h2o_loop_t *loop, const cj_config *cfg, const cj_sandbox_env *env, cj_metrics *metrics,
                        const char *zygote_py, const char *lib);
/* A confined clone waiting for a request (the caller dispatches it), or
 * NULL when none is ready: the caller then runs the execution cold. */
cj_sandbox *cj_warm_take(cj_warm *w);
/* An execution was answered: refill the pool now that nobody waits. */
void cj_warm_refill(cj_warm *w);
/* Clones waiting now, and how many the pool keeps. */
void cj_warm_pool(const cj_warm *w, size_t *ready, size_t *size);
/* At least one clone is waiting. */
int cj_warm_ready(const cj_warm *w);
void cj_warm_on_sigchld(cj_warm *w);
void cj_warm_destroy(cj_warm *w);

#endif
