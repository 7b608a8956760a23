/* The startup probe: real executions through the whole stack before the
 * service answers healthy.  Each check is logged as
 *   startup check '<name>' passed|failed: <why>
 * and any failure keeps /health/ at 503 and code-exec at 500. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

struct check {
    const char *name;
    const char *code;    /* a JSON string token */
    const char *globals; /* a JSON object */
    const char *want;    /* the exact result the wrapper must print */
};

static const struct check CHECKS[] = {
    {"functionality", "\"x = x + 1\"", "{\"x\": 16}", "{\"x\": 17}"},
};
#define N_CHECKS (sizeof(CHECKS) / sizeof(CHECKS[0]))

struct cj_probe {
    cj_server *srv;
    size_t next;
    int failed;
    cj_job *job;
};

static void run_next(struct cj_probe *p);

static void describe(const cj_job_result *r, char *why, size_t len)
{
    if (r->internal_error)
        snprintf(why, len, "the sandbox could not start (see the log above)");
    else if (r->status != 0)
        snprintf(why, len, "status %d, stderr: %.300s", r->status, r->err.p ? r->err.p : "");
    else
        snprintf(why, len, "unexpected result: %.300s", r->result.p ? r->result.p : "(none)");
}

static void on_done(void *owner, const cj_job_result *r)
{
    struct cj_probe *p = owner;
    const struct check *c = &CHECKS[p->next];
    p->job = NULL;
    int ok = !r->internal_error && r->status == 0 && r->result.p != NULL &&
             strcmp(r->result.p, c->want) == 0;
    char why[512];
    if (ok)
        snprintf(why, sizeof(why), "ok");
    else
        describe(r, why, sizeof(why));
    fprintf(stderr, "codejail-server: startup check '%s' %s: %s\n", c->name, ok ? "passed" : "failed", why);
    p->failed |= !ok;
    p->next++;
    run_next(p);
}

static void run_next(struct cj_probe *p)
{
    if (p->next == N_CHECKS) {
        p->srv->probe = p->failed ? CJ_PROBE_FAILED : CJ_PROBE_PASSED;
        fprintf(stderr, "codejail-server: startup probe %s\n",
                p->failed ? "FAILED: refusing to execute code (health 503)" : "passed: serving");
        return;
    }
    const struct check *c = &CHECKS[p->next];
    size_t clen = strlen(c->code), glen = strlen(c->globals);
    cj_job_input in = {.limits = p->srv->cfg->limits, .slug = "startup-probe"};
    in.input = malloc(clen + glen + 4);
    if (in.input == NULL) {
        p->srv->probe = CJ_PROBE_FAILED;
        return;
    }
    in.input_len = (size_t)sprintf(in.input, "[%s,%s]", c->code, c->globals);
    p->job = cj_executor_submit(p->srv->ex, &in, on_done, p);
    if (p->job == NULL) {
        fprintf(stderr, "codejail-server: startup check '%s' failed: could not queue it\n", c->name);
        p->srv->probe = CJ_PROBE_FAILED;
    }
}

int cj_probe_start(cj_server *srv)
{
    struct cj_probe *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    p->srv = srv;
    srv->probe_run = p;
    srv->probe = CJ_PROBE_PENDING;
    run_next(p);
    return 0;
}

void cj_probe_dispose(cj_server *srv)
{
    struct cj_probe *p = srv->probe_run;
    if (p == NULL)
        return;
    if (p->job != NULL)
        cj_job_cancel(p->job);
    free(p);
    srv->probe_run = NULL;
}
