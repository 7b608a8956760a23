#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "cj_spawn.h"
#include "execdir.h"
#include "files.h"
#include "frame.h"
#include "layout.h"
#include "log.h"
#include "wire.h"

_Static_assert(CJ_RECORDS_MAX == 2 * sizeof(struct cj_sandbox_record), "sandbox.h's bound is two records");
_Static_assert(CJ_WARM_REPLY_SIZE == sizeof(struct cj_warm_reply), "sandbox.h's reply size");

struct cj_sandbox {
    pid_t pid;
    int exited;
    int status;
    int namespaces;
    int warm;       /* a clone of the warm interpreter: not our child, never reaped here */
    int request_fd; /* waiting: where its request goes */
    const struct cj_log *log;
    int fds[CJ_STREAM_COUNT];
    cj_cgroup *cgroup;
    cj_cgroup_pool *pool;
    unsigned long long vm_base; /* a warm clone: what it starts with mapped beyond a cold interpreter (layout.h) */
    char dir[PATH_MAX];
};

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* The input travels in a memfd rather than a pipe: the service never waits
 * for the sandbox to read it, and nothing touches the filesystem.  Before
 * the request, the bytecode frame when the spec has one. */
static int make_input(const cj_sandbox_spec *spec, cj_err *err)
{
    int fd = memfd_create("codejail-input", MFD_CLOEXEC);
    if (fd < 0)
        return cj_fail(err, errno, "memfd_create");
    if (cj_frame_write(fd, spec) < 0 || cj_write_all(fd, spec->input, spec->input_len) < 0) {
        int e = errno;
        close(fd);
        return cj_fail(err, e, "write input");
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        return cj_fail(err, e, "lseek input");
    }
    return fd;
}

/* The directory's contents for a request.  The warm interpreter has the
 * site directories on sys.path already, and compiled its wrappers without
 * them (cj_sandbox_warm_settings). */
static cj_execdir_spec dir_spec(const cj_sandbox_env *env, const cj_sandbox_spec *spec, int warm)
{
    return (cj_execdir_spec){
        .work_dir = env->work_dir, .wrapper = env->wrapper, .wrapper_len = env->wrapper_len,
        .zip_on_path = spec->zip_on_path, .zip = spec->zip, .zip_len = spec->zip_len,
        .uid = env->uid, .gid = env->gid, .exec_check = env->noexec_so != NULL,
        .sys_path_line = warm ? NULL : env->sys_path_line,
    };
}

/* Memory for the whole execution, all its processes and its tmp/ alike;
 * pids for the interpreter, what it forks, and the sandbox's init. */
static cj_cgroup_limits cgroup_limits(const cj_sandbox_limits *l, int namespaces)
{
    return (cj_cgroup_limits){.memory_bytes = l->vmem, .pids = l->nproc + (namespaces ? 1 : 0),
                              .cpu_quota_us = CJ_CPU_QUOTA_US};
}

/* What every kind has: its directory, its cgroup (at the background weight
 * while it waits), its streams, and the ends the sandbox gets (child: what
 * becomes its 0..4, then its request socket or -1). */
