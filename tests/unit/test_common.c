/* common/: the cgroup-parent rule, the file helpers and the log's line
 * shapes and level names. */
#include "cgroup_parent.h"
#include "files.h"
#include "log.h"
#include "logfield.h"

#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static bool parent_ok(const char *s) { return cj_cgroup_parent_valid(s, s ? strlen(s) : 0); }

/* What cj_log writes for one call, captured from stderr through a pipe. */
/* What cj_log (kv NULL) or cj_log_record wrote to stderr. */
static void logged_kv(const struct cj_log *log, enum cj_log_level level, const char *msg, const cj_log_kv *kv,
                      size_t n, char *out, size_t size)
{
    int p[2], saved = dup(STDERR_FILENO);
    if (saved < 0 || pipe2(p, O_CLOEXEC) < 0 || dup2(p[1], STDERR_FILENO) < 0)
        abort();
    if (kv == NULL)
        cj_log(log, level, "%s", msg);
    else
        cj_log_record(log, level, msg, kv, n);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    ssize_t got = read(p[0], out, size - 1);
    out[got > 0 ? got : 0] = '\0';
    close(p[0]);
}

static void logged(const struct cj_log *log, enum cj_log_level level, const char *msg, char *out, size_t size)
{
    logged_kv(log, level, msg, NULL, 0, out, size);
}

/* A JSON line as the logger writes it: after its timestamp, the rest. */
static const char *after_ts(const char *line)
{
    const char *z = strstr(line, "Z\",\"level\":");
    return strncmp(line, "{\"ts\":\"20", 9) == 0 && z != NULL && z - line == 7 + 23 ? z + 3 : "(no ts)";
}

