/* A tiny test harness: CHECK records a failure and goes on, so one run shows
 * every broken case; the summary line is the plain 'N passed, N failed' that
 * CI reads. */
#ifndef CJ_CHECK_H
#define CJ_CHECK_H

#include <stdio.h>
#include <string.h>

struct cj_check_state {
    int passed, failed;
};

#define CHECK_INIT struct cj_check_state cj_check_ = {0, 0}
#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            cj_check_.passed++;                                                       \
        } else {                                                                      \
            cj_check_.failed++;                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                             \
    } while (0)
#define CHECK_STR(got, want)                                                                  \
    do {                                                                                      \
        const char *g_ = (got), *w_ = (want);                                                 \
        if (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0) {                                \
            cj_check_.passed++;                                                               \
        } else {                                                                              \
            cj_check_.failed++;                                                               \
            fprintf(stderr, "%s:%d: got  [%s]\n%*swant [%s]\n", __FILE__, __LINE__,           \
                    g_ ? g_ : "(null)", (int)strlen(__FILE__) + 8, "", w_ ? w_ : "(null)"); \
        }                                                                                     \
    } while (0)
#define CHECK_DONE()                                                          \
    (printf("%d passed, %d failed\n", cj_check_.passed, cj_check_.failed),   \
     (cj_check_.failed == 0 && cj_check_.passed > 0) ? 0 : 1)

#endif
