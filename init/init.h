/* codejail-init's parts: init.c (arguments, signals, reaping), container.c
 * (namespaces and mounts), cgroups.c (delegation to the server), caps.c (the
 * server's bounding set).  One context is passed down; there are no globals. */
#ifndef CJ_INIT_H
#define CJ_INIT_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"

enum {
    EXIT_SETUP = 125,       /* usage or set-up error: the command never ran */
    EXIT_EXEC_FAILED = 127, /* like a shell's "command not found" */
};

struct work_tmpfs {
    char path[PATH_MAX];      /* "" when none was asked for */
    char size[24];            /* as tmpfs takes it: "256m" */
    unsigned long long bytes; /* the same, to verify the mount with */
};

struct init_ctx {
    /* From the command line and the environment. */
    struct cj_log log;         /* --log-level, $CODEJAIL_INIT_LOG_LEVEL; info; --log-format */
    char **cmd;                /* NULL-terminated argv of the main child */
    int grace_s;               /* SIGTERM -> SIGKILL delay */
    bool namespaces;           /* false with --no-namespaces */
    bool cgroups;              /* false with --no-cgroups */
    bool keep_caps;            /* --keep-caps: CMD keeps our bounding set */
    const char *cgroup_parent; /* validated by cj_cgroup_parent_valid() */
    struct work_tmpfs work;

    pid_t self;
    bool pid1;          /* init of a pid namespace: kill(-1) reaches everyone */
    bool relay;         /* outside the namespaces we made: the child is their init */
    sigset_t orig_mask; /* what we were started with; the child gets it back */
    int sfd;            /* signalfd for every signal */

    pid_t child;        /* main child */
    bool child_exited;  /* set only when we reaped it, see forward() */
    int child_status;   /* its wait status, once child_exited */
    int64_t kill_at_ms; /* when to SIGKILL the main child; -1 when not due */
};

/* cj_log(log, CJ_LOG_ERROR, "<what>: <strerror(errno)>") and return -1:
 * set-up failures are reported where they happen and end in exit 125. */
int fail(const struct cj_log *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* container.c: everything between the signal set-up and the main child. */
int prepare_container(struct init_ctx *c);

/* cgroups.c */
/* own_mounts: the mount namespace is ours to change; relay: we have just
 * made the container's namespaces (cgroup included) ourselves. */
int cgroups_prepare(const struct cj_log *log, const char *parent, bool own_mounts, bool relay);

/* caps.c: between fork and exec (no allocation).  On failure returns -1 with
 * errno set and *step naming what failed. */
int caps_limit_to_server(const char **step);

#endif