int main(void)
{
    CHECK_INIT;

    /* --- the cgroup parent: one rule for init, config and runtime */
    const char *good[] = {CJ_CGROUP_PARENT_DEFAULT, "a/b", "..a/b..", "codejail-1/inner", ".x", "x."};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CHECK(parent_ok(good[i]));
    const char *bad[] = {NULL, "", "/abs", "..", "../x", "a/../b", "a/..", ".", "./a", "a/.", "a//b", "a/", "/",
                         "a\nb", "a\tb", "a\x7f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(!parent_ok(bad[i]));
        if (parent_ok(bad[i]))
            fprintf(stderr, "  accepted [%s]\n", bad[i]);
    }
    char longest[CJ_CGROUP_PARENT_MAX + 2];
    memset(longest, 'x', sizeof(longest));
    CHECK(cj_cgroup_parent_valid(longest, CJ_CGROUP_PARENT_MAX));
    CHECK(!cj_cgroup_parent_valid(longest, CJ_CGROUP_PARENT_MAX + 1));
    CHECK(!cj_cgroup_parent_valid("a\0b", 3)); /* a NUL inside the value */

    /* --- has_word: whole words only */
    CHECK(cj_has_word("cpuset cpu io", "cpu", " "));
    CHECK(!cj_has_word("cpuset cpuacct", "cpu", " "));
    CHECK(cj_has_word("rw,memory", "memory", ","));
    CHECK(!cj_has_word("", "memory", " "));
    CHECK(cj_has_word("  pids  ", "pids", " "));

    /* --- small files relative to a directory fd */
    char dir[] = "/tmp/cj-test-common-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);
    int fd = openat(dfd, "f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    CHECK(fd >= 0 && cj_write_all(fd, "memory pids\n\n", 13) == 0);
    close(fd);
    char buf[64];
    CHECK(cj_read_at(dfd, "f", buf, sizeof(buf)) == 11);
    CHECK_STR(buf, "memory pids");
    CHECK(cj_read_at(dfd, "f", buf, 8) == -EFBIG && errno == EFBIG); /* does not fit: not cut */
    CHECK(cj_read_at(dfd, "none", buf, sizeof(buf)) == -ENOENT && errno == ENOENT);
    /* cj_write_at never creates or truncates: control files exist. */
    CHECK(cj_write_at(dfd, "none", "1") == -ENOENT);
    close(openat(dfd, "g", O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    CHECK(cj_write_at(dfd, "g", "+cpu") == 0);
    CHECK(cj_read_at(dfd, "g", buf, sizeof(buf)) == 4);
    CHECK_STR(buf, "+cpu");
    unlinkat(dfd, "f", 0);
    unlinkat(dfd, "g", 0);
    close(dfd);
    rmdir(dir);

    /* --- log: level names, filtering and the line shapes */
    enum cj_log_level lv = CJ_LOG_INFO;
    CHECK(cj_log_level_parse("Debug", 5, &lv) && lv == CJ_LOG_DEBUG);
    CHECK(cj_log_level_parse("warning", 7, &lv) && lv == CJ_LOG_WARNING);
    CHECK(!cj_log_level_parse("warn", 4, &lv) && lv == CJ_LOG_WARNING);
    CHECK(!cj_log_level_parse("", 0, &lv));
    for (int l = CJ_LOG_ERROR; l <= CJ_LOG_DEBUG; l++) {
        const char *name = cj_log_level_name((enum cj_log_level)l);
        CHECK(cj_log_level_parse(name, strlen(name), &lv) && lv == (enum cj_log_level)l);
    }
    struct cj_log log = {.level = CJ_LOG_INFO, .prog = "prog"};
    char line[CJ_LOG_LINE_MAX + 16];
    logged(&log, CJ_LOG_INFO, "hello", line, sizeof(line));
    CHECK_STR(line, "prog: hello\n");
    logged(&log, CJ_LOG_ERROR, "broken", line, sizeof(line));
    CHECK_STR(line, "prog: error: broken\n");
    logged(&log, CJ_LOG_WARNING, "degraded", line, sizeof(line));
    CHECK_STR(line, "prog: warning: degraded\n");
    logged(&log, CJ_LOG_DEBUG, "detail", line, sizeof(line));
    CHECK_STR(line, "");
    log.level = CJ_LOG_DEBUG;
    logged(&log, CJ_LOG_DEBUG, "detail", line, sizeof(line));
    CHECK_STR(line, "prog: debug: detail\n");
    log.level = CJ_LOG_ERROR;
    logged(&log, CJ_LOG_WARNING, "degraded", line, sizeof(line));
    CHECK_STR(line, "");
    CHECK(cj_log_enabled(&log, CJ_LOG_ERROR) && !cj_log_enabled(&log, CJ_LOG_INFO));
    /* A long message is cut, and still one line. */
    char *huge = malloc(2 * CJ_LOG_LINE_MAX);
    memset(huge, 'y', 2 * CJ_LOG_LINE_MAX - 1);
    huge[2 * CJ_LOG_LINE_MAX - 1] = '\0';
    logged(&log, CJ_LOG_ERROR, huge, line, sizeof(line));
    free(huge);
    CHECK(strlen(line) == CJ_LOG_LINE_MAX - 1 && line[strlen(line) - 1] == '\n' && strchr(line, '\n') == line + strlen(line) - 1);

    /* --- JSON: every line one object, the message escaped (it may quote
     * anything), cut inside the string when long */
    enum cj_log_format fmt = CJ_LOG_TEXT;
    CHECK(cj_log_format_parse("JSON", 4, &fmt) && fmt == CJ_LOG_JSON);
    CHECK(cj_log_format_parse("text", 4, &fmt) && fmt == CJ_LOG_TEXT);
    CHECK(!cj_log_format_parse("logfmt", 6, &fmt) && fmt == CJ_LOG_TEXT);
    struct cj_log jlog = {.level = CJ_LOG_INFO, .prog = "prog", .format = CJ_LOG_JSON};
    logged(&jlog, CJ_LOG_ERROR, "bad \"q\" \\ \x01\n\xff\xe2\x80\xae", line, sizeof(line));
    CHECK_STR(after_ts(line), "\"level\":\"error\",\"prog\":\"prog\",\"msg\":\"bad \\\"q\\\" \\\\ \\u0001\\n"
                              "\\uFFFD\\u202E\"}\n");
    huge = malloc(2 * CJ_LOG_LINE_MAX);
    memset(huge, '\x01', 2 * CJ_LOG_LINE_MAX - 1);
    huge[2 * CJ_LOG_LINE_MAX - 1] = '\0';
    logged(&jlog, CJ_LOG_ERROR, huge, line, sizeof(line));
    free(huge);
    CHECK(strlen(line) <= CJ_LOG_LINE_MAX && strcmp(line + strlen(line) - 3, "\"}\n") == 0);
    CHECK(strstr(line, "\\u0001\\u0001\"}") != NULL); /* whole escapes only */

    /* --- records: the same fields in both formats */
    const cj_log_kv group[] = {{.key = "CPU", .kind = CJ_LOG_INT, .i = 2}, {.key = "NPROC", .kind = CJ_LOG_INT, .i = 8}};
    const cj_log_kv kv[] = {
        {.key = "slug", .kind = CJ_LOG_REQUEST, .s = "a\nb\xff", .len = 4},
        {.key = "context", .kind = CJ_LOG_REQUEST, .s = NULL},
        {.key = "path", .kind = CJ_LOG_NAME, .s = "warm"},
        {.key = "status", .kind = CJ_LOG_INT, .i = -9},
        {.key = "cpu_ms", .kind = CJ_LOG_AMOUNT, .i = -1},
        {.key = "peak", .kind = CJ_LOG_AMOUNT, .i = 1234},
        {.key = "oom_killed", .kind = CJ_LOG_BOOL, .i = 0},
        {.key = "limits", .kind = CJ_LOG_GROUP, .group = group, .n = 2},
    };
    size_t nkv = sizeof(kv) / sizeof(kv[0]);
    log.level = CJ_LOG_INFO;
    logged_kv(&log, CJ_LOG_INFO, "execution", kv, nkv, line, sizeof(line));
    CHECK_STR(line, "prog: execution slug=\"a\\nb\\xFF\" context=- path=warm status=-9 cpu_ms=- peak=1234 "
                    "oom_killed=false limits.CPU=2 limits.NPROC=8\n");
    logged_kv(&jlog, CJ_LOG_INFO, "execution", kv, nkv, line, sizeof(line));
    CHECK_STR(after_ts(line), "\"level\":\"info\",\"prog\":\"prog\",\"msg\":\"execution\",\"slug\":\"a\\nb\\uFFFD\","
                              "\"context\":null,\"path\":\"warm\",\"status\":-9,\"cpu_ms\":null,\"peak\":1234,"
                              "\"oom_killed\":false,\"limits\":{\"CPU\":2,\"NPROC\":8}}\n");
    jlog.level = CJ_LOG_ERROR;
    logged_kv(&jlog, CJ_LOG_INFO, "execution", kv, nkv, line, sizeof(line));
    CHECK_STR(line, "");

    return CHECK_DONE();
}
