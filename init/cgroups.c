/* cgroup delegation for the server's per-execution cgroups.
 *
 * runtime/cgroup.c creates each execution's cgroup under <parent>, relative
 * to the root of the hierarchy it sees: /sys/fs/cgroup/<parent> on v2, and
 * <mount>/<parent> on each v1 controller's mount.  Here we make sure it can,
 * before the server starts: on v1 by making <parent>; on v2 the root of the
 * server's view must be this container's cgroup, which must pass memory and
 * pids on to its children, which cgroup v2 allows only once no process is
 * left in it ("no internal processes"): so we move into a leaf, init/,
 * enable the controllers, and make <parent> beside it. */
#include "init.h"

#include "cgroup_parent.h"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <unistd.h>

#define CG_ROOT "/sys/fs/cgroup"
#define MOVE_PASSES 8 /* processes may fork while we move their parents */

/* What fixes "we may not write here", whatever the step: on v2, giving the
 * container its cgroup; on v1, where Docker and containerd bind-mount each
 * controller of the container's own cgroup read-only and --cgroupns=private
 * does not change that, letting us remount them. */
#define FIX_V2 "the container must get a writable cgroup (Docker: --cgroupns=private; the cgroup is not delegated)"
#define FIX_V1                                                                                           \
    "as the container's PID 1, codejail-init remounts its own container's controller directories "      \
    "read-write, which needs CAP_SYS_ADMIN and mount(2) allowed by the container's seccomp and AppArmor " \
    "profiles (the security_opt and cap_add of compose/docker-compose.yml)"

__attribute__((format(printf, 3, 4))) static int not_writable(const struct cj_log *log, const char *fix,
                                                               const char *fmt, ...)
{
    int e = errno;
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    cj_log(log, CJ_LOG_ERROR, "cgroup: " CG_ROOT " is not writable [%s: %s]: %s; or run with --no-cgroups", what,
           strerror(e), fix);
    return -1;
}

/* mkdir -p parent under dirfd, then check that the server can use it;
 * failures are reported with the fix of this cgroup version. */
static int make_parent(const struct cj_log *log, int dirfd, const char *base, const char *parent, const char *fix)
{
    char path[CJ_CGROUP_PARENT_MAX + sizeof("/cgroup.procs")];
    snprintf(path, sizeof(path), "%s", parent);
    for (char *slash = path;; *slash++ = '/') {
        slash = strchr(slash, '/');
        if (slash != NULL)
            *slash = '\0';
        if (mkdirat(dirfd, path, 0755) < 0 && errno != EEXIST)
            return not_writable(log, fix, "mkdir %s/%s", base, path);
        if (slash == NULL)
            break;
    }
    /* mkdir reports EEXIST before EROFS, and root passes every mode check:
     * this is what catches a read-only mount with the directory made. */
    strcat(path, "/cgroup.procs");
    if (faccessat(dirfd, path, W_OK, 0) < 0)
        return not_writable(log, fix, "%s/%s", base, path);
    return 0;
}

/* ---- v2 ------------------------------------------------------------------ */

/* Our cgroup, from /proc/self/cgroup's "id:controllers:path" lines: on v2
 * (ctl NULL) the "0::/path" entry, on v1 the hierarchy holding ctl
 * ("4:memory:/docker/<id>"). */
static int own_cgroup(const struct cj_log *log, const char *ctl, char *out, size_t size)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (f == NULL)
        return fail(log, "cgroup: open /proc/self/cgroup");
    char *line = NULL;
    size_t cap = 0;
    int r = -1;
    while (r < 0 && getline(&line, &cap, f) > 0) {
        char *ctls = strchr(line, ':');
        char *path = ctls != NULL ? strchr(ctls + 1, ':') : NULL;
        if (path == NULL)
            continue;
        *path++ = '\0';
        if (ctl != NULL ? !cj_has_word(ctls + 1, ctl, ",") : strcmp(line, "0:") != 0 || ctls[1] != '\0')
            continue;
        path[strcspn(path, "\n")] = '\0';
        snprintf(out, size, "%s", path);
        r = 0;
    }
    free(line);
    fclose(f);
    if (r < 0 && ctl == NULL)
        cj_log(log, CJ_LOG_ERROR, "cgroup: no cgroup v2 entry (\"0::\") in /proc/self/cgroup");
    else if (r < 0)
        cj_log(log, CJ_LOG_ERROR, "cgroup: no cgroup v1 entry for %s in /proc/self/cgroup", ctl);
    return r;
}

