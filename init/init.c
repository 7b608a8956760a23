/* codejail-init: the container's PID 1.
 *
 * It prepares the container (container.c, cgroups.c: namespaces, mounts,
 * cgroup delegation; started on a bare host it makes the container first and
 * stays outside as a relay for the init inside, which is this same program),
 * then starts one command (the "main child", codejail-server) with only the
 * capabilities the server needs (caps.c).  It forwards termination and job
 * signals to it, reaps every zombie that ends up with us, and exits with the
 * main child's status (128+N when it died of signal N).  Before exiting it
 * stops whatever descendants are left: SIGTERM, a grace period, then SIGKILL,
 * so a sandbox left behind by the server never outlives it without a clean
 * chance to stop.
 *
 * Two regimes, as everywhere in codejail: set-up errors exit 125 before any
 * child exists; once the main loop runs nothing makes us exit except the main
 * child's end, because a PID 1 that dies takes the whole container with it. */
#include "init.h"

#include "cgroup_parent.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CODEJAIL_VERSION
#define CODEJAIL_VERSION "dev"
#endif

#define DEFAULT_GRACE_S 10
#define MAX_GRACE_S 86400 /* a day: keeps seconds * 1000 far from overflow */
#define KILL_SWEEP_MS 100 /* how often to re-sweep while SIGKILLing leftovers */

#define DEFAULT_WORK_SIZE "256m"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int fail(const struct cj_log *log, const char *fmt, ...)
{
    int e = errno;
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    cj_log(log, CJ_LOG_ERROR, "%s: %s", what, strerror(e));
    return -1;
}

/* poll() timeout until a deadline (-1 = none). */
static int timeout_until(int64_t deadline_ms)
{
    if (deadline_ms < 0)
        return -1;
    int64_t left = deadline_ms - now_ms();
    return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* ---- command line ------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: codejail-init [OPTIONS] [--] CMD [ARGS...]\n"
            "Prepare the container for codejail-server, then run CMD as the child of a\n"
            "minimal init: forward signals, reap zombies, exit with CMD's status (128+N\n"
            "if killed by signal N).  As PID 1 it prepares the container it is in;\n"
            "otherwise it first makes one (new pid, mount, ipc, uts, cgroup namespaces).\n"
            "\n"
            "  --grace SECONDS         wait this long after SIGTERM before SIGKILL\n"
            "                          (default %d, or $CODEJAIL_INIT_GRACE)\n"
            "  --no-namespaces         stay in the current namespaces (as a subreaper)\n"
            "  --cgroup-parent NAME    cgroup for the executions, under the hierarchy's\n"
            "                          root (default %s, or $CODEJAIL_CGROUP_PARENT)\n"
            "  --no-cgroups            leave cgroups alone\n"
            "  --work-tmpfs PATH[:SIZE]  mount a tmpfs of SIZE (default %s) on PATH\n"
            "                          for execution directories ($CODEJAIL_WORK_TMPFS)\n"
            "  --keep-caps             CMD keeps every capability in our bounding set\n"
            "  --log-level LEVEL       error, warning, info (default) or debug\n"
            "                          ($CODEJAIL_INIT_LOG_LEVEL)\n"
            "  --log-format FORMAT     text (default) or json ($CODEJAIL_INIT_LOG_FORMAT)\n"
            "  --help                  show this help\n"
            "  --version               show the version\n"
            "\n"
            "Exit status: CMD's, 125 on a usage or set-up error, 127 if CMD cannot run.\n",
            DEFAULT_GRACE_S, CJ_CGROUP_PARENT_DEFAULT, DEFAULT_WORK_SIZE);
}

static bool parse_grace(const char *s, int *out)
{
    /* strtoul alone would take " 5", "+5" and "-1" (as a huge value). */
    if (s == NULL || !isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > MAX_GRACE_S)
        return false;
    *out = (int)v;
    return true;
}

