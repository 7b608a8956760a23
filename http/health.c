#include <string.h>

#include "respond.h"
#include "server.h"

struct health_handler {
    h2o_handler_t super;
    cj_server *srv;
};

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    cj_server *srv = ((struct health_handler *)self)->srv;
    h2o_iovec_t p = req->path_normalized;
    /* h2o matches by prefix: answer /health/ and /health, nothing below. */
    if (!h2o_memis(p.base, p.len, H2O_STRLIT("/health/")) && !h2o_memis(p.base, p.len, H2O_STRLIT("/health")))
        return -1;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
        cj_respond_method_not_allowed(req, "GET, HEAD");
        return 0;
    }
    if (srv->probe == CJ_PROBE_PASSED)
        cj_respond_raw(req, 200, H2O_STRLIT("{\"status\": \"OK\"}"));
    else
        cj_respond_raw(req, 503, H2O_STRLIT("{\"status\": \"UNAVAILABLE\"}"));
    return 0;
}

void cj_health_register(cj_server *srv, h2o_hostconf_t *host)
{
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/health", 0);
    struct health_handler *h = (void *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = srv;
}
