/* Levelled logging: one line per message on stderr.
 *
 *     <prog>: <message>              info
 *     <prog>: <level>: <message>     error, warning, debug
 *
 * Info lines keep the shape operators and tests already read (the execution
 * line, the startup checks); every other level says what it is, so
 * `grep '^codejail-server: error: '` finds every failure.  With the JSON
 * format each line is one JSON object instead:
 *
 *     {"ts":"2026-12-07T09:30:00.123Z","level":"info","prog":"...","msg":"..."[,fields]}
 *
 * The logger is a value owned by main() and passed down by pointer: no
 * globals. */
#ifndef CJ_LOG_H
#define CJ_LOG_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>

enum cj_log_level { CJ_LOG_ERROR, CJ_LOG_WARNING, CJ_LOG_INFO, CJ_LOG_DEBUG };
enum cj_log_format { CJ_LOG_TEXT, CJ_LOG_JSON };

struct cj_log {
    enum cj_log_level level;   /* messages above it are dropped */
    const char *prog;          /* "codejail-server", "codejail-init" */
    enum cj_log_format format; /* text unless configured */
};

/* Writes the line with one write(), so lines from processes sharing stderr
 * never interleave mid-line; a line longer than CJ_LOG_LINE_MAX is cut.
 * log must not be NULL.  errno is left as it was. */
#define CJ_LOG_LINE_MAX 4096
void cj_log(const struct cj_log *log, enum cj_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cj_vlog(const struct cj_log *log, enum cj_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* One field of a record (cj_log_record). */
enum cj_log_kind {
    CJ_LOG_INT,    /* i */
    CJ_LOG_AMOUNT, /* i, or unknown when negative: JSON null, text `-` */
    CJ_LOG_BOOL,   /* i != 0 */
    CJ_LOG_NAME,   /* s: ours (a path, an outcome), written as is */
    CJ_LOG_REQUEST, /* s[0..len): a request's, escaped and capped (logfield.h) */
    CJ_LOG_GROUP,  /* group[0..n): JSON a nested object, text `key.sub=` */
};
typedef struct cj_log_kv {
    const char *key;
    enum cj_log_kind kind;
    long long i;
    const char *s;
    size_t len;
    const struct cj_log_kv *group;
    size_t n;
} cj_log_kv;

/* An event with fields: text `<prog>: msg key=value ...`, JSON the fields
 * beside msg.  Same line rules as cj_log. */
void cj_log_record(const struct cj_log *log, enum cj_log_level level, const char *msg, const cj_log_kv *kv,
                   size_t n);

/* Whether a message of this level would be written: lets a caller skip
 * building an expensive detail. */
bool cj_log_enabled(const struct cj_log *log, enum cj_log_level level);

/* "error", "warning", "info", "debug". */
const char *cj_log_level_name(enum cj_log_level level);
/* Those names, case-insensitively, over s[0..n); false for anything else. */
bool cj_log_level_parse(const char *s, size_t n, enum cj_log_level *out);
#define CJ_LOG_LEVELS "error, warning, info, debug"
/* "text", "json", case-insensitively, over s[0..n). */
bool cj_log_format_parse(const char *s, size_t n, enum cj_log_format *out);
#define CJ_LOG_FORMATS "text, json"

#endif
