#include "warm_settings.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "execdir.h"
#include "log.h"
#include "sandbox.h"

static int add(char **list, size_t *n, size_t max, const char *v)
{
    if (*n >= max || (list[*n] = strdup(v)) == NULL)
        return -1;
    list[++*n] = NULL;
    return 0;
}

static int set_once(char **slot, const char *v)
{
    if (*slot != NULL)
        return -1;
    return (*slot = strdup(v)) == NULL ? -1 : 0;
}

/* The settings that are numbers, each at most once. */
static const char *const NUMBERS[] = {"uid", "gid", "landlock", "seccomp", "tmp_bytes", "log_level", "log_format"};
#define N_NUMBERS (sizeof(NUMBERS) / sizeof(NUMBERS[0]))

static int parse_one(cj_warm_settings *s, const char *key, size_t k, const char *v, int *seen)
{
    for (size_t i = 0; i < N_NUMBERS; i++) {
        if (strlen(NUMBERS[i]) != k || memcmp(key, NUMBERS[i], k) != 0)
            continue;
        if (seen[i]++)
            return -1;
        char *end;
        long long x = strtoll(v, &end, 10);
        if (*v == '\0' || *end != '\0' || x < 0)
            return -1;
        if (i == 0)
            s->uid = (uid_t)x;
        else if (i == 1)
            s->gid = (gid_t)x;
        else if (i == 2)
            s->landlock = x != 0;
        else if (i == 3)
            s->seccomp = x != 0;
        else if (i == 4)
            s->tmp_bytes = x;
        else if (i == 5 && x <= CJ_LOG_DEBUG)
            s->log_level = (enum cj_log_level)x;
        else if (i == 6 && x <= CJ_LOG_JSON)
            s->log_format = (enum cj_log_format)x;
        else
            return -1;
        return 0;
    }
#define IS(name) (k == sizeof(name) - 1 && memcmp(key, name, k) == 0)
    if (IS("apparmor"))
        return set_once(&s->apparmor, v);
    if (IS("bind"))
        return add(s->binds, &s->n_binds, CJ_MAX_PATHS, v);
    if (IS("link"))
        return add(s->links, &s->n_links, CJ_MAX_PATHS, v);
    if (IS("syspath"))
        return set_once(&s->syspath, v);
    if (IS("preload"))
        return add(s->preload, &s->n_preload, CJ_WARM_MAX_PRELOAD, v);
    if (IS("wrapper0"))
        return set_once(&s->wrapper[0], v);
    if (IS("wrapper1"))
        return set_once(&s->wrapper[1], v);
#undef IS
    return -1;
}

int cj_warm_settings_parse(const char *blob, size_t len, cj_warm_settings *s, cj_err *err)
{
    memset(s, 0, sizeof(*s));
    s->log_level = CJ_LOG_INFO;
    int seen[N_NUMBERS] = {0};
    for (size_t off = 0; off < len;) {
        const char *e = blob + off;
        size_t n = strnlen(e, len - off);
        int terminated = n < len - off;
        off += n + 1;
        const char *eq = memchr(e, '=', n);
        if (n == 0 || eq == NULL || !terminated ||
            parse_one(s, e, (size_t)(eq - e), eq + 1, seen) < 0) {
            cj_warm_settings_free(s);
            return cj_fail(err, 0, "bad setting '%.*s'", (int)(n > 40 ? 40 : n), e);
        }
    }
    if (!seen[0] || !seen[1] || !seen[4] || s->uid == 0 || s->gid == 0 || s->wrapper[0] == NULL ||
        s->wrapper[1] == NULL) {
        cj_warm_settings_free(s);
        return cj_fail(err, 0, "incomplete settings (uid, gid, tmp_bytes, wrapper0, wrapper1)");
    }
    return 0;
}

void cj_warm_settings_free(cj_warm_settings *s)
{
    char **lists[] = {s->binds, s->links, s->preload};
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; lists[l][i] != NULL; i++)
            free(lists[l][i]);
    free(s->apparmor);
    free(s->syspath);
    free(s->wrapper[0]);
    free(s->wrapper[1]);
    memset(s, 0, sizeof(*s));
}

const char *cj_warm_settings_get(const cj_warm_settings *s, const char *key, size_t i, int *bad)
{
    *bad = 0;
    if (strcmp(key, "syspath") == 0)
        return i == 0 ? s->syspath : NULL;
    if (strcmp(key, "preload") == 0)
        return i < s->n_preload ? s->preload[i] : NULL;
    if (strcmp(key, "wrapper0") == 0 || strcmp(key, "wrapper1") == 0)
        return i == 0 ? s->wrapper[key[7] - '0'] : NULL;
    *bad = 1;
    return NULL;
}

/* The wrappers are the two a request can need (python_lib.zip on
 * sys.path or not) as the service writes them for a warm clone
 * (cj_sandbox_hand_over). */
int cj_warm_settings_build(const cj_sandbox_env *env, const char *const *preload, size_t n_preload, char **out,
                           size_t *len, cj_err *err)
{
    char *wrappers[2] = {NULL, NULL};
    size_t wlen[2] = {0, 0};
    for (int z = 0; z < 2; z++) {
        cj_execdir_spec ds = {.wrapper = env->wrapper, .wrapper_len = env->wrapper_len,
                              .exec_check = env->noexec_so != NULL, .zip_on_path = z};
        if (cj_execdir_render(&ds, &wrappers[z], &wlen[z], err) < 0) {
            free(wrappers[0]);
            return -1;
        }
    }
    size_t cap = 4096 + (env->site_dirs ? strlen(env->site_dirs) : 0) + wlen[0] + wlen[1], n = 0;
    for (size_t i = 0; env->binds && env->binds[i]; i++)
        cap += strlen(env->binds[i]) + 8;
    for (size_t i = 0; env->links && env->links[i]; i++)
        cap += strlen(env->links[i]) + 8;
    for (size_t i = 0; i < n_preload; i++)
        cap += strlen(preload[i]) + 12;
    char *b = malloc(cap);
    if (b == NULL) {
        free(wrappers[0]);
        free(wrappers[1]);
        return cj_fail(err, ENOMEM, "warm settings");
    }
#define ADD(...) n += (size_t)snprintf(b + n, cap - n, __VA_ARGS__) + 1
    ADD("uid=%u", (unsigned)env->uid);
    ADD("gid=%u", (unsigned)env->gid);
    ADD("landlock=%d", env->landlock);
    ADD("seccomp=%d", env->seccomp != NULL);
    ADD("tmp_bytes=%lld", env->tmp_bytes);
    ADD("log_level=%d", (int)(env->log != NULL ? env->log->level : CJ_LOG_INFO));
    ADD("log_format=%d", (int)(env->log != NULL ? env->log->format : CJ_LOG_TEXT));
    if (env->apparmor_profile != NULL)
        ADD("apparmor=%s", env->apparmor_profile);
    for (size_t i = 0; env->binds && env->binds[i]; i++)
        ADD("bind=%s", env->binds[i]);
    for (size_t i = 0; env->links && env->links[i]; i++)
        ADD("link=%s", env->links[i]);
    if (env->site_dirs != NULL)
        ADD("syspath=%s", env->site_dirs);
    for (size_t i = 0; i < n_preload; i++)
        ADD("preload=%s", preload[i]);
    for (int z = 0; z < 2; z++) {
        ADD("wrapper%d=%s", z, wrappers[z]);
        free(wrappers[z]);
    }
#undef ADD
    *out = b;
    *len = n;
    return 0;
}
