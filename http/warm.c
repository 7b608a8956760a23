#include "warm.h"

#include "execdir.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define RESTART_MS 1000
#define MAX_FDS 16

enum slot_state { SLOT_EMPTY, SLOT_FORKING, SLOT_READY };

struct slot {
    enum slot_state state;
    cj_sandbox *sb;
    uint64_t seq; /* when it became READY: the oldest goes first */
};

struct reply {
    char kind; /* R ready, P pid, E error */
    char pad[3];
    uint32_t slot;
    int32_t value;
    uint32_t spare;
};

struct cj_warm {
    h2o_loop_t *loop;
    const cj_config *cfg;
    const cj_sandbox_env *env;
    char *zygote_py, *lib;
    pid_t pid;
    int up; /* the warm interpreter said it is ready */
    h2o_socket_t *ctl;
    uint64_t seq;
    struct slot *slots;
    size_t n_slots;
    h2o_timeout_t restart_timeout, refill_timeout;
    h2o_timeout_entry_t restart_entry, refill_entry;
};

static void start_zygote(cj_warm *w);

static void clear_slot(struct slot *s)
{
    cj_sandbox_destroy(s->sb);
    s->sb = NULL;
    s->state = SLOT_EMPTY;
}

static void zygote_gone(cj_warm *w, const char *why)
{
    fprintf(stderr, "codejail-server: warm interpreter %s; running executions cold until it is back\n", why);
    if (w->ctl != NULL) {
        h2o_socket_close(w->ctl);
        w->ctl = NULL;
    }
    if (w->pid > 0) {
        kill(w->pid, SIGKILL); /* its clones die with it (PDEATHSIG) */
        int st;
        while (waitpid(w->pid, &st, 0) < 0 && errno == EINTR)
            ;
        w->pid = -1;
    }
    w->up = 0;
    for (size_t i = 0; i < w->n_slots; i++)
        clear_slot(&w->slots[i]);
    if (!h2o_timeout_is_linked(&w->restart_entry))
        h2o_timeout_link(w->loop, &w->restart_timeout, &w->restart_entry);
}

/* 'F', slot, "dir\0inner\0cgroup-v2\0", and the clone's fds as SCM_RIGHTS:
 * its five streams, v1 cgroup.procs files, the v2 cgroup directory last. */
