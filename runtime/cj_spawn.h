/* Starting a cold or prepared sandbox.  Everything is prepared by the
 * parent; the children take the one checklist (confine.h) and exec.
 *
 * With namespaces: clone3 makes the sandbox's init (PID 1 of fresh pid,
 * mount, net, ipc, uts namespaces, already in the execution's cgroup); it
 * forks the interpreter child, reaps, and reports the interpreter's status;
 * its death takes the namespace down.  Without: the interpreter child is
 * cloned directly. */
#ifndef CJ_SPAWN_H
#define CJ_SPAWN_H

#include <sys/types.h>

#include "confine.h"
#include "error.h"

typedef struct cj_spawn_args {
    /* The interpreter process's checklist: its fds are the sources of the
     * sandbox's 0..4; with namespaces the init joins the v1 cgroups listed
     * there, and its child inherits them. */
    cj_confine_plan confine;
    const char *path; /* the interpreter */
    char *const *argv;
    /* A waiting sandbox (confine.fd_request >= 0): the argv for a request
     * with python_lib.zip on sys.path once, and for more entries. */
    char *const *argv_zip;
    char *const *argv_src;
    char *const *envp;
    int cgroup_dirfd; /* v2: born in it (CLONE_INTO_CGROUP), else -1 */
} cj_spawn_args;

/* Returns the pid to watch (the sandbox's init, or the interpreter), or -1. */
pid_t cj_spawn(const cj_spawn_args *a, cj_err *err);

#endif
