#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "execdir.h"
#include "spawn.h"

struct cj_sandbox {
    pid_t pid;
    int exited;
    int status;
    int fds[CJ_STREAM_COUNT];
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

int cj_sandbox_start(const cj_sandbox_spec *spec, cj_sandbox **out, cj_err *err)
{
    const cj_sandbox_env *env = spec->env;
    cj_sandbox *sb = calloc(1, sizeof(*sb));
    if (sb == NULL)
        return cj_fail(err, ENOMEM, "allocate sandbox");
    sb->pid = -1;
    int wr[CJ_STREAM_COUNT], in_fd = -1;
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        sb->fds[i] = wr[i] = -1;

    cj_execdir_spec ds = {
        .work_dir = env->work_dir, .wrapper = env->wrapper, .wrapper_len = env->wrapper_len,
        .zip_on_path = spec->zip_on_path, .zip = spec->zip, .zip_len = spec->zip_len,
        .uid = env->uid, .gid = env->gid,
    };
    if (cj_execdir_create(&ds, sb->dir, err) < 0) {
        free(sb);
        return -1;
    }
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
    if ((in_fd = make_input(spec->input, spec->input_len, err)) < 0)
        goto fail;

    char tmpdir[PATH_MAX + 16];
    snprintf(tmpdir, sizeof(tmpdir), "TMPDIR=%s/tmp", sb->dir);
    char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", tmpdir, "OPENBLAS_NUM_THREADS=1",
                    "LANG=C.UTF-8", NULL};
    char *argv[] = {(char *)env->python_bin, "-E", "-B", "jailed_code", NULL};
    cj_spawn_args a = {
        .dir = sb->dir, .path = env->python_bin, .argv = argv, .envp = envp,
        .fd_stdin = in_fd, .fd_stdout = wr[CJ_STREAM_STDOUT], .fd_stderr = wr[CJ_STREAM_STDERR],
        .fd_result = wr[CJ_STREAM_RESULT], .fd_setup = wr[CJ_STREAM_SETUP],
        .limits = spec->limits, .uid = env->uid, .gid = env->gid,
    };
    sb->pid = cj_spawn(&a, err);
    if (sb->pid < 0)
        goto fail;
    /* Only the child holds the write ends now: EOF means it (and every
     * process it left) is gone. */
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        close_fd(&wr[i]);
    close_fd(&in_fd);
    *out = sb;
    return 0;
fail:
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        close_fd(&wr[i]);
    close_fd(&in_fd);
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
    /* The process group: setsid() in the child made its pgid its pid. The
     * group outlives the main process while stragglers remain, and Linux does
     * not reuse a pid still in use as a pgid. */
    kill(-sb->pid, SIGKILL);
    if (!sb->exited)
        kill(sb->pid, SIGKILL); /* before setsid ran, the group does not exist yet */
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
    kill(-sb->pid, SIGKILL);
    *status = sb->status;
    return 1;
}

void cj_sandbox_destroy(cj_sandbox *sb)
{
    if (sb == NULL)
        return;
    if (sb->pid > 0) {
        cj_sandbox_kill(sb);
        if (!sb->exited) {
            int st;
            while (waitpid(sb->pid, &st, 0) < 0 && errno == EINTR)
                ;
        }
    }
    for (int i = 0; i < CJ_STREAM_COUNT; i++)
        close_fd(&sb->fds[i]);
    if (sb->dir[0] != '\0') {
        cj_err e = {0};
        if (cj_execdir_remove(sb->dir, &e) < 0)
            fprintf(stderr, "codejail-server: %s\n", e.msg);
    }
    free(sb);
}
