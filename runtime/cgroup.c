#include "cgroup.h"

#include "cgroup_parent.h"
#include "files.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define CJ_CG_ROOT "/sys/fs/cgroup"
/* cpu_quota_us is "per 100 ms" in the API, so the period is fixed. */
#define CJ_CPU_PERIOD_US 100000
/* Bounds on the waits in kill and destroy: a request's teardown must end even
 * if a process is stuck in the kernel (D state) and will not die. */
#define CJ_KILL_ROUNDS 100 /* × 1 ms */
#define CJ_RMDIR_TRIES 50  /* × 2 ms, shared by all hierarchies */

/* cpuacct is v1's alone (v2's cpu.stat counts without any controller), and
 * only for accounting: the CPU time an execution used. */
enum { CTL_MEMORY, CTL_PIDS, CTL_CPU, CTL_CPUACCT, CTL_N };
static const char *const ctl_name[CTL_N] = {"memory", "pids", "cpu", "cpuacct"};

/* One hierarchy on v2; on v1 one per distinct mount (co-mounted controllers,
 * e.g. "cpu,memory", share one), at most CTL_N. */
struct cj_cgroups {
    int v2;
    size_t nh;
    int ctl[CTL_N];   /* hierarchy index of each controller, -1 when absent */
    char *dir[CTL_N]; /* <mount>/<parent> */
    int fd[CTL_N];    /* O_DIRECTORY of dir[] */
    char *mount[CTL_N];   /* the hierarchy's mount, to make dir[] again */
    char *created[CTL_N]; /* the topmost directory of dir[] this service made, or NULL */
    char *parent;
};

struct cj_cgroup {
    int v2;
    size_t nh;
    int ctl[CTL_N];
    char *dir[CTL_N]; /* <mount>/<parent>/<name>; NULL unless we made it */
    int fd[CTL_N];    /* O_DIRECTORY of dir[] */
    int procs[CTL_N]; /* v1: cgroup.procs, O_WRONLY, for the child */
    size_t nprocs;
    /* What was last written and read back: an execution usually asks for
     * what the pool set already, and each write is a few system calls. */
    cj_cgroup_limits cur;
    int cur_valid;
    int background; /* -1 unknown */
    int killed;     /* cgroup.kill was written: never a clone target again */
    /* The accounting of the execution it serves (cj_cgroup_usage_mark): the
     * counters that go on across a pooled cgroup's executions as they were
     * at its start, and its peak: v2's memory.peak opened and reset (the
     * reset holds for that fd alone), or the lifetime peak then (-1: none). */
    cj_cgroup_usage base;
    int peak_fd;
    long long peak_mark;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
    nanosleep(&ts, NULL); /* an early wake-up only shortens a bounded wait */
}

