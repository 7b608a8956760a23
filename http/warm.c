#include "warm.h"

#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESTART_MS 1000
#define TICK_MS 50
/* A retired interpreter's executions end by their REALTIME (the executor
 * kills them then); this much more lets their status be reported. */
#define RETIRE_GRACE_MS 2000

/* One warm interpreter and the clones it made.  Each clone shares its hash
 * seed and address layout, so an interpreter serves a bounded number of
 * executions for a bounded time (warm.max_clones, warm.max_age), then a
 * replacement takes over and it is retired. */
struct gen {
    cj_warm *w;
    h2o_linklist_t link; /* in w->retiring */
    pid_t pid;           /* -1 once reaped */
    int up;              /* it said it is ready */
    h2o_socket_t *ctl;
    cj_pool *pool; /* its clones waiting for requests */
    unsigned long long clones; /* handed to requests */
    unsigned long long vm_base; /* its address space once up: what each clone starts with */
    uint64_t started_ms, up_ms;
    uint64_t retire_by; /* retiring: killed then, whatever still runs */
};

struct cj_warm {
    h2o_loop_t *loop;
    const cj_config *cfg;
    const cj_sandbox_env *env;
    cj_metrics *metrics;
    char *zygote_py, *lib;
    size_t n_slots;
    struct gen *cur;  /* serves requests; NULL while one is being restarted */
    struct gen *next; /* cur's replacement, starting */
    char why[96];     /* the bound that started it */
    h2o_linklist_t retiring;
    h2o_timeout_t restart_timeout, refill_timeout, age_timeout, tick_timeout;
    h2o_timeout_entry_t restart_entry, refill_entry, age_entry, tick_entry;
};

static struct gen *start_zygote(cj_warm *w);

static void link_once(cj_warm *w, h2o_timeout_t *t, h2o_timeout_entry_t *e)
{
    if (!h2o_timeout_is_linked(e))
        h2o_timeout_link(w->loop, t, e);
}

/* Kills the interpreter (its clones die with it: PDEATHSIG) and everything
 * of it the service holds. */
