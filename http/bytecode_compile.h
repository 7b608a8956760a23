/* Course code compiled once, for the executions that send it
 * (bytecode_cache.h keeps it; bytecode_compile.c has it made). */
#ifndef CJ_BYTECODE_COMPILE_H
#define CJ_BYTECODE_COMPILE_H

#include "server.h"

/* Before in is submitted: gives it the bytecode of its python_lib.zip and
 * of its code (code_json: the code's JSON text, as in its input) when the
 * cache has them, or has them compiled for later executions. */
void cj_bytecode_compile_attach(cj_server *srv, cj_job_input *in, const char *code_json, size_t code_len);
/* Cancels the compile runs under way (the server is going away). */
void cj_bytecode_compile_dispose(cj_server *srv);

#endif
