/* Every answer the service gives is JSON with Content-Type application/json;
 * this is the one place that writes statuses and bodies. */
#ifndef CJ_RESPOND_H
#define CJ_RESPOND_H

#include <h2o.h>

/* Sends body (copied) as the whole response. */
void cj_respond_raw(h2o_req_t *req, int status, const char *body, size_t len);
/* Sends {"<key>": "<msg>"}, msg JSON-escaped. key is "error" for the
 * contract's checks, "detail" where the Django service (DRF) says detail. */
void cj_respond_message(h2o_req_t *req, int status, const char *key, const char *msg);
/* 405 with DRF's {"detail": "Method \"X\" not allowed."} and an Allow header. */
void cj_respond_method_not_allowed(h2o_req_t *req, const char *allow);
const char *cj_reason_phrase(int status);

/* Appends to a growing heap buffer; on allocation failure sets *failed. */
typedef struct cj_strbuf {
    char *p;
    size_t len, cap;
    int failed;
} cj_strbuf;
void cj_strbuf_add(cj_strbuf *b, const char *s, size_t len);
void cj_strbuf_adds(cj_strbuf *b, const char *s);
/* Appends a JSON string literal of s. */
void cj_strbuf_add_json_string(cj_strbuf *b, const char *s, size_t len);
/* Appends Python's repr() of bytes. */
void cj_strbuf_add_bytes_repr(cj_strbuf *b, const char *s, size_t len);
void cj_strbuf_free(cj_strbuf *b);

#endif
