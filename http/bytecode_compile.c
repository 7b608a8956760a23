/* The bytecode cache's two ends on the request path.  An execution gets the
 * bytecode of its python_lib.zip and of its code when the cache has them.
 * The first execution of a zip starts the zip's compile run beside it; code
 * (large enough for compiling it to matter) gets one the second time it is
 * seen, since most code large enough is a problem script sent with every
 * check and the rest is sent once.  Meanwhile executions run as they would
 * without a cache.  A compile run is an execution of its own, confined like
 * every other, whose wrapper compiles and runs no code: nothing a request
 * sends can shape the bytecode another gets. */
#include "bytecode_compile.h"

#include <stdlib.h>
#include <string.h>

#include "bytecode_cache.h"

/* Code shorter than this compiles in well under a millisecond. */
#define CODE_MIN_BYTES 4096

struct cj_bytecode_compile {
    h2o_linklist_t link; /* srv->compile_runs */
    cj_server *srv;
    enum cj_bytecode_kind kind;
    cj_bytecode_key key;
    cj_job *job;
};

static void compiled(void *owner, const cj_job_result *r)
{
    struct cj_bytecode_compile *run = owner;
    cj_server *srv = run->srv;
    cj_sandbox_bytecode got[CJ_BC_KINDS];
    if (r->internal_error) {
        cj_bytecode_cache_forget(srv->bytecode_cache, &run->key); /* the service's failure: a later request tries again */
    } else if (r->status == 0 && !r->timed_out && r->result.dropped == 0 &&
               cj_sandbox_bytecode_of(r->result.p, r->result.len, &got[CJ_BC_ZIP], &got[CJ_BC_CODE]) == 0 &&
               got[run->kind].p != NULL) {
        cj_bytecode_cache_end(srv->bytecode_cache, &run->key, got[run->kind].p, got[run->kind].len);
    } else {
        /* A zip that does not read, code that does not compile cleanly:
         * its executions compile as they would without a cache. */
        cj_log(srv->log, CJ_LOG_INFO, "compile run of a %s kept nothing (status %d%s)",
               run->kind == CJ_BC_ZIP ? "python_lib.zip" : "code text", r->status,
               r->timed_out ? ", timed out" : r->result.dropped ? ", too large" : "");
        cj_bytecode_cache_end(srv->bytecode_cache, &run->key, NULL, 0);
    }
    h2o_linklist_unlink(&run->link);
    free(run);
}

/* input and zip: the run's own copies (freed here on failure).  It runs
 * under the limits of the request that asked for it: a course library
 * compiles in a fraction of a second, and whoever sends input that takes
 * longer gets no more from the service than that request could take
 * itself. */
static void start(cj_server *srv, enum cj_bytecode_kind kind, const cj_bytecode_key *k, const cj_limits *limits,
                  char *input, size_t input_len, char *zip, size_t zip_len)
{
    struct cj_bytecode_compile *run = calloc(1, sizeof(*run));
    if (run == NULL || input == NULL || (kind == CJ_BC_ZIP && zip == NULL) ||
        cj_bytecode_cache_begin(srv->bytecode_cache, k) < 0) {
        free(run);
        free(input);
        free(zip);
        return;
    }
    cj_job_input in = {.input = input, .input_len = input_len, .zip = zip, .zip_len = zip_len,
                       .zip_on_path = zip != NULL, .compile = kind == CJ_BC_ZIP ? CJ_COMPILE_ZIP : CJ_COMPILE_CODE,
                       .limits = *limits, .slug = "compile-run",
                       .result_extra = cj_bytecode_cache_max_blob(srv->bytecode_cache)};
    run->srv = srv;
    run->kind = kind;
    run->key = *k;
    if ((run->job = cj_executor_submit(srv->ex, &in, compiled, run)) == NULL) {
        cj_bytecode_cache_forget(srv->bytecode_cache, k); /* busy: a later request tries again */
        free(run);
        return;
    }
    h2o_linklist_insert(&srv->compile_runs, &run->link);
}

static char *copy(const char *p, size_t len)
{
    char *c = malloc(len > 0 ? len : 1);
    if (c != NULL)
        memcpy(c, p, len);
    return c;
}

/* The bytecode of data for in, or its compile run started. */
static void look_up(cj_server *srv, cj_job_input *in, enum cj_bytecode_kind kind, const char *data, size_t len)
{
    cj_bytecode_key k;
    cj_bytecode_key_of(kind, data, len, &k);
    const void *blob = NULL;
    size_t blob_len = 0;
    enum cj_bytecode_state state = cj_bytecode_cache_find(srv->bytecode_cache, &k, &blob, &blob_len);
    if (state == CJ_BC_READY) {
        /* The job's own copy: the cache may evict it while the job runs. */
        char **to = kind == CJ_BC_ZIP ? &in->zip_bytecode : &in->code_bytecode;
        if ((*to = copy(blob, blob_len)) != NULL)
            *(kind == CJ_BC_ZIP ? &in->zip_bytecode_len : &in->code_bytecode_len) = blob_len;
        return;
    }
    if (srv->draining)
        return;
    if (kind == CJ_BC_ZIP && state == CJ_BC_ABSENT) {
        static const char NO_CODE[] = "[\"\", {}]";
        start(srv, kind, &k, &in->limits, copy(NO_CODE, sizeof(NO_CODE) - 1), sizeof(NO_CODE) - 1, copy(data, len),
              len);
    } else if (kind == CJ_BC_CODE && state == CJ_BC_ABSENT) {
        cj_bytecode_cache_seen(srv->bytecode_cache, &k);
    } else if (kind == CJ_BC_CODE && state == CJ_BC_SEEN) {
        char *input = malloc(len + 6);
        if (input != NULL) {
            input[0] = '[';
            memcpy(input + 1, data, len);
            memcpy(input + 1 + len, ",{}]", 5);
        }
        start(srv, kind, &k, &in->limits, input, len + 5, NULL, 0);
    }
}

void cj_bytecode_compile_attach(cj_server *srv, cj_job_input *in, const char *code_json, size_t code_len)
{
    if (srv->bytecode_cache == NULL)
        return;
    if (in->zip != NULL && in->zip_on_path > 0)
        look_up(srv, in, CJ_BC_ZIP, in->zip, in->zip_len);
    if (code_len >= CODE_MIN_BYTES)
        look_up(srv, in, CJ_BC_CODE, code_json, code_len);
}

void cj_bytecode_compile_dispose(cj_server *srv)
{
    while (!h2o_linklist_is_empty(&srv->compile_runs)) {
        struct cj_bytecode_compile *run =
            H2O_STRUCT_FROM_MEMBER(struct cj_bytecode_compile, link, srv->compile_runs.next);
        h2o_linklist_unlink(&run->link);
        cj_job_cancel(run->job);
        free(run);
    }
}
