#include "metrics.h"

#include "respond.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Wall time of an execution: from a few ms (warm) to REALTIME. */
static const double BOUNDS[CJ_METRICS_BUCKETS - 1] = {0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                       0.25,   0.5,   1,    2.5,   5};
/* CPU time: a few ms for a warm `x = 1`, up to the CPU limit (seconds). */
static const double CPU_BOUNDS[CJ_METRICS_BUCKETS - 1] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                           0.1,   0.25,   0.5,   1,    2.5};
#define MiB (1024.0 * 1024.0)
/* Peak memory: an interpreter's ~10 MiB up to the largest VMEM limits. */
static const double PEAK_BOUNDS[CJ_METRICS_BUCKETS - 1] = {4 * MiB,   8 * MiB,   16 * MiB,   32 * MiB,
                                                            64 * MiB,  128 * MiB, 256 * MiB,  512 * MiB,
                                                            1024 * MiB, 2048 * MiB, 4096 * MiB};
static const char *const PATHS[CJ_METRICS_PATHS] = {"cold", "warm"};
static const char *const OUTCOMES[CJ_OUTCOME_COUNT] = {"ok",     "error",        "timeout",    "memory",
                                                       "killed", "setup_failed", "client_gone"};

const char *cj_outcome_name(enum cj_outcome o)
{
    return (unsigned)o < CJ_OUTCOME_COUNT ? OUTCOMES[o] : "?";
}

const char *cj_metrics_path_name(enum cj_metrics_path p)
{
    return (unsigned)p < CJ_METRICS_PATHS ? PATHS[p] : "?";
}

/* One counter per (label, code); a full table counts into its last slot
 * as "other" rather than lose the event. */
static void count(cj_metrics_count *t, const char *label, int code)
{
    for (size_t i = 0; i < CJ_METRICS_MAX_LABELS; i++) {
        if (t[i].n == 0 && t[i].label[0] == '\0') {
            snprintf(t[i].label, sizeof(t[i].label), "%s", i + 1 == CJ_METRICS_MAX_LABELS ? "other" : label);
            t[i].code = code;
        }
        if ((strcmp(t[i].label, label) == 0 && t[i].code == code) || i + 1 == CJ_METRICS_MAX_LABELS) {
            t[i].n++;
            return;
        }
    }
}

static void observe(cj_histogram *h, const double *bounds, double v)
{
    size_t b = 0;
    while (b < CJ_METRICS_BUCKETS - 1 && v > bounds[b])
        b++;
    h->bucket[b]++;
    h->count++;
    h->sum += v;
}

void cj_metrics_execution(cj_metrics *m, const cj_metrics_exec *e)
{
    m->executions[e->path][e->outcome]++;
    observe(&m->duration[e->path], BOUNDS, e->seconds);
    /* A figure the cgroup did not give is no observation, not a zero. */
    if (e->cpu_ns >= 0)
        observe(&m->cpu[e->path], CPU_BOUNDS, (double)e->cpu_ns / 1e9);
    if (e->peak_bytes >= 0)
        observe(&m->peak[e->path], PEAK_BOUNDS, (double)e->peak_bytes);
    if (e->oom_kills > 0)
        m->oom_kills += (unsigned long long)e->oom_kills;
    if (e->setup_step != NULL)
        count(m->setup_failures, e->setup_step, 0);
}

void cj_metrics_warm_restart(cj_metrics *m)
{
    m->warm_restarts++;
}

void cj_metrics_http(cj_metrics *m, const char *handler, int code)
{
    count(m->http, handler, code);
}

/* One line of the exposition (every line is short: names, labels, a number). */
static void __attribute__((format(printf, 2, 3))) put(cj_strbuf *o, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line))
        o->failed = 1;
    else
        cj_strbuf_add(o, line, (size_t)n);
}

