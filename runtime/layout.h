/* The sandbox as every path builds it: the fds it holds, where its
 * directory appears, what Landlock grants, its devices, its environment and
 * its fixed limits.  The cold, prepared and warm paths (and, through the
 * library, the warm interpreter) read these; nothing else defines them. */
#ifndef CJ_LAYOUT_H
#define CJ_LAYOUT_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

/* The interpreter's fds: four streams it keeps across exec, the setup
 * stream (CLOEXEC: the exec's success closes it) and, while it waits for a
 * request, the request socket (CLOEXEC).  Nothing else of the service's. */
enum { CJ_FD_STDIN, CJ_FD_STDOUT, CJ_FD_STDERR, CJ_FD_RESULT, CJ_FD_SETUP, CJ_FD_REQUEST };
#define CJ_SANDBOX_FDS 5 /* 0..4: the streams and the setup stream */
/* Sources are moved above this before 0..5 are filled, so that filling
 * them never clobbers a source that sits at a low number. */
#define CJ_HIGH_FD 64

/* Enough for the interpreter, its imports and a few files of the code's
 * own; a low cap also bounds what a hostile execution can pin in the
 * kernel. */
#define CJ_NOFILE 128
#define CJ_HOSTNAME "codejail"
/* One CPU per execution, so threads cannot take the host. */
#define CJ_CPU_QUOTA_US 100000
/* The address space a cold interpreter has mapped when its code starts
 * (python -S -E -B and the wrapper: 14 MiB measured; a little over).  A
 * warm clone starts with its warm interpreter's instead, all preloads
 * mapped: its RLIMIT_AS gets the difference on top of VMEM, so its code has
 * the room it has cold, and a large allocation still meets RLIMIT_AS
 * (MemoryError, as the codejail library's) before the cgroup's memory
 * limit (the OOM killer). */
#define CJ_INTERPRETER_AS (16LL << 20)

/* The host devices bound into the root; only the first is writable. */
#define CJ_DEVICES {"/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"}
#define CJ_N_DEVICES 4

#define CJ_MAX_PATHS 48

typedef struct cj_layout_in {
    const char *host_dir; /* the execution directory on the host */
    int namespaces;       /* its own root: the directory at /tmp/<name> */
    long long tmp_bytes;
    uid_t uid;
    gid_t gid;
    const char *const *binds; /* host paths bound read-only, executable */
    const char *noexec_so;    /* the noexec library as the sandbox sees it, or NULL */
    int pyc;                  /* the compiled wrappers are in the root */
} cj_layout_in;

/* Paths as the interpreter sees them, and the Landlock grants over them. */
typedef struct cj_views {
    char inner_dir[PATH_MAX], inner_tmp[PATH_MAX + 8], tmp_opts[128];
    const char *exec[CJ_MAX_PATHS], *read[CJ_MAX_PATHS], *write[4];
} cj_views;

/* -E2BIG when the binds do not fit, else 0. */
int cj_layout_views(const cj_layout_in *in, cj_views *v);

/* The interpreter's environment: envp (max entries, NULL-terminated)
 * points into buf.  inner_tmp NULL: only what holds outside an execution
 * (the warm interpreter's own).  -ENOSPC when it does not fit, else the
 * number of entries. */
int cj_layout_environ(const char *inner_tmp, const char *preload, char *buf, size_t len, char **envp, size_t max);

#endif
