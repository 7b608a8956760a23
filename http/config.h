/* Service configuration: YAML with the codejail library's setting names, so
 * operators paste the CODE_JAIL settings they already have.  Every unknown
 * key or bad value is an error naming the key; defaults are the devstack
 * values of the contract. */
#ifndef CJ_CONFIG_H
#define CJ_CONFIG_H

#include "error.h"

#include <stddef.h>

#include "log.h"

/* The codejail library's limit names. A value of -1 in an override means
 * "not set here, inherit the default". */
typedef struct cj_limits {
    long long cpu;      /* CPU seconds */
    long long realtime; /* wall-clock seconds */
    long long vmem;     /* address-space bytes, 0 = unlimited */
    long long fsize;    /* largest file in bytes */
    long long nproc;    /* processes/threads */
} cj_limits;

typedef struct cj_override {
    char *context;
    cj_limits limits; /* -1 where the override does not set a limit */
} cj_override;

enum cj_layer_mode { CJ_LAYER_OFF = 0, CJ_LAYER_IF_AVAILABLE = 1, CJ_LAYER_REQUIRED = 2 };

typedef struct cj_config {
    char *python_bin;        /* "/usr/bin/python3" */
    char *listen;            /* "127.0.0.1:8080" */
    int enabled;             /* 1 */
    int max_concurrency;     /* 0 in the file means: number of CPUs (resolved at load) */
    int max_queue;           /* 64 */
    size_t max_body_bytes;   /* 32 MiB */
    size_t max_output_bytes; /* 1 MiB: stdout, stderr and the result channel each */
    cj_limits limits;
    cj_override *overrides;
    size_t n_overrides;
    /* sandbox identity and confinement (the confinement issue uses these) */
    char *user;     /* "nobody": the unprivileged user executions run as */
    char *work_dir; /* "/tmp": where execution directories are made */
    char *cgroup_parent; /* CJ_CGROUP_PARENT_DEFAULT (cgroup_parent.h), "" = none */
    enum cj_layer_mode apparmor; /* if-available */
    char *apparmor_profile;      /* "codejail_sandbox" */
    enum cj_layer_mode landlock; /* required */
    enum cj_layer_mode seccomp;  /* required */
    int namespaces;              /* 1 */
    enum cj_log_level log_level; /* info */
    enum cj_log_format log_format; /* text */
    double drain_timeout;        /* seconds to wait for in-flight work on SIGTERM: 0 = REALTIME bound */
    /* cold path: sandboxes made ahead of requests, waiting before their
     * interpreter's exec (0: each made when its request comes) */
    int cold_pool;        /* 2 */
    /* course code compiled once: python_lib.zip's modules, problem scripts (bytecode_cache.h) */
    size_t bytecode_cache_entries; /* 256; 0: off */
    size_t bytecode_cache_bytes;   /* 128 MiB of bytecode in all */
    /* warm start: executions fork from an interpreter that imported these once */
    int warm_enabled;     /* 0 */
    int warm_pool;        /* 2: executions forked and confined ahead of time */
    char **warm_preload;  /* module names */
    /* The warm interpreter is replaced (in the background) after this many
     * executions or seconds, whichever comes first: every clone shares its
     * hash seed and address layout. */
    long long warm_max_clones; /* 10000 */
    long long warm_max_age;    /* 600 */
    size_t n_warm_preload;
} cj_config;

void cj_config_defaults(cj_config *c);
/* Load YAML from a file or a string over the defaults already in c.  On error
 * returns -1 and writes a message naming the key (e.g. "limits.CPU: expected a
 * non-negative integer, got 'x'") into err. */
int cj_config_load_file(cj_config *c, const char *path, cj_err *err);
int cj_config_load_string(cj_config *c, const char *yaml, size_t len, cj_err *err);
void cj_config_free(cj_config *c);

/* The limits for a request context: the defaults with that context's override
 * applied (unknown or NULL context: the defaults). */
cj_limits cj_config_limits_for(const cj_config *c, const char *context, size_t context_len);

#endif
