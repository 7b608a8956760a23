#include "apparmor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/apparmor.h>
#include <unistd.h>

/* libapparmor asks securityfs, which containers usually do not mount; the
 * kernel's own switch and our task's label say the same without it. */
int cj_apparmor_enabled(void)
{
    if (aa_is_enabled() == 1)
        return 1;
    char buf[8] = "";
    int fd = open("/sys/module/apparmor/parameters/enabled", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (fd >= 0)
        close(fd);
    if (n < 1 || buf[0] != 'Y')
        return 0;
    fd = open("/proc/self/attr/apparmor/current", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fd = open("/proc/self/attr/current", O_RDONLY | O_CLOEXEC);
    n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (fd >= 0)
        close(fd);
    return n > 0;
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
    buf[n] = '\0';
    /* "name", "name (enforce)", or a stack "a//&name": the profile must be
     * one whole component of the label. */
    for (const char *p = strstr(buf, profile); p != NULL; p = strstr(p + 1, profile)) {
        char before = p == buf ? '\0' : p[-1], after = p[plen];
        if ((before == '\0' || before == '&' || before == '/') && (after == '\0' || after == ' ' || after == '/'))
            return 0;
    }
    return -EPERM;
}

static int apparmor_write(int host_proc_fd, const char *verb, const char *attr, const char *profile, int verify);

/* Whether this thread runs unconfined (a bare host), as opposed to under a
 * profile of its own (codejail_service in the container). */
static int unconfined(int host_proc_fd)
{
    char buf[64] = "";
    int fd = openat(host_proc_fd, "thread-self/attr/apparmor/current", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fd = openat(host_proc_fd, "thread-self/attr/current", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (fd >= 0)
        close(fd);
    return n >= 10 && strncmp(buf, "unconfined", 10) == 0;
}

/* Under a profile, stacked, not switched: no_new_privs is set before the
 * exec, and under it the kernel lets a confined task only add a profile,
 * never leave its own (the label is then codejail_sandbox//&codejail_service).
 * Unconfined, switched: no_new_privs does not restrict leaving unconfined,
 * and the label is then plainly codejail_sandbox, which is the peer the
 * profiles' signal rules name. */
int cj_apparmor_onexec(int host_proc_fd, const char *profile)
{
    return apparmor_write(host_proc_fd, unconfined(host_proc_fd) ? "exec " : "stack ", "exec", profile, 1);
}

/* No read-back here: the change is immediate, and the sandbox profile then
 * in force does not let the task read /proc (a disconnected path in its
 * mount namespace).  The write's success is the kernel's confirmation; the
 * VM tier reads the label from outside. */
int cj_apparmor_change_now(int host_proc_fd, const char *profile)
{
    return apparmor_write(host_proc_fd, unconfined(host_proc_fd) ? "changeprofile " : "stack ", "current", profile,
                          0);
}

/* The way libapparmor's aa_stack_onexec/aa_stack_profile do it: "<verb>
 * <profile>" into the thread's attribute file, then read back. */
static int apparmor_write(int host_proc_fd, const char *verb, const char *attr, const char *profile, int verify)
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
    return verify ? verify_pending(host_proc_fd, rel, profile, plen) : 0;
}
