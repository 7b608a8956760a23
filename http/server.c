#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "framing.h"
#include "json_errors.h"
#include "policy.h"
#include "bytecode_cache.h"
#include "bytecode_compile.h"

static int parse_listen(const char *spec, char *host, size_t hostlen, char *port, size_t portlen)
{
    const char *colon = strrchr(spec, ':');
    if (colon == NULL || colon == spec || colon[1] == '\0')
        return -1;
    const char *h = spec;
    size_t hl = (size_t)(colon - spec);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [::1]:8080 */
        h++;
        hl -= 2;
    }
    if (hl >= hostlen || strlen(colon + 1) >= portlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

static int open_listener(const char *spec, cj_err *err)
{
    char host[256], port[16];
    if (parse_listen(spec, host, sizeof(host), port, sizeof(port)) < 0) {
        return cj_fail(err, 0, "listen: expected HOST:PORT, got '%s'", spec);
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV}, *res;
    int r = getaddrinfo(host, port, &hints, &res);
    if (r != 0) {
        return cj_fail(err, 0, "listen %s: %s", spec, gai_strerror(r));
    }
    int fd = -1, e = 0;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        int on = 1;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
            e = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        cj_fail(err, 0, "listen %s: %s", spec, strerror(e));
    return fd;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    cj_server *srv = listener->data;
    h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
    if (sock != NULL)
        h2o_accept(&srv->accept_ctx, sock);
}

static void stop_listening(cj_server *srv)
{
    if (srv->listener != NULL) {
        h2o_socket_read_stop(srv->listener);
        h2o_socket_close(srv->listener);
        srv->listener = NULL;
    }
}

void cj_server_check_drained(cj_server *srv)
{
    if (srv->draining && srv->live_requests == 0 && cj_executor_pending(srv->ex) == 0)
        srv->stop = 1;
}

void cj_server_request_begun(cj_server *srv)
{
    srv->live_requests++;
}

void cj_server_request_ended(cj_server *srv)
{
    srv->live_requests--;
    cj_server_check_drained(srv);
}

static void on_drain_timeout(h2o_timeout_entry_t *entry)
{
    cj_server *srv = H2O_STRUCT_FROM_MEMBER(cj_server, drain_entry, entry);
    cj_log(srv->log, CJ_LOG_WARNING, "drain timed out with %zu executions left; stopping",
           cj_executor_pending(srv->ex));
    srv->stop = 1;
}

static long long max_realtime(const cj_config *c)
{
    long long m = c->limits.realtime;
    for (size_t i = 0; i < c->n_overrides; i++)
        if (c->overrides[i].limits.realtime > m)
            m = c->overrides[i].limits.realtime;
    return m;
}

static void begin_drain(cj_server *srv, int sig)
{
    if (srv->draining)
        return;
    cj_log(srv->log, CJ_LOG_INFO, "%s: draining (%zu executions in flight)", strsignal(sig),
           cj_executor_pending(srv->ex));
    srv->draining = 1;
    stop_listening(srv);
    /* In-flight work is bounded by REALTIME per execution; the queue behind
     * it by max_queue rounds of that.  drain_timeout caps the whole wait. */
    double secs = srv->cfg->drain_timeout;
    if (secs <= 0) {
        size_t rounds = 2 + (size_t)srv->cfg->max_queue / (size_t)srv->cfg->max_concurrency;
        secs = (double)(max_realtime(srv->cfg) + 1) * (double)rounds;
    }
    h2o_timeout_init(srv->ctx.loop, &srv->drain_timeout, (uint64_t)(secs * 1000));
    srv->drain_entry.cb = on_drain_timeout;
    h2o_timeout_link(srv->ctx.loop, &srv->drain_timeout, &srv->drain_entry);
    cj_server_check_drained(srv);
}

static void on_signal(h2o_socket_t *sock, const char *err)
{
    cj_server *srv = sock->data;
    if (err != NULL) {
        cj_log(srv->log, CJ_LOG_ERROR, "signalfd: %s", err);
        srv->stop = 1;
        return;
    }
    size_t n = sock->input->size / sizeof(struct signalfd_siginfo);
    for (size_t i = 0; i < n; i++) {
        struct signalfd_siginfo si;
        memcpy(&si, sock->input->bytes + i * sizeof(si), sizeof(si));
        if (si.ssi_signo == SIGCHLD)
            cj_executor_on_sigchld(srv->ex);
        else
            begin_drain(srv, (int)si.ssi_signo);
    }
    h2o_buffer_consume(&sock->input, n * sizeof(struct signalfd_siginfo));
    cj_server_check_drained(srv);
}

static int load_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rbe");
    if (f == NULL)
        return -1;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 > cap) {
            char *p = realloc(buf, cap = cap * 2 + 8192);
            if (p == NULL)
                break;
            buf = p;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    int bad = ferror(f) || buf == NULL;
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

int cj_server_init(cj_server *srv, const struct cj_log *log, cj_config *cfg, const cj_sandbox_env *env,
                   const char *wrapper_path, cj_err *err)
{
    memset(srv, 0, sizeof(*srv));
    srv->log = log;
    srv->cfg = cfg;
    srv->env = *env;
    char *wrapper;
    size_t wrapper_len;
    if (load_file(wrapper_path, &wrapper, &wrapper_len) < 0) {
        return cj_fail(err, errno, "%s", wrapper_path);
    }
    srv->env.wrapper = wrapper;
    srv->env.wrapper_len = wrapper_len;
    srv->env.python_bin = cfg->python_bin;
    srv->env.work_dir = cfg->work_dir;
    if (cj_policy_compile_wrappers(&srv->env, err) < 0)
        return -1;

    /* Signals arrive on the loop through a signalfd; SIGPIPE is ignored
     * because a client that hangs up must never kill the service. */
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
        return cj_fail(err, 0, "sigprocmask: %s", strerror(errno));
    }
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) {
        return cj_fail(err, 0, "signalfd: %s", strerror(errno));
    }
    if (cj_framing_in_place() < 0) {
        close(sfd);
        return cj_fail(err, 0, "strict HTTP framing is not in place: libh2o does not call phr_parse_request "
                              "through the dynamic linker (http/framing.h)");
    }
    int lfd = open_listener(cfg->listen, err);
    if (lfd < 0) {
        close(sfd);
        return -1;
    }

    h2o_config_init(&srv->globalconf);
    /* h2o answers 413 itself past this; the JSON filter makes it JSON. */
    srv->globalconf.max_request_entity_size = cfg->max_body_bytes;
    srv->globalconf.server_name = h2o_iovec_init(H2O_STRLIT("codejail"));
    h2o_hostconf_t *host = h2o_config_register_host(&srv->globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    cj_code_exec_register(srv, host);
    cj_health_register(srv, host);
    cj_metrics_register(srv, host);
    for (size_t i = 0; i < host->paths.size; i++) {
        cj_json_errors_register(&host->paths.entries[i], log);
        cj_metrics_count_register(srv, &host->paths.entries[i]);
    }
    cj_json_errors_register(&host->fallback_path, log);
    cj_metrics_count_register(srv, &host->fallback_path);

    h2o_context_init(&srv->ctx, h2o_evloop_create(), &srv->globalconf);
    srv->accept_ctx.ctx = &srv->ctx;
    srv->accept_ctx.hosts = srv->globalconf.hosts;
    h2o_linklist_init_anchor(&srv->watched);
    h2o_linklist_init_anchor(&srv->compile_runs);
    if (cfg->bytecode_cache_entries > 0 &&
        (srv->bytecode_cache = cj_bytecode_cache_new(cfg->bytecode_cache_entries, cfg->bytecode_cache_bytes)) == NULL) {
        close(lfd);
        close(sfd);
        return cj_fail(err, 0, "out of memory");
    }
    h2o_timeout_init(srv->ctx.loop, &srv->watch_timeout, CJ_WATCH_MS);
    srv->ex = cj_executor_create(srv->ctx.loop, cfg, &srv->env, &srv->metrics);
    if (srv->ex == NULL) {
        cj_fail(err, 0, "out of memory");
        close(lfd);
        close(sfd);
        return -1;
    }
    srv->signals = h2o_evloop_socket_create(srv->ctx.loop, sfd, 0);
    srv->signals->data = srv;
    h2o_socket_read_start(srv->signals, on_signal);
    srv->listener = h2o_evloop_socket_create(srv->ctx.loop, lfd, H2O_SOCKET_FLAG_DONT_READ);
    srv->listener->data = srv;
    h2o_socket_read_start(srv->listener, on_accept);
    cj_log(log, CJ_LOG_INFO, "listening on %s (python %s, %d at once, queue %d)", cfg->listen, cfg->python_bin,
           cfg->max_concurrency, cfg->max_queue);
    return 0;
}