static int make(const cj_sandbox_spec *spec, int waiting, int warm, cj_sandbox **out, int child[CJ_SANDBOX_FDS + 1],
                cj_err *err)
{
    const cj_sandbox_env *env = spec->env;
    for (int i = 0; i <= CJ_SANDBOX_FDS; i++)
        child[i] = -1;
    cj_sandbox *sb = calloc(1, sizeof(*sb));
    if (sb == NULL)
        return cj_fail(err, ENOMEM, "allocate sandbox");
    sb->pid = -1;
    sb->warm = warm;
    sb->namespaces = warm || env->namespaces;
    sb->request_fd = -1;
    sb->log = env->log;
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        sb->fds[i] = -1;
    cj_execdir_spec ds = dir_spec(env, spec, warm);
    if (cj_execdir_create(&ds, sb->dir, err) < 0) {
        free(sb);
        return -1;
    }
    if (env->cgroup_pool != NULL) {
        cj_cgroup_limits lim = cgroup_limits(&spec->limits, sb->namespaces);
        sb->pool = env->cgroup_pool;
        if (cj_cgroup_pool_get(env->cgroup_pool, &lim, &sb->cgroup, err) < 0 ||
            cj_cgroup_set_background(sb->cgroup, waiting, err) < 0)
            goto fail;
        /* The execution's accounting starts here, for the kinds made ahead
         * too: RLIMIT_CPU counts a process's CPU time from its fork, so a
         * loop killed at CPU reports that much whatever the path, and what
         * a sandbox spent being made is what its execution cost the host.
         * A pooled cgroup's counters go on from its last execution. */
        cj_cgroup_usage_mark(sb->cgroup);
    }
    for (int i = 0; i < CJ_STREAM_COUNT; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            cj_fail(err, errno, "pipe");
            goto fail;
        }
        sb->fds[i] = p[0];
        child[CJ_FD_STDOUT + i] = p[1];
        if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
            cj_fail(err, errno, "fcntl O_NONBLOCK");
            goto fail;
        }
    }
    if (waiting) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
            cj_fail(err, errno, "socketpair");
            goto fail;
        }
        sb->request_fd = sv[0];
        child[CJ_FD_REQUEST] = sv[1];
        /* Empty until the request brings its own; a memfd, not the
         * service's /dev/null, whose path is not the sandbox's (a warm clone
         * runs Python on it: AppArmor refuses a disconnected path). */
        cj_sandbox_spec none = {.input = ""};
        if ((child[CJ_FD_STDIN] = make_input(&none, err)) < 0)
            goto fail;
    } else if ((child[CJ_FD_STDIN] = make_input(spec, err)) < 0) {
        goto fail;
    }
    *out = sb;
    return 0;
fail:
    for (int i = 0; i <= CJ_SANDBOX_FDS; i++)
        close_fd(&child[i]);
    cj_sandbox_destroy(sb);
    return -1;
}

/* The cold and prepared kinds: the interpreter, confined by the checklist
 * (confine.h), execs once it has its request. */
static int spawn(const cj_sandbox_spec *spec, cj_sandbox *sb, int waiting, const int child[CJ_SANDBOX_FDS + 1],
                 cj_err *err)
{
    const cj_sandbox_env *env = spec->env;
    cj_views *v = malloc(sizeof(*v));
    if (v == NULL)
        return cj_fail(err, ENOMEM, "allocate sandbox");
    int pyc = env->namespaces && env->wrapper_pyc[0] != NULL;
    const char *noexec = env->noexec_so == NULL ? NULL : env->namespaces ? CJ_INNER_NOEXEC : env->noexec_so;
    cj_layout_in li = {.host_dir = sb->dir, .namespaces = env->namespaces, .tmp_bytes = env->tmp_bytes,
                       .uid = env->uid, .gid = env->gid, .binds = env->binds, .noexec_so = noexec, .pyc = pyc};
    char envbuf[4 * PATH_MAX + 512], *envp[12];
    if (cj_layout_views(&li, v) < 0 || cj_layout_environ(v->inner_tmp, noexec, envbuf, sizeof(envbuf), envp, 12) < 0) {
        free(v);
        return cj_fail(err, E2BIG, "too many sandbox paths");
    }
    /* -S: site's start-up work is done once at service start (pysite.c);
     * the wrapper puts its directories on sys.path.  In namespaces the
     * compiled wrapper is in the root (mounts.c): the interpreter runs
     * that, not the source; compiled are the wrappers for no python_path
     * and for one entry, more entries (rare: python_lib.zip named again)
     * run the source. */
    char *argv[] = {(char *)env->python_bin, "-E", "-B",
                    pyc && spec->zip_on_path <= 1 ? (spec->zip_on_path ? CJ_INNER_PYC1 : CJ_INNER_PYC0)
                                                  : "jailed_code",
                    NULL, NULL};
    char *argv_zip[] = {(char *)env->python_bin, "-E", "-B", pyc ? CJ_INNER_PYC1 : "jailed_code", NULL, NULL};
    char *argv_src[] = {(char *)env->python_bin, "-E", "-B", "jailed_code", NULL, NULL};
    if (env->sys_path_line != NULL) {
        char **all[] = {argv, argv_zip, argv_src};
        for (int i = 0; i < 3; i++) {
            memmove(all[i] + 2, all[i] + 1, 4 * sizeof(char *));
            all[i][1] = "-S";
        }
    }
    cj_mount_plan mp = {
        .host_dir = sb->dir, .inner_dir = v->inner_dir, .inner_tmp = v->inner_tmp,
        .binds = env->binds, .links = env->links, .noexec_so = env->noexec_so, .tmp_options = v->tmp_opts,
        .pyc = {pyc ? env->wrapper_pyc[0] : NULL, pyc ? env->wrapper_pyc[1] : NULL},
        .pyc_len = {env->wrapper_pyc_len[0], env->wrapper_pyc_len[1]},
    };
    cj_landlock_spec ll = {.exec_paths = v->exec, .read_paths = v->read, .write_paths = v->write};
    const int *procs = NULL;
    size_t n_procs = sb->cgroup != NULL ? cj_cgroup_procs_fds(sb->cgroup, &procs) : 0;
    cj_spawn_args a = {
        .confine = {
            .exec = 1, .own_session = !env->namespaces,
            .cgroup_procs = procs, .n_cgroup_procs = n_procs, .cgroup_dir = -1,
            .mounts = env->namespaces ? &mp : NULL, .cwd = v->inner_dir,
            .limits = waiting ? NULL : &spec->limits, .nproc_rlimit = sb->cgroup == NULL,
            .uid = env->uid, .gid = env->gid,
            .apparmor_profile = env->apparmor_profile, .proc_fd = env->host_proc_fd,
            .landlock = env->landlock ? &ll : NULL, .seccomp = env->seccomp,
            .fds = {child[0], child[1], child[2], child[3], child[4]}, .fd_request = child[CJ_FD_REQUEST],
        },
        .path = env->python_bin, .argv = argv, .argv_zip = argv_zip, .argv_src = argv_src, .envp = envp,
        .cgroup_dirfd = sb->cgroup != NULL ? cj_cgroup_dirfd(sb->cgroup) : -1,
    };
    sb->pid = cj_spawn(&a, err);
    free(v);
    return sb->pid < 0 ? -1 : 0;
}

