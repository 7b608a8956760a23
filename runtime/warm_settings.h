/* What the service tells the warm interpreter once, at its start: the
 * sandbox's settings and what the interpreter prepares (its sys.path, the
 * modules it imports, the wrappers it compiles).  "key=value\0" entries,
 * written and read here only. */
#ifndef CJ_WARM_SETTINGS_H
#define CJ_WARM_SETTINGS_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "log.h"
#include "layout.h"

#define CJ_WARM_MAX_PRELOAD 64

typedef struct cj_warm_settings {
    uid_t uid;
    gid_t gid;
    int landlock, seccomp;
    long long tmp_bytes;
    enum cj_log_level log_level;   /* the service's: the warm interpreter logs as it does */
    enum cj_log_format log_format; /* likewise */
    char *apparmor; /* NULL: off */
    char *binds[CJ_MAX_PATHS + 1], *links[CJ_MAX_PATHS + 1];
    size_t n_binds, n_links;
    char *syspath; /* a Python list literal, or NULL */
    char *preload[CJ_WARM_MAX_PRELOAD + 1];
    size_t n_preload;
    char *wrapper[2]; /* jailed_code without and with python_lib.zip on sys.path */
} cj_warm_settings;

/* Parses blob into s (strings malloc'd).  -1 with err set on a missing,
 * unknown or repeated key, or too many entries. */
int cj_warm_settings_parse(const char *blob, size_t len, cj_warm_settings *s, cj_err *err);
void cj_warm_settings_free(cj_warm_settings *s);

/* The settings for env: the blob (malloc'd) and its length. */
struct cj_sandbox_env;
int cj_warm_settings_build(const struct cj_sandbox_env *env, const char *const *preload, size_t n_preload,
                           char **out, size_t *len, cj_err *err);

/* A value for the warm interpreter's Python: key (syspath, preload,
 * wrapper0, wrapper1) and the index among its values; NULL past the last.
 * An unknown key is a bug on one side: -1 in *bad. */
const char *cj_warm_settings_get(const cj_warm_settings *s, const char *key, size_t i, int *bad);

#endif
