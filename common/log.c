#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "files.h"

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

void cj_vlog(const struct cj_log *log, enum cj_log_level level, const char *fmt, va_list ap)
{
    if (!cj_log_enabled(log, level))
        return;
    int saved = errno;
    char buf[CJ_LOG_LINE_MAX];
    int n = level == CJ_LOG_INFO ? snprintf(buf, sizeof(buf), "%s: ", log->prog)
                                 : snprintf(buf, sizeof(buf), "%s: %s: ", log->prog, cj_log_level_name(level));
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof(buf) - 1) {
        int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
        n += m > 0 ? m : 0;
    }
    if ((size_t)n > sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    /* Nowhere left to report a failure to write the log. */
    (void)cj_write_all(STDERR_FILENO, buf, (size_t)n);
    errno = saved;
}

void cj_log(const struct cj_log *log, enum cj_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cj_vlog(log, level, fmt, ap);
    va_end(ap);
}