/* PATH[:SIZE], SIZE a whole number of bytes with an optional k, m or g. */
static bool parse_work_tmpfs(const char *s, struct work_tmpfs *w)
{
    const char *colon = strrchr(s, ':');
    const char *size = colon != NULL ? colon + 1 : DEFAULT_WORK_SIZE;
    size_t plen = colon != NULL ? (size_t)(colon - s) : strlen(s);
    if (s[0] != '/' || plen >= sizeof(w->path) || !isdigit((unsigned char)size[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(size, &end, 10);
    int shift = *end == '\0' ? 0 : strchr("kK", *end) ? 10 : strchr("mM", *end) ? 20 : strchr("gG", *end) ? 30 : -1;
    /* 0 would mean "no limit" to tmpfs; 2^50 bytes keeps us far from overflow. */
    if (shift < 0 || (*end != '\0' && end[1] != '\0') || errno != 0 || n == 0 || n > (1ULL << 50) >> shift)
        return false;
    memcpy(w->path, s, plen);
    w->path[plen] = '\0';
    snprintf(w->size, sizeof(w->size), "%s", size);
    w->bytes = n << shift;
    return true;
}

/* Returns -1 to go on, or the status to exit with right away. */
static int parse_args(struct init_ctx *c, int argc, char **argv)
{
    enum { OPT_GRACE = 256, OPT_NO_NS, OPT_PARENT, OPT_NO_CG, OPT_WORK, OPT_KEEP_CAPS, OPT_LOG, OPT_LOG_FORMAT, OPT_HELP, OPT_VERSION };
    static const struct option opts[] = {
        {"grace", required_argument, NULL, OPT_GRACE},
        {"no-namespaces", no_argument, NULL, OPT_NO_NS},
        {"cgroup-parent", required_argument, NULL, OPT_PARENT},
        {"no-cgroups", no_argument, NULL, OPT_NO_CG},
        {"work-tmpfs", required_argument, NULL, OPT_WORK},
        {"keep-caps", no_argument, NULL, OPT_KEEP_CAPS},
        {"log-level", required_argument, NULL, OPT_LOG},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };

    const struct cj_log *log = &c->log;
    c->grace_s = DEFAULT_GRACE_S;
    c->namespaces = c->cgroups = true;
    /* Settings from the environment are checked even when an option
     * overrides them: a typo there would otherwise surface only in the
     * deployment that lacks the option. */
    const char *env = getenv("CODEJAIL_INIT_LOG_LEVEL");
    if (env != NULL && env[0] != '\0' && !cj_log_level_parse(env, strlen(env), &c->log.level)) { /* "": info */
        cj_log(log, CJ_LOG_ERROR, "invalid CODEJAIL_INIT_LOG_LEVEL '%s' (" CJ_LOG_LEVELS ")", env);
        return EXIT_SETUP;
    }
    env = getenv("CODEJAIL_INIT_LOG_FORMAT");
    if (env != NULL && env[0] != '\0' && !cj_log_format_parse(env, strlen(env), &c->log.format)) { /* "": text */
        cj_log(log, CJ_LOG_ERROR, "invalid CODEJAIL_INIT_LOG_FORMAT '%s' (" CJ_LOG_FORMATS ")", env);
        return EXIT_SETUP;
    }
    env = getenv("CODEJAIL_INIT_GRACE");
    if (env != NULL && !parse_grace(env, &c->grace_s)) {
        cj_log(log, CJ_LOG_ERROR, "invalid CODEJAIL_INIT_GRACE '%s' (whole seconds, 0-%d)", env, MAX_GRACE_S);
        return EXIT_SETUP;
    }
    env = getenv("CODEJAIL_CGROUP_PARENT");
    c->cgroup_parent = env != NULL ? env : CJ_CGROUP_PARENT_DEFAULT;
    if (!cj_cgroup_parent_valid(c->cgroup_parent, strlen(c->cgroup_parent))) {
        cj_log(log, CJ_LOG_ERROR, "invalid CODEJAIL_CGROUP_PARENT '%s' (" CJ_CGROUP_PARENT_RULE ")", env);
        return EXIT_SETUP;
    }
    env = getenv("CODEJAIL_WORK_TMPFS");
    if (env != NULL && env[0] != '\0' && !parse_work_tmpfs(env, &c->work)) { /* "": none */
        cj_log(log, CJ_LOG_ERROR, "invalid CODEJAIL_WORK_TMPFS '%s' (ABSOLUTE-PATH[:SIZE], SIZE like 256m)", env);
        return EXIT_SETUP;
    }

    /* '+': stop at the first non-option, so CMD's own options stay CMD's
     * even without "--".  ':': tell a missing argument from an unknown
     * option.  We print our own messages (opterr = 0). */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
        switch (opt) {
        case OPT_GRACE:
            if (!parse_grace(optarg, &c->grace_s)) {
                cj_log(log, CJ_LOG_ERROR, "invalid --grace '%s' (whole seconds, 0-%d)", optarg, MAX_GRACE_S);
                return EXIT_SETUP;
            }
            break;
        case OPT_NO_NS:
            c->namespaces = false;
            break;
        case OPT_PARENT:
            if (!cj_cgroup_parent_valid(optarg, strlen(optarg))) {
                cj_log(log, CJ_LOG_ERROR, "invalid --cgroup-parent '%s' (" CJ_CGROUP_PARENT_RULE ")", optarg);
                return EXIT_SETUP;
            }
            c->cgroup_parent = optarg;
            break;
        case OPT_NO_CG:
            c->cgroups = false;
            break;
        case OPT_WORK:
            if (!parse_work_tmpfs(optarg, &c->work)) {
                cj_log(log, CJ_LOG_ERROR, "invalid --work-tmpfs '%s' (ABSOLUTE-PATH[:SIZE], SIZE like 256m)", optarg);
                return EXIT_SETUP;
            }
            break;
        case OPT_KEEP_CAPS:
            c->keep_caps = true;
            break;
        case OPT_LOG:
            if (!cj_log_level_parse(optarg, strlen(optarg), &c->log.level)) {
                cj_log(log, CJ_LOG_ERROR, "invalid --log-level '%s' (" CJ_LOG_LEVELS ")", optarg);
                return EXIT_SETUP;
            }
            break;
        case OPT_LOG_FORMAT:
            if (!cj_log_format_parse(optarg, strlen(optarg), &c->log.format)) {
                cj_log(log, CJ_LOG_ERROR, "invalid --log-format '%s' (" CJ_LOG_FORMATS ")", optarg);
                return EXIT_SETUP;
            }
            break;
        case OPT_HELP:
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("codejail-init %s\n", CODEJAIL_VERSION);
            return 0;
        case ':':
            cj_log(log, CJ_LOG_ERROR, "option '%s' needs an argument", argv[optind - 1]);
            return EXIT_SETUP;
        default: /* optopt is set for "-x" (maybe inside "-xy"), not long ones */
            if (optopt != 0)
                cj_log(log, CJ_LOG_ERROR, "unknown option '-%c'", optopt);
            else
                cj_log(log, CJ_LOG_ERROR, "unknown option '%s'", argv[optind - 1]);
            return EXIT_SETUP;
        }
    }
    if (optind >= argc) {
        cj_log(log, CJ_LOG_ERROR, "no command given (try --help)");
        return EXIT_SETUP;
    }
    c->cmd = argv + optind;
    return -1;
}

/* ---- set-up ------------------------------------------------------------- */

static int setup(struct init_ctx *c)
{
    c->self = getpid();
    c->pid1 = c->self == 1;
    /* Not PID 1: make orphans come back to us rather than to the real init,
     * so we can reap them and find them at shutdown. */
    if (!c->pid1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return fail(&c->log, "prctl(PR_SET_CHILD_SUBREAPER)");

    sigset_t all;
    sigfillset(&all);
    if (sigprocmask(SIG_SETMASK, &all, &c->orig_mask) < 0)
        return fail(&c->log, "sigprocmask");
    /* Only now, with everything blocked (so no default action can strike
     * in between), reset what our parent may have set to SIG_IGN.  An
     * ignored SIGCHLD makes the kernel auto-reap children, losing the main
     * child's status; and SIG_IGN survives exec, so the child would inherit
     * it (a server deaf to SIGTERM).  A blocked signal is queued even when
     * ignored, so the signalfd would see it either way.  EINVAL is expected
     * for SIGKILL, SIGSTOP and glibc's reserved signals. */
    for (int sig = 1; sig < NSIG; sig++) {
        struct sigaction sa = {.sa_handler = SIG_DFL};
        if (sigaction(sig, &sa, NULL) < 0 && errno != EINVAL)
            return fail(&c->log, "reset signal");
    }
    c->sfd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
    if (c->sfd < 0)
        return fail(&c->log, "signalfd");

    /* With every signal blocked and before the main child exists: it may
     * fail closed (exit 125) and nothing leaks. */
    return prepare_container(c);
}

__attribute__((noreturn)) static void exec_child(const struct init_ctx *c)
{
    /* A session of its own: a terminal's ^C then reaches only us (the
     * foreground group) and we forward it once; sharing our group, the
     * child would get it twice.  It cannot fail: a fresh child never leads
     * a process group. */
    (void)setsid();
    const char *step;
    if (!c->keep_caps && caps_limit_to_server(&step) < 0) {
        cj_log(&c->log, CJ_LOG_ERROR, "capabilities: %s: %s", step, strerror(errno));
        _exit(EXIT_SETUP);
    }
    /* Dispositions are already SIG_DFL (reset in setup()); the mask is the
     * one thing still ours.  Signals forwarded before this line stay
     * pending and strike right here, so none is lost. */
    sigprocmask(SIG_SETMASK, &c->orig_mask, NULL);
    execvp(c->cmd[0], c->cmd);
    /* Still in the child: the stderr we share is the only way to say why. */
    cj_log(&c->log, CJ_LOG_ERROR, "exec %s: %s", c->cmd[0], strerror(errno));
    _exit(EXIT_EXEC_FAILED);
}

/* ---- the loop ----------------------------------------------------------- */

/* Reaps every zombie child; returns whether any child is still alive. */
static bool reap(struct init_ctx *c)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            if (pid == c->child && !c->child_exited) {
                c->child_exited = true;
                c->child_status = status;
            }
            continue;
        }
        if (pid == 0)
            return true;
        if (errno == EINTR)
            continue;
        if (errno != ECHILD)
            cj_log(&c->log, CJ_LOG_ERROR, "waitpid: %s", strerror(errno));
        return false;
    }
}

