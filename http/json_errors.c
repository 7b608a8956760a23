#include "json_errors.h"

#include <string.h>

#include "framing.h"
#include "log.h"
#include "pyrepr.h"

struct json_ostream {
    h2o_ostream_t super;
    h2o_iovec_t body;
};

static void on_send(h2o_ostream_t *self, h2o_req_t *req, h2o_iovec_t *bufs, size_t bufcnt,
                    h2o_send_state_t state)
{
    (void)bufs;
    (void)bufcnt;
    struct json_ostream *o = (void *)self;
    /* Swallow h2o's text body; send ours once, with the final piece. */
    if (h2o_send_state_is_in_progress(state)) {
        h2o_ostream_send_next(self, req, NULL, 0, state);
        return;
    }
    h2o_ostream_send_next(self, req, &o->body, 1, state);
}

static int has_json_type(h2o_req_t *req)
{
    ssize_t i = h2o_find_header(&req->res.headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->res.headers.entries[i].value;
    return v.len >= 16 && strncasecmp(v.base, "application/json", 16) == 0;
}

struct json_errors_filter {
    h2o_filter_t super;
    const struct cj_log *log;
};

/* A request framing.c refused: its target is the reason. */
static void log_refusal(const struct cj_log *log, h2o_req_t *req)
{
    static const size_t PREFIX = sizeof(CJ_FRAMING_REFUSED) - 1;
    h2o_iovec_t t = req->input.path;
    if (t.len <= PREFIX || memcmp(t.base, CJ_FRAMING_REFUSED, PREFIX) != 0)
        return;
    /* A warning written at any log_level: it may be an attempt to smuggle
     * a request. */
    struct cj_log always = *log;
    if (always.level < CJ_LOG_WARNING)
        always.level = CJ_LOG_WARNING;
    cj_log(&always, CJ_LOG_WARNING, "refused a request: %.*s (RFC 9112: 400, connection closed)",
           (int)(t.len - PREFIX), t.base + PREFIX);
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    if (req->res.status == 400)
        log_refusal(((struct json_errors_filter *)self)->log, req);
    if (req->res.status >= 400 && !has_json_type(req)) {
        const char *reason = req->res.reason != NULL ? req->res.reason : "Error";
        size_t rlen = strlen(reason);
        size_t qlen = cj_json_quote(reason, rlen, NULL, 0);
        char *buf = h2o_mem_alloc_pool(&req->pool, qlen + 16);
        memcpy(buf, "{\"error\": ", 10);
        cj_json_quote(reason, rlen, buf + 10, qlen + 1);
        buf[10 + qlen] = '}';
        struct json_ostream *o = (void *)h2o_add_ostream(req, sizeof(*o), slot);
        o->super.do_send = on_send;
        o->body = h2o_iovec_init(buf, 11 + qlen);
        req->res.content_length = o->body.len;
        h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                       H2O_STRLIT("application/json"), 1);
        slot = &o->super.next;
    }
    h2o_setup_next_ostream(req, slot);
}

void cj_json_errors_register(h2o_pathconf_t *pathconf, const struct cj_log *log)
{
    struct json_errors_filter *f = (void *)h2o_create_filter(pathconf, sizeof(*f));
    f->super.on_setup_ostream = on_setup_ostream;
    f->log = log;
}
