#include "apparmor.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/apparmor.h>
#include <unistd.h>

int cj_apparmor_enabled(void)
{
    return aa_is_enabled() == 1;
}

int cj_apparmor_onexec(int host_proc_fd, const char *profile)
{
    char cmd[512];
    size_t plen = strlen(profile);
    if (plen == 0 || plen + 6 > sizeof(cmd))
        return -EINVAL;
    memcpy(cmd, "exec ", 5);
    memcpy(cmd + 5, profile, plen);
    /* The LSM-stacking interface first, then the classic one; both are the
     * calling thread's own attributes. */
    int fd = openat(host_proc_fd, "thread-self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        fd = openat(host_proc_fd, "thread-self/attr/exec", O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, cmd, 5 + plen);
    int e = errno;
    close(fd);
    if (n != (ssize_t)(5 + plen))
        return n < 0 ? -e : -EIO;
    return 0;
}
