/* cgroup.c against the real kernel: needs root.  The layout the test expects
 * (v1 mounts or a v2 root) is found here independently of cgroup.c, so the
 * same test runs on the v1 CI machines and in the v2 VM tier. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "check.h"

#define MiB (1024LL * 1024)

typedef struct layout {
    int v2;
    /* where each controller's hierarchy is mounted; "" when absent */
    char mem[256], pids[256], cpu[256], cpuacct[256]; /* cpuacct: v1 only */
} layout;

typedef struct ctx {
    layout l;
    char parent[96];
} ctx;

static int has_token(const char *list, const char *word, const char *seps)
{
    char copy[1024], *save = NULL;
    snprintf(copy, sizeof(copy), "%s", list);
    for (char *t = strtok_r(copy, seps, &save); t != NULL; t = strtok_r(NULL, seps, &save))
        if (strcmp(t, word) == 0)
            return 1;
    return 0;
}

static int read_str(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    while (n > 0 && buf[n - 1] == '\n')
        n--;
    buf[n] = '\0';
    return 0;
}

static void find_layout(layout *l)
{
    memset(l, 0, sizeof(*l));
    struct statfs sf;
    char avail[1024] = "";
    if (statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC &&
        read_str("/sys/fs/cgroup/cgroup.controllers", avail, sizeof(avail)) == 0 &&
        has_token(avail, "memory", " ") && has_token(avail, "pids", " ")) {
        l->v2 = 1;
        strcpy(l->mem, "/sys/fs/cgroup");
        strcpy(l->pids, "/sys/fs/cgroup");
        if (has_token(avail, "cpu", " "))
            strcpy(l->cpu, "/sys/fs/cgroup");
        return;
    }
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char mp[256], type[64], opts[512];
        const char *sep = strstr(line, " - ");
        if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %255s", mp) != 1 ||
            sscanf(sep + 3, "%63s %*s %511s", type, opts) != 2 || strcmp(type, "cgroup") != 0)
            continue;
        if (l->mem[0] == '\0' && has_token(opts, "memory", ","))
            strcpy(l->mem, mp);
        if (l->pids[0] == '\0' && has_token(opts, "pids", ","))
            strcpy(l->pids, mp);
        if (l->cpu[0] == '\0' && has_token(opts, "cpu", ","))
            strcpy(l->cpu, mp);
        if (l->cpuacct[0] == '\0' && has_token(opts, "cpuacct", ","))
            strcpy(l->cpuacct, mp);
    }
    if (f != NULL)
        fclose(f);
}

static const char *cgfile(char *buf, size_t size, const char *mount, const char *rel, const char *file)
{
    snprintf(buf, size, "%s/%s%s%s", mount, rel, file[0] ? "/" : "", file);
    return buf;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Whether <name> is gone under the parent in every hierarchy. */
static int gone(const ctx *c, const char *name)
{
    char rel[160], p[512];
    snprintf(rel, sizeof(rel), "%s/%s", c->parent, name);
    const char *mounts[] = {c->l.mem, c->l.pids, c->l.cpu};
    for (int i = 0; i < 3; i++)
        if (mounts[i][0] != '\0' && exists(cgfile(p, sizeof(p), mounts[i], rel, "")))
            return 0;
    return 1;
}

static int check_file(const char *mount, const char *rel, const char *file, const char *want)
{
    char p[512], got[128];
    if (read_str(cgfile(p, sizeof(p), mount, rel, file), got, sizeof(got)) < 0) {
        fprintf(stderr, "cannot read %s\n", p);
        return 0;
    }
    if (strcmp(got, want) != 0)
        fprintf(stderr, "%s: got '%s', want '%s'\n", p, got, want);
    return strcmp(got, want) == 0;
}

/* Child side: v1 through the pre-opened cgroup.procs fds, as spawn does; v2
 * (where spawn uses CLONE_INTO_CGROUP) by writing "0" into cgroup.procs. */
static int join(const cj_cgroup *cg)
{
    if (cj_cgroup_dirfd(cg) < 0) {
        const int *fds;
        size_t n = cj_cgroup_procs_fds(cg, &fds);
        return cj_cgroup_enter_self(fds, n);
    }
    int fd = openat(cj_cgroup_dirfd(cg), "cgroup.procs", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = write(fd, "0", 1) == 1 ? 0 : -errno;
    close(fd);
    return r;
}

/* Forks a child that joins cg, reports the join's result on a pipe and runs
 * body (which must not return).  Returns the pid once the child is in. */
static pid_t spawn_in(const cj_cgroup *cg, void (*body)(const ctx *), const ctx *c)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        int r = join(cg);
        (void)!write(p[1], &r, sizeof(r));
        close(p[1]);
        if (r < 0)
            _exit(90);
        body(c);
        _exit(91);
    }
    close(p[1]);
    int r = -1;
    if (pid > 0 && read(p[0], &r, sizeof(r)) != sizeof(r))
        r = -1;
    close(p[0]);
    if (pid > 0 && r < 0) {
        fprintf(stderr, "child could not join the cgroup: %s\n", strerror(-r));
        waitpid(pid, NULL, 0);
        return -1;
    }
    return pid;
}