static int send_fork(cj_warm *w, size_t i, const int child_fds[5], cj_err *err)
{
    cj_sandbox *sb = w->slots[i].sb;
    const char *dir = cj_sandbox_dir(sb);
    int fds[MAX_FDS], n = 0, dirfd = -1;
    const int *procs = NULL;
    size_t np = 0;
    cj_sandbox_cgroup_fds(sb, &dirfd, &procs, &np);
    for (int k = 0; k < 5; k++)
        fds[n++] = child_fds[k];
    for (size_t k = 0; k < np && n < MAX_FDS - 1; k++)
        fds[n++] = procs[k];
    if (dirfd >= 0)
        fds[n++] = dirfd;
    char msg[2 * 4096 + 64];
    size_t len = 0;
    uint32_t slot = (uint32_t)i;
    msg[len++] = 'F';
    memcpy(msg + len, &slot, 4);
    len += 4;
    len += (size_t)snprintf(msg + len, sizeof(msg) - len, "%s%c/tmp/%s%c%d", dir, 0, strrchr(dir, '/') + 1, 0,
                            dirfd >= 0 ? 1 : -1) + 1;
    struct iovec iov = {.iov_base = msg, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
        struct cmsghdr align;
    } c;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
    if (sendmsg(h2o_socket_get_fd(w->ctl), &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        return cj_fail(err, errno, "send to the warm interpreter");
    return 0;
}

static void refill(cj_warm *w)
{
    if (!w->up)
        return;
    for (size_t i = 0; i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->state != SLOT_EMPTY)
            continue;
        const cj_limits *l = &w->cfg->limits;
        cj_sandbox_limits lim = {.cpu = l->cpu, .vmem = l->vmem, .fsize = l->fsize, .nproc = l->nproc};
        int child_fds[5];
        cj_err err = {0};
        if (cj_sandbox_warm_prepare(w->env, &lim, &s->sb, child_fds, &err) < 0) {
            fprintf(stderr, "codejail-server: warm: %s\n", err.msg);
            return;
        }
        int rc = send_fork(w, i, child_fds, &err);
        for (int k = 0; k < 5; k++)
            close(child_fds[k]);
        if (rc < 0) {
            fprintf(stderr, "codejail-server: warm: %s\n", err.msg);
            clear_slot(s);
            return; /* a full socket: the next reply refills */
        }
        s->state = SLOT_FORKING;
    }
}

static void on_reply(h2o_socket_t *sock, const char *err)
{
    cj_warm *w = sock->data;
    if (err != NULL) {
        zygote_gone(w, "closed its control socket");
        return;
    }
    size_t n = sock->input->size / sizeof(struct reply);
    for (size_t k = 0; k < n; k++) {
        struct reply r;
        memcpy(&r, sock->input->bytes + k * sizeof(r), sizeof(r));
        if (r.kind == 'R') {
            w->up = 1;
            fprintf(stderr, "codejail-server: warm interpreter ready (pid %d, pool %zu)\n", (int)r.value, w->n_slots);
            continue;
        }
        if (r.slot >= w->n_slots || w->slots[r.slot].state != SLOT_FORKING)
            continue;
        struct slot *s = &w->slots[r.slot];
        if (r.kind == 'P') {
            cj_sandbox_warm_started(s->sb, (pid_t)r.value);
            s->state = SLOT_READY;
            s->seq = ++w->seq;
        } else {
            fprintf(stderr, "codejail-server: warm: clone failed: %s\n", strerror(r.value));
            clear_slot(s);
        }
    }
    h2o_buffer_consume(&sock->input, n * sizeof(struct reply));
    refill(w);
}

static int settings_blob(const cj_warm *w, char **out, size_t *len)
{
    const cj_sandbox_env *env = w->env;
    /* The two wrappers a request can need (with python_lib.zip on sys.path
     * or not), for the warm interpreter to compile once. */
    char *wrappers[2] = {NULL, NULL};
    size_t wlen[2] = {0, 0};
    for (int z = 0; z < 2; z++) {
        cj_execdir_spec ds = {.wrapper = env->wrapper, .wrapper_len = env->wrapper_len,
                              .exec_check = env->noexec_so != NULL, .zip_on_path = z};
        cj_err e = {0};
        if (cj_execdir_render(&ds, &wrappers[z], &wlen[z], &e) < 0) {
            free(wrappers[0]);
            return -1;
        }
    }
    size_t cap = 4096 + (env->site_dirs ? strlen(env->site_dirs) : 0) + wlen[0] + wlen[1], n = 0;
    for (size_t i = 0; env->binds && env->binds[i]; i++)
        cap += strlen(env->binds[i]) + 8;
    for (size_t i = 0; env->links && env->links[i]; i++)
        cap += strlen(env->links[i]) + 8;
    for (size_t i = 0; i < w->cfg->n_warm_preload; i++)
        cap += strlen(w->cfg->warm_preload[i]) + 12;
    char *b = malloc(cap);
    if (b == NULL) {
        free(wrappers[0]);
        free(wrappers[1]);
        return -1;
    }
#define ADD(...) n += (size_t)snprintf(b + n, cap - n, __VA_ARGS__) + 1
    ADD("uid=%u", (unsigned)env->uid);
    ADD("gid=%u", (unsigned)env->gid);
    ADD("landlock=%d", env->landlock);
    ADD("seccomp=%d", env->seccomp != NULL);
    ADD("apparmor=%s", env->apparmor_profile ? env->apparmor_profile : "");
    ADD("tmp=size=%lld,nr_inodes=4096,mode=0700,uid=%u,gid=%u", env->tmp_bytes, (unsigned)env->uid,
        (unsigned)env->gid);
    for (size_t i = 0; env->binds && env->binds[i]; i++)
        ADD("bind=%s", env->binds[i]);
    for (size_t i = 0; env->links && env->links[i]; i++)
        ADD("link=%s", env->links[i]);
    if (env->site_dirs != NULL)
        ADD("syspath=%s", env->site_dirs);
    for (size_t i = 0; i < w->cfg->n_warm_preload; i++)
        ADD("preload=%s", w->cfg->warm_preload[i]);
    for (int z = 0; z < 2; z++) {
        ADD("wrapper%d=%s", z, wrappers[z]);
        free(wrappers[z]);
    }
#undef ADD
    *out = b;
    *len = n;
    return 0;
}

static void start_zygote(cj_warm *w)
{
    int sv[2];
    char *blob = NULL;
    size_t blen = 0;
    if (settings_blob(w, &blob, &blen) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        free(blob);
        fprintf(stderr, "codejail-server: warm: cannot start: %s\n", strerror(errno));
        h2o_timeout_link(w->loop, &w->restart_timeout, &w->restart_entry);
        return;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Its stderr is the service's log; everything else it gets is fd 3. */
        sigset_t none;
        sigemptyset(&none);
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent || devnull < 0 || dup2(devnull, 0) < 0 ||
            dup2(2, 1) < 0 || dup2(sv[1], 3) < 0 || close_range(4, ~0U, 0) < 0)
            _exit(127);
        char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", "OPENBLAS_NUM_THREADS=1", "LANG=C.UTF-8", NULL};
        char *argv[] = {(char *)w->cfg->python_bin, "-S", "-E", "-B", w->zygote_py, w->lib, NULL};
        execve(argv[0], argv, envp);
        _exit(127);
    }
    close(sv[1]);
    if (pid < 0 || send(sv[0], blob, blen, MSG_NOSIGNAL) < 0) {
        fprintf(stderr, "codejail-server: warm: cannot start: %s\n", strerror(errno));
        close(sv[0]);
        free(blob);
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        h2o_timeout_link(w->loop, &w->restart_timeout, &w->restart_entry);
        return;
    }
    free(blob);
    w->pid = pid;
    w->ctl = h2o_evloop_socket_create(w->loop, sv[0], 0);
    w->ctl->data = w;
    h2o_socket_read_start(w->ctl, on_reply);
}

