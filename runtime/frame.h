/* The course-code bytecode frame (wire.h) on both of its ends in the
 * service: cj_frame_write before a request on its stdin,
 * cj_sandbox_bytecode_of (sandbox.h) on a compile run's result stream. */
#ifndef CJ_FRAME_H
#define CJ_FRAME_H

#include "sandbox.h"

/* The frame the spec asks for (bytecode to use, or what to compile), or
 * nothing when it asks for none: 0, or -1 with errno. */
int cj_frame_write(int fd, const cj_sandbox_spec *spec);

#endif
