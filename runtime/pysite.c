#include "pysite.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* (The empty entry -c puts first would come back from site.main() as the
 * current directory: it is dropped before.)
 *
 * Asks the interpreter, once, which directories its site module adds (with
 * the .pth files it reads) so the sandbox can run with -S and still import
 * from site-packages: site's own start-up (.pth processing, sitecustomize)
 * costs several milliseconds per execution. */
static const char PROBE[] =
    "import sys\nsys.path = [p for p in sys.path if p]\nbase = list(sys.path)\nimport site\nsite.main()\n"
    "print(repr([p for p in sys.path if p not in base and p]))\n";

int cj_python_site_dirs(const char *python_bin, char **out, cj_err *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return cj_fail(err, errno, "pipe");
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return cj_fail(err, e, "fork");
    }
    if (pid == 0) {
        dup2(p[1], 1);
        /* -s: the sandbox's user has no user site; -S then site.main() by hand. */
        execl(python_bin, python_bin, "-E", "-s", "-S", "-c", PROBE, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char buf[16384];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(p[0], buf + n, sizeof(buf) - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == sizeof(buf) - 1)
            break;
    }
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    buf[n] = '\0';
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return cj_fail(err, 0, "python_bin %s: asking it for its site directories failed (status %d)",
                       python_bin, WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
    /* One Python list literal on one line: it is pasted into the wrapper. */
    if (n < 2 || buf[0] != '[' || buf[n - 1] != ']' || strchr(buf, '\n') != NULL)
        return cj_fail(err, 0, "python_bin %s: unexpected site directories: %.200s", python_bin, buf);
    *out = strdup(buf);
    return *out == NULL ? cj_fail(err, ENOMEM, "site directories") : 0;
}

/* A pyc run as a script is checked for its magic number only (the rest of
 * the header is for import's freshness checks). */
static const char COMPILER[] =
    "import sys, marshal\nfrom importlib._bootstrap_external import MAGIC_NUMBER\n"
    "code = compile(sys.stdin.buffer.read(), sys.argv[1], 'exec', dont_inherit=True)\n"
    "sys.stdout.buffer.write(MAGIC_NUMBER + bytes(12) + marshal.dumps(code))\n";

int cj_python_compile(const char *python_bin, const char *src, size_t len, const char *filename, char **out,
                      size_t *out_len, cj_err *err)
{
    int in = memfd_create("codejail-wrapper", MFD_CLOEXEC), p[2] = {-1, -1};
    if (in < 0)
        return cj_fail(err, errno, "memfd");
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(in, src + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(in);
            return cj_fail(err, errno, "memfd write");
        }
        done += (size_t)w;
    }
    if (lseek(in, 0, SEEK_SET) < 0 || pipe2(p, O_CLOEXEC) < 0) {
        int e = errno;
        close(in);
        return cj_fail(err, e, "pipe");
    }
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(in);
        close(p[0]);
        close(p[1]);
        return cj_fail(err, e, "fork");
    }
    if (pid == 0) {
        dup2(in, 0);
        dup2(p[1], 1);
        execl(python_bin, python_bin, "-E", "-s", "-S", "-B", "-c", COMPILER, filename, (char *)NULL);
        _exit(127);
    }
    close(in);
    close(p[1]);
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (buf != NULL && n == cap) {
            char *g = cap < (16u << 20) ? realloc(buf, cap * 2) : NULL;
            if (g == NULL) {
                free(buf);
                buf = NULL;
            } else {
                buf = g;
                cap *= 2;
            }
        }
        if (buf == NULL) {
            char sink[4096];
            if (read(p[0], sink, sizeof(sink)) <= 0 && errno != EINTR)
                break;
            continue;
        }
        ssize_t r = read(p[0], buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(p[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (buf == NULL)
        return cj_fail(err, ENOMEM, "python_bin %s: compiled wrapper", python_bin);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || n <= 16) {
        free(buf);
        return cj_fail(err, 0, "python_bin %s: compiling the wrapper failed (status %d)", python_bin,
                       WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st));
    }
    *out = buf;
    *out_len = n;
    return 0;
}
