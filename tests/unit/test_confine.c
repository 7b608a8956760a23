/* The one checklist (confine.h).  Its plan: every path (cold in
 * namespaces, cold without, prepared, warm) takes every layer it is
 * configured with, in one order, the layers that must come last last.  And
 * a real run (as root, without namespaces): the child comes out of
 * cj_confine with every layer in force, and a failing step is reported on
 * the setup stream before the child exits 127. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "cj_seccomp.h"
#include "confine.h"
#include "wire.h"

#define NOBODY 65534

static size_t plan_of(const cj_confine_plan *p, int *steps)
{
    return cj_confine_steps(p, steps, CJ_STEP_COUNT);
}

static int index_of(const int *steps, size_t n, int step)
{
    for (size_t i = 0; i < n; i++)
        if (steps[i] == step)
            return (int)i;
    return -1;
}

/* a comes before b, both present. */
static int before(const int *steps, size_t n, int a, int b)
{
    int ia = index_of(steps, n, a), ib = index_of(steps, n, b);
    return ia >= 0 && ib >= 0 && ia < ib;
}

static void check_plans(struct cj_check_state *st)
{
    struct cj_check_state cj_check_ = *st;
    static const cj_mount_plan mp = {.host_dir = "/x"};
    static const cj_landlock_spec ll = {0};
    static const struct cj_seccomp sc = {0};
    const int procs[1] = {7};
    /* Every layer on, as the service runs by default. */
    cj_confine_plan cold = {.exec = 1, .cgroup_dir = -1, .mounts = &mp, .cwd = "/tmp/x",
                            .limits = &(cj_sandbox_limits){1, 2, 3, 4}, .uid = NOBODY, .gid = NOBODY,
                            .apparmor_profile = "codejail_sandbox", .proc_fd = 3, .landlock = &ll, .seccomp = &sc,
                            .fd_request = -1};
    cj_confine_plan bare = cold, prepared = cold, warm = cold;
    bare.mounts = NULL;
    bare.own_session = 1;
    bare.cgroup_procs = procs;
    bare.n_cgroup_procs = 1;
    prepared.limits = NULL;
    prepared.fd_request = 9;
    warm.exec = 0;
    warm.limits = NULL;
    warm.fd_request = 9;
    warm.cgroup_procs = procs;
    warm.n_cgroup_procs = 1;
    warm.cgroup_dir = 8;
    const cj_confine_plan *plans[] = {&cold, &bare, &prepared, &warm};
    int s[4][CJ_STEP_COUNT];
    size_t n[4];
    for (int k = 0; k < 4; k++)
        n[k] = plan_of(plans[k], s[k]);

    /* Every path: every layer, each once. */
    const int layers[] = {CJ_STEP_PDEATHSIG, CJ_STEP_CHDIR,    CJ_STEP_RLIMITS,      CJ_STEP_CAPS,
                          CJ_STEP_IDENTITY,  CJ_STEP_APPARMOR, CJ_STEP_FDS,          CJ_STEP_CAPS_VERIFY,
                          CJ_STEP_NO_NEW_PRIVS, CJ_STEP_LANDLOCK, CJ_STEP_SECCOMP};
    for (int k = 0; k < 4; k++) {
        for (size_t i = 0; i < sizeof(layers) / sizeof(layers[0]); i++)
            CHECK(index_of(s[k], n[k], layers[i]) >= 0);
        for (size_t i = 0; i < n[k]; i++)
            for (size_t j = i + 1; j < n[k]; j++)
                CHECK(s[k][i] != s[k][j]);
        /* The filter last; the ids before AppArmor (whose profile denies
         * the capabilities the steps before need); the fds placed before
         * the last three; nothing after seccomp. */
        CHECK(s[k][n[k] - 1] == CJ_STEP_SECCOMP);
        CHECK(before(s[k], n[k], CJ_STEP_RLIMITS, CJ_STEP_IDENTITY));
        CHECK(before(s[k], n[k], CJ_STEP_CAPS, CJ_STEP_IDENTITY));
        CHECK(before(s[k], n[k], CJ_STEP_IDENTITY, CJ_STEP_APPARMOR));
        CHECK(before(s[k], n[k], CJ_STEP_APPARMOR, CJ_STEP_FDS));
        CHECK(before(s[k], n[k], CJ_STEP_FDS, CJ_STEP_CAPS_VERIFY));
        CHECK(before(s[k], n[k], CJ_STEP_NO_NEW_PRIVS, CJ_STEP_LANDLOCK));
    }
    /* Namespaces: the cgroup namespace once in the cgroup, then the root,
     * the hostname and lo, all before the privileges go. */
    for (int k = 0; k < 4; k++) {
        if (plans[k]->mounts == NULL) {
            CHECK(index_of(s[k], n[k], CJ_STEP_MOUNTS) < 0 && index_of(s[k], n[k], CJ_STEP_NETWORK) < 0);
            CHECK(index_of(s[k], n[k], CJ_STEP_SETSID) >= 0);
            continue;
        }
        CHECK(index_of(s[k], n[k], CJ_STEP_SETSID) < 0);
        CHECK(before(s[k], n[k], CJ_STEP_CGROUP_NS, CJ_STEP_MOUNTS));
        CHECK(before(s[k], n[k], CJ_STEP_MOUNTS, CJ_STEP_HOSTNAME));
        CHECK(before(s[k], n[k], CJ_STEP_HOSTNAME, CJ_STEP_NETWORK));
        CHECK(before(s[k], n[k], CJ_STEP_NETWORK, CJ_STEP_CAPS));
    }
    CHECK(before(s[3], n[3], CJ_STEP_CGROUP, CJ_STEP_CGROUP_NS)); /* warm joins, then unshares */
    CHECK(index_of(s[0], n[0], CJ_STEP_CGROUP) < 0); /* cold: born in it (or its init joined) */
    /* One order: the steps two paths share come in the same order. */
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++)
            for (size_t i = 0; i < n[a]; i++)
                for (size_t j = i + 1; j < n[a]; j++) {
                    int x = index_of(s[b], n[b], s[a][i]), y = index_of(s[b], n[b], s[a][j]);
                    if (x >= 0 && y >= 0)
                        CHECK(x < y);
                }
    /* Warm and cold differ only in what the exec and the cgroup join need. */
    for (size_t i = 0; i < n[0]; i++)
        CHECK(s[0][i] == CJ_STEP_SIGNALS || index_of(s[3], n[3], s[0][i]) >= 0);
    for (size_t i = 0; i < n[3]; i++)
        CHECK(s[3][i] == CJ_STEP_CGROUP || index_of(s[0], n[0], s[3][i]) >= 0);
    /* A layer off is a step fewer, never another order. */
    cj_confine_plan off = cold;
    off.landlock = NULL;
    off.seccomp = NULL;
    off.apparmor_profile = NULL;
    int t[CJ_STEP_COUNT];
    size_t m = plan_of(&off, t);
    CHECK(m == n[0] - 3);
    CHECK(index_of(t, m, CJ_STEP_LANDLOCK) < 0 && index_of(t, m, CJ_STEP_SECCOMP) < 0);
    CHECK(t[m - 1] == CJ_STEP_NO_NEW_PRIVS);
    /* Too little room: nothing, not a truncated plan. */
    CHECK(cj_confine_steps(&cold, t, 3) == 0);
    CHECK(strcmp(cj_setup_step_name(CJ_STEP_CGROUP_NS), "cgroup namespace") == 0);
    CHECK(strcmp(cj_setup_step_name(999), "unknown") == 0);
    *st = cj_check_;
}

