/* Runs sandboxes on the event loop: at most max_concurrency at once, up to
 * max_queue waiting, outputs read as they come (bounded), the wall-clock
 * deadline kept by loop timers, exits learnt from SIGCHLD.  Nothing here
 * blocks the loop. */
#ifndef CJ_EXECUTOR_H
#define CJ_EXECUTOR_H

#include <h2o.h>

#include "config.h"
#include "metrics.h"
#include "sandbox.h"

typedef struct cj_executor cj_executor;
typedef struct cj_job cj_job;

typedef struct cj_output {
    char *p;
    size_t len;
    size_t dropped; /* bytes past the cap, read and thrown away */
} cj_output;

typedef struct cj_job_result {
    int internal_error; /* the service failed, not the code: logged, "See logs." */
    int status;         /* exit code, or minus the signal number */
    int timed_out;      /* REALTIME killed it */
    cj_output out, err, result;
} cj_job_result;

typedef void (*cj_job_done_cb)(void *owner, const cj_job_result *r);

enum cj_job_path { CJ_PATH_ANY = 0, CJ_PATH_COLD, CJ_PATH_WARM };

typedef struct cj_job_input {
    char *input; /* [code, globals] JSON: ownership passes to the job */
    size_t input_len;
    char *zip; /* python_lib.zip or NULL: ownership passes to the job */
    size_t zip_len;
    int zip_on_path; /* python_path's entries, each python_lib.zip */
    /* The bytecode of its zip and of its code (bytecode_cache.h), or NULL:
     * ownership passes to the job.  compile: a compile run (CJ_COMPILE_*;
     * its result stream starts with the bytecode, so it may be longer by
     * result_extra bytes). */
    char *zip_bytecode, *code_bytecode;
    size_t zip_bytecode_len, code_bytecode_len;
    int compile;
    size_t result_extra;
    cj_limits limits;
    const char *slug; /* for logs; copied */
    size_t slug_len;  /* 0: strlen(slug) */
    const char *context; /* limit_overrides_context, for logs; copied */
    size_t context_len;
    enum cj_job_path path; /* the probe checks each path; requests take either */
} cj_job_input;

cj_executor *cj_executor_create(h2o_loop_t *loop, const cj_config *cfg, const cj_sandbox_env *env,
                                struct cj_metrics *metrics);
/* Kills and frees every job without calling back. */
void cj_executor_destroy(cj_executor *ex);

/* Takes ownership of in's buffers in every case.  Returns NULL when the queue
 * is full (the caller answers 503).  done is always called later from the
 * loop, never from inside submit, unless the job is cancelled first. */
cj_job *cj_executor_submit(cj_executor *ex, cj_job_input *in, cj_job_done_cb done, void *owner);
/* The owner is gone (client disconnected): kill, clean up, never call back. */
void cj_job_cancel(cj_job *job);

/* Starts the warm interpreter (warm.h) from the installed files; executions
 * then start on its clones when one is ready.  0, or -1 (out of memory). */
int cj_executor_enable_warm(cj_executor *ex, const char *zygote_py, const char *lib);
/* The sandboxes made ahead for path are ready: COLD, a prepared sandbox
 * waits (or none are configured); WARM, a warm clone waits (0 when warm
 * start is off). */
int cj_executor_ready(const cj_executor *ex, enum cj_job_path path);
int cj_executor_has_warm(const cj_executor *ex);
/* Running and queued executions, the pools' sizes and ready sandboxes. */
void cj_executor_gauges(const cj_executor *ex, struct cj_metrics_now *now);

/* Call on SIGCHLD. */
void cj_executor_on_sigchld(cj_executor *ex);
/* Jobs running or waiting. */
size_t cj_executor_pending(const cj_executor *ex);

#endif
