/* The execution's private directory: jailed_code, tmp/ (the only place the
 * sandbox may write) and python_lib.zip when uploaded. */
#ifndef CJ_EXECDIR_H
#define CJ_EXECDIR_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

typedef struct cj_execdir_spec {
    const char *work_dir;
    const char *wrapper; /* template: lines "#@SYS_PATH@", "#@EXEC_CHECK@", "#@PYTHON_PATH@" */
    size_t wrapper_len;
    const char *sys_path_line; /* sys.path.extend([...]): site's directories, or NULL */
    int exec_check; /* stop unless exec is blocked (the noexec library is in force) */
    int zip_on_path; /* python_path's entries (each python_lib.zip): one sys.path line each */
    const void *zip;
    size_t zip_len;
    uid_t uid;
    gid_t gid;
} cj_execdir_spec;

/* More python_path entries than this are refused (the payload's size bounds
 * them anyway; each costs a line of the wrapper). */
#define CJ_EXECDIR_MAX_PATHS 100000

/* Makes <work_dir>/codejail-XXXXXX and fills it; path receives its name.
 * On failure nothing is left. */
int cj_execdir_create(const cj_execdir_spec *spec, char path[PATH_MAX], cj_err *err);

/* The jailed_code text for spec (malloc'd, NUL-terminated), as it would be
 * written: the warm interpreter compiles it ahead of time. */
int cj_execdir_render(const cj_execdir_spec *spec, char **out, size_t *len, cj_err *err);

/* Writes jailed_code (and python_lib.zip) anew in an existing directory:
 * the warm path prepares directories before their requests arrive. */
int cj_execdir_rewrite(const char *path, const cj_execdir_spec *spec, cj_err *err);

/* Removes the directory and everything the sandbox left in it, without
 * following symlinks or crossing mounts. */
int cj_execdir_remove(const char *path, cj_err *err);

#endif
