#include "logfield.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Length of the strict UTF-8 sequence at s (no overlongs, surrogates or
 * values past U+10FFFF) and its code point; 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t left, uint32_t *cp)
{
    unsigned char c = s[0];
    if (c < 0xC2 || c > 0xF4)
        return 0;
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
    unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    uint32_t v = c & (0x7F >> n);
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[k] & 0x3F);
    }
    *cp = v;
    return n;
}

/* Code points a terminal or a viewer acts on rather than shows. */
static int invisible(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 || cp == 0x200E || cp == 0x200F ||
           (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0xFEFF;
}

size_t cj_log_escape(enum cj_log_format f, char *out, size_t max, size_t *olen, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    int json = f == CJ_LOG_JSON;
    while (i < len) {
        char unit[8];
        size_t ulen, used = 1;
        unsigned char c = u[i];
        uint32_t cp;
        if (c == '"' || c == '\\') {
            unit[0] = '\\';
            unit[1] = (char)c;
            ulen = 2;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            unit[0] = '\\';
            unit[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            ulen = 2;
        } else if (c >= 0x20 && c < 0x7F) {
            unit[0] = (char)c;
            ulen = 1;
        } else if (c >= 0x80 && (used = utf8_seq(u + i, len - i, &cp)) != 0) {
            if (invisible(cp)) {
                ulen = (size_t)snprintf(unit, sizeof(unit), "\\u%04X", (unsigned)cp);
            } else {
                memcpy(unit, u + i, used);
                ulen = used;
            }
        } else {
            /* JSON has no byte escape: a control character is its code
             * point, a byte that is not UTF-8 the replacement character. */
            used = 1;
            ulen = (size_t)snprintf(unit, sizeof(unit), json ? (c < 0x80 ? "\\u%04X" : "\\uFFFD") : "\\x%02X", c);
        }
        if (o + ulen > max)
            break;
        memcpy(out + o, unit, ulen);
        o += ulen;
        i += used;
    }
    *olen = o;
    return i;
}

const char *cj_log_field_as(enum cj_log_format f, char buf[CJ_LOG_FIELD_BUF], const char *s, size_t len)
{
    if (s == NULL) {
        strcpy(buf, f == CJ_LOG_JSON ? "null" : "-");
        return buf;
    }
    size_t o = 1;
    buf[0] = '"';
    size_t used = cj_log_escape(f, buf + 1, CJ_LOG_FIELD_MAX, &o, s, len);
    o++;
    /* JSON: the mark goes inside the string, to keep the line one object. */
    if (used < len && f == CJ_LOG_JSON)
        snprintf(buf + o, CJ_LOG_FIELD_BUF - o, "[cut: %zu bytes]\"", len);
    else if (used < len)
        snprintf(buf + o, CJ_LOG_FIELD_BUF - o, "\"[cut: %zu bytes]", len);
    else
        snprintf(buf + o, CJ_LOG_FIELD_BUF - o, "\"");
    return buf;
}

const char *cj_log_field(char buf[CJ_LOG_FIELD_BUF], const char *s, size_t len)
{
    return cj_log_field_as(CJ_LOG_TEXT, buf, s, len);
}
