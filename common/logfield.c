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

const char *cj_log_field(char buf[CJ_LOG_FIELD_BUF], const char *s, size_t len)
{
    if (s == NULL) {
        strcpy(buf, "-");
        return buf;
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t o = 0, i = 0;
    buf[o++] = '"';
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
            used = 1;
            ulen = (size_t)snprintf(unit, sizeof(unit), "\\x%02X", c);
        }
        if (o - 1 + ulen > CJ_LOG_FIELD_MAX)
            break;
        memcpy(buf + o, unit, ulen);
        o += ulen;
        i += used;
    }
    buf[o++] = '"';
    if (i < len)
        snprintf(buf + o, CJ_LOG_FIELD_BUF - o, "[cut: %zu bytes]", len);
    else
        buf[o] = '\0';
    return buf;
}
