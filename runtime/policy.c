#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "apparmor.h"
#include "cgroup.h"
#include "execdir.h"
#include "landlock.h"
#include "mounts.h"
#include "pysite.h"
#include "reach.h"
#include "cj_seccomp.h"

#define MAX_BINDS 16

static void add(char **list, size_t *n, const char *path)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], path) == 0)
            return;
    if (*n + 1 < MAX_BINDS && (list[*n] = strdup(path)) != NULL)
        (*n)++;
}

/* What the interpreter needs from the host: /usr (merged-/usr Debian puts the
 * interpreter, the dynamic loader and every library there), its own prefix
 * when it lives elsewhere (a virtualenv), the loader's cache, and
 * /etc/alternatives (Debian's BLAS/LAPACK, used by numpy, resolve through
 * it).  Top-level /lib-style paths become the same symlinks as on the host,
 * or binds where they are real directories. */
static int plan_binds(cj_sandbox_env *env, const char *python_bin, cj_err *err)
{
    char **binds = calloc(MAX_BINDS, sizeof(char *));
    char **links = calloc(MAX_BINDS, sizeof(char *));
    size_t nb = 0, nl = 0;
    if (binds == NULL || links == NULL) {
        free(binds);
        free(links);
        return cj_fail(err, ENOMEM, "plan binds");
    }
    env->binds = (const char *const *)binds;
    env->links = (const char *const *)links;
    add(binds, &nb, "/usr");
    char real[PATH_MAX];
    if (realpath(python_bin, real) == NULL)
        return cj_fail(err, errno, "python_bin %s", python_bin);
    /* prefix = dirname(dirname(real)): /opt/venv/bin/python -> /opt/venv */
    char *s = strrchr(real, '/');
    if (s != NULL && s != real) {
        *s = '\0';
        s = strrchr(real, '/');
        if (s != NULL && s != real) {
            *s = '\0';
            if (strncmp(real, "/usr/", 5) != 0 && strcmp(real, "/usr") != 0)
                add(binds, &nb, real);
        }
    }
    static const char *const optional[] = {"/etc/ld.so.cache", "/etc/alternatives"};
    for (size_t i = 0; i < sizeof(optional) / sizeof(optional[0]); i++)
        if (access(optional[i], F_OK) == 0)
            add(binds, &nb, optional[i]);
    static const char *const tops[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
    for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
        struct stat st;
        if (lstat(tops[i], &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            add(binds, &nb, tops[i]);
        } else if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX], entry[PATH_MAX + 16];
            ssize_t n = readlink(tops[i], target, sizeof(target) - 1);
            if (n <= 0)
                continue;
            target[n] = '\0';
            snprintf(entry, sizeof(entry), "%s=%s", tops[i] + 1, target);
            add(links, &nl, entry);
        }
    }
    return 0;
}

/* The interpreter runs with -S; the wrapper puts site's directories on
 * sys.path itself (see pysite.c). */
static void plan_site(const struct cj_log *log, cj_sandbox_env *env, const char *python_bin)
{
    /* A broken interpreter is the probe's to report (health 503, the log
     * says why), not a reason to refuse to start: without the directories
     * the sandbox runs site the slow way. */
    char *dirs = NULL;
    cj_err site_err = {0};
    if (cj_python_site_dirs(python_bin, &dirs, &site_err) < 0) {
        cj_log(log, CJ_LOG_WARNING, "%s; executions will run site.py themselves", site_err.msg);
        return;
    }
    size_t n = strlen(dirs) + 256;
    char *line = malloc(n);
    if (line == NULL) {
        free(dirs);
        return;
    }
    /* exit() and quit() are site's additions; graders do call them. */
    snprintf(line, n,
             "sys.path.extend(%s); import builtins, _sitebuiltins; "
             "builtins.exit, builtins.quit = _sitebuiltins.Quitter('exit', 'Ctrl-D (i.e. EOF)'), "
             "_sitebuiltins.Quitter('quit', 'Ctrl-D (i.e. EOF)')",
             dirs);
    env->site_dirs = dirs;
    env->sys_path_line = line;
}

static int layer_check(const char *name, enum cj_policy_mode mode, int available, const char *why, cj_err *err)
{
    if (mode == CJ_POLICY_REQUIRED && !available)
        return cj_fail(err, 0, "%s: required by the configuration, but %s (set '%s: off' or "
                               "'if-available' to run without it)", name, why, name);
    return 0;
}

