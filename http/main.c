/* codejail-server: the HTTP service.  main() owns the only state there is
 * (config and server context) and hands it down. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "policy.h"
#include "server.h"

#ifndef CODEJAIL_VERSION
#define CODEJAIL_VERSION "dev"
#endif

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: codejail-server [--listen HOST:PORT] [--config FILE]\n"
            "Runs untrusted Python for Open edX behind the codejail-service HTTP API.\n\n"
            "  --listen HOST:PORT  address to serve on (env CODEJAIL_LISTEN; default 127.0.0.1:8080)\n"
            "  --config FILE       YAML configuration (env CODEJAIL_CONFIG; default: built-in)\n"
            "  --help, --version\n");
}

/* The wrapper and the noexec library ship beside the binary
 * (P/bin/../share/codejail, P/bin/../lib/codejail), so an installed tree
 * works wherever it is unpacked. */
static int beside_binary(const char *rel, const char *name, char *out, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0)
        return -1;
    exe[n] = '\0';
    int r = snprintf(out, len, "%s/%s/%s", dirname(exe), rel, name);
    return (r < 0 || (size_t)r >= len) ? -1 : 0;
}

static int resolve_identity(const cj_config *cfg, uid_t *uid, gid_t *gid, cj_err *err)
{
    struct passwd *pw = getpwnam(cfg->user);
    if (pw == NULL) {
        return cj_fail(err, 0, "user: no such user '%s'", cfg->user);
    }
    if (pw->pw_uid == 0 || pw->pw_gid == 0) {
        cj_fail(err, 0, "user: '%s' is root; executions must run unprivileged", cfg->user);
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

static int check_paths(const cj_config *cfg, cj_err *err)
{
    if (access(cfg->python_bin, X_OK) < 0) {
        return cj_fail(err, 0, "python_bin: %s: %s", cfg->python_bin, strerror(errno));
    }
    struct stat st;
    if (stat(cfg->work_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        return cj_fail(err, 0, "work_dir: %s: %s", cfg->work_dir, errno ? strerror(errno) : "not a directory");
    }
    if (geteuid() != 0) {
        return cj_fail(err, 0, "must start as root, to run executions as user '%s'", cfg->user);
    }
    return 0;
}

static enum cj_policy_mode mode_of(enum cj_layer_mode m)
{
    return m == CJ_LAYER_REQUIRED ? CJ_POLICY_REQUIRED : m == CJ_LAYER_IF_AVAILABLE ? CJ_POLICY_IF_AVAILABLE
                                                                                 : CJ_POLICY_OFF;
}

static int init_policy(const struct cj_log *log, const cj_config *cfg, cj_sandbox_env *env, const char *noexec,
                       cj_err *err)
{
    cj_policy_opts o = {
        .log = log,
        .python_bin = cfg->python_bin, .namespaces = cfg->namespaces,
        .landlock = mode_of(cfg->landlock), .seccomp = mode_of(cfg->seccomp), .apparmor = mode_of(cfg->apparmor),
        .apparmor_profile = cfg->apparmor_profile, .cgroup_parent = cfg->cgroup_parent, .noexec_so = noexec,
        .work_dir = cfg->work_dir,
        /* Every execution that can run at once and every sandbox made ahead
         * (prepared cold ones, waiting warm clones), twice: a cgroup comes
         * back while its namespace is still being torn down, and is reused
         * only once empty. */
        .cgroup_pool = 2 * (size_t)(cfg->max_concurrency + cfg->cold_pool + (cfg->warm_enabled ? cfg->warm_pool : 0)),
        /* tmp/ holds a few files of at most FSIZE each; its pages count
         * against the execution's memory cgroup as well. */
        .tmp_bytes = 64LL << 20,
    };
    return cj_policy_init(env, &o, err);
}

int main(int argc, char **argv)
{
    /* Info until the configuration says otherwise: what goes wrong before it
     * is read is an error, shown at every level. */
    struct cj_log log = {CJ_LOG_INFO, "codejail-server", CJ_LOG_TEXT};
    const char *listen = getenv("CODEJAIL_LISTEN");
    const char *config_path = getenv("CODEJAIL_CONFIG");
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'}, {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "l:c:hV", opts, NULL)) != -1) {
        switch (o) {
        case 'l': listen = optarg; break;
        case 'c': config_path = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("codejail-server %s\n", CODEJAIL_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        cj_log(&log, CJ_LOG_ERROR, "unexpected argument '%s'", argv[optind]);
        usage(stderr);
        return 2;
    }

    cj_config cfg;
    cj_err fail = {0};
    cj_config_defaults(&cfg);
    if (config_path != NULL && config_path[0] != '\0' && cj_config_load_file(&cfg, config_path, &fail) < 0) {
        cj_log(&log, CJ_LOG_ERROR, "config: %s", fail.msg);
        cj_config_free(&cfg);
        return 2;
    }
    log.level = cfg.log_level;
    log.format = cfg.log_format;
    if (listen != NULL && listen[0] != '\0') {
        char *l = strdup(listen);
        if (l == NULL)
            return 1;
        free(cfg.listen);
        cfg.listen = l;
    }

    char wrapper[PATH_MAX], noexec[PATH_MAX], zygote[PATH_MAX], warmlib[PATH_MAX];
    cj_server srv;
    cj_sandbox_env env = {.host_proc_fd = -1};
    int rc = 1;
    if (beside_binary(CODEJAIL_REL_DATADIR, "jailed_code.py", wrapper, sizeof(wrapper)) < 0 ||
        beside_binary(CODEJAIL_REL_LIBDIR, "codejail-noexec.so", noexec, sizeof(noexec)) < 0 ||
        beside_binary(CODEJAIL_REL_DATADIR, "warm_zygote.py", zygote, sizeof(zygote)) < 0 ||
        beside_binary(CODEJAIL_REL_LIBDIR, "codejail-warm.so", warmlib, sizeof(warmlib)) < 0) {
        cj_log(&log, CJ_LOG_ERROR, "cannot locate the installed data files");
    } else if (check_paths(&cfg, &fail) < 0 || resolve_identity(&cfg, &env.uid, &env.gid, &fail) < 0 ||
               init_policy(&log, &cfg, &env, noexec, &fail) < 0 ||
               cj_server_init(&srv, &log, &cfg, &env, wrapper, &fail) < 0) {
        cj_log(&log, CJ_LOG_ERROR, "%s", fail.msg);
        cj_policy_free(&env);
    } else if (cj_server_enable_warm(&srv, zygote, warmlib, &fail) < 0) {
        cj_log(&log, CJ_LOG_ERROR, "%s", fail.msg);
        cj_server_dispose(&srv);
    } else {
        rc = cj_server_run(&srv);
        cj_server_dispose(&srv);
    }
    cj_config_free(&cfg);
    return rc;
}