static void on_refill(h2o_timeout_entry_t *entry)
{
    refill(H2O_STRUCT_FROM_MEMBER(cj_warm, refill_entry, entry));
}

static void on_restart(h2o_timeout_entry_t *entry)
{
    cj_warm *w = H2O_STRUCT_FROM_MEMBER(cj_warm, restart_entry, entry);
    start_zygote(w);
}

cj_warm *cj_warm_create(h2o_loop_t *loop, const cj_config *cfg, const cj_sandbox_env *env, const char *zygote_py,
                        const char *lib)
{
    cj_warm *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    w->loop = loop;
    w->cfg = cfg;
    w->env = env;
    w->pid = -1;
    w->n_slots = (size_t)cfg->warm_pool;
    w->slots = calloc(w->n_slots, sizeof(*w->slots));
    w->zygote_py = strdup(zygote_py);
    w->lib = strdup(lib);
    if (w->slots == NULL || w->zygote_py == NULL || w->lib == NULL) {
        cj_warm_destroy(w);
        return NULL;
    }
    h2o_timeout_init(loop, &w->restart_timeout, RESTART_MS);
    w->restart_entry.cb = on_restart;
    h2o_timeout_init(loop, &w->refill_timeout, 0);
    w->refill_entry.cb = on_refill;
    start_zygote(w);
    return w;
}

cj_sandbox *cj_warm_take(cj_warm *w)
{
    /* A warm interpreter that just died takes its clones with it (PDEATHSIG)
     * and can no longer report how they end: notice it before handing one
     * out, not at the next SIGCHLD. */
    cj_warm_on_sigchld(w);
    /* A clone still setting up (or rehearsing, warm_zygote.py) would make
     * the request wait for it: one that said it is ready goes first, then
     * the oldest. */
    struct slot *pick = NULL;
    int pick_settled = 0;
    for (size_t i = 0; w->up && i < w->n_slots; i++) {
        struct slot *s = &w->slots[i];
        if (s->state != SLOT_READY)
            continue;
        int settled = cj_sandbox_settled(s->sb);
        if (pick == NULL || settled > pick_settled || (settled == pick_settled && s->seq < pick->seq)) {
            pick = s;
            pick_settled = settled;
        }
    }
    if (pick != NULL) {
        cj_sandbox *sb = pick->sb;
        pick->sb = NULL;
        pick->state = SLOT_EMPTY;
        /* Refilled once this execution is answered (cj_warm_refill): the
         * clone of a big interpreter takes a CPU from the one running (an
         * execution here is shorter than making a clone).  Only an empty
         * pool is refilled at once. */
        if (!cj_warm_ready(w))
            cj_warm_refill(w);
        return sb;
    }
    return NULL;
}

void cj_warm_refill(cj_warm *w)
{
    if (!h2o_timeout_is_linked(&w->refill_entry))
        h2o_timeout_link(w->loop, &w->refill_timeout, &w->refill_entry);
}

int cj_warm_ready(const cj_warm *w)
{
    for (size_t i = 0; w->up && i < w->n_slots; i++)
        if (w->slots[i].state == SLOT_READY)
            return 1;
    return 0;
}

void cj_warm_on_sigchld(cj_warm *w)
{
    int st;
    if (w->pid > 0 && waitpid(w->pid, &st, WNOHANG) == w->pid) {
        w->pid = -1;
        zygote_gone(w, WIFSIGNALED(st) ? "was killed" : "exited");
    }
}

void cj_warm_destroy(cj_warm *w)
{
    if (w == NULL)
        return;
    if (w->restart_timeout._link.next != NULL) { /* initialised */
        if (h2o_timeout_is_linked(&w->restart_entry))
            h2o_timeout_unlink(&w->restart_entry);
        if (h2o_timeout_is_linked(&w->refill_entry))
            h2o_timeout_unlink(&w->refill_entry);
        h2o_timeout_dispose(w->loop, &w->restart_timeout);
        h2o_timeout_dispose(w->loop, &w->refill_timeout);
    }
    if (w->ctl != NULL)
        h2o_socket_close(w->ctl);
    if (w->pid > 0) {
        kill(w->pid, SIGKILL);
        waitpid(w->pid, NULL, 0);
    }
    for (size_t i = 0; w->slots != NULL && i < w->n_slots; i++)
        clear_slot(&w->slots[i]);
    free(w->slots);
    free(w->zygote_py);
    free(w->lib);
    free(w);
}
