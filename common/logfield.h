/* Request-provided text in a log line.  Operators read and grep the service's
 * stderr one line per event; a slug with a newline must not forge a line, a
 * terminal escape must not reach their terminal, and a 100 KB slug must not
 * be written whole.  Every string that comes from a request (or from inside a
 * sandbox) goes through cj_log_field before it is logged. */
#ifndef CJ_LOGFIELD_H
#define CJ_LOGFIELD_H

#include <stddef.h>

#include "log.h"

/* Escaped bytes kept of one field; the rest is counted, not logged. */
#define CJ_LOG_FIELD_MAX 200
#define CJ_LOG_FIELD_BUF (CJ_LOG_FIELD_MAX + 48)

/* Writes s[0..len) into buf as one double-quoted token holding only
 * printable ASCII and valid UTF-8 that renders as itself: `"` and `\` are
 * backslash-escaped, \n \r \t spelt so, other control characters and bytes
 * that are not UTF-8 as \xNN, and C1 controls, line/paragraph separators and
 * bidirectional overrides as \uXXXX.  A field cut at CJ_LOG_FIELD_MAX bytes
 * ends with `[cut: N bytes]`, N its full length.  s == NULL gives `-`.
 * Returns buf. */
const char *cj_log_field(char buf[CJ_LOG_FIELD_BUF], const char *s, size_t len);
/* The same for a log format: JSON gives a JSON string (valid UTF-8 whatever
 * s holds: control characters as \u00XX, each byte that is not UTF-8 as
 * U+FFFD) with the cut mark inside it, and `null` for NULL. */
const char *cj_log_field_as(enum cj_log_format f, char buf[CJ_LOG_FIELD_BUF], const char *s, size_t len);
/* The escaping alone, unquoted and uncapped but for max: whole units of
 * s[0..len) into out[0..max); *olen gets the bytes written.  Returns the
 * bytes of s consumed. */
size_t cj_log_escape(enum cj_log_format f, char *out, size_t max, size_t *olen, const char *s, size_t len);

#endif
