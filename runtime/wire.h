/* Every record and message that crosses a process boundary inside the
 * service, defined once: the service, a sandbox waiting for its request,
 * the warm interpreter (its C library, warm_child.c) and its clones.  All
 * ends are this build's C code on one host, so the layout is native; the
 * sizes are fixed below so that a change is a deliberate one.  The warm
 * interpreter's Python never packs or parses any of them: it calls the
 * library (warm_zygote.py). */
#ifndef CJ_WIRE_H
#define CJ_WIRE_H

#include <limits.h>
#include <stdint.h>

/* The setup stream (CJ_FD_SETUP, child -> service): at most two records.
 * FAILURE: a set-up step failed (step: enum cj_setup_step, value: errno),
 * the child exits 127.  READY: a waiting sandbox is confined and waits for
 * its request.  STATUS: the interpreter's wait status, from the sandbox's
 * init (and on the warm path the warm interpreter's word after it). */
enum { CJ_RECORD_FAILURE = 1, CJ_RECORD_STATUS = 2, CJ_RECORD_READY = 3 };
struct cj_sandbox_record {
    int32_t kind;
    int32_t step;
    int32_t value;
    char detail[52];
};
_Static_assert(sizeof(struct cj_sandbox_record) == 64, "one atomic pipe write, fixed size");

/* A request, to a waiting sandbox of either kind (CJ_FD_REQUEST, a
 * SOCK_SEQPACKET socket), with its stdin as SCM_RIGHTS: the limits the
 * sandbox applies before any code of the request runs, and how many
 * python_path entries its wrapper has. */
struct cj_request_msg {
    int64_t cpu, vmem, fsize, nproc; /* cj_sandbox_limits */
    int32_t nproc_rlimit;            /* no pids cgroup: RLIMIT_NPROC instead */
    int32_t zip_on_path;
};
_Static_assert(sizeof(struct cj_request_msg) == 40, "fixed");

/* Service -> warm interpreter, once at its start: "key=value\0" entries
 * (warm_settings.c writes and reads them). */

/* Service -> warm interpreter, one per clone: this header, and as
 * SCM_RIGHTS the clone's CJ_SANDBOX_FDS stream ends and its request socket
 * (CJ_WARM_FORK_FDS), then n_cgroup_procs v1 cgroup.procs files, then the
 * v2 cgroup directory when cgroup_v2. */
#define CJ_WARM_FORK_FDS 6
#define CJ_WARM_MAX_FDS 16
struct cj_warm_fork {
    uint32_t slot;
    uint32_t n_cgroup_procs;
    int32_t cgroup_v2;
    uint32_t spare;
    char dir[PATH_MAX]; /* the execution directory on the host */
};

/* Warm interpreter -> service.  UP once, when it has imported its preloads
 * (value: its pid); then per fork request, PID (the clone's init) or ERROR
 * (value: errno). */
enum { CJ_WARM_UP = 'R', CJ_WARM_PID = 'P', CJ_WARM_ERROR = 'E' };
struct cj_warm_reply {
    char kind;
    char pad[3];
    uint32_t slot;
    int32_t value;
    uint32_t spare;
};
_Static_assert(sizeof(struct cj_warm_reply) == 16, "fixed");

/* Course code compiled once (jailed_code.py's #@BYTECODE_PART@): a frame
 * before the request on the interpreter's stdin, USE with bytecode or
 * COMPILE with what to compile (empty items), and first on the result
 * stream of a compile run, BLOB with what it compiled.  The magic, the
 * mode, the payload's length (8 bytes, little-endian), the payload: items
 * of a tag, a length (8 bytes, little-endian) and bytes.  The request's
 * JSON never starts with a NUL, so a stdin without a frame is unambiguous. */
#define CJ_FRAME_MAGIC "\0CJZ:"
#define CJ_FRAME_MAGIC_LEN 5
#define CJ_FRAME_HEADER 14
#define CJ_FRAME_ITEM_HEADER 9
enum { CJ_FRAME_USE = 'U', CJ_FRAME_COMPILE = 'C', CJ_FRAME_BLOB = 'B' };
enum { CJ_ITEM_ZIP = 'Z', CJ_ITEM_CODE = 'K' };

#endif
