/* A cgroup per execution, so NPROC and memory are per execution, not per
 * uid, and the whole execution can be killed and accounted at once.
 * cgroup v2 (production: containers, current distributions) and v1 (hosts
 * still on the legacy hierarchy, like our CI machines) behind one API. */
#ifndef CJ_CGROUP_H
#define CJ_CGROUP_H

#include <stddef.h>

#include "error.h"
#include "log.h"

typedef struct cj_cgroups cj_cgroups; /* the service's parent, per hierarchy */
typedef struct cj_cgroup cj_cgroup;   /* one execution's */

typedef struct cj_cgroup_limits {
    long long memory_bytes; /* memory.max / memory.limit_in_bytes; 0 = no limit */
    long long pids;         /* pids.max; 0 = no limit */
    long long cpu_quota_us; /* per 100 ms period (cpu.max / cfs_quota_us); 0 = no limit */
} cj_cgroup_limits;

/* Finds the hierarchy (v2 when /sys/fs/cgroup is cgroup2 with the memory and
 * pids controllers available, else v1 mounts of memory, pids, cpu and cpuacct) and
 * creates the parent `parent` (a relative path) under each; on v2 enables
 * +memory +pids (+cpu when available) in its subtree_control.  Missing
 * controllers are an error naming them. */
int cj_cgroups_init(cj_cgroups **out, const char *parent, cj_err *err);
void cj_cgroups_free(cj_cgroups *cgs);
int cj_cgroups_is_v2(const cj_cgroups *cgs);

/* Creates parent/<name> with the limits set and read back (verified). */
int cj_cgroup_create(cj_cgroups *cgs, const char *name, const cj_cgroup_limits *lim, cj_cgroup **out,
                     cj_err *err);
/* Sets (and reads back) new limits on a live cgroup: the warm path learns
 * an execution's limits only when its request arrives. */
int cj_cgroup_set_limits(cj_cgroup *cg, const cj_cgroup_limits *lim, cj_err *err);
/* Re-arms a finished execution's cgroup for the next one: 1 (untouched)
 * while processes are still listed in it (each is sent SIGKILL again),
 * else sets the new limits and reads them back (0, or -1 on error, and for
 * a cgroup that went through cj_cgroup_kill). */
int cj_cgroup_reuse(cj_cgroup *cg, const cj_cgroup_limits *lim, cj_err *err);
/* CPU weight: background (a tenth of the default) while a sandbox is made
 * ahead of its request or torn down after its answer, the default while it
 * serves one; each sandbox is its own scheduling group, so this, not a
 * nice value, is what orders it against the service and other sandboxes.
 * No cpu controller: nothing to do. */
int cj_cgroup_set_background(cj_cgroup *cg, int background, cj_err *err);
/* v2: an O_DIRECTORY fd for clone3's CLONE_INTO_CGROUP, else -1. */
int cj_cgroup_dirfd(const cj_cgroup *cg);
/* v1: fds (O_WRONLY, CLOEXEC) of each controller's cgroup.procs, for the
 * child to write "0" into before exec; v2: none.  Returns the count. */
size_t cj_cgroup_procs_fds(const cj_cgroup *cg, const int **fds);
/* Child side, async-signal-safe: joins via the fds above (no-op on v2). */
int cj_cgroup_enter_self(const int *fds, size_t n);
/* Kills every process in it and waits until none is listed (v2
 * cgroup.kill when present, then SIGKILL to each pid listed); the cgroup is
 * then fit only for removal. */
void cj_cgroup_kill(cj_cgroup *cg);
/* SIGKILL to each pid listed, one pass, not waited for (the event loop must
 * not wait for a namespace's teardown); the cgroup stays reusable. */
void cj_cgroup_kill_nowait(cj_cgroup *cg);
/* What one execution used of a cgroup that serves many in turn (the
 * pool's).  Each -1 when unknown: a kernel or hierarchy without the file. */
typedef struct cj_cgroup_usage {
    long long cpu_ns;     /* user+system (v2 cpu.stat usage_usec; v1 cpuacct.usage) */
    long long peak_bytes; /* v1 memory.max_usage_in_bytes; v2 memory.peak, see usage_read */
    long long oom_kills;  /* v2 memory.events oom_kill; v1 memory.oom_control oom_kill */
} cj_cgroup_usage;
/* The execution starts: notes the counters and resets the peak. */
void cj_cgroup_usage_mark(cj_cgroup *cg);
/* Since the mark.  The peak on v2 is exact where memory.peak can be reset
 * (6.12+), or where the cgroup's lifetime peak rose during the execution;
 * otherwise it is memory.current now, a lower bound. */
void cj_cgroup_usage_read(const cj_cgroup *cg, cj_cgroup_usage *u);
/* Removes it: kills what is left, retries briefly while the kernel still
 * tears processes down.  Frees cg in every case; returns -1 if a directory
 * could not be removed (it is logged and left). */
int cj_cgroup_destroy(cj_cgroup *cg, cj_err *err);

/* Reused execution cgroups.  Creating and removing a memory cgroup costs
 * milliseconds (v1 most of all: ~9 ms an execution here), so finished ones
 * are kept, emptied and re-armed with the next execution's limits. */
typedef struct cj_cgroup_pool cj_cgroup_pool;
/* log: where a cgroup that cannot be reused or removed is reported; it
 * must outlive the pool. */
cj_cgroup_pool *cj_cgroup_pool_new(cj_cgroups *cgs, size_t max_idle, const struct cj_log *log);
int cj_cgroup_pool_get(cj_cgroup_pool *p, const cj_cgroup_limits *lim, cj_cgroup **out, cj_err *err);
/* Back into the pool once its processes are gone (or removed, past max_idle
 * or when it cannot be re-armed). */
void cj_cgroup_pool_put(cj_cgroup_pool *p, cj_cgroup *cg);
/* Removes every idle cgroup; NULL is fine. */
void cj_cgroup_pool_free(cj_cgroup_pool *p);

#endif
