#include "executor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "logfield.h"
#include "pool.h"
#include "warm.h"

/* How long a finished execution's pipes may stay open after its main
 * process was reaped (its group is killed then): data still in flight is
 * read, a holder that escaped the group cannot hold the answer back. */
#define CJ_LINGER_MS 500
#define CJ_MAX_DURATIONS 64

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct stream {
    h2o_socket_t *sock;
    cj_output *out;
    size_t cap;
    struct cj_job *job;
};

struct duration {
    uint64_t ms;
    h2o_timeout_t timeout;
};

struct cj_executor {
    h2o_loop_t *loop;
    const cj_config *cfg;
    const cj_sandbox_env *env;
    h2o_linklist_t queued, running;
    size_t n_queued, n_running;
    h2o_timeout_t linger, soon;
    struct duration durations[CJ_MAX_DURATIONS];
    size_t n_durations;
    /* The sandboxes made ahead of requests, both the executor's: the
     * prepared cold ones (NULL: made when requests come), and the warm
     * interpreter with its clones (NULL: warm start is off). */
    cj_pool *prepared;
    cj_metrics *metrics;
    cj_sandbox_limits defaults; /* what the prepared ones are made with */
    cj_warm *warm;
    /* Inits of answered cold executions, killed, still tearing their
     * namespaces down: reaped at SIGCHLD, never waited for. */
    pid_t *orphans;
    size_t n_orphans, cap_orphans;
};

struct cj_job {
    cj_executor *ex;
    h2o_linklist_t link;
    enum job_state state;
    cj_job_input in;
    char *slug, *context; /* as the request gave them: escaped when logged */
    size_t slug_len, context_len;
    cj_sandbox *sb;
    struct stream streams[CJ_STREAM_COUNT];
    cj_output setup;
    h2o_timeout_entry_t deadline, linger, soon;
    int reaped, cancelled;
    uint64_t started_at;
    cj_job_result res;
    cj_job_done_cb done;
    void *owner;
};

static void start_queued(cj_executor *ex);