static bool is_forwarded(int sig)
{
    switch (sig) {
    case SIGTERM: case SIGINT: case SIGHUP: case SIGQUIT:
    case SIGUSR1: case SIGUSR2: case SIGWINCH: case SIGCONT:
        return true;
    default:
        return false;
    }
}

/* Requests to stop: these start the grace clock. */
static bool is_stop(int sig)
{
    return sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT;
}

static void forward(struct init_ctx *c, int sig)
{
    /* The main child's pid is safe to signal until *we* reap it: until then
     * it is at worst a zombie, whose pid the kernel cannot reuse.  After
     * that it may belong to anyone, so we stop forwarding.  Other signals
     * (SIGTSTP, SIGPIPE, SIGALRM...) are ours to ignore: stopping PID 1
     * would freeze the container. */
    if (c->child_exited || !is_forwarded(sig))
        return;
    if (kill(c->child, sig) < 0)
        cj_log(&c->log, CJ_LOG_ERROR, "forward SIG%s to %d: %s", sigabbrev_np(sig), (int)c->child, strerror(errno));
    else
        cj_log(&c->log, CJ_LOG_DEBUG, "forwarded SIG%s to %d", sigabbrev_np(sig), (int)c->child);
    /* Only the first request starts the clock: repeated SIGTERMs must not
     * postpone the SIGKILL forever.  A relay keeps no clock: the init inside
     * runs the grace twice (its main child, then the leftovers), and killing
     * it early would cut the second short; were it stuck, a SIGKILL to it
     * would meet the same unkillable processes its own SIGKILL does. */
    if (is_stop(sig) && c->kill_at_ms < 0 && !c->relay)
        c->kill_at_ms = now_ms() + (int64_t)c->grace_s * 1000;
}

