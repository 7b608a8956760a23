/* Unit tests for http/form.c.  Bodies are built with sizeof so embedded NUL
 * bytes count; the split test hands the parser exact-size heap copies so a
 * sanitizer or valgrind run catches any read past the end. */
#include "form.h"

#include "check.h"

#include <stdlib.h>
#include <string.h>

/* check.h keeps its counters in a local called cj_check_; helpers share
 * main's through this pointer instead of a global. */
#define cj_check_ (*cj_check_p)
#define TEST(name) static void name(struct cj_check_state *cj_check_p)

/* A literal's bytes, embedded NULs included, without its terminator. */
#define LIT(s) s, sizeof(s) - 1

#define REQ_BOUNDARY "ee873506c0eaec8530f7eee0375746cb"
#define REQ_TYPE "multipart/form-data; boundary=" REQ_BOUNDARY
#define REQ_ZIP "PK\x03\x04\x00\r\n--ab\x00"
/* Exactly what requests 2.x sends for
 * requests.post(url, data={"payload": PAYLOAD},
 *               files={"python_lib.zip": ("python_lib.zip", REQ_ZIP)}). */
#define REQ_BODY                                                \
    "--" REQ_BOUNDARY "\r\n"                                    \
    "Content-Disposition: form-data; name=\"payload\"\r\n\r\n"  \
    "{\"code\": \"x = 1\", \"globals_dict\": {}}\r\n"           \
    "--" REQ_BOUNDARY "\r\n"                                    \
    "Content-Disposition: form-data; name=\"python_lib.zip\"; " \
    "filename=\"python_lib.zip\"\r\n\r\n" REQ_ZIP "\r\n"        \
    "--" REQ_BOUNDARY "--\r\n"

static int field_is(const cj_form *f, const char *name, const char *data, size_t len)
{
    const cj_form_field *x = cj_form_get(f, name);
    return x != NULL && x->len == len && memcmp(x->data, data, len) == 0 && x->data[len] == '\0';
}

static enum cj_form_status parse(const char *ct, const char *body, size_t len, cj_form *f,
                                 char *detail, size_t detail_len)
{
    return cj_form_parse(ct, ct ? strlen(ct) : 0, body, len, f, detail, detail_len);
}

static int is_empty(const cj_form *f)
{
    return f->fields == NULL && f->n == 0;
}

TEST(test_urlencoded)
{
    cj_form f;
    char d[64];
    CHECK(parse("application/x-www-form-urlencoded",
                LIT("&a=1&&b=hello+world&c=%41%62%zz%4&d&=v&k%3Dx=%2B&n=%00z&"), &f, d,
                sizeof(d)) == CJ_FORM_OK);
    CHECK(f.n == 7);
    CHECK(field_is(&f, "a", LIT("1")));
    CHECK(field_is(&f, "b", LIT("hello world")));
    CHECK(field_is(&f, "c", LIT("Ab%zz%4"))); /* bad escapes stay literal */
    CHECK(field_is(&f, "d", LIT("")));
    CHECK(field_is(&f, "", LIT("v")));
    CHECK(field_is(&f, "k=x", LIT("+")));
    CHECK(field_is(&f, "n", LIT("\0z")));
    CHECK(f.n == 7 && f.fields[0].filename == NULL && f.fields[2].name_len == 1);
    cj_form_free(&f);
    CHECK(is_empty(&f));
    cj_form_free(&f); /* a freed form is a zeroed form */

    CHECK(parse("Application/X-WWW-Form-URLEncoded ; charset=UTF-8", LIT("x=%e2%82%ac%"), &f, d,
                sizeof(d)) == CJ_FORM_OK);
    CHECK(field_is(&f, "x", LIT("\xe2\x82\xac%")));
    cj_form_free(&f);

    CHECK(parse("application/x-www-form-urlencoded", LIT(""), &f, d, sizeof(d)) == CJ_FORM_OK);
    CHECK(is_empty(&f));
}

