/* The execution cgroup pool: a returned cgroup is emptied and re-armed with
 * the next execution's limits (read back from the kernel here), the pool
 * never keeps more than it may, and freeing it removes what it kept. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "check.h"

static long long read_ll(const char *dir, const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    FILE *f = fopen(path, "re");
    long long v = -2;
    if (f != NULL) {
        if (fscanf(f, "%lld", &v) != 1)
            v = -3;
        fclose(f);
    }
    return v;
}

int main(void)
{
    CHECK_INIT;
    char parent[64], pids_root[128];
    snprintf(parent, sizeof(parent), "codejail-pooltest-%d", (int)getpid());
    cj_cgroups *cgs = NULL;
    cj_err err = {0};
    CHECK(cj_cgroups_init(&cgs, parent, &err) == 0);
    if (cgs == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        return CHECK_DONE();
    }
    int v2 = cj_cgroups_is_v2(cgs);
    snprintf(pids_root, sizeof(pids_root), v2 ? "/sys/fs/cgroup/%s" : "/sys/fs/cgroup/pids/%s", parent);

    const struct cj_log log = {.level = CJ_LOG_DEBUG, .prog = "test_cgroup_pool"};
    cj_cgroup_pool *pool = cj_cgroup_pool_new(cgs, 1, &log);
    CHECK(pool != NULL);
    cj_cgroup_limits a = {.memory_bytes = 64 << 20, .pids = 7, .cpu_quota_us = 100000};
    cj_cgroup_limits b = {.memory_bytes = 32 << 20, .pids = 3, .cpu_quota_us = 50000};
    cj_cgroup *first = NULL, *again = NULL, *other = NULL;
    CHECK(cj_cgroup_pool_get(pool, &a, &first, &err) == 0);
    /* Its name: exec-<random tag>-1, the only one in the test's parent. */
    char name[512] = "";
    {
        DIR *d = opendir(pids_root);
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL)
            if (strncmp(e->d_name, "exec-", 5) == 0)
                snprintf(name, sizeof(name), "%s/%s", pids_root, e->d_name);
        if (d != NULL)
            closedir(d);
    }
    CHECK(strlen(name) > 2 && strcmp(name + strlen(name) - 2, "-1") == 0);
    CHECK(read_ll(name, "pids.max") == 7);

    /* A process left behind in it is killed when it goes back. */
    pid_t straggler = fork();
    if (straggler == 0) {
        const int *fds = NULL;
        size_t n = cj_cgroup_procs_fds(first, &fds);
        if (cj_cgroup_enter_self(fds, n) < 0)
            _exit(2);
        pause();
        _exit(0);
    }
    usleep(100 * 1000);
    cj_cgroup_pool_put(pool, first);
    int st = 0;
    CHECK(waitpid(straggler, &st, 0) == straggler && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    /* Reused, not recreated: same directory, the new limits in force. */
    CHECK(cj_cgroup_pool_get(pool, &b, &again, &err) == 0);
    CHECK(again == first);
    CHECK(read_ll(name, "pids.max") == 3);
    /* The pool is empty now: a second one is created under a new name. */
    CHECK(cj_cgroup_pool_get(pool, &a, &other, &err) == 0);
    CHECK(other != again);
    char name2[512];
    snprintf(name2, sizeof(name2), "%.*s2", (int)strlen(name) - 1, name);
    struct stat sb;
    CHECK(stat(name2, &sb) == 0);
    /* Past max_idle (1), a returned cgroup is removed. */
    cj_cgroup_pool_put(pool, again);
    cj_cgroup_pool_put(pool, other);
    CHECK(stat(name2, &sb) < 0);
    CHECK(stat(name, &sb) == 0);

    /* One that still holds a process (its teardown not done yet) is neither
     * handed out nor dropped: it stays idle, and a new one serves. */
    pid_t busy = fork();
    if (busy == 0) {
        const int *fds = NULL;
        size_t n = cj_cgroup_procs_fds(again, &fds);
        if (cj_cgroup_enter_self(fds, n) < 0)
            _exit(2);
        pause();
        _exit(0);
    }
    usleep(100 * 1000);
    cj_cgroup *fresh = NULL, *later = NULL;
    CHECK(cj_cgroup_pool_get(pool, &a, &fresh, &err) == 0);
    CHECK(fresh != NULL && fresh != again);
    /* ...and looking at it killed what it found there. */
    CHECK(waitpid(busy, &st, 0) == busy && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* Empty now: it is the one handed out next. */
    CHECK(cj_cgroup_pool_get(pool, &b, &later, &err) == 0);
    CHECK(later == again);
    CHECK(read_ll(name, "pids.max") == 3);
    cj_cgroup_pool_put(pool, later);
    cj_err e2 = {0};
    CHECK(cj_cgroup_destroy(fresh, &e2) == 0);
    cj_cgroup_pool_free(pool);
    CHECK(stat(name, &sb) < 0);
    cj_cgroups_free(cgs);

    /* Leave nothing: the test's parent in every hierarchy. */
    const char *roots[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu"};
    for (size_t i = 0; i < sizeof(roots) / sizeof(roots[0]); i++) {
        char p[256];
        snprintf(p, sizeof(p), "%s/%s", roots[i], parent);
        rmdir(p);
    }
    return CHECK_DONE();
}