int cj_server_enable_warm(cj_server *srv, const char *zygote_py, const char *lib, cj_err *err)
{
    if (!srv->cfg->warm_enabled)
        return 0;
    if (!srv->env.namespaces) {
        cj_fail(err, 0, "warm: the warm path always runs in namespaces; set namespaces: true");
        return -1;
    }
    if (cj_executor_enable_warm(srv->ex, zygote_py, lib) < 0) {
        return cj_fail(err, 0, "warm: out of memory");
    }
    return 0;
}

int cj_server_run(cj_server *srv)
{
    if (cj_probe_start(srv) < 0)
        return 1;
    while (!srv->stop)
        h2o_evloop_run(srv->ctx.loop, 1000);
    cj_log(srv->log, CJ_LOG_INFO, "stopped");
    return 0;
}

void cj_server_dispose(cj_server *srv)
{
    stop_listening(srv);
    cj_probe_dispose(srv);
    cj_bytecode_compile_dispose(srv);
    cj_executor_destroy(srv->ex);
    srv->ex = NULL;
    cj_bytecode_cache_free(srv->bytecode_cache);
    srv->bytecode_cache = NULL;
    free((char *)srv->env.wrapper);
    for (int z = 0; z < 2; z++)
        free((char *)srv->env.wrapper_pyc[z]);
    cj_policy_free(&srv->env);
}
