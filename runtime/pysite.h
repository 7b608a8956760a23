/* What the sandbox interpreter's site module would add to sys.path. */
#ifndef CJ_PYSITE_H
#define CJ_PYSITE_H

#include "error.h"

/* Runs python_bin once (at startup, never per execution) and returns, in a
 * malloc'd string, a Python list literal of the directories site adds. */
int cj_python_site_dirs(const char *python_bin, char **out, cj_err *err);

#endif
