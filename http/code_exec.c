/* POST /api/v0/code-exec: the contract's checks in order, then one sandboxed
 * execution, answered when it ends (or never, if the client left first: the
 * execution is then killed). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "form.h"
#include "payload.h"
#include "pyrepr.h"
#include "respond.h"
#include "server.h"
#include "bytecode_compile.h"

#define ZIP_NAME "python_lib.zip"

struct exec_handler {
    h2o_handler_t super;
    cj_server *srv;
};

/* Lives in the request's pool; disposed with the request, whichever comes
 * first: the answer or the client going away. */
struct exec_req {
    cj_server *srv;
    h2o_req_t *req;
    cj_job *job;
    cj_form form;
    cj_payload payload;
    char *payload_text; /* the payload field with invalid UTF-8 replaced */
    h2o_linklist_t watched; /* in the server's list while an execution waits on it */
};

/* h2o stops reading an HTTP/1 connection while its request is processed,
 * so a client that hangs up is only noticed at the answer.  The contract
 * wants its execution killed at once: while executions run, their
 * connections are polled for a hang-up every CJ_WATCH_MS. */
static void unwatch(struct exec_req *er)
{
    if (h2o_linklist_is_linked(&er->watched))
        h2o_linklist_unlink(&er->watched);
}

static int client_gone(h2o_req_t *req)
{
    if (req->conn->callbacks->get_socket == NULL)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (sock == NULL)
        return 0;
    struct pollfd pfd = {.fd = h2o_socket_get_fd(sock), .events = POLLRDHUP};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static void on_watch(h2o_timeout_entry_t *entry)
{
    cj_server *srv = H2O_STRUCT_FROM_MEMBER(cj_server, watch_entry, entry);
    h2o_linklist_t *node = srv->watched.next;
    while (node != &srv->watched) {
        struct exec_req *er = H2O_STRUCT_FROM_MEMBER(struct exec_req, watched, node);
        node = node->next;
        if (er->job != NULL && client_gone(er->req)) {
            cj_log(srv->log, CJ_LOG_INFO, "client went away: killing its execution");
            cj_job_cancel(er->job);
            er->job = NULL;
            unwatch(er);
            /* Nobody reads it; writing it makes h2o close and dispose. */
            cj_respond_message(er->req, 500, "error", "Client went away");
        }
    }
    if (!h2o_linklist_is_empty(&srv->watched))
        h2o_timeout_link(srv->ctx.loop, &srv->watch_timeout, &srv->watch_entry);
}

static void watch(struct exec_req *er)
{
    cj_server *srv = er->srv;
    h2o_linklist_insert(&srv->watched, &er->watched);
    if (!h2o_timeout_is_linked(&srv->watch_entry)) {
        srv->watch_entry.cb = on_watch;
        h2o_timeout_link(srv->ctx.loop, &srv->watch_timeout, &srv->watch_entry);
    }
}

static void on_dispose(void *p)
{
    struct exec_req *er = p;
    unwatch(er);
    free(er->payload_text);
    if (er->job != NULL) {
        cj_job_cancel(er->job); /* the client went away: kill the execution */
        er->job = NULL;
    }
    cj_payload_free(&er->payload);
    cj_form_free(&er->form);
    cj_server_request_ended(er->srv);
}

/* result: the sandbox's result channel, NULL when the answer carries the
 * input globals alone (the code failed). */
static void answer(const struct cj_log *log, h2o_req_t *req, const cj_payload *pl, const char *emsg,
                   const cj_output *result)
{
    char *globals = NULL;
    size_t globals_len = 0;
    enum cj_answer_status st = cj_answer_globals(pl->globals_json.p, pl->globals_json.len,
                                                 result != NULL ? result->p : NULL, result != NULL ? result->len : 0,
                                                 &globals, &globals_len);
    if (st == CJ_ANSWER_CORRUPT) {
        emsg = "Sandboxed code produced corrupted stdout.";
        st = cj_answer_globals(pl->globals_json.p, pl->globals_json.len, NULL, 0, &globals, &globals_len);
    }
    cj_strbuf b = {0};
    cj_strbuf_adds(&b, "{\"globals_dict\": ");
    cj_strbuf_add(&b, globals != NULL ? globals : "", globals_len);
    if (emsg != NULL) {
        cj_strbuf_adds(&b, ", \"emsg\": ");
        cj_strbuf_add_json_string(&b, emsg, strlen(emsg));
    }
    cj_strbuf_adds(&b, "}");
    if (b.failed || st != CJ_ANSWER_OK) {
        cj_log(log, CJ_LOG_ERROR, "cannot write an answer (out of memory?)");
        cj_respond_message(req, 500, "error", "Out of memory");
    } else {
        cj_respond_raw(req, 200, b.p, b.len);
    }
    cj_strbuf_free(&b);
    free(globals);
}

/* The codejail library's message for a failed run, byte for byte. */
static void answer_failed_run(const struct cj_log *log, h2o_req_t *req, const cj_payload *pl, const cj_job_result *r)
{
    cj_strbuf m = {0};
    cj_strbuf_adds(&m, "Couldn't execute jailed code: stdout: ");
    cj_strbuf_add_bytes_repr(&m, r->out.p ? r->out.p : "", r->out.len);
    cj_strbuf_adds(&m, ", stderr: ");
    cj_strbuf_add_bytes_repr(&m, r->err.p ? r->err.p : "", r->err.len);
    char tail[48];
    snprintf(tail, sizeof(tail), " with status code: %d", r->status);
    cj_strbuf_adds(&m, tail);
    answer(log, req, pl, m.failed ? "Couldn't execute sandboxed code: See logs." : m.p, NULL);
    cj_strbuf_free(&m);
}

static void on_done(void *owner, const cj_job_result *r)
{
    struct exec_req *er = owner;
    er->job = NULL;
    unwatch(er);
    h2o_req_t *req = er->req;
    if (r->internal_error) {
        answer(er->srv->log, req, &er->payload, "Couldn't execute sandboxed code: See logs.", NULL);
    } else if (r->status != 0) {
        answer_failed_run(er->srv->log, req, &er->payload, r);
    } else if (r->result.dropped != 0 || r->result.p == NULL) {
        answer(er->srv->log, req, &er->payload, "Sandboxed code produced corrupted stdout.", NULL);
    } else {
        answer(er->srv->log, req, &er->payload, NULL, &r->result);
    }
}

static char *build_input(const cj_payload *pl, size_t *len)
{
    /* The wrapper decodes [code, globals] itself: the raw JSON goes through
     * untouched, so big integers and NaN reach Python exactly as sent. */
    size_t n = pl->code_json.len + pl->globals_json.len + 3;
    char *s = malloc(n + 1);
    if (s == NULL)
        return NULL;
    size_t off = 0;
    s[off++] = '[';
    memcpy(s + off, pl->code_json.p, pl->code_json.len);
    off += pl->code_json.len;
    s[off++] = ',';
    memcpy(s + off, pl->globals_json.p, pl->globals_json.len);
    off += pl->globals_json.len;
    s[off++] = ']';
    s[off] = '\0';
    *len = off;
    return s;
}

/* Checks 6-8 of the contract and the upload; returns NULL when they pass. */
static const char *check_upload(struct exec_req *er, cj_form_field **zip)
{
    const cj_payload *pl = &er->payload;
    if (!pl->python_path_only_zip)
        return "Only allowed entry in 'python_path' is 'python_lib.zip'";
    *zip = NULL;
    for (size_t i = 0; i < er->form.n; i++) {
        cj_form_field *f = &er->form.fields[i];
        if (f->filename == NULL)
            continue;
        if (strcmp(f->name, ZIP_NAME) != 0 || f->name_len != strlen(ZIP_NAME))
            return "Only allowed name for uploaded file is 'python_lib.zip'";
        *zip = f;
    }
    if (pl->unsafely)
        return "Refusing codejail execution with unsafely=true";
    return NULL;
}

static void handle_post(cj_server *srv, struct exec_req *er, h2o_req_t *req)
{
    if (!srv->cfg->enabled) {
        cj_respond_message(req, 500, "error", "Codejail service not enabled");
        return;
    }
    if (srv->probe != CJ_PROBE_PASSED) {
        cj_respond_message(req, 500, "error", "Codejail service is not correctly configured");
        return;
    }
    ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    const char *ctv = ct >= 0 ? req->headers.entries[ct].value.base : NULL;
    size_t ctl = ct >= 0 ? req->headers.entries[ct].value.len : 0;
    char detail[256], msg[512];
    const char *body = req->entity.base != NULL ? req->entity.base : "";
    switch (cj_form_parse(ctv, ctl, body, req->entity.len, &er->form, detail, sizeof(detail))) {
    case CJ_FORM_OK:
        break;
    case CJ_FORM_UNSUPPORTED:
        snprintf(msg, sizeof(msg), "Unsupported media type \"%s\" in request.", detail);
        cj_respond_message(req, 415, "detail", msg);
        return;
    default:
        snprintf(msg, sizeof(msg), "Multipart form parse error - %s", detail);
        cj_respond_message(req, 400, "detail", msg);
        return;
    }
    /* Django's QueryDict answers the last of repeated fields. */
    const cj_form_field *pf = NULL;
    for (size_t i = 0; i < er->form.n; i++)
        if (er->form.fields[i].filename == NULL && er->form.fields[i].name_len == 7 &&
            memcmp(er->form.fields[i].name, "payload", 7) == 0)
            pf = &er->form.fields[i];
    if (pf == NULL) {
        cj_respond_message(req, 400, "error", "Missing 'payload' parameter in POST body");
        return;
    }
    /* Django decodes form fields with errors="replace"; so do we. */
    size_t tlen = cj_utf8_repair(pf->data, pf->len, NULL, 0);
    if ((er->payload_text = malloc(tlen + 1)) == NULL) {
        cj_respond_message(req, 500, "error", "Out of memory");
        return;
    }
    cj_utf8_repair(pf->data, pf->len, er->payload_text, tlen + 1);
    if (cj_payload_parse(er->payload_text, tlen, &er->payload, msg, sizeof(msg)) != CJ_PAYLOAD_OK) {
        cj_respond_message(req, 400, "error", msg);
        return;
    }
    cj_form_field *zip = NULL;
    const char *bad = check_upload(er, &zip);
    if (bad != NULL) {
        cj_respond_message(req, 400, "error", bad);
        return;
    }
    if (er->payload.python_path_has_zip && zip == NULL) {
        /* What the Django service answers here: the library fails to copy
         * the missing file, which surfaces as an internal failure. */
        cj_log(srv->log, CJ_LOG_ERROR, "python_path names %s but no file was uploaded", ZIP_NAME);
        answer(er->srv->log, req, &er->payload, "Couldn't execute sandboxed code: See logs.", NULL);
        return;
    }
    if (srv->draining) {
        cj_respond_message(req, 503, "error", "Codejail service is shutting down");
        return;
    }
    /* Every entry is python_lib.zip by now; the wrapper gets a line for each,
     * as the library's does. */
    cj_job_input in = {.zip_on_path = er->payload.python_path_has_zip ? (int)er->payload.python_path_count : 0,
                       .slug = er->payload.slug, .slug_len = er->payload.slug_len, .context = er->payload.context,
                       .context_len = er->payload.context_len};
    in.input = build_input(&er->payload, &in.input_len);
    if (zip != NULL) { /* the job takes the upload's buffer rather than a copy */
        in.zip = zip->data;
        in.zip_len = zip->len;
        zip->data = NULL;
        zip->len = 0;
    }
    if (in.input == NULL) {
        free(in.zip);
        cj_respond_message(req, 500, "error", "Out of memory");
        return;
    }
    in.limits = cj_config_limits_for(srv->cfg, er->payload.context, er->payload.context_len);
    cj_bytecode_compile_attach(srv, &in, er->payload.code_json.p, er->payload.code_json.len);
    er->req = req;
    er->job = cj_executor_submit(srv->ex, &in, on_done, er);
    if (er->job == NULL)
        cj_respond_message(req, 503, "error", "Codejail service is busy: too many executions waiting");
    else
        watch(er);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    cj_server *srv = ((struct exec_handler *)self)->srv;
    if (!h2o_memis(req->path_normalized.base, req->path_normalized.len, H2O_STRLIT("/api/v0/code-exec")))
        return -1; /* h2o matched a prefix; only the exact path is ours */
    struct exec_req *er = h2o_mem_alloc_shared(&req->pool, sizeof(*er), on_dispose);
    memset(er, 0, sizeof(*er));
    er->srv = srv;
    cj_server_request_begun(srv);
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        cj_respond_method_not_allowed(req, "POST");
        return 0;
    }
    handle_post(srv, er, req);
    return 0;
}

void cj_code_exec_register(cj_server *srv, h2o_hostconf_t *host)
{
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/api/v0/code-exec", 0);
    struct exec_handler *h = (void *)h2o_create_handler(pc, sizeof(*h));
    h->super.on_req = on_req;
    h->srv = srv;
}