/* Waits up to timeout_ms for signals, acts on them, reaps.  Returns whether
 * any child is still alive. */
static bool pump(struct init_ctx *c, int timeout_ms)
{
    struct pollfd p = {.fd = c->sfd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno != EINTR) {
        cj_log(&c->log, CJ_LOG_ERROR, "poll: %s", strerror(errno));
        /* Don't spin on a persistent failure; children are still reaped. */
        struct timespec pause = {.tv_nsec = 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (n > 0) {
        struct signalfd_siginfo si[16];
        ssize_t got;
        while ((got = read(c->sfd, si, sizeof(si))) > 0) {
            for (size_t i = 0; i < (size_t)got / sizeof(si[0]); i++)
                forward(c, (int)si[i].ssi_signo);
        }
        if (got < 0 && errno != EAGAIN && errno != EINTR)
            cj_log(&c->log, CJ_LOG_ERROR, "read signalfd: %s", strerror(errno));
    }
    /* Reap on every wake-up, not only on SIGCHLD: SIGCHLDs coalesce, and a
     * spare waitpid costs nothing. */
    return reap(c);
}

static void run_main_child(struct init_ctx *c)
{
    while (!c->child_exited) {
        pump(c, timeout_until(c->kill_at_ms));
        if (c->child_exited || c->kill_at_ms < 0 || now_ms() < c->kill_at_ms)
            continue;
        cj_log(&c->log, CJ_LOG_WARNING, "main child %d still running %d s after a stop signal; sending SIGKILL",
               (int)c->child, c->grace_s);
        if (kill(c->child, SIGKILL) < 0)
            cj_log(&c->log, CJ_LOG_ERROR, "kill %d: %s", (int)c->child, strerror(errno));
        c->kill_at_ms = -1; /* SIGKILL cannot be ignored; once is enough */
    }
}

/* ---- leftover descendants ---------------------------------------------- */

struct proc {
    pid_t pid, ppid;
    bool ours; /* a descendant of ours */
};

static int read_ppid(int procfd, pid_t pid, pid_t *ppid)
{
    char path[32], buf[256];
    snprintf(path, sizeof(path), "%d/stat", (int)pid);
    int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and ')', but every
     * field after it is numeric, so the last ')' ends it. */
    const char *p = strrchr(buf, ')');
    int v;
    if (p == NULL || sscanf(p + 1, " %*c %d", &v) != 1)
        return -1;
    *ppid = v;
    return 0;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = ((const struct proc *)a)->pid, y = ((const struct proc *)b)->pid;
    return (x > y) - (x < y);
}

/* Between our /proc scan and the signal, a grandchild may be reaped by its
 * own parent and its pid reused by an unrelated process.  A pidfd pins the
 * process; re-reading its parent after pinning proves it is still one we
 * scanned (or an orphan that has just come to us). */
static void signal_verified(const struct init_ctx *c, int procfd, const struct proc *p, int sig)
{
    int pfd = (int)syscall(SYS_pidfd_open, p->pid, 0); /* always CLOEXEC */
    if (pfd < 0) {
        if (errno == ENOSYS) /* kernel < 5.3: accept the tiny race */
            kill(p->pid, sig);
        return; /* ESRCH: already gone */
    }
    pid_t ppid;
    if (read_ppid(procfd, p->pid, &ppid) == 0 && (ppid == p->ppid || ppid == c->self))
        syscall(SYS_pidfd_send_signal, pfd, sig, NULL, 0);
    close(pfd);
}

/* Signals every descendant at once, so a parent that waits for its children
 * on SIGTERM (a shell, a supervisor) sees them stop within the same grace. */
static void signal_descendants(const struct init_ctx *c, int sig)
{
    if (c->pid1) {
        /* As a namespace's init everything here descends from us. */
        if (kill(-1, sig) < 0 && errno != ESRCH)
            cj_log(&c->log, CJ_LOG_ERROR, "kill(-1, SIG%s): %s", sigabbrev_np(sig), strerror(errno));
        return;
    }
    DIR *dir = opendir("/proc"); /* O_CLOEXEC in glibc */
    if (dir == NULL) {
        cj_log(&c->log, CJ_LOG_ERROR, "open /proc: %s", strerror(errno));
        return;
    }
    struct proc *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        struct proc p = {.pid = (pid_t)strtol(de->d_name, NULL, 10)};
        if (read_ppid(dirfd(dir), p.pid, &p.ppid) < 0)
            continue; /* gone meanwhile */
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            struct proc *nv = realloc(v, ncap * sizeof(*nv));
            if (nv == NULL) {
                cj_log(&c->log, CJ_LOG_WARNING, "out of memory scanning /proc; signalling what was found");
                break;
            }
            v = nv;
            cap = ncap;
        }
        v[n++] = p;
    }
    if (n == 0) /* qsort and bsearch want a real array */
        goto out;
    /* Mark descendants: a fixpoint over "my parent is us or ours"; depth
     * passes, each n log n, only at shutdown. */
    qsort(v, n, sizeof(*v), cmp_pid);
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t i = 0; i < n; i++) {
            if (v[i].ours)
                continue;
            struct proc key = {.pid = v[i].ppid};
            const struct proc *parent = bsearch(&key, v, n, sizeof(*v), cmp_pid);
            if (v[i].ppid == c->self || (parent != NULL && parent->ours))
                v[i].ours = changed = true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].ours)
            signal_verified(c, dirfd(dir), &v[i], sig);
    }
