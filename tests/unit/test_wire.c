/* The wire (wire.h): what one side writes is what the other reads.  Records
 * written by the sandbox's record writer are read by the service's outcome
 * reader (a failure names its step and errno; the first status wins; READY
 * is no outcome); the warm interpreter's replies are decoded, garbage
 * refused; the request a waiting sandbox gets is taken by cj_confine_await
 * in a child: its stdin, its limits, its python_path count. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "confine.h"
#include "sandbox.h"
#include "wire.h"

static size_t records(void (*write_them)(int fd), char *buf, size_t size)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return 0;
    write_them(p[1]);
    close(p[1]);
    ssize_t n = read(p[0], buf, size);
    close(p[0]);
    return n < 0 ? 0 : (size_t)n;
}

static void failure(int fd)
{
    cj_record_send(fd, CJ_RECORD_FAILURE, CJ_STEP_LANDLOCK, EPERM,
                   "a detail longer than the fifty-one bytes a record holds, and cut there");
}

static void ready_then_status(int fd)
{
    cj_record_send(fd, CJ_RECORD_READY, 0, 0, NULL);
    cj_record_send(fd, CJ_RECORD_STATUS, 0, 7 << 8, NULL); /* exit 7 */
    cj_record_send(fd, CJ_RECORD_STATUS, 0, 9, NULL);      /* the warm interpreter's word, later */
}

static void ready_only(int fd)
{
    cj_record_send(fd, CJ_RECORD_READY, 0, 0, NULL);
}

/* The setup stream and the request socket at their numbers, whatever
 * numbers they came with (moved above the low ones first). */
static int place(int setup, int request)
{
    int s = fcntl(setup, F_DUPFD, 64), r = fcntl(request, F_DUPFD, 64);
    return s < 0 || r < 0 || dup2(s, CJ_FD_SETUP) < 0 || dup2(r, CJ_FD_REQUEST) < 0 ? -1 : 0;
}

/* A waiting child: confined by nothing but its fds, it takes the request. */
static void check_request(struct cj_check_state *st)
{
    struct cj_check_state cj_check_ = *st;
    int sv[2], setup[2], in = memfd_create("in", MFD_CLOEXEC);
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0 && pipe2(setup, O_CLOEXEC) == 0);
    CHECK(write(in, "hello", 5) == 5 && lseek(in, 0, SEEK_SET) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        if (place(setup[1], sv[1]) < 0)
            _exit(100);
        int paths = cj_confine_await(0);
        char got[8] = "";
        struct rlimit cpu, fsize;
        int bad = read(CJ_FD_STDIN, got, sizeof(got)) != 5 || memcmp(got, "hello", 5) != 0;
        bad |= (getrlimit(RLIMIT_CPU, &cpu) < 0 || cpu.rlim_cur != 3 || cpu.rlim_max != 4) << 1;
        bad |= (getrlimit(RLIMIT_FSIZE, &fsize) < 0 || fsize.rlim_max != 4096) << 2;
        bad |= (fcntl(CJ_FD_SETUP, F_GETFD) != -1) << 3; /* closed: nothing of the request writes there */
        bad |= (fcntl(CJ_FD_REQUEST, F_GETFD) != -1) << 4;
        _exit(bad ? 100 + bad : paths);
    }
    close(sv[1]);
    close(setup[1]);
    struct cj_sandbox_record r;
    CHECK(read(setup[0], &r, sizeof(r)) == sizeof(r) && r.kind == CJ_RECORD_READY);
    struct cj_request_msg m = {.cpu = 3, .vmem = 0, .fsize = 4096, .nproc = 5, .nproc_rlimit = 0, .zip_on_path = 2};
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } c;
    memset(&c, 0, sizeof(c));
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &in, sizeof(in));
    CHECK(sendmsg(sv[0], &mh, 0) == sizeof(m));
    int status = -1;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 2)
        fprintf(stderr, "request child: exit %d\n", WEXITSTATUS(status));
    close(sv[0]);
    close(setup[0]);
    close(in);

    /* A malformed request (no stdin attached) is a failure record, exit 127. */
    CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0 && pipe2(setup, O_CLOEXEC) == 0);
    pid = fork();
    if (pid == 0) {
        if (place(setup[1], sv[1]) < 0)
            _exit(100);
        cj_confine_await(0);
        _exit(0);
    }
    close(sv[1]);
    close(setup[1]);
    CHECK(send(sv[0], &m, sizeof(m), 0) == sizeof(m));
    CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 127);
    struct cj_sandbox_record two[2];
    ssize_t got = read(setup[0], two, sizeof(two));
    CHECK(got == sizeof(two) && two[1].kind == CJ_RECORD_FAILURE && two[1].step == CJ_STEP_REQUEST &&
          two[1].value == EPROTO);
    close(sv[0]);
    close(setup[0]);
    *st = cj_check_;
}

int main(void)
{
    CHECK_INIT;
    char buf[CJ_RECORDS_MAX + 64], why[256];
    int status = -1;
    size_t n = records(failure, buf, sizeof(buf));
    CHECK(n == sizeof(struct cj_sandbox_record));
    CHECK(cj_sandbox_outcome(buf, n, &status, why, sizeof(why)) == -1);
    CHECK(strstr(why, "step 'landlock'") != NULL && strstr(why, strerror(EPERM)) != NULL);
    CHECK(strstr(why, "a detail longer than the fifty-one bytes a record") != NULL && strstr(why, "cut") == NULL);

    n = records(ready_then_status, buf, sizeof(buf));
    CHECK(n == 3 * sizeof(struct cj_sandbox_record));
    CHECK(cj_sandbox_outcome(buf, n, &status, why, sizeof(why)) == 1 && status == 7);
    n = records(ready_only, buf, sizeof(buf));
    status = 42;
    CHECK(cj_sandbox_outcome(buf, n, &status, why, sizeof(why)) == 0 && status == 42);
    /* A torn record is no record. */
    CHECK(cj_sandbox_outcome(buf, n - 1, &status, why, sizeof(why)) == 0);

    /* The warm interpreter's replies. */
    struct cj_warm_reply r = {.kind = CJ_WARM_PID, .slot = 3, .value = 1234};
    unsigned slot = 0;
    int value = 0;
    CHECK(sizeof(r) == CJ_WARM_REPLY_SIZE);
    CHECK(cj_sandbox_warm_reply(&r, &slot, &value) == 'P' && slot == 3 && value == 1234);
    r.kind = CJ_WARM_ERROR;
    r.value = ENOMEM;
    CHECK(cj_sandbox_warm_reply(&r, &slot, &value) == 'E' && value == ENOMEM);
    r.kind = 'X';
    CHECK(cj_sandbox_warm_reply(&r, &slot, &value) == 0);
    CHECK(sizeof(struct cj_warm_fork) <= 65536); /* one SOCK_SEQPACKET message */

    check_request(&cj_check_);
    return CHECK_DONE();
}
