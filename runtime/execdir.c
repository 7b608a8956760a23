#include "execdir.h"

#include "files.h"
#include "log.h"
#include "logfield.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files are root-owned and read-only to the sandbox: it may read its code and
 * its library, never rewrite them. */
static int open_new(int dirfd, const char *name, cj_err *err)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return cj_fail(err, errno, "create %s", name);
    return fd;
}

static int finish_file(int fd, int write_failed, const char *name, cj_err *err)
{
    int e = errno;
    if (write_failed) {
        close(fd);
        return cj_fail(err, e, "write %s", name);
    }
    if (close(fd) < 0)
        return cj_fail(err, errno, "close %s", name);
    return 0;
}

/* The exec check runs before any user code: when the noexec library did not
 * load (ld.so only warns and goes on), exec would be allowed, so the
 * interpreter stops instead.  With the block in place exec of a missing path is EACCES;
 * without it, ENOENT.  Through posix, loaded at every start: importing os
 * would cost the interpreter started without site half a millisecond. */
static const char EXEC_CHECK[] =
    "exec(\"try:\\n __import__('posix').execv('/.codejail-none', ['x'])\\nexcept PermissionError: pass\\n"
    "except OSError:\\n sys.stderr.write('codejail: exec is not blocked in this sandbox\\\\n')"
    "\\n __import__('posix')._exit(126)\")";

/* The template's tail from this line on is not the wrapper's: it is the
 * bytecode part (jailed_code.py says why), run from the #@BYTECODE@ mark
 * when a frame came before the request. */
static const char BYTECODE_PART[] = "\n#@BYTECODE_PART@\n";

/* "; exec('...') if <a frame came> else None" of text, on one line: the
 * wrapper's line numbers must not move.  NULL when out of memory. */
static char *bytecode_line(const char *text, size_t len)
{
    static const char HEAD[] = "; exec('", TAIL[] = "') if _raw[:5] == b'\\0CJZ:' else None";
    char *line = malloc(sizeof(HEAD) + 4 * len + sizeof(TAIL)), *o = line;
    if (line == NULL)
        return NULL;
    o += sprintf(o, "%s", HEAD);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\\' || c == '\'')
            o += sprintf(o, "\\%c", c);
        else if (c == '\n')
            o += sprintf(o, "\\n");
        else if (c < 0x20 || c >= 0x7f)
            o += sprintf(o, "\\x%02x", c);
        else
            *o++ = (char)c;
    }
    strcpy(o, TAIL);
    return line;
}

/* Replaces each mark, in template order, by text of one line, so that
 * exec() is on the line the codejail library's wrapper has it; but the
 * library adds a sys.path.append line per python_path entry before it, and
 * so does PYTHON_PATH (after a `pass` that keeps its own line). */
static int write_zip(int dirfd, const void *zip, size_t len, cj_err *err);

int cj_execdir_render(const cj_execdir_spec *s, char **out, size_t *out_len, cj_err *err)
{
    static const char APPEND[] = "\nsys.path.append('python_lib.zip')";
    enum { N_MARKS = 4 };
    const char *markers[N_MARKS] = {"#@SYS_PATH@", "#@BYTECODE@", "#@EXEC_CHECK@", "#@PYTHON_PATH@"};
    const char *lines[N_MARKS] = {s->sys_path_line != NULL ? s->sys_path_line : "pass", NULL,
                                  s->exec_check ? EXEC_CHECK : "pass", NULL};
    size_t n_paths = s->zip_on_path > 0 ? (size_t)s->zip_on_path : 0;
    if (n_paths > CJ_EXECDIR_MAX_PATHS)
        return cj_fail(err, E2BIG, "python_path has %zu entries", n_paths);
    const char *end = s->wrapper + s->wrapper_len;
    const char *part = memmem(s->wrapper, s->wrapper_len, BYTECODE_PART, sizeof(BYTECODE_PART) - 1);
    if (part == NULL)
        return cj_fail(err, 0, "the jailed_code template has no #@BYTECODE_PART@");
    char *bytecode = bytecode_line(part + sizeof(BYTECODE_PART) - 1,
                                   (size_t)(end - part) - (sizeof(BYTECODE_PART) - 1));
    end = part + 1;
    char *buf = NULL, *o = NULL, *paths = NULL;
    if (bytecode != NULL) {
        lines[1] = bytecode;
        size_t cap = (size_t)(end - s->wrapper) + 1 + strlen("pass") + n_paths * (sizeof(APPEND) - 1);
        for (int i = 0; i < N_MARKS - 1; i++)
            cap += strlen(lines[i]);
        buf = o = malloc(cap);
        paths = malloc(strlen("pass") + n_paths * (sizeof(APPEND) - 1) + 1);
    }
    if (buf != NULL && paths != NULL) {
        char *q = paths + strlen(strcpy(paths, "pass"));
        for (size_t i = 0; i < n_paths; i++, q += sizeof(APPEND) - 1)
            memcpy(q, APPEND, sizeof(APPEND));
        lines[3] = paths;
    }
    if (buf == NULL || paths == NULL) {
        free(bytecode);
        free(buf);
        free(paths);
        return cj_fail(err, ENOMEM, "render jailed_code");
    }
    const char *p = s->wrapper;
    for (int i = 0; i < N_MARKS; i++) {
        const char *m = memmem(p, (size_t)(end - p), markers[i], strlen(markers[i]));
        if (m == NULL) {
            free(bytecode);
            free(buf);
            free(paths);
            return cj_fail(err, 0, "the jailed_code template has no %s", markers[i]);
        }
        memcpy(o, p, (size_t)(m - p));
        o += m - p;
        memcpy(o, lines[i], strlen(lines[i]));
        o += strlen(lines[i]);
        p = m + strlen(markers[i]);
    }
    memcpy(o, p, (size_t)(end - p));
    o += end - p;
    *o = '\0';
    free(bytecode);
    free(paths);
    *out = buf;
    *out_len = (size_t)(o - buf);
    return 0;
}

