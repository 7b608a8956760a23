/* common/: the cgroup-parent rule, the file helpers and the log's line
 * shapes and level names. */
#include "cgroup_parent.h"
#include "files.h"
#include "log.h"

#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static bool parent_ok(const char *s) { return cj_cgroup_parent_valid(s, s ? strlen(s) : 0); }

/* What cj_log writes for one call, captured from stderr through a pipe. */
static void logged(const struct cj_log *log, enum cj_log_level level, const char *msg, char *out, size_t size)
{
    int p[2], saved = dup(STDERR_FILENO);
    if (saved < 0 || pipe2(p, O_CLOEXEC) < 0 || dup2(p[1], STDERR_FILENO) < 0)
        abort();
    cj_log(log, level, "%s", msg);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(p[1]);
    ssize_t n = read(p[0], out, size - 1);
    out[n > 0 ? n : 0] = '\0';
    close(p[0]);
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
    struct cj_log log = {CJ_LOG_INFO, "prog"};
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

    return CHECK_DONE();
}
