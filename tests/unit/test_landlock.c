/* Landlock against the real kernel: each scenario forks a child that applies
 * a ruleset and then tries what sandboxed code would try (read, write,
 * execute, rename, TCP, abstract sockets, signals), reporting its counts
 * over a pipe.  Every ABI from 1 to min(kernel, 6) is exercised through the
 * cj_landlock_apply_abi hook, so the ABI 2 ruleset Debian 12 gets is tested
 * on a newer kernel too.  Runs as root: Landlock binds root as well.  A
 * kernel without Landlock fails this test; it never skips. */
#include "landlock.h"

#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

int cj_landlock_apply_abi(const cj_landlock_spec *spec, int max_abi);

#define PLEN 256

/* Everything a scenario needs, built by the parent before the fork. */
struct ctx {
    int kabi;     /* what the kernel reports */
    int cap;      /* ABI to ask for; 0 = the public cj_landlock_apply */
    int tcp_port; /* parent listens on 127.0.0.1:tcp_port */
    int tcp_fd;
    int unix_fd;
    struct sockaddr_un unix_addr; /* abstract, parent listens */
    socklen_t unix_len;
    char root[PLEN];
    char exec_dir[PLEN], exec_true[PLEN];
    char ro[PLEN], ro_file[PLEN], ro_true[PLEN], ro_new[PLEN];
    char rw[PLEN], rw_x[PLEN], rw_x2[PLEN], rw_sub[PLEN], rw_sub_x[PLEN], rw_new[PLEN];
    char rw_dir[PLEN], rw_link[PLEN], rw_true[PLEN];
    char out[PLEN], out_file[PLEN], out_wfile[PLEN], out_new[PLEN], missing[PLEN];
};

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void join(char dst[PLEN], const char *root, const char *rel)
{
    if (snprintf(dst, PLEN, "%s/%s", root, rel) >= PLEN)
        die("path too long");
}

static void put_file(const char *path, const char *data, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data) || close(fd) < 0)
        die(path);
}

static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    if (in < 0 || out < 0)
        die(to);
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (write(out, buf, (size_t)n) != n)
            die(to);
    if (n < 0 || close(in) < 0 || close(out) < 0)
        die(to);
}

/* A fresh tree per scenario, so one child's writes never feed the next. */
static void make_tree(struct ctx *c)
{
    strcpy(c->root, "/tmp/cj-test-landlock-XXXXXX");
    if (mkdtemp(c->root) == NULL)
        die("mkdtemp");
    join(c->exec_dir, c->root, "exec");
    join(c->exec_true, c->root, "exec/true");
    join(c->ro, c->root, "ro");
    join(c->ro_file, c->root, "ro/file");
    join(c->ro_true, c->root, "ro/true");
    join(c->ro_new, c->root, "ro/new");
    join(c->rw, c->root, "rw");
    join(c->rw_x, c->root, "rw/x");
    join(c->rw_x2, c->root, "rw/x2");
    join(c->rw_sub, c->root, "rw/sub");
    join(c->rw_sub_x, c->root, "rw/sub/x");
    join(c->rw_new, c->root, "rw/new");
    join(c->rw_dir, c->root, "rw/dir");
    join(c->rw_link, c->root, "rw/link");
    join(c->rw_true, c->root, "rw/true");
    join(c->out, c->root, "outside");
    join(c->out_file, c->root, "outside/file");
    join(c->out_wfile, c->root, "outside/wfile");
    join(c->out_new, c->root, "outside/new");
    join(c->missing, c->root, "no-such-dir");
    const char *dirs[] = {c->exec_dir, c->ro, c->rw, c->rw_sub, c->out};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
        if (mkdir(dirs[i], 0755) < 0)
            die(dirs[i]);
    put_file(c->ro_file, "hello\n", 0644);
    put_file(c->rw_x, "x\n", 0644);
    put_file(c->out_file, "secret\n", 0644);
    put_file(c->out_wfile, "old contents\n", 0644);
    copy_file("/usr/bin/true", c->exec_true);
    copy_file("/usr/bin/true", c->ro_true);
    copy_file("/usr/bin/true", c->rw_true);
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st, (void)type, (void)ftw;
    return remove(path) < 0 ? -1 : 0;
}

