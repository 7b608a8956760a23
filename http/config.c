/* Service configuration from YAML, read with libyaml's event API.
 *
 * Events, not the document API: the document API resolves aliases into shared
 * nodes (a small file can expand into a huge tree) and hides the anchors we
 * want to refuse.  With events we see every anchor, alias and tag, and stop at
 * the first thing we do not expect, so no input builds more than the config.
 *
 * Two layouts may be mixed in one file: the service's own top-level keys, and
 * the codejail library's Django setting, so operators can paste what they run:
 *     CODE_JAIL:
 *       python_bin: /sandbox/venv/bin/python
 *       user: sandbox
 *       limits: {CPU: 1, REALTIME: 3, VMEM: 536870912, FSIZE: 1048576, NPROC: 15}
 *       limit_overrides:
 *         course-v1:edX+DemoX+Demo_Course: {CPU: 5}
 * CODE_JAIL holds exactly those four keys, meaning what the top-level keys of
 * the same names mean.  Setting one in both places is an error: either winner
 * would surprise half of the operators.
 *
 * Scalars are read by their text: a quoted "5" is the integer 5, and a plain
 * off is the word "off" (YAML 1.1's implicit booleans never apply), so
 * `apparmor: off` works as written.  Only a plain null ('', ~, null) is
 * special.  A load works on a private copy and replaces the caller's config
 * only when the whole file is valid: a bad file never half-applies. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#include "cgroup_parent.h"

#define CFG_MAX_BYTES (1024 * 1024) /* a config is a few KiB; bound what we parse */
#define CFG_INT_MAX (1LL << 62)     /* so sums and conversions downstream cannot overflow */
#define WARM_BOUND_MAX 1000000000LL /* executions, or seconds (31 years): in ms it still fits */
#define CFG_SECONDS_MAX 1000000000.0
#define CFG_MAX_KEYS 32
#define PATH_CAP 256
#define SHOW_CAP 96 /* how much of an offending value a message quotes */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

enum { ORIGIN_TOP = 1, ORIGIN_LIBRARY = 2 };
enum {
    K_STRING = 1u << 0,  /* the field is a malloc'd char *, owned by the config */
    K_LIBRARY = 1u << 1, /* also accepted inside CODE_JAIL (the library's name) */
};
/* What a string setting must look like (the `arg` of its key). */
enum { S_ABSOLUTE, S_NONEMPTY, S_CGROUP, S_LISTEN };

typedef struct loader {
    yaml_parser_t parser;
    yaml_event_t ev;
    int have_ev;
    char path[PATH_CAP]; /* dotted path of the value being read, for messages */
    size_t path_len;
    unsigned char seen[CFG_MAX_KEYS]; /* 0, or the ORIGIN_* that set the key */
    char *err;
    size_t err_len;
} loader;

typedef struct cfg_key cfg_key;
struct cfg_key {
    const char *name;
    int (*parse)(loader *L, const cfg_key *k, cj_config *c);
    size_t off;      /* the field in cj_config */
    long long arg;   /* integers: the smallest accepted value; strings: an S_*; sections: a SECTION_* */
    unsigned flags;
    const char *def; /* K_STRING: the default */
};

static void *field_of(cj_config *c, const cfg_key *k) { return (char *)c + k->off; }

/* Quotes a value for a message: control bytes escaped (a newline would split
 * a log line), long values cut at a character boundary. */
static const char *show(char *buf, size_t cap, const char *s, size_t n)
{
    size_t o = 0, i = 0;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        int ctl = ch < 0x20 || ch == 0x7f;
        size_t clen = ch < 0xc0 ? 1 : ch >= 0xf0 ? 4 : ch >= 0xe0 ? 3 : 2;
        clen = clen > n - i ? n - i : clen;
        if (o + (ctl ? 4 : clen) + 4 > cap)
            break;
        if (ctl)
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", ch);
        else
            memcpy(buf + o, s + i, clen);
        o += ctl ? 0 : clen;
        i += ctl ? 1 : clen;
    }
    if (i < n)
        o += (size_t)snprintf(buf + o, cap - o, "...");
    buf[o] = '\0';
    return buf;
}

static __attribute__((format(printf, 4, 0))) int vmsg(char *err, size_t err_len, const char *prefix,
                                                      const char *fmt, va_list ap)
{
    if (err == NULL || err_len == 0)
        return -1;
    int n = prefix[0] ? snprintf(err, err_len, "%s: ", prefix) : 0;
    if (n >= 0 && (size_t)n < err_len)
        vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
    return -1;
}

static __attribute__((format(printf, 3, 4))) int errf(char *err, size_t err_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(err, err_len, "", fmt, ap);
    va_end(ap);
    return -1;
}

/* An error about the value at the current path. */
static __attribute__((format(printf, 2, 3))) int fail(loader *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(L->err, L->err_len, L->path, fmt, ap);
    va_end(ap);
    return -1;
}

static size_t path_push(loader *L, const char *key, size_t n)
{
    size_t mark = L->path_len, room = PATH_CAP - mark;
    char shown[SHOW_CAP];
    int w = snprintf(L->path + mark, room, "%s%s", mark ? "." : "", show(shown, sizeof(shown), key, n));
    L->path_len += w < 0 ? 0 : (size_t)w < room ? (size_t)w : room - 1;
    return mark;
}

