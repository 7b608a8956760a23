/* GET /metrics, and the filter that counts every answer by handler and
 * status (h2o's own 404s and 413s included). */
#include <stdlib.h>
#include <string.h>

#include "respond.h"
#include "policy.h"
#include "server.h"

struct metrics_handler {
    h2o_handler_t super;
    cj_server *srv;
};

struct counting_filter {
    h2o_filter_t super;
    cj_server *srv;
};

static void now_of(cj_server *srv, cj_metrics_now *now)
{
    memset(now, 0, sizeof(*now));
    cj_executor_gauges(srv->ex, now);
    now->probe_passed = srv->probe == CJ_PROBE_PASSED;
    now->version = CODEJAIL_VERSION;
    now->landlock_abi = srv->env.landlock_abi;
    now->apparmor = srv->env.apparmor_profile != NULL ? srv->env.apparmor_profile : "off";
    now->cgroup = cj_policy_cgroups(&srv->env);
    if (srv->bytecode_cache != NULL) {
        now->bytecode_cache_on = 1;
        cj_bytecode_cache_stats_get(srv->bytecode_cache, &now->bytecode);
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    cj_server *srv = ((struct metrics_handler *)self)->srv;
    h2o_iovec_t p = req->path_normalized;
    if (!h2o_memis(p.base, p.len, H2O_STRLIT("/metrics")))
        return -1;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        cj_respond_method_not_allowed(req, "GET, HEAD");
        return 0;
    }
    cj_metrics_now now;
    now_of(srv, &now);
    size_t len = 0;
    char *text = cj_metrics_render(&srv->metrics, &now, &len);
    if (text == NULL) {
        cj_respond_message(req, 500, "error", "out of memory");
        return 0;
    }
    char *body = h2o_mem_alloc_pool(&req->pool, len);
    memcpy(body, text, len);
    free(text);
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_set_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE,
                   H2O_STRLIT("text/plain; version=0.0.4; charset=utf-8"), 1);
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
    return 0;
}

static const char *handler_of(h2o_iovec_t path)
{
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/api/v0/code-exec")))
        return "code_exec";
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/health")) || h2o_memis(path.base, path.len, H2O_STRLIT("/health/")))
        return "health";
    if (h2o_memis(path.base, path.len, H2O_STRLIT("/metrics")))
        return "metrics";
    return "other";
}

static void on_setup_ostream(h2o_filter_t *self, h2o_req_t *req, h2o_ostream_t **slot)
{
    cj_server *srv = ((struct counting_filter *)self)->srv;
    cj_metrics_http(&srv->metrics, handler_of(req->path_normalized), req->res.status);
    h2o_setup_next_ostream(req, slot);
}

void cj_metrics_register(cj_server *srv, h2o_hostconf_t *host)
{
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/metrics", 0);
    struct metrics_handler *h = (void *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = srv;
}

void cj_metrics_count_register(cj_server *srv, h2o_pathconf_t *pathconf)
{
    struct counting_filter *f = (void *)h2o_create_filter(pathconf, sizeof(*f));
    f->super.on_setup_ostream = on_setup_ostream;
    f->srv = srv;
}