/* The child's own checks after cj_confine: a bit per failure. */
static int confined_ok(void)
{
    int bad = 0, k = 0;
    uid_t r, e, s;
    gid_t rg, eg, sg;
    struct rlimit nofile;
    bad |= (getresuid(&r, &e, &s) < 0 || r != NOBODY || e != NOBODY || s != NOBODY) << k++;
    bad |= (getresgid(&rg, &eg, &sg) < 0 || rg != NOBODY || eg != NOBODY || sg != NOBODY) << k++;
    bad |= (getgroups(0, NULL) != 0) << k++;
    bad |= (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) << k++;
    bad |= (prctl(PR_CAPBSET_READ, 21 /* CAP_SYS_ADMIN */, 0, 0, 0) != 0) << k++;
    bad |= (getrlimit(RLIMIT_NOFILE, &nofile) < 0 || nofile.rlim_max != CJ_NOFILE) << k++;
    bad |= (getsid(0) != getpid()) << k++;
    /* 0..4 in place, the setup stream CLOEXEC, nothing above it. */
    bad |= (fcntl(CJ_FD_RESULT, F_GETFD) != 0 || fcntl(CJ_FD_SETUP, F_GETFD) != FD_CLOEXEC) << k++;
    bad |= (fcntl(CJ_FD_REQUEST, F_GETFD) != -1 || fcntl(CJ_HIGH_FD, F_GETFD) != -1) << k++;
    /* seccomp: the filter mode, and a namespace call refused. */
    bad |= (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) != 2) << k++;
    bad |= (unshare(0x10000000 /* CLONE_NEWUSER */) == 0) << k++;
    /* Landlock (when the kernel has it): only /dev/null may be written. */
    if (cj_landlock_abi() > 0)
        bad |= (open("/etc/hostname", O_RDONLY | O_CLOEXEC) >= 0 || errno != EACCES) << k++;
    return bad;
}

