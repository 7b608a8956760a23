/* The service's one context, passed to every handler: no globals. */
#ifndef CJ_SERVER_H
#define CJ_SERVER_H

#include <h2o.h>

#include "config.h"
#include "executor.h"
#include "log.h"
#include "metrics.h"
#include "sandbox.h"

#define CJ_WATCH_MS 100 /* how often running executions' clients are checked for a hang-up */

enum cj_probe_state { CJ_PROBE_PENDING, CJ_PROBE_PASSED, CJ_PROBE_FAILED };

typedef struct cj_server {
    const struct cj_log *log; /* main()'s; every part of the server logs through it */
    cj_metrics metrics; /* moved by the executor, the warm interpreters' lifecycle, every answer */
    cj_config *cfg;
    cj_sandbox_env env;
    h2o_globalconf_t globalconf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_socket_t *signals;
    cj_executor *ex;
    struct cj_bytecode_cache *bytecode_cache; /* course code compiled once; NULL: off (max_entries 0) */
    h2o_linklist_t compile_runs;              /* its compile runs under way (bytecode_compile.c) */
    enum cj_probe_state probe;
    struct cj_probe *probe_run;
    int draining;
    int stop;
    size_t live_requests;
    h2o_timeout_t drain_timeout;
    h2o_timeout_entry_t drain_entry;
    h2o_linklist_t watched; /* code-exec requests whose client is polled for a hang-up */
    h2o_timeout_t watch_timeout;
    h2o_timeout_entry_t watch_entry;
} cj_server;

/* Sets everything up and listens; returns -1 with a message in err.
 * env: the confinement resolved by cj_policy_init and the identity; the
 * server takes ownership of it (freed by cj_server_dispose). */
int cj_server_init(cj_server *srv, const struct cj_log *log, cj_config *cfg, const cj_sandbox_env *env,
                   const char *wrapper_path, cj_err *err);
/* Starts the warm interpreter (warm: enabled) from the installed files. */
int cj_server_enable_warm(cj_server *srv, const char *zygote_py, const char *lib, cj_err *err);
int cj_server_run(cj_server *srv);
void cj_server_dispose(cj_server *srv);

/* Request bookkeeping shared by handlers: counts live requests so a drain
 * knows when the last answer has gone out. */
void cj_server_request_begun(cj_server *srv);
void cj_server_request_ended(cj_server *srv);
/* Re-checks whether a drain has finished. */
void cj_server_check_drained(cj_server *srv);

/* Handlers (one file each). */
void cj_code_exec_register(cj_server *srv, h2o_hostconf_t *host);
void cj_health_register(cj_server *srv, h2o_hostconf_t *host);
void cj_metrics_register(cj_server *srv, h2o_hostconf_t *host);
/* Counts every answer of the path (metrics.h). */
void cj_metrics_count_register(cj_server *srv, h2o_pathconf_t *pathconf);

/* Startup probe (probe.c): runs its checks through the executor and sets
 * srv->probe. */
int cj_probe_start(cj_server *srv);
void cj_probe_dispose(cj_server *srv);

#endif
