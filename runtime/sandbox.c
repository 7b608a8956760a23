#include "sandbox.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "execdir.h"
#include "cj_spawn.h"

#define CJ_MAX_PATHS 48
/* Where Debian keeps matplotlib's own copy of /etc/matplotlibrc. */
#define CJ_MATPLOTLIBRC "/usr/share/matplotlib/mpl-data"

struct cj_sandbox {
    pid_t pid;
    int exited;
    int status;
    int namespaces;
    int warm;      /* a clone of the warm interpreter: not our child, never reaped here */
    int stdin_fd;  /* warm: where the request is written when it comes */
    int go_fd;     /* prepared: where the request is sent when it comes */
    int fds[CJ_STREAM_COUNT];
    cj_cgroup *cgroup;
    cj_cgroup_pool *pool;
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
 * for the sandbox to read it, and nothing touches the filesystem. */
static int make_input(const char *data, size_t len, cj_err *err)
{
    int fd = memfd_create("codejail-input", MFD_CLOEXEC);
    if (fd < 0)
        return cj_fail(err, errno, "memfd_create");
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return cj_fail(err, e, "write input");
        }
        off += (size_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) < 0) {
        int e = errno;
        close(fd);
        return cj_fail(err, e, "lseek input");
    }
    return fd;
}

/* Paths as the interpreter will see them, for Landlock. */
struct views {
    char inner_dir[PATH_MAX], inner_tmp[PATH_MAX + 8], tmp_opts[128];
    const char *exec[CJ_MAX_PATHS], *read[CJ_MAX_PATHS], *write[8];
};

static int plan_views(const cj_sandbox_env *env, const char *host_dir, struct views *v)
{
    const char *base = strrchr(host_dir, '/') + 1;
    if (env->namespaces)
        snprintf(v->inner_dir, sizeof(v->inner_dir), "/tmp/%s", base);
    else
        snprintf(v->inner_dir, sizeof(v->inner_dir), "%s", host_dir);
    snprintf(v->inner_tmp, sizeof(v->inner_tmp), "%s/tmp", v->inner_dir);
    snprintf(v->tmp_opts, sizeof(v->tmp_opts), "size=%lld,nr_inodes=4096,mode=0700,uid=%u,gid=%u",
             env->tmp_bytes, (unsigned)env->uid, (unsigned)env->gid);
    size_t ne = 0, nr = 0, nw = 0;
    for (size_t i = 0; env->binds != NULL && env->binds[i] != NULL; i++) {
        if (ne + 1 >= CJ_MAX_PATHS)
            return -1;
        v->exec[ne++] = env->binds[i];
    }
    v->read[nr++] = v->inner_dir;
    v->read[nr++] = "/dev/zero";
    v->read[nr++] = "/dev/urandom";
    v->read[nr++] = "/dev/random";
    if (env->noexec_so != NULL)
        v->read[nr++] = env->namespaces ? CJ_INNER_NOEXEC : env->noexec_so;
    if (env->namespaces && env->wrapper_pyc[0] != NULL) {
        v->read[nr++] = CJ_INNER_PYC0;
        v->read[nr++] = CJ_INNER_PYC1;
    }
    v->write[nw++] = v->inner_tmp;
    v->write[nw++] = "/dev/null";
    v->exec[ne] = v->read[nr] = v->write[nw] = NULL;
    return 0;
}

static int make_cgroup(const cj_sandbox_env *env, const cj_sandbox_spec *spec, cj_sandbox *sb, cj_err *err)
{
    if (env->cgroup_pool == NULL)
        return 0;
    /* Memory for the whole execution, all its processes and its tmp/ alike;
     * pids for the interpreter, what it forks, and the sandbox's init; one
     * CPU, so threads cannot take the host. */
    cj_cgroup_limits lim = {
        .memory_bytes = spec->limits.vmem,
        .pids = spec->limits.nproc + (env->namespaces ? 1 : 0),
        .cpu_quota_us = 100000,
    };
    sb->pool = env->cgroup_pool;
    return cj_cgroup_pool_get(env->cgroup_pool, &lim, &sb->cgroup, err);
}

static int launch(const cj_sandbox_spec *spec, int prepared, cj_sandbox **out, cj_err *err);

int cj_sandbox_start(const cj_sandbox_spec *spec, cj_sandbox **out, cj_err *err)
{
    return launch(spec, 0, out, err);
}

