/* Levelled logging: one line per message on stderr.
 *
 *     <prog>: <message>              info
 *     <prog>: <level>: <message>     error, warning, debug
 *
 * Info lines keep the shape operators and tests already read (the execution
 * line, the startup checks); every other level says what it is, so
 * `grep '^codejail-server: error: '` finds every failure.  The logger is a
 * value owned by main() and passed down by pointer: no globals. */
#ifndef CJ_LOG_H
#define CJ_LOG_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>

enum cj_log_level { CJ_LOG_ERROR, CJ_LOG_WARNING, CJ_LOG_INFO, CJ_LOG_DEBUG };

struct cj_log {
    enum cj_log_level level; /* messages above it are dropped */
    const char *prog;        /* "codejail-server", "codejail-init" */
};

/* Writes the line with one write(), so lines from processes sharing stderr
 * never interleave mid-line; a line longer than CJ_LOG_LINE_MAX is cut.
 * log must not be NULL.  errno is left as it was. */
#define CJ_LOG_LINE_MAX 4096
void cj_log(const struct cj_log *log, enum cj_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cj_vlog(const struct cj_log *log, enum cj_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Whether a message of this level would be written: lets a caller skip
 * building an expensive detail. */
bool cj_log_enabled(const struct cj_log *log, enum cj_log_level level);

/* "error", "warning", "info", "debug". */
const char *cj_log_level_name(enum cj_log_level level);
/* Those names, case-insensitively, over s[0..n); false for anything else. */
bool cj_log_level_parse(const char *s, size_t n, enum cj_log_level *out);
#define CJ_LOG_LEVELS "error, warning, info, debug"

#endif