/* Bounded, so a cgroup.c that fails to kill shows as a failed check, not a
 * hung test: after 5 s the child is killed here and the status is -1. */
static int wait_status(pid_t pid)
{
    int st = -1;
    for (int i = 0; pid > 0 && i < 500; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        if (r < 0)
            return -1;
        usleep(10000);
    }
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return -1;
}

static void body_pause(const ctx *c)
{
    (void)c;
    for (;;)
        pause();
}

/* Two processes, so kill must find more than the one it was told about. */
static void body_pause_tree(const ctx *c)
{
    if (fork() < 0)
        _exit(92);
    body_pause(c);
}

/* Forks until refused; exit code = forks that succeeded, or 99 unless the
 * refusal was EAGAIN (what pids.max gives). */
static void body_forks(const ctx *c)
{
    pid_t kids[16];
    int n = 0, e = 0;
    while (n < 16) {
        pid_t k = fork();
        if (k == 0)
            body_pause(c);
        if (k < 0) {
            e = errno;
            break;
        }
        kids[n++] = k;
    }
    for (int i = 0; i < n; i++) {
        kill(kids[i], SIGKILL);
        waitpid(kids[i], NULL, 0);
    }
    _exit(e == EAGAIN ? n : 99);
}

/* /proc/self/cgroup lists "id:controllers:path"; memory, pids and cpu (when
 * there) must all show our cgroup (v2: the single "0::path" line). */
static void body_membership(const ctx *c)
{
    char want[200], line[512];
    snprintf(want, sizeof(want), "/%s/lim", c->parent);
    int mem = 0, pids = 0, cpu = c->l.cpu[0] == '\0';
    FILE *f = fopen("/proc/self/cgroup", "re");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *ctls = strchr(line, ':'), *path = ctls ? strchr(ctls + 1, ':') : NULL;
        if (path == NULL)
            continue;
        *path++ = '\0';
        ctls++;
        int here = strcmp(path, want) == 0;
        if (c->l.v2 && ctls[0] == '\0')
            mem = pids = cpu = here;
        if (!c->l.v2 && has_token(ctls, "memory", ","))
            mem = here;
        if (!c->l.v2 && has_token(ctls, "pids", ","))
            pids = here;
        if (!c->l.v2 && c->l.cpu[0] != '\0' && has_token(ctls, "cpu", ","))
            cpu = here;
    }
    _exit(mem && pids && cpu ? 0 : 1);
}

/* Child side: len bytes, every page touched (charged to the cgroup). */
static void touch(size_t len)
{
    volatile char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        _exit(93);
    for (size_t i = 0; i < len; i += 4096)
        m[i] = 1;
}

static void body_memory(const ctx *c)
{
    (void)c;
    touch((size_t)(200 * MiB));
    _exit(0); /* survived: the limit did not hold */
}

