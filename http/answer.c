#include "answer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"

struct out {
    char *p;
    size_t len, cap;
    int failed;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->len + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (p == NULL) {
            o->failed = 1;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
    o->p[o->len] = '\0';
}

struct member {
    const char *key; /* the key's token as written, quotes included */
    size_t key_len;
    const char *dec; /* the key decoded: what makes two keys one */
    size_t dec_len;
    const char *val;
    size_t val_len;
    size_t pos;
    int lone; /* the key holds a lone surrogate */
    int dead; /* a later repeat's value went to the first one */
};

struct members {
    struct member *m;
    size_t n, cap;
    char *keys; /* the decoded keys, one allocation per object */
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t skip_ws(const char *s, size_t i)
{
    while (is_ws(s[i]))
        i++;
    return i;
}

static size_t string_end(const char *s, size_t i)
{
    for (i++; s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i + 1;
}

/* The members of the (valid) object at s[i], appended to ms. */
static int collect(const char *s, size_t i, struct members *ms)
{
    size_t end = cj_json_skip_value(s, i);
    size_t base = ms->n;
    if ((ms->keys = malloc(end - i + 1)) == NULL)
        return -1;
    size_t k = 0;
    i = skip_ws(s, i + 1);
    while (s[i] != '}') {
        if (ms->n == ms->cap) {
            size_t cap = ms->cap ? ms->cap * 2 : 16;
            struct member *m = realloc(ms->m, cap * sizeof(*m));
            if (m == NULL)
                return -1;
            ms->m = m;
            ms->cap = cap;
        }
        struct member *m = &ms->m[ms->n];
        memset(m, 0, sizeof(*m));
        m->pos = ms->n++ - base;
        m->key = s + i;
        m->key_len = string_end(s, i) - i;
        m->dec = ms->keys + k;
        m->dec_len = cj_json_string_decode(m->key, m->key_len, ms->keys + k, &m->lone);
        k += m->dec_len;
        i = skip_ws(s, skip_ws(s, i + m->key_len) + 1); /* past ':' */
        m->val = s + i;
        m->val_len = cj_json_skip_value(s, i) - i;
        i = skip_ws(s, i + m->val_len);
        if (s[i] == ',')
            i = skip_ws(s, i + 1);
    }
    return 0;
}

static int by_key_then_pos(const void *a, const void *b)
{
    const struct member *x = *(const struct member *const *)a, *y = *(const struct member *const *)b;
    size_t n = x->dec_len < y->dec_len ? x->dec_len : y->dec_len;
    int c = memcmp(x->dec, y->dec, n);
    if (c != 0)
        return c;
    if (x->dec_len != y->dec_len)
        return x->dec_len < y->dec_len ? -1 : 1;
    return x->pos < y->pos ? -1 : 1;
}

/* A Python dict's view of repeats: the first position, the last value.
 * Sorting keeps this O(n log n) whatever the sandbox wrote. */
static int resolve_repeats(struct members *ms)
{
    if (ms->n < 2)
        return 0;
    struct member **idx = malloc(ms->n * sizeof(*idx));
    if (idx == NULL)
        return -1;
    for (size_t i = 0; i < ms->n; i++)
        idx[i] = &ms->m[i];
    qsort(idx, ms->n, sizeof(*idx), by_key_then_pos);
    for (size_t i = 0; i < ms->n;) {
        size_t j = i + 1;
        while (j < ms->n && idx[j]->dec_len == idx[i]->dec_len &&
               memcmp(idx[j]->dec, idx[i]->dec, idx[i]->dec_len) == 0)
            j++;
        if (j - i > 1) {
            idx[i]->val = idx[j - 1]->val;
            idx[i]->val_len = idx[j - 1]->val_len;
            for (size_t k = i + 1; k < j; k++)
                idx[k]->dead = 1;
        }
        i = j;
    }
    free(idx);
    return 0;
}

static void members_free(struct members *ms)
{
    free(ms->m);
    free(ms->keys);
}

static int emit_value(struct out *o, const char *s, size_t len, int *lone);

static int emit_members(struct out *o, const struct members *ms, int *lone)
{
    put(o, "{", 1);
    int first = 1;
    for (size_t i = 0; i < ms->n; i++) {
        const struct member *m = &ms->m[i];
        if (m->dead)
            continue;
        if (!first)
            put(o, ", ", 2);
        first = 0;
        *lone |= m->lone;
        put(o, m->key, m->key_len);
        put(o, ": ", 2);
        if (emit_value(o, m->val, m->val_len, lone) < 0)
            return -1;
    }
    put(o, "}", 1);
    return 0;
}

/* Recursion is bounded by the validator's depth limit. */
static int emit_value(struct out *o, const char *s, size_t len, int *lone)
{
    if (s[0] == '{') {
        struct members ms = {0};
        int r = collect(s, 0, &ms) < 0 || resolve_repeats(&ms) < 0 ? -1 : emit_members(o, &ms, lone);
        members_free(&ms);
        return r;
    }
    if (s[0] == '[') {
        put(o, "[", 1);
        size_t i = skip_ws(s, 1);
        while (s[i] != ']') {
            if (i > skip_ws(s, 1))
                put(o, ", ", 2);
            size_t e = cj_json_skip_value(s, i);
            if (emit_value(o, s + i, e - i, lone) < 0)
                return -1;
            i = skip_ws(s, e);
            if (s[i] == ',')
                i = skip_ws(s, i + 1);
        }
        put(o, "]", 1);
        return 0;
    }
    if (s[0] == '"' && memchr(s, '\\', len) != NULL) {
        char *tmp = malloc(len);
        if (tmp == NULL)
            return -1;
        cj_json_string_decode(s, len, tmp, lone);
        free(tmp);
    }
    put(o, s, len);
    return 0;
}

enum cj_answer_status cj_answer_globals(const char *input, size_t input_len, const char *result,
                                        size_t result_len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (input == NULL || cj_json_validate(input, input_len, 1) != 0)
        return CJ_ANSWER_FAILED;
    if (result != NULL && cj_json_validate(result, result_len, 1) != 0)
        return CJ_ANSWER_CORRUPT;
    struct members all = {0}, res = {0};
    struct out o = {0};
    int failed = collect(input, skip_ws(input, 0), &all) < 0;
    if (!failed && result != NULL) {
        failed = collect(result, skip_ws(result, 0), &res) < 0 || resolve_repeats(&res) < 0;
        /* dict.update: the result's entries after the input's, repeats
         * resolved again across both. */
        for (size_t i = 0; i < res.n && !failed; i++) {
            struct member m = res.m[i];
            if (m.dead)
                continue;
            struct out probe = {0};
            int lone = m.lone;
            failed = emit_value(&probe, m.val, m.val_len, &lone) < 0 || probe.failed;
            free(probe.p);
            if (lone || failed)
                continue;
            if (all.n == all.cap) {
                size_t cap = all.cap ? all.cap * 2 : 16;
                struct member *p = realloc(all.m, cap * sizeof(*p));
                if (p == NULL) {
                    failed = 1;
                    break;
                }
                all.m = p;
                all.cap = cap;
            }
            m.pos = all.n;
            all.m[all.n++] = m;
        }
    }
    int lone = 0;
    if (!failed)
        failed = resolve_repeats(&all) < 0 || emit_members(&o, &all, &lone) < 0 || o.failed;
    members_free(&all);
    members_free(&res);
    if (failed) {
        free(o.p);
        return CJ_ANSWER_FAILED;
    }
    *out = o.p;
    *out_len = o.len;
    return CJ_ANSWER_OK;
}
