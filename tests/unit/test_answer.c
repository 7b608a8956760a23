/* cj_answer_globals: the input globals updated with the result as Python's
 * json.loads and dict.update see it, whatever the result holds. */
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "check.h"

static char got[4096];

static const char *run(const char *input, const char *result)
{
    char *out = NULL;
    size_t len = 0;
    enum cj_answer_status st =
        cj_answer_globals(input, strlen(input), result, result ? strlen(result) : 0, &out, &len);
    if (st == CJ_ANSWER_CORRUPT)
        snprintf(got, sizeof(got), "CORRUPT");
    else if (st != CJ_ANSWER_OK)
        snprintf(got, sizeof(got), "FAILED");
    else
        snprintf(got, sizeof(got), "%.*s", (int)len, out);
    free(out);
    return got;
}

int main(void)
{
    CHECK_INIT;
    /* The wrapper's own answer comes out byte for byte. */
    CHECK_STR(run("{\"x\": 16}", "{\"x\": 17, \"y\": [0, 1, 4, 9]}"), "{\"x\": 17, \"y\": [0, 1, 4, 9]}");
    CHECK_STR(run("{}", "{}"), "{}");
    CHECK_STR(run("{\"x\":16}", NULL), "{\"x\": 16}");
    /* dict.update: input order, then new keys; input keys the result omits stay. */
    CHECK_STR(run("{\"x\": 16, \"z\": 1}", "{\"a\": 1, \"x\": 2}"), "{\"x\": 2, \"z\": 1, \"a\": 1}");
    /* Repeats: first position, last value; keys compared decoded. */
    CHECK_STR(run("{}", "{\"a\": 1, \"a\": 2}"), "{\"a\": 2}");
    CHECK_STR(run("{}", "{\"a\": 1, \"b\": 2, \"a\": 3}"), "{\"a\": 3, \"b\": 2}");
    CHECK_STR(run("{}", "{\"a\": 1, \"\\u0061\": 2}"), "{\"a\": 2}");
    CHECK_STR(run("{\"a\": 0, \"a\": 9}", NULL), "{\"a\": 9}");
    CHECK_STR(run("{\"a\": 0}", "{\"a\": 1, \"a\": 2, \"a\": 3}"), "{\"a\": 3}");
    CHECK_STR(run("{}", "{\"d\": {\"k\": 1, \"k\": [{\"m\": 1, \"m\": 2}]}}"), "{\"d\": {\"k\": [{\"m\": 2}]}}");
    CHECK_STR(run("{}", "{\"ab\": 1, \"a\": 2, \"abc\": 3, \"a\": 4}"), "{\"ab\": 1, \"a\": 4, \"abc\": 3}");
    /* Lone surrogates drop their top-level entry, wherever they are; a pair is fine. */
    CHECK_STR(run("{\"s\": \"keep\"}", "{\"s\": \"\\ud800\"}"), "{\"s\": \"keep\"}");
    CHECK_STR(run("{}", "{\"t\": [\"\\udc00\"], \"u\": \"\\ud83d\\ude00\"}"), "{\"u\": \"\\ud83d\\ude00\"}");
    CHECK_STR(run("{}", "{\"\\ud800\": 1, \"e\": {\"\\udfff\": 1}, \"f\": \"\\ud800x\"}"), "{}");
    CHECK_STR(run("{}", "{\"a\": \"\\ud800\", \"a\": 1}"), "{\"a\": 1}");
    CHECK_STR(run("{}", "{\"a\": 1, \"a\": \"\\ud800\"}"), "{}");
    /* The input is the request's: kept as sent. */
    CHECK_STR(run("{\"s\": \"\\ud800\"}", "{}"), "{\"s\": \"\\ud800\"}");
    /* Scalars as written: Python's dialect, any size. */
    CHECK_STR(run("{}", "{\"n\": NaN, \"i\": -Infinity, \"b\": 123456789012345678901234567890, \"f\": 1.5E+400}"),
              "{\"n\": NaN, \"i\": -Infinity, \"b\": 123456789012345678901234567890, \"f\": 1.5E+400}");
    CHECK_STR(run("{}", " { \"a\" :1 ,\"b\":[ 1 ,2, [ ] ,{ } ] } \n"), "{\"a\": 1, \"b\": [1, 2, [], {}]}");
    CHECK_STR(run("{}", "{\"caf\xc3\xa9\": \"\\\"q\\\\\"}"), "{\"caf\xc3\xa9\": \"\\\"q\\\\\"}");
    /* Not one object: the contract's corrupted stdout. */
    CHECK_STR(run("{}", "[1]"), "CORRUPT");
    CHECK_STR(run("{}", "{\"a\": 1"), "CORRUPT");
    CHECK_STR(run("{}", "{} {}"), "CORRUPT");
    CHECK_STR(run("{}", ""), "CORRUPT");
    CHECK_STR(run("{}", "{\"a\": \"\xed\xa0\x80\"}"), "CORRUPT");
    /* Many repeats stay fast (sorted, not pairwise). */
    size_t n = 200000;
    char *big = malloc(n * 10 + 16), *p = big;
    *p++ = '{';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s\"k%zu\": 1", i ? ", " : "", i % 3);
    *p++ = '}';
    char *out = NULL;
    size_t len = 0;
    CHECK(cj_answer_globals("{}", 2, big, (size_t)(p - big), &out, &len) == CJ_ANSWER_OK);
    CHECK(out != NULL && strcmp(out, "{\"k0\": 1, \"k1\": 1, \"k2\": 1}") == 0);
    free(out);
    free(big);
    return CHECK_DONE();
}
