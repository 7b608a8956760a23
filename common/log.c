#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "files.h"
#include "logfield.h"

static const char *const NAMES[] = {
    [CJ_LOG_ERROR] = "error", [CJ_LOG_WARNING] = "warning", [CJ_LOG_INFO] = "info", [CJ_LOG_DEBUG] = "debug"};

const char *cj_log_level_name(enum cj_log_level level)
{
    return (unsigned)level < sizeof(NAMES) / sizeof(NAMES[0]) ? NAMES[level] : "?";
}

bool cj_log_level_parse(const char *s, size_t n, enum cj_log_level *out)
{
    for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
        if (strlen(NAMES[i]) == n && strncasecmp(s, NAMES[i], n) == 0) {
            *out = (enum cj_log_level)i;
            return true;
        }
    }
    return false;
}

bool cj_log_enabled(const struct cj_log *log, enum cj_log_level level)
{
    return level <= log->level;
}

bool cj_log_format_parse(const char *s, size_t n, enum cj_log_format *out)
{
    static const char *const FORMATS[] = {[CJ_LOG_TEXT] = "text", [CJ_LOG_JSON] = "json"};
    for (size_t i = 0; i < sizeof(FORMATS) / sizeof(FORMATS[0]); i++) {
        if (strlen(FORMATS[i]) == n && strncasecmp(s, FORMATS[i], n) == 0) {
            *out = (enum cj_log_format)i;
            return true;
        }
    }
    return false;
}

/* One line being built: pieces go in whole or not at all, with room kept
 * for what closes it (JSON's `}`, the newline), so a long line is cut
 * between fields and stays one valid line. */
struct line {
    char buf[CJ_LOG_LINE_MAX];
    size_t n;
};
#define CJ_LOG_CLOSE 2

static bool put(struct line *l, const char *s, size_t len)
{
    if (l->n + len > sizeof(l->buf) - CJ_LOG_CLOSE)
        return false;
    memcpy(l->buf + l->n, s, len);
    l->n += len;
    return true;
}

static bool __attribute__((format(printf, 2, 3))) putf(struct line *l, const char *fmt, ...)
{
    char piece[512];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(piece, sizeof(piece), fmt, ap);
    va_end(ap);
    return m >= 0 && (size_t)m < sizeof(piece) && put(l, piece, (size_t)m);
}

/* Whatever the text holds, escaped for the format, as much as fits. */
static void put_escaped(struct line *l, enum cj_log_format f, const char *s, size_t len, size_t keep)
{
    size_t room = sizeof(l->buf) - CJ_LOG_CLOSE - l->n, w = 0;
    if (room > keep)
        (void)cj_log_escape(f, l->buf + l->n, room - keep, &w, s, len);
    l->n += w;
}

static void start(struct line *l, const struct cj_log *log, enum cj_log_level level)
{
    l->n = 0;
    if (log->format == CJ_LOG_TEXT) {
        if (level == CJ_LOG_INFO)
            putf(l, "%s: ", log->prog);
        else
            putf(l, "%s: %s: ", log->prog, cj_log_level_name(level));
        return;
    }
    struct timespec ts;
    struct tm tm;
    char when[32] = "";
    clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    putf(l, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"prog\":\"%s\",\"msg\":\"", when, ts.tv_nsec / 1000000L,
         cj_log_level_name(level), log->prog);
}

/* Nowhere left to report a failure to write the log. */
static void finish(struct line *l, const struct cj_log *log)
{
    if (log->format == CJ_LOG_JSON)
        l->buf[l->n++] = '}';
    l->buf[l->n++] = '\n';
    (void)cj_write_all(STDERR_FILENO, l->buf, l->n);
}

void cj_vlog(const struct cj_log *log, enum cj_log_level level, const char *fmt, va_list ap)
{
    if (!cj_log_enabled(log, level))
        return;
    int saved = errno;
    struct line l;
    start(&l, log, level);
    char msg[CJ_LOG_LINE_MAX];
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t len = m < 0 ? 0 : (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
    if (log->format == CJ_LOG_JSON) {
        put_escaped(&l, CJ_LOG_JSON, msg, len, 1);
        l.buf[l.n++] = '"';
    } else {
        /* As it always was: the message as formatted, cut to the line. */
        size_t room = sizeof(l.buf) - CJ_LOG_CLOSE - l.n;
        memcpy(l.buf + l.n, msg, len < room ? len : room);
        l.n += len < room ? len : room;
    }
    finish(&l, log);
    errno = saved;
}

void cj_log(const struct cj_log *log, enum cj_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cj_vlog(log, level, fmt, ap);
    va_end(ap);
}

/* One field, whole or not at all: a name and its value, JSON or text. */
static bool put_field(struct line *l, enum cj_log_format f, const char *prefix, const cj_log_kv *kv)
{
    char v[CJ_LOG_FIELD_BUF];
    switch (kv->kind) {
    case CJ_LOG_INT:
        snprintf(v, sizeof(v), "%lld", kv->i);
        break;
    case CJ_LOG_AMOUNT:
        if (kv->i >= 0)
            snprintf(v, sizeof(v), "%lld", kv->i);
        else
            snprintf(v, sizeof(v), "%s", f == CJ_LOG_JSON ? "null" : "-");
        break;
    case CJ_LOG_BOOL:
        snprintf(v, sizeof(v), "%s", kv->i ? "true" : "false");
        break;
    case CJ_LOG_NAME:
        if (f == CJ_LOG_JSON)
            cj_log_field_as(f, v, kv->s, strlen(kv->s));
        else
            snprintf(v, sizeof(v), "%s", kv->s);
        break;
    case CJ_LOG_REQUEST:
        cj_log_field_as(f, v, kv->s, kv->len);
        break;
    case CJ_LOG_GROUP: {
        size_t mark = l->n;
        bool ok = true;
        if (f == CJ_LOG_JSON) {
            ok = putf(l, ",\"%s\":{", kv->key);
            for (size_t k = 0; k < kv->n && ok; k++)
                ok = put_field(l, f, k == 0 ? "" : ",", &kv->group[k]);
            ok = ok && put(l, "}", 1);
        } else {
            for (size_t k = 0; k < kv->n && ok; k++) {
                char sub[128];
                snprintf(sub, sizeof(sub), " %s.", kv->key);
                ok = put_field(l, f, sub, &kv->group[k]);
            }
        }
        if (!ok)
            l->n = mark;
        return ok;
    }
    }
    if (f == CJ_LOG_JSON)
        return putf(l, "%s\"%s\":%s", prefix, kv->key, v);
    return putf(l, "%s%s=%s", prefix, kv->key, v);
}

void cj_log_record(const struct cj_log *log, enum cj_log_level level, const char *msg, const cj_log_kv *kv,
                   size_t n)
{
    if (!cj_log_enabled(log, level))
        return;
    int saved = errno;
    struct line l;
    start(&l, log, level);
    put_escaped(&l, log->format, msg, strlen(msg), 1);
    if (log->format == CJ_LOG_JSON)
        l.buf[l.n++] = '"';
    /* A field that does not fit is left out, and so are the ones after it. */
    for (size_t k = 0; k < n && put_field(&l, log->format, log->format == CJ_LOG_JSON ? "," : " ", &kv[k]); k++)
        ;
    finish(&l, log);
    errno = saved;
}
