/* The startup probe: real executions through the whole stack before the
 * service answers healthy.  Each check is logged as
 *   startup check '<name>' passed|failed: <why>
 * and any failure keeps /health/ at 503 and code-exec at 500. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pyrepr.h"
#include "server.h"

struct check {
    const char *name;
    const char *layers; /* what stops it, named in the log when it fails */
    const char *code;   /* Python that sets r */
    const char *globals;
    const char *want; /* the exact result the wrapper must print */
};

/* Each escape attempt sets r = 'denied' only when it failed the way the
 * contract says; anything else (it worked, or failed oddly) shows in r. */
#define DENIED "{\"r\": \"denied\"}"
#define TRY(attempt, errors)                                                       \
    "import os, sys\ntry:\n    " attempt "\n    r = 'ALLOWED'\nexcept " errors   \
    ":\n    r = 'denied'\nexcept BaseException as e:\n    r = repr(e)\n"

static const struct check CHECKS[] = {
    {"functionality", "the interpreter", "x = x + 1", "{\"x\": 16}", "{\"x\": 17}"},
    {"list /", "landlock, mount namespace", TRY("os.listdir('/')", "PermissionError"), "{}", DENIED},
    {"read /etc/passwd", "mount namespace, landlock",
     TRY("open('/etc/passwd').read()", "(PermissionError, FileNotFoundError)"), "{}", DENIED},
    {"read /proc/1/environ", "mount namespace, pid namespace, landlock",
     TRY("open('/proc/1/environ').read()", "(PermissionError, FileNotFoundError)"), "{}", DENIED},
    {"write outside tmp/", "read-only mounts, landlock",
     TRY("open('escape', 'w').write('x')", "(PermissionError, OSError)"), "{}", DENIED},
    {"run a program", "seccomp (noexec), landlock",
     TRY("os.execv(sys.executable, [sys.executable, '-c', 'pass'])", "PermissionError"), "{}", DENIED},
    {"AF_INET socket", "seccomp",
     TRY("__import__('socket').socket(__import__('socket').AF_INET)", "PermissionError"), "{}", DENIED},
    {"reach the network", "network namespace, seccomp",
     TRY("__import__('socket').create_connection(('1.1.1.1', 53), timeout=1)",
         "(PermissionError, OSError)"),
     "{}", DENIED},
    {"unshare", "seccomp, capabilities",
     "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
     "r = 'denied' if libc.unshare(0x00020000) == -1 and ctypes.get_errno() == 1 else 'ALLOWED'\n",
     "{}", DENIED},
    {"ptrace", "seccomp (EPERM), AppArmor (EACCES)",
     "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
     "r = 'denied' if libc.ptrace(0, 0, 0, 0) == -1 and ctypes.get_errno() in (1, 13) else 'ALLOWED'\n",
     "{}", DENIED},
    {"fork past NPROC", "cgroup pids, rlimits",
     "import os, time\ndef attempt():\n    for _ in range(200):\n        if os.fork() == 0:\n"
     "            time.sleep(2)\n            os._exit(0)\n"
     "try:\n    attempt()\n    r = 'ALLOWED'\nexcept BlockingIOError:\n    r = 'denied'\n",
     "{}", DENIED},
};
#define N_CHECKS (sizeof(CHECKS) / sizeof(CHECKS[0]))

/* How long the warm interpreter may take to import its preloads and fork
 * its first clone before the probe gives up on it (a VM under emulation
 * imports numpy slowly). */
#define WARM_WAIT_MS 100
#define WARM_WAIT_TRIES 1200

/* A check's attempt that did not finish (REALTIME or CPU limit) says nothing
 * about the layers: a node starting many pods at once, or a VM under
 * software emulation where an interpreter takes seconds to start, is slow,
 * not broken.  Each check gets at least this budget, and an attempt cut
 * short is tried again after 1, 2, 4 s; only an attempt that was allowed,
 * or failed some other way, fails the probe. */
#define PROBE_MIN_SECONDS 10
#define PROBE_TRIES 4
#define SIGXCPU_STATUS (-24)

struct cj_probe {
    cj_server *srv;
    size_t next;
    int failed;
    int warm_round; /* the same checks again, on the warm path */
    int waited;
    int tries;       /* attempts of the current check so far */
    int delay_ticks; /* WARM_WAIT_MS ticks left before the next attempt */
    cj_job *job;
    h2o_timeout_t wait;
    h2o_timeout_entry_t wait_entry;
};

static const char *path_name(const struct cj_probe *p)
{
    return p->warm_round ? " (warm)" : "";
}

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

