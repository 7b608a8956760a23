#include "mounts.h"

#include "layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
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

/* A read-only, nosuid bind of a host path at the same place inside;
 * non-recursive on purpose: mounts beneath it on the host stay out. */
static int ro_bind(const char *src, const char *rel, unsigned long extra)
{
    if (make_target(src, rel) < 0)
        return -1;
    if (mount(src, rel, NULL, MS_BIND, NULL) < 0)
        return -1;
    /* Bind flags only take effect on a remount: verify it really is read-only. */
    return mount(NULL, rel, NULL, RO_BIND_FLAGS | extra, NULL);
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

static int make_dev(void)
{
    static const char *const devs[CJ_N_DEVICES] = CJ_DEVICES;
    for (size_t i = 0; i < CJ_N_DEVICES; i++) {
        const char *rel = devs[i] + 1;
        if (make_target(devs[i], rel) < 0 || mount(devs[i], rel, NULL, MS_BIND, NULL) < 0)
            return -1;
        /* Writable (/dev/null must be) but no exec and no suid; devices
         * stay usable because nodev is not set on these four binds. */
        if (mount(NULL, rel, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC, NULL) < 0)
            return -1;
    }
    return 0;
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
    for (size_t i = 0; p->binds != NULL && p->binds[i] != NULL; i++)
        TRY("bind an interpreter path", ro_bind(p->binds[i], p->binds[i] + 1, 0));
    TRY("make root symlinks", make_links(p->links));
    TRY("make /dev", make_dev());
    TRY("make the standard paths", make_skeleton());
    if (p->noexec_so != NULL)
        /* Not noexec: ld.so maps it executable (running it is what seccomp forbids). */
        TRY("bind the noexec library", ro_bind(p->noexec_so, CJ_INNER_NOEXEC + 1, 0));
    if (p->pyc[0] != NULL) {
        TRY("make /.codejail", mkdirs(".codejail", 9));
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