static void path_pop(loader *L, size_t mark)
{
    L->path_len = mark;
    L->path[mark] = '\0';
}

static int syntax_error(loader *L)
{
    const yaml_parser_t *p = &L->parser;
    const char *problem = p->problem ? p->problem : "unknown error";
    if (p->error == YAML_MEMORY_ERROR)
        return errf(L->err, L->err_len, "out of memory while parsing YAML");
    if (p->error == YAML_READER_ERROR)
        return errf(L->err, L->err_len, "YAML error at byte %zu: %s", p->problem_offset, problem);
    if (p->context == NULL)
        return errf(L->err, L->err_len, "YAML syntax error at line %zu, column %zu: %s",
                    p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
    return errf(L->err, L->err_len, "YAML syntax error at line %zu, column %zu: %s (%s at line %zu, column %zu)",
                p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                p->context_mark.line + 1, p->context_mark.column + 1);
}

/* Moves to the next event, refusing the YAML features a configuration does
 * not need: anchors and aliases (shared or exponentially expanded values)
 * and explicit tags (which would change how a scalar reads). */
static int next(loader *L)
{
    if (L->have_ev)
        yaml_event_delete(&L->ev);
    L->have_ev = 0;
    if (!yaml_parser_parse(&L->parser, &L->ev))
        return syntax_error(L);
    L->have_ev = 1;
    yaml_event_type_t t = L->ev.type;
    if (t == YAML_ALIAS_EVENT)
        return fail(L, "YAML anchors and aliases are not supported");
    if (t != YAML_SCALAR_EVENT && t != YAML_SEQUENCE_START_EVENT && t != YAML_MAPPING_START_EVENT)
        return 0;
    /* anchor and tag open all three event structs: the common initial
     * sequence of a union's members may be read through any of them */
    if (L->ev.data.scalar.anchor != NULL)
        return fail(L, "YAML anchors and aliases are not supported");
    if (L->ev.data.scalar.tag != NULL)
        return fail(L, "YAML tags are not supported");
    return 0;
}

static const char *sval(const loader *L) { return (const char *)L->ev.data.scalar.value; }
static size_t slen(const loader *L) { return L->ev.data.scalar.length; }
static int text_is(const char *s, size_t n, const char *lit) { return strlen(lit) == n && !memcmp(s, lit, n); }

static int is_null(const loader *L)
{
    if (L->ev.type != YAML_SCALAR_EVENT || L->ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return 0;
    const char *s = sval(L);
    size_t n = slen(L);
    return n == 0 || text_is(s, n, "~") || text_is(s, n, "null") || text_is(s, n, "Null") || text_is(s, n, "NULL");
}

static const char *kind_of(const loader *L)
{
    return L->ev.type == YAML_MAPPING_START_EVENT    ? "a mapping"
           : L->ev.type == YAML_SEQUENCE_START_EVENT ? "a list"
                                                     : "a scalar";
}

/* The current value must be a non-null scalar; `what` names what we wanted. */
static int want_scalar(loader *L, const char *what)
{
    if (L->ev.type != YAML_SCALAR_EVENT)
        return fail(L, "expected %s, got %s", what, kind_of(L));
    return is_null(L) ? fail(L, "expected %s, got null", what) : 0;
}

static int bad_value(loader *L, const char *what)
{
    char shown[SHOW_CAP];
    return fail(L, "expected %s, got '%s'", what, show(shown, sizeof(shown), sval(L), slen(L)));
}

/* Calls entry() for each key of the mapping that is the current event (a
 * null counts as an empty mapping: every entry commented out), with the key
 * current; entry() consumes the value. */
static int each_entry(loader *L, const char *expected, int (*entry)(loader *, void *), void *ctx)
{
    if (is_null(L))
        return 0;
    if (L->ev.type != YAML_MAPPING_START_EVENT)
        return fail(L, "expected %s, got %s", expected, kind_of(L));
    for (;;) {
        if (next(L))
            return -1;
        if (L->ev.type == YAML_MAPPING_END_EVENT)
            return 0;
        if (L->ev.type != YAML_SCALAR_EVENT)
            return fail(L, "keys must be strings, got %s", kind_of(L));
        if (entry(L, ctx))
            return -1;
    }
}

/* Decimal digits only: no sign, no 0x, no underscores, no leading zero (YAML
 * 1.1 reads 010 as octal; refusing it avoids the argument).  Returns 1 for an
 * integer above max, -1 for anything else that is not an integer. */
static int decimal(const char *s, size_t n, long long max, long long *out)
{
    size_t digits = 0;
    while (digits < n && s[digits] >= '0' && s[digits] <= '9')
        digits++;
    if (n == 0 || digits != n || (n > 1 && s[0] == '0'))
        return -1;
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (v > (max - (s[i] - '0')) / 10)
            return 1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int read_integer(loader *L, long long min, long long max, long long *out)
{
    char what[64], shown[SHOW_CAP];
    snprintf(what, sizeof(what), "an integer ≥ %lld", min);
    if (want_scalar(L, what))
        return -1;
    int r = decimal(sval(L), slen(L), max, out);
    if (r == 0 && *out > max) /* decimal()'s overflow guard is exact only for large max */
        r = 1;
    if (r > 0)
        return fail(L, "'%s' is too large (at most %lld)", show(shown, sizeof(shown), sval(L), slen(L)), max);
    return r < 0 || *out < min ? bad_value(L, what) : 0;
}

static int p_int(loader *L, const cfg_key *k, cj_config *c)
{
    long long v = 0;
    if (read_integer(L, k->arg, INT_MAX, &v))
        return -1;
    *(int *)field_of(c, k) = (int)v;
    return 0;
}

static int p_size(loader *L, const cfg_key *k, cj_config *c)
{
    long long v = 0, max = SIZE_MAX < (unsigned long long)CFG_INT_MAX ? (long long)SIZE_MAX : CFG_INT_MAX;
    if (read_integer(L, k->arg, max, &v))
        return -1;
    *(size_t *)field_of(c, k) = (size_t)v;
    return 0;
}

/* DIGITS or DIGITS.DIGITS, read by hand so the result does not depend on the
 * process locale (strtod reads "1.5" as 1 under a comma locale). */
static int p_seconds(loader *L, const cfg_key *k, cj_config *c)
{
    const char *what = "a number of seconds ≥ 0";
    char shown[SHOW_CAP];
    if (want_scalar(L, what))
        return -1;
    const char *s = sval(L);
    size_t n = slen(L), i = 0, digits, frac = 0;
    double v = 0, scale = 1;
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        v = v > CFG_SECONDS_MAX ? v : v * 10 + (s[i] - '0');
    digits = i;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, frac++)
            v += (s[i] - '0') * (scale /= 10);
    if (digits == 0 || (digits > 1 && s[0] == '0') || i != n || (i > digits && frac == 0))
        return bad_value(L, what);
    if (v > CFG_SECONDS_MAX)
        return fail(L, "'%s' is too large (at most %.0f)", show(shown, sizeof(shown), s, n), CFG_SECONDS_MAX);
    *(double *)field_of(c, k) = v;
    return 0;
}

/* Case-insensitive words.  YAML 1.1 calls Off and OFF booleans too, so
 * operators write them for the modes as well. */
struct word {
    const char *name;
    int value;
};
static const struct word BOOLS[] = {{"true", 1}, {"yes", 1}, {"on", 1}, {"false", 0}, {"no", 0}, {"off", 0}};
static const struct word MODES[] = {
    {"required", CJ_LAYER_REQUIRED}, {"if-available", CJ_LAYER_IF_AVAILABLE}, {"off", CJ_LAYER_OFF}};

static int read_word(loader *L, const struct word *words, size_t n, const char *what, int *out)
{
    if (want_scalar(L, what))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (strlen(words[i].name) == slen(L) && strncasecmp(sval(L), words[i].name, slen(L)) == 0) {
            *out = words[i].value;
            return 0;
        }
    }
    return bad_value(L, what);
}

static int p_bool(loader *L, const cfg_key *k, cj_config *c)
{
    return read_word(L, BOOLS, COUNT(BOOLS), "true or false (or yes/no, on/off)", field_of(c, k));
}

static int p_mode(loader *L, const cfg_key *k, cj_config *c)
{
    int v = 0;
    if (read_word(L, MODES, COUNT(MODES), "one of required, if-available, off", &v))
        return -1;
    *(enum cj_layer_mode *)field_of(c, k) = (enum cj_layer_mode)v;
    return 0;
}

static int p_log_level(loader *L, const cfg_key *k, cj_config *c)
{
    const char *what = "one of " CJ_LOG_LEVELS;
    enum cj_log_level v = CJ_LOG_INFO;
    if (want_scalar(L, what))
        return -1;
    if (!cj_log_level_parse(sval(L), slen(L), &v))
        return bad_value(L, what);
    *(enum cj_log_level *)field_of(c, k) = v;
    return 0;
}

static int p_log_format(loader *L, const cfg_key *k, cj_config *c)
{
    const char *what = "one of " CJ_LOG_FORMATS;
    enum cj_log_format v = CJ_LOG_TEXT;
    if (want_scalar(L, what))
        return -1;
    if (!cj_log_format_parse(sval(L), slen(L), &v))
        return bad_value(L, what);
    *(enum cj_log_format *)field_of(c, k) = v;
    return 0;
}

static int is_absolute(const char *s, size_t n) { return n > 0 && s[0] == '/'; }
static int is_nonempty(const char *s, size_t n) { return (void)s, n > 0; }

/* cgroup_parent.h's rule, shared with codejail-init and the runtime; ""
 * turns per-execution cgroups off. */
static int is_cgroup_path(const char *s, size_t n) { return n == 0 || cj_cgroup_parent_valid(s, n); }

/* HOST:PORT, an IPv6 host in brackets ("[::1]:8080") since a bare one cannot
 * be told from its port.  The resolver judges the host when the server binds;
 * here we refuse only what can never work. */
static int is_host_port(const char *s, size_t n)
{
    const char *host = s, *sep;
    if (n > 0 && s[0] == '[') {
        host = s + 1;
        if ((sep = memchr(s, ']', n)) == NULL || ++sep == s + n || *sep != ':')
            return 0;
    } else if ((sep = memrchr(s, ':', n)) == NULL) {
        return 0;
    }
    size_t host_len = (size_t)(sep - host) - (host != s), port_at = (size_t)(sep - s) + 1;
    long long port = 0;
    if (host_len == 0 || decimal(s + port_at, n - port_at, 65535, &port) != 0 || port < 1)
        return 0;
    for (size_t i = 0; i < host_len; i++) /* ':' outside brackets is an unbracketed IPv6 address */
        if ((unsigned char)host[i] <= ' ' || host[i] == 0x7f || strchr("/[]", host[i]) ||
            (host == s && host[i] == ':'))
            return 0;
    return 1;
}

static const struct {
    const char *what;
    int (*ok)(const char *s, size_t n);
} STRING_KINDS[] = {
    [S_ABSOLUTE] = {"an absolute path", is_absolute},
    [S_NONEMPTY] = {"a non-empty string", is_nonempty},
    [S_CGROUP] = {CJ_CGROUP_PARENT_RULE " or '' for none", is_cgroup_path},
    [S_LISTEN] = {"HOST:PORT with a port from 1 to 65535", is_host_port},
};

/* NUL bytes (possible through "\0" escapes) are refused because every
 * consumer treats these values as C strings. */
static int p_string(loader *L, const cfg_key *k, cj_config *c)
{
    const char *what = STRING_KINDS[k->arg].what;
    if (want_scalar(L, what))
        return -1;
    if (memchr(sval(L), '\0', slen(L)) != NULL)
        return fail(L, "expected %s, got a value containing a NUL byte", what);
    if (!STRING_KINDS[k->arg].ok(sval(L), slen(L)))
        return bad_value(L, what);
    char **dst = field_of(c, k), *copy = strndup(sval(L), slen(L));
    if (copy == NULL)
        return fail(L, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

/* The codejail library's limit names; the minimums are where 0 would make
 * every execution fail (no CPU second, no wall-clock time, no process). */
static const struct {
    const char *name;
    size_t off;
    long long min;
} LIMIT_KEYS[] = {
    {"CPU", offsetof(cj_limits, cpu), 1},
    {"REALTIME", offsetof(cj_limits, realtime), 1},
    {"VMEM", offsetof(cj_limits, vmem), 0},   /* 0 = unlimited, as in the library */
    {"FSIZE", offsetof(cj_limits, fsize), 0}, /* 0 = no byte may be written */
    {"NPROC", offsetof(cj_limits, nproc), 1},
};

struct limits_ctx {
    cj_limits *out;
    unsigned seen;
};

static int limit_entry(loader *L, void *ctx)
{
    struct limits_ctx *lc = ctx;
    char shown[SHOW_CAP];
    size_t i = 0;
    while (i < COUNT(LIMIT_KEYS) && !text_is(sval(L), slen(L), LIMIT_KEYS[i].name))
        i++;
    if (i == COUNT(LIMIT_KEYS) && text_is(sval(L), slen(L), "PROXY")) {
        /* The library's PROXY switch (a helper process to spawn jails) has no
         * meaning here; operators' pasted settings carry it, so accept 0/1. */
        long long ignored = 0;
        unsigned bit = 1u << COUNT(LIMIT_KEYS);
        if (lc->seen & bit)
            return fail(L, "duplicate key 'PROXY'");
        lc->seen |= bit;
        size_t mark = path_push(L, "PROXY", 5);
        if (next(L) || read_integer(L, 0, 1, &ignored))
            return -1;
        path_pop(L, mark);
        return 0;
    }
    if (i == COUNT(LIMIT_KEYS))
        return fail(L, "unknown key '%s'", show(shown, sizeof(shown), sval(L), slen(L)));
    if (lc->seen & (1u << i))
        return fail(L, "duplicate key '%s'", LIMIT_KEYS[i].name);
    lc->seen |= 1u << i;
    size_t mark = path_push(L, LIMIT_KEYS[i].name, strlen(LIMIT_KEYS[i].name));
    long long v = 0;
    if (next(L) || read_integer(L, LIMIT_KEYS[i].min, CFG_INT_MAX, &v))
        return -1;
    *(long long *)((char *)lc->out + LIMIT_KEYS[i].off) = v;
    path_pop(L, mark);
    return 0;
}

/* Limits it does not name keep the value already in out: the defaults for
 * `limits`, -1 for an override. */
static int parse_limits(loader *L, cj_limits *out)
{
    struct limits_ctx lc = {out, 0};
    return each_entry(L, "a mapping of CPU, REALTIME, VMEM, FSIZE, NPROC", limit_entry, &lc);
}

static int p_limits(loader *L, const cfg_key *k, cj_config *c) { return parse_limits(L, field_of(c, k)); }

static void free_overrides(cj_config *c)
{
    for (size_t i = 0; i < c->n_overrides; i++)
        free(c->overrides[i].context);
    free(c->overrides);
    c->overrides = NULL;
    c->n_overrides = 0;
}

static int override_entry(loader *L, void *ctx)
{
    cj_config *c = ctx;
    if (memchr(sval(L), '\0', slen(L)) != NULL)
        return fail(L, "a context contains a NUL byte");
    /* grow at powers of two: n_overrides is the only size we keep */
    if ((c->n_overrides & (c->n_overrides - 1)) == 0) {
        cj_override *grown = reallocarray(c->overrides, c->n_overrides ? c->n_overrides * 2 : 1, sizeof(*grown));
        if (grown == NULL)
            return fail(L, "out of memory");
        c->overrides = grown;
    }
    cj_override *o = &c->overrides[c->n_overrides];
    if ((o->context = strndup(sval(L), slen(L))) == NULL)
        return fail(L, "out of memory");
    o->limits = (cj_limits){-1, -1, -1, -1, -1};
    c->n_overrides++;
    size_t mark = path_push(L, sval(L), slen(L));
    if (next(L) || parse_limits(L, &o->limits))
        return -1;
    path_pop(L, mark);
    return 0;
}

static int override_cmp(const void *a, const void *b)
{
    return strcmp(((const cj_override *)a)->context, ((const cj_override *)b)->context);
}

/* The file's limit_overrides replaces the whole list (it is one setting);
 * entries are built straight into c, which is the loader's private copy. */
static int p_overrides(loader *L, const cfg_key *k, cj_config *c)
{
    (void)k;
    free_overrides(c);
    if (each_entry(L, "a mapping of context to limits", override_entry, c))
        return -1;
    /* sorting finds duplicates in O(n log n) even in a huge file */
    if (c->n_overrides > 1)
        qsort(c->overrides, c->n_overrides, sizeof(cj_override), override_cmp);
    for (size_t i = 1; i < c->n_overrides; i++) {
        const char *ctx = c->overrides[i].context;
        char shown[SHOW_CAP];
        if (strcmp(c->overrides[i - 1].context, ctx) == 0)
            return fail(L, "duplicate key '%s'", show(shown, sizeof(shown), ctx, strlen(ctx)));
    }
    return 0;
}

static int p_code_jail(loader *L, const cfg_key *k, cj_config *c);

static void free_preload(cj_config *c)
{
    for (size_t i = 0; i < c->n_warm_preload; i++)
        free(c->warm_preload[i]);
    free(c->warm_preload);
    c->warm_preload = NULL;
    c->n_warm_preload = 0;
}

/* A dotted module name, as `import` takes it: nothing else reaches the
 * warm interpreter's imports. */
static int module_name_ok(const char *s, size_t n)
{
    int start = 1;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        int digit = ch >= '0' && ch <= '9';
        if (ch == '.') {
            if (start)
                return 0;
            start = 1;
        } else if (alpha || (digit && !start)) {
            start = 0;
        } else {
            return 0;
        }
    }
    return n > 0 && !start;
}

static int p_preload(loader *L, cj_config *c)
{
    char shown[SHOW_CAP];
    free_preload(c);
    if (is_null(L))
        return 0;
    if (L->ev.type != YAML_SEQUENCE_START_EVENT)
        return fail(L, "expected a list of module names, got %s", kind_of(L));
    for (;;) {
        if (next(L))
            return -1;
        if (L->ev.type == YAML_SEQUENCE_END_EVENT)
            return 0;
        if (L->ev.type != YAML_SCALAR_EVENT)
            return fail(L, "expected a module name, got %s", kind_of(L));
        if (!module_name_ok(sval(L), slen(L)))
            return fail(L, "expected a module name, got '%s'", show(shown, sizeof(shown), sval(L), slen(L)));
        if (c->n_warm_preload >= 256)
            return fail(L, "more than 256 modules");
        char **grown = reallocarray(c->warm_preload, c->n_warm_preload + 1, sizeof(char *));
        if (grown == NULL)
            return fail(L, "out of memory");
        c->warm_preload = grown;
        if ((grown[c->n_warm_preload] = strndup(sval(L), slen(L))) == NULL)
            return fail(L, "out of memory");
        c->n_warm_preload++;
    }
}

/* A section's key: its index in names, the path pushed (*mark), and the
 * loader moved to its value; -1 (an error naming it) for an unknown key. */
static int section_key(loader *L, const char *const *names, size_t n, size_t *mark)
{
    char shown[SHOW_CAP];
    size_t i = 0;
    while (i < n && !text_is(sval(L), slen(L), names[i]))
        i++;
    if (i == n)
        return fail(L, "unknown key '%s'", show(shown, sizeof(shown), sval(L), slen(L)));
    *mark = path_push(L, names[i], strlen(names[i]));
    return next(L) ? -1 : (int)i;
}

static int warm_entry(loader *L, void *ctx)
{
    cj_config *c = ctx;
    static const char *const names[] = {"enabled", "pool", "preload", "max_clones", "max_age"};
    size_t mark;
    int i = section_key(L, names, COUNT(names), &mark);
    if (i < 0)
        return -1;
    long long v = 0;
    /* The bounds on one warm interpreter's life: at least one execution,
     * at least a second (a replacement costs an interpreter's start-up). */
    int rc = i == 0   ? read_word(L, BOOLS, COUNT(BOOLS), "true or false (or yes/no, on/off)", &c->warm_enabled)
             : i == 1 ? read_integer(L, 1, 64, &v)
             : i == 2 ? p_preload(L, c)
                      : read_integer(L, 1, WARM_BOUND_MAX, &v);
    if (rc)
        return -1;
    if (i == 1)
        c->warm_pool = (int)v;
    else if (i == 3)
        c->warm_max_clones = v;
    else if (i == 4)
        c->warm_max_age = v;
    path_pop(L, mark);
    return 0;
}

/* Sections of integers alone: each key's bounds and field. */
typedef struct int_key {
    const char *name;
    long long min, max;
    size_t off, width; /* sizeof(int) or sizeof(size_t) */
} int_key;

typedef struct int_section {
    const int_key *keys;
    size_t n;
    const char *what; /* "a mapping of ..." */
} int_section;

#define INT_KEY(n, lo, hi, field) {n, lo, hi, offsetof(cj_config, field), sizeof(((cj_config *)0)->field)}
/* cold: sandboxes made ahead, waiting before their interpreter's exec. */
static const int_key COLD_KEYS[] = {INT_KEY("pool", 0, 64, cold_pool)};
/* bytecode_cache: course code compiled once, how many zips and code texts
 * and how many bytes of their bytecode the service keeps (max_entries 0:
 * none, every execution compiles what it runs). */
static const int_key BYTECODE_CACHE_KEYS[] = {INT_KEY("max_entries", 0, 4096, bytecode_cache_entries),
                                              INT_KEY("max_bytes", 0, CFG_INT_MAX, bytecode_cache_bytes)};
#undef INT_KEY
enum { SECTION_COLD, SECTION_BYTECODE_CACHE };
static const int_section SECTIONS[] = {
    [SECTION_COLD] = {COLD_KEYS, COUNT(COLD_KEYS), "a mapping of pool"},
    [SECTION_BYTECODE_CACHE] = {BYTECODE_CACHE_KEYS, COUNT(BYTECODE_CACHE_KEYS), "a mapping of max_entries, max_bytes"},
};

struct int_entry_ctx {
    const int_section *section;
    cj_config *c;
};

static int int_entry(loader *L, void *ctx)
{
    const struct int_entry_ctx *e = ctx;
    const char *names[4];
    for (size_t k = 0; k < e->section->n && k < COUNT(names); k++)
        names[k] = e->section->keys[k].name;
    size_t mark;
    int i = section_key(L, names, e->section->n, &mark);
    long long v = 0;
    if (i < 0 || read_integer(L, e->section->keys[i].min, e->section->keys[i].max, &v))
        return -1;
    char *field = (char *)e->c + e->section->keys[i].off;
    if (e->section->keys[i].width == sizeof(int))
        *(int *)field = (int)v;
    else
        *(size_t *)field = (size_t)v;
    path_pop(L, mark);
    return 0;
}

static int p_int_section(loader *L, const cfg_key *k, cj_config *c)
{
    struct int_entry_ctx e = {&SECTIONS[k->arg], c};
    return each_entry(L, e.section->what, int_entry, &e);
}

static int p_warm(loader *L, const cfg_key *k, cj_config *c)
{
    (void)k;
    return each_entry(L, "a mapping of enabled, pool, preload, max_clones, max_age", warm_entry, c);
}

#define F(field) offsetof(cj_config, field)
/* Adding a setting is one line here, plus its field (and a non-string's
 * default in cj_config_defaults). */
static const cfg_key KEYS[] = {
    {"python_bin", p_string, F(python_bin), S_ABSOLUTE, K_STRING | K_LIBRARY, "/usr/bin/python3"},
    {"listen", p_string, F(listen), S_LISTEN, K_STRING, "127.0.0.1:8080"},
    {"enabled", p_bool, F(enabled), 0, 0, NULL},
    {"max_concurrency", p_int, F(max_concurrency), 0, 0, NULL},
    {"max_queue", p_int, F(max_queue), 0, 0, NULL},
    {"max_body_bytes", p_size, F(max_body_bytes), 1024, 0, NULL},
    {"max_output_bytes", p_size, F(max_output_bytes), 1024, 0, NULL},
    {"limits", p_limits, F(limits), 0, K_LIBRARY, NULL},
    {"limit_overrides", p_overrides, F(overrides), 0, K_LIBRARY, NULL},
    {"user", p_string, F(user), S_NONEMPTY, K_STRING | K_LIBRARY, "nobody"},
    {"work_dir", p_string, F(work_dir), S_ABSOLUTE, K_STRING, "/tmp"},
    {"cgroup_parent", p_string, F(cgroup_parent), S_CGROUP, K_STRING, CJ_CGROUP_PARENT_DEFAULT},
    {"apparmor", p_mode, F(apparmor), 0, 0, NULL},
    {"apparmor_profile", p_string, F(apparmor_profile), S_NONEMPTY, K_STRING, "codejail_sandbox"},
    {"landlock", p_mode, F(landlock), 0, 0, NULL},
    {"seccomp", p_mode, F(seccomp), 0, 0, NULL},
    {"namespaces", p_bool, F(namespaces), 0, 0, NULL},
    {"log_level", p_log_level, F(log_level), 0, 0, NULL},
    {"log_format", p_log_format, F(log_format), 0, 0, NULL},
    {"drain_timeout", p_seconds, F(drain_timeout), 0, 0, NULL},
    {"cold", p_int_section, 0, SECTION_COLD, 0, NULL},
    {"warm", p_warm, 0, 0, 0, NULL},
    {"bytecode_cache", p_int_section, 0, SECTION_BYTECODE_CACHE, 0, NULL},
    {"CODE_JAIL", p_code_jail, 0, 0, 0, NULL},
};
#undef F
_Static_assert(COUNT(KEYS) <= CFG_MAX_KEYS, "raise CFG_MAX_KEYS");

struct settings_ctx {
    cj_config *c;
    int origin;
};

static int setting_entry(loader *L, void *ctx)
{
    struct settings_ctx *sc = ctx;
    const cfg_key *k = NULL;
    char shown[SHOW_CAP];
    for (size_t i = 0; i < COUNT(KEYS) && k == NULL; i++)
        if (text_is(sval(L), slen(L), KEYS[i].name) && (sc->origin == ORIGIN_TOP || (KEYS[i].flags & K_LIBRARY)))
            k = &KEYS[i];
    if (k == NULL)
        return fail(L, "unknown key '%s'", show(shown, sizeof(shown), sval(L), slen(L)));
    unsigned char *seen = &L->seen[k - KEYS];
    if (*seen == sc->origin)
        return fail(L, "duplicate key '%s'", k->name);
    size_t mark = path_push(L, k->name, strlen(k->name));
    if (*seen != 0)
        return fail(L, "also set %s", sc->origin == ORIGIN_TOP ? "in CODE_JAIL" : "at the top level");
    *seen = (unsigned char)sc->origin;
    if (next(L) || k->parse(L, k, sc->c))
        return -1;
    path_pop(L, mark);
    return 0;
}

static int p_code_jail(loader *L, const cfg_key *k, cj_config *c)
{
    (void)k;
    struct settings_ctx sc = {c, ORIGIN_LIBRARY};
    return each_entry(L, "a mapping", setting_entry, &sc);
}

static int parse_stream(loader *L, cj_config *c)
{
    struct settings_ctx sc = {c, ORIGIN_TOP};
    if (next(L) || next(L)) /* STREAM-START, then DOCUMENT-START or STREAM-END */
        return -1;
    if (L->ev.type == YAML_STREAM_END_EVENT) /* empty, or only comments */
        return 0;
    if (next(L) || each_entry(L, "a mapping of settings at the top level", setting_entry, &sc))
        return -1;
    if (next(L) || next(L)) /* DOCUMENT-END, then STREAM-END */
        return -1;
    return L->ev.type == YAML_STREAM_END_EVENT ? 0 : fail(L, "expected one YAML document, found more");
}

static int resolved_concurrency(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}

void cj_config_defaults(cj_config *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < COUNT(KEYS); i++) {
        if (!(KEYS[i].flags & K_STRING))
            continue;
        /* No error path in this interface, and a NULL here would crash later
         * at a worse place: it runs once, at startup. */
        if ((*(char **)field_of(c, &KEYS[i]) = strdup(KEYS[i].def)) == NULL) {
            fputs("codejail: out of memory setting configuration defaults\n", stderr);
            abort();
        }
    }
    c->enabled = 1;
    c->max_concurrency = resolved_concurrency();
    c->max_queue = 64;
    c->max_body_bytes = 32u << 20;
    c->max_output_bytes = 1u << 20;
    c->limits = (cj_limits){.cpu = 3, .realtime = 3, .vmem = 536870912, .fsize = 1048576, .nproc = 15};
    c->apparmor = CJ_LAYER_IF_AVAILABLE;
    c->landlock = CJ_LAYER_REQUIRED;
    c->seccomp = CJ_LAYER_REQUIRED;
    c->namespaces = 1;
    c->log_level = CJ_LOG_INFO;
    c->log_format = CJ_LOG_TEXT;
    c->drain_timeout = 0;
    c->warm_pool = 2;
    c->warm_max_clones = 10000;
    c->warm_max_age = 600;
    c->cold_pool = 2;
    c->bytecode_cache_entries = 256;
    c->bytecode_cache_bytes = 128u << 20;
}

void cj_config_free(cj_config *c)
{
    for (size_t i = 0; i < COUNT(KEYS); i++) {
        if (KEYS[i].flags & K_STRING) {
            char **s = field_of(c, &KEYS[i]);
            free(*s);
            *s = NULL;
        }
    }
    free_overrides(c);
    free_preload(c);
}

static int config_clone(cj_config *dst, const cj_config *src)
{
    *dst = *src;
    dst->overrides = NULL;
    dst->n_overrides = 0;
    dst->warm_preload = NULL;
    dst->n_warm_preload = 0;
    for (size_t i = 0; i < COUNT(KEYS); i++)
        if (KEYS[i].flags & K_STRING)
            *(char **)field_of(dst, &KEYS[i]) = NULL;
    for (size_t i = 0; i < COUNT(KEYS); i++) {
        if (!(KEYS[i].flags & K_STRING))
            continue;
        const char *s = *(char *const *)((const char *)src + KEYS[i].off);
        if (s != NULL && (*(char **)field_of(dst, &KEYS[i]) = strdup(s)) == NULL)
            goto oom;
    }
    if (src->n_overrides > 0 && (dst->overrides = calloc(src->n_overrides, sizeof(cj_override))) == NULL)
        goto oom;
    for (; dst->n_overrides < src->n_overrides; dst->n_overrides++) {
        const cj_override *from = &src->overrides[dst->n_overrides];
        dst->overrides[dst->n_overrides].limits = from->limits;
        if ((dst->overrides[dst->n_overrides].context = strdup(from->context)) == NULL)
            goto oom;
    }
    if (src->n_warm_preload > 0 && (dst->warm_preload = calloc(src->n_warm_preload, sizeof(char *))) == NULL)
        goto oom;
    for (; dst->n_warm_preload < src->n_warm_preload; dst->n_warm_preload++)
        if ((dst->warm_preload[dst->n_warm_preload] = strdup(src->warm_preload[dst->n_warm_preload])) == NULL)
            goto oom;
    return 0;
oom:
    cj_config_free(dst);
    return -1;
}

int cj_config_load_string(cj_config *c, const char *yaml, size_t len, cj_err *e)
{
    char *err = e != NULL ? e->msg : NULL;
    size_t err_len = e != NULL ? sizeof(e->msg) : 0;
    if (e != NULL) {
        e->errnum = 0;
        err[0] = '\0';
    }
    if (len > CFG_MAX_BYTES)
        return errf(err, err_len, "configuration is larger than 1 MiB (%zu bytes)", len);
    loader L;
    memset(&L, 0, sizeof(L));
    L.err = err;
    L.err_len = err_len;
    cj_config work;
    if (config_clone(&work, c))
        return errf(err, err_len, "out of memory");
    if (!yaml_parser_initialize(&L.parser)) {
        cj_config_free(&work);
        return errf(err, err_len, "out of memory");
    }
    yaml_parser_set_input_string(&L.parser, (const unsigned char *)(len ? yaml : ""), len);
    int rc = parse_stream(&L, &work);
    if (L.have_ev)
        yaml_event_delete(&L.ev);
    yaml_parser_delete(&L.parser);
    if (rc != 0) {
        cj_config_free(&work);
        return -1;
    }
    if (work.max_concurrency == 0)
        work.max_concurrency = resolved_concurrency();
    cj_config_free(c);
    *c = work;
    return 0;
}

int cj_config_load_file(cj_config *c, const char *path, cj_err *e)
{
    char *err = e != NULL ? e->msg : NULL;
    size_t err_len = e != NULL ? sizeof(e->msg) : 0;
    char ebuf[128];
    int fd = open(path, O_RDONLY | O_CLOEXEC), saved = 0;
    if (fd < 0)
        return errf(err, err_len, "%s: %s", path, strerror_r(errno, ebuf, sizeof(ebuf)));
    /* Read one byte past the bound to tell "exactly 1 MiB" from "more";
     * reading, not trusting st_size, also bounds pipes and /proc files. */
    char *buf = malloc(CFG_MAX_BYTES + 1);
    size_t len = 0;
    ssize_t r = 1;
    while (buf != NULL && len < CFG_MAX_BYTES + 1 && r != 0) {
        r = read(fd, buf + len, CFG_MAX_BYTES + 1 - len);
        if (r < 0 && errno != EINTR) {
            saved = errno;
            break;
        }
        len += r > 0 ? (size_t)r : 0;
    }
    close(fd);
    int rc = buf == NULL            ? errf(err, err_len, "%s: out of memory", path)
             : saved != 0           ? errf(err, err_len, "%s: %s", path, strerror_r(saved, ebuf, sizeof(ebuf)))
             : len > CFG_MAX_BYTES ? errf(err, err_len, "%s: larger than 1 MiB", path)
                                    : cj_config_load_string(c, buf, len, e);
    free(buf);
    return rc;
}

cj_limits cj_config_limits_for(const cj_config *c, const char *context, size_t context_len)
{
    cj_limits r = c->limits;
    /* A linear scan: configs built by hand (tests, other modules) need not be
     * sorted, and even a thousand courses cost microseconds per request. */
    for (size_t i = 0; context != NULL && i < c->n_overrides; i++) {
        const cj_override *o = &c->overrides[i];
        if (strlen(o->context) != context_len || memcmp(o->context, context, context_len) != 0)
            continue;
        for (size_t j = 0; j < COUNT(LIMIT_KEYS); j++) {
            long long v = *(const long long *)((const char *)&o->limits + LIMIT_KEYS[j].off);
            if (v >= 0)
                *(long long *)((char *)&r + LIMIT_KEYS[j].off) = v;
        }
        break;
    }
    return r;
}
