#include "mounts.h"

#include "layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RO_BIND_FLAGS (MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)

#define TRY(what, expr)        \
    do {                       \
        if ((expr) < 0) {      \
            *step = (what);    \
            return -errno;     \
        }                      \
    } while (0)

/* mkdir -p for a path relative to the new root (cwd); the components are
 * created in the root's own tmpfs, so nothing on the host changes.  0711,
 * whatever the umask: the sandbox user may pass through (to its execution
 * directory, to /usr) but list nothing, even with Landlock off. */
static int mkdirs(const char *rel, size_t len)
{
    char buf[4096];
    if (len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, rel, len);
    buf[len] = '\0';
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0711) == 0) {
            if (chmod(buf, 0711) < 0)
                return -1;
        } else if (errno != EEXIST) {
            return -1;
        }
        buf[i] = c;
    }
    return 0;
}

static int write_full(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Creates the mount point for src (a directory or a file) at rel. */
static int make_target(const char *src, const char *rel)
{
    struct stat st;
    if (stat(src, &st) < 0)
        return -1;
    const char *slash = strrchr(rel, '/');
    if (slash != NULL && mkdirs(rel, (size_t)(slash - rel)) < 0)
        return -1;
    if (S_ISDIR(st.st_mode))
        return mkdirs(rel, strlen(rel));
    int fd = open(rel, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return -1;
    return close(fd);
}

/* No inode is shared between executions: a lock (flock, POSIX, OFD) or an
 * inotify watch on a file two sandboxes can both open is a channel between
 * them, and a watch shows what the other opens.  Landlock mediates neither.
 * So what the interpreter needs of the host comes through a read-only
 * overlay of each execution's own (its inodes are the overlay's, over the
 * host's files), single files are copied, and the devices are nodes of its
 * own; only the page cache under them is shared. */

/* overlay's option syntax: ':' separates layers, ',' options, '\' escapes. */
static int escape_layer(const char *src, char *out, size_t size)
{
    size_t n = 0;
    for (const char *s = src; *s != '\0'; s++) {
        if (n + 3 > size)
            return -1;
        if (*s == ':' || *s == ',' || *s == '\\')
            out[n++] = '\\';
        out[n++] = *s;
    }
    out[n] = '\0';
    return 0;
}

/* A directory: a read-only overlay of it (and an empty layer: overlay
 * wants two lower layers when it has no upper one) at the same place.  Its
 * mounts beneath on the host stay out, as a non-recursive bind's would. */
static int ro_overlay(const char *src, const char *rel, const char *empty)
{
    char layer[2048], opts[4096];
    if (make_target(src, rel) < 0)
        return -1;
    if (escape_layer(src, layer, sizeof(layer)) < 0 ||
        (size_t)snprintf(opts, sizeof(opts), "lowerdir=%s:%s", layer, empty) >= sizeof(opts)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return mount("codejail-ro", rel, "overlay", MS_RDONLY | MS_NOSUID | MS_NODEV, opts);
}

/* A file: copied, root's, read-only to everyone (the loader's cache, the
 * noexec library, which ld.so maps executable from the root's tmpfs). */
static int copy_file(const char *src, const char *rel)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    struct stat st;
    const char *slash = strrchr(rel, '/');
    int out = fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || (slash != NULL && mkdirs(rel, (size_t)(slash - rel)) < 0)
                  ? -1
                  : open(rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
    off_t off = 0;
    while (out >= 0 && off < st.st_size) {
        ssize_t n = sendfile(out, in, &off, (size_t)(st.st_size - off));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            break;
        }
    }
    int e = errno, ok = out >= 0 && off == st.st_size && fchmod(out, 0444) == 0;
    if (out >= 0 && close(out) < 0)
        ok = 0;
    close(in);
    errno = ok ? 0 : (e ? e : EIO);
    return ok ? 0 : -1;
}

/* What the interpreter needs of the host, at the same path inside. */
static int mount_host_path(const char *src, const char *rel, const char *empty)
{
    struct stat st;
    if (stat(src, &st) < 0)
        return -1;
    return S_ISDIR(st.st_mode) ? ro_overlay(src, rel, empty) : copy_file(src, rel);
}

static int make_links(const char *const *links)
{
    for (size_t i = 0; links != NULL && links[i] != NULL; i++) {
        const char *eq = strchr(links[i], '=');
        char name[256];
        size_t n = eq ? (size_t)(eq - links[i]) : 0;
        if (eq == NULL || n == 0 || n >= sizeof(name)) {
            errno = EINVAL;
            return -1;
        }
        memcpy(name, links[i], n);
        name[n] = '\0';
        if (symlink(eq + 1, name) < 0)
            return -1;
    }
    return 0;
}

/* /dev: a tmpfs of the execution's own holding a node of its own for each
 * host device it may use (the host's numbers, verified), read-only at the
 * mount (the nodes stay writable: a device's I/O is not the filesystem's). */
static int make_dev(void)
{
    static const char *const devs[CJ_N_DEVICES] = CJ_DEVICES;
    if (mkdirs("dev", 3) < 0 ||
        mount("codejail-dev", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "size=4k,nr_inodes=8,mode=0755") < 0)
        return -1;
    for (size_t i = 0; i < CJ_N_DEVICES; i++) {
        struct stat host, made;
        const char *rel = devs[i] + 1;
        if (stat(devs[i], &host) < 0)
            return -1;
        if (!S_ISCHR(host.st_mode) || mknod(rel, S_IFCHR | 0666, host.st_rdev) < 0 || chmod(rel, 0666) < 0 ||
            lstat(rel, &made) < 0 || !S_ISCHR(made.st_mode) || made.st_rdev != host.st_rdev ||
            (made.st_mode & 07777) != 0666) {
            errno = errno ? errno : EPERM;
            return -1;
        }
    }
    return mount(NULL, "dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL);
}

/* The compiled wrapper, with the execution's own path where it was
 * compiled under the placeholder: tracebacks then name the real file. */
static int write_pyc(const char *rel, const char *pyc, size_t len, const char *inner_dir)
{
    static const char ph[] = CJ_PYC_PLACEHOLDER;
    char real[sizeof(ph)];
    int n = snprintf(real, sizeof(real), "%s/jailed_code", inner_dir);
    if (n != (int)sizeof(ph) - 1) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0444);
    if (fd < 0)
        return -1;
    const char *at = pyc, *end = pyc + len;
    while (at < end) {
        const char *hit = memmem(at, (size_t)(end - at), ph, sizeof(ph) - 1);
        const char *stop = hit != NULL ? hit : end;
        if (write_full(fd, at, (size_t)(stop - at)) < 0 || (hit != NULL && write_full(fd, real, (size_t)n) < 0)) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        at = hit != NULL ? hit + n : end;
    }
    return close(fd);
}

/* The standard host paths, as empty stand-ins: code that opens /etc/hosts or
 * lists /proc meets PermissionError, as under codejail's AppArmor profile,
 * rather than FileNotFoundError, and nothing of the host is behind them.
 * Root's, mode 0 (directories 0711): denied to the sandbox user by the
 * permission bits alone, and by Landlock and AppArmor, which grant nothing
 * here. */
static const char *const SKELETON_DIRS[] = {"etc", "home", "opt", "proc", "root", "run", "srv", "sys", "tmp", "var"};
static const char *const SKELETON_FILES[] = {"etc/hosts",      "etc/passwd",     "etc/group", "etc/shadow",
                                             "proc/1/cmdline", "proc/1/environ"};

static int make_skeleton(void)
{
    for (size_t i = 0; i < sizeof(SKELETON_DIRS) / sizeof(SKELETON_DIRS[0]); i++)
        if (mkdirs(SKELETON_DIRS[i], strlen(SKELETON_DIRS[i])) < 0)
            return -1;
    for (size_t i = 0; i < sizeof(SKELETON_FILES) / sizeof(SKELETON_FILES[0]); i++) {
        const char *rel = SKELETON_FILES[i];
        if (mkdirs(rel, (size_t)(strrchr(rel, '/') - rel)) < 0)
            return -1;
        int fd = open(rel, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0);
        if (fd < 0)
            return -1;
        /* Verified, not assumed: a umask only removes bits, but a stand-in
         * the sandbox user could read would be a stand-in no longer. */
        struct stat st;
        if (fstat(fd, &st) < 0 || (st.st_mode & 07777) != 0 || st.st_uid != 0) {
            close(fd);
            errno = EPERM;
            return -1;
        }
        if (close(fd) < 0)
            return -1;
    }
    return 0;
}

/* The new root (the cwd, before the pivot) must be root's and closed to
 * listing: it is writable at the mount, so its owner and mode are what keeps
 * the sandbox user out. */
static int check_root(void)
{
    struct stat st;
    if (stat(".", &st) < 0)
        return -1;
    if (st.st_uid != 0 || (st.st_mode & 07777) != 0711) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

int cj_mounts_enter(const cj_mount_plan *p, const char **step)
{
    /* Nothing we mount may propagate back to the host, nor host mounts in. */
    TRY("make / private", mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
    /* Keep the execution directory as a detached clone before the new root
     * hides its path. */
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, p->host_dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    TRY("clone the execution directory", tree);
    TRY("mount the root tmpfs",
        mount("codejail", p->host_dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096,mode=0711"));
    TRY("enter the new root", chdir(p->host_dir));
    char empty[PATH_MAX];
    snprintf(empty, sizeof(empty), "%s/" CJ_INNER_EMPTY, p->host_dir);
    TRY("make /.codejail", mkdirs(CJ_INNER_EMPTY, strlen(CJ_INNER_EMPTY)));
    for (size_t i = 0; p->binds != NULL && p->binds[i] != NULL; i++)
        TRY("mount an interpreter path", mount_host_path(p->binds[i], p->binds[i] + 1, empty));
    TRY("make root symlinks", make_links(p->links));
    TRY("make /dev", make_dev());
    TRY("make the standard paths", make_skeleton());
    if (p->noexec_so != NULL)
        TRY("copy the noexec library", copy_file(p->noexec_so, CJ_INNER_NOEXEC + 1));
    if (p->pyc[0] != NULL) {
        TRY("write the compiled wrapper", write_pyc(CJ_INNER_PYC0 + 1, p->pyc[0], p->pyc_len[0], p->inner_dir));
        TRY("write the compiled wrapper", write_pyc(CJ_INNER_PYC1 + 1, p->pyc[1], p->pyc_len[1], p->inner_dir));
    }
    const char *inner = p->inner_dir + 1;
    TRY("make the execution directory", mkdirs(inner, strlen(inner)));
    TRY("place the execution directory",
        (int)syscall(SYS_move_mount, tree, "", AT_FDCWD, inner, MOVE_MOUNT_F_EMPTY_PATH));
    close(tree);
    TRY("make the execution directory read-only",
        mount(NULL, inner, NULL, RO_BIND_FLAGS | MS_NOEXEC, NULL));
    /* tmp/ is a tmpfs of its own: its size caps what the code can write in
     * all (FSIZE caps one file), the memory is charged to the execution's
     * cgroup, and it vanishes with the namespace. */
    TRY("mount tmp/", mount("codejail-tmp", p->inner_tmp + 1, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                            p->tmp_options));
    TRY("verify the root", check_root());
    /* pivot_root(".", ".") stacks the old root under the new one; detaching
     * it leaves no path back to the host. */
    TRY("pivot_root", (int)syscall(SYS_pivot_root, ".", "."));
    TRY("detach the host root", umount2(".", MNT_DETACH));
    TRY("chdir /", chdir("/"));
    /* The root stays writable at the mount: a read-only mount answers EROFS
     * before Landlock or the permission bits are asked, where codejail's
     * sandbox says PermissionError.  Its every entry is root's and closed
     * to the sandbox user (0711 directories, mode-0 files, read-only binds),
     * so only root could write here, 1 MiB at most, in this execution's
     * own tmpfs; Landlock refuses the writes as well. */
    return 0;
}