TEST(test_get)
{
    cj_form f;
    char d[64];
    CHECK(parse("application/x-www-form-urlencoded", LIT("a=1&a=2&a%00b=3&ab=4"), &f, d,
                sizeof(d)) == CJ_FORM_OK);
    CHECK(field_is(&f, "a", LIT("1")));  /* the first of duplicates */
    CHECK(field_is(&f, "ab", LIT("4"))); /* "a\0b" is not "ab", nor "a" */
    CHECK(f.n == 4 && f.fields[2].name_len == 3);
    CHECK(cj_form_get(&f, "b") == NULL);
    CHECK(cj_form_get(&f, "") == NULL);
    CHECK(cj_form_get(NULL, "a") == NULL);
    cj_form_free(&f);
    cj_form zero = {0};
    CHECK(cj_form_get(&zero, "a") == NULL);
    cj_form_free(&zero);
    cj_form_free(NULL);
}

TEST(test_requests_body)
{
    cj_form f;
    char d[64];
    CHECK(parse(REQ_TYPE, LIT(REQ_BODY), &f, d, sizeof(d)) == CJ_FORM_OK);
    CHECK(f.n == 2);
    if (f.n != 2)
        return;
    CHECK_STR(f.fields[0].name, "payload");
    CHECK(f.fields[0].filename == NULL);
    CHECK(field_is(&f, "payload", LIT("{\"code\": \"x = 1\", \"globals_dict\": {}}")));
    CHECK_STR(f.fields[1].name, "python_lib.zip");
    CHECK_STR(f.fields[1].filename, "python_lib.zip");
    CHECK(field_is(&f, "python_lib.zip", LIT(REQ_ZIP)));
    cj_form_free(&f);
}

TEST(test_requests_empty_values)
{
    /* requests with data={"payload": "", "b": "x"}, files={"f": ("", b"")}. */
    static const char body[] =
        "--B\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n\r\n"
        "--B\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nx\r\n"
        "--B\r\nContent-Disposition: form-data; name=\"f\"; filename=\"\"\r\n"
        "\r\n\r\n--B--\r\n";
    cj_form f;
    char d[64];
    CHECK(parse("multipart/form-data; boundary=B", LIT(body), &f, d, sizeof(d)) == CJ_FORM_OK);
    CHECK(f.n == 3);
    CHECK(field_is(&f, "payload", LIT("")));
    CHECK(field_is(&f, "b", LIT("x")));
    CHECK(field_is(&f, "f", LIT("")));
    CHECK(f.n == 3 && f.fields[2].filename != NULL && f.fields[2].filename[0] == '\0');
    cj_form_free(&f);
}

TEST(test_binary_data)
{
    /* Only CRLF "--B" followed by "--", padding or a line end delimits:
     * everything else that looks like the boundary is data. */
#define TRICKY "\0\r\n--\r\n-B\n--B\r\n--B --BB\r\n--BX\r\n--B-\r\n--B \t x\r\r\n\r\n\0"
    static const char body[] = "preamble --B\r\n--BX\r\n"
                               "--B\r\ncontent-disposition: form-data; name=bin\r\n"
                               "Content-Type: application/octet-stream\r\n\r\n" TRICKY "\r\n"
                               "--B \t\r\nCONTENT-DISPOSITION:form-data;NAME=\"two\"\r\n\r\n2\r\n"
                               "--B--epilogue \r\n--B\r\n junk";
    cj_form f;
    char d[64];
    CHECK(parse("multipart/form-data; boundary=B", LIT(body), &f, d, sizeof(d)) == CJ_FORM_OK);
    CHECK(f.n == 2);
    CHECK(field_is(&f, "bin", LIT(TRICKY)));
    CHECK(field_is(&f, "two", LIT("2")));
    cj_form_free(&f);
#undef TRICKY
}

