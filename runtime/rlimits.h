/* The codejail library's limits as rlimits, applied in the child before exec. */
#ifndef CJ_RLIMITS_H
#define CJ_RLIMITS_H

#include "sandbox.h"

/* Async-signal-safe: called between fork and exec; NPROC only when nproc
 * is set.  Returns 0 or -errno. */
int cj_rlimits_apply(const cj_sandbox_limits *l, int nproc);

#endif