out:
    free(v);
    closedir(dir);
}

/* The main child is gone: SIGTERM the rest, wait out the grace period, then
 * SIGKILL until none is left.  Returns only when we have no children, which
 * (as init or subreaper, orphans coming to us) means no descendants. */
static void stop_leftovers(struct init_ctx *c)
{
    if (!reap(c))
        return;
    signal_descendants(c, SIGTERM);
    int64_t kill_at = now_ms() + (int64_t)c->grace_s * 1000;
    bool killing = false;
    /* Signals now are ignored (forward() checks child_exited): the clock
     * already bounds how long this takes. */
    while (pump(c, killing ? KILL_SWEEP_MS : timeout_until(kill_at))) {
        if (!killing && now_ms() >= kill_at) {
            cj_log(&c->log, CJ_LOG_WARNING, "descendants still running %d s after SIGTERM; sending SIGKILL",
                   c->grace_s);
            killing = true;
        }
        /* Repeat: a process may fork between our scan and its death, and
         * its orphan reaches us without any SIGCHLD. */
        if (killing)
            signal_descendants(c, SIGKILL);
    }
}

int main(int argc, char **argv)
{
    struct init_ctx c = {.log = {CJ_LOG_INFO, "codejail-init"}, .sfd = -1, .kill_at_ms = -1};
    int rc = parse_args(&c, argc, argv);
    if (rc >= 0)
        return rc;

    if (setup(&c) < 0)
        return EXIT_SETUP;
    if (!c.relay) {
        c.child = fork();
        if (c.child < 0) {
            cj_log(&c.log, CJ_LOG_ERROR, "fork: %s", strerror(errno));
            return EXIT_SETUP;
        }
        if (c.child == 0)
            exec_child(&c);
        cj_log(&c.log, CJ_LOG_DEBUG, "main child %d: %s", (int)c.child, c.cmd[0]);
    }

    /* From here on nothing exits but the main child's end. */
    run_main_child(&c);
    /* A relay's descendants all lived in the pid namespace whose init it
     * waited for, and the kernel killed them with it. */
    if (!c.relay)
        stop_leftovers(&c);
    cj_log(&c.log, CJ_LOG_DEBUG, "main child %d ended (wait status %#x)", (int)c.child, (unsigned)c.child_status);
    if (WIFSIGNALED(c.child_status))
        return 128 + WTERMSIG(c.child_status);
    return WEXITSTATUS(c.child_status);
}
