/* cj_log_field: one token, one line, bounded, whatever the request held. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "logfield.h"

static const char *field(char *buf, const char *s)
{
    return cj_log_field(buf, s, strlen(s));
}

int main(void)
{
    CHECK_INIT;
    char b[CJ_LOG_FIELD_BUF];
    CHECK_STR(cj_log_field(b, NULL, 0), "-");
    CHECK_STR(field(b, ""), "\"\"");
    CHECK_STR(field(b, "course-v1:edX+DemoX+Demo/problem/1"), "\"course-v1:edX+DemoX+Demo/problem/1\"");
    CHECK_STR(field(b, "a\nb\rc\td"), "\"a\\nb\\rc\\td\"");
    CHECK_STR(field(b, "q\"b\\"), "\"q\\\"b\\\\\"");
    CHECK_STR(field(b, "\x1b[2J\x7f\x01"), "\"\\x1B[2J\\x7F\\x01\"");
    CHECK_STR(cj_log_field(b, "a\0b", 3), "\"a\\x00b\"");
    /* Valid UTF-8 stays readable; what is not UTF-8 is spelt byte by byte. */
    CHECK_STR(field(b, "caf\xc3\xa9 \xe2\x82\xac"), "\"caf\xc3\xa9 \xe2\x82\xac\"");
    CHECK_STR(field(b, "\xff\xc3(\xed\xa0\x80\xc0\xaf"), "\"\\xFF\\xC3(\\xED\\xA0\\x80\\xC0\\xAF\"");
    /* C1 CSI, line separator, bidi override, BOM: acted on, not shown. */
    CHECK_STR(field(b, "\xc2\x9b\xe2\x80\xa8\xe2\x80\xae\xef\xbb\xbf"), "\"\\u009B\\u2028\\u202E\\uFEFF\"");

    /* Capped: CJ_LOG_FIELD_MAX escaped bytes, never half an escape or a
     * character, then the whole length. */
    size_t n = 100000;
    char *big = malloc(n);
    memset(big, 'f', n);
    cj_log_field(b, big, n);
    CHECK(strlen(b) == 1 + CJ_LOG_FIELD_MAX + 1 + strlen("[cut: 100000 bytes]"));
    CHECK(strcmp(b + strlen(b) - strlen("\"[cut: 100000 bytes]"), "\"[cut: 100000 bytes]") == 0);
    memset(big, '\n', n);
    cj_log_field(b, big, n);
    CHECK(strlen(b) == 1 + CJ_LOG_FIELD_MAX + 1 + strlen("[cut: 100000 bytes]"));
    for (size_t i = 0; i < n; i += 2)
        memcpy(big + i, "\xc3\xa9", 2);
    cj_log_field(b, big, n);
    CHECK(strstr(b, "\xc3\"") == NULL); /* no character cut in half */
    CHECK(strlen(b) <= CJ_LOG_FIELD_BUF - 1);
    memset(big, '\n', n); /* 1 + 2 * 99 bytes fit; one more escape would not */
    big[0] = 'a';
    cj_log_field(b, big, 300);
    CHECK(strlen(b) == 1 + 199 + 1 + strlen("[cut: 300 bytes]"));
    free(big);
    /* Nothing but printable ASCII and UTF-8 ever comes out. */
    for (int c = 0; c < 256; c++) {
        char in[1] = {(char)c};
        cj_log_field(b, in, 1);
        for (const unsigned char *p = (const unsigned char *)b; *p; p++)
            CHECK(*p >= 0x20 && *p < 0x7f);
    }

    /* JSON: a JSON string, valid UTF-8, whatever the bytes; the cut mark
     * inside it. */
    CHECK_STR(cj_log_field_as(CJ_LOG_JSON, b, NULL, 0), "null");
    CHECK_STR(cj_log_field_as(CJ_LOG_JSON, b, "q\"b\\\n\x01\x7f", 7), "\"q\\\"b\\\\\\n\\u0001\\u007F\"");
    CHECK_STR(cj_log_field_as(CJ_LOG_JSON, b, "caf\xc3\xa9\xff\xed\xa0\x80\xe2\x80\xae", 12),
              "\"caf\xc3\xa9\\uFFFD\\uFFFD\\uFFFD\\uFFFD\\u202E\"");
    big = malloc(n);
    memset(big, '\x01', n);
    cj_log_field_as(CJ_LOG_JSON, b, big, n);
    CHECK(strlen(b) == 1 + CJ_LOG_FIELD_MAX / 6 * 6 + strlen("[cut: 100000 bytes]") + 1);
    CHECK(strcmp(b + strlen(b) - strlen("\\u0001[cut: 100000 bytes]\""), "\\u0001[cut: 100000 bytes]\"") == 0);
    free(big);
    for (int c = 0; c < 256; c++) {
        char in[1] = {(char)c};
        cj_log_field_as(CJ_LOG_JSON, b, in, 1);
        for (const unsigned char *p = (const unsigned char *)b; *p; p++)
            CHECK(*p >= 0x20 && *p < 0x7f);
    }
    return CHECK_DONE();
}
