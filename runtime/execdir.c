#include "execdir.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char PATH_MARKER[] = "#@PYTHON_PATH@";

static int write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Files are root-owned and read-only to the sandbox: it may read its code and
 * its library, never rewrite them. */
static int write_file(int dirfd, const char *name, const void *a, size_t alen, const void *b,
                      size_t blen, const void *c, size_t clen, cj_err *err)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return cj_fail(err, errno, "create %s", name);
    if (write_all(fd, a, alen) < 0 || write_all(fd, b, blen) < 0 || write_all(fd, c, clen) < 0) {
        int e = errno;
        close(fd);
        return cj_fail(err, e, "write %s", name);
    }
    if (close(fd) < 0)
        return cj_fail(err, errno, "close %s", name);
    return 0;
}

static int write_wrapper(int dirfd, const cj_execdir_spec *s, cj_err *err)
{
    const char *mark = memmem(s->wrapper, s->wrapper_len, PATH_MARKER, sizeof(PATH_MARKER) - 1);
    if (mark == NULL)
        return cj_fail(err, 0, "the jailed_code template has no %s line", PATH_MARKER);
    /* Replacing the marker line by one line keeps exec() on the same line
     * number as the codejail library's tracebacks. */
    const char *line = s->zip_on_path ? "sys.path.append('python_lib.zip')" : "pass";
    size_t head = (size_t)(mark - s->wrapper);
    size_t tail_off = head + sizeof(PATH_MARKER) - 1;
    return write_file(dirfd, "jailed_code", s->wrapper, head, line, strlen(line),
                      s->wrapper + tail_off, s->wrapper_len - tail_off, err);
}

int cj_execdir_create(const cj_execdir_spec *s, char path[PATH_MAX], cj_err *err)
{
    int n = snprintf(path, PATH_MAX, "%s/codejail-XXXXXX", s->work_dir);
    if (n < 0 || n >= PATH_MAX)
        return cj_fail(err, ENAMETOOLONG, "work_dir %s", s->work_dir);
    if (mkdtemp(path) == NULL)
        return cj_fail(err, errno, "mkdtemp in %s", s->work_dir);
    /* 0711: the sandbox user may enter its directory but not list others'. */
    int dirfd = -1;
    if (chmod(path, 0711) < 0) {
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
    if (s->zip != NULL &&
        write_file(dirfd, "python_lib.zip", s->zip, s->zip_len, "", 0, "", 0, err) < 0)
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
    int r = (typeflag == FTW_DP || typeflag == FTW_D) ? rmdir(fpath) : unlink(fpath);
    /* Keep going past one stubborn entry; the final rmdir reports failure. */
    if (r < 0 && errno != ENOENT)
        fprintf(stderr, "codejail-server: remove %s: %s\n", fpath, strerror(errno));
    return 0;
}

int cj_execdir_remove(const char *path, cj_err *err)
{
    /* FTW_PHYS: never follow a symlink the sandbox planted; FTW_MOUNT: never
     * descend into something mounted over the directory. */
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
        return cj_fail(err, errno, "remove %s", path);
    if (access(path, F_OK) == 0)
        return cj_fail(err, ENOTEMPTY, "remove %s", path);
    return 0;
}