static void family(cj_strbuf *o, const char *name, const char *type, const char *help)
{
    put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values are ours (steps, handlers, build facts), never a request's;
 * escaped all the same, as the format asks. */
static const char *label_value(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; *s != '\0' && n + 3 < size; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            buf[n++] = '\\';
            buf[n++] = *s == '\n' ? 'n' : *s;
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = '\0';
    return buf;
}

static void histogram(cj_strbuf *o, const char *name, const char *help, const double *bounds,
                      const cj_histogram h[CJ_METRICS_PATHS])
{
    family(o, name, "histogram", help);
    for (int p = 0; p < CJ_METRICS_PATHS; p++) {
        unsigned long long cum = 0;
        for (int b = 0; b < CJ_METRICS_BUCKETS; b++) {
            cum += h[p].bucket[b];
            if (b < CJ_METRICS_BUCKETS - 1)
                put(o, "%s_bucket{path=\"%s\",le=\"%.10g\"} %llu\n", name, PATHS[p], bounds[b], cum);
            else
                put(o, "%s_bucket{path=\"%s\",le=\"+Inf\"} %llu\n", name, PATHS[p], cum);
        }
        put(o, "%s_sum{path=\"%s\"} %.6f\n", name, PATHS[p], h[p].sum);
        put(o, "%s_count{path=\"%s\"} %llu\n", name, PATHS[p], h[p].count);
    }
}

char *cj_metrics_render(const cj_metrics *m, const cj_metrics_now *now, size_t *len)
{
    cj_strbuf o = {0};
    char v[3][96];
    family(&o, "codejail_executions_total", "counter", "Executions by path and how they ended.");
    for (int p = 0; p < CJ_METRICS_PATHS; p++)
        for (int k = 0; k < CJ_OUTCOME_COUNT; k++)
            put(&o, "codejail_executions_total{path=\"%s\",outcome=\"%s\"} %llu\n", PATHS[p], OUTCOMES[k],
                m->executions[p][k]);
    histogram(&o, "codejail_execution_duration_seconds", "Wall time of an execution, from its request to its answer.",
              BOUNDS, m->duration);
    histogram(&o, "codejail_execution_cpu_seconds",
              "CPU time (user+system) of all an execution's processes, from its cgroup.", CPU_BOUNDS, m->cpu);
    histogram(&o, "codejail_execution_peak_memory_bytes", "The most memory an execution's cgroup held at once.",
              PEAK_BOUNDS, m->peak);
    family(&o, "codejail_executions_in_flight", "gauge", "Executions running now.");
    put(&o, "codejail_executions_in_flight %zu\n", now->in_flight);
    family(&o, "codejail_queue_depth", "gauge", "Executions waiting for a slot (max_concurrency).");
    put(&o, "codejail_queue_depth %zu\n", now->queued);
    family(&o, "codejail_pool_ready", "gauge", "Sandboxes made ahead and waiting for a request.");
    for (int p = 0; p < CJ_METRICS_PATHS; p++)
        put(&o, "codejail_pool_ready{path=\"%s\"} %zu\n", PATHS[p], now->pool_ready[p]);
    family(&o, "codejail_pool_size", "gauge", "Sandboxes the pool keeps made ahead (cold.pool, warm.pool).");
    for (int p = 0; p < CJ_METRICS_PATHS; p++)
        put(&o, "codejail_pool_size{path=\"%s\"} %zu\n", PATHS[p], now->pool_size[p]);
    family(&o, "codejail_probe_passed", "gauge", "1 when the startup probe passed and the service serves.");
    put(&o, "codejail_probe_passed %d\n", now->probe_passed ? 1 : 0);
    family(&o, "codejail_sandbox_setup_failures_total", "counter",
           "Sandboxes that could not be made, by the checklist step that failed.");
    for (size_t i = 0; i < CJ_METRICS_MAX_LABELS && m->setup_failures[i].n > 0; i++)
        put(&o, "codejail_sandbox_setup_failures_total{step=\"%s\"} %llu\n",
            label_value(m->setup_failures[i].label, v[0], sizeof(v[0])), m->setup_failures[i].n);
    family(&o, "codejail_oom_kills_total", "counter", "Processes of executions the OOM killer took.");
    put(&o, "codejail_oom_kills_total %llu\n", m->oom_kills);
    family(&o, "codejail_warm_restarts_total", "counter", "Warm interpreters that died and were started again.");
    put(&o, "codejail_warm_restarts_total %llu\n", m->warm_restarts);
    family(&o, "codejail_http_requests_total", "counter", "HTTP answers by handler and status code.");
    for (size_t i = 0; i < CJ_METRICS_MAX_LABELS && m->http[i].n > 0; i++)
        put(&o, "codejail_http_requests_total{handler=\"%s\",code=\"%d\"} %llu\n",
            label_value(m->http[i].label, v[0], sizeof(v[0])), m->http[i].code, m->http[i].n);
    if (now->bytecode_cache_on) {
        static const char *const KINDS[CJ_BC_KINDS] = {[CJ_BC_ZIP] = "zip", [CJ_BC_CODE] = "code"};
        family(&o, "codejail_bytecode_cache_entries", "gauge",
               "python_lib.zip files and code texts the bytecode cache knows (compiled, being compiled, seen).");
        put(&o, "codejail_bytecode_cache_entries %zu\n", now->bytecode.entries);
        family(&o, "codejail_bytecode_cache_bytes", "gauge", "Bytes of bytecode it holds.");
        put(&o, "codejail_bytecode_cache_bytes %zu\n", now->bytecode.bytes);
        family(&o, "codejail_bytecode_cache_lookups_total", "counter",
               "Executions that found the bytecode of their zip or code (hit) or not (miss).");
        for (int k = 0; k < CJ_BC_KINDS; k++) {
            put(&o, "codejail_bytecode_cache_lookups_total{kind=\"%s\",result=\"hit\"} %llu\n", KINDS[k],
                now->bytecode.kind[k].hits);
            put(&o, "codejail_bytecode_cache_lookups_total{kind=\"%s\",result=\"miss\"} %llu\n", KINDS[k],
                now->bytecode.kind[k].misses);
        }
        family(&o, "codejail_bytecode_cache_compiles_total", "counter",
               "Compile runs, by what they compiled and whether their bytecode was kept.");
        for (int k = 0; k < CJ_BC_KINDS; k++) {
            put(&o, "codejail_bytecode_cache_compiles_total{kind=\"%s\",result=\"kept\"} %llu\n", KINDS[k],
                now->bytecode.kind[k].compiled);
            put(&o, "codejail_bytecode_cache_compiles_total{kind=\"%s\",result=\"unusable\"} %llu\n", KINDS[k],
                now->bytecode.kind[k].unusable);
        }
        family(&o, "codejail_bytecode_cache_evictions_total", "counter",
               "Entries evicted to fit bytecode_cache.max_entries and max_bytes.");
        put(&o, "codejail_bytecode_cache_evictions_total %llu\n", now->bytecode.evicted);
    }
    family(&o, "codejail_build_info", "gauge", "The build and the confinement in force.");
    put(&o, "codejail_build_info{version=\"%s\",landlock_abi=\"%d\",apparmor=\"%s\",cgroup=\"%s\"} 1\n",
        label_value(now->version, v[0], sizeof(v[0])), now->landlock_abi,
        label_value(now->apparmor, v[1], sizeof(v[1])), label_value(now->cgroup, v[2], sizeof(v[2])));
    if (o.failed) {
        cj_strbuf_free(&o);
        return NULL;
    }
    *len = o.len;
    return o.p;
}