int cj_sandbox_prepare(const cj_sandbox_env *env, const cj_sandbox_limits *lim, cj_sandbox **out, cj_err *err)
{
    cj_sandbox_spec spec = {.env = env, .limits = *lim};
    return launch(&spec, 1, out, err);
}

int cj_sandbox_go(cj_sandbox *sb, const cj_sandbox_spec *spec, cj_err *err)
{
    const cj_sandbox_env *env = spec->env;
    int in = -1, rc = -1;
    if (sb->go_fd < 0)
        return cj_fail(err, EINVAL, "not a prepared sandbox");
    if (spec->zip != NULL || spec->zip_on_path) {
        cj_execdir_spec ds = {.wrapper = env->wrapper, .wrapper_len = env->wrapper_len,
                              .exec_check = env->noexec_so != NULL, .zip_on_path = spec->zip_on_path,
                              .zip = spec->zip, .zip_len = spec->zip_len, .sys_path_line = env->sys_path_line};
        if (cj_execdir_rewrite(sb->dir, &ds, err) < 0)
            goto out;
    }
    if (sb->cgroup != NULL) {
        cj_cgroup_limits lim = {.memory_bytes = spec->limits.vmem,
                                .pids = spec->limits.nproc + (sb->namespaces ? 1 : 0), .cpu_quota_us = 100000};
        if (cj_cgroup_set_limits(sb->cgroup, &lim, err) < 0 || cj_cgroup_set_background(sb->cgroup, 0, err) < 0)
            goto out;
    }
    if ((in = make_input(spec->input, spec->input_len, err)) < 0)
        goto out;
    struct cj_go_msg m = {.cpu = spec->limits.cpu, .vmem = spec->limits.vmem, .fsize = spec->limits.fsize,
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
    /* A sandbox that died while waiting gives EPIPE or ECONNREFUSED here. */
    if (sendmsg(sb->go_fd, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(m)) {
        cj_fail(err, errno ? errno : EIO, "send the request to the prepared sandbox");
        goto out;
    }
    rc = 0;
out:
    close_fd(&in);
    close_fd(&sb->go_fd);
    return rc;
}

static int launch(const cj_sandbox_spec *spec, int prepared, cj_sandbox **out, cj_err *err)
{
    const cj_sandbox_env *env = spec->env;
    cj_sandbox *sb = calloc(1, sizeof(*sb));
    struct views *v = calloc(1, sizeof(*v));
    if (sb == NULL || v == NULL) {
        free(sb);
        free(v);
        return cj_fail(err, ENOMEM, "allocate sandbox");
    }
    sb->pid = -1;
    sb->namespaces = env->namespaces;
    sb->stdin_fd = sb->go_fd = -1;
    int wr[CJ_STREAM_COUNT], in_fd = -1, go_child = -1;
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        sb->fds[i] = wr[i] = -1;

    cj_execdir_spec ds = {
        .work_dir = env->work_dir, .wrapper = env->wrapper, .wrapper_len = env->wrapper_len,
        .zip_on_path = spec->zip_on_path, .zip = spec->zip, .zip_len = spec->zip_len,
        .uid = env->uid, .gid = env->gid, .exec_check = env->noexec_so != NULL,
        .sys_path_line = env->sys_path_line,
    };
    if (cj_execdir_create(&ds, sb->dir, err) < 0) {
        free(sb);
        free(v);
        return -1;
    }
    if (plan_views(env, sb->dir, v) < 0) {
        cj_fail(err, E2BIG, "too many sandbox paths");
        goto fail;
    }
    if (make_cgroup(env, spec, sb, err) < 0 || cj_cgroup_set_background(sb->cgroup, prepared, err) < 0)
        goto fail;
    for (int i = 0; i < CJ_STREAM_COUNT; i++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0) {
            cj_fail(err, errno, "pipe");
            goto fail;
        }
        sb->fds[i] = p[0];
        wr[i] = p[1];
        if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
            cj_fail(err, errno, "fcntl O_NONBLOCK");
            goto fail;
        }
    }
    if (prepared) {
        /* stdin comes with the request; until then, nothing. */
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
            cj_fail(err, errno, "socketpair");
            goto fail;
        }
        sb->go_fd = sv[0];
        go_child = sv[1];
        if ((in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
            cj_fail(err, errno, "/dev/null");
            goto fail;
        }
    } else if ((in_fd = make_input(spec->input, spec->input_len, err)) < 0) {
        goto fail;
    }

    char tmpdir[PATH_MAX + 16], home[PATH_MAX + 16], mplconfig[PATH_MAX + 48], preload[PATH_MAX + 16];
    snprintf(tmpdir, sizeof(tmpdir), "TMPDIR=%s", v->inner_tmp);
    /* A home of its own in tmp/, as codejail's sudo gives one: pathlib and
     * matplotlib refuse to start without; matplotlib keeps its cache there.
     * Debian's matplotlib reads its defaults from /etc/matplotlibrc, which
     * the root does not hold: MATPLOTLIBRC names the same file under /usr
     * (a matplotlib that lacks it there looks in its own data, as before). */
    snprintf(home, sizeof(home), "HOME=%s", v->inner_tmp);
    snprintf(mplconfig, sizeof(mplconfig), "MPLCONFIGDIR=%s/.matplotlib", v->inner_tmp);
    snprintf(preload, sizeof(preload), "LD_PRELOAD=%s",
             env->noexec_so == NULL ? "" : env->namespaces ? CJ_INNER_NOEXEC : env->noexec_so);
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", tmpdir, home, mplconfig, "MATPLOTLIBRC=" CJ_MATPLOTLIBRC,
                    "OPENBLAS_NUM_THREADS=1",
                    "LANG=C.UTF-8", env->noexec_so != NULL ? preload : NULL, NULL};
    /* -S: site's start-up work is done once at service start (pysite.c);
     * the wrapper puts its directories on sys.path. */
    /* In namespaces the init writes the compiled wrapper into the root
     * (mounts.c): the interpreter runs that, not the source. */
    /* Compiled are the wrappers for no python_path and for one entry; more
     * entries (rare: python_lib.zip named again) run the source. */
    int pyc = env->namespaces && env->wrapper_pyc[0] != NULL;
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
    const int *cg_fds = NULL;
    size_t n_cg_fds = sb->cgroup != NULL ? cj_cgroup_procs_fds(sb->cgroup, &cg_fds) : 0;
    cj_spawn_args a = {
        .cwd = v->inner_dir, .path = env->python_bin, .argv = argv, .argv_zip = argv_zip, .argv_src = argv_src,
        .envp = envp,
        .fd_stdin = in_fd, .fd_stdout = wr[CJ_STREAM_STDOUT], .fd_stderr = wr[CJ_STREAM_STDERR],
        .fd_result = wr[CJ_STREAM_RESULT], .fd_setup = wr[CJ_STREAM_SETUP], .fd_go = go_child,
        .limits = spec->limits, .nproc_rlimit = sb->cgroup == NULL, .uid = env->uid, .gid = env->gid,
        .mounts = env->namespaces ? &mp : NULL,
        .landlock = env->landlock ? &ll : NULL,
        .seccomp = env->seccomp,
        .apparmor_profile = env->apparmor_profile, .proc_fd = env->host_proc_fd,
        .cgroup_dirfd = sb->cgroup != NULL ? cj_cgroup_dirfd(sb->cgroup) : -1,
        .cgroup_fds = cg_fds, .n_cgroup_fds = n_cg_fds,
    };
    sb->pid = cj_spawn(&a, err);
    if (sb->pid < 0)
        goto fail;
    /* Only the children hold the write ends now: EOF means they are gone. */
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        close_fd(&wr[i]);
    close_fd(&in_fd);
    close_fd(&go_child);
    free(v);
    *out = sb;
    return 0;
