#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int cj_fail(cj_err *e, int errnum, const char *fmt, ...)
{
    if (e == NULL)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    if (errnum != 0 && n >= 0 && (size_t)n < sizeof(e->msg))
        snprintf(e->msg + n, sizeof(e->msg) - (size_t)n, ": %s", strerror(errnum));
    e->errnum = errnum;
    return -1;
}

int cj_wrap(cj_err *e, const char *fmt, ...)
{
    if (e == NULL)
        return -1;
    char prefix[256], old[sizeof(e->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof(old));
    /* Built whole, then cut to fit: the newest context matters most. */
    char joined[sizeof(prefix) + sizeof(old) + 2];
    snprintf(joined, sizeof(joined), "%s: %s", prefix, old);
    snprintf(e->msg, sizeof(e->msg), "%.*s", (int)sizeof(e->msg) - 1, joined);
    return -1;
}
