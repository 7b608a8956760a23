/* What the sandbox user can reach, checked as that user: a file under a
 * directory only root may enter is out of reach by its host path, and within
 * reach through a bind of a directory below it; the message names the path.
 * Also the wrapper's line count: one sys.path line per python_path entry, as
 * the codejail library's wrapper has, so exec() moves down one line each. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "execdir.h"
#include "reach.h"

#define NOBODY 65534

static int exec_line(const char *text)
{
    int line = 1;
    for (const char *p = text; *p != '\0'; p++) {
        if (strncmp(p, "exec(code, g_dict)", 18) == 0 && (p == text || p[-1] == '\n'))
            return line;
        line += *p == '\n';
    }
    return -1;
}

int main(void)
{
    CHECK_INIT;
    /* The bytecode part (from #@BYTECODE_PART@ on) is cut out, and run from
     * the #@BYTECODE@ mark, on that line, when a frame came. */
    static const char tpl[] = "import sys\n#@SYS_PATH@\ncode = read()  #@BYTECODE@\n#@EXEC_CHECK@\n#@PYTHON_PATH@\n"
                              "exec(code, g_dict)\nend\n#@BYTECODE_PART@\nx = 'a\\b'\npart()\n";
    for (int n = 0; n <= CJ_EXECDIR_MAX_PATHS + 1; n = n < 3 ? n + 1 : CJ_EXECDIR_MAX_PATHS + 1) {
        cj_execdir_spec s = {.wrapper = tpl, .wrapper_len = sizeof(tpl) - 1, .zip_on_path = n};
        char *text = NULL;
        size_t len = 0;
        cj_err e = {0};
        int r = cj_execdir_render(&s, &text, &len, &e);
        if (n > CJ_EXECDIR_MAX_PATHS) {
            CHECK(r < 0 && e.errnum == E2BIG && text == NULL);
            break;
        }
        CHECK(r == 0 && text != NULL && strlen(text) == len);
        CHECK(text != NULL && exec_line(text) == 6 + n); /* line 6 of the template, one more per entry */
        CHECK(text != NULL && strstr(text, "BYTECODE") == NULL && strcmp(text + len - 5, "\nend\n") == 0);
        CHECK(text != NULL && strstr(text, "\ncode = read()  ; exec('x = \\'a\\\\b\\'\\npart()\\n') "
                                           "if _raw[:5] == b'\\0CJZ:' else None\n") != NULL);
        free(text);
    }
    if (geteuid() != 0) {
        fprintf(stderr, "test_reach: must run as root (it checks as uid %d)\n", NOBODY);
        return 1;
    }
    char top[] = "/tmp/cj-reach-XXXXXX";
    CHECK(mkdtemp(top) != NULL);
    CHECK(chmod(top, 0700) == 0);
    char sub[64], file[96];
    snprintf(sub, sizeof(sub), "%s/lib", top);
    snprintf(file, sizeof(file), "%s/lib/thing.so", top);
    CHECK(mkdir(sub, 0755) == 0);
    int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    CHECK(fd >= 0 && close(fd) == 0);
    cj_err err = {0};

    /* By its host path: /tmp/cj-reach-X is 0700, root's. */
    cj_reach host[] = {{"/usr/bin", NULL, X_OK, "a system path"}, {file, NULL, R_OK, "the library"}};
    CHECK(cj_reach_check(host, 1, NOBODY, NOBODY, &err) == 0);
    CHECK(cj_reach_check(host, 2, NOBODY, NOBODY, &err) < 0 && err.errnum == EACCES);
    CHECK(strstr(err.msg, file) != NULL && strstr(err.msg, "the library") != NULL);
    CHECK(strstr(err.msg, "uid 65534") != NULL);
    /* Root itself reaches it: the check is made as the user it names. */
    CHECK(cj_reach_check(host, 2, 0, 0, &err) == 0);

    /* Through a bind of lib/ (the sandbox's view): lib/ is 0755, so it is. */
    cj_reach bound[] = {{file, sub, R_OK, "the library"}, {file, file, R_OK, "the library"}};
    CHECK(cj_reach_check(bound, 2, NOBODY, NOBODY, &err) == 0);
    /* ... unless the file itself is closed to it. */
    CHECK(chmod(file, 0600) == 0);
    memset(&err, 0, sizeof(err));
    CHECK(cj_reach_check(bound, 1, NOBODY, NOBODY, &err) < 0 && err.errnum == EACCES);
    CHECK(cj_reach_check(bound + 1, 1, NOBODY, NOBODY, &err) < 0 && err.errnum == EACCES);
    /* A path not under its bind is a mistake, not a pass. */
    cj_reach wrong[] = {{"/usr/bin/env", sub, X_OK, "misplaced"}};
    CHECK(cj_reach_check(wrong, 1, NOBODY, NOBODY, &err) < 0 && err.errnum == EINVAL);

    unlink(file);
    rmdir(sub);
    rmdir(top);
    return CHECK_DONE();
}
