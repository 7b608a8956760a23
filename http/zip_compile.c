/* The zip cache's two ends on the request path: an execution with
 * python_lib.zip gets the zip's bytecode when the cache has it; the first
 * one that finds none starts the zip's compile run beside it and runs as
 * it would without a cache.  The compile run is an execution of its own,
 * confined like every other, whose wrapper compiles the zip and runs no
 * code at all: nothing a request sends can shape the bytecode. */
#include "zip_compile.h"

#include <stdlib.h>
#include <string.h>

#include "zip_cache.h"

/* A large course library compiles in well under a second; the bound only
 * stops a pathological one from holding a slot. */
#define COMPILE_SECONDS 10

struct cj_zip_compile {
    h2o_linklist_t link; /* srv->zip_compiles */
    cj_server *srv;
    cj_zip_key key;
    cj_job *job;
};

static void compiled(void *owner, const cj_job_result *r)
{
    struct cj_zip_compile *zc = owner;
    cj_server *srv = zc->srv;
    const void *blob = NULL;
    size_t len = 0;
    if (r->internal_error) {
        cj_zip_cache_forget(srv->zip_cache, &zc->key); /* the service's failure: a later request tries again */
    } else if (r->status == 0 && !r->timed_out && r->result.dropped == 0 &&
               cj_sandbox_zip_bytecode(r->result.p, r->result.len, &blob, &len)) {
        cj_zip_cache_end(srv->zip_cache, &zc->key, blob, len);
    } else {
        cj_log(srv->log, CJ_LOG_WARNING, "python_lib.zip compile run failed (status %d%s): its executions compile "
               "what they import", r->status, r->timed_out ? ", timed out" : r->result.dropped ? ", too large" : "");
        cj_zip_cache_end(srv->zip_cache, &zc->key, NULL, 0);
    }
    h2o_linklist_unlink(&zc->link);
    free(zc);
}

static void start_compile(cj_server *srv, const cj_zip_key *k, const char *zip, size_t zip_len)
{
    static const char NO_CODE[] = "[\"\", {}]";
    struct cj_zip_compile *zc = calloc(1, sizeof(*zc));
    cj_job_input in = {.zip_on_path = 1, .zip_compile = 1, .limits = srv->cfg->limits, .slug = "zip-compile",
                       .result_extra = cj_zip_cache_max_blob(srv->zip_cache)};
    in.input = malloc(sizeof(NO_CODE));
    in.zip = malloc(zip_len);
    if (zc == NULL || in.input == NULL || in.zip == NULL || cj_zip_cache_begin(srv->zip_cache, k) < 0) {
        free(zc);
        free(in.input);
        free(in.zip);
        return;
    }
    memcpy(in.input, NO_CODE, sizeof(NO_CODE));
    in.input_len = sizeof(NO_CODE) - 1;
    memcpy(in.zip, zip, zip_len);
    in.zip_len = zip_len;
    if (in.limits.cpu < COMPILE_SECONDS)
        in.limits.cpu = COMPILE_SECONDS;
    if (in.limits.realtime < 2 * COMPILE_SECONDS)
        in.limits.realtime = 2 * COMPILE_SECONDS;
    zc->srv = srv;
    zc->key = *k;
    if ((zc->job = cj_executor_submit(srv->ex, &in, compiled, zc)) == NULL) {
        cj_zip_cache_forget(srv->zip_cache, k); /* busy: a later request tries again */
        free(zc);
        return;
    }
    h2o_linklist_insert(&srv->zip_compiles, &zc->link);
}

void cj_zip_compile_attach(cj_server *srv, cj_job_input *in)
{
    if (in->zip == NULL || in->zip_on_path == 0 || srv->zip_cache == NULL)
        return;
    cj_zip_key k;
    cj_zip_key_of(in->zip, in->zip_len, &k);
    const void *blob = NULL;
    size_t len = 0;
    switch (cj_zip_cache_find(srv->zip_cache, &k, &blob, &len)) {
    case CJ_ZIP_READY:
        /* The job's own copy: the cache may evict it while the job runs. */
        if ((in->zip_bytecode = malloc(len > 0 ? len : 1)) != NULL) {
            memcpy(in->zip_bytecode, blob, len);
            in->zip_bytecode_len = len;
        }
        return;
    case CJ_ZIP_ABSENT:
        if (!srv->draining)
            start_compile(srv, &k, in->zip, in->zip_len);
        return;
    case CJ_ZIP_COMPILING:
    case CJ_ZIP_UNUSABLE:
        return;
    }
}

void cj_zip_compile_dispose(cj_server *srv)
{
    while (!h2o_linklist_is_empty(&srv->zip_compiles)) {
        struct cj_zip_compile *zc = H2O_STRUCT_FROM_MEMBER(struct cj_zip_compile, link, srv->zip_compiles.next);
        h2o_linklist_unlink(&zc->link);
        cj_job_cancel(zc->job);
        free(zc);
    }
}