/* ~300 ms of CPU, then 32 MiB touched: what the accounting must see. */
static void body_burn(const ctx *c)
{
    (void)c;
    struct timespec t0, t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) < 300000000LL);
    touch((size_t)(32 * MiB));
    _exit(0);
}

static void body_exit(const ctx *c)
{
    (void)c;
    _exit(0);
}

int main(void)
{
    CHECK_INIT;
    ctx c;
    find_layout(&c.l);
    snprintf(c.parent, sizeof(c.parent), "codejail-test-%d/inner", (int)getpid());
    printf("layout: %s; memory at '%s', pids at '%s', cpu at '%s'\n", c.l.v2 ? "v2" : "v1", c.l.mem, c.l.pids,
           c.l.cpu);
    /* Orphaned grandchildren come back to us to be reaped. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    cj_err e = {0};

    /* --- parents that would leave the hierarchy, or name nothing */
    const char *bad_parents[] = {"..", "../x", "a/../b", "a/..", "/abs", "", "./", NULL};
    for (size_t i = 0; i < sizeof(bad_parents) / sizeof(bad_parents[0]); i++) {
        cj_cgroups *bad = (cj_cgroups *)&e;
        e.errnum = 0;
        CHECK(cj_cgroups_init(&bad, bad_parents[i], &e) == -1);
        CHECK(bad == NULL && e.errnum == EINVAL);
    }
    CHECK(!exists("/sys/fs/cgroup/x"));

    cj_cgroups *cgs = NULL;
    if (cj_cgroups_init(&cgs, c.parent, &e) < 0) {
        fprintf(stderr, "cj_cgroups_init: %s\n", e.msg);
        CHECK(0);
        return CHECK_DONE();
    }
    CHECK(cj_cgroups_is_v2(cgs) == c.l.v2);
    printf("cj_cgroups_is_v2: %d\n", cj_cgroups_is_v2(cgs));
    char p[512];
    CHECK(exists(cgfile(p, sizeof(p), c.l.mem, c.parent, "")));
    CHECK(exists(cgfile(p, sizeof(p), c.l.pids, c.parent, "")));
    CHECK(c.l.cpu[0] == '\0' || exists(cgfile(p, sizeof(p), c.l.cpu, c.parent, "")));
    char on[256] = "";
    if (c.l.v2) {
        CHECK(read_str(cgfile(p, sizeof(p), c.l.mem, c.parent, "cgroup.subtree_control"), on, sizeof(on)) == 0);
        CHECK(has_token(on, "memory", " ") && has_token(on, "pids", " "));
        CHECK(c.l.cpu[0] == '\0' || has_token(on, "cpu", " "));
    }
    /* Another instance sharing the parent: init is idempotent. */
    cj_cgroups *again = NULL;
    CHECK(cj_cgroups_init(&again, c.parent, &e) == 0);
    cj_cgroups_free(again);

    /* --- names must be one component */
    cj_cgroup_limits lim = {64 * MiB, 5, 50000};
    const char *bad_names[] = {"", ".", "..", "a/b", "../x", "/x", NULL};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        cj_cgroup *cg = (cj_cgroup *)&e;
        CHECK(cj_cgroup_create(cgs, bad_names[i], &lim, &cg, &e) == -1 && cg == NULL);
    }
    cj_cgroup_limits neg = {-1, 5, 0};
    cj_cgroup *cg = NULL;
    CHECK(cj_cgroup_create(cgs, "neg", &neg, &cg, &e) == -1 && cg == NULL && gone(&c, "neg"));

    /* --- limits, read back by us */
    CHECK(cj_cgroup_create(cgs, "lim", &lim, &cg, &e) == 0);
    if (cg == NULL) {
        fprintf(stderr, "cj_cgroup_create: %s\n", e.msg);
        cj_cgroups_free(cgs);
        return CHECK_DONE();
    }
    char rel[160], mem64[32];
    snprintf(rel, sizeof(rel), "%s/lim", c.parent);
    snprintf(mem64, sizeof(mem64), "%lld", 64 * MiB);
    const int *fds;
    size_t nfds = cj_cgroup_procs_fds(cg, &fds);
    if (c.l.v2) {
        CHECK(cj_cgroup_dirfd(cg) >= 0 && nfds == 0);
        CHECK(check_file(c.l.mem, rel, "memory.max", mem64));
        if (exists(cgfile(p, sizeof(p), c.l.mem, rel, "memory.swap.max")))
            CHECK(check_file(c.l.mem, rel, "memory.swap.max", "0"));
        CHECK(check_file(c.l.pids, rel, "pids.max", "5"));
        if (c.l.cpu[0])
            CHECK(check_file(c.l.cpu, rel, "cpu.max", "50000 100000"));
    } else {
        const char *mounts[] = {c.l.mem, c.l.pids, c.l.cpu, c.l.cpuacct};
        size_t distinct = 0;
        for (size_t i = 0; i < 4; i++) {
            int seen = mounts[i][0] == '\0';
            for (size_t k = 0; k < i && !seen; k++)
                seen = strcmp(mounts[i], mounts[k]) == 0;
            distinct += !seen;
        }
        CHECK(cj_cgroup_dirfd(cg) == -1 && nfds == distinct);
        for (size_t i = 0; i < nfds; i++)
            CHECK(fcntl(fds[i], F_GETFD) == FD_CLOEXEC && (fcntl(fds[i], F_GETFL) & O_ACCMODE) == O_WRONLY);
        CHECK(check_file(c.l.mem, rel, "memory.limit_in_bytes", mem64));
        if (exists(cgfile(p, sizeof(p), c.l.mem, rel, "memory.memsw.limit_in_bytes")))
            CHECK(check_file(c.l.mem, rel, "memory.memsw.limit_in_bytes", mem64));
        CHECK(check_file(c.l.pids, rel, "pids.max", "5"));
        if (c.l.cpu[0]) {
            CHECK(check_file(c.l.cpu, rel, "cpu.cfs_period_us", "100000"));
            CHECK(check_file(c.l.cpu, rel, "cpu.cfs_quota_us", "50000"));
        }
    }
    /* A name in use is refused, and the refusal leaves the other's cgroup. */
    cj_cgroup *dup = NULL;
    CHECK(cj_cgroup_create(cgs, "lim", &lim, &dup, &e) == -1 && dup == NULL && e.errnum == EEXIST);
    CHECK(exists(cgfile(p, sizeof(p), c.l.mem, rel, "")) && exists(cgfile(p, sizeof(p), c.l.pids, rel, "")));

    /* --- a child that joins is in it, in every hierarchy */
    int st = wait_status(spawn_in(cg, body_membership, &c));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* --- pids.max 5: the child is one, so its 5th fork fails (6th if the
     * kernel counts late) */
    st = wait_status(spawn_in(cg, body_forks, &c));
    CHECK(WIFEXITED(st) && (WEXITSTATUS(st) == 4 || WEXITSTATUS(st) == 5));
    printf("pids.max 5: forks that succeeded in the child: %d (status %#x)\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
           st);

    /* --- memory 64 MiB: touching 200 MiB gets the OOM killer */
    char oc[256] = "";
    /* v1 kernels before 4.13 have no oom_kill line in memory.oom_control */
    int v1_counts = !c.l.v2 &&
                    read_str(cgfile(p, sizeof(p), c.l.mem, rel, "memory.oom_control"), oc, sizeof(oc)) == 0 &&
                    strstr(oc, "oom_kill ") != NULL;
    /* --- accounting, on a cgroup that has served children already: this
     * one's CPU time and peak, no OOM kill */
    cj_cgroup_usage u;
    cj_cgroup_usage_mark(cg);
    st = wait_status(spawn_in(cg, body_burn, &c));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cj_cgroup_usage_read(cg, &u);
    printf("burn: cpu %lld ns, peak %lld bytes, oom_kills %lld\n", u.cpu_ns, u.peak_bytes, u.oom_kills);
    int cpu_counted = c.l.v2 || c.l.cpuacct[0] != '\0';
    CHECK(cpu_counted ? u.cpu_ns >= 300000000LL && u.cpu_ns < 1000000000LL : u.cpu_ns == -1);
    CHECK(u.peak_bytes >= 32 * MiB && u.peak_bytes < 64 * MiB);
    CHECK(u.oom_kills == (c.l.v2 || v1_counts ? 0 : -1));

    /* --- memory 64 MiB: touching 200 MiB gets the OOM killer */
    cj_cgroup_usage_mark(cg);
    st = wait_status(spawn_in(cg, body_memory, &c));
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    cj_cgroup_usage_read(cg, &u);
    printf("oom_kills after the memory test: %lld, peak %lld\n", u.oom_kills, u.peak_bytes);
    CHECK(c.l.v2 || v1_counts ? u.oom_kills >= 1 : u.oom_kills == -1);
    CHECK(u.peak_bytes >= 48 * MiB && u.peak_bytes <= 64 * MiB);

    /* --- the next execution's peak is its own, not the last one's */
    cj_cgroup_usage_mark(cg);
    st = wait_status(spawn_in(cg, body_exit, &c));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cj_cgroup_usage_read(cg, &u);
    printf("a child that exits at once: cpu %lld ns, peak %lld bytes, oom_kills %lld\n", u.cpu_ns, u.peak_bytes,
           u.oom_kills);
    CHECK(u.peak_bytes >= 0 && u.peak_bytes < 16 * MiB);
    CHECK(cpu_counted ? u.cpu_ns >= 0 && u.cpu_ns < 100000000LL : u.cpu_ns == -1);
    CHECK(u.oom_kills == (c.l.v2 || v1_counts ? 0 : -1));

    CHECK(cj_cgroup_destroy(cg, &e) == 0);
    CHECK(gone(&c, "lim"));

    /* --- no limits: the "unlimited" spellings read back as written */
    cj_cgroup_limits none = {0, 0, 0};
    CHECK(cj_cgroup_create(cgs, "none", &none, &cg, &e) == 0);
    snprintf(rel, sizeof(rel), "%s/none", c.parent);
    CHECK(check_file(c.l.pids, rel, "pids.max", "max"));
    char big[32] = "";
    if (c.l.v2) {
        CHECK(check_file(c.l.mem, rel, "memory.max", "max"));
        CHECK(c.l.cpu[0] == '\0' || check_file(c.l.cpu, rel, "cpu.max", "max 100000"));
    } else {
        CHECK(read_str(cgfile(p, sizeof(p), c.l.mem, rel, "memory.limit_in_bytes"), big, sizeof(big)) == 0 &&
              strtoll(big, NULL, 10) >= (1LL << 62));
        CHECK(c.l.cpu[0] == '\0' || check_file(c.l.cpu, rel, "cpu.cfs_quota_us", "-1"));
    }
    CHECK(cj_cgroup_destroy(cg, &e) == 0 && gone(&c, "none"));

    /* --- fail closed: a limit the kernel refuses (quota under its 1 ms
     * minimum) leaves no cgroup behind */
    if (c.l.cpu[0]) {
        cj_cgroup_limits tiny = {64 * MiB, 5, 500};
        cg = NULL;
        CHECK(cj_cgroup_create(cgs, "tiny", &tiny, &cg, &e) == -1 && cg == NULL);
        CHECK(strstr(e.msg, "cpu") != NULL && gone(&c, "tiny"));
    }

    /* --- kill: a process and its child, then destroy at once */
    CHECK(cj_cgroup_create(cgs, "kill", &lim, &cg, &e) == 0);
    pid_t pid = spawn_in(cg, body_pause_tree, &c);
    CHECK(pid > 0);
    snprintf(rel, sizeof(rel), "%s/kill", c.parent);
    char procs[256] = "";
    for (int i = 0; i < 100 && strchr(procs, '\n') == NULL; i++) { /* until the grandchild is there too */
        usleep(10000);
        read_str(cgfile(p, sizeof(p), c.l.pids, rel, "cgroup.procs"), procs, sizeof(procs));
    }
    CHECK(strchr(procs, '\n') != NULL); /* two pids */
    cj_cgroup_kill(cg);
    CHECK(read_str(cgfile(p, sizeof(p), c.l.pids, rel, "cgroup.procs"), procs, sizeof(procs)) == 0 &&
          procs[0] == '\0');
    /* Killed that way, it is fit only for removal: some 6.1 stable kernels
     * SIGKILL every later clone3 into it (runtime/cgroup.c). */
    CHECK(cj_cgroup_reuse(cg, &lim, &e) < 0 && strstr(e.msg, "cgroup.kill") != NULL);
    CHECK(cj_cgroup_destroy(cg, &e) == 0);
    CHECK(gone(&c, "kill"));
    st = wait_status(pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* --- destroy alone kills what is still running */
    CHECK(cj_cgroup_create(cgs, "live", &lim, &cg, &e) == 0);
    pid = spawn_in(cg, body_pause, &c);
    CHECK(pid > 0);
    CHECK(cj_cgroup_destroy(cg, &e) == 0);
    CHECK(gone(&c, "live"));
    st = wait_status(pid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    while (waitpid(-1, NULL, 0) > 0) /* the reparented grandchild */
        ;

    /* --- the parent vanished under us (another instance that made it
     * ended): it is made again, and is then ours to remove */
    char top[64];
    snprintf(top, sizeof(top), "codejail-test-%d", (int)getpid());
    const char *mounts[] = {c.l.mem, c.l.pids, c.l.cpu};
    int distinct[3];
    for (int i = 0; i < 3; i++)
        distinct[i] = mounts[i][0] != '\0' && !(i > 0 && strcmp(mounts[i], mounts[0]) == 0) &&
                      !(i > 1 && strcmp(mounts[i], mounts[1]) == 0);
    for (int i = 0; i < 3; i++)
        if (distinct[i]) {
            CHECK(rmdir(cgfile(p, sizeof(p), mounts[i], c.parent, "")) == 0);
            CHECK(rmdir(cgfile(p, sizeof(p), mounts[i], top, "")) == 0);
        }
    CHECK(cj_cgroup_create(cgs, "again", &lim, &cg, &e) == 0);
    CHECK(cg != NULL && exists(cgfile(p, sizeof(p), c.l.mem, c.parent, "again")));
    CHECK(cj_cgroup_destroy(cg, &e) == 0);

    /* --- at its end an instance removes the parents it made, empty */
    cj_cgroups_free(cgs);
    const char *names[] = {"lim", "none", "tiny", "kill", "live", "again"};
    for (int i = 0; i < 3; i++) {
        if (!distinct[i])
            continue;
        CHECK(!exists(cgfile(p, sizeof(p), mounts[i], top, "")));
        for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) { /* left by a failed check */
            snprintf(rel, sizeof(rel), "%s/%s", c.parent, names[n]);
            (void)rmdir(cgfile(p, sizeof(p), mounts[i], rel, ""));
        }
        (void)rmdir(cgfile(p, sizeof(p), mounts[i], c.parent, ""));
        (void)rmdir(cgfile(p, sizeof(p), mounts[i], top, ""));
    }

    /* --- ...and leaves what was there before it (an operator's, or
     * another instance's still in use) */
    for (int i = 0; i < 3; i++)
        if (distinct[i])
            CHECK(mkdir(cgfile(p, sizeof(p), mounts[i], top, ""), 0755) == 0);
    CHECK(cj_cgroups_init(&cgs, c.parent, &e) == 0);
    cj_cgroups_free(cgs);
    for (int i = 0; i < 3; i++) {
        if (!distinct[i])
            continue;
        CHECK(exists(cgfile(p, sizeof(p), mounts[i], top, "")));
        CHECK(!exists(cgfile(p, sizeof(p), mounts[i], c.parent, ""))); /* made by it: gone */
        CHECK(rmdir(cgfile(p, sizeof(p), mounts[i], top, "")) == 0);
    }
    return CHECK_DONE();
}
