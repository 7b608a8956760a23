#include <string.h>
#include <unistd.h>

#include "confine.h"
#include "wire.h"

void cj_record_send(int fd, int kind, int step, int value, const char *detail)
{
    struct cj_sandbox_record r = {.kind = kind, .step = step, .value = value};
    if (detail != NULL)
        strncpy(r.detail, detail, sizeof(r.detail) - 1);
    /* Smaller than PIPE_BUF: one atomic write; nothing to do if it fails. */
    ssize_t n = write(fd, &r, sizeof(r));
    (void)n;
}

void cj_record_fail(int fd, int step, int errnum, const char *detail)
{
    cj_record_send(fd, CJ_RECORD_FAILURE, step, errnum, detail);
    _exit(127);
}