TEST(test_params)
{
    static const char body[] =
        "--x y\r\n"
        "Content-Disposition: form-data; filename=\"C:\\dir\\f.zip\"; name=\"a;b\\\"c\\\\\"\r\n"
        "\r\n1\r\n"
        "--x y\r\n"
        "Content-Disposition: form-data ; Name = tok ; FileName=\"q;\\\"\" ; name=other\r\n"
        "\r\n2\r\n"
        "--x y--";
    cj_form f;
    char d[64];
    CHECK(parse("Multipart/Form-Data; charset=\"utf-8\"; BOUNDARY=\"x y\"", LIT(body), &f, d,
                sizeof(d)) == CJ_FORM_OK);
    CHECK(f.n == 2);
    if (f.n != 2)
        return;
    CHECK_STR(f.fields[0].name, "a;b\"c\\");
    CHECK_STR(f.fields[0].filename, "C:\\dir\\f.zip"); /* bare backslashes survive */
    CHECK_STR(f.fields[1].name, "tok");
    CHECK_STR(f.fields[1].filename, "q;\"");
    CHECK(field_is(&f, "tok", LIT("2")));
    cj_form_free(&f);
}

TEST(test_lenient)
{
    /* Bare LF line ends, and an empty value whose CRLF doubles as the
     * delimiter's, are both accepted as Django accepts them. */
    static const char body[] = "--B\nContent-Disposition: form-data; name=a\n\nx\r\n"
                               "--B\r\nContent-Disposition: form-data; name=e\r\n\r\n--B--";
    cj_form f;
    char d[64];
    CHECK(parse("multipart/form-data; boundary=B", LIT(body), &f, d, sizeof(d)) == CJ_FORM_OK);
    CHECK(f.n == 2 && field_is(&f, "a", LIT("x")) && field_is(&f, "e", LIT("")));
    cj_form_free(&f);

    CHECK(parse("multipart/form-data; boundary=B", LIT("--B--"), &f, d, sizeof(d)) == CJ_FORM_OK);
    CHECK(is_empty(&f));
}

/* A macro, so a failure names the caller's line; the body and its length
 * come last so LIT() can supply both. */
#define EXPECT_MALFORMED(reason, ct, ...)                                        \
    do {                                                                         \
        cj_form f_;                                                              \
        char d_[128];                                                            \
        CHECK(parse(ct, __VA_ARGS__, &f_, d_, sizeof(d_)) == CJ_FORM_MALFORMED); \
        CHECK(is_empty(&f_));                                                    \
        CHECK_STR(d_, reason);                                                   \
    } while (0)

TEST(test_malformed)
{
    const char *mp = "multipart/form-data; boundary=B";
    const char *ok = "--B\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n";
    char body[256];
    snprintf(body, sizeof(body), "%s--B\r\nContent-Disposition: form-data; name=b\r\n\r\n2", ok);
    EXPECT_MALFORMED("multipart body has no closing boundary", mp, body, strlen(body));
    snprintf(body, sizeof(body), "%s--B\r\nContent-Disposition: form-data\r\n\r\n2\r\n--B--", ok);
    EXPECT_MALFORMED("multipart part has no name", mp, body, strlen(body));
    snprintf(body, sizeof(body),
             "%s--B\r\nContent-Disposition: form-data; filename=\"n\"\r\n\r\n"
             "\r\n--B--",
             ok);
    EXPECT_MALFORMED("multipart part has no name", mp, body, strlen(body));
    snprintf(body, sizeof(body), "%s--B\r\n\r\n2\r\n--B--", ok);
    EXPECT_MALFORMED("multipart part has no name", mp, body, strlen(body));
    snprintf(body, sizeof(body), "%s--B\r\nContent-Disposition: form-data; name=a\r\n--B--\r\n",
             ok);
    EXPECT_MALFORMED("multipart part has no blank line after its headers", mp, body, strlen(body));
    snprintf(body, sizeof(body),
             "%s--B\r\nContent-Disposition: form-data; name=\"a\r\n\r\n\r\n"
             "--B--",
             ok);
    EXPECT_MALFORMED("malformed multipart Content-Disposition", mp, body, strlen(body));
    EXPECT_MALFORMED("multipart Content-Type has no boundary", "multipart/form-data", ok,
                     strlen(ok));
    EXPECT_MALFORMED("multipart Content-Type has no boundary",
                     "multipart/form-data; charset=utf-8; boundary=\"\"", ok, strlen(ok));
    EXPECT_MALFORMED("multipart Content-Type has no boundary", "multipart/form-data; boundary=", ok,
                     strlen(ok));
    EXPECT_MALFORMED("malformed Content-Type parameters", "multipart/form-data; boundary=\"B", ok,
                     strlen(ok));
    EXPECT_MALFORMED("invalid multipart boundary", "multipart/form-data; boundary=\"a\rb\"", ok,
                     strlen(ok));
    EXPECT_MALFORMED("multipart body is empty", mp, LIT(""));
    EXPECT_MALFORMED("multipart body has no boundary", mp, LIT("x=1"));
    EXPECT_MALFORMED("multipart part headers are truncated", mp,
                     LIT("--B\r\nContent-Disposition: form-data; name=a\r\n"));
}

