/* Form bodies read the way Django fills request.POST and request.FILES, so
 * the Open edX client sees the same fields.  The body is complete and may be
 * hostile: every scan is bounded by its length and linear in it. */
#include "form.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Django's DATA_UPLOAD_MAX_NUMBER_FIELDS. */
#define MAX_FIELDS 1000
/* Django's boundary rule: printable ASCII, at most 201 characters, not
 * ending in a space.  With no CR in it delimiters can never overlap, which
 * keeps the delimiter search linear. */
#define MAX_BOUNDARY 201

/* Bytes of the caller's, not NUL-terminated. */
struct span {
    const char *p;
    size_t n;
};

struct parser {
    cj_form *out;
    size_t cap;
    const char *reason; /* what MALFORMED reports */
};

/* A multipart part's Content-Disposition, owned until it becomes a field. */
struct part {
    int seen;
    char *name;
    size_t name_len;
    char *filename;
};

static int fail(struct parser *p, const char *reason)
{
    p->reason = reason;
    return -1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static struct span trim(struct span s)
{
    while (s.n > 0 && is_ows(s.p[0])) {
        s.p++;
        s.n--;
    }
    while (s.n > 0 && is_ows(s.p[s.n - 1]))
        s.n--;
    return s;
}

static int span_ieq(struct span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && strncasecmp(s.p, lit, n) == 0;
}

/* The part of s from its first ';' on (empty when there is none). */
static struct span params_of(struct span s, struct span *head)
{
    const char *semi = memchr(s.p, ';', s.n);
    size_t h = semi ? (size_t)(semi - s.p) : s.n;
    *head = trim((struct span){s.p, h});
    return (struct span){s.p + h, s.n - h};
}

static void free_field(cj_form_field *f)
{
    free(f->name);
    free(f->filename);
    free(f->data);
}

/* Takes ownership of f's buffers even when it fails, so callers never leak. */
static int add_field(struct parser *p, cj_form_field f)
{
    cj_form *o = p->out;
    if (o->n == MAX_FIELDS) {
        free_field(&f);
        return fail(p, "too many form fields");
    }
    if (o->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 8;
        cj_form_field *grown = realloc(o->fields, cap * sizeof(*grown));
        if (grown == NULL) {
            free_field(&f);
            return fail(p, "out of memory");
        }
        o->fields = grown;
        p->cap = cap;
    }
    o->fields[o->n++] = f;
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20); /* ASCII letters to lower case */
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* A '%' without two hex digits stays literal, as Python's unquote keeps it. */
static char *url_decode(struct span s, size_t *len)
{
    char *d = malloc(s.n + 1);
    if (d == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < s.n; i++) {
        int hi = -1, lo = -1;
        if (s.p[i] == '%' && i + 2 < s.n) {
            hi = hex_value(s.p[i + 1]);
            lo = hex_value(s.p[i + 2]);
        }
        if (hi >= 0 && lo >= 0) {
            d[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[j++] = s.p[i] == '+' ? ' ' : s.p[i];
        }
    }
    d[j] = '\0';
    *len = j;
    return d;
}

static int add_pair(struct parser *p, struct span piece)
{
    const char *eq = memchr(piece.p, '=', piece.n);
    size_t name_n = eq ? (size_t)(eq - piece.p) : piece.n;
    struct span value = eq ? (struct span){eq + 1, piece.n - name_n - 1} : (struct span){"", 0};
    cj_form_field f = {0};
    f.name = url_decode((struct span){piece.p, name_n}, &f.name_len);
    f.data = url_decode(value, &f.len);
    if (f.name == NULL || f.data == NULL) {
        free_field(&f);
        return fail(p, "out of memory");
    }
    return add_field(p, f);
}

static int parse_urlencoded(struct parser *p, const char *b, size_t n)
{
    size_t pos = 0;
    while (pos < n) {
        const char *amp = memchr(b + pos, '&', n - pos);
        size_t end = amp ? (size_t)(amp - b) : n;
        if (end > pos && add_pair(p, (struct span){b + pos, end - pos}) != 0)
            return -1;
        pos = end + 1;
    }
    return 0;
}

/* Django unescapes only \" and \\ inside quotes: browsers send Windows paths
 * with bare backslashes, which a full quoted-pair rule would eat. */
static size_t unquote_into(char *dst, struct span v, int quoted)
{
    size_t j = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (quoted && v.p[i] == '\\' && i + 1 < v.n && (v.p[i + 1] == '"' || v.p[i + 1] == '\\'))
            i++;
        dst[j++] = v.p[i];
    }
    dst[j] = '\0';
    return j;
}

/* The next name=value parameter of s at or after *pos: 1 when found, 0 at the
 * end, -1 on an unterminated quote.  Pieces without '=' are skipped, as
 * Django skips them. */
static int next_param(struct span s, size_t *pos, struct span *name, struct span *val, int *quoted)
{
    size_t i = *pos;
    for (;;) {
        while (i < s.n && (s.p[i] == ';' || is_ows(s.p[i])))
            i++;
        if (i == s.n) {
            *pos = i;
            return 0;
        }
        size_t start = i;
        while (i < s.n && s.p[i] != '=' && s.p[i] != ';')
            i++;
        if (i < s.n && s.p[i] == '=') {
            *name = trim((struct span){s.p + start, i - start});
            break;
        }
    }
    i++;
    while (i < s.n && is_ows(s.p[i]))
        i++;
    size_t v = i;
    *quoted = i < s.n && s.p[i] == '"';
    if (*quoted) {
        for (v = ++i; i < s.n && s.p[i] != '"'; i++)
            if (s.p[i] == '\\' && i + 1 < s.n)
                i++; /* an escaped quote does not end the value */
        if (i >= s.n)
            return -1;
        *val = (struct span){s.p + v, i - v};
    }
    while (i < s.n && s.p[i] != ';')
        i++;
    if (!*quoted)
        *val = trim((struct span){s.p + v, i - v});
    *pos = i;
    return 1;
}

static int valid_boundary(const char *s, size_t n)
{
    if (n == 0 || n > MAX_BOUNDARY || s[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < ' ' || s[i] > '~')
            return 0;
    return 1;
}

/* Builds "\r\n--boundary", the delimiter as it ends a part's data. */
static int boundary_needle(struct parser *p, struct span params, struct span *needle)
{
    struct span k, v;
    size_t pos = 0;
    int quoted, r;
    while ((r = next_param(params, &pos, &k, &v, &quoted)) == 1 && !span_ieq(k, "boundary"))
        ;
    if (r < 0)
        return fail(p, "malformed Content-Type parameters");
    if (r == 0 || v.n == 0)
        return fail(p, "multipart Content-Type has no boundary");
    char *d = malloc(4 + v.n + 1);
    if (d == NULL)
        return fail(p, "out of memory");
    memcpy(d, "\r\n--", 4);
    size_t n = unquote_into(d + 4, v, quoted);
    if (!valid_boundary(d + 4, n)) {
        free(d);
        return fail(p, n ? "invalid multipart boundary" : "multipart Content-Type has no boundary");
    }
    *needle = (struct span){d, 4 + n};
    return 0;
}

/* What follows "--boundary" at pos: 1 closes the body, 2 starts a part (*next
 * past the line end), 0 means these bytes were data after all. */
static int delimiter_kind(const char *b, size_t n, size_t pos, size_t *next)
{
    if (n - pos >= 2 && b[pos] == '-' && b[pos + 1] == '-')
        return 1;
    while (pos < n && is_ows(b[pos]))
        pos++;
    if (pos < n && b[pos] == '\n')
        *next = pos + 1;
    else if (n - pos >= 2 && b[pos] == '\r' && b[pos + 1] == '\n')
        *next = pos + 2;
    else
        return 0;
    return 2;
}

/* The offset of the next real delimiter at or after from, SIZE_MAX if none.
 * Anchoring on the CR rather than calling memmem per candidate keeps it
 * linear even under ASan, whose memmem re-checks the whole haystack on every
 * call; compares cannot overlap the next candidate as boundaries hold no CR. */
static size_t find_delimiter(const char *b, size_t n, size_t from, struct span needle, int *kind,
                             size_t *next)
{
    while (from < n) {
        const char *cr = memchr(b + from, '\r', n - from);
        if (cr == NULL)
            break;
        size_t at = (size_t)(cr - b), k = 1;
        while (k < needle.n && at + k < n && b[at + k] == needle.p[k])
            k++;
        if (k == needle.n && (*kind = delimiter_kind(b, n, at + k, next)) != 0)
            return at;
        from = at + 1;
    }
    return SIZE_MAX;
}

static int parse_disposition(struct parser *p, struct span value, struct part *part)
{
    struct span type, k, v;
    struct span params = params_of(value, &type);
    size_t pos = 0;
    int quoted, r;
    part->seen = 1;
    while ((r = next_param(params, &pos, &k, &v, &quoted)) == 1) {
        char **dst = span_ieq(k, "name")       ? &part->name
                     : span_ieq(k, "filename") ? &part->filename
                                               : NULL;
        if (dst == NULL || *dst != NULL)
            continue;
        if ((*dst = malloc(v.n + 1)) == NULL)
            return fail(p, "out of memory");
        size_t len = unquote_into(*dst, v, quoted);
        if (dst == &part->name)
            part->name_len = len;
    }
    return r < 0 ? fail(p, "malformed multipart Content-Disposition") : 0;
}

/* Reads header lines from *pos; leaves *pos at the blank line that ends them. */
static int parse_headers(struct parser *p, const char *b, size_t n, size_t *pos, struct span needle,
                         struct part *part)
{
    struct span dash = {needle.p + 2, needle.n - 2};
    for (size_t i = *pos;;) {
        const char *nl = memchr(b + i, '\n', n - i);
        if (nl == NULL)
            return fail(p, "multipart part headers are truncated");
        struct span line = {b + i, (size_t)(nl - b) - i};
        if (line.n > 0 && line.p[line.n - 1] == '\r')
            line.n--;
        if (line.n == 0) {
            *pos = i;
            return 0;
        }
        if (line.n >= dash.n && memcmp(line.p, dash.p, dash.n) == 0)
            return fail(p, "multipart part has no blank line after its headers");
        /* Only Content-Disposition matters: Django ignores the part's type. */
        const char *colon = memchr(line.p, ':', line.n);
        if (colon != NULL && !part->seen &&
            span_ieq(trim((struct span){line.p, (size_t)(colon - line.p)}),
                     "content-disposition")) {
            struct span v = {colon + 1, line.n - (size_t)(colon - line.p) - 1};
            if (parse_disposition(p, trim(v), part) != 0)
                return -1;
        }
        i = (size_t)(nl - b) + 1;
    }
}

/* One part from *pos (just past its delimiter line); on return *kind and *pos
 * describe the delimiter that ended it. */
static int parse_part(struct parser *p, const char *b, size_t n, struct span needle, int *kind,
                      size_t *pos)
{
    struct part part = {0};
    size_t blank = *pos;
    if (parse_headers(p, b, n, &blank, needle, &part) != 0)
        goto fail;
    if (part.name == NULL) {
        fail(p, "multipart part has no name");
        goto fail;
    }
    size_t data = blank + (b[blank] == '\r' ? 2 : 1);
    /* Searching from the blank line lets an empty part share its CRLF with
     * the delimiter, which Django tolerates. */
    size_t at = find_delimiter(b, n, blank, needle, kind, pos);
    if (at == SIZE_MAX) {
        fail(p, "multipart body has no closing boundary");
        goto fail;
    }
    size_t len = at > data ? at - data : 0;
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        fail(p, "out of memory");
        goto fail;
    }
    memcpy(copy, b + data, len);
    copy[len] = '\0';
    return add_field(p, (cj_form_field){part.name, part.name_len, part.filename, copy, len});
fail:
    free(part.name);
    free(part.filename);
    return -1;
}

static int parse_multipart(struct parser *p, struct span params, const char *b, size_t n)
{
    struct span needle, dash;
    size_t next = 0;
    int kind = 0, r = 0;
    if (boundary_needle(p, params, &needle) != 0)
        return -1;
    dash = (struct span){needle.p + 2, needle.n - 2};
    /* The first delimiter needs no CRLF before it when there is no preamble. */
    if (n >= dash.n && memcmp(b, dash.p, dash.n) == 0)
        kind = delimiter_kind(b, n, dash.n, &next);
    if (kind == 0 && find_delimiter(b, n, 0, needle, &kind, &next) == SIZE_MAX)
        r = fail(p, n ? "multipart body has no boundary" : "multipart body is empty");
    while (r == 0 && kind == 2)
        r = parse_part(p, b, n, needle, &kind, &next);
    free((char *)needle.p);
    return r; /* the epilogue after the close delimiter is ignored */
}

static void set_detail(char *detail, size_t detail_len, struct span s)
{
    size_t n = s.n < detail_len ? s.n : detail_len;
    if (detail != NULL && detail_len > 0)
        snprintf(detail, detail_len, "%.*s", n < INT_MAX ? (int)n : INT_MAX, s.p);
}

enum cj_form_status cj_form_parse(const char *content_type, size_t ct_len, const char *body,
                                  size_t body_len, cj_form *out, char *detail, size_t detail_len)
{
    struct parser p = {.out = out};
    struct span type;
    struct span ct = content_type ? (struct span){content_type, ct_len} : (struct span){"", 0};
    struct span params = params_of(trim(ct), &type);
    int r;
    memset(out, 0, sizeof(*out));
    set_detail(detail, detail_len, (struct span){"", 0});
    if (body == NULL)
        body_len = 0;
    if (type.n == 0) {
        /* Django reads an untyped empty body as an empty form. */
        return body_len == 0 ? CJ_FORM_OK : CJ_FORM_UNSUPPORTED;
    } else if (span_ieq(type, "application/x-www-form-urlencoded")) {
        r = parse_urlencoded(&p, body, body_len);
    } else if (span_ieq(type, "multipart/form-data")) {
        r = parse_multipart(&p, params, body ? body : "", body_len);
    } else {
        set_detail(detail, detail_len, type);
        return CJ_FORM_UNSUPPORTED;
    }
    if (r == 0)
        return CJ_FORM_OK;
    cj_form_free(out);
    set_detail(detail, detail_len, (struct span){p.reason, strlen(p.reason)});
    return CJ_FORM_MALFORMED;
}

const cj_form_field *cj_form_get(const cj_form *f, const char *name)
{
    if (f == NULL || name == NULL)
        return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; i < f->n; i++)
        if (f->fields[i].name_len == n && memcmp(f->fields[i].name, name, n) == 0)
            return &f->fields[i];
    return NULL;
}

void cj_form_free(cj_form *f)
{
    if (f == NULL)
        return;
    for (size_t i = 0; i < f->n; i++)
        free_field(&f->fields[i]);
    free(f->fields);
    memset(f, 0, sizeof(*f));
}
