/* The `payload` field: an exact validator for Python's json dialect plus the
 * Django service's jsonschema check.  Numbers are never converted for the
 * sandbox: code and globals_dict are forwarded as raw text and the sandbox's
 * own Python decodes them, so big integers and NaN survive byte for byte.
 * Error texts copy Python's json.JSONDecodeError and jsonschema's best_match
 * output, because callers compare them with the Django service's answers. */
#include "payload.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper documents are refused: the sandbox's Python must still be able to
 * decode whatever we accept, and its recursion limit is about 1000 frames. */
#define MAX_DEPTH 400
/* Our choice: reprs in schema messages are cut at this many characters (and
 * get "..." appended); Python would print a 30 MB string whole. */
#define REPR_MAX 200

enum jerr {
    JE_NONE, JE_VALUE, JE_PROPNAME, JE_COLON, JE_COMMA, JE_UNTERM, JE_CTRL,
    JE_ESCAPE, JE_UESCAPE, JE_EXTRA, JE_BOM, JE_UTF8, JE_DEPTH,
};

/* Python's exact texts; the last two are ours (Python never sees them) and,
 * as specified, read "... at line L" without Python's colon. */
static const char *const jerr_text[] = {
    [JE_VALUE] = "Expecting value: ",
    [JE_PROPNAME] = "Expecting property name enclosed in double quotes: ",
    [JE_COLON] = "Expecting ':' delimiter: ",
    [JE_COMMA] = "Expecting ',' delimiter: ",
    [JE_UNTERM] = "Unterminated string starting at: ",
    [JE_CTRL] = "Invalid control character at: ",
    [JE_ESCAPE] = "Invalid \\escape: ",
    [JE_UESCAPE] = "Invalid \\uXXXX escape: ",
    [JE_EXTRA] = "Extra data: ",
    [JE_BOM] = "Unexpected UTF-8 BOM (decode using utf-8-sig): ",
    [JE_UTF8] = "Invalid UTF-8 at ",
    [JE_DEPTH] = "Nesting too deep at ",
};

/* The schema's properties, in the order of their names: jsonschema (4.22 and
 * later, including the 4.23 the Django service pins) ranks sibling errors by
 * path and reports the greatest, so a later name wins. */
enum { F_CODE, F_GLOBALS, F_CONTEXT, F_PYPATH, F_SLUG, F_UNSAFELY, F_COUNT };
static const char *const field_name[F_COUNT] = {
    "code", "globals_dict", "limit_overrides_context", "python_path", "slug", "unsafely",
};

struct scan {
    const unsigned char *s;
    size_t len;
    enum jerr err;
    size_t err_at; /* byte offset */
    int collect;   /* record the top-level members named in field_name */
    cj_span field[F_COUNT];
};

static int fail(struct scan *st, enum jerr e, size_t at)
{
    st->err = e;
    st->err_at = at;
    return -1;
}

