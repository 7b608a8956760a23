/* python_lib.zip's bytecode for the executions that upload it (zip_cache.h
 * keeps it; zip_compile.c makes it). */
#ifndef CJ_ZIP_COMPILE_H
#define CJ_ZIP_COMPILE_H

#include "server.h"

/* Before in is submitted: gives it the zip's bytecode when the cache has
 * it, else starts the zip's one compile run (in runs as without a cache). */
void cj_zip_compile_attach(cj_server *srv, cj_job_input *in);
/* Cancels the compile runs under way (the server is going away). */
void cj_zip_compile_dispose(cj_server *srv);

#endif