static int is_dot_or_dotdot(const char *s, size_t len)
{
    return (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.');
}

/* Enables memory and pids (and cpu when it can) for the children of the
 * cgroup at dirfd, then reads subtree_control back: the limits we write later
 * only exist, and only bind, if the controllers really are on. */
static int v2_enable(int dirfd, const char *path, int *cpu, cj_err *err)
{
    char avail[1024], on[1024];
    int r = cj_read_at(dirfd, "cgroup.controllers", avail, sizeof(avail));
    if (r < 0)
        return cj_fail(err, -r, "reading %s/cgroup.controllers", path);
    int has_mem = cj_has_word(avail, "memory", " "), has_pids = cj_has_word(avail, "pids", " ");
    if (!has_mem || !has_pids)
        return cj_fail(err, ENOENT, "cgroup v2 controller(s)%s%s not delegated to %s", has_mem ? "" : " memory",
                       has_pids ? "" : " pids", path);
    if (!cj_has_word(avail, "cpu", " "))
        *cpu = 0;
    if ((r = cj_read_at(dirfd, "cgroup.subtree_control", on, sizeof(on))) < 0)
        return cj_fail(err, -r, "reading %s/cgroup.subtree_control", path);
    /* Already on: don't write, since the write itself fails with EBUSY where
     * the cgroup has processes (the namespace root of a container), even
     * when it would change nothing. */
    if (!cj_has_word(on, "memory", " ") || !cj_has_word(on, "pids", " ")) {
        r = cj_write_at(dirfd, "cgroup.subtree_control", "+memory +pids");
        if (r == -EBUSY)
            return cj_fail(err, EBUSY,
                           "enabling memory and pids in %s/cgroup.subtree_control: this cgroup has processes, and "
                           "cgroup v2 lets only cgroups without any pass on controllers (\"no internal processes\"); "
                           "the service must run in a leaf cgroup: codejail-init moves itself into one and delegates "
                           "the controllers", path);
        if (r < 0)
            return cj_fail(err, -r, "enabling memory and pids in %s/cgroup.subtree_control", path);
    }
    /* cpu is optional (RLIMIT_CPU still bounds CPU time), and enabling it can
     * fail where memory and pids don't, e.g. with realtime tasks around. */
    if (*cpu && !cj_has_word(on, "cpu", " "))
        (void)cj_write_at(dirfd, "cgroup.subtree_control", "+cpu");
    if ((r = cj_read_at(dirfd, "cgroup.subtree_control", on, sizeof(on))) < 0)
        return cj_fail(err, -r, "reading %s/cgroup.subtree_control", path);
    if (!cj_has_word(on, "memory", " ") || !cj_has_word(on, "pids", " "))
        return cj_fail(err, EIO, "%s/cgroup.subtree_control reads \"%s\" after enabling memory and pids", path, on);
    if (!cj_has_word(on, "cpu", " "))
        *cpu = 0;
    return 0;
}

/* mkdir -p one component at a time, each relative to the last directory's
 * fd, so nothing renamed meanwhile can redirect us outside the hierarchy.  On
 * v2 the controllers are enabled on the way down, root to parent inclusive:
 * a cgroup can only pass on the controllers its own parent gave it. */
static int make_parent(const char *mount, const char *parent, int v2, int *cpu, char **out_path, char **created,
                       cj_err *err)
{
    char path[PATH_MAX];
    size_t plen = (size_t)snprintf(path, sizeof(path), "%s", mount);
    if (plen + strlen(parent) + 2 > sizeof(path))
        return cj_fail(err, ENAMETOOLONG, "cgroup path %s/%s", mount, parent);
    int fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return cj_fail(err, errno, "opening %s", mount);
    char comps[PATH_MAX], *save = NULL;
    snprintf(comps, sizeof(comps), "%s", parent);
    for (char *comp = strtok_r(comps, "/", &save);; comp = strtok_r(NULL, "/", &save)) {
        if (v2 && v2_enable(fd, path, cpu, err) < 0)
            goto fail;
        if (comp == NULL)
            break;
        plen += (size_t)snprintf(path + plen, sizeof(path) - plen, "/%s", comp);
        if (mkdirat(fd, comp, 0755) == 0) {
            if (*created == NULL && (*created = strdup(path)) == NULL) {
                cj_fail(err, ENOMEM, "cgroup path");
                goto fail;
            }
        } else if (errno != EEXIST) {
            cj_fail(err, errno, "creating %s", path);
            goto fail;
        }
        int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (next < 0) {
            cj_fail(err, errno, "opening %s", path);
            goto fail;
        }
        close(fd);
        fd = next;
    }
    if ((*out_path = strdup(path)) == NULL) {
        cj_fail(err, ENOMEM, "cgroup path");
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* v2 only when the root is cgroup2 and actually offers memory and pids: a
 * hybrid host has a cgroup2 mount too (/sys/fs/cgroup/unified) holding none
 * of them. */
static int v2_usable(void)
{
    struct statfs sf;
    if (statfs(CJ_CG_ROOT, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC)
        return 0;
    int fd = open(CJ_CG_ROOT, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    char avail[1024];
    int ok = cj_read_at(fd, "cgroup.controllers", avail, sizeof(avail)) >= 0 && cj_has_word(avail, "memory", " ") &&
             cj_has_word(avail, "pids", " ");
    close(fd);
    return ok;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
    char *d = s;
    for (; *s != '\0'; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            *d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *d++ = *s;
        }
    }
    *d = '\0';
}

/* Finds each controller's v1 mount by the super options ("rw,cpu,cpuacct"),
 * not by the directory name, which distributions spell differently.  The
 * device number (one per hierarchy) tells co-mounted controllers apart from
 * the same hierarchy mounted twice. */
static int v1_find(char *mnt[CTL_N], char dev[CTL_N][32], cj_err *err)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return cj_fail(err, errno, "opening /proc/self/mountinfo");
    char *line = NULL;
    size_t cap = 0;
    int r = 0;
    while (r == 0 && getline(&line, &cap, f) > 0) {
        /* id parent maj:min root mountpoint options [optional...] - type source superoptions */
        char dev_s[32], mp[PATH_MAX], type[16], opts[1024];
        const char *sep = strstr(line, " - ");
        if (sep == NULL || sscanf(line, "%*s %*s %31s %*s %4095s", dev_s, mp) != 2 ||
            sscanf(sep + 3, "%15s %*s %1023s", type, opts) != 2 || strcmp(type, "cgroup") != 0)
            continue;
        unescape(mp);
        for (int c = 0; c < CTL_N && r == 0; c++) {
            if (mnt[c] != NULL || !cj_has_word(opts, ctl_name[c], ","))
                continue;
            if ((mnt[c] = strdup(mp)) == NULL)
                r = cj_fail(err, ENOMEM, "reading /proc/self/mountinfo");
            snprintf(dev[c], sizeof(dev[c]), "%s", dev_s);
        }
    }
    free(line);
    fclose(f);
    return r;
}

static int init_v1(cj_cgroups *cgs, const char *parent, cj_err *err)
{
    char *mnt[CTL_N] = {NULL}, dev[CTL_N][32];
    int r = v1_find(mnt, dev, err);
    if (r == 0 && (mnt[CTL_MEMORY] == NULL || mnt[CTL_PIDS] == NULL))
        r = cj_fail(err, ENOENT,
                    "cgroup controller(s)%s%s not found: %s is not cgroup v2 offering them, and no cgroup v1 "
                    "hierarchy has them mounted",
                    mnt[CTL_MEMORY] ? "" : " memory", mnt[CTL_PIDS] ? "" : " pids", CJ_CG_ROOT);
    for (int c = 0; c < CTL_N && r == 0; c++) {
        if (mnt[c] == NULL)
            continue; /* only cpu and cpuacct can be missing here: both optional */
        for (int o = 0; o < c && cgs->ctl[c] < 0; o++)
            if (mnt[o] != NULL && strcmp(dev[o], dev[c]) == 0)
                cgs->ctl[c] = cgs->ctl[o];
        if (cgs->ctl[c] >= 0)
            continue;
        size_t h = cgs->nh;
        cgs->nh++;
        if ((cgs->mount[h] = strdup(mnt[c])) == NULL) {
            r = cj_fail(err, ENOMEM, "cgroups");
            break;
        }
        if ((cgs->fd[h] = make_parent(cgs->mount[h], parent, 0, NULL, &cgs->dir[h], &cgs->created[h], err)) < 0) {
            r = cj_wrap(err, "cgroup v1 %s", ctl_name[c]);
            break;
        }
        cgs->ctl[c] = (int)h;
    }
    for (int c = 0; c < CTL_N; c++)
        free(mnt[c]);
    return r;
}

int cj_cgroups_init(cj_cgroups **out, const char *parent, cj_err *err)
{
    *out = NULL;
    if (!cj_cgroup_parent_valid(parent, parent ? strlen(parent) : 0))
        return cj_fail(err, EINVAL, "cgroup parent '%s': expected " CJ_CGROUP_PARENT_RULE, parent ? parent : "(null)");
    cj_cgroups *cgs = calloc(1, sizeof(*cgs));
    if (cgs == NULL)
        return cj_fail(err, ENOMEM, "cgroups");
    for (int i = 0; i < CTL_N; i++)
        cgs->fd[i] = cgs->ctl[i] = -1;
    if ((cgs->parent = strdup(parent)) == NULL) {
        cj_cgroups_free(cgs);
        return cj_fail(err, ENOMEM, "cgroups");
    }
    int cpu = 1;
    if ((cgs->v2 = v2_usable())) {
        cgs->nh = 1;
        cgs->mount[0] = strdup(CJ_CG_ROOT);
        cgs->fd[0] = cgs->mount[0] == NULL ? cj_fail(err, ENOMEM, "cgroups")
                                           : make_parent(CJ_CG_ROOT, parent, 1, &cpu, &cgs->dir[0], &cgs->created[0], err);
        cgs->ctl[CTL_MEMORY] = cgs->ctl[CTL_PIDS] = 0;
        cgs->ctl[CTL_CPU] = cpu ? 0 : -1;
    }
    if (cgs->v2 ? cgs->fd[0] < 0 : init_v1(cgs, parent, err) < 0) {
        cj_cgroups_free(cgs);
        return -1;
    }
    *out = cgs;
    return 0;
}

/* The lifetime rule for parent directories, which other instances may
 * share: an instance removes at its end what it made at its start, deepest
 * first, as far as each is empty (rmdir refuses one that holds a cgroup or a
 * process: another instance's, then, which removes it in turn); an instance
 * whose parent was removed under it makes it again (remake_parent). */
static void remove_created(const char *dir, const char *created)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s", dir);
    size_t top = strlen(created);
    while (strlen(path) >= top && rmdir(path) == 0) {
        char *slash = strrchr(path, '/');
        if (slash == NULL)
            return;
        *slash = '\0';
    }
}

void cj_cgroups_free(cj_cgroups *cgs)
{
    if (cgs == NULL)
        return;
    for (int i = 0; i < CTL_N; i++) {
        if (cgs->fd[i] >= 0)
            close(cgs->fd[i]);
        if (cgs->created[i] != NULL && cgs->dir[i] != NULL)
            remove_created(cgs->dir[i], cgs->created[i]);
        free(cgs->dir[i]);
        free(cgs->mount[i]);
        free(cgs->created[i]);
    }
    free(cgs->parent);
    free(cgs);
}

/* Another instance ended and removed the parent it had made, which we
 * found there and use: make it again (ours now, to remove at our end). */
static int remake_parent(cj_cgroups *cgs, size_t h, cj_err *err)
{
    int cpu = 1;
    char *dir = NULL, *created = NULL;
    int fd = make_parent(cgs->mount[h], cgs->parent, cgs->v2, &cpu, &dir, &created, err);
    if (fd < 0)
        return -1;
    close(cgs->fd[h]);
    free(cgs->dir[h]);
    cgs->fd[h] = fd;
    cgs->dir[h] = dir;
    if (cgs->created[h] == NULL)
        cgs->created[h] = created;
    else
        free(created);
    return 0;
}

int cj_cgroups_is_v2(const cj_cgroups *cgs) { return cgs != NULL && cgs->v2; }

/* Writes a limit and reads it back: a limit that did not take (a kernel that
 * rounds or clamps differently, a file that ignores us) must fail the
 * execution rather than run it unbounded. */
static int set_verified(const cj_cgroup *cg, int ctl, const char *file, const char *val, const char *want,
                        cj_err *err)
{
    int h = cg->ctl[ctl];
    int r = cj_write_at(cg->fd[h], file, val);
    if (r < 0)
        return cj_fail(err, -r, "writing '%s' to %s/%s", val, cg->dir[h], file);
    char got[128];
    if ((r = cj_read_at(cg->fd[h], file, got, sizeof(got))) < 0)
        return cj_fail(err, -r, "reading back %s/%s", cg->dir[h], file);
    if (strcmp(got, want) != 0)
        return cj_fail(err, EIO, "%s/%s reads '%s' after writing '%s' (expected '%s')", cg->dir[h], file, got, val,
                       want);
    return 0;
}

static void fmt_limit(char *buf, size_t size, long long v, const char *none)
{
    if (v > 0)
        snprintf(buf, size, "%lld", v);
    else
        snprintf(buf, size, "%s", none);
}

static int set_limits_now(const cj_cgroup *cg, const cj_cgroup_limits *lim, long long page, cj_err *err);

static int set_limits(cj_cgroup *cg, const cj_cgroup_limits *lim, long long page, cj_err *err)
{
    if (cg->cur_valid && cg->cur.memory_bytes == lim->memory_bytes && cg->cur.pids == lim->pids &&
        cg->cur.cpu_quota_us == lim->cpu_quota_us)
        return 0;
    cg->cur_valid = 0;
    if (set_limits_now(cg, lim, page, err) < 0)
        return -1;
    cg->cur = *lim;
    cg->cur_valid = 1;
    return 0;
}

static int set_limits_now(const cj_cgroup *cg, const cj_cgroup_limits *lim, long long page, cj_err *err)
{
    int v2 = cg->v2;
    char val[64], want[64];
    /* The kernel keeps memory limits in whole pages, rounding down; v1's
     * unlimited ("-1") reads back as the largest page count in bytes. */
    fmt_limit(val, sizeof(val), lim->memory_bytes, v2 ? "max" : "-1");
    if (lim->memory_bytes > 0 || !v2)
        snprintf(want, sizeof(want), "%lld", (lim->memory_bytes > 0 ? lim->memory_bytes : LLONG_MAX) / page * page);
    else
        snprintf(want, sizeof(want), "max");
    if (set_verified(cg, CTL_MEMORY, v2 ? "memory.max" : "memory.limit_in_bytes", val, want, err) < 0)
        return -1;
    /* Swap would let an execution hold far more than its memory limit and
     * slow the host down instead of being OOM-killed.  v1's memsw is memory +
     * swap, so equal to the memory limit means none; it must stay >= the
     * memory limit, hence set after it.  No file: no swap accounting. */
    const char *swap = v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes";
    if (faccessat(cg->fd[cg->ctl[CTL_MEMORY]], swap, F_OK, 0) == 0 &&
        set_verified(cg, CTL_MEMORY, swap, v2 ? "0" : val, v2 ? "0" : want, err) < 0)
        return -1;
    fmt_limit(val, sizeof(val), lim->pids, "max");
    if (set_verified(cg, CTL_PIDS, "pids.max", val, val, err) < 0)
        return -1;
    if (cg->ctl[CTL_CPU] < 0)
        return 0; /* optional: RLIMIT_CPU still bounds the CPU time */
    if (v2) {
        fmt_limit(want, sizeof(want), lim->cpu_quota_us, "max");
        snprintf(val, sizeof(val), "%.20s %d", want, CJ_CPU_PERIOD_US);
        return set_verified(cg, CTL_CPU, "cpu.max", val, val, err);
    }
    snprintf(val, sizeof(val), "%d", CJ_CPU_PERIOD_US);
    if (set_verified(cg, CTL_CPU, "cpu.cfs_period_us", val, val, err) < 0)
        return -1;
    fmt_limit(val, sizeof(val), lim->cpu_quota_us, "-1");
    return set_verified(cg, CTL_CPU, "cpu.cfs_quota_us", val, val, err);
}

int cj_cgroup_set_background(cj_cgroup *cg, int background, cj_err *err)
{
    if (cg == NULL || cg->ctl[CTL_CPU] < 0 || cg->background == (background != 0))
        return 0;
    /* A tenth of the default weight (v2 cpu.weight 100, v1 cpu.shares 1024). */
    const char *val = cg->v2 ? (background ? "10" : "100") : (background ? "102" : "1024");
    cg->background = -1;
    if (set_verified(cg, CTL_CPU, cg->v2 ? "cpu.weight" : "cpu.shares", val, val, err) < 0)
        return -1;
    cg->background = background != 0;
    return 0;
}

int cj_cgroup_create(cj_cgroups *cgs, const char *name, const cj_cgroup_limits *lim, cj_cgroup **out,
                     cj_err *err)
{
    *out = NULL;
    size_t nlen = name ? strlen(name) : 0;
    if (nlen == 0 || nlen > NAME_MAX || strchr(name, '/') != NULL || is_dot_or_dotdot(name, nlen))
        return cj_fail(err, EINVAL, "cgroup name '%s': expected one path component", name ? name : "(null)");
    long long page = sysconf(_SC_PAGESIZE);
    /* Under a page the kernel's limit would be 0 pages, not what was asked. */
    if (lim->memory_bytes < 0 || (lim->memory_bytes > 0 && lim->memory_bytes < page) || lim->pids < 0 ||
        lim->cpu_quota_us < 0)
        return cj_fail(err, EINVAL, "cgroup %s: limits must be 0 (none) or positive, memory at least a page", name);
    cj_cgroup *cg = calloc(1, sizeof(*cg));
    if (cg == NULL)
        return cj_fail(err, ENOMEM, "cgroup %s", name);
    cg->v2 = cgs->v2;
    cg->nh = cgs->nh;
    cg->background = -1;
    cg->peak_fd = -1;
    for (int i = 0; i < CTL_N; i++) {
        cg->ctl[i] = cgs->ctl[i];
        cg->fd[i] = cg->procs[i] = -1;
    }
    for (size_t h = 0; h < cg->nh; h++) {
        char *path;
        if (asprintf(&path, "%s/%s", cgs->dir[h], name) < 0) {
            cj_fail(err, ENOMEM, "cgroup %s", name);
            goto fail;
        }
        /* EEXIST is an error too: a leftover may hold processes or other
         * limits, and we would remove it as ours later. */
        int made = mkdirat(cgs->fd[h], name, 0755);
        if (made < 0 && errno == ENOENT && remake_parent(cgs, h, err) == 0)
            made = mkdirat(cgs->fd[h], name, 0755);
        if (made < 0) {
            cj_fail(err, errno, "creating cgroup %s", path);
            free(path);
            goto fail;
        }
        cg->dir[h] = path;
        if ((cg->fd[h] = openat(cgs->fd[h], name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
            cj_fail(err, errno, "opening %s", path);
            goto fail;
        }
        /* Opened here, by the service, so the child needs no permission on
         * the cgroup tree after it has dropped privileges. */
        if (!cg->v2) {
            if ((cg->procs[cg->nprocs] = openat(cg->fd[h], "cgroup.procs", O_WRONLY | O_CLOEXEC)) < 0) {
                cj_fail(err, errno, "opening %s/cgroup.procs", path);
                goto fail;
            }
            cg->nprocs++;
        }
    }
    if (set_limits(cg, lim, page, err) < 0)
        goto fail;
    *out = cg;
    return 0;
fail:
    cj_cgroup_destroy(cg, NULL); /* keeps err: the first failure is the one to report */
    return -1;
}

int cj_cgroup_dirfd(const cj_cgroup *cg) { return cg->v2 ? cg->fd[0] : -1; }

size_t cj_cgroup_procs_fds(const cj_cgroup *cg, const int **fds)
{
    *fds = cg->procs;
    return cg->nprocs;
}

/* Between fork and exec: only write(2), no allocation, no stdio.  "0" means
 * the writing process, so no pid is formatted or translated across a new pid
 * namespace. */
int cj_cgroup_enter_self(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ssize_t w;
        do
            w = write(fds[i], "0", 1);
        while (w < 0 && errno == EINTR);
        if (w != 1)
            return w < 0 ? -errno : -EIO;
    }
    return 0;
}

/* SIGKILLs every pid listed in each hierarchy's cgroup.procs; returns how
 * many were listed.  A pid read here could in theory be reused by an
 * unrelated process before kill(), but only if the whole pid space wraps in
 * those microseconds. */
/* v1's cpuacct hierarchy of its own holds no limit, and a process joins it
 * last (cj_cgroup_enter_self goes in hierarchy order, and one that fails
 * exits): whoever is listed there is listed in the others.  Not read again
 * to kill: three passes an execution would cost it ~30 us of the service's
 * time. */
static int accounting_only(const cj_cgroup *cg, size_t h)
{
    for (int c = 0; c < CTL_N; c++)
        if (cg->ctl[c] == (int)h && c != CTL_CPUACCT)
            return 0;
    return 1;
}

static int kill_listed(const cj_cgroup *cg)
{
    int seen = 0;
    pid_t self = getpid();
    for (size_t h = 0; h < cg->nh; h++) {
        if (accounting_only(cg, h))
            continue;
        int fd = cg->fd[h] < 0 ? -1 : openat(cg->fd[h], "cgroup.procs", O_RDONLY | O_CLOEXEC);
        FILE *f = fd < 0 ? NULL : fdopen(fd, "r");
        if (f == NULL) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        long long pid;
        while (fscanf(f, "%lld", &pid) == 1) {
            /* Never ourselves, even if misconfigured into the cgroup, nor init. */
            if (pid > 1 && pid != self)
                kill((pid_t)pid, SIGKILL);
            seen++;
        }
        fclose(f);
    }
    return seen;
}

/* v2's cgroup.kill kills atomically, forks included.  The pass over
 * cgroup.procs after it is the whole method on v1 and on v2 before 5.14, and
 * in every case waits until the list is empty, so that the cgroup can be
 * removed at once: it repeats to catch processes forked while we killed.
 * Only for a cgroup about to be removed: see cj_cgroup_kill_nowait. */
void cj_cgroup_kill(cj_cgroup *cg)
{
    if (cg == NULL)
        return;
    cg->killed = 1;
    if (cg->v2 && cg->fd[0] >= 0)
        (void)cj_write_at(cg->fd[0], "cgroup.kill", "1"); /* ENOENT before 5.14 */
    for (int round = 0; round < CJ_KILL_ROUNDS; round++) {
        if (kill_listed(cg) == 0)
            return;
        sleep_ms(1);
    }
}

int cj_cgroup_set_limits(cj_cgroup *cg, const cj_cgroup_limits *lim, cj_err *err)
{
    long long page = sysconf(_SC_PAGESIZE);
    return set_limits(cg, lim, page > 0 ? page : 4096, err);
}

/* No cgroup.kill here: this cgroup goes back to the pool.  Each write to
 * cgroup.kill bumps the cgroup's kill counter, and stable kernels that carry
 * the fork-versus-kill fix without its CLONE_INTO_CGROUP correction (Debian
 * 6.1.176, for one) compare the counter of the parent's cgroup, read at
 * fork, with the target's: every later clone3 into a cgroup killed that way
 * is SIGKILLed as it starts.  Nothing needs it either: the execution's pid
 * namespace dies with its init, and without namespaces the pass over
 * cgroup.procs is repeated (kill_listed at every reuse attempt) until the
 * cgroup is empty, its forks bounded by pids.max. */
void cj_cgroup_kill_nowait(cj_cgroup *cg)
{
    if (cg == NULL)
        return;
    (void)kill_listed(cg);
}

int cj_cgroup_reuse(cj_cgroup *cg, const cj_cgroup_limits *lim, cj_err *err)
{
    if (cg->killed)
        return cj_fail(err, EINVAL, "cgroup %s went through cgroup.kill: clone3 into it is not safe on every kernel",
                       cg->dir[0] ? cg->dir[0] : "?");
    /* Killed when it came back; what is listed now is still exiting (or
     * forked past the kill: killed again here).  Not usable yet. */
    if (kill_listed(cg) != 0)
        return 1;
    long long page = sysconf(_SC_PAGESIZE);
    return set_limits(cg, lim, page > 0 ? page : 4096, err);
}

/* The value of the line "key N" of a keyed file (memory.events, cpu.stat,
 * memory.oom_control), or of its only line when key is NULL; -1 when
 * absent. */
static long long read_counter(int dirfd, const char *file, const char *key)
{
    char buf[1024];
    if (dirfd < 0 || cj_read_at(dirfd, file, buf, sizeof(buf)) < 0)
        return -1;
    size_t klen = key != NULL ? strlen(key) : 0;
    for (const char *p = buf; p != NULL; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (key != NULL && (strncmp(p, key, klen) != 0 || p[klen] != ' '))
            continue;
        char *end;
        errno = 0;
        long long v = strtoll(p + klen, &end, 10);
        return (errno != 0 || end == p + klen || v < 0) ? -1 : v;
    }
    return -1;
}

static int memory_fd(const cj_cgroup *cg)
{
    return cg->ctl[CTL_MEMORY] < 0 ? -1 : cg->fd[cg->ctl[CTL_MEMORY]];
}

/* v1 kernels before 4.13 have no oom_kill line: unknown, not zero. */
static long long oom_kills(const cj_cgroup *cg)
{
    return read_counter(memory_fd(cg), cg->v2 ? "memory.events" : "memory.oom_control", "oom_kill");
}

/* v2's cpu.stat exists with or without the cpu controller; v1 needs the
 * cpuacct hierarchy. */
static long long cpu_ns(const cj_cgroup *cg)
{
    if (cg->v2) {
        long long us = read_counter(cg->fd[0], "cpu.stat", "usage_usec");
        return us < 0 ? -1 : us * 1000;
    }
    return cg->ctl[CTL_CPUACCT] < 0 ? -1 : read_counter(cg->fd[cg->ctl[CTL_CPUACCT]], "cpuacct.usage", NULL);
}

static long long delta(long long now, long long base)
{
    return now < 0 || base < 0 || now < base ? -1 : now - base;
}

void cj_cgroup_usage_mark(cj_cgroup *cg)
{
    cg->base.cpu_ns = cpu_ns(cg);
    cg->base.oom_kills = oom_kills(cg);
    cg->base.peak_bytes = -1;
    if (cg->peak_fd >= 0) {
        close(cg->peak_fd);
        cg->peak_fd = -1;
    }
    int mfd = memory_fd(cg);
    if (!cg->v2) {
        /* Any write resets v1's watermark to the usage now. */
        cg->peak_mark = cj_write_at(mfd, "memory.max_usage_in_bytes", "0") < 0 ? -1 : 0;
        return;
    }
    /* Kernels before 6.12 have memory.peak read-only: the write fails. */
    int fd = mfd < 0 ? -1 : openat(mfd, "memory.peak", O_RDWR | O_CLOEXEC);
    if (fd >= 0 && cj_write_value(fd, "reset") == 0) {
        cg->peak_fd = fd;
        return;
    }
    if (fd >= 0)
        close(fd);
    cg->peak_mark = read_counter(mfd, "memory.peak", NULL);
}

static long long peak_bytes(const cj_cgroup *cg)
{
    int mfd = memory_fd(cg);
    if (!cg->v2)
        return cg->peak_mark < 0 ? -1 : read_counter(mfd, "memory.max_usage_in_bytes", NULL);
    if (cg->peak_fd >= 0) {
        char buf[32];
        ssize_t n = pread(cg->peak_fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            return -1;
        buf[n] = '\0';
        char *end;
        long long v = strtoll(buf, &end, 10);
        return end == buf || v < 0 ? -1 : v;
    }
    /* No reset: memory.peak (5.19+) is the cgroup's since it was made, over
     * every execution the pool gave it.  Risen since the mark, it is this
     * execution's; else this one's peak is not known, and its usage now
     * is the highest we saw (a lower bound, as the README says). */
    long long lifetime = read_counter(mfd, "memory.peak", NULL);
    if (lifetime >= 0 && cg->peak_mark >= 0 && lifetime > cg->peak_mark)
        return lifetime;
    return read_counter(mfd, "memory.current", NULL);
}

void cj_cgroup_usage_read(const cj_cgroup *cg, cj_cgroup_usage *u)
{
    u->cpu_ns = delta(cpu_ns(cg), cg->base.cpu_ns);
    u->oom_kills = delta(oom_kills(cg), cg->base.oom_kills);
    u->peak_bytes = peak_bytes(cg);
}

int cj_cgroup_destroy(cj_cgroup *cg, cj_err *err)
{
    if (cg == NULL)
        return 0;
    cj_cgroup_kill(cg);
    int ret = 0, tries = CJ_RMDIR_TRIES;
    for (size_t h = 0; h < cg->nh; h++) {
        if (cg->dir[h] == NULL)
            continue;
        while (rmdir(cg->dir[h]) < 0 && errno != ENOENT) {
            int e = errno;
            /* EBUSY: killed processes are still exiting (the cgroup stays
             * populated until each has passed exit), a short wait. */
            if (e == EBUSY && tries-- > 0) {
                sleep_ms(2);
                continue;
            }
            if (ret == 0)
                ret = cj_fail(err, e, "removing cgroup %s", cg->dir[h]);
            break;
        }
    }
    if (cg->peak_fd >= 0)
        close(cg->peak_fd);
    for (int i = 0; i < CTL_N; i++) {
        if (cg->fd[i] >= 0)
            close(cg->fd[i]);
        if (cg->procs[i] >= 0)
            close(cg->procs[i]);
        free(cg->dir[i]);
    }
    free(cg);
    return ret;
}