static int under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* What every execution opens as the sandbox user, checked as that user now:
 * out of its reach (an installation under /root, mode 0700) every execution
 * would fail at a set-up step, so the service does not start.  With a mount
 * namespace the paths are seen through their binds, whose parents are the
 * sandbox root's own; without one, the host path counts whole, and Landlock
 * opens each path it grants, and the execution directories, as that user. */
static int check_reach(const cj_sandbox_env *env, const cj_policy_opts *o, cj_err *err)
{
    cj_reach items[MAX_BINDS + 4];
    size_t n = 0;
    char real[PATH_MAX];
    if (realpath(o->python_bin, real) == NULL)
        return cj_fail(err, errno, "python_bin %s", o->python_bin);
    if (env->namespaces) {
        const char *bind = NULL;
        for (size_t i = 0; env->binds[i] != NULL; i++)
            if (under(real, env->binds[i]) && (bind == NULL || strlen(env->binds[i]) > strlen(bind)))
                bind = env->binds[i];
        items[n++] = (cj_reach){real, bind, X_OK, "the interpreter (python_bin)"};
        if (env->noexec_so != NULL)
            items[n++] = (cj_reach){env->noexec_so, env->noexec_so, R_OK, "the installed noexec library"};
        return cj_reach_check(items, n, env->uid, env->gid, err);
    }
    items[n++] = (cj_reach){o->python_bin, NULL, X_OK, "the interpreter (python_bin)"};
    if (env->noexec_so != NULL)
        items[n++] = (cj_reach){env->noexec_so, NULL, R_OK, "the installed noexec library"};
    if (o->work_dir != NULL)
        items[n++] = (cj_reach){o->work_dir, NULL, X_OK, "work_dir"};
    for (size_t i = 0; env->landlock && env->binds[i] != NULL; i++)
        items[n++] = (cj_reach){env->binds[i], NULL, F_OK, "a path the interpreter needs"};
    return cj_reach_check(items, n, env->uid, env->gid, err);
}

int cj_policy_init(cj_sandbox_env *env, const cj_policy_opts *o, cj_err *err)
{
    env->log = o->log;
    env->namespaces = o->namespaces;
    env->host_proc_fd = -1;
    /* Without a pid namespace the process group is all that holds an
     * execution together, and setsid() leaves it: the cgroup is then the
     * only thing that can find and kill what an execution left running. */
    if (!o->namespaces && (o->cgroup_parent == NULL || o->cgroup_parent[0] == '\0'))
        return cj_fail(err, 0, "namespaces: false needs a cgroup_parent: with neither, nothing contains an "
                               "execution's processes (setsid() leaves the process group)");
    env->tmp_bytes = o->tmp_bytes;
    if (plan_binds(env, o->python_bin, err) < 0)
        return -1;
    plan_site(o->log, env, o->python_bin);

    int abi = cj_landlock_abi();
    struct utsname u;
    char no_landlock[160];
    /* The release names the fix: an operator on an old kernel learns it is
     * the kernel (Landlock came in 5.13), not the configuration. */
    snprintf(no_landlock, sizeof(no_landlock), "this kernel (Linux %s) has no Landlock, or not enabled (lsm=)",
             uname(&u) == 0 ? u.release : "?");
    if (layer_check("landlock", o->landlock, abi > 0, no_landlock, err) < 0)
        return -1;
    env->landlock = o->landlock != CJ_POLICY_OFF && abi > 0;
    env->landlock_abi = env->landlock ? abi : 0;

    if (o->seccomp != CJ_POLICY_OFF) {
        if (access(o->noexec_so, R_OK) < 0)
            return cj_fail(err, errno, "seccomp: %s", o->noexec_so);
        cj_seccomp *sc = calloc(1, sizeof(*sc));
        if (sc == NULL)
            return cj_fail(err, ENOMEM, "seccomp");
        env->seccomp = sc;
        if (cj_seccomp_build_stage1(sc, err) < 0)
            return cj_wrap(err, "seccomp");
        env->noexec_so = o->noexec_so;
    }

    int aa = cj_apparmor_enabled();
    if (layer_check("apparmor", o->apparmor, aa, "AppArmor is not enabled on this host", err) < 0)
        return -1;
    if (o->apparmor != CJ_POLICY_OFF && aa) {
        env->host_proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (env->host_proc_fd < 0)
            return cj_fail(err, errno, "apparmor: open /proc");
        env->apparmor_profile = o->apparmor_profile;
    }

    if (o->cgroup_parent != NULL && o->cgroup_parent[0] != '\0') {
        if (cj_cgroups_init(&env->cgroups, o->cgroup_parent, err) < 0)
            return cj_wrap(err, "cgroup_parent '%s'", o->cgroup_parent);
        /* One idle cgroup per execution that can run at once, and the probe's. */
        env->cgroup_pool = cj_cgroup_pool_new(env->cgroups, o->cgroup_pool + 1, o->log);
        if (env->cgroup_pool == NULL)
            return cj_fail(err, ENOMEM, "cgroup pool");
    }
    if (check_reach(env, o, err) < 0)
        return -1;
    cj_log(o->log, CJ_LOG_INFO,
           "confinement: namespaces %s, landlock %s (ABI %d), seccomp %s, apparmor %s, cgroups %s",
           env->namespaces ? "on" : "OFF", env->landlock ? "on" : "OFF", abi, env->seccomp ? "on" : "OFF",
           env->apparmor_profile ? env->apparmor_profile : "OFF",
           env->cgroups ? (cj_cgroups_is_v2(env->cgroups) ? "v2" : "v1") : "OFF");
    return 0;
}

