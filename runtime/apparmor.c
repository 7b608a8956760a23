#include "apparmor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/apparmor.h>
#include <unistd.h>

int cj_apparmor_enabled(void)
{
    return aa_is_enabled() == 1;
}

/* Reads the label back (the pending exec label, or the current one): the
 * kernel must now hold exactly the profile we asked for. */
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

static int apparmor_write(int host_proc_fd, const char *verb, const char *attr, const char *profile);

int cj_apparmor_onexec(int host_proc_fd, const char *profile)
{
    return apparmor_write(host_proc_fd, "exec ", "exec", profile);
}

int cj_apparmor_change_now(int host_proc_fd, const char *profile)
{
    return apparmor_write(host_proc_fd, "changeprofile ", "current", profile);
}

/* The way libapparmor's aa_change_onexec/aa_change_profile do it: "<verb>
 * <profile>" into the thread's attribute file, then read back. */
static int apparmor_write(int host_proc_fd, const char *verb, const char *attr, const char *profile)
{
    char cmd[512], rel[64];
    size_t plen = strlen(profile), vlen = strlen(verb);
    if (plen == 0 || plen + vlen + 1 > sizeof(cmd))
        return -EINVAL;
    memcpy(cmd, verb, vlen);
    memcpy(cmd + vlen, profile, plen);
    /* The LSM-stacking interface first, then the classic one; both are the
     * calling thread's own attributes. */
    snprintf(rel, sizeof(rel), "thread-self/attr/apparmor/%s", attr);
    int fd = openat(host_proc_fd, rel, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(rel, sizeof(rel), "thread-self/attr/%s", attr);
        fd = openat(host_proc_fd, rel, O_WRONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, cmd, vlen + plen);
    int e = errno;
    close(fd);
    if (n != (ssize_t)(vlen + plen))
        return n < 0 ? -e : -EIO;
    return verify_pending(host_proc_fd, rel, profile, plen);
}