static void close_child(int child[CJ_SANDBOX_FDS + 1])
{
    /* Only the sandbox holds its ends now: EOF means it is gone. */
    for (int i = 0; i <= CJ_SANDBOX_FDS; i++)
        close_fd(&child[i]);
}

static int start(const cj_sandbox_spec *spec, int waiting, cj_sandbox **out, cj_err *err)
{
    cj_sandbox *sb;
    int child[CJ_SANDBOX_FDS + 1];
    if (make(spec, waiting, 0, &sb, child, err) < 0)
        return -1;
    int rc = spawn(spec, sb, waiting, child, err);
    close_child(child);
    if (rc < 0) {
        cj_sandbox_destroy(sb);
        return -1;
    }
    *out = sb;
    return 0;
}

int cj_sandbox_start(const cj_sandbox_spec *spec, cj_sandbox **out, cj_err *err)
{
    return start(spec, 0, out, err);
}

int cj_sandbox_prepare(const cj_sandbox_env *env, const cj_sandbox_limits *lim, cj_sandbox **out, cj_err *err)
{
    cj_sandbox_spec spec = {.env = env, .limits = *lim};
    return start(&spec, 1, out, err);
}

int cj_sandbox_warm_fork(const cj_sandbox_env *env, const cj_sandbox_limits *lim, int ctl, unsigned slot,
                         unsigned long long vm_base, cj_sandbox **out, cj_err *err)
{
    cj_sandbox_spec spec = {.env = env, .limits = *lim};
    cj_sandbox *sb;
    int child[CJ_SANDBOX_FDS + 1];
    if (make(&spec, 1, 1, &sb, child, err) < 0)
        return -1;
    sb->vm_base = vm_base > (unsigned long long)CJ_INTERPRETER_AS ? vm_base - (unsigned long long)CJ_INTERPRETER_AS : 0;
    struct cj_warm_fork m = {.slot = slot};
    int fds[CJ_WARM_MAX_FDS], n = 0;
    for (int i = 0; i < CJ_WARM_FORK_FDS; i++)
        fds[n++] = child[i];
    if (sb->cgroup != NULL) {
        const int *procs = NULL;
        size_t np = cj_cgroup_procs_fds(sb->cgroup, &procs);
        for (size_t k = 0; k < np && n < CJ_WARM_MAX_FDS - 1; k++, m.n_cgroup_procs++)
            fds[n++] = procs[k];
        if (cj_cgroup_dirfd(sb->cgroup) >= 0) {
            m.cgroup_v2 = 1;
            fds[n++] = cj_cgroup_dirfd(sb->cgroup);
        }
    }
    snprintf(m.dir, sizeof(m.dir), "%s", sb->dir);
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
    union {
        char buf[CMSG_SPACE(sizeof(int) * CJ_WARM_MAX_FDS)];
        struct cmsghdr align;
    } c;
    memset(&c, 0, sizeof(c));
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
    int rc = sendmsg(ctl, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? cj_fail(err, errno, "send to the warm interpreter")
                                                                 : 0;
    close_child(child);
    if (rc < 0) {
        cj_sandbox_destroy(sb);
        return -1;
    }
    *out = sb;
    return 0;
}

int cj_sandbox_warm_reply(const void *buf, unsigned *slot, int *value)
{
    struct cj_warm_reply r;
    memcpy(&r, buf, sizeof(r));
    if (r.kind != CJ_WARM_UP && r.kind != CJ_WARM_PID && r.kind != CJ_WARM_ERROR)
        return 0;
    *slot = r.slot;
    *value = r.value;
    return r.kind;
}

void cj_sandbox_warm_started(cj_sandbox *sb, pid_t pid)
{
    sb->pid = pid;
}

int cj_sandbox_hand_over(cj_sandbox *sb, const cj_sandbox_spec *spec, cj_err *err)
{
    const cj_sandbox_env *env = spec->env;
    int in = -1, rc = -1;
    if (sb->request_fd < 0)
        return cj_fail(err, EINVAL, "not a waiting sandbox");
    if (spec->zip != NULL || spec->zip_on_path) {
        cj_execdir_spec ds = dir_spec(env, spec, sb->warm);
        if (cj_execdir_rewrite(sb->dir, &ds, err) < 0)
            goto out;
    }
    if (sb->cgroup != NULL) {
        cj_cgroup_limits lim = cgroup_limits(&spec->limits, sb->namespaces);
        if (cj_cgroup_set_limits(sb->cgroup, &lim, err) < 0 || cj_cgroup_set_background(sb->cgroup, 0, err) < 0)
            goto out;
    }
    if ((in = make_input(spec, err)) < 0)
        goto out;
    long long vmem = spec->limits.vmem > 0 ? spec->limits.vmem + (long long)sb->vm_base : 0;
    struct cj_request_msg m = {.cpu = spec->limits.cpu, .vmem = vmem, .fsize = spec->limits.fsize,
                               .nproc = spec->limits.nproc, .nproc_rlimit = sb->cgroup == NULL,
                               .zip_on_path = spec->zip_on_path};
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } c;
    memset(&c, 0, sizeof(c));
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &in, sizeof(in));
    /* A sandbox that died while waiting gives EPIPE or ECONNREFUSED here,
     * not a hang: the message is queued, never waited for. */
    if (sendmsg(sb->request_fd, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(m)) {
        cj_fail(err, errno ? errno : EIO, "send the request to the waiting sandbox");
        goto out;
    }
    rc = 0;
out:
    close_fd(&in);
    close_fd(&sb->request_fd);
    return rc;
}