static void remove_tree(const struct ctx *c)
{
    if (nftw(c->root, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        die("remove tree");
}

/* Counted with fcntl, not /proc/self/fd: after the ruleset the child may
 * not list /proc, and that is the point. */
static int count_fds(void)
{
    struct rlimit rl;
    int lim = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    int n = 0;
    for (int fd = 0; fd < lim; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

/* 0 on success, else the errno: what each probe reports. */
static int e_of(int rc)
{
    return rc < 0 ? errno : 0;
}

static int try_open(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int try_read(const char *path)
{
    char buf[16];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = read(fd, buf, sizeof(buf)) < 0 ? errno : 0;
    close(fd);
    return e;
}

/* Create/overwrite, write, shrink by fd and by path. */
static int try_write(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return errno;
    int e = 0;
    if (write(fd, "data", 4) != 4 || ftruncate(fd, 2) < 0 || truncate(path, 1) < 0)
        e = errno;
    close(fd);
    return e;
}

/* Exec in a grandchild, so the scenario's child survives to report. */
static int try_exec(const char *path)
{
    pid_t pid = fork();
    if (pid < 0)
        return errno;
    if (pid == 0) {
        char *const argv[] = {(char *)path, NULL};
        char *const envp[] = {NULL};
        execve(path, argv, envp);
        _exit(errno < 100 ? 100 + errno : 99);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return EIO;
    int code = WEXITSTATUS(st);
    return code == 0 ? 0 : code > 100 ? code - 100 : EIO;
}

static int try_tcp(const struct ctx *c, int do_bind)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return errno;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    a.sin_port = do_bind ? 0 : htons((uint16_t)c->tcp_port);
    int e = e_of(do_bind ? bind(s, (struct sockaddr *)&a, sizeof(a))
                         : connect(s, (struct sockaddr *)&a, sizeof(a)));
    close(s);
    return e;
}

static int try_unix(const struct ctx *c)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return errno;
    int e = e_of(connect(s, (const struct sockaddr *)&c->unix_addr, c->unix_len));
    close(s);
    return e;
}

static int try_ioctl_devnull(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct termios t;
    int e = e_of(ioctl(fd, TCGETS, &t));
    close(fd);
    return e;
}

/* CHECK that a probe gave the errno wanted, naming both when not. */
#define EXPECT(probe, want)                                                                        \
    do {                                                                                           \
        int g_ = (probe), w_ = (want);                                                             \
        CHECK(g_ == w_);                                                                           \
        if (g_ != w_)                                                                              \
            fprintf(stderr, "  [cap %d] %s: got %d (%s), want %d (%s)\n", c->cap, #probe, g_,      \
                    strerror(g_), w_, strerror(w_));                                               \
    } while (0)

static int apply(const struct ctx *c, const cj_landlock_spec *spec)
{
    return c->cap == 0 ? cj_landlock_apply(spec) : cj_landlock_apply_abi(spec, c->cap);
}

static int expected_abi(const struct ctx *c)
{
    int want = c->cap == 0 ? 6 : c->cap;
    return c->kabi < want ? c->kabi : want;
}

/* The exec grants the interpreter needs: /usr, plus /lib* where they are
 * real directories or links (merged /usr or not). */
static void sys_exec_paths(const char **v, int *n)
{
    const char *sys[] = {"/usr", "/lib", "/lib64", "/lib32"};
    for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++)
        if (access(sys[i], F_OK) == 0)
            v[(*n)++] = sys[i];
}

/* The layout the sandbox gets: exec/ and the system run, ro/ and /dev/null
 * are read, rw/ is its tmp. */
static struct cj_check_state child_main(const struct ctx *c)
{
    CHECK_INIT;
    const char *execs[8] = {c->exec_dir};
    int n = 1;
    sys_exec_paths(execs, &n);
    const char *reads[] = {c->ro, "/dev/null", NULL};
    const char *writes[] = {c->rw, NULL};
    cj_landlock_spec spec = {.exec_paths = execs, .read_paths = reads, .write_paths = writes};

    /* Controls: each denial below must come from Landlock, not from a
     * setup that never worked. */
    EXPECT(try_read(c->out_file), 0);
    EXPECT(try_tcp(c, 0), 0);
    EXPECT(try_unix(c), 0);
    EXPECT(e_of(kill(getppid(), 0)), 0);
    EXPECT(try_ioctl_devnull(), ENOTTY);

    int fds = count_fds();
    int abi = apply(c, &spec);
    EXPECT(abi, expected_abi(c));
    if (abi < 0)
        return cj_check_;
    EXPECT(count_fds(), fds);
    EXPECT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);

    /* Read-only tree: readable, not writable, not creatable. */
    EXPECT(try_read(c->ro_file), 0);
    EXPECT(try_open(c->ro, O_RDONLY | O_DIRECTORY), 0);
    EXPECT(try_open(c->ro_file, O_WRONLY), EACCES);
    EXPECT(try_open(c->ro_new, O_WRONLY | O_CREAT), EACCES);
    EXPECT(e_of(unlink(c->ro_file)), EACCES);
    /* Before ABI 3 truncate(2) is outside Landlock's reach. */
    EXPECT(e_of(truncate(c->ro_file, 6)), abi >= 3 ? EACCES : 0);

    /* Write tree: the sandbox's tmp. */
    EXPECT(try_write(c->rw_new), 0);
    EXPECT(try_read(c->rw_new), 0);
    EXPECT(e_of(mkdir(c->rw_dir, 0755)), 0);
    EXPECT(e_of(rmdir(c->rw_dir)), 0);
    EXPECT(e_of(symlink("new", c->rw_link)), 0);
    EXPECT(e_of(rename(c->rw_x, c->rw_x2)), 0);
    EXPECT(e_of(rename(c->rw_x2, c->rw_x)), 0);
    /* Reparenting inside rw/ needs REFER, which ABI 1 cannot grant. */
    EXPECT(e_of(rename(c->rw_x, c->rw_sub_x)), abi >= 2 ? 0 : EXDEV);
    if (abi >= 2)
        EXPECT(e_of(rename(c->rw_sub_x, c->rw_x)), 0);
    EXPECT(e_of(unlink(c->rw_new)), 0);

    /* Nothing moves into or out of the read-only tree, nor outside. */
    EXPECT(e_of(rename(c->rw_x, c->ro_new)), EACCES);
    EXPECT(e_of(link(c->rw_x, c->ro_new)), EACCES);
    EXPECT(e_of(rename(c->ro_file, c->rw_new)), EACCES);
    EXPECT(e_of(rename(c->rw_x, c->out_new)), EACCES);

    /* Everything else is invisible to open. */
    EXPECT(try_read(c->out_file), EACCES);
    EXPECT(try_open(c->out, O_RDONLY | O_DIRECTORY), EACCES);
    EXPECT(try_open("/", O_RDONLY | O_DIRECTORY), EACCES);
    EXPECT(try_open("/tmp", O_RDONLY | O_DIRECTORY), EACCES);
    EXPECT(try_read("/etc/passwd"), EACCES);
    EXPECT(try_open("/proc/self/fd", O_RDONLY | O_DIRECTORY), EACCES);

    /* Execute only where granted: never what the sandbox can write. */
    EXPECT(try_exec("/usr/bin/true"), 0);
    EXPECT(try_exec(c->exec_true), 0);
    EXPECT(try_exec(c->rw_true), EACCES);
    EXPECT(try_exec(c->ro_true), EACCES);
    EXPECT(try_read(c->exec_true), 0);
    EXPECT(try_open(c->exec_true, O_WRONLY), EACCES);

    /* A file granted on its own: reads, but neither writes nor ioctls. */
    EXPECT(try_read("/dev/null"), 0);
    EXPECT(try_open("/dev/null", O_WRONLY), EACCES);
    EXPECT(try_ioctl_devnull(), abi >= 5 ? EACCES : ENOTTY);

    EXPECT(try_tcp(c, 0), abi >= 4 ? EACCES : 0);
    EXPECT(try_tcp(c, 1), abi >= 4 ? EACCES : 0);
    EXPECT(try_unix(c), abi >= 6 ? EPERM : 0);
    EXPECT(e_of(kill(getppid(), 0)), abi >= 6 ? EPERM : 0);
    EXPECT(e_of(kill(getpid(), 0)), 0); /* same domain */
    return cj_check_;
}

/* Files listed alone: an executable in an otherwise closed dir and a
 * writable file in one. */
static struct cj_check_state child_files(const struct ctx *c)
{
    CHECK_INIT;
    const char *execs[8] = {c->rw_true};
    int n = 1;
    sys_exec_paths(execs, &n);
    const char *writes[] = {c->out_wfile, "/dev/null", NULL};
    cj_landlock_spec spec = {.exec_paths = execs, .write_paths = writes};

    int fds = count_fds();
    int abi = apply(c, &spec);
    EXPECT(abi, expected_abi(c));
    if (abi < 0)
        return cj_check_;
    EXPECT(count_fds(), fds);
    EXPECT(try_exec(c->rw_true), 0);
    EXPECT(try_read(c->rw_true), 0);
    EXPECT(try_open(c->rw_true, O_WRONLY), EACCES);
    EXPECT(try_read(c->rw_x), EACCES);
    EXPECT(try_write(c->out_wfile), 0);
    EXPECT(try_open(c->out_wfile, O_WRONLY | O_TRUNC), 0);
    EXPECT(try_read(c->out_wfile), 0);
    EXPECT(try_open(c->out_new, O_WRONLY | O_CREAT), EACCES);
    EXPECT(try_read(c->out_file), EACCES);
    EXPECT(e_of(unlink(c->out_wfile)), EACCES);
    EXPECT(try_open("/dev/null", O_WRONLY), 0);
    EXPECT(try_ioctl_devnull(), abi >= 5 ? EACCES : ENOTTY);
    return cj_check_;
}

/* A missing path: -ENOENT, no fd left behind, and the process untouched
 * (no domain, not even no_new_privs), since the caller aborts on it. */
static struct cj_check_state child_missing(const struct ctx *c)
{
    CHECK_INIT;
    const char *reads[] = {c->ro, c->missing, NULL};
    const char *writes[] = {c->rw, NULL};
    cj_landlock_spec spec = {.read_paths = reads, .write_paths = writes};
    int fds = count_fds();
    EXPECT(apply(c, &spec), -ENOENT);
    EXPECT(count_fds(), fds);
    EXPECT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
    EXPECT(try_read(c->out_file), 0);
    return cj_check_;
}

/* Drains what the children's controls left queued, so the backlogs never
 * fill and stall a later connect. */
static void drain(int fd)
{
    int s;
    while ((s = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close(s);
}

/* Runs one scenario in a fresh tree and a child; the child's counts come
 * back over a pipe (a crash counts as a failure). */
static struct cj_check_state run(struct ctx *c, struct cj_check_state (*fn)(const struct ctx *))
{
    CHECK_INIT;
    make_tree(c);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        die("pipe2");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(p[0]);
        struct cj_check_state st = fn(c);
        fflush(NULL);
        _exit(write(p[1], &st, sizeof(st)) == (ssize_t)sizeof(st) ? 0 : 3);
    }
    close(p[1]);
    struct cj_check_state st = {0, 0};
    ssize_t got = read(p[0], &st, sizeof(st));
    close(p[0]);
    int ws;
    CHECK(waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    CHECK(got == (ssize_t)sizeof(st));
    cj_check_.passed += st.passed;
    cj_check_.failed += st.failed;
    drain(c->tcp_fd);
    drain(c->unix_fd);
    remove_tree(c);
    return cj_check_;
}

static void listen_sockets(struct ctx *c)
{
    c->tcp_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(a);
    if (c->tcp_fd < 0 || bind(c->tcp_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(c->tcp_fd, 64) < 0 || getsockname(c->tcp_fd, (struct sockaddr *)&a, &alen) < 0)
        die("tcp listen");
    c->tcp_port = ntohs(a.sin_port);

    c->unix_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    memset(&c->unix_addr, 0, sizeof(c->unix_addr));
    c->unix_addr.sun_family = AF_UNIX;
    /* sun_path[0] = '\0': abstract, the namespace Landlock's fs rules miss. */
    int len = snprintf(c->unix_addr.sun_path + 1, sizeof(c->unix_addr.sun_path) - 1,
                       "cj-test-landlock-%d", (int)getpid());
    c->unix_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
    if (c->unix_fd < 0 || bind(c->unix_fd, (struct sockaddr *)&c->unix_addr, c->unix_len) < 0 ||
        listen(c->unix_fd, 64) < 0)
        die("unix listen");
}

static void add(struct cj_check_state *to, struct cj_check_state from)
{
    to->passed += from.passed;
    to->failed += from.failed;
}

int main(void)
{
    CHECK_INIT;
    struct ctx c = {0};
    c.kabi = cj_landlock_abi();
    fprintf(stderr, "kernel Landlock ABI %d\n", c.kabi);
    /* This host has Landlock; 0 means the layer is gone, a failure. */
    CHECK(c.kabi > 0);
    CHECK(cj_landlock_apply(NULL) == -EINVAL);
    listen_sockets(&c);

    /* cap 0 first: the public entry point, at min(kernel, 6). */
    for (int cap = 0; cap <= 6; cap++) {
        if (cap > c.kabi)
            break;
        c.cap = cap;
        add(&cj_check_, run(&c, child_main));
        add(&cj_check_, run(&c, child_files));
    }
    c.cap = 0;
    add(&cj_check_, run(&c, child_missing));

    close(c.tcp_fd);
    close(c.unix_fd);
    return CHECK_DONE();
}
