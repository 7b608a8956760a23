/* Configuration loader: defaults, every key, every error message (operators
 * read these at startup, so their text is part of the interface), the
 * codejail library's CODE_JAIL layout, overrides, and the example config.
 * Usage: test_config PATH/TO/compose/codejail.yaml */
#include "config.h"

#include "check.h"

#include <stdlib.h>
#include <unistd.h>

/* Loads yaml over fresh defaults and frees; returns the load's status. */
static int try_load(const char *yaml, cj_err *err)
{
    cj_config c;
    cj_config_defaults(&c);
    int rc = cj_config_load_string(&c, yaml, strlen(yaml), err);
    cj_config_free(&c);
    return rc;
}

#define EXPECT_ERR(yaml, want)                                       \
    do {                                                             \
        cj_err e_ = {0};                                             \
        CHECK(try_load((yaml), &e_) == -1);                          \
        CHECK_STR(e_.msg, (want));                                   \
    } while (0)

#define EXPECT_ERR_PREFIX(yaml, want)                                \
    do {                                                             \
        cj_err e_ = {0};                                             \
        CHECK(try_load((yaml), &e_) == -1);                          \
        CHECK(strncmp(e_.msg, (want), strlen(want)) == 0);           \
        if (strncmp(e_.msg, (want), strlen(want)) != 0)              \
            fprintf(stderr, "  got [%s]\n", e_.msg);                 \
    } while (0)

#define EXPECT_OK(yaml)                                              \
    do {                                                             \
        cj_err e_ = {0};                                             \
        int rc_ = try_load((yaml), &e_);                             \
        CHECK(rc_ == 0);                                             \
        if (rc_ != 0)                                                \
            fprintf(stderr, "  for [%s]: %s\n", (yaml), e_.msg);     \
    } while (0)

/* Writes data into a fresh temporary file; returns its malloc'd path. */
static char *temp_file(const char *data, size_t len)
{
    char *path = strdup("/tmp/cj-test-config-XXXXXX");
    int fd = path ? mkstemp(path) : -1;
    if (fd < 0) {
        perror("mkstemp");
        exit(2);
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, data + off, len - off);
        if (w <= 0) {
            perror("write");
            exit(2);
        }
        off += (size_t)w;
    }
    close(fd);
    return path;
}

