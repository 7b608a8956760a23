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

/* Reads the pending exec label back: the kernel must now hold exactly the
 * profile we asked for (it checked the profile exists at the write). */
static int verify_pending(int host_proc_fd, const char *rel, const char *profile, size_t plen)
{
    char buf[512];
    int fd = openat(host_proc_fd, rel, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    int e = errno;
    close(fd);
    if (n < 0)
        return -e;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\0'))
        n--;
    if ((size_t)n < plen || memcmp(buf, profile, plen) != 0 ||
        ((size_t)n > plen && buf[plen] != ' ')) /* "name" or "name (enforce)" */
        return -EPERM;
    return 0;
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
    const char *rel = "thread-self/attr/apparmor/exec";
    int fd = openat(host_proc_fd, rel, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        rel = "thread-self/attr/exec";
        fd = openat(host_proc_fd, rel, O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, cmd, 5 + plen);
    int e = errno;
    close(fd);
    if (n != (ssize_t)(5 + plen))
        return n < 0 ? -e : -EIO;
    return verify_pending(host_proc_fd, rel, profile, plen);
}
