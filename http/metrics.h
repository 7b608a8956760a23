/* Prometheus metrics (text format 0.0.4) at GET /metrics: what operators
 * alert on.  The counters live in the server's one context and are moved
 * by the parts that see the events (the executor, the warm interpreter's
 * lifecycle, the responder); the gauges are read at the scrape. */
#ifndef CJ_METRICS_H
#define CJ_METRICS_H

#include <stddef.h>

#include "bytecode_cache.h"

/* How an execution ended, as operators count them. */
enum cj_outcome {
    CJ_OUTCOME_OK,           /* the code ran and exited 0 */
    CJ_OUTCOME_ERROR,        /* it exited with an error (an exception, exit(n)) */
    CJ_OUTCOME_TIMEOUT,      /* killed at REALTIME */
    CJ_OUTCOME_MEMORY,       /* the OOM killer took processes of it */
    CJ_OUTCOME_KILLED,       /* ended by a signal (SIGXCPU at CPU, SIGKILL...) */
    CJ_OUTCOME_SETUP_FAILED, /* the sandbox could not be made: the service's failure */
    CJ_OUTCOME_CLIENT_GONE,  /* the client hung up before the answer */
    CJ_OUTCOME_COUNT
};

enum cj_metrics_path { CJ_METRICS_COLD, CJ_METRICS_WARM, CJ_METRICS_PATHS };

/* Their label values: "ok", "error"...; "cold", "warm". */
const char *cj_outcome_name(enum cj_outcome o);
const char *cj_metrics_path_name(enum cj_metrics_path p);

#define CJ_METRICS_BUCKETS 12
#define CJ_METRICS_MAX_LABELS 32

typedef struct cj_histogram {
    unsigned long long bucket[CJ_METRICS_BUCKETS]; /* cumulative at render, per bucket here */
    unsigned long long count;
    double sum;
} cj_histogram;

typedef struct cj_metrics_count {
    char label[48];
    int code;
    unsigned long long n;
} cj_metrics_count;

typedef struct cj_metrics {
    unsigned long long executions[CJ_METRICS_PATHS][CJ_OUTCOME_COUNT];
    cj_histogram duration[CJ_METRICS_PATHS];
    cj_histogram cpu[CJ_METRICS_PATHS], peak[CJ_METRICS_PATHS]; /* observed only when known */
    unsigned long long oom_kills, warm_restarts;
    cj_metrics_count setup_failures[CJ_METRICS_MAX_LABELS]; /* label: the step */
    cj_metrics_count http[CJ_METRICS_MAX_LABELS];           /* label: the handler; code */
} cj_metrics;

/* What the scrape reads from the service as it is then. */
typedef struct cj_metrics_now {
    size_t in_flight, queued;
    size_t pool_ready[CJ_METRICS_PATHS], pool_size[CJ_METRICS_PATHS];
    int probe_passed;
    const char *version, *apparmor, *cgroup;
    int landlock_abi;
    /* course code compiled once (bytecode_cache.h), when the cache is on */
    int bytecode_cache_on;
    cj_bytecode_cache_stats bytecode;
} cj_metrics_now;

/* One execution's end, as the executor saw it. */
typedef struct cj_metrics_exec {
    enum cj_metrics_path path;
    enum cj_outcome outcome;
    double seconds;         /* wall, request to answer */
    long long cpu_ns;       /* from its cgroup; < 0: not known, not observed */
    long long peak_bytes;   /* likewise */
    long long oom_kills;    /* likewise */
    const char *setup_step; /* the step that failed, or NULL */
} cj_metrics_exec;

void cj_metrics_execution(cj_metrics *m, const cj_metrics_exec *e);
void cj_metrics_warm_restart(cj_metrics *m);
void cj_metrics_http(cj_metrics *m, const char *handler, int code);

/* The exposition: malloc'd text and its length, or NULL. */
char *cj_metrics_render(const cj_metrics *m, const cj_metrics_now *now, size_t *len);

#endif
