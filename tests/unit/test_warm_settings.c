/* The warm interpreter's settings (warm_settings.h): what the service
 * writes is what the library reads back; a blob that is not exactly that
 * (unknown, repeated or missing keys, an unterminated entry) is refused;
 * every key warm_zygote.py (argv[1]) asks the library for is one it knows,
 * and the Python side packs no message of its own (wire.h is C's alone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sandbox.h"
#include "warm_settings.h"

static const char TEMPLATE[] = "#@SYS_PATH@\nread()  #@BYTECODE@\n#@EXEC_CHECK@\n#@PYTHON_PATH@\nrun()\n#@BYTECODE_PART@\npart()\n";

static int parses(const char *blob, size_t len)
{
    cj_warm_settings s;
    cj_err err = {0};
    int rc = cj_warm_settings_parse(blob, len, &s, &err);
    if (rc == 0)
        cj_warm_settings_free(&s);
    return rc == 0;
}

int main(int argc, char **argv)
{
    CHECK_INIT;
    const char *binds[] = {"/usr", "/etc/ld.so.cache", NULL}, *links[] = {"lib=usr/lib", NULL};
    const char *preload[] = {"numpy", "six"};
    const struct cj_log log = {.level = CJ_LOG_DEBUG, .prog = "test", .format = CJ_LOG_JSON};
    cj_sandbox_env env = {.log = &log, .wrapper = TEMPLATE, .wrapper_len = sizeof(TEMPLATE) - 1, .uid = 65534, .gid = 65533,
                          .landlock = 1, .binds = binds, .links = links, .site_dirs = "['/usr/lib/python3/dist-packages']",
                          .apparmor_profile = "codejail_sandbox", .tmp_bytes = 1 << 20};
    char *blob = NULL;
    size_t len = 0;
    cj_err err = {0};
    CHECK(cj_warm_settings_build(&env, preload, 2, &blob, &len, &err) == 0);
    cj_warm_settings s;
    CHECK(blob != NULL && cj_warm_settings_parse(blob, len, &s, &err) == 0);
    if (blob == NULL)
        return CHECK_DONE();
    CHECK(s.uid == 65534 && s.gid == 65533 && s.landlock == 1 && s.seccomp == 0 && s.tmp_bytes == 1 << 20);
    CHECK(s.log_level == CJ_LOG_DEBUG && s.log_format == CJ_LOG_JSON); /* the service's own level and format */
    CHECK_STR(s.apparmor, "codejail_sandbox");
    CHECK(s.n_binds == 2 && s.n_links == 1);
    CHECK_STR(s.binds[1], "/etc/ld.so.cache");
    CHECK(s.binds[2] == NULL);
    CHECK_STR(s.links[0], "lib=usr/lib");
    int bad = -1;
    CHECK_STR(cj_warm_settings_get(&s, "syspath", 0, &bad), "['/usr/lib/python3/dist-packages']");
    CHECK(bad == 0 && cj_warm_settings_get(&s, "syspath", 1, &bad) == NULL && bad == 0);
    CHECK_STR(cj_warm_settings_get(&s, "preload", 1, &bad), "six");
    CHECK(cj_warm_settings_get(&s, "preload", 2, &bad) == NULL && bad == 0);
    /* The wrappers: the template rendered, the second with python_lib.zip. */
    const char *w0 = cj_warm_settings_get(&s, "wrapper0", 0, &bad), *w1 = cj_warm_settings_get(&s, "wrapper1", 0, &bad);
    CHECK(w0 != NULL && w1 != NULL && strstr(w0, "run()") != NULL && strstr(w0, "python_lib.zip") == NULL);
    CHECK(w1 != NULL && strstr(w1, "sys.path.append('python_lib.zip')") != NULL);
    /* Both run the bytecode part when a frame came. */
    CHECK(w0 != NULL && strstr(w0, "exec('part()\\n')") != NULL && w1 != NULL && strstr(w1, "exec('part()\\n')") != NULL);
    /* The site directories are on the warm interpreter's sys.path already. */
    CHECK(w0 != NULL && strstr(w0, "dist-packages") == NULL);
    /* Every key warm_zygote.py asks for (setting("KEY")) is known. */
    FILE *f = argc > 1 ? fopen(argv[1], "re") : NULL;
    CHECK(f != NULL);
    static char py[1 << 16];
    size_t pylen = f != NULL ? fread(py, 1, sizeof(py) - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    py[pylen] = '\0';
    int asked = 0;
    for (const char *q = strstr(py, "setting(\""); q != NULL; q = strstr(q + 1, "setting(\"")) {
        char key[32] = "";
        if (sscanf(q, "setting(\"%31[a-z0-9_]\")", key) != 1)
            continue;
        cj_warm_settings_get(&s, key, 0, &bad);
        if (bad)
            fprintf(stderr, "warm_zygote.py asks for '%s', which the library does not know\n", key);
        CHECK(bad == 0);
        asked++;
    }
    CHECK(asked >= 4); /* syspath, preload, wrapper0, wrapper1 */
    CHECK(strstr(py, "struct.Struct") == NULL && strstr(py, ".pack(") == NULL);
    cj_warm_settings_get(&s, "uid", 0, &bad);
    CHECK(bad == 1);
    cj_warm_settings_free(&s);

    /* Refused: each defect alone, on an otherwise whole blob. */
    CHECK(parses(blob, len));
    CHECK(!parses(blob, len - 1)); /* the last entry unterminated */
    char *more = malloc(len + 64);
    memcpy(more, blob, len);
    memcpy(more + len, "uid=1", 6);
    CHECK(!parses(more, len + 6)); /* repeated */
    memcpy(more + len, "colour=blue", 12);
    CHECK(!parses(more, len + 12)); /* unknown */
    memcpy(more + len, "noequals", 9);
    CHECK(!parses(more, len + 9));
    free(more);
    static const char partial[] = "uid=5\0gid=5\0tmp_bytes=10\0wrapper0=x\0";
    CHECK(!parses(partial, sizeof(partial) - 1)); /* wrapper1 missing */
    static const char root[] = "uid=0\0gid=5\0tmp_bytes=10\0wrapper0=x\0wrapper1=y\0";
    CHECK(!parses(root, sizeof(root) - 1)); /* never root */
    static const char whole[] = "uid=5\0gid=5\0tmp_bytes=10\0wrapper0=x\0wrapper1=y\0";
    CHECK(parses(whole, sizeof(whole) - 1));
    static const char loud[] = "uid=5\0gid=5\0tmp_bytes=10\0wrapper0=x\0wrapper1=y\0log_level=9\0";
    CHECK(!parses(loud, sizeof(loud) - 1)); /* no such level */
    static const char shaped[] = "uid=5\0gid=5\0tmp_bytes=10\0wrapper0=x\0wrapper1=y\0log_format=2\0";
    CHECK(!parses(shaped, sizeof(shaped) - 1)); /* no such format */
    free(blob);
    return CHECK_DONE();
}