void cj_policy_free(cj_sandbox_env *env)
{
    char **lists[2] = {(char **)env->binds, (char **)env->links};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; lists[l] != NULL && lists[l][i] != NULL; i++)
            free(lists[l][i]);
        free(lists[l]);
    }
    env->binds = env->links = NULL;
    free((char *)env->sys_path_line);
    env->sys_path_line = NULL;
    free((char *)env->site_dirs);
    env->site_dirs = NULL;
    if (env->seccomp != NULL) {
        cj_seccomp_free((cj_seccomp *)env->seccomp);
        free((cj_seccomp *)env->seccomp);
        env->seccomp = NULL;
    }
    if (env->host_proc_fd >= 0)
        close(env->host_proc_fd);
    env->host_proc_fd = -1;
    cj_cgroup_pool_free(env->cgroup_pool);
    env->cgroup_pool = NULL;
    cj_cgroups_free(env->cgroups);
    env->cgroups = NULL;
}

/* The interpreter's checklist writes them into its root (mounts.c). */
int cj_policy_compile_wrappers(cj_sandbox_env *env, cj_err *err)
{
    if (!env->namespaces)
        return 0; /* no root of its own to put them in: the source runs */
    for (int z = 0; z < 2; z++) {
        cj_execdir_spec ds = {.wrapper = env->wrapper, .wrapper_len = env->wrapper_len,
                              .sys_path_line = env->sys_path_line, .exec_check = env->noexec_so != NULL,
                              .zip_on_path = z};
        char *text = NULL, *pyc = NULL;
        size_t len = 0, pyc_len = 0;
        cj_err e = {0};
        if (cj_execdir_render(&ds, &text, &len, err) < 0)
            return -1;
        if (cj_python_compile(env->python_bin, text, len, CJ_PYC_PLACEHOLDER, &pyc, &pyc_len, &e) < 0) {
            /* As with the site directories: the startup probe judges an
             * interpreter that cannot even do this. */
            cj_log(env->log, CJ_LOG_WARNING, "%s; executions will run the source", e.msg);
            free(text);
            free((char *)env->wrapper_pyc[0]);
            env->wrapper_pyc[0] = NULL;
            return 0;
        }
        free(text);
        env->wrapper_pyc[z] = pyc;
        env->wrapper_pyc_len[z] = pyc_len;
    }
    cj_log(env->log, CJ_LOG_DEBUG, "wrappers compiled ahead: %zu and %zu bytes", env->wrapper_pyc_len[0],
           env->wrapper_pyc_len[1]);
    return 0;
}

const char *cj_policy_cgroups(const cj_sandbox_env *env)
{
    return env->cgroups == NULL ? "off" : cj_cgroups_is_v2(env->cgroups) ? "v2" : "v1";
}
