/* One sandbox per execution: with policy.h, the only interface http/
 * uses (the build gives http/ no other runtime header).
 *
 *   spec --cj_sandbox_start--> running sandbox (fds to watch, a pid)
 *        --cj_sandbox_reap / cj_sandbox_kill--> exit status
 *        --cj_sandbox_destroy--> nothing left: no process, no directory.
 *
 * The caller owns the event loop: it reads the output fds non-blocking,
 * keeps the wall-clock deadline and calls reap when SIGCHLD arrives.  The
 * runtime never blocks on the sandbox's behaviour. */
#ifndef CJ_SANDBOX_H
#define CJ_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

typedef struct cj_sandbox cj_sandbox;

struct cj_seccomp;
struct cj_cgroups;
struct cj_log;
struct cj_cgroup_pool;

/* Fixed for the life of the service: resolved and verified once at startup
 * (see policy.c).  A NULL/0 member means that layer is off by configuration. */
typedef struct cj_sandbox_env {
    const struct cj_log *log; /* main()'s logger (log.h) */
    const char *python_bin;
    const char *wrapper; /* the jailed_code template text, loaded at startup */
    size_t wrapper_len;
    /* The wrapper compiled (without, with python_lib.zip on sys.path): run
     * as jailed_code.pyc, beside the source that tracebacks quote.  NULL: the
     * source is run. */
    const char *wrapper_pyc[2];
    size_t wrapper_pyc_len[2];
    const char *sys_path_line; /* "sys.path.extend([...])": the interpreter runs with -S */
    const char *site_dirs;     /* the list literal alone, for the warm interpreter */
    const char *work_dir; /* execution directories are made here */
    uid_t uid;            /* the unprivileged identity executions run as */
    gid_t gid;
    int namespaces;           /* fresh net/mount/pid/ipc/uts and a minimal root */
    const char *const *binds; /* host paths the interpreter needs, bound read-only */
    const char *const *links; /* root symlinks NAME=TARGET (merged /usr) */
    const char *noexec_so;    /* codejail-noexec.so: no exec after the interpreter starts */
    const struct cj_seccomp *seccomp;
    int landlock;
    int landlock_abi; /* the ABI in force, 0 when off */
    const char *apparmor_profile;
    int host_proc_fd; /* O_PATH /proc of the host, for AppArmor's exec attribute */
    struct cj_cgroups *cgroups;
    struct cj_cgroup_pool *cgroup_pool; /* execution cgroups, reused */
    long long tmp_bytes; /* size of the tmpfs tmp/ */
} cj_sandbox_env;

typedef struct cj_sandbox_limits {
    long long cpu, vmem, fsize, nproc; /* the codejail library's meanings */
} cj_sandbox_limits;

typedef struct cj_sandbox_bytecode {
    const void *p;
    size_t len;
} cj_sandbox_bytecode;

enum { CJ_COMPILE_ZIP = 1, CJ_COMPILE_CODE = 2 };

typedef struct cj_sandbox_spec {
    const cj_sandbox_env *env;
    cj_sandbox_limits limits;
    /* The wrapper's stdin: the JSON text [code, globals] it decodes itself. */
    const char *input;
    size_t input_len;
    const void *zip; /* python_lib.zip contents, NULL when not uploaded */
    size_t zip_len;
    int zip_on_path; /* how many times python_path names python_lib.zip */
    /* Bytecode an earlier compile run made (cj_sandbox_bytecode) of this
     * zip's modules and of this code, or NULL: used where the import or
     * exec() would compile the same source. */
    cj_sandbox_bytecode zip_bytecode, code_bytecode;
    /* A compile run: compiles what it names (CJ_COMPILE_*), runs no code,
     * and reports the bytecode first on its result stream. */
    int compile;
} cj_sandbox_spec;

/* Creates the execution directory and starts the sandboxed interpreter.
 * On failure nothing is left behind. */
int cj_sandbox_start(const cj_sandbox_spec *spec, cj_sandbox **out, cj_err *err);

enum cj_sandbox_stream { CJ_STREAM_STDOUT, CJ_STREAM_STDERR, CJ_STREAM_RESULT, CJ_STREAM_SETUP, CJ_STREAM_COUNT };

/* The read end of a stream (non-blocking, CLOEXEC), for the caller's loop;
 * the caller owns it from then on.  CJ_STREAM_SETUP carries at most
 * CJ_RECORDS_MAX bytes of records: a set-up failure, or the interpreter's
 * final status from the sandbox's init. */
int cj_sandbox_take_fd(cj_sandbox *sb, enum cj_sandbox_stream s);
#define CJ_RECORDS_MAX 128

/* Reads the records: returns -1 and describes the set-up failure in why when
 * there was one; else 1 with *status replaced by the interpreter's own
 * status when one was reported (the first), or 0 when none was. */
int cj_sandbox_outcome(const void *records, size_t len, int *status, char *why, size_t whylen);
/* The name of the set-up step that failed, if the records report one. */
const char *cj_sandbox_failed_step(const void *records, size_t len);