static void gen_free(struct gen *g)
{
    if (g == NULL)
        return;
    if (g->ctl != NULL)
        h2o_socket_close(g->ctl);
    if (g->pid > 0) {
        kill(g->pid, SIGKILL);
        while (waitpid(g->pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    cj_pool_destroy(g->pool);
    if (h2o_linklist_is_linked(&g->link))
        h2o_linklist_unlink(&g->link);
    free(g);
}

static void zygote_gone(struct gen *g, const char *why)
{
    cj_warm *w = g->w;
    if (g->ctl != NULL) {
        h2o_socket_close(g->ctl);
        g->ctl = NULL;
    }
    if (h2o_linklist_is_linked(&g->link)) { /* retired already: its executions run cold again */
        cj_log(w->env->log, CJ_LOG_INFO, "retired warm interpreter (pid %d) %s", (int)g->pid, why);
        gen_free(g);
        return;
    }
    if (g == w->next) {
        cj_log(w->env->log, CJ_LOG_WARNING, "the warm interpreter's replacement %s; trying again", why);
        w->next = NULL;
        gen_free(g);
        link_once(w, &w->restart_timeout, &w->restart_entry);
        return;
    }
    cj_log(w->env->log, CJ_LOG_WARNING, "warm interpreter %s; running executions cold until it is back", why);
    cj_metrics_warm_restart(w->metrics);
    w->cur = NULL;
    gen_free(g);
    if (h2o_timeout_is_linked(&w->age_entry))
        h2o_timeout_unlink(&w->age_entry);
    /* A replacement already starting takes over (see promote); else restart. */
    if (w->next == NULL)
        link_once(w, &w->restart_timeout, &w->restart_entry);
}

/* The address space of process pid (its size, mapped or not), 0 when it
 * cannot be read.  A warm interpreter's, once its preloads are imported, is
 * what each of its clones starts with; a cold interpreter starts with
 * little.  So a clone's RLIMIT_AS is its request's VMEM on top of it
 * (cj_sandbox_warm_fork): without that, numpy's OpenBLAS, which maps a
 * buffer per calling thread, spun when its allocations failed in clones
 * where the same code runs cold. */
static unsigned long long address_space(pid_t pid)
{
    char path[64];
    unsigned long long pages = 0;
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "re");
    if (f != NULL) {
        if (fscanf(f, "%llu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * (unsigned long long)sysconf(_SC_PAGESIZE);
}

/* The warm kind of waiting sandbox: a clone the interpreter makes and
 * reports (on_reply: cj_pool_made). */
static int make_clone(void *ctx, size_t slot, void **sb, int *making, cj_err *err)
{
    struct gen *g = ctx;
    const cj_limits *l = &g->w->cfg->limits;
    cj_sandbox_limits lim = {.cpu = l->cpu, .vmem = l->vmem, .fsize = l->fsize, .nproc = l->nproc};
    *making = 1;
    cj_sandbox *made = NULL;
    int rc = cj_sandbox_warm_fork(g->w->env, &lim, h2o_socket_get_fd(g->ctl), (unsigned)slot, g->vm_base, &made, err);
    *sb = made;
    return rc;
}

static const cj_pool_backend clones = {
    .what = "warm clone", .make = make_clone, CJ_POOL_SANDBOX_OPS, .refill_on_take = 0};

/* Both the interpreter serving and its replacement: the old one keeps
 * serving until the new one has clones ready. */
static void refill(cj_warm *w)
{
    if (w->cur != NULL)
        cj_pool_refill(w->cur->pool);
    if (w->next != NULL)
        cj_pool_refill(w->next->pool);
}

/* The longest an execution can run: a retired interpreter must outlive its
 * executions, which are its children until they end. */
static uint64_t longest_realtime_ms(const cj_config *cfg)
{
    long long s = cfg->limits.realtime;
    for (size_t i = 0; i < cfg->n_overrides; i++)
        if (cfg->overrides[i].limits.realtime > s)
            s = cfg->overrides[i].limits.realtime;
    return (uint64_t)s * 1000;
}

/* Its waiting clones are killed now; the executions it runs finish (they
 * are its children: it reports how each ended), then it is told to exit. */
static void retire(struct gen *g)
{
    cj_warm *w = g->w;
    size_t killed = cj_pool_drain(g->pool);
    g->retire_by = h2o_now(w->loop) + longest_realtime_ms(w->cfg) + RETIRE_GRACE_MS;
    h2o_linklist_insert(&w->retiring, &g->link);
    cj_log(w->env->log, CJ_LOG_INFO, "warm interpreter (pid %d) retired after %llu executions: %zu waiting clones "
            "killed, its running executions finish", (int)g->pid, g->clones, killed);
    link_once(w, &w->tick_timeout, &w->tick_entry);
}

/* The replacement serves from now on: once its whole pool is forked and a
 * clone has rehearsed (so the requests that follow wait neither on a
 * clone's set-up nor fall back to cold), or at once when the old one has
 * no clone ready (or is gone). */
static int promote(cj_warm *w, int when_full)
{
    struct gen *n = w->next;
    if (n == NULL || !n->up)
        return 0;
    size_t settled = 0, ready = cj_pool_waiting(n->pool, &settled);
    if (ready == 0 || (when_full && (ready < w->n_slots || settled == 0)))
        return 0;
    struct gen *old = w->cur;
    w->cur = n;
    w->next = NULL;
    if (old != NULL) {
        uint64_t now = h2o_now(w->loop);
        cj_log(w->env->log, CJ_LOG_INFO, "warm interpreter replaced (pid %d by pid %d) after %llu executions and "
                "%llu s (%s)", (int)old->pid, (int)n->pid, old->clones,
                (unsigned long long)((now - old->up_ms) / 1000), w->why);
        retire(old);
    }
    if (h2o_timeout_is_linked(&w->age_entry))
        h2o_timeout_unlink(&w->age_entry);
    h2o_timeout_link(w->loop, &w->age_timeout, &w->age_entry);
    return 1;
}

/* The replacement starts beside the one serving, which keeps serving. */
static void replace(cj_warm *w, const char *why)
{
    if (w->next != NULL || w->cur == NULL || h2o_timeout_is_linked(&w->restart_entry))
        return;
    if (why != w->why)
        snprintf(w->why, sizeof(w->why), "%s", why);
    cj_log(w->env->log, CJ_LOG_INFO, "warm interpreter (pid %d) reached %s: starting its replacement",
            (int)w->cur->pid, w->why);
    w->next = start_zygote(w);
    if (w->next == NULL)
        link_once(w, &w->restart_timeout, &w->restart_entry);
    link_once(w, &w->tick_timeout, &w->tick_entry);
}

static void on_reply(h2o_socket_t *sock, const char *err)
{
    struct gen *g = sock->data;
    cj_warm *w = g->w;
    if (err != NULL) {
        zygote_gone(g, "closed its control socket");
        return;
    }
    size_t n = sock->input->size / CJ_WARM_REPLY_SIZE;
    for (size_t k = 0; k < n; k++) {
        unsigned slot;
        int value, kind = cj_sandbox_warm_reply(sock->input->bytes + k * CJ_WARM_REPLY_SIZE, &slot, &value);
        if (kind == 'R') {
            g->up = 1;
            g->up_ms = h2o_now(w->loop);
            if ((g->vm_base = address_space(g->pid)) == 0)
                cj_log(w->env->log, CJ_LOG_WARNING, "warm interpreter (pid %d): its address space cannot be read; "
                       "its clones get VMEM including it", (int)g->pid);
            cj_log(w->env->log, CJ_LOG_INFO, "warm interpreter ready (pid %d, pool %zu, started in %llu ms, "
                   "%llu MiB mapped)", value, w->n_slots, (unsigned long long)(g->up_ms - g->started_ms),
                   g->vm_base >> 20);
            if (g == w->cur)
                link_once(w, &w->age_timeout, &w->age_entry);
            cj_pool_start(g->pool);
        } else if (kind == 'P') {
            cj_pool_made(g->pool, slot, (pid_t)value);
        } else {
            cj_pool_failed(g->pool, slot, kind == 'E' ? strerror(value) : "a reply it does not know");
        }
    }
    h2o_buffer_consume(&sock->input, n * CJ_WARM_REPLY_SIZE);
    if (g == w->next && w->cur == NULL)
        promote(w, 0);
    refill(w);
}

static struct gen *start_zygote(cj_warm *w)
{
    struct gen *g = calloc(1, sizeof(*g));
    cj_pool *pool = g == NULL ? NULL : cj_pool_create(w->loop, w->env->log, w->n_slots, &clones, g, 0);
    cj_err err = {0};
    int ctl = -1;
    pid_t pid = pool == NULL
                    ? cj_fail(&err, ENOMEM, "warm interpreter")
                    : cj_sandbox_warm_start(w->env, w->zygote_py, w->lib, (const char *const *)w->cfg->warm_preload,
                                            w->cfg->n_warm_preload, &ctl, &err);
    if (pid < 0) {
        cj_log(w->env->log, CJ_LOG_ERROR, "warm: cannot start: %s", err.msg);
        cj_pool_destroy(pool);
        free(g);
        return NULL;
    }
    g->w = w;
    g->pid = pid;
    g->pool = pool;
    g->started_ms = h2o_now(w->loop);
    g->ctl = h2o_evloop_socket_create(w->loop, ctl, 0);
    g->ctl->data = g;
    h2o_socket_read_start(g->ctl, on_reply);
    return g;
}

/* Whether the process has children (on the warm interpreter: executions
 * not yet reaped): 1, 0, or -1 when /proc cannot tell. */
static int has_children(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int found = 0, known = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char file[64 + sizeof(e->d_name)];
        snprintf(file, sizeof(file), "/proc/%d/task/%s/children", (int)pid, e->d_name);
        FILE *f = fopen(file, "re");
        if (f == NULL)
            continue;
        known = 1;
        found = fgetc(f) != EOF;
        fclose(f);
    }
    closedir(d);
    return found ? 1 : known ? 0 : -1;
}

/* Reaps retired interpreters that exited; tells those whose executions
 * all ended to exit (closing their control socket), and kills those past
 * their deadline. */
static void tend_retired(cj_warm *w)
{
    uint64_t now = h2o_now(w->loop);
    h2o_linklist_t *node = w->retiring.next;
    while (node != &w->retiring) {
        struct gen *g = H2O_STRUCT_FROM_MEMBER(struct gen, link, node);
        node = node->next;
        int st = 0;
        if (g->pid > 0 && waitpid(g->pid, &st, WNOHANG) == g->pid)
            g->pid = -1;
        if (g->pid < 0) {
            if (g->ctl != NULL)
                cj_log(w->env->log, CJ_LOG_INFO, "retired warm interpreter %s",
                        WIFSIGNALED(st) ? "was killed" : "exited");
            gen_free(g);
            continue;
        }
        if (g->ctl == NULL)
            continue; /* told to exit: reaped above once it has */
        int drained = cj_pool_making(g->pool) == 0 && has_children(g->pid) == 0;
        if (!drained && now < g->retire_by)
            continue;
        h2o_socket_close(g->ctl); /* cj_warm_serve returns: it exits */
        g->ctl = NULL;
        if (!drained) {
            cj_log(w->env->log, CJ_LOG_WARNING, "retired warm interpreter (pid %d) still had executions after %llu ms: "
                    "killed", (int)g->pid, (unsigned long long)(longest_realtime_ms(w->cfg) + RETIRE_GRACE_MS));
            kill(g->pid, SIGKILL);
        }
    }
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    cj_warm *w = H2O_STRUCT_FROM_MEMBER(cj_warm, tick_entry, entry);
    promote(w, 1);
    tend_retired(w);
    if (w->next != NULL || !h2o_linklist_is_empty(&w->retiring))
        link_once(w, &w->tick_timeout, &w->tick_entry);
}

static void on_age(h2o_timeout_entry_t *entry)
{
    cj_warm *w = H2O_STRUCT_FROM_MEMBER(cj_warm, age_entry, entry);
    char why[96];
    snprintf(why, sizeof(why), "warm.max_age (%lld s)", w->cfg->warm_max_age);
    replace(w, why);
}

static void on_refill(h2o_timeout_entry_t *entry)
{
    refill(H2O_STRUCT_FROM_MEMBER(cj_warm, refill_entry, entry));
}

static void on_restart(h2o_timeout_entry_t *entry)
{
    cj_warm *w = H2O_STRUCT_FROM_MEMBER(cj_warm, restart_entry, entry);
    if (w->cur == NULL && w->next == NULL) {
        if ((w->cur = start_zygote(w)) == NULL)
            link_once(w, &w->restart_timeout, &w->restart_entry);
    } else if (w->cur != NULL && w->next == NULL) {
        replace(w, w->why); /* the last replacement did not start */
    }
}

cj_warm *cj_warm_create(h2o_loop_t *loop, const cj_config *cfg, const cj_sandbox_env *env, cj_metrics *metrics,
                        const char *zygote_py, const char *lib)
{
    cj_warm *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->metrics = metrics;
    w->loop = loop;
    w->cfg = cfg;
    w->env = env;
    w->n_slots = (size_t)cfg->warm_pool;
    h2o_linklist_init_anchor(&w->retiring);
    w->zygote_py = strdup(zygote_py);
    w->lib = strdup(lib);
    if (w->zygote_py == NULL || w->lib == NULL) {
        cj_warm_destroy(w);
        return NULL;
    }
    h2o_timeout_init(loop, &w->restart_timeout, RESTART_MS);
    w->restart_entry.cb = on_restart;
    h2o_timeout_init(loop, &w->refill_timeout, 0);
    w->refill_entry.cb = on_refill;
    h2o_timeout_init(loop, &w->age_timeout, (uint64_t)cfg->warm_max_age * 1000);
    w->age_entry.cb = on_age;
    h2o_timeout_init(loop, &w->tick_timeout, TICK_MS);
    w->tick_entry.cb = on_tick;
    if ((w->cur = start_zygote(w)) == NULL)
        link_once(w, &w->restart_timeout, &w->restart_entry);
    return w;
}

cj_sandbox *cj_warm_take(cj_warm *w)
{
    /* A warm interpreter that just died takes its clones with it (PDEATHSIG)
     * and can no longer report how they end: notice it before handing one
     * out, not at the next SIGCHLD. */
    cj_warm_on_sigchld(w);
    promote(w, 1);
    cj_sandbox *sb = w->cur != NULL ? cj_pool_take(w->cur->pool) : NULL;
    if (sb == NULL && promote(w, 0))
        sb = cj_pool_take(w->cur->pool);
    if (sb == NULL)
        return NULL;
    if (++w->cur->clones >= (unsigned long long)w->cfg->warm_max_clones) {
        char why[96];
        snprintf(why, sizeof(why), "warm.max_clones (%llu executions)", w->cur->clones);
        replace(w, why);
    }
    /* Refilled once this execution is answered (cj_warm_refill): the clone
     * of a big interpreter takes a CPU from the one running (an execution
     * here is shorter than making a clone). */
    return sb;
}

void cj_warm_refill(cj_warm *w)
{
    link_once(w, &w->refill_timeout, &w->refill_entry);
}

void cj_warm_pool(const cj_warm *w, size_t *ready, size_t *size)
{
    *ready = w->cur != NULL ? cj_pool_waiting(w->cur->pool, NULL) : 0;
    *size = w->n_slots;
}

int cj_warm_ready(const cj_warm *w)
{
    return w->cur != NULL && cj_pool_ready(w->cur->pool);
}

void cj_warm_on_sigchld(cj_warm *w)
{
    struct gen *gens[2] = {w->cur, w->next};
    for (int i = 0; i < 2; i++) {
        int st;
        struct gen *g = gens[i];
        if (g != NULL && g->pid > 0 && waitpid(g->pid, &st, WNOHANG) == g->pid) {
            g->pid = -1;
            zygote_gone(g, WIFSIGNALED(st) ? "was killed" : "exited");
        }
    }
    tend_retired(w);
}

void cj_warm_destroy(cj_warm *w)
{
    if (w == NULL)
        return;
    if (w->restart_timeout._link.next != NULL) { /* initialised */
        h2o_timeout_entry_t *entries[] = {&w->restart_entry, &w->refill_entry, &w->age_entry, &w->tick_entry};
        for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
            if (h2o_timeout_is_linked(entries[i]))
                h2o_timeout_unlink(entries[i]);
        h2o_timeout_dispose(w->loop, &w->restart_timeout);
        h2o_timeout_dispose(w->loop, &w->refill_timeout);
        h2o_timeout_dispose(w->loop, &w->age_timeout);
        h2o_timeout_dispose(w->loop, &w->tick_timeout);
    }
    gen_free(w->cur);
    gen_free(w->next);
    while (w->retiring.next != NULL && !h2o_linklist_is_empty(&w->retiring))
        gen_free(H2O_STRUCT_FROM_MEMBER(struct gen, link, w->retiring.next));
    free(w->zygote_py);
    free(w->lib);
    free(w);
}
