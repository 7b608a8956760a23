/* The confinement the service applies to every execution, resolved and
 * checked once at startup.  A layer the configuration requires but the host
 * lacks is an error here, never a silent downgrade. */
#ifndef CJ_POLICY_H
#define CJ_POLICY_H

#include "error.h"
#include "log.h"
#include "sandbox.h"

enum cj_policy_mode { CJ_POLICY_OFF = 0, CJ_POLICY_IF_AVAILABLE = 1, CJ_POLICY_REQUIRED = 2 };

typedef struct cj_policy_opts {
    const struct cj_log *log;  /* main()'s; kept by the cgroup pool */
    const char *python_bin;
    int namespaces;
    enum cj_policy_mode landlock, seccomp, apparmor;
    const char *apparmor_profile;
    const char *cgroup_parent; /* "" = no cgroups */
    size_t cgroup_pool;        /* idle execution cgroups kept for reuse */
    const char *noexec_so;     /* path of codejail-noexec.so */
    const char *work_dir;      /* where execution directories are made */
    long long tmp_bytes;
} cj_policy_opts;

/* Fills the confinement members of env (the caller sets the rest).  Logs one
 * line per layer saying what is in force. */
int cj_policy_init(cj_sandbox_env *env, const cj_policy_opts *o, cj_err *err);
void cj_policy_free(cj_sandbox_env *env);

/* The cold path's two wrappers (env->wrapper rendered as an execution's
 * directory gets it, without and with python_lib.zip on sys.path),
 * compiled once into env->wrapper_pyc: compiling took each interpreter
 * ~0.5 ms.  An interpreter that cannot compile leaves them NULL (the
 * source runs; the startup probe judges it). */
int cj_policy_compile_wrappers(cj_sandbox_env *env, cj_err *err);

/* The cgroups executions get: "v1", "v2" or "off". */
const char *cj_policy_cgroups(const cj_sandbox_env *env);

#endif