void cj_sandbox_read_usage(const cj_sandbox *sb, cj_sandbox_usage *out)
{
    cj_cgroup_usage u = {-1, -1, -1};
    if (sb->cgroup != NULL)
        cj_cgroup_usage_read(sb->cgroup, &u);
    *out = (cj_sandbox_usage){.cpu_ns = u.cpu_ns, .peak_bytes = u.peak_bytes, .oom_kills = u.oom_kills};
}

int cj_sandbox_take_fd(cj_sandbox *sb, enum cj_sandbox_stream s)
{
    int fd = sb->fds[s];
    sb->fds[s] = -1;
    return fd;
}

void cj_sandbox_kill(cj_sandbox *sb)
{
    if (sb->pid <= 0)
        return;
    if (sb->namespaces || sb->warm) {
        /* The pid namespace's init: its death kills every process in it. */
        if (!sb->exited)
            kill(sb->pid, SIGKILL);
    } else {
        /* The process group (setsid made its pgid its pid).  The group
         * outlives the main process while stragglers remain, and Linux does
         * not reuse a pid still in use as a pgid. */
        kill(-sb->pid, SIGKILL);
        if (!sb->exited)
            kill(sb->pid, SIGKILL); /* before setsid ran, the group does not exist */
    }
    /* And whatever the cgroup still holds, however it got out of the above;
     * not waited for: the pool reuses it only once it is empty. */
    if (sb->cgroup != NULL)
        cj_cgroup_kill_nowait(sb->cgroup);
}

static int decode_status(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return -WTERMSIG(st);
    return -1;
}

