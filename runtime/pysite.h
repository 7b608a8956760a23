/* What the sandbox interpreter's site module would add to sys.path. */
#ifndef CJ_PYSITE_H
#define CJ_PYSITE_H

#include "error.h"

/* Runs python_bin once (at startup, never per execution) and returns, in a
 * malloc'd string, a Python list literal of the directories site adds. */
int cj_python_site_dirs(const char *python_bin, char **out, cj_err *err);

/* Compiles src with python_bin (once, at startup) into the bytes of a .pyc
 * whose code names itself filename: the sandbox then runs it without
 * compiling the wrapper again for every execution. */
int cj_python_compile(const char *python_bin, const char *src, size_t len, const char *filename, char **out,
                      size_t *out_len, cj_err *err);

#endif
