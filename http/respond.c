#include "respond.h"

#include <stdlib.h>
#include <string.h>

#include "pyrepr.h"

const char *cj_reason_phrase(int status)
{
    switch (status) {
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

void cj_respond_raw(h2o_req_t *req, int status, const char *body, size_t len)
{
    req->res.status = status;
    req->res.reason = cj_reason_phrase(status);
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                   H2O_STRLIT("application/json"), 1);
    req->res.content_length = len; /* a length, not chunked: simpler for every client */
    h2o_send_inline(req, body, len);
}

void cj_respond_message(h2o_req_t *req, int status, const char *key, const char *msg)
{
    size_t mlen = strlen(msg);
    size_t qlen = cj_json_quote(msg, mlen, NULL, 0);
    size_t cap = strlen(key) + qlen + 16;
    char *body = h2o_mem_alloc_pool(&req->pool, cap);
    size_t n = (size_t)snprintf(body, cap, "{\"%s\": ", key);
    cj_json_quote(msg, mlen, body + n, cap - n);
    n += qlen;
    body[n++] = '}';
    cj_respond_raw(req, status, body, n);
}

void cj_respond_method_not_allowed(h2o_req_t *req, const char *allow)
{
    /* DRF's wording, which operators' dashboards may already match on. */
    char msg[96];
    int mlen = req->method.len > 32 ? 32 : (int)req->method.len;
    snprintf(msg, sizeof(msg), "Method \"%.*s\" not allowed.", mlen, req->method.base);
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, allow, strlen(allow), 1);
    cj_respond_message(req, 405, "detail", msg);
}

static void reserve(cj_strbuf *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = 1;
        return;
    }
    b->p = p;
    b->cap = cap;
}

void cj_strbuf_add(cj_strbuf *b, const char *s, size_t len)
{
    reserve(b, len);
    if (b->failed)
        return;
    memcpy(b->p + b->len, s, len);
    b->len += len;
    b->p[b->len] = '\0';
}

void cj_strbuf_adds(cj_strbuf *b, const char *s)
{
    cj_strbuf_add(b, s, strlen(s));
}

void cj_strbuf_add_json_string(cj_strbuf *b, const char *s, size_t len)
{
    size_t need = cj_json_quote(s, len, NULL, 0);
    reserve(b, need);
    if (b->failed)
        return;
    cj_json_quote(s, len, b->p + b->len, need + 1);
    b->len += need;
}

void cj_strbuf_add_bytes_repr(cj_strbuf *b, const char *s, size_t len)
{
    size_t need = cj_bytes_repr((const unsigned char *)s, len, NULL, 0);
    reserve(b, need);
    if (b->failed)
        return;
    cj_bytes_repr((const unsigned char *)s, len, b->p + b->len, need + 1);
    b->len += need;
}

void cj_strbuf_free(cj_strbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}
