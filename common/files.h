/* Small file helpers shared by codejail-init and the runtime: the kernel's
 * control files (cgroup, proc) and the files an execution's directory holds.
 * Every fd they open is O_CLOEXEC and closed before they return. */
#ifndef CJ_FILES_H
#define CJ_FILES_H

#include <stdbool.h>
#include <stddef.h>

/* All of buf, resumed after short writes and EINTR: 0, or -1 with errno. */
int cj_write_all(int fd, const void *buf, size_t len);

/* s in one write(), retried only on EINTR: cgroup files take one value per
 * write, so a short write cannot be resumed (-EIO).  0, or -errno with errno
 * set as well. */
int cj_write_value(int fd, const char *s);

/* dirfd/name opened for writing (never created or truncated: control files
 * exist), then cj_write_value.  0, or -errno with errno set as well. */
int cj_write_at(int dirfd, const char *name, const char *s);

/* A small control file's whole text into buf, NUL-terminated, trailing
 * newlines dropped.  The kernel generates these whole on the first read, so
 * one read with room to spare gets all of it; a text that fills buf is
 * -EFBIG.  Returns the length or -errno; errno is set on failure too. */
int cj_read_at(int dirfd, const char *name, char *buf, size_t size);

/* Whether a list separated by any of seps holds word whole ("cpu" is not in
 * "cpuset cpuacct"). */
bool cj_has_word(const char *list, const char *word, const char *seps);

#endif