TEST(test_unsupported)
{
    cj_form f;
    char d[64];
    CHECK(parse("application/json", LIT("{}"), &f, d, sizeof(d)) == CJ_FORM_UNSUPPORTED);
    CHECK_STR(d, "application/json");
    CHECK(is_empty(&f));
    CHECK(parse(" Text/Plain ; charset=utf-8", LIT("x"), &f, d, sizeof(d)) == CJ_FORM_UNSUPPORTED);
    CHECK_STR(d, "Text/Plain"); /* as the client sent it, for the 415 message */
    CHECK(parse("multipart/mixed; boundary=B", LIT("--B--"), &f, d, sizeof(d)) ==
          CJ_FORM_UNSUPPORTED);
    CHECK_STR(d, "multipart/mixed");
    CHECK(parse("application/json", LIT("{}"), &f, d, 5) == CJ_FORM_UNSUPPORTED);
    CHECK_STR(d, "appl"); /* truncated, still terminated */
    CHECK(cj_form_parse("application/json", 16, "{}", 2, &f, NULL, 0) == CJ_FORM_UNSUPPORTED);

    CHECK(parse(NULL, LIT(""), &f, d, sizeof(d)) == CJ_FORM_OK);
    CHECK(is_empty(&f));
    CHECK(parse(NULL, NULL, 0, &f, d, sizeof(d)) == CJ_FORM_OK);
    CHECK(parse("", LIT(""), &f, d, sizeof(d)) == CJ_FORM_OK);
    CHECK(parse(NULL, LIT("a=1"), &f, d, sizeof(d)) == CJ_FORM_UNSUPPORTED);
    CHECK_STR(d, "");
    CHECK(is_empty(&f));
    CHECK(parse(" ; charset=utf-8", LIT("a=1"), &f, d, sizeof(d)) == CJ_FORM_UNSUPPORTED);
    CHECK_STR(d, "");
}

TEST(test_field_limit)
{
    cj_form f;
    char d[64];
    size_t len = 1001 * 2;
    char *body = malloc(len);
    CHECK(body != NULL);
    if (body == NULL)
        return;
    for (size_t i = 0; i < len; i += 2)
        memcpy(body + i, "a&", 2);
    CHECK(parse("application/x-www-form-urlencoded", body, len - 2, &f, d, sizeof(d)) ==
          CJ_FORM_OK);
    CHECK(f.n == 1000);
    cj_form_free(&f);
    EXPECT_MALFORMED("too many form fields", "application/x-www-form-urlencoded", body, len);
    free(body);

    const char *part = "--B\r\nContent-Disposition: form-data; name=f\r\n\r\nv\r\n";
    size_t pl = strlen(part), n = 0;
    char *mp = malloc(1001 * pl + 5);
    CHECK(mp != NULL);
    if (mp == NULL)
        return;
    for (int i = 0; i < 1001; i++, n += pl)
        memcpy(mp + n, part, pl);
    memcpy(mp + n, "--B--", 5);
    EXPECT_MALFORMED("too many form fields", "multipart/form-data; boundary=B", mp, n + 5);
    CHECK(parse("multipart/form-data; boundary=B", mp + pl, n + 5 - pl, &f, d, sizeof(d)) ==
          CJ_FORM_OK);
    CHECK(f.n == 1000);
    cj_form_free(&f);
    free(mp);
}