static int write_wrapper(int dirfd, const cj_execdir_spec *s, cj_err *err)
{
    char *text;
    size_t len;
    if (cj_execdir_render(s, &text, &len, err) < 0)
        return -1;
    int fd = open_new(dirfd, "jailed_code", err);
    if (fd < 0) {
        free(text);
        return -1;
    }
    int bad = cj_write_all(fd, text, len) < 0;
    free(text);
    return finish_file(fd, bad, "jailed_code", err);
}

int cj_execdir_rewrite(const char *path, const cj_execdir_spec *s, cj_err *err)
{
    int dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dirfd < 0)
        return cj_fail(err, errno, "open %s", path);
    int rc = 0;
    /* The sandbox sees this directory through a bind mount, so what is
     * written here now appears there: replace, never edit in place. */
    if (unlinkat(dirfd, "jailed_code", 0) < 0 && errno != ENOENT)
        rc = cj_fail(err, errno, "replace jailed_code");
    if (rc == 0)
        rc = write_wrapper(dirfd, s, err);
    if (rc == 0 && s->zip != NULL)
        rc = write_zip(dirfd, s->zip, s->zip_len, err);
    close(dirfd);
    return rc;
}

static int write_zip(int dirfd, const void *zip, size_t len, cj_err *err)
{
    int fd = open_new(dirfd, "python_lib.zip", err);
    if (fd < 0)
        return -1;
    return finish_file(fd, cj_write_all(fd, zip, len) < 0, "python_lib.zip", err);
}

int cj_execdir_create(const cj_execdir_spec *s, char path[PATH_MAX], cj_err *err)
{
    int n = snprintf(path, PATH_MAX, "%s/codejail-XXXXXX", s->work_dir);
    if (n < 0 || n >= PATH_MAX)
        return cj_fail(err, ENAMETOOLONG, "work_dir %s", s->work_dir);
    if (mkdtemp(path) == NULL)
        return cj_fail(err, errno, "mkdtemp in %s", s->work_dir);
    /* Readable by the sandbox user (its own directory, listed by graders);
     * other executions never see it: each has its own mount namespace, and
     * Landlock denies listing the work directory. */
    int dirfd = -1;
    if (chmod(path, 0755) < 0) {
        cj_fail(err, errno, "chmod %s", path);
        goto fail;
    }
    dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dirfd < 0) {
        cj_fail(err, errno, "open %s", path);
        goto fail;
    }
    if (write_wrapper(dirfd, s, err) < 0)
        goto fail;
    if (s->zip != NULL && write_zip(dirfd, s->zip, s->zip_len, err) < 0)
        goto fail;
    if (mkdirat(dirfd, "tmp", 0700) < 0) {
        cj_fail(err, errno, "mkdir tmp");
        goto fail;
    }
    if (fchownat(dirfd, "tmp", s->uid, s->gid, AT_SYMLINK_NOFOLLOW) < 0) {
        cj_fail(err, errno, "chown tmp");
        goto fail;
    }
    close(dirfd);
    return 0;
fail:
    if (dirfd >= 0)
        close(dirfd);
    cj_execdir_remove(path, NULL);
    return -1;
}

static int remove_entry(const char *fpath, const struct stat *sb, int typeflag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    /* Keep going past one stubborn entry: cj_execdir_remove reports what
     * is left (nftw passes no context, so no logger reaches here). */
    int failed = (typeflag == FTW_DP || typeflag == FTW_D) ? rmdir(fpath) : unlink(fpath);
    (void)failed;
    return 0;
}

/* The first entry left in path (escaped: its name is the sandbox's
 * choice, so it cannot forge a log line), or "" when none can be read. */
static void first_left(const char *path, char out[CJ_LOG_FIELD_BUF])
{
    out[0] = '\0';
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            cj_log_field(out, e->d_name, strlen(e->d_name));
            break;
        }
    closedir(d);
}

int cj_execdir_remove(const char *path, cj_err *err)
{
    /* FTW_PHYS: never follow a symlink the sandbox planted; FTW_MOUNT: never
     * descend into something mounted over the directory. */
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
        return cj_fail(err, errno, "remove %s", path);
    if (access(path, F_OK) == 0) {
        char left[CJ_LOG_FIELD_BUF];
        first_left(path, left);
        return cj_fail(err, ENOTEMPTY, "remove %s: %s is left", path, left[0] ? left : "an entry");
    }
    return 0;
}