static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int hexval(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    c |= 0x20; /* ASCII lower case */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Strict UTF-8 (no overlongs, no encoded surrogates, nothing past U+10FFFF):
 * Python's decoder refuses the same.  Returns the offset of the first bad
 * sequence, or len. */
static size_t utf8_check(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        /* ASCII dominates real payloads: test eight bytes at a time. */
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if ((w & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        /* n continuation bytes; the first one's range is what shuts out
         * overlongs (E0, F0), surrogates (ED) and values past U+10FFFF (F4). */
        size_t n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
        unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
        unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        if (c < 0xC2 || c > 0xF4 || len - i <= n || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += n + 1;
    }
    return len;
}

/* Scans a string token at *pos (its opening quote) the way CPython's
 * scanstring_unicode does, so errors land on the same character. */
static int scan_string(struct scan *st, size_t *pos)
{
    const unsigned char *s = st->s;
    size_t len = st->len, q = *pos, i = q + 1;
    for (;;) {
        while (i < len && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\')
            i++;
        if (i >= len)
            return fail(st, JE_UNTERM, q);
        if (s[i] == '"') {
            *pos = i + 1;
            return 0;
        }
        if (s[i] != '\\')
            return fail(st, JE_CTRL, i);
        if (++i >= len)
            return fail(st, JE_UNTERM, q);
        switch (s[i]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            i++;
            break;
        case 'u':
            /* Python insists on one more character after the four digits
             * (the closing quote at least) before it looks at them. */
            if (i + 5 >= len)
                return fail(st, JE_UESCAPE, i);
            for (size_t k = 1; k <= 4; k++)
                if (hexval(s[i + k]) < 0)
                    return fail(st, JE_UESCAPE, i);
            i += 5;
            break;
        default:
            return fail(st, JE_ESCAPE, i - 1);
        }
    }
}

/* CPython's _match_number_unicode: the longest prefix that is a number, with
 * a dangling '.', 'e' or sign left for the caller to stumble over. */
static int scan_number(struct scan *st, size_t *pos)
{
    const unsigned char *s = st->s;
    size_t len = st->len, start = *pos, i = start;
    if (s[i] == '-' && ++i >= len)
        return fail(st, JE_VALUE, start);
    if (s[i] >= '1' && s[i] <= '9') {
        while (++i < len && is_digit(s[i]))
            ;
    } else if (s[i] == '0') {
        i++;
    } else {
        return fail(st, JE_VALUE, start);
    }
    if (i + 1 < len && s[i] == '.' && is_digit(s[i + 1])) {
        i += 2;
        while (i < len && is_digit(s[i]))
            i++;
    }
    if (i + 1 < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t e = i++;
        if (i + 1 < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == d)
            i = e;
    }
    *pos = i;
    return 0;
}

/* The literals of Python's dialect; anything else is tried as a number. */
static int scan_scalar(struct scan *st, size_t *pos)
{
    static const char *const words[] = {"null", "true", "false", "NaN", "Infinity", "-Infinity"};
    size_t i = *pos;
    if (st->s[i] == '"')
        return scan_string(st, pos);
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++) {
        size_t n = strlen(words[k]);
        if (st->len - i >= n && memcmp(st->s + i, words[k], n) == 0) {
            *pos = i + n;
            return 0;
        }
    }
    return scan_number(st, pos);
}

static size_t skip_ws(const struct scan *st, size_t i)
{
    while (i < st->len && is_ws(st->s[i]))
        i++;
    return i;
}

/* Decodes the next character of a validated string body b[0..n), joining a
 * \uD8xx\uDCxx pair into one code point as Python does and leaving a lone
 * surrogate as it is. */
static uint32_t next_cp(const unsigned char *b, size_t n, size_t *i)
{
    size_t j = *i;
    uint32_t c = b[j];
    if (c != '\\') {
        int extra = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
        if (extra)
            c &= 0x3F >> extra;
        for (int k = 1; k <= extra; k++)
            c = (c << 6) | (b[j + k] & 0x3F);
        *i = j + 1 + extra;
        return c;
    }
    if (b[j + 1] != 'u') {
        *i = j + 2;
        switch (b[j + 1]) {
        case 'b': return '\b';
        case 'f': return '\f';
        case 'n': return '\n';
        case 'r': return '\r';
        case 't': return '\t';
        default: return b[j + 1]; /* " \ / */
        }
    }
    uint32_t u = 0;
    for (int k = 2; k < 6; k++)
        u = (u << 4) | (uint32_t)hexval(b[j + k]);
    j += 6;
    if (u >= 0xD800 && u <= 0xDBFF && j + 6 <= n && b[j] == '\\' && b[j + 1] == 'u') {
        uint32_t lo = 0;
        for (int k = 2; k < 6; k++)
            lo = (lo << 4) | (uint32_t)hexval(b[j + k]);
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
            *i = j + 6;
            return 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        }
    }
    *i = j;
    return u;
}

/* UTF-8, with lone surrogates as their 3-byte (WTF-8) form. */
static size_t put_utf8(unsigned char *o, uint32_t c)
{
    static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    size_t n = c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    for (size_t k = n - 1; k > 0; k--, c >>= 6)
        o[k] = (unsigned char)(0x80 | (c & 0x3F));
    o[0] = (unsigned char)(lead[n] | c);
    return n;
}

/* Compares a string body with an ASCII name after unescaping, because
 * "co\u0064e" is the key "code" to Python. */
static int body_equals(const unsigned char *b, size_t n, const char *name)
{
    if (!memchr(b, '\\', n))
        return strlen(name) == n && memcmp(b, name, n) == 0;
    size_t i = 0, k = 0;
    while (i < n) {
        if (name[k] == '\0' || next_cp(b, n, &i) != (unsigned char)name[k])
            return 0;
        k++;
    }
    return name[k] == '\0';
}

static int field_index(const unsigned char *b, size_t n)
{
    for (int f = 0; f < F_COUNT; f++)
        if (body_equals(b, n, field_name[f]))
            return f;
    return -1;
}

/* The whole grammar, iteratively: a byte per open container keeps the
 * recursion bounded whatever the input.  With st->collect set, the values of
 * the top-level object's interesting members are recorded, the last
 * occurrence winning as in a Python dict. */
static int scan_document(struct scan *st)
{
    char stack[MAX_DEPTH];
    size_t depth = 0, pos, val_start = 0;
    int cur = -1;
    const unsigned char *s = st->s;
    pos = skip_ws(st, 0);
    for (;;) {
        /* A value is expected at pos. */
        if (pos >= st->len)
            return fail(st, JE_VALUE, pos);
        if (s[pos] == '{' || s[pos] == '[') {
            if (depth == MAX_DEPTH)
                return fail(st, JE_DEPTH, pos);
            stack[depth++] = (char)s[pos];
            pos = skip_ws(st, pos + 1);
            char close = stack[depth - 1] == '{' ? '}' : ']';
            if (pos < st->len && s[pos] == (unsigned char)close) {
                pos++;
                depth--;
            } else if (close == ']') {
                continue;
            } else {
                goto key;
            }
        } else if (scan_scalar(st, &pos) < 0) {
            return -1;
        }
        /* A value just ended at pos. */
        for (;;) {
            if (depth == 0) {
                pos = skip_ws(st, pos);
                return pos == st->len ? 0 : fail(st, JE_EXTRA, pos);
            }
            if (depth == 1 && cur >= 0) {
                st->field[cur].p = (const char *)s + val_start;
                st->field[cur].len = pos - val_start;
                cur = -1;
            }
            pos = skip_ws(st, pos);
            char close = stack[depth - 1] == '{' ? '}' : ']';
            if (pos < st->len && s[pos] == (unsigned char)close) {
                pos++;
                depth--;
                continue;
            }
            if (pos >= st->len || s[pos] != ',')
                return fail(st, JE_COMMA, pos);
            pos = skip_ws(st, pos + 1);
            if (close == ']')
                break;
            goto key;
        }
        continue;
    key:
        if (pos >= st->len || s[pos] != '"')
            return fail(st, JE_PROPNAME, pos);
        size_t kstart = pos;
        if (scan_string(st, &pos) < 0)
            return -1;
        if (st->collect && depth == 1)
            cur = field_index(s + kstart + 1, pos - kstart - 2);
        pos = skip_ws(st, pos);
        if (pos >= st->len || s[pos] != ':')
            return fail(st, JE_COLON, pos);
        pos = skip_ws(st, pos + 1);
        if (depth == 1)
            val_start = pos;
    }
}

/* Full validation: UTF-8 first (Python decodes before it parses), then the
 * BOM that json.loads refuses on a str, then the grammar. */
static int validate(struct scan *st)
{
    size_t bad = utf8_check(st->s, st->len);
    if (bad < st->len)
        return fail(st, JE_UTF8, bad);
    if (st->len >= 3 && memcmp(st->s, "\xEF\xBB\xBF", 3) == 0)
        return fail(st, JE_BOM, 0);
    return scan_document(st);
}

/* Python's "line L column C (char N)", N counting code points. */
static void format_json_error(const struct scan *st, char *msg, size_t msg_len)
{
    size_t chars = 0, line = 1, nl_char = 0;
    int seen_nl = 0;
    for (size_t i = 0; i < st->err_at; i++) {
        if ((st->s[i] & 0xC0) == 0x80)
            continue;
        if (st->s[i] == '\n') {
            line++;
            nl_char = chars;
            seen_nl = 1;
        }
        chars++;
    }
    size_t col = seen_nl ? chars - nl_char : chars + 1;
    snprintf(msg, msg_len, "Unable to parse payload JSON: %sline %zu column %zu (char %zu)",
             jerr_text[st->err], line, col, chars);
}

/* ---- Python repr of a validated JSON value, for schema messages ---- */

struct rw {
    char buf[REPR_MAX * 4 + 8];
    size_t n, chars;
    int full;
};

static void rw_cp(struct rw *w, uint32_t c)
{
    if (w->chars == REPR_MAX) {
        w->full = 1;
        return;
    }
    w->n += put_utf8((unsigned char *)w->buf + w->n, c);
    w->chars++;
}

static void rw_str(struct rw *w, const char *a)
{
    while (*a && !w->full)
        rw_cp(w, (unsigned char)*a++);
}

/* str.isprintable() approximated: Python's exact answer needs the whole
 * Unicode database; this covers controls, separators, format characters,
 * surrogates, private use and noncharacters, which is what shows up. */
static int printable(uint32_t c)
{
    static const uint32_t np[][2] = {
        {0x80, 0xA0}, {0xAD, 0xAD}, {0x600, 0x605}, {0x61C, 0x61C}, {0x6DD, 0x6DD},
        {0x70F, 0x70F}, {0x890, 0x891}, {0x8E2, 0x8E2}, {0x1680, 0x1680}, {0x180E, 0x180E},
        {0x2000, 0x200F}, {0x2028, 0x202F}, {0x205F, 0x206F}, {0x3000, 0x3000},
        {0xD800, 0xF8FF}, {0xFDD0, 0xFDEF}, {0xFEFF, 0xFEFF}, {0xFFF0, 0xFFFB},
        {0x110BD, 0x110BD}, {0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3},
        {0x1D173, 0x1D17A}, {0x323B0, 0xE00FF}, {0xE01F0, 0x10FFFF},
    };
    if ((c & 0xFFFE) == 0xFFFE)
        return 0;
    for (size_t k = 0; k < sizeof np / sizeof np[0]; k++)
        if (c >= np[k][0] && c <= np[k][1])
            return 0;
    return 1;
}

static void rw_hex(struct rw *w, char kind, uint32_t c, int digits)
{
    char tmp[12];
    snprintf(tmp, sizeof tmp, "\\%c%0*x", kind, digits, (unsigned)c);
    rw_str(w, tmp);
}

/* unicode_repr(): quote choice, then escapes. */
static void repr_string(struct rw *w, const unsigned char *b, size_t n)
{
    int sq = 0, dq = 0;
    for (size_t i = 0; i < n && !(sq && dq);) {
        uint32_t c = next_cp(b, n, &i);
        sq |= c == '\'';
        dq |= c == '"';
    }
    uint32_t quote = sq && !dq ? '"' : '\'';
    rw_cp(w, quote);
    for (size_t i = 0; i < n && !w->full;) {
        uint32_t c = next_cp(b, n, &i);
        if (c == quote || c == '\\') {
            rw_cp(w, '\\');
            rw_cp(w, c);
        } else if (c == '\t') {
            rw_str(w, "\\t");
        } else if (c == '\n') {
            rw_str(w, "\\n");
        } else if (c == '\r') {
            rw_str(w, "\\r");
        } else if (c < 0x20 || c == 0x7F) {
            rw_hex(w, 'x', c, 2);
        } else if (c < 0x7F || printable(c)) {
            rw_cp(w, c);
        } else if (c <= 0xFF) {
            rw_hex(w, 'x', c, 2);
        } else if (c <= 0xFFFF) {
            rw_hex(w, 'u', c, 4);
        } else {
            rw_hex(w, 'U', c, 8);
        }
    }
    rw_cp(w, quote);
}

/* float.__repr__: the shortest digits that round-trip, fixed notation when
 * the decimal point falls within -4 < decpt <= 16, else d.ddde+XX. */
static void repr_float(struct rw *w, double v)
{
    char e[40], digits[20], out[48];
    if (isnan(v) || isinf(v)) {
        rw_str(w, isnan(v) ? "nan" : v < 0 ? "-inf" : "inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    int nd = 0, neg = e[0] == '-';
    const char *p = e + neg;
    for (; *p != 'e'; p++)
        if (*p != '.')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int decpt = atoi(p + 1) + 1;
    const char *sign = neg ? "-" : "", *zeros = "0000000000000000";
    if (decpt <= -4 || decpt > 16)
        snprintf(out, sizeof out, "%s%c%s%.*se%c%02d", sign, digits[0], nd > 1 ? "." : "", nd - 1,
                 digits + 1, decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
    else if (decpt <= 0)
        snprintf(out, sizeof out, "%s0.%.*s%.*s", sign, -decpt, zeros, nd, digits);
    else if (decpt < nd)
        snprintf(out, sizeof out, "%s%.*s.%.*s", sign, decpt, digits, nd - decpt, digits + decpt);
    else
        snprintf(out, sizeof out, "%s%.*s%.*s.0", sign, nd, digits, decpt - nd, zeros);
    rw_str(w, out);
}

static void repr_number(struct rw *w, const char *p, size_t n)
{
    if (!memchr(p, '.', n) && !memchr(p, 'e', n) && !memchr(p, 'E', n)) {
        /* An int: Python prints its digits, and int("-0") is 0. */
        if (n == 2 && p[0] == '-' && p[1] == '0')
            n = 1, p++;
        for (size_t i = 0; i < n && !w->full; i++)
            rw_cp(w, (unsigned char)p[i]);
        return;
    }
    char small[64], *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) {
        for (size_t i = 0; i < n && !w->full; i++)
            rw_cp(w, (unsigned char)p[i]);
        return;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
    repr_float(w, strtod(buf, NULL));
    if (buf != small)
        free(buf);
}

/* End of the string token starting at the quote s[i]. */
static size_t string_end(const char *s, size_t i)
{
    for (i++; s[i] != '"'; i++)
        if (s[i] == '\\')
            i++;
    return i + 1;
}

/* JSON tokens map one to one onto repr tokens, so a flat walk renders any
 * nesting without recursion.  (Duplicate keys are printed as written, where
 * a Python dict would show only the last.) */
static void repr_value(struct rw *w, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && !w->full) {
        unsigned char c = (unsigned char)s[i];
        if (is_ws(c)) {
            i++;
        } else if (c == ',' || c == ':') {
            rw_str(w, c == ',' ? ", " : ": ");
            i++;
        } else if (c == '[' || c == ']' || c == '{' || c == '}') {
            rw_cp(w, c);
            i++;
        } else if (c == '"') {
            size_t e = string_end(s, i);
            repr_string(w, (const unsigned char *)s + i + 1, e - i - 2);
            i = e;
        } else if (c == 't' || c == 'f' || c == 'n' || c == 'N' || c == 'I') {
            static const char *const py[] = {"True", "False", "None", "nan", "inf"};
            static const unsigned char skip[] = {4, 5, 4, 3, 8};
            int k = c == 't' ? 0 : c == 'f' ? 1 : c == 'n' ? 2 : c == 'N' ? 3 : 4;
            rw_str(w, py[k]);
            i += skip[k];
        } else if (c == '-' && s[i + 1] == 'I') {
            rw_str(w, "-inf");
            i += 9;
        } else {
            size_t e = i;
            while (e < len && (is_digit((unsigned char)s[e]) || s[e] == '+' || s[e] == '-' ||
                               s[e] == '.' || s[e] == 'e' || s[e] == 'E'))
                e++;
            repr_number(w, s + i, e - i);
            i = e;
        }
    }
}

static const char *repr_of(struct rw *w, cj_span v)
{
    w->n = w->chars = 0;
    w->full = 0;
    repr_value(w, v.p, v.len);
    if (w->full) {
        memcpy(w->buf + w->n, "...", 3);
        w->n += 3;
    }
    w->buf[w->n] = '\0';
    return w->buf;
}

/* ---- schema ---- */

static char kind_of(cj_span v)
{
    return v.p ? v.p[0] : '\0';
}

static int is_str_or_null(cj_span v)
{
    return kind_of(v) == '"' || kind_of(v) == 'n';
}

static size_t skip_value(const char *s, size_t i)
{
    size_t depth = 0;
    do {
        char c = s[i];
        if (c == '"') {
            i = string_end(s, i);
        } else if (c == '[' || c == '{') {
            depth++;
            i++;
        } else if (c == ']' || c == '}') {
            depth--;
            i++;
        } else if (depth == 0) {
            while (s[i] == '-' || s[i] == '+' || s[i] == '.' || is_digit((unsigned char)s[i]) ||
                   (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z'))
                i++;
        } else {
            i++;
        }
    } while (depth > 0);
    return i;
}

/* Walks python_path's items (array known valid).  Returns the index of the
 * first non-string item, or -1, and fills the counters. */
static long scan_python_path(cj_span v, cj_payload *out, cj_span *bad)
{
    const char *s = v.p;
    size_t i = 1, count = 0, zips = 0;
    for (;;) {
        while (is_ws((unsigned char)s[i]) || s[i] == ',')
            i++;
        if (s[i] == ']')
            break;
        size_t e = skip_value(s, i);
        if (s[i] != '"') {
            bad->p = s + i;
            bad->len = e - i;
            return (long)count;
        }
        zips += body_equals((const unsigned char *)s + i + 1, e - i - 2, "python_lib.zip");
        count++;
        i = e;
    }
    out->python_path_count = count;
    out->python_path_only_zip = zips == count;
    out->python_path_has_zip = zips > 0;
    return -1;
}

static enum cj_payload_status schema_error(char *msg, size_t msg_len, const char *path,
                                           struct rw *w, cj_span v, const char *what)
{
    snprintf(msg, msg_len, "Payload JSON did not match schema at path %s: %s %s", path,
             repr_of(w, v), what);
    return CJ_PAYLOAD_SCHEMA;
}

/* jsonschema's best_match for this schema: the root type first, then the
 * shallowest errors ('required', in list order), then one error per
 * property, the greatest property name winning; an anyOf error descends to
 * a failing array item because that one is deeper in its context. */
static enum cj_payload_status check_schema(const struct scan *st, cj_span root, cj_payload *out,
                                           char *msg, size_t msg_len)
{
    static const char *const any = "is not valid under any of the given schemas";
    struct rw w;
    const cj_span *f = st->field;
    if (kind_of(root) != '{')
        return schema_error(msg, msg_len, "$", &w, root, "is not of type 'object'");
    if (!f[F_CODE].p || !f[F_GLOBALS].p) {
        snprintf(msg, msg_len, "Payload JSON did not match schema at path $: "
                 "'%s' is a required property", f[F_CODE].p ? "globals_dict" : "code");
        return CJ_PAYLOAD_SCHEMA;
    }
    if (f[F_UNSAFELY].p && kind_of(f[F_UNSAFELY]) != 't' && kind_of(f[F_UNSAFELY]) != 'f')
        return schema_error(msg, msg_len, "$.unsafely", &w, f[F_UNSAFELY], "is not of type "
                            "'boolean'");
    if (f[F_SLUG].p && !is_str_or_null(f[F_SLUG]))
        return schema_error(msg, msg_len, "$.slug", &w, f[F_SLUG], any);
    if (kind_of(f[F_PYPATH]) == '[') {
        cj_span bad;
        long idx = scan_python_path(f[F_PYPATH], out, &bad);
        if (idx >= 0) {
            char path[48];
            snprintf(path, sizeof path, "$.python_path[%ld]", idx);
            return schema_error(msg, msg_len, path, &w, bad, "is not of type 'string'");
        }
    } else if (f[F_PYPATH].p && kind_of(f[F_PYPATH]) != 'n') {
        return schema_error(msg, msg_len, "$.python_path", &w, f[F_PYPATH], any);
    }
    if (f[F_CONTEXT].p && !is_str_or_null(f[F_CONTEXT]))
        return schema_error(msg, msg_len, "$.limit_overrides_context", &w, f[F_CONTEXT], any);
    if (kind_of(f[F_GLOBALS]) != '{')
        return schema_error(msg, msg_len, "$.globals_dict", &w, f[F_GLOBALS], "is not of type "
                            "'object'");
    if (kind_of(f[F_CODE]) != '"')
        return schema_error(msg, msg_len, "$.code", &w, f[F_CODE], "is not of type 'string'");
    return CJ_PAYLOAD_OK;
}

/* Unescapes a string token into a fresh NUL-terminated buffer. */
static char *decode_string(cj_span v, size_t *len_out)
{
    const unsigned char *b = (const unsigned char *)v.p + 1;
    size_t n = v.len - 2, i = 0, o = 0;
    /* No escape grows: \uXXXX (6) gives at most 3 bytes, a pair (12) gives 4. */
    unsigned char *out = malloc(n + 1);
    if (!out)
        return NULL;
    while (i < n)
        o += put_utf8(out + o, next_cp(b, n, &i));
    out[o] = '\0';
    if (len_out)
        *len_out = o;
    return (char *)out;
}

enum cj_payload_status cj_payload_parse(const char *text, size_t len, cj_payload *out, char *msg,
                                        size_t msg_len)
{
    memset(out, 0, sizeof *out);
    if (msg_len)
        msg[0] = '\0';
    struct scan st = {.s = (const unsigned char *)(text ? text : ""), .len = text ? len : 0};
    st.collect = 1;
    if (validate(&st) < 0) {
        format_json_error(&st, msg, msg_len);
        return CJ_PAYLOAD_NOT_JSON;
    }
    size_t start = skip_ws(&st, 0), end = st.len;
    while (end > start && is_ws(st.s[end - 1]))
        end--;
    cj_span root = {(const char *)st.s + start, end - start};
    out->python_path_only_zip = 1;
    enum cj_payload_status rc = check_schema(&st, root, out, msg, msg_len);
    if (rc != CJ_PAYLOAD_OK) {
        cj_payload_free(out);
        return rc;
    }
    out->code_json = st.field[F_CODE];
    out->globals_json = st.field[F_GLOBALS];
    out->unsafely = kind_of(st.field[F_UNSAFELY]) == 't';
    int oom = 0;
    if (kind_of(st.field[F_CONTEXT]) == '"')
        oom |= !(out->context = decode_string(st.field[F_CONTEXT], &out->context_len));
    if (kind_of(st.field[F_SLUG]) == '"')
        oom |= !(out->slug = decode_string(st.field[F_SLUG], &out->slug_len));
    if (oom) {
        /* The interface has no internal-error status; a refusal is safe. */
        cj_payload_free(out);
        snprintf(msg, msg_len, "Unable to parse payload JSON: out of memory");
        return CJ_PAYLOAD_NOT_JSON;
    }
    return CJ_PAYLOAD_OK;
}

void cj_payload_free(cj_payload *p)
{
    if (!p)
        return;
    free(p->context);
    free(p->slug);
    memset(p, 0, sizeof *p);
}

int cj_json_validate(const char *text, size_t len, int want_object)
{
    struct scan st = {.s = (const unsigned char *)(text ? text : ""), .len = text ? len : 0};
    if (validate(&st) < 0)
        return -1;
    if (want_object && st.s[skip_ws(&st, 0)] != '{')
        return -1;
    return 0;
}

size_t cj_json_skip_value(const char *text, size_t i)
{
    return skip_value(text, i);
}

size_t cj_json_string_decode(const char *token, size_t len, char *out, int *lone_surrogate)
{
    const unsigned char *b = (const unsigned char *)token + 1;
    size_t n = len - 2, i = 0, o = 0;
    while (i < n) {
        uint32_t c = next_cp(b, n, &i);
        if (c >= 0xD800 && c <= 0xDFFF)
            *lone_surrogate = 1;
        o += put_utf8((unsigned char *)out + o, c);
    }
    return o;
}
