/* Output encoders.  Both write through a sink that counts every byte but
 * stores only what fits, so a caller can ask for the length with cap 0,
 * allocate, and call again: the snprintf convention. */
#include "pyrepr.h"

#include <string.h>

typedef struct sink {
    char *out;
    size_t cap;
    size_t n; /* bytes the full output needs so far */
} sink;

static void put(sink *s, char c)
{
    if (s->n + 1 < s->cap)
        s->out[s->n] = c;
    s->n++;
}

static void puts_n(sink *s, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        put(s, p[i]);
}

static size_t finish(sink *s)
{
    if (s->cap > 0)
        s->out[s->n < s->cap - 1 ? s->n : s->cap - 1] = '\0';
    return s->n;
}

static const char HEX[] = "0123456789abcdef";

/* The rules of CPython's bytes repr (Objects/bytesobject.c), which the
 * contract's emsg reproduces: operators diff our messages against the
 * library's, so even the quote choice must match. */
size_t cj_bytes_repr(const unsigned char *data, size_t len, char *out, size_t cap)
{
    sink s = {out, cap, 0};
    int squote = len > 0 && memchr(data, '\'', len) != NULL;
    int dquote = len > 0 && memchr(data, '"', len) != NULL;
    char quote = squote && !dquote ? '"' : '\'';
    put(&s, 'b');
    put(&s, quote);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = data[i];
        if (c == quote || c == '\\') {
            put(&s, '\\');
            put(&s, (char)c);
        } else if (c == '\t') {
            puts_n(&s, "\\t", 2);
        } else if (c == '\n') {
            puts_n(&s, "\\n", 2);
        } else if (c == '\r') {
            puts_n(&s, "\\r", 2);
        } else if (c < 0x20 || c >= 0x7f) {
            char esc[4] = {'\\', 'x', HEX[c >> 4], HEX[c & 15]};
            puts_n(&s, esc, 4);
        } else {
            put(&s, (char)c);
        }
    }
    put(&s, quote);
    return finish(&s);
}

/* Length of the well-formed multi-byte UTF-8 sequence at p (p[0] >= 0x80;
 * Unicode Table 3-7), or 0 when it is not one.  *bad_len is then the maximal
 * subpart to replace by one U+FFFD: the lead byte plus the continuation bytes
 * that were still valid, which is what Python's decode(errors="replace") and
 * browsers do, so text reads the same here and there. */
static size_t utf8_seq(const unsigned char *p, size_t n, size_t *bad_len)
{
    unsigned char c = p[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        need = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        *bad_len = 1; /* C0, C1 (always overlong), F5..FF, stray continuation */
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        unsigned char b = p[i];
        if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xbf))
            break;
    }
    if (i == need)
        return need;
    *bad_len = i;
    return 0;
}

/* Copies the multi-byte sequence at p[*i] (p[*i] >= 0x80), or U+FFFD for
 * an invalid one, and advances *i past what it consumed. */
static void put_utf8(sink *s, const unsigned char *p, size_t len, size_t *i)
{
    size_t bad = 0, ok = utf8_seq(p + *i, len - *i, &bad);
    if (ok) {
        puts_n(s, (const char *)p + *i, ok);
        *i += ok;
    } else {
        puts_n(s, "\xef\xbf\xbd", 3);
        *i += bad;
    }
}

size_t cj_json_quote(const char *str, size_t len, char *out, size_t cap)
{
    sink s = {out, cap, 0};
    const unsigned char *p = (const unsigned char *)str;
    put(&s, '"');
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c >= 0x80) {
            put_utf8(&s, p, len, &i);
            continue;
        }
        i++;
        switch (c) {
        case '"':
            puts_n(&s, "\\\"", 2);
            break;
        case '\\':
            puts_n(&s, "\\\\", 2);
            break;
        case '\n':
            puts_n(&s, "\\n", 2);
            break;
        case '\r':
            puts_n(&s, "\\r", 2);
            break;
        case '\t':
            puts_n(&s, "\\t", 2);
            break;
        case '\b':
            puts_n(&s, "\\b", 2);
            break;
        case '\f':
            puts_n(&s, "\\f", 2);
            break;
        default:
            if (c < 0x20) {
                char esc[6] = {'\\', 'u', '0', '0', HEX[c >> 4], HEX[c & 15]};
                puts_n(&s, esc, 6);
            } else {
                put(&s, (char)c);
            }
        }
    }
    put(&s, '"');
    return finish(&s);
}

size_t cj_utf8_repair(const char *str, size_t len, char *out, size_t cap)
{
    sink s = {out, cap, 0};
    const unsigned char *p = (const unsigned char *)str;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x80)
            put(&s, (char)p[i++]);
        else
            put_utf8(&s, p, len, &i);
    }
    return finish(&s);
}