fail:
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        close_fd(&wr[i]);
    close_fd(&in_fd);
    close_fd(&go_child);
    free(v);
    cj_sandbox_destroy(sb);
    return -1;
}

int cj_sandbox_fd(const cj_sandbox *sb, enum cj_sandbox_stream s)
{
    return sb->fds[s];
}

int cj_sandbox_take_fd(cj_sandbox *sb, enum cj_sandbox_stream s)
{
    int fd = sb->fds[s];
    sb->fds[s] = -1;
    return fd;
}

pid_t cj_sandbox_pid(const cj_sandbox *sb)
{
    return sb->pid;
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

void cj_sandbox_destroy(cj_sandbox *sb)
{
    if (sb == NULL)
        return;
    if (sb->warm) {
        if (sb->pid > 0)
            cj_sandbox_kill(sb);
        else if (sb->cgroup != NULL)
            cj_cgroup_kill_nowait(sb->cgroup);
        if (sb->stdin_fd >= 0)
            close(sb->stdin_fd);
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
    close_fd(&sb->go_fd);
    cj_err e = {0};
    if (sb->cgroup != NULL)
        cj_cgroup_pool_put(sb->pool, sb->cgroup);
    if (sb->dir[0] != '\0' && cj_execdir_remove(sb->dir, &e) < 0)
        fprintf(stderr, "codejail-server: %s\n", e.msg);
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

int cj_sandbox_warm_prepare(const cj_sandbox_env *env, const cj_sandbox_limits *lim, cj_sandbox **out,
                            int child_fds[5], cj_err *err)
{
    cj_sandbox *sb = calloc(1, sizeof(*sb));
    if (sb == NULL)
        return cj_fail(err, ENOMEM, "allocate sandbox");
    sb->pid = -1;
    sb->warm = 1;
    sb->namespaces = 1;
    sb->stdin_fd = sb->go_fd = -1;
    for (int i = 0; i < 5; i++)
        child_fds[i] = -1;
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        sb->fds[i] = -1;
    cj_execdir_spec ds = {.work_dir = env->work_dir, .wrapper = env->wrapper, .wrapper_len = env->wrapper_len,
                          .uid = env->uid, .gid = env->gid, .exec_check = env->noexec_so != NULL};
    if (cj_execdir_create(&ds, sb->dir, err) < 0) {
        free(sb);
        return -1;
    }
    cj_sandbox_spec spec = {.env = env, .limits = *lim};
    if (make_cgroup(env, &spec, sb, err) < 0 || cj_cgroup_set_background(sb->cgroup, 1, err) < 0)
        goto fail;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        cj_fail(err, errno, "pipe");
        goto fail;
    }
    child_fds[0] = p[0];
    sb->stdin_fd = p[1];
    for (int i = 0; i < CJ_STREAM_COUNT; i++) {
        if (pipe2(p, O_CLOEXEC) < 0) {
            cj_fail(err, errno, "pipe");
            goto fail;
        }
        sb->fds[i] = p[0];
        child_fds[1 + i] = p[1];
        if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0) {
            cj_fail(err, errno, "fcntl O_NONBLOCK");
            goto fail;
        }
    }
    *out = sb;
    return 0;
fail:
    for (int i = 0; i < 5; i++)
        close_fd(&child_fds[i]);
    cj_sandbox_destroy(sb);
    return -1;
}

const char *cj_sandbox_dir(const cj_sandbox *sb)
{
    return sb->dir;
}

int cj_sandbox_cgroup_fds(const cj_sandbox *sb, int *dirfd, const int **procs, size_t *n)
{
    *dirfd = -1;
    *procs = NULL;
    *n = 0;
    if (sb->cgroup == NULL)
        return 0;
    *dirfd = cj_cgroup_dirfd(sb->cgroup);
    *n = cj_cgroup_procs_fds(sb->cgroup, procs);
    return 1;
}

void cj_sandbox_warm_started(cj_sandbox *sb, pid_t pid)
{
    sb->pid = pid;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int cj_sandbox_warm_dispatch(cj_sandbox *sb, const cj_sandbox_spec *spec, cj_err *err)
{
    const cj_sandbox_env *env = spec->env;
    if (spec->zip != NULL || spec->zip_on_path) {
        cj_execdir_spec ds = {.wrapper = env->wrapper, .wrapper_len = env->wrapper_len,
                              .exec_check = env->noexec_so != NULL, .zip_on_path = spec->zip_on_path,
                              .zip = spec->zip, .zip_len = spec->zip_len};
        if (cj_execdir_rewrite(sb->dir, &ds, err) < 0)
            return -1;
    }
    if (sb->cgroup != NULL) {
        cj_cgroup_limits lim = {.memory_bytes = spec->limits.vmem, .pids = spec->limits.nproc + 1,
                                .cpu_quota_us = 100000};
        if (cj_cgroup_set_limits(sb->cgroup, &lim, err) < 0 || cj_cgroup_set_background(sb->cgroup, 0, err) < 0)
            return -1;
    }
    /* The clone is blocked reading this, so the write completes as fast as
     * it copies; a clone that died instead gives EPIPE, not a hang. */
    char head[128];
    int n = snprintf(head, sizeof(head), "%lld %lld %lld %lld %d\n", spec->limits.cpu, spec->limits.vmem,
                     spec->limits.fsize, spec->limits.nproc, sb->cgroup == NULL);
    int rc = write_all(sb->stdin_fd, head, (size_t)n) < 0 || write_all(sb->stdin_fd, spec->input, spec->input_len) < 0
                 ? cj_fail(err, errno, "write the request to the warm sandbox")
                 : 0;
    close(sb->stdin_fd);
    sb->stdin_fd = -1;
    return rc;
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