int cj_sandbox_reap(cj_sandbox *sb, int *status, cj_err *err)
{
    if (sb->warm)
        return 0; /* the warm interpreter reaps it and reports on the setup stream */
    if (sb->exited) {
        *status = sb->status;
        return 1;
    }
    int st;
    pid_t r = waitpid(sb->pid, &st, WNOHANG);
    if (r < 0)
        return cj_fail(err, errno, "waitpid %d", (int)sb->pid);
    if (r == 0)
        return 0;
    sb->exited = 1;
    sb->status = decode_status(st);
    /* Nothing the execution started may outlive it. */
    cj_sandbox_kill(sb);
    *status = sb->status;
    return 1;
}

int cj_sandbox_outcome(const void *records, size_t len, int *status, char *why, size_t whylen)
{
    const char *p = records;
    int seen_status = 0;
    for (size_t off = 0; off + sizeof(struct cj_sandbox_record) <= len; off += sizeof(struct cj_sandbox_record)) {
        struct cj_sandbox_record r;
        memcpy(&r, p + off, sizeof(r));
        r.detail[sizeof(r.detail) - 1] = '\0';
        if (r.kind == CJ_RECORD_FAILURE) {
            snprintf(why, whylen, "sandbox set-up failed at step '%s'%s%s: %s", cj_setup_step_name(r.step),
                     r.detail[0] ? " " : "", r.detail, strerror(r.value));
            return -1;
        }
        /* The first status is the interpreter's own; on the warm path the
         * zygote's report of how the clone ended may follow it. */
        if (r.kind == CJ_RECORD_STATUS && !seen_status) {
            *status = decode_status(r.value);
            seen_status = 1;
        }
    }
    return seen_status ? 1 : 0;
}

const char *cj_sandbox_failed_step(const void *records, size_t len)
{
    for (size_t off = 0; off + sizeof(struct cj_sandbox_record) <= len; off += sizeof(struct cj_sandbox_record)) {
        struct cj_sandbox_record r;
        memcpy(&r, (const char *)records + off, sizeof(r));
        if (r.kind == CJ_RECORD_FAILURE)
            return cj_setup_step_name(r.step);
    }
    return NULL;
}

void cj_sandbox_destroy(cj_sandbox *sb)
{
    if (sb == NULL)
        return;
    if (sb->warm) {
        if (sb->pid > 0)
            cj_sandbox_kill(sb);
        else if (sb->cgroup != NULL)
            cj_cgroup_kill_nowait(sb->cgroup);
    } else if (sb->pid > 0) {
        cj_sandbox_kill(sb);
        if (!sb->exited) {
            int st;
            while (waitpid(sb->pid, &st, 0) < 0 && errno == EINTR)
                ;
        }
    }
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        close_fd(&sb->fds[i]);
    close_fd(&sb->request_fd);
    cj_err e = {0};
    if (sb->cgroup != NULL)
        cj_cgroup_pool_put(sb->pool, sb->cgroup);
    if (sb->dir[0] != '\0' && cj_execdir_remove(sb->dir, &e) < 0)
        cj_log(sb->log, CJ_LOG_ERROR, "%s", e.msg);
    free(sb);
}

pid_t cj_sandbox_detach(cj_sandbox *sb)
{
    if (sb->warm || sb->pid <= 0 || sb->exited)
        return 0;
    cj_sandbox_kill(sb);
    int st;
    pid_t r = waitpid(sb->pid, &st, WNOHANG);
    sb->exited = 1; /* destroy must not wait for it */
    return r == 0 ? sb->pid : 0;
}

int cj_sandbox_reports_status(const cj_sandbox *sb)
{
    return sb->warm || sb->namespaces;
}

int cj_sandbox_is_warm(const cj_sandbox *sb)
{
    return sb->warm;
}

int cj_sandbox_settled(const cj_sandbox *sb)
{
    struct pollfd p = {.fd = sb->fds[CJ_STREAM_SETUP], .events = POLLIN};
    return p.fd >= 0 && poll(&p, 1, 0) == 1;
}

int cj_sandbox_failure(cj_sandbox *sb, char *why, size_t len)
{
    char buf[CJ_RECORDS_MAX];
    int fd = sb->fds[CJ_STREAM_SETUP];
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf)); /* non-blocking */
    int status = 0;
    if (n > 0 && cj_sandbox_outcome(buf, (size_t)n, &status, why, len) < 0)
        return 1;
    snprintf(why, len, "it ended before its request (no report)");
    return 0;
}