int main(int argc, char **argv)
{
    CHECK_INIT;
    cj_err fail = {0};
    const char *err = fail.msg;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    /* --- defaults: the contract's devstack values */
    cj_config c;
    cj_config_defaults(&c);
    CHECK_STR(c.python_bin, "/usr/bin/python3");
    CHECK_STR(c.listen, "127.0.0.1:8080");
    CHECK(c.enabled == 1);
    CHECK(c.max_concurrency == (cpus < 1 ? 1 : cpus));
    CHECK(c.max_queue == 64);
    CHECK(c.max_body_bytes == 32u * 1024 * 1024);
    CHECK(c.max_output_bytes == 1024 * 1024);
    CHECK(c.limits.cpu == 3 && c.limits.realtime == 3 && c.limits.vmem == 536870912 &&
          c.limits.fsize == 1048576 && c.limits.nproc == 15);
    CHECK(c.overrides == NULL && c.n_overrides == 0);
    CHECK_STR(c.user, "nobody");
    CHECK_STR(c.work_dir, "/tmp");
    CHECK_STR(c.cgroup_parent, "codejail");
    CHECK(c.apparmor == CJ_LAYER_IF_AVAILABLE);
    CHECK_STR(c.apparmor_profile, "codejail_sandbox");
    CHECK(c.landlock == CJ_LAYER_REQUIRED && c.seccomp == CJ_LAYER_REQUIRED);
    CHECK(c.namespaces == 1);
    CHECK(c.log_level == CJ_LOG_INFO);
    CHECK(c.log_format == CJ_LOG_TEXT);
    CHECK(c.drain_timeout == 0);
    cj_config_free(&c);
    cj_config_free(&c); /* freeing twice is harmless: pointers are cleared */

    /* --- every key, with non-default values */
    const char *full = "python_bin: /opt/sandbox/bin/python\n"
                       "listen: \"[::1]:9090\"\n"
                       "enabled: no\n"
                       "max_concurrency: 7\n"
                       "max_queue: 0\n"
                       "max_body_bytes: 1024\n"
                       "max_output_bytes: 2048\n"
                       "limits: {CPU: 1, REALTIME: 2, VMEM: 0, FSIZE: 0, NPROC: 1}\n"
                       "limit_overrides:\n"
                       "  course-v1:a+b+c: {CPU: 9}\n"
                       "  'other': {NPROC: 4, VMEM: 0}\n"
                       "user: sandbox\n"
                       "work_dir: /var/lib/codejail\n"
                       "cgroup_parent: \"\"\n"
                       "apparmor: required\n"
                       "apparmor_profile: my_profile\n"
                       "landlock: if-available\n"
                       "seccomp: off\n"
                       "namespaces: Off\n"
                       "log_level: debug\n"
                       "log_format: json\n"
                       "drain_timeout: 2.5\n";
    cj_config_defaults(&c);
    CHECK(cj_config_load_string(&c, full, strlen(full), &fail) == 0);
    CHECK_STR(err, "");
    CHECK_STR(c.python_bin, "/opt/sandbox/bin/python");
    CHECK_STR(c.listen, "[::1]:9090");
    CHECK(c.enabled == 0);
    CHECK(c.max_concurrency == 7);
    CHECK(c.max_queue == 0);
    CHECK(c.max_body_bytes == 1024 && c.max_output_bytes == 2048);
    CHECK(c.limits.cpu == 1 && c.limits.realtime == 2 && c.limits.vmem == 0 && c.limits.fsize == 0 &&
          c.limits.nproc == 1);
    CHECK(c.n_overrides == 2);
    CHECK_STR(c.user, "sandbox");
    CHECK_STR(c.work_dir, "/var/lib/codejail");
    CHECK_STR(c.cgroup_parent, "");
    CHECK(c.apparmor == CJ_LAYER_REQUIRED && c.landlock == CJ_LAYER_IF_AVAILABLE && c.seccomp == CJ_LAYER_OFF);
    CHECK_STR(c.apparmor_profile, "my_profile");
    CHECK(c.namespaces == 0);
    CHECK(c.log_level == CJ_LOG_DEBUG);
    CHECK(c.log_format == CJ_LOG_JSON);
    CHECK(c.drain_timeout == 2.5);
    cj_limits l = cj_config_limits_for(&c, "course-v1:a+b+c", 15);
    CHECK(l.cpu == 9 && l.realtime == 2 && l.vmem == 0 && l.fsize == 0 && l.nproc == 1);
    l = cj_config_limits_for(&c, "other", 5);
    CHECK(l.cpu == 1 && l.nproc == 4);
    /* loading again over a loaded config replaces what the file sets and
     * frees the old strings (ASan's leak check proves the latter) */
    CHECK(cj_config_load_string(&c, full, strlen(full), &fail) == 0);
    const char *some = "user: u2\nlimit_overrides: {x: {CPU: 2}}\n";
    CHECK(cj_config_load_string(&c, some, strlen(some), &fail) == 0);
    CHECK_STR(c.user, "u2");
    CHECK_STR(c.python_bin, "/opt/sandbox/bin/python"); /* untouched */
    CHECK(c.n_overrides == 1 && strcmp(c.overrides[0].context, "x") == 0);
    /* a failed load leaves the config exactly as it was */
    const char *bad = "user: u3\nlimits: {CPU: 0}\n";
    CHECK(cj_config_load_string(&c, bad, strlen(bad), &fail) == -1);
    CHECK_STR(c.user, "u2");
    CHECK(c.limits.cpu == 1 && c.n_overrides == 1);
    cj_config_free(&c);

    /* --- defaults from empty input */
    EXPECT_OK("");
    EXPECT_OK("# only a comment\n\n   # another\n");
    EXPECT_OK("---\n");
    EXPECT_OK("~\n");
    EXPECT_OK("{}\n");
    EXPECT_OK("limits:\nlimit_overrides:\nCODE_JAIL:\n");
    EXPECT_OK("limits: {}\nlimit_overrides: {}\nCODE_JAIL: {}\n");
    cj_config_defaults(&c);
    CHECK(cj_config_load_string(&c, NULL, 0, &fail) == 0);
    CHECK(c.limits.cpu == 3);
    cj_config_free(&c);

    /* --- the messages the brief fixes */
    EXPECT_ERR("limits:\n  CPU: abc\n", "limits.CPU: expected an integer ≥ 1, got 'abc'");
    EXPECT_ERR("limts:\n  CPU: 1\n", "unknown key 'limts'");
    EXPECT_ERR("limit_overrides:\n  course-v1:a+b+c:\n    CPUS: 1\n",
               "limit_overrides.course-v1:a+b+c: unknown key 'CPUS'");
    EXPECT_ERR("apparmor: maybe\n", "apparmor: expected one of required, if-available, off, got 'maybe'");
    EXPECT_ERR("listen: 127.0.0.1:1\nlisten: 127.0.0.1:2\n", "duplicate key 'listen'");
    EXPECT_ERR("limits: {CPU: 1, CPU: 2}\n", "limits: duplicate key 'CPU'");
    EXPECT_ERR("limit_overrides:\n  a: {CPU: 1}\n  b: {}\n  a: {CPU: 2}\n", "limit_overrides: duplicate key 'a'");
    EXPECT_ERR("- a\n- b\n", "expected a mapping of settings at the top level, got a list");
    EXPECT_ERR("just text\n", "expected a mapping of settings at the top level, got a scalar");
    EXPECT_ERR("enabled: true\n---\nenabled: false\n", "expected one YAML document, found more");
    EXPECT_ERR("enabled: true\n]\n", "YAML syntax error at line 2, column 1: did not find expected key "
                                      "(while parsing a block mapping at line 1, column 1)");
    EXPECT_ERR("user: a\x01\n", "YAML error at byte 7: control characters are not allowed");
    EXPECT_ERR("limits:\n  CPU: 1\n NPROC: 2\n", "YAML syntax error at line 3, column 2: did not find "
                                                 "expected key (while parsing a block mapping at line 1, "
                                                 "column 1)");
    EXPECT_ERR("listen: \"a\tb:1\n", "YAML syntax error at line 2, column 1: found unexpected end of stream "
                                    "(while scanning a quoted scalar at line 1, column 9)");
    EXPECT_ERR("limits: &l {CPU: 1}\n", "limits: YAML anchors and aliases are not supported");
    EXPECT_ERR("user: *u\n", "user: YAML anchors and aliases are not supported");
    EXPECT_ERR("? &k listen\n: a:1\n", "YAML anchors and aliases are not supported");
    EXPECT_ERR("enabled: !!bool yes\n", "enabled: YAML tags are not supported");
    EXPECT_ERR("limits: !!map {CPU: 1}\n", "limits: YAML tags are not supported");

    /* --- integers: decimal only, bounded */
    EXPECT_ERR("limits: {CPU: 0}\n", "limits.CPU: expected an integer ≥ 1, got '0'");
    EXPECT_ERR("limits: {REALTIME: 0}\n", "limits.REALTIME: expected an integer ≥ 1, got '0'");
    EXPECT_ERR("limits: {NPROC: 0}\n", "limits.NPROC: expected an integer ≥ 1, got '0'");
    EXPECT_OK("limits: {VMEM: 0, FSIZE: 0}\n");
    EXPECT_ERR("limits: {VMEM: -1}\n", "limits.VMEM: expected an integer ≥ 0, got '-1'");
    EXPECT_ERR("limits: {VMEM: +1}\n", "limits.VMEM: expected an integer ≥ 0, got '+1'");
    EXPECT_ERR("limits: {VMEM: 0x10}\n", "limits.VMEM: expected an integer ≥ 0, got '0x10'");
    EXPECT_ERR("limits: {VMEM: 010}\n", "limits.VMEM: expected an integer ≥ 0, got '010'");
    EXPECT_ERR("limits: {VMEM: 1_000}\n", "limits.VMEM: expected an integer ≥ 0, got '1_000'");
    EXPECT_ERR("limits: {VMEM: 1.0}\n", "limits.VMEM: expected an integer ≥ 0, got '1.0'");
    EXPECT_ERR("limits: {VMEM: ' 1'}\n", "limits.VMEM: expected an integer ≥ 0, got ' 1'");
    EXPECT_ERR("limits: {CPU: }\n", "limits.CPU: expected an integer ≥ 1, got null");
    EXPECT_ERR("limits: {CPU: [1]}\n", "limits.CPU: expected an integer ≥ 1, got a list");
    EXPECT_OK("limits: {VMEM: 4611686018427387904}\n"); /* 2^62 */
    EXPECT_ERR("limits: {VMEM: 4611686018427387905}\n",
               "limits.VMEM: '4611686018427387905' is too large (at most 4611686018427387904)");
    EXPECT_ERR("limits: {VMEM: 99999999999999999999999999}\n",
               "limits.VMEM: '99999999999999999999999999' is too large (at most 4611686018427387904)");
    EXPECT_ERR("limits: {VMEM: 99999999999999999999x}\n",
               "limits.VMEM: expected an integer ≥ 0, got '99999999999999999999x'");
    EXPECT_OK("limits: {CPU: \"5\"}\n"); /* scalars are read by their text */
    EXPECT_ERR("max_queue: -1\n", "max_queue: expected an integer ≥ 0, got '-1'");
    EXPECT_ERR("max_concurrency: 2147483648\n", "max_concurrency: '2147483648' is too large (at most 2147483647)");
    EXPECT_ERR("max_body_bytes: 1023\n", "max_body_bytes: expected an integer ≥ 1024, got '1023'");
    EXPECT_ERR("max_output_bytes: 1k\n", "max_output_bytes: expected an integer ≥ 1024, got '1k'");
    cj_config_defaults(&c);
    CHECK(cj_config_load_string(&c, "max_concurrency: 0", 18, &fail) == 0);
    CHECK(c.max_concurrency == (cpus < 1 ? 1 : cpus));
    cj_config_free(&c);

    /* --- booleans and modes */
    const char *truths[] = {"true", "True", "YES", "on", "On"}, *lies[] = {"false", "FALSE", "no", "No", "off", "OFF"};
    for (size_t i = 0; i < sizeof(truths) / sizeof(truths[0]); i++) {
        char y[64];
        snprintf(y, sizeof(y), "enabled: %s\n", truths[i]);
        cj_config_defaults(&c);
        c.enabled = 0;
        CHECK(cj_config_load_string(&c, y, strlen(y), &fail) == 0 && c.enabled == 1);
        cj_config_free(&c);
    }
    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        char y[64];
        snprintf(y, sizeof(y), "namespaces: %s\n", lies[i]);
        cj_config_defaults(&c);
        CHECK(cj_config_load_string(&c, y, strlen(y), &fail) == 0 && c.namespaces == 0);
        cj_config_free(&c);
    }
    EXPECT_ERR("enabled: 1\n", "enabled: expected true or false (or yes/no, on/off), got '1'");
    EXPECT_ERR("enabled: y\n", "enabled: expected true or false (or yes/no, on/off), got 'y'");
    EXPECT_ERR("enabled:\n", "enabled: expected true or false (or yes/no, on/off), got null");
    const char *offs[] = {"off", "'off'", "\"off\"", "OFF", "Off"};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        char y[64];
        snprintf(y, sizeof(y), "landlock: %s\n", offs[i]);
        cj_config_defaults(&c);
        CHECK(cj_config_load_string(&c, y, strlen(y), &fail) == 0 && c.landlock == CJ_LAYER_OFF);
        cj_config_free(&c);
    }
    cj_config_defaults(&c);
    CHECK(cj_config_load_string(&c, "seccomp: If-Available", 21, &fail) == 0 &&
          c.seccomp == CJ_LAYER_IF_AVAILABLE);
    cj_config_free(&c);
    EXPECT_ERR("seccomp: false\n", "seccomp: expected one of required, if-available, off, got 'false'");
    EXPECT_ERR("landlock: {}\n", "landlock: expected one of required, if-available, off, got a mapping");

    /* --- listen */
    EXPECT_OK("listen: localhost:1\n");
    EXPECT_OK("listen: 0.0.0.0:65535\n");
    EXPECT_OK("listen: '[::1]:8080'\n");
    EXPECT_OK("listen: '[fe80::1%eth0]:8080'\n");
    const char *bad_listen[] = {"8080", ":8080", "host:0", "host:65536", "host:", "host:08080", "host:80x",
                                "::1:8080", "[::1]8080", "[]:80", "[::1:80", "ho st:80", "host:-1"};
    for (size_t i = 0; i < sizeof(bad_listen) / sizeof(bad_listen[0]); i++) {
        char y[64], want[160];
        snprintf(y, sizeof(y), "listen: '%s'\n", bad_listen[i]);
        snprintf(want, sizeof(want), "listen: expected HOST:PORT with a port from 1 to 65535, got '%s'",
                 bad_listen[i]);
        EXPECT_ERR(y, want);
    }

    /* --- strings and paths */
    EXPECT_ERR("python_bin: python3\n", "python_bin: expected an absolute path, got 'python3'");
    EXPECT_ERR("work_dir: ''\n", "work_dir: expected an absolute path, got ''");
    EXPECT_ERR("work_dir:\n", "work_dir: expected an absolute path, got null");
    EXPECT_ERR("user: ''\n", "user: expected a non-empty string, got ''");
    EXPECT_ERR("user: \"a\\0b\"\n", "user: expected a non-empty string, got a value containing a NUL byte");
    EXPECT_ERR("apparmor_profile: [a]\n", "apparmor_profile: expected a non-empty string, got a list");
    /* cgroup_parent: the rule codejail-init and the runtime apply too
     * (common/cgroup_parent.c, tested in test_common), plus '' for none */
    EXPECT_OK("cgroup_parent: a/b\n");
    EXPECT_OK("cgroup_parent: ..a/b..\n");
    EXPECT_OK("cgroup_parent: ''\n");
    const char *bad_cg[] = {"/abs", "..", "../x", "a/../b", "a/..", "a//b", "a/", "./a", "."};
    for (size_t i = 0; i < sizeof(bad_cg) / sizeof(bad_cg[0]); i++) {
        char y[64], want[320];
        snprintf(y, sizeof(y), "cgroup_parent: '%s'\n", bad_cg[i]);
        snprintf(want, sizeof(want),
                 "cgroup_parent: expected a relative cgroup path (names joined by '/', none empty, '.' or '..'; no "
                 "control characters; at most 255 bytes) or '' for none, got '%s'",
                 bad_cg[i]);
        EXPECT_ERR(y, want);
    }
    EXPECT_ERR_PREFIX("cgroup_parent: \"a\\nb\"\n", "cgroup_parent: expected a relative cgroup path (");

    /* --- log_level */
    EXPECT_OK("log_level: error\n");
    EXPECT_OK("log_level: Warning\n");
    EXPECT_OK("log_level: info\n");
    EXPECT_ERR("log_level: verbose\n", "log_level: expected one of error, warning, info, debug, got 'verbose'");
    EXPECT_ERR("log_level: ''\n", "log_level: expected one of error, warning, info, debug, got ''");
    EXPECT_ERR("log_level:\n", "log_level: expected one of error, warning, info, debug, got null");
    /* --- log_format */
    EXPECT_OK("log_format: text\n");
    EXPECT_OK("log_format: JSON\n");
    EXPECT_ERR("log_format: yaml\n", "log_format: expected one of text, json, got 'yaml'");
    EXPECT_ERR("log_format: [json]\n", "log_format: expected one of text, json, got a list");
    EXPECT_ERR("log_level: [info]\n", "log_level: expected one of error, warning, info, debug, got a list");
    EXPECT_ERR("CODE_JAIL: {log_level: info}\n", "CODE_JAIL: unknown key 'log_level'");
    /* values are quoted safely: control bytes escaped, long ones cut */
    EXPECT_ERR("apparmor: \"x\\ny\"\n", "apparmor: expected one of required, if-available, off, got 'x\\x0ay'");
    EXPECT_ERR("x" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: 1\n",
               "unknown key 'xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");

    /* --- drain_timeout */
    cj_config_defaults(&c);
    CHECK(cj_config_load_string(&c, "drain_timeout: 0.25", 19, &fail) == 0 && c.drain_timeout == 0.25);
    CHECK(cj_config_load_string(&c, "drain_timeout: 30", 17, &fail) == 0 && c.drain_timeout == 30);
    cj_config_free(&c);
    const char *bad_dt[] = {"-1", "1e3", ".5", "5.", "abc", "01", "1.2.3", "nan", "inf"};
    for (size_t i = 0; i < sizeof(bad_dt) / sizeof(bad_dt[0]); i++) {
        char y[64], want[160];
        snprintf(y, sizeof(y), "drain_timeout: '%s'\n", bad_dt[i]);
        snprintf(want, sizeof(want), "drain_timeout: expected a number of seconds ≥ 0, got '%s'", bad_dt[i]);
        EXPECT_ERR(y, want);
    }
    EXPECT_ERR("drain_timeout: [1]\n", "drain_timeout: expected a number of seconds ≥ 0, got a list");
    EXPECT_ERR("drain_timeout: 10000000000\n", "drain_timeout: '10000000000' is too large (at most 1000000000)");

    /* --- structure errors */
    EXPECT_ERR("limits: 5\n", "limits: expected a mapping of CPU, REALTIME, VMEM, FSIZE, NPROC, got a scalar");
    EXPECT_ERR("limits: {cpu: 1}\n", "limits: unknown key 'cpu'"); /* the library's names are upper case */
    /* PROXY, the library's helper-process switch, is accepted (0/1) and ignored. */
    {
        cj_err e_ok = {0};
        CHECK(try_load("limits: {PROXY: 0, CPU: 2}\n", &e_ok) == 0);
    }
    EXPECT_ERR("limits: {PROXY: 2}\n", "limits.PROXY: '2' is too large (at most 1)");
    EXPECT_ERR("limits: {PROXY: 0, PROXY: 1}\n", "limits: duplicate key 'PROXY'");
    EXPECT_ERR("limits: {[CPU]: 1}\n", "limits: keys must be strings, got a list");
    EXPECT_ERR("? [a]\n: b\n", "keys must be strings, got a list");
    EXPECT_ERR("limit_overrides: [a]\n", "limit_overrides: expected a mapping of context to limits, got a list");
    EXPECT_ERR("limit_overrides: {x: 5}\n",
               "limit_overrides.x: expected a mapping of CPU, REALTIME, VMEM, FSIZE, NPROC, got a scalar");
    EXPECT_ERR("limit_overrides: {x: {CPU: 0}}\n", "limit_overrides.x.CPU: expected an integer ≥ 1, got '0'");
    EXPECT_ERR("limit_overrides: {\"a\\0b\": {}}\n", "limit_overrides: a context contains a NUL byte");
    EXPECT_ERR("CODE_JAIL: 1\n", "CODE_JAIL: expected a mapping, got a scalar");

    /* --- the codejail library's layout */
    const char *lib = "CODE_JAIL:\n"
                      "  python_bin: /sandbox/venv/bin/python\n"
                      "  user: sandbox\n"
                      "  limits:\n"
                      "    CPU: 1\n"
                      "    VMEM: 268435456\n"
                      "  limit_overrides:\n"
                      "    course-v1:edX+DemoX+Demo_Course:\n"
                      "      CPU: 5\n"
                      "      REALTIME: 10\n"
                      "listen: 0.0.0.0:8080\n";
    cj_config_defaults(&c);
    CHECK(cj_config_load_string(&c, lib, strlen(lib), &fail) == 0);
    CHECK_STR(c.python_bin, "/sandbox/venv/bin/python");
    CHECK_STR(c.user, "sandbox");
    CHECK_STR(c.listen, "0.0.0.0:8080");
    CHECK(c.limits.cpu == 1 && c.limits.vmem == 268435456 && c.limits.realtime == 3 && c.limits.nproc == 15);
    l = cj_config_limits_for(&c, "course-v1:edX+DemoX+Demo_Course", 31);
    CHECK(l.cpu == 5 && l.realtime == 10 && l.vmem == 268435456 && l.fsize == 1048576 && l.nproc == 15);
    cj_config_free(&c);
    EXPECT_ERR("CODE_JAIL:\n  listen: a:1\n", "CODE_JAIL: unknown key 'listen'");
    EXPECT_ERR("CODE_JAIL:\n  CODE_JAIL: {}\n", "CODE_JAIL: unknown key 'CODE_JAIL'");
    EXPECT_ERR("CODE_JAIL:\n  limits: {FSIZE: x}\n", "CODE_JAIL.limits.FSIZE: expected an integer ≥ 0, got 'x'");
    EXPECT_ERR("CODE_JAIL: {user: a, user: b}\n", "CODE_JAIL: duplicate key 'user'");
    EXPECT_ERR("python_bin: /a\nCODE_JAIL:\n  python_bin: /b\n", "CODE_JAIL.python_bin: also set at the top level");
    EXPECT_ERR("CODE_JAIL:\n  limits: {CPU: 2}\nlimits: {NPROC: 3}\n", "limits: also set in CODE_JAIL");
    EXPECT_ERR("CODE_JAIL: {}\nCODE_JAIL: {}\n", "duplicate key 'CODE_JAIL'");

    /* --- overrides and cj_config_limits_for */
    const char *ov = "limits: {CPU: 2, REALTIME: 4, VMEM: 1000, FSIZE: 10, NPROC: 5}\n"
                     "limit_overrides:\n"
                     "  course-v1:a+b+c: {VMEM: 0, FSIZE: 0}\n"
                     "  course-v1:a+b+cd: {NPROC: 50}\n"
                     "  \"\": {CPU: 7}\n"
                     "  empty:\n";
    cj_config_defaults(&c);
    CHECK(cj_config_load_string(&c, ov, strlen(ov), &fail) == 0);
    CHECK(c.n_overrides == 4);
    l = cj_config_limits_for(&c, NULL, 0);
    CHECK(l.cpu == 2 && l.realtime == 4 && l.vmem == 1000 && l.fsize == 10 && l.nproc == 5);
    l = cj_config_limits_for(&c, "course-v1:a+b+c", 15);
    CHECK(l.cpu == 2 && l.realtime == 4 && l.vmem == 0 && l.fsize == 0 && l.nproc == 5);
    l = cj_config_limits_for(&c, "course-v1:a+b+cd", 16);
    CHECK(l.vmem == 1000 && l.nproc == 50);
    l = cj_config_limits_for(&c, "course-v1:a+b+cd", 15); /* context_len bytes only */
    CHECK(l.vmem == 0 && l.nproc == 5);
    l = cj_config_limits_for(&c, "course-v1:a+b+c\0d", 17); /* NUL inside never matches */
    CHECK(l.vmem == 1000 && l.nproc == 5);
    l = cj_config_limits_for(&c, "course-v1:A+B+C", 15); /* exact bytes, case counts */
    CHECK(l.vmem == 1000);
    l = cj_config_limits_for(&c, "", 0);
    CHECK(l.cpu == 7 && l.nproc == 5);
    l = cj_config_limits_for(&c, "empty", 5);
    CHECK(l.cpu == 2 && l.realtime == 4 && l.vmem == 1000 && l.fsize == 10 && l.nproc == 5);
    for (size_t i = 0; i < c.n_overrides; i++)
        if (strcmp(c.overrides[i].context, "empty") == 0)
            CHECK(c.overrides[i].limits.cpu == -1 && c.overrides[i].limits.nproc == -1);
    cj_config_free(&c);
    /* a config built by hand, in no particular order, works too */
    cj_config_defaults(&c);
    cj_override hand[2] = {{strdup("z"), {-1, -1, -1, -1, 99}}, {strdup("a"), {8, -1, -1, -1, -1}}};
    c.overrides = malloc(sizeof(hand));
    memcpy(c.overrides, hand, sizeof(hand));
    c.n_overrides = 2;
    CHECK(cj_config_limits_for(&c, "a", 1).cpu == 8 && cj_config_limits_for(&c, "z", 1).nproc == 99);
    cj_config_free(&c);

    /* --- no error wanted: fine */
    CHECK(try_load("limts: 1", NULL) == -1);

    /* --- files */
    CHECK(cj_config_load_file(&c, "/nonexistent/codejail.yaml", &fail) == -1);
    CHECK_STR(err, "/nonexistent/codejail.yaml: No such file or directory");
    cj_config_defaults(&c);
    CHECK(cj_config_load_file(&c, "/tmp", &fail) == -1);
    CHECK_STR(err, "/tmp: Is a directory");
    size_t big = 1024 * 1024;
    char *data = malloc(big + 1);
    memset(data, '#', big + 1);
    data[0] = '\n';
    char *path = temp_file(data, big); /* exactly 1 MiB of comment: accepted */
    CHECK(cj_config_load_file(&c, path, &fail) == 0);
    unlink(path);
    free(path);
    path = temp_file(data, big + 1);
    CHECK(cj_config_load_file(&c, path, &fail) == -1);
    char want[300];
    snprintf(want, sizeof(want), "%s: larger than 1 MiB", path);
    CHECK_STR(err, want);
    CHECK(cj_config_load_string(&c, data, big + 1, &fail) == -1);
    CHECK_STR(err, "configuration is larger than 1 MiB (1048577 bytes)");
    unlink(path);
    free(path);
    free(data);
    path = temp_file(full, strlen(full));
    CHECK(cj_config_load_file(&c, path, &fail) == 0);
    CHECK(cj_config_load_file(&c, path, &fail) == 0); /* twice over: no leak */
    CHECK_STR(c.work_dir, "/var/lib/codejail");
    unlink(path);
    free(path);
    cj_config_free(&c);

    /* --- the shipped example config */
    CHECK(argc > 1);
    if (argc > 1) {
        cj_config_defaults(&c);
        int rc = cj_config_load_file(&c, argv[1], &fail);
        CHECK(rc == 0);
        if (rc != 0)
            fprintf(stderr, "  %s\n", err);
        CHECK(c.apparmor == CJ_LAYER_IF_AVAILABLE); /* must run without AppArmor */
        CHECK(c.n_overrides == 1);
        l = cj_config_limits_for(&c, "course-v1:edX+DemoX+Demo_Course", 31);
        CHECK(l.cpu > c.limits.cpu);
        CHECK(c.max_concurrency >= 1);
        cj_config_free(&c);
    }
    /* --- warm start */
    {
        cj_config w;
        cj_err e = {0};
        cj_config_defaults(&w);
        CHECK(w.warm_enabled == 0 && w.warm_pool == 2 && w.n_warm_preload == 0);
        CHECK(w.warm_max_clones == 10000 && w.warm_max_age == 600);
        const char *y = "warm:\n  enabled: true\n  pool: 4\n  preload: [numpy, random2, six, xml.dom.minidom]\n";
        CHECK(cj_config_load_string(&w, y, strlen(y), &e) == 0);
        CHECK(w.warm_enabled == 1 && w.warm_pool == 4 && w.n_warm_preload == 4);
        if (w.n_warm_preload == 4) {
            CHECK_STR(w.warm_preload[0], "numpy");
            CHECK_STR(w.warm_preload[3], "xml.dom.minidom");
        }
        /* loading again over it replaces the list, and leaks nothing */
        const char *y2 = "warm: {preload: [six]}\n";
        CHECK(cj_config_load_string(&w, y2, strlen(y2), &e) == 0);
        CHECK(w.n_warm_preload == 1 && w.warm_enabled == 1);
        CHECK(w.warm_max_clones == 10000 && w.warm_max_age == 600); /* untouched by a file that omits them */
        const char *y3 = "warm:\n  max_clones: 5\n  max_age: 2\n";
        CHECK(cj_config_load_string(&w, y3, strlen(y3), &e) == 0);
        CHECK_STR(e.msg, "");
        CHECK(w.warm_max_clones == 5 && w.warm_max_age == 2 && w.warm_pool == 4);
        const char *y4 = "warm: {max_clones: 1, max_age: 1000000000}\n";
        CHECK(cj_config_load_string(&w, y4, strlen(y4), &e) == 0);
        CHECK(w.warm_max_clones == 1 && w.warm_max_age == 1000000000);
        cj_config_free(&w);
    }
    /* --- prepared cold sandboxes */
    {
        cj_config w;
        cj_err e = {0};
        cj_config_defaults(&w);
        CHECK(w.cold_pool == 2);
        const char *y = "cold: {pool: 0}\n";
        CHECK(cj_config_load_string(&w, y, strlen(y), &e) == 0);
        CHECK(w.cold_pool == 0);
        const char *y2 = "cold:\n  pool: 5\n";
        CHECK(cj_config_load_string(&w, y2, strlen(y2), &e) == 0);
        CHECK(w.cold_pool == 5);
        cj_config_free(&w);
    }
    /* --- python_lib.zip bytecode cache */
    {
        cj_config w;
        cj_err e = {0};
        cj_config_defaults(&w);
        CHECK(w.bytecode_cache_entries == 256 && w.bytecode_cache_bytes == 128u << 20);
        const char *y = "bytecode_cache: {max_entries: 0}\n";
        CHECK(cj_config_load_string(&w, y, strlen(y), &e) == 0);
        CHECK(w.bytecode_cache_entries == 0 && w.bytecode_cache_bytes == 128u << 20);
        const char *y2 = "bytecode_cache:\n  max_entries: 4096\n  max_bytes: 1048576\n";
        CHECK(cj_config_load_string(&w, y2, strlen(y2), &e) == 0);
        CHECK(w.bytecode_cache_entries == 4096 && w.bytecode_cache_bytes == 1048576);
        cj_config_free(&w);
    }
    EXPECT_ERR("bytecode_cache: {max_entries: -1}\n", "bytecode_cache.max_entries: expected an integer ≥ 0, got '-1'");
    EXPECT_ERR("bytecode_cache: {max_entries: 4097}\n", "bytecode_cache.max_entries: '4097' is too large (at most 4096)");
    EXPECT_ERR("bytecode_cache: {max_bytes: lots}\n", "bytecode_cache.max_bytes: expected an integer ≥ 0, got 'lots'");
    EXPECT_ERR("bytecode_cache: {size: 1}\n", "bytecode_cache: unknown key 'size'");
    EXPECT_ERR("bytecode_cache: 1\n", "bytecode_cache: expected a mapping of max_entries, max_bytes, got a scalar");
    EXPECT_ERR("cold: {pool: -1}\n", "cold.pool: expected an integer ≥ 0, got '-1'");
    EXPECT_ERR("cold: {pool: 65}\n", "cold.pool: '65' is too large (at most 64)");
    EXPECT_ERR("cold: {size: 2}\n", "cold: unknown key 'size'");
    EXPECT_ERR("cold: 2\n", "cold: expected a mapping of pool, got a scalar");
    EXPECT_ERR("warm: {pool: 0}\n", "warm.pool: expected an integer ≥ 1, got '0'");
    EXPECT_ERR("warm: {pool: 65}\n", "warm.pool: '65' is too large (at most 64)");
    EXPECT_ERR("warm: {preload: [\"os; import x\"]}\n", "warm.preload: expected a module name, got 'os; import x'");
    EXPECT_ERR("warm: {preload: [a..b]}\n", "warm.preload: expected a module name, got 'a..b'");
    EXPECT_ERR("warm: {preload: numpy}\n", "warm.preload: expected a list of module names, got a scalar");
    EXPECT_ERR("warm: {enable: true}\n", "warm: unknown key 'enable'");
    EXPECT_ERR("warm: {max_clones: 0}\n", "warm.max_clones: expected an integer ≥ 1, got '0'");
    EXPECT_ERR("warm: {max_clones: -5}\n", "warm.max_clones: expected an integer ≥ 1, got '-5'");
    EXPECT_ERR("warm: {max_clones: 1.5}\n", "warm.max_clones: expected an integer ≥ 1, got '1.5'");
    EXPECT_ERR("warm: {max_clones: many}\n", "warm.max_clones: expected an integer ≥ 1, got 'many'");
    EXPECT_ERR("warm: {max_clones: [5]}\n", "warm.max_clones: expected an integer ≥ 1, got a list");
    EXPECT_ERR("warm: {max_clones: 1000000001}\n", "warm.max_clones: '1000000001' is too large (at most 1000000000)");
    EXPECT_ERR("warm: {max_age: 0}\n", "warm.max_age: expected an integer ≥ 1, got '0'");
    EXPECT_ERR("warm: {max_age: 2.5}\n", "warm.max_age: expected an integer ≥ 1, got '2.5'");
    EXPECT_ERR("warm: {max_age: 10m}\n", "warm.max_age: expected an integer ≥ 1, got '10m'");
    EXPECT_ERR("warm: {max_age: 99999999999}\n", "warm.max_age: '99999999999' is too large (at most 1000000000)");
    EXPECT_ERR("warm: {max_age: {}}\n", "warm.max_age: expected an integer ≥ 1, got a mapping");
    EXPECT_ERR("warm: {max_clone: 5}\n", "warm: unknown key 'max_clone'");
    EXPECT_ERR("warm: {enabled: maybe}\n",
               "warm.enabled: expected true or false (or yes/no, on/off), got 'maybe'");

    return CHECK_DONE();
}