/* Every prefix of a valid body is either the whole form (once the close
 * delimiter is in it) or MALFORMED with nothing left allocated. */
TEST(test_split_anywhere)
{
    /* Boundary-like text that is not "CRLF--boundary CRLF" stays data. */
#define SPLIT_ZIP REQ_ZIP "\r\n--" REQ_BOUNDARY "x\n--" REQ_BOUNDARY "\r\n"
    static const char body[] = "preamble\r\n--" REQ_BOUNDARY "\r\n"
                               "Content-Disposition: form-data; name=\"payload\"\r\n\r\n"
                               "{\"code\": \"print(1)\"}\r\n"
                               "--" REQ_BOUNDARY "\r\n"
                               "Content-Disposition: form-data; name=\"empty\"\r\n\r\n\r\n"
                               "--" REQ_BOUNDARY "\r\n"
                               "Content-Disposition: form-data; name=\"python_lib.zip\"; "
                               "filename=\"python_lib.zip\"\r\nContent-Type: application/zip\r\n"
                               "\r\n" SPLIT_ZIP "\r\n--" REQ_BOUNDARY "--\r\nepilogue";
    size_t total = sizeof(body) - 1;
    const char *closing = "\r\n--" REQ_BOUNDARY "--";
    size_t complete = (size_t)((const char *)memmem(body, total, closing, strlen(closing)) - body) +
                      strlen(closing);
    int crashes_or_wrong = 0;
    for (size_t len = 0; len <= total; len++) {
        char *copy = malloc(len ? len : 1);
        if (copy == NULL)
            break;
        memcpy(copy, body, len);
        cj_form f;
        char d[64];
        enum cj_form_status st = parse(REQ_TYPE, copy, len, &f, d, sizeof(d));
        if (len >= complete) {
            int good = st == CJ_FORM_OK && f.n == 3 &&
                       field_is(&f, "payload", LIT("{\"code\": \"print(1)\"}")) &&
                       field_is(&f, "empty", LIT("")) &&
                       field_is(&f, "python_lib.zip", LIT(SPLIT_ZIP));
            crashes_or_wrong += !good;
        } else {
            crashes_or_wrong += st != CJ_FORM_MALFORMED || !is_empty(&f);
        }
        cj_form_free(&f);
        free(copy);
    }
    CHECK(crashes_or_wrong == 0);
#undef SPLIT_ZIP
}

/* Millions of near-delimiters in one part must not make the search
 * quadratic: linear, this takes well under a second even sanitized. */
TEST(test_large_body)
{
    const char *head = "--B\r\nContent-Disposition: form-data; name=big\r\n\r\n";
    const char *tail = "\r\n--B--";
    size_t reps = 2u << 20, unit = 6, hl = strlen(head), tl = strlen(tail);
    size_t len = hl + reps * unit + tl;
    char *body = malloc(len);
    CHECK(body != NULL);
    if (body == NULL)
        return;
    memcpy(body, head, hl);
    for (size_t i = 0; i < reps; i++)
        memcpy(body + hl + i * unit, "\r\n--Bx", unit);
    memcpy(body + len - tl, tail, tl);
    cj_form f;
    char d[64];
    CHECK(parse("multipart/form-data; boundary=B", body, len, &f, d, sizeof(d)) == CJ_FORM_OK);
    CHECK(f.n == 1 && f.fields[0].len == reps * unit);
    cj_form_free(&f);
    free(body);
}

int main(void)
{
    struct cj_check_state state = {0, 0};
    struct cj_check_state *cj_check_p = &state;
    test_urlencoded(cj_check_p);
    test_get(cj_check_p);
    test_requests_body(cj_check_p);
    test_requests_empty_values(cj_check_p);
    test_binary_data(cj_check_p);
    test_params(cj_check_p);
    test_lenient(cj_check_p);
    test_malformed(cj_check_p);
    test_unsupported(cj_check_p);
    test_field_limit(cj_check_p);
    test_split_anywhere(cj_check_p);
    test_large_body(cj_check_p);
    return CHECK_DONE();
}
