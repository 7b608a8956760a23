/* Prepared sandboxes: the cold path's fresh namespaces, mounts, cgroup,
 * identity, Landlock and seccomp made ahead of requests (`cold.pool` of
 * them), each waiting right before its interpreter's exec; a request then
 * costs an exec, not a sandbox.  The interpreter itself still starts fresh
 * for every execution.  Empty, the executor spawns as before. */
#ifndef CJ_PREPARED_H
#define CJ_PREPARED_H

#include <h2o.h>

#include "sandbox.h"

typedef struct cj_prepared cj_prepared;

cj_prepared *cj_prepared_create(h2o_loop_t *loop, const cj_sandbox_env *env, const cj_sandbox_limits *defaults,
                                size_t n);
/* One that said it is ready (else the oldest), or NULL; the caller then
 * owns it (cj_sandbox_go, or destroy). */
cj_sandbox *cj_prepared_take(cj_prepared *p);
/* Refill now that nobody waits (an execution was answered). */
void cj_prepared_refill(cj_prepared *p);
/* At least one is ready. */
int cj_prepared_ready(const cj_prepared *p);
/* Drops the ones whose processes died while waiting (logging why). */
void cj_prepared_on_sigchld(cj_prepared *p);
void cj_prepared_destroy(cj_prepared *p);

#endif
