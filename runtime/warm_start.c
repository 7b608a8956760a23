/* Starting a warm interpreter (warm_zygote.py with the warm library). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout.h"
#include "sandbox.h"
#include "warm_settings.h"

pid_t cj_sandbox_warm_start(const cj_sandbox_env *env, const char *zygote_py, const char *lib,
                            const char *const *preload, size_t n_preload, int *ctl, cj_err *err)
{
    int sv[2];
    char *blob = NULL, envbuf[1024], *envp[12];
    size_t blen = 0;
    if (cj_warm_settings_build(env, preload, n_preload, &blob, &blen, err) < 0)
        return -1;
    if (cj_layout_environ(NULL, NULL, envbuf, sizeof(envbuf), envp, 12) < 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        free(blob);
        return cj_fail(err, errno ? errno : ENOSPC, "warm interpreter: socketpair");
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Its stderr is the service's log; everything else it gets is fd 3. */
        sigset_t none;
        sigemptyset(&none);
        for (int s = 1; s < NSIG; s++)
            signal(s, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent || devnull < 0 || dup2(devnull, 0) < 0 ||
            dup2(2, 1) < 0 || dup2(sv[1], 3) < 0 || close_range(4, ~0U, 0) < 0)
            _exit(127);
        char *argv[] = {(char *)env->python_bin, "-S", "-E", "-B", (char *)zygote_py, (char *)lib, NULL};
        execve(argv[0], argv, envp);
        _exit(127);
    }
    int e = errno;
    close(sv[1]);
    if (pid < 0 || send(sv[0], blob, blen, MSG_NOSIGNAL) < 0) {
        e = pid < 0 ? e : errno;
        close(sv[0]);
        free(blob);
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
        }
        return cj_fail(err, e, "warm interpreter: start");
    }
    free(blob);
    *ctl = sv[0];
    return pid;
}
