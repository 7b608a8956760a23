/* Errors travel as values: an errno (0 when none applies) and a message that
 * callers wrap with context on the way up.  None becomes an HTTP status: the
 * contract answers a request whose sandbox failed with 200 and "Couldn't
 * execute sandboxed code: See logs." (http/code_exec.c).  Where an error
 * stops climbing it is logged (log.h) as an error: at startup by main(),
 * which then exits; for an execution by the executor (http/executor.c),
 * which marks the job's result internal_error.  The server never exits on a
 * request's error. */
#ifndef CJ_ERROR_H
#define CJ_ERROR_H

#include <stddef.h>

typedef struct cj_err {
    int errnum;
    char msg[512];
} cj_err;

/* Sets e (if non-NULL) and returns -1, so `return cj_fail(e, ...)` reads well. */
int cj_fail(cj_err *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefixes the existing message with context ("ctx: old"); returns -1. */
int cj_wrap(cj_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