static int unfinished(const cj_job_result *r)
{
    return !r->internal_error && (r->timed_out || r->status == SIGXCPU_STATUS);
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
    p->tries++;
    if (!ok && unfinished(r) && p->tries < PROBE_TRIES) {
        int delay_s = 1 << (p->tries - 1);
        cj_log(p->srv->log, CJ_LOG_WARNING,
               "startup check '%s'%s did not finish (%s, try %d of %d): trying again in %d s", c->name,
               path_name(p), r->timed_out ? "REALTIME limit" : "CPU limit", p->tries, PROBE_TRIES, delay_s);
        p->delay_ticks = delay_s * 1000 / WARM_WAIT_MS;
        h2o_timeout_link(p->srv->ctx.loop, &p->wait, &p->wait_entry);
        return;
    }
    if (ok)
        cj_log(p->srv->log, CJ_LOG_INFO, "startup check '%s'%s passed: %s", c->name, path_name(p), why);
    else
        cj_log(p->srv->log, CJ_LOG_ERROR, "startup check '%s'%s failed: %s (layers meant to stop it: %s)", c->name,
               path_name(p), why, c->layers);
    p->failed |= !ok;
    p->next++;
    p->tries = 0;
    run_next(p);
}

static void on_wait(h2o_timeout_entry_t *entry)
{
    struct cj_probe *p = H2O_STRUCT_FROM_MEMBER(struct cj_probe, wait_entry, entry);
    if (p->delay_ticks > 0 && --p->delay_ticks > 0) {
        h2o_timeout_link(p->srv->ctx.loop, &p->wait, &p->wait_entry);
        return;
    }
    run_next(p);
}

static void run_next(struct cj_probe *p)
{
    if (p->next == N_CHECKS && !p->warm_round && !p->failed && cj_executor_has_warm(p->srv->ex)) {
        p->warm_round = 1;
        p->next = 0;
    }
    /* The cold round runs on prepared sandboxes when there are any (the
     * path requests take), so it waits for the first to be made. */
    int waiting = p->next < N_CHECKS &&
                  !cj_executor_ready(p->srv->ex, p->warm_round ? CJ_PATH_WARM : CJ_PATH_COLD);
    if (waiting) {
        if (++p->waited > WARM_WAIT_TRIES) {
            cj_log(p->srv->log, CJ_LOG_ERROR, "startup check: the %s never became ready",
                   p->warm_round ? "warm interpreter" : "prepared sandboxes");
            p->failed = 1;
            p->next = N_CHECKS;
        } else {
            h2o_timeout_link(p->srv->ctx.loop, &p->wait, &p->wait_entry);
            return;
        }
    }
    if (p->next == N_CHECKS) {
        p->srv->probe = p->failed ? CJ_PROBE_FAILED : CJ_PROBE_PASSED;
        if (p->failed)
            cj_log(p->srv->log, CJ_LOG_ERROR, "startup probe FAILED: refusing to execute code (health 503)");
        else
            cj_log(p->srv->log, CJ_LOG_INFO, "startup probe passed: serving");
        return;
    }
    const struct check *c = &CHECKS[p->next];
    size_t clen = strlen(c->code), qlen = cj_json_quote(c->code, clen, NULL, 0), glen = strlen(c->globals);
    cj_job_input in = {.limits = p->srv->cfg->limits, .slug = "startup-probe",
                       .path = p->warm_round ? CJ_PATH_WARM : CJ_PATH_COLD};
    if (in.limits.cpu < PROBE_MIN_SECONDS)
        in.limits.cpu = PROBE_MIN_SECONDS;
    if (in.limits.realtime < PROBE_MIN_SECONDS)
        in.limits.realtime = PROBE_MIN_SECONDS;
    in.input = malloc(qlen + glen + 4);
    if (in.input == NULL) {
        p->srv->probe = CJ_PROBE_FAILED;
        return;
    }
    in.input[0] = '[';
    cj_json_quote(c->code, clen, in.input + 1, qlen + 1);
    in.input_len = 1 + qlen + (size_t)sprintf(in.input + 1 + qlen, ",%s]", c->globals);
    p->job = cj_executor_submit(p->srv->ex, &in, on_done, p);
    if (p->job == NULL) {
        cj_log(p->srv->log, CJ_LOG_ERROR, "startup check '%s' failed: could not queue it", c->name);
        p->srv->probe = CJ_PROBE_FAILED;
    }
}

int cj_probe_start(cj_server *srv)
{
    struct cj_probe *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    p->srv = srv;
    h2o_timeout_init(srv->ctx.loop, &p->wait, WARM_WAIT_MS);
    p->wait_entry.cb = on_wait;
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
    if (h2o_timeout_is_linked(&p->wait_entry))
        h2o_timeout_unlink(&p->wait_entry);
    h2o_timeout_dispose(srv->ctx.loop, &p->wait);
    free(p);
    srv->probe_run = NULL;
}