static void check_run(struct cj_check_state *st, const char *cwd, int want_step, int want_errno)
{
    struct cj_check_state cj_check_ = *st;
    cj_seccomp sc;
    cj_err err = {0};
    CHECK(cj_seccomp_build_stage1(&sc, &err) == 0);
    const char *none[] = {NULL}, *write[] = {"/dev/null", NULL};
    cj_landlock_spec ll = {.exec_paths = none, .read_paths = none, .write_paths = write};
    int setup[2], nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    CHECK(pipe2(setup, O_CLOEXEC) == 0 && nul >= 0);
    cj_confine_plan p = {.exec = 1, .own_session = 1, .cgroup_dir = -1, .cwd = cwd,
                         .limits = &(cj_sandbox_limits){.cpu = 5, .vmem = 1LL << 30, .fsize = 1 << 20, .nproc = 10},
                         .nproc_rlimit = 0, .uid = NOBODY, .gid = NOBODY, .proc_fd = -1,
                         .landlock = cj_landlock_abi() > 0 ? &ll : NULL, .seccomp = &sc,
                         .fds = {nul, nul, nul, nul, setup[1]}, .fd_request = -1};
    pid_t pid = fork();
    if (pid == 0) {
        cj_confine(&p);
        _exit(confined_ok());
    }
    close(setup[1]);
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid);
    struct cj_sandbox_record rec;
    ssize_t n = read(setup[0], &rec, sizeof(rec));
    if (want_step == 0) {
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
            fprintf(stderr, "confined child: failed checks 0x%x\n", WEXITSTATUS(status));
        CHECK(n == 0); /* nothing to report */
    } else {
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 127);
        CHECK(n == (ssize_t)sizeof(rec) && rec.kind == CJ_RECORD_FAILURE && rec.step == want_step &&
              rec.value == want_errno);
    }
    close(setup[0]);
    close(nul);
    cj_seccomp_free(&sc);
    *st = cj_check_;
}

int main(void)
{
    CHECK_INIT;
    check_plans(&cj_check_);
    check_run(&cj_check_, "/", 0, 0);
    check_run(&cj_check_, "/nonexistent-codejail-dir", CJ_STEP_CHDIR, ENOENT);
    return CHECK_DONE();
}