/* Moves ourselves, and unless only_us everyone else in the root, into the
 * leaf init/. */
static int vacate(const struct cj_log *log, int root, bool only_us)
{
    if (mkdirat(root, "init", 0755) < 0 && errno != EEXIST)
        return not_writable(log, FIX_V2, "mkdir " CG_ROOT "/init");
    int to = openat(root, "init/cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (to < 0)
        return fail(log, "cgroup: open " CG_ROOT "/init/cgroup.procs");
    char pid[24];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    int r = cj_write_value(to, pid) < 0 ? fail(log, "cgroup: move ourselves into " CG_ROOT "/init") : 0;
    for (int pass = 0, moved = 1; r == 0 && !only_us && moved > 0 && pass < MOVE_PASSES; pass++) {
        int fd = openat(root, "cgroup.procs", O_RDONLY | O_CLOEXEC);
        FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
        if (f == NULL) {
            r = fail(log, "cgroup: read " CG_ROOT "/cgroup.procs");
            if (fd >= 0)
                close(fd);
            break;
        }
        moved = 0;
        while (r == 0 && fscanf(f, "%23s", pid) == 1) {
            /* "0" is a process outside our pid namespace, which we cannot
             * name (writing 0 would mean ourselves); the EBUSY in enable()
             * then explains. */
            if (strcmp(pid, "0") == 0)
                continue;
            if (cj_write_value(to, pid) == 0)
                moved++;
            else if (errno != ESRCH) /* ESRCH: it has just exited */
                r = fail(log, "cgroup: move process %s into " CG_ROOT "/init", pid);
        }
        fclose(f);
    }
    close(to);
    return r;
}

/* Turns memory and pids (and cpu when it can) on for the root's children,
 * then reads them back: limits the server writes only bind if they are on. */
static int enable(const struct cj_log *log, int root, bool cpu)
{
    char on[512];
    if (cj_read_at(root, "cgroup.subtree_control", on, sizeof(on)) < 0)
        return fail(log, "cgroup: read " CG_ROOT "/cgroup.subtree_control");
    /* Not when they are on already: the write fails with EBUSY wherever
     * processes are, even when it would change nothing. */
    if ((!cj_has_word(on, "memory", " ") || !cj_has_word(on, "pids", " ")) &&
        cj_write_at(root, "cgroup.subtree_control", "+memory +pids") < 0) {
        if (errno == EBUSY)
            return fail(log, "cgroup: enabling memory and pids in " CG_ROOT "/cgroup.subtree_control (cgroup v2 "
                        "passes controllers on only from cgroups without processes, and some we may not move "
                        "are still in it: start codejail-init in a cgroup of its own, e.g. a systemd unit "
                        "with Delegate=yes)");
        return fail(log, "cgroup: enabling memory and pids in " CG_ROOT "/cgroup.subtree_control");
    }
    /* cpu is optional to the server (RLIMIT_CPU still bounds CPU time), and
     * enabling it can fail where the others don't (realtime tasks). */
    if (cpu && !cj_has_word(on, "cpu", " "))
        (void)cj_write_at(root, "cgroup.subtree_control", "+cpu");
    if (cj_read_at(root, "cgroup.subtree_control", on, sizeof(on)) < 0)
        return fail(log, "cgroup: read " CG_ROOT "/cgroup.subtree_control");
    if (!cj_has_word(on, "memory", " ") || !cj_has_word(on, "pids", " ")) {
        cj_log(log, CJ_LOG_ERROR,
               "cgroup: " CG_ROOT "/cgroup.subtree_control reads \"%s\" after enabling memory and pids", on);
        return -1;
    }
    return 0;
}

static int v2_delegate(const struct cj_log *log, int root, const char *own, const char *parent, bool relay)
{
    char avail[512];
    if (faccessat(root, "cgroup.subtree_control", W_OK, 0) < 0)
        return not_writable(log, FIX_V2, CG_ROOT "/cgroup.subtree_control");
    if (cj_read_at(root, "cgroup.controllers", avail, sizeof(avail)) < 0)
        return fail(log, "cgroup: read " CG_ROOT "/cgroup.controllers");
    if (!cj_has_word(avail, "memory", " ") || !cj_has_word(avail, "pids", " ")) {
        cj_log(log, CJ_LOG_ERROR,
               "cgroup: " CG_ROOT "/cgroup.controllers offers \"%s\": memory and pids must be delegated to this "
               "container's cgroup", avail);
        return -1;
    }
    /* Only the host's real root lacks cgroup.type: it is exempt from "no
     * internal processes", and its processes are not ours to move.  Below
     * our view's root (--no-namespaces) nothing is ours to move either.  In
     * a container's cgroup every process is the container's, ours to move;
     * but a relay made its cgroup namespace itself, in the cgroup it was
     * started in, and the others there (its caller, a shell) are the
     * host's: moving them would rearrange the host's cgroups behind its
     * back, so it moves only itself and fails if that is not enough. */
    if (strcmp(own, "/") == 0 && faccessat(root, "cgroup.type", F_OK, 0) == 0 && vacate(log, root, relay) < 0)
        return -1;
    if (enable(log, root, cj_has_word(avail, "cpu", " ")) < 0)
        return -1;
    return make_parent(log, root, CG_ROOT, parent, FIX_V2);
}

static int v2_prepare(const struct cj_log *log, const char *parent, bool own_mounts, bool relay)
{
    bool fresh_ns = relay;
    char own[PATH_MAX];
    if (own_cgroup(log, NULL, own, sizeof(own)) < 0)
        return -1;
    /* The server's "/sys/fs/cgroup/<parent>" must land inside our cgroup,
     * and only a cgroup namespace rooted at it makes it so (Docker gives one
     * with --cgroupns=private; as a relay we have just made one). */
    if (own_mounts && !fresh_ns && strcmp(own, "/") != 0) {
        if (unshare(CLONE_NEWCGROUP) < 0)
            return fail(log, "cgroup: unshare(CLONE_NEWCGROUP)");
        fresh_ns = true;
    }
    /* A mount shows the hierarchy from the root of the namespace that made
     * it: the inherited one still shows the host's.  Docker and Kubernetes
     * mount it read-only; that flag is the mount's, not the hierarchy's, so
     * a fresh mount in our own mount namespace is writable. */
    struct statvfs sv;
    bool ro = statvfs(CG_ROOT, &sv) == 0 && (sv.f_flag & ST_RDONLY);
    if (fresh_ns || (ro && own_mounts)) {
        /* The inherited mount of the same hierarchy would make the new one
         * fail with EBUSY: take it away first (our mount namespace only). */
        if (umount2(CG_ROOT, MNT_DETACH) < 0 && errno != EINVAL)
            return not_writable(log, FIX_V2, "unmount the inherited " CG_ROOT);
        if (mount("cgroup2", CG_ROOT, "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            return not_writable(log, FIX_V2, "mount cgroup2 on " CG_ROOT);
        if (own_cgroup(log, NULL, own, sizeof(own)) < 0)
            return -1;
    }
    int root = open(CG_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return not_writable(log, FIX_V2, "open " CG_ROOT);
    int r = v2_delegate(log, root, own, parent, relay);
    close(root);
    return r;
}

/* ---- v1 ------------------------------------------------------------------ */

struct v1_mount {
    char mp[PATH_MAX];   /* where it is mounted */
    char root[PATH_MAX]; /* the cgroup it shows, as our cgroup namespace names it */
};

/* Makes a read-only controller mount writable, but only one that shows our
 * own cgroup: that is the container's, ours to divide.  A mount of any other
 * (the host's whole hierarchy bound in) stays read-only. */
static int v1_make_writable(const struct cj_log *log, const struct v1_mount *m, const char *ctl)
{
    struct statvfs sv;
    if (statvfs(m->mp, &sv) < 0)
        return fail(log, "cgroup: statvfs %s", m->mp);
    if (!(sv.f_flag & ST_RDONLY))
        return 0;
    char own[PATH_MAX];
    if (own_cgroup(log, ctl, own, sizeof(own)) < 0)
        return -1;
    if (strcmp(own, m->root) != 0) {
        cj_log(log, CJ_LOG_ERROR,
               "cgroup: %s is read-only and shows the cgroup %s, not this process's (%s): only a container's own "
               "cgroup is made writable.  Run codejail-init as the container's PID 1 (Docker and containerd mount "
               "its own cgroup there), give it a writable cgroup, or run with --no-cgroups",
               m->mp, m->root, own);
        return -1;
    }
    /* A bind remount replaces every per-mount flag: keep the ones it had. */
    unsigned long keep = MS_REMOUNT | MS_BIND;
    keep |= (sv.f_flag & ST_NOSUID) ? MS_NOSUID : 0;
    keep |= (sv.f_flag & ST_NODEV) ? MS_NODEV : 0;
    keep |= (sv.f_flag & ST_NOEXEC) ? MS_NOEXEC : 0;
    keep |= (sv.f_flag & ST_RELATIME) ? MS_RELATIME : 0;
    if (mount(NULL, m->mp, NULL, keep, NULL) < 0)
        return not_writable(log, FIX_V1, "remount %s read-write", m->mp);
    /* Verify, not trust: a stacked read-only mount would still win. */
    if (statvfs(m->mp, &sv) < 0 || (sv.f_flag & ST_RDONLY)) {
        errno = EROFS;
        return not_writable(log, FIX_V1, "%s is still read-only after the remount", m->mp);
    }
    return 0;
}

/* mountinfo: id parent maj:min root mountpoint options [optional...] - type
 * source superoptions.  Controllers are told by the super options, not by
 * the directory name, which distributions spell differently.  (A mount point
 * with a space would stay escaped, and its mkdir fail loudly.) */
static int v1_find(const struct cj_log *log, const char *const *ctl, size_t n, struct v1_mount *m)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return fail(log, "cgroup: open /proc/self/mountinfo");
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char root[PATH_MAX], mp[PATH_MAX], type[16], opts[1024];
        const char *sep = strstr(line, " - ");
        if (sep == NULL || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mp) != 2 ||
            sscanf(sep + 3, "%15s %*s %1023s", type, opts) != 2 || strcmp(type, "cgroup") != 0)
            continue;
        /* The last mount of a place is the one seen there. */
        for (size_t i = 0; i < n; i++)
            if (cj_has_word(opts, ctl[i], ",") && (m[i].mp[0] == '\0' || strcmp(m[i].mp, mp) == 0)) {
                snprintf(m[i].mp, sizeof(m[i].mp), "%s", mp);
                snprintf(m[i].root, sizeof(m[i].root), "%s", root);
            }
    }
    free(line);
    fclose(f);
    return 0;
}

static int v1_prepare(const struct cj_log *log, const char *parent, bool own_mounts)
{
    /* cpu and cpuacct are optional to the server */
    static const char *const ctl[] = {"memory", "pids", "cpu", "cpuacct"};
    enum { N = sizeof(ctl) / sizeof(ctl[0]) };
    struct v1_mount m[N];
    memset(m, 0, sizeof(m));
    if (v1_find(log, ctl, N, m) < 0)
        return -1;
    if (m[0].mp[0] == '\0' || m[1].mp[0] == '\0') {
        errno = ENOENT;
        return not_writable(log, FIX_V2, "no cgroup2 there, and no cgroup v1 hierarchy mounted for%s%s",
                            m[0].mp[0] ? "" : " memory", m[1].mp[0] ? "" : " pids");
    }
    for (int i = 0; i < N; i++) {
        if (m[i].mp[0] == '\0')
            continue;
        if (own_mounts && v1_make_writable(log, &m[i], ctl[i]) < 0)
            return -1;
        int fd = open(m[i].mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return not_writable(log, FIX_V2, "open %s", m[i].mp);
        int r = make_parent(log, fd, m[i].mp, parent, FIX_V1);
        close(fd);
        if (r < 0)
            return -1;
    }
    return 0;
}

int cgroups_prepare(const struct cj_log *log, const char *parent, bool own_mounts, bool relay)
{
    /* v2 when the root is cgroup2, as the server decides.  A hybrid host's
     * cgroup2 (at /sys/fs/cgroup/unified) holds no controller we use. */
    struct statfs sf;
    bool v2 = statfs(CG_ROOT, &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC;
    int r = v2 ? v2_prepare(log, parent, own_mounts, relay) : v1_prepare(log, parent, own_mounts);
    if (r == 0)
        cj_log(log, CJ_LOG_DEBUG, "cgroup: %s delegated (cgroup %s)", parent, v2 ? "v2" : "v1");
    return r;
}