/* What a compile run reported at the start of its result stream: 0 with
 * zip and code pointing into result (len 0: not compiled), -1 when there
 * is no whole report (it failed, or was cut short). */
int cj_sandbox_bytecode_of(const void *result, size_t len, cj_sandbox_bytecode *zip, cj_sandbox_bytecode *code);

/* What the execution used, from its cgroup, since the sandbox was made
 * (one made ahead included: the CPU limit counts from then too).  Read it
 * once the interpreter has ended and before destroy.  Each -1 when unknown: no
 * cgroup, or a kernel or hierarchy that does not say. */
typedef struct cj_sandbox_usage {
    long long cpu_ns;     /* user+system CPU time of all its processes */
    long long peak_bytes; /* the most memory it held at once (cgroup v2 before 6.12: see README) */
    long long oom_kills;  /* processes the OOM killer took (its memory limit) */
} cj_sandbox_usage;
void cj_sandbox_read_usage(const cj_sandbox *sb, cj_sandbox_usage *out);

/* Kills every process of the execution (idempotent). */
void cj_sandbox_kill(cj_sandbox *sb);

/* Non-blocking: returns 1 and sets *status once the sandbox's main process
 * has exited (status: exit code, or minus the signal number), 0 while it
 * runs (and always for a warm clone: not our child; its end is the EOF of
 * its setup stream, after the status record), -1 on error.  After the main
 * process exits, its stragglers are killed. */
int cj_sandbox_reap(cj_sandbox *sb, int *status, cj_err *err);

/* Kills, reaps (blocking only when the process was already killed), removes
 * the directory and frees.  Safe on NULL. */
void cj_sandbox_destroy(cj_sandbox *sb);

/* Kills a cold sandbox's processes without waiting: returns the pid the
 * caller must still reap (0 if none), which destroy will then not wait for. */
pid_t cj_sandbox_detach(cj_sandbox *sb);

/* A clone of the warm interpreter (the executor needs to know: it is not
 * our child, and its answer may be given before its streams end). */
int cj_sandbox_is_warm(const cj_sandbox *sb);
/* Its init reports the interpreter's end on the setup stream (warm, or cold
 * in namespaces): the answer need not wait for the namespace's teardown. */
int cj_sandbox_reports_status(const cj_sandbox *sb);

/* Sandboxes made ahead of their request, of two kinds: prepared (the cold
 * path: a fresh child confined completely, waiting right before its
 * interpreter's exec) and warm (a confined clone of the warm interpreter,
 * waiting in Python).  Both wait on the same request socket (wire.h) and
 * get their request by cj_sandbox_hand_over; until then they are the
 * caller's to keep, reap or destroy.  Each is made with lim on its cgroup
 * and at the background CPU weight. */
int cj_sandbox_prepare(const cj_sandbox_env *env, const cj_sandbox_limits *lim, cj_sandbox **out, cj_err *err);
/* A warm one: made, then asked of the warm interpreter on its control
 * socket ctl, under the caller's number slot (the reply names it).
 * vm_base: the warm interpreter's address space (its preloads mapped),
 * which the clone starts with: what of it a cold interpreter would not
 * have mapped is granted on top of its request's VMEM (RLIMIT_AS), so its
 * code has the room it has cold; the execution's memory stays bounded by
 * its cgroup at VMEM. */
int cj_sandbox_warm_fork(const cj_sandbox_env *env, const cj_sandbox_limits *lim, int ctl, unsigned slot,
                         unsigned long long vm_base, cj_sandbox **out, cj_err *err);
/* The warm interpreter's reply to a fork (or its word that it is up):
 * decodes one reply of CJ_WARM_REPLY_SIZE bytes; returns 'R' (up, value:
 * its pid), 'P' (value: the clone's pid, which the caller gives to
 * cj_sandbox_warm_started) or 'E' (value: errno); 0 for garbage. */
#define CJ_WARM_REPLY_SIZE 16
int cj_sandbox_warm_reply(const void *buf, unsigned *slot, int *value);
void cj_sandbox_warm_started(cj_sandbox *sb, pid_t pid);
/* Starts a warm interpreter: python_bin runs zygote_py with the warm
 * library lib, imports preload, and answers on *ctl (CLOEXEC, SOCK_SEQPACKET:
 * fork requests out, CJ_WARM_REPLY_SIZE replies in).  Its stderr is ours.
 * Returns its pid (our child, killed with us), or -1. */
pid_t cj_sandbox_warm_start(const cj_sandbox_env *env, const char *zygote_py, const char *lib,
                            const char *const *preload, size_t n_preload, int *ctl, cj_err *err);
/* Gives a waiting sandbox its request: its files, its limits, its stdin. */
int cj_sandbox_hand_over(cj_sandbox *sb, const cj_sandbox_spec *spec, cj_err *err);
/* It has said it is ready, or ended: either way it is no longer being set
 * up (its setup stream is readable). */
int cj_sandbox_settled(const cj_sandbox *sb);
/* Why it died before its request: its set-up failure, if it reported one. */
int cj_sandbox_failure(cj_sandbox *sb, char *why, size_t len);

#endif
