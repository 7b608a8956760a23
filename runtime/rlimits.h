/* The codejail library's limits as rlimits, applied in the sandbox's
 * interpreter process before any code of the request runs. */
#ifndef CJ_RLIMITS_H
#define CJ_RLIMITS_H

#include "sandbox.h"

/* Async-signal-safe.  The fixed limits (no core, CJ_NOFILE files) always;
 * the request's CPU, address space and file size when l is not NULL, and
 * NPROC as an rlimit when nproc is set.  Returns 0 or -errno. */
int cj_rlimits_apply(const cj_sandbox_limits *l, int nproc);

#endif