static char *memdup(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static h2o_timeout_t *duration_for(cj_executor *ex, long long seconds)
{
    uint64_t ms = (uint64_t)seconds * 1000;
    for (size_t i = 0; i < ex->n_durations; i++)
        if (ex->durations[i].ms == ms)
            return &ex->durations[i].timeout;
    if (ex->n_durations == CJ_MAX_DURATIONS)
        return NULL;
    /* h2o 2.2's timeouts have one fixed duration each: one per distinct
     * REALTIME, made on first use (the config bounds how many there are). */
    struct duration *d = &ex->durations[ex->n_durations++];
    d->ms = ms;
    h2o_timeout_init(ex->loop, &d->timeout, ms);
    return &d->timeout;
}

/* The prepared kind of waiting sandbox: the cold path's, confined
 * completely and waiting before its interpreter's exec, so a request costs
 * an exec rather than a sandbox.  The interpreter still starts fresh for
 * every execution. */
static int make_prepared(void *ctx, size_t slot, void **sb, int *making, cj_err *err)
{
    cj_executor *ex = ctx;
    (void)slot;
    *making = 0;
    cj_sandbox *made = NULL;
    int rc = cj_sandbox_prepare(ex->env, &ex->defaults, &made, err);
    *sb = made;
    return rc;
}

/* Made beside the execution that took one: back-to-back requests find
 * one ready, and it is made at a low CPU weight (cj_cgroup_set_background). */
static const cj_pool_backend prepared_sandboxes = {
    .what = "prepared sandbox", .make = make_prepared, CJ_POOL_SANDBOX_OPS, .refill_on_take = 1};

cj_executor *cj_executor_create(h2o_loop_t *loop, const cj_config *cfg, const cj_sandbox_env *env,
                                cj_metrics *metrics)
{
    cj_executor *ex = calloc(1, sizeof(*ex));
    if (ex == NULL)
        return NULL;
    ex->metrics = metrics;
    ex->loop = loop;
    ex->cfg = cfg;
    ex->env = env;
    h2o_linklist_init_anchor(&ex->queued);
    h2o_linklist_init_anchor(&ex->running);
    h2o_timeout_init(loop, &ex->linger, CJ_LINGER_MS);
    h2o_timeout_init(loop, &ex->soon, 0);
    if (cfg->enabled && cfg->cold_pool > 0) {
        ex->defaults = (cj_sandbox_limits){.cpu = cfg->limits.cpu, .vmem = cfg->limits.vmem,
                                           .fsize = cfg->limits.fsize, .nproc = cfg->limits.nproc};
        ex->prepared = cj_pool_create(loop, env->log, (size_t)cfg->cold_pool, &prepared_sandboxes, ex, 1);
        if (ex->prepared == NULL) {
            cj_executor_destroy(ex);
            return NULL;
        }
    }
    return ex;
}

static void close_stream(struct stream *s)
{
    if (s->sock != NULL) {
        h2o_socket_close(s->sock);
        s->sock = NULL;
    }
}

static void adopt(cj_executor *ex, pid_t pid)
{
    if (ex->n_orphans == ex->cap_orphans) {
        size_t cap = ex->cap_orphans ? 2 * ex->cap_orphans : 8;
        pid_t *p = realloc(ex->orphans, cap * sizeof(*p));
        if (p == NULL) { /* rather wait than leak it */
            while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                ;
            return;
        }
        ex->orphans = p;
        ex->cap_orphans = cap;
    }
    ex->orphans[ex->n_orphans++] = pid;
}

static void reap_orphans(cj_executor *ex)
{
    for (size_t i = 0; i < ex->n_orphans;) {
        pid_t r = waitpid(ex->orphans[i], NULL, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            i++;
            continue;
        }
        ex->orphans[i] = ex->orphans[--ex->n_orphans];
    }
}

static void free_job(cj_job *job)
{
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        close_stream(&job->streams[i]);
    if (h2o_timeout_is_linked(&job->deadline))
        h2o_timeout_unlink(&job->deadline);
    if (h2o_timeout_is_linked(&job->linger))
        h2o_timeout_unlink(&job->linger);
    if (h2o_timeout_is_linked(&job->soon))
        h2o_timeout_unlink(&job->soon);
    if (job->sb != NULL) {
        pid_t left = cj_sandbox_detach(job->sb);
        if (left > 0)
            adopt(job->ex, left);
    }
    cj_sandbox_destroy(job->sb);
    free(job->in.input);
    free(job->in.zip);
    free(job->in.zip_bytecode);
    free(job->in.code_bytecode);
    free(job->slug);
    free(job->context);
    free(job->res.out.p);
    free(job->res.err.p);
    free(job->res.result.p);
    free(job->setup.p);
    free(job);
}

static void start_job(cj_executor *ex, cj_job *job);

/* How it ended, as operators count it (metrics.h): the service's own
 * failures first, then what the code did. */
static enum cj_outcome outcome_of(const cj_job *job, long long oom_kills)
{
    if (job->cancelled)
        return CJ_OUTCOME_CLIENT_GONE;
    if (job->res.internal_error)
        return CJ_OUTCOME_SETUP_FAILED;
    if (job->res.timed_out)
        return CJ_OUTCOME_TIMEOUT;
    if (oom_kills > 0)
        return CJ_OUTCOME_MEMORY;
    if (job->res.status == 0)
        return CJ_OUTCOME_OK;
    return job->res.status < 0 ? CJ_OUTCOME_KILLED : CJ_OUTCOME_ERROR;
}

/* The execution's record (README, Observability): the same fields in
 * either log format.  The slug and context are the request's: escaped and
 * capped by the logger. */
static void log_job(const cj_job *job, const cj_metrics_exec *e)
{
    const cj_limits *l = &job->in.limits;
    const cj_job_result *r = &job->res;
    const cj_log_kv limits[] = {
        {.key = "CPU", .kind = CJ_LOG_INT, .i = l->cpu},
        {.key = "REALTIME", .kind = CJ_LOG_INT, .i = l->realtime},
        {.key = "VMEM", .kind = CJ_LOG_INT, .i = l->vmem},
        {.key = "FSIZE", .kind = CJ_LOG_INT, .i = l->fsize},
        {.key = "NPROC", .kind = CJ_LOG_INT, .i = l->nproc},
    };
    const cj_log_kv kv[] = {
        {.key = "slug", .kind = CJ_LOG_REQUEST, .s = job->slug, .len = job->slug_len},
        {.key = "context", .kind = CJ_LOG_REQUEST, .s = job->context, .len = job->context_len},
        {.key = "path", .kind = CJ_LOG_NAME, .s = cj_metrics_path_name(e->path)},
        {.key = "status", .kind = CJ_LOG_INT, .i = r->status},
        {.key = "outcome", .kind = CJ_LOG_NAME, .s = cj_outcome_name(e->outcome)},
        {.key = "wall_ms", .kind = CJ_LOG_INT, .i = (long long)(e->seconds * 1000 + 0.5)},
        {.key = "cpu_ms", .kind = CJ_LOG_AMOUNT, .i = e->cpu_ns < 0 ? -1 : (e->cpu_ns + 500000) / 1000000},
        {.key = "peak_memory_bytes", .kind = CJ_LOG_AMOUNT, .i = e->peak_bytes},
        {.key = "oom_killed", .kind = CJ_LOG_BOOL, .i = e->oom_kills > 0},
        {.key = "oom_kills", .kind = CJ_LOG_AMOUNT, .i = e->oom_kills},
        {.key = "stdout_bytes", .kind = CJ_LOG_INT, .i = (long long)(r->out.len + r->out.dropped)},
        {.key = "stderr_bytes", .kind = CJ_LOG_INT, .i = (long long)(r->err.len + r->err.dropped)},
        {.key = "globals_bytes", .kind = CJ_LOG_INT, .i = (long long)(r->result.len + r->result.dropped)},
        {.key = "limits", .kind = CJ_LOG_GROUP, .group = limits, .n = sizeof(limits) / sizeof(limits[0])},
    };
    cj_log_record(job->ex->env->log, CJ_LOG_INFO, "execution", kv, sizeof(kv) / sizeof(kv[0]));
}

/* Counted and logged from one reading of its cgroup, taken here: the
 * interpreter has ended, and the cgroup goes back to its pool only at
 * free_job. */
static void account_job(const cj_job *job)
{
    cj_sandbox_usage u = {-1, -1, -1};
    if (job->sb != NULL)
        cj_sandbox_read_usage(job->sb, &u);
    cj_metrics_exec e = {
        .path = job->sb != NULL && cj_sandbox_is_warm(job->sb) ? CJ_METRICS_WARM : CJ_METRICS_COLD,
        .outcome = outcome_of(job, u.oom_kills),
        .seconds = (double)(h2o_now(job->ex->loop) - job->started_at) / 1000.0,
        .cpu_ns = u.cpu_ns, .peak_bytes = u.peak_bytes, .oom_kills = u.oom_kills,
        .setup_step = job->setup.p != NULL ? cj_sandbox_failed_step(job->setup.p, job->setup.len) : NULL,
    };
    cj_metrics_execution(job->ex->metrics, &e);
    log_job(job, &e);
}

/* A warm clone that ended without a status lost its warm interpreter
 * (killed, or it crashed): the service's failure, not the request's, so the
 * request runs again, cold, from its kept input. */
static int retry_cold(cj_job *job)
{
    if (job->sb == NULL || !cj_sandbox_is_warm(job->sb) || job->in.input == NULL || job->cancelled ||
        job->res.timed_out || job->in.path == CJ_PATH_WARM)
        return 0;
    cj_log(job->ex->env->log, CJ_LOG_WARNING, "a warm execution was lost with its warm interpreter: running it cold");
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        close_stream(&job->streams[i]);
    if (h2o_timeout_is_linked(&job->linger))
        h2o_timeout_unlink(&job->linger);
    cj_sandbox_destroy(job->sb);
    job->sb = NULL;
    free(job->res.out.p);
    free(job->res.err.p);
    free(job->res.result.p);
    free(job->setup.p);
    memset(&job->res, 0, sizeof(job->res));
    memset(&job->setup, 0, sizeof(job->setup));
    job->reaped = 0;
    job->in.path = CJ_PATH_COLD;
    start_job(job->ex, job);
    return 1;
}

static void finish(cj_job *job)
{
    cj_executor *ex = job->ex;
    if (job->state == JOB_RUNNING) {
        h2o_linklist_unlink(&job->link);
        ex->n_running--;
    }
    job->state = JOB_DONE;
    if (h2o_timeout_is_linked(&job->deadline))
        h2o_timeout_unlink(&job->deadline);
    char why[256];
    int outcome = job->setup.p == NULL ? 0
                  : cj_sandbox_outcome(job->setup.p, job->setup.len, &job->res.status, why, sizeof(why));
    if (outcome < 0) {
        char field[CJ_LOG_FIELD_BUF];
        cj_log(job->ex->env->log, CJ_LOG_ERROR, "execution failed: %s", cj_log_field(field, why, strlen(why)));
        job->res.internal_error = 1;
    } else if (outcome == 0 && job->sb != NULL && cj_sandbox_is_warm(job->sb) && !job->res.timed_out) {
        /* Only the warm interpreter can say how its clone ended. */
        if (retry_cold(job))
            return;
        cj_log(job->ex->env->log, CJ_LOG_ERROR, "a warm execution ended without a status (warm interpreter gone?)");
        job->res.internal_error = 1;
    } else if (outcome == 0 && job->sb != NULL && cj_sandbox_is_warm(job->sb)) {
        job->res.status = -9; /* killed at REALTIME, as the cold path reports it */
    }
    account_job(job);
    if (!job->cancelled)
        job->done(job->owner, &job->res);
    /* Nobody waits now: both pools may take the CPU back (a full one
     * makes nothing). */
    if (ex->warm != NULL)
        cj_warm_refill(ex->warm);
    if (ex->prepared != NULL)
        cj_pool_refill(ex->prepared);
    free_job(job);
    start_queued(ex);
}

static int streams_open(const cj_job *job)
{
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        if (job->streams[i].sock != NULL)
            return 1;
    return 0;
}

static void maybe_finish(cj_job *job)
{
    if (!job->reaped)
        return;
    if (!streams_open(job)) {
        finish(job);
        return;
    }
    if (!h2o_timeout_is_linked(&job->linger))
        h2o_timeout_link(job->ex->loop, &job->ex->linger, &job->linger);
}

static void on_linger(h2o_timeout_entry_t *entry)
{
    cj_job *job = H2O_STRUCT_FROM_MEMBER(cj_job, linger, entry);
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        close_stream(&job->streams[i]);
    finish(job);
}

static void on_soon(h2o_timeout_entry_t *entry)
{
    finish(H2O_STRUCT_FROM_MEMBER(cj_job, soon, entry));
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    cj_job *job = H2O_STRUCT_FROM_MEMBER(cj_job, deadline, entry);
    job->res.timed_out = 1;
    cj_sandbox_kill(job->sb);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    struct stream *s = sock->data;
    if (err != NULL) { /* EOF: every holder of the write end is gone */
        cj_job *job = s->job;
        int warm_end = s == &job->streams[CJ_STREAM_SETUP] && job->sb != NULL && cj_sandbox_is_warm(job->sb);
        close_stream(s);
        if (warm_end && !job->reaped) {
            /* The warm interpreter reaped the clone and wrote how it ended. */
            job->reaped = 1;
            if (h2o_timeout_is_linked(&job->deadline))
                h2o_timeout_unlink(&job->deadline);
        }
        maybe_finish(job);
        return;
    }
    cj_output *o = s->out;
    size_t n = sock->input->size;
    size_t room = o->len < s->cap ? s->cap - o->len : 0;
    size_t take = n < room ? n : room;
    if (take > 0) {
        char *p = realloc(o->p, o->len + take + 1);
        if (p == NULL) {
            /* Treat like output past the cap: the answer reports what fits. */
            take = 0;
        } else {
            o->p = p;
            memcpy(o->p + o->len, sock->input->bytes, take);
            o->len += take;
            o->p[o->len] = '\0';
        }
    }
    o->dropped += n - take;
    h2o_buffer_consume(&sock->input, n);
    cj_job *job = s->job;
    if (s == &job->streams[CJ_STREAM_SETUP] && job->sb != NULL && cj_sandbox_reports_status(job->sb) &&
        !job->reaped) {
        /* The sandbox's init reported the interpreter's end: answer now,
         * while the kernel still tears its namespaces down. */
        int status = 0;
        char why[8];
        if (cj_sandbox_outcome(o->p, o->len, &status, why, sizeof(why)) != 0) {
            job->reaped = 1;
            if (h2o_timeout_is_linked(&job->deadline))
                h2o_timeout_unlink(&job->deadline);
            close_stream(s);
            maybe_finish(job);
        }
    }
}

static void fail_soon(cj_job *job)
{
    job->res.internal_error = 1;
    h2o_timeout_link(job->ex->loop, &job->ex->soon, &job->soon);
}

static void start_job(cj_executor *ex, cj_job *job)
{
    job->state = JOB_RUNNING;
    h2o_linklist_insert(&ex->running, &job->link);
    ex->n_running++;
    job->started_at = h2o_now(ex->loop);

    cj_sandbox_spec spec = {
        .env = ex->env,
        .limits = {.cpu = job->in.limits.cpu, .vmem = job->in.limits.vmem,
                   .fsize = job->in.limits.fsize, .nproc = job->in.limits.nproc},
        .input = job->in.input, .input_len = job->in.input_len,
        .zip = job->in.zip, .zip_len = job->in.zip_len, .zip_on_path = job->in.zip_on_path,
        .zip_bytecode = {job->in.zip_bytecode, job->in.zip_bytecode_len},
        .code_bytecode = {job->in.code_bytecode, job->in.code_bytecode_len},
        .compile = job->in.compile,
    };
    cj_err err = {0};
    h2o_timeout_t *t = duration_for(ex, job->in.limits.realtime);
    cj_sandbox *warm = NULL;
    if (t != NULL && job->in.path != CJ_PATH_COLD && ex->warm != NULL && (warm = cj_warm_take(ex->warm)) != NULL) {
        if (cj_sandbox_hand_over(warm, &spec, &err) == 0) {
            job->sb = warm;
        } else {
            char why[256];
            cj_sandbox_failure(warm, why, sizeof(why));
            cj_log(ex->env->log, CJ_LOG_WARNING, "warm dispatch failed (%s: %s); running cold", err.msg, why);
            cj_sandbox_destroy(warm);
            warm = NULL;
        }
    }
    if (job->in.path == CJ_PATH_WARM && job->sb == NULL) {
        cj_log(ex->env->log, CJ_LOG_ERROR, "no warm sandbox is ready");
        job->reaped = 1;
        fail_soon(job);
        return;
    }
    if (t == NULL) {
        cj_log(ex->env->log, CJ_LOG_ERROR, "too many distinct REALTIME values");
        job->reaped = 1;
        fail_soon(job);
        return;
    }
    cj_sandbox *ready = NULL;
    if (job->sb == NULL && ex->prepared != NULL && (ready = cj_pool_take(ex->prepared)) != NULL) {
        if (cj_sandbox_hand_over(ready, &spec, &err) == 0) {
            job->sb = ready;
        } else {
            char why[256];
            cj_sandbox_failure(ready, why, sizeof(why));
            cj_log(ex->env->log, CJ_LOG_WARNING, "a prepared sandbox failed (%s: %s); making one now", err.msg, why);
            pid_t left = cj_sandbox_detach(ready);
            if (left > 0)
                adopt(ex, left);
            cj_sandbox_destroy(ready);
        }
    }
    if (job->sb == NULL && cj_sandbox_start(&spec, &job->sb, &err) < 0) {
        cj_log(ex->env->log, CJ_LOG_ERROR, "cannot start sandbox: %s", err.msg);
        job->reaped = 1;
        fail_soon(job);
        return;
    }
    /* The input now lives in the sandbox; don't hold it twice (a warm job
     * keeps it, to run again cold should its warm interpreter be lost). */
    if (!cj_sandbox_is_warm(job->sb)) {
        free(job->in.input);
        job->in.input = NULL;
        free(job->in.zip);
        job->in.zip = NULL;
        free(job->in.zip_bytecode);
        job->in.zip_bytecode = NULL;
        free(job->in.code_bytecode);
        job->in.code_bytecode = NULL;
    }

    size_t out_cap = ex->cfg->max_output_bytes;
    /* The result holds the whole globals dict, which may be as large as a
     * request body, so it gets that bound rather than the output cap. */
    size_t result_cap = ex->cfg->max_body_bytes + ex->cfg->max_output_bytes + job->in.result_extra;
    cj_output *outs[CJ_STREAM_COUNT] = {&job->res.out, &job->res.err, &job->res.result, &job->setup};
    size_t caps[CJ_STREAM_COUNT] = {out_cap, out_cap, result_cap, CJ_RECORDS_MAX};
    for (int i = 0; i < CJ_STREAM_COUNT; i++) {
        struct stream *s = &job->streams[i];
        s->job = job;
        s->out = outs[i];
        s->cap = caps[i];
        s->sock = h2o_evloop_socket_create(ex->loop, cj_sandbox_take_fd(job->sb, i), 0);
        s->sock->data = s;
        h2o_socket_read_start(s->sock, on_read);
    }
    h2o_timeout_link(ex->loop, t, &job->deadline);
}

static void start_queued(cj_executor *ex)
{
    while (ex->n_running < (size_t)ex->cfg->max_concurrency && !h2o_linklist_is_empty(&ex->queued)) {
        cj_job *job = H2O_STRUCT_FROM_MEMBER(cj_job, link, ex->queued.next);
        h2o_linklist_unlink(&job->link);
        ex->n_queued--;
        start_job(ex, job);
    }
}

cj_job *cj_executor_submit(cj_executor *ex, cj_job_input *in, cj_job_done_cb done, void *owner)
{
    int can_run = ex->n_running < (size_t)ex->cfg->max_concurrency;
    cj_job *job = NULL;
    if (can_run || ex->n_queued < (size_t)ex->cfg->max_queue)
        job = calloc(1, sizeof(*job));
    if (job == NULL) {
        free(in->input);
        free(in->zip);
        free(in->zip_bytecode);
        free(in->code_bytecode);
        return NULL;
    }
    job->ex = ex;
    job->in = *in;
    if (in->slug != NULL) {
        job->slug_len = in->slug_len != 0 ? in->slug_len : strlen(in->slug);
        job->slug = memdup(in->slug, job->slug_len);
    }
    if (in->context != NULL) {
        job->context_len = in->context_len;
        job->context = memdup(in->context, in->context_len);
    }
    job->in.slug = NULL;
    job->in.context = NULL;
    job->done = done;
    job->owner = owner;
    job->deadline.cb = on_deadline;
    job->linger.cb = on_linger;
    job->soon.cb = on_soon;
    if (can_run) {
        start_job(ex, job);
    } else {
        job->state = JOB_QUEUED;
        h2o_linklist_insert(&ex->queued, &job->link);
        ex->n_queued++;
    }
    return job;
}

void cj_job_cancel(cj_job *job)
{
    if (job->state == JOB_QUEUED) {
        h2o_linklist_unlink(&job->link);
        job->ex->n_queued--;
        free_job(job);
        return;
    }
    /* A running job is killed but kept until it is reaped, so its processes
     * and directory are cleaned up the usual way. */
    job->cancelled = 1;
    if (job->sb != NULL)
        cj_sandbox_kill(job->sb);
}

void cj_executor_on_sigchld(cj_executor *ex)
{
    if (ex->warm != NULL)
        cj_warm_on_sigchld(ex->warm);
    if (ex->prepared != NULL)
        cj_pool_on_sigchld(ex->prepared);
    reap_orphans(ex);
    h2o_linklist_t *node = ex->running.next;
    while (node != &ex->running) {
        cj_job *job = H2O_STRUCT_FROM_MEMBER(cj_job, link, node);
        node = node->next; /* finish() may unlink this job */
        if (job->reaped || job->sb == NULL)
            continue;
        cj_err err = {0};
        int r = cj_sandbox_reap(job->sb, &job->res.status, &err);
        if (r < 0) {
            cj_log(ex->env->log, CJ_LOG_ERROR, "%s", err.msg);
            job->res.internal_error = 1;
        }
        if (r != 0) {
            job->reaped = 1;
            if (h2o_timeout_is_linked(&job->deadline))
                h2o_timeout_unlink(&job->deadline);
            maybe_finish(job);
        }
    }
}

int cj_executor_enable_warm(cj_executor *ex, const char *zygote_py, const char *lib)
{
    ex->warm = cj_warm_create(ex->loop, ex->cfg, ex->env, ex->metrics, zygote_py, lib);
    return ex->warm == NULL ? -1 : 0;
}

int cj_executor_ready(const cj_executor *ex, enum cj_job_path path)
{
    if (path == CJ_PATH_WARM)
        return ex->warm != NULL && cj_warm_ready(ex->warm);
    return ex->prepared == NULL || cj_pool_ready(ex->prepared);
}

int cj_executor_has_warm(const cj_executor *ex)
{
    return ex->warm != NULL;
}

void cj_executor_gauges(const cj_executor *ex, cj_metrics_now *now)
{
    now->in_flight = ex->n_running;
    now->queued = ex->n_queued;
    if (ex->prepared != NULL) {
        now->pool_ready[CJ_METRICS_COLD] = cj_pool_waiting(ex->prepared, NULL);
        now->pool_size[CJ_METRICS_COLD] = cj_pool_size(ex->prepared);
    }
    if (ex->warm != NULL)
        cj_warm_pool(ex->warm, &now->pool_ready[CJ_METRICS_WARM], &now->pool_size[CJ_METRICS_WARM]);
}

size_t cj_executor_pending(const cj_executor *ex)
{
    return ex->n_queued + ex->n_running;
}

void cj_executor_destroy(cj_executor *ex)
{
    if (ex == NULL)
        return;
    h2o_linklist_t *lists[2] = {&ex->queued, &ex->running};
    for (int i = 0; i < 2; i++) {
        while (!h2o_linklist_is_empty(lists[i])) {
            cj_job *job = H2O_STRUCT_FROM_MEMBER(cj_job, link, lists[i]->next);
            h2o_linklist_unlink(&job->link);
            free_job(job);
        }
    }
    cj_pool_destroy(ex->prepared);
    cj_warm_destroy(ex->warm);
    for (size_t i = 0; i < ex->n_orphans; i++)
        while (waitpid(ex->orphans[i], NULL, 0) < 0 && errno == EINTR)
            ;
    free(ex->orphans);
    for (size_t i = 0; i < ex->n_durations; i++)
        h2o_timeout_dispose(ex->loop, &ex->durations[i].timeout);
    h2o_timeout_dispose(ex->loop, &ex->linger);
    h2o_timeout_dispose(ex->loop, &ex->soon);
    free(ex);
}
