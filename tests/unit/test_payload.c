/* Unit tests for http/payload.c.  The expected messages were produced by
 * Python itself: json.loads under /usr/bin/python3 (3.11) for the parse
 * errors, and jsonschema's best_match (4.26; same ranking as the 4.23 the
 * Django service pins) for the schema errors, so a mismatch here is a
 * divergence from the service we replace.  Every input is copied into an
 * exactly sized heap buffer so AddressSanitizer catches any over-read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "payload.h"

struct msg_case {
    const char *in; /* sizeof-1 gives the length, so embedded NULs count */
    size_t len;
    const char *want;
};
#define C(in, want) {in, sizeof(in) - 1, want}

/* Detail texts after "Unable to parse payload JSON: ". */
static const struct msg_case json_errors[] = {
    C("", "Expecting value: line 1 column 1 (char 0)"),
    C("   ", "Expecting value: line 1 column 4 (char 3)"),
    C("\n\n  x", "Expecting value: line 3 column 3 (char 4)"),
    C("\r\n\t", "Expecting value: line 2 column 2 (char 3)"),
    C("[", "Expecting value: line 1 column 2 (char 1)"),
    C("[1,]", "Expecting value: line 1 column 4 (char 3)"),
    C("[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)"),
    C("[1,,2]", "Expecting value: line 1 column 4 (char 3)"),
    C("{", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    C("{\"a\" 1}", "Expecting ':' delimiter: line 1 column 6 (char 5)"),
    C("{\"a\":1,}", "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)"),
    C("{1:2}", "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    C("{\"a\":}", "Expecting value: line 1 column 6 (char 5)"),
    C("{\"a\":1 \"b\":2}", "Expecting ',' delimiter: line 1 column 8 (char 7)"),
    C("{\"a\"", "Expecting ':' delimiter: line 1 column 5 (char 4)"),
    C("{\"a\":", "Expecting value: line 1 column 6 (char 5)"),
    C("{\"a\":1", "Expecting ',' delimiter: line 1 column 7 (char 6)"),
    C("[1", "Expecting ',' delimiter: line 1 column 3 (char 2)"),
    C("\"abc", "Unterminated string starting at: line 1 column 1 (char 0)"),
    C("\"a\\", "Unterminated string starting at: line 1 column 1 (char 0)"),
    C("\"\001\"", "Invalid control character at: line 1 column 2 (char 1)"),
    C("\"tab\tin\"", "Invalid control character at: line 1 column 5 (char 4)"),
    C("\"\\x\"", "Invalid \\escape: line 1 column 2 (char 1)"),
    C("\"\\\n\"", "Invalid \\escape: line 1 column 2 (char 1)"),
    C("\"\\u12\"", "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
    C("\"\\u12", "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
    C("\"\\u1234", "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
    C("\"\\u12G4\"", "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
    C("\"\\ud800\\u12\"", "Invalid \\uXXXX escape: line 1 column 9 (char 8)"),
    C("\"\\ud800\\udc00", "Invalid \\uXXXX escape: line 1 column 9 (char 8)"),
    C("\"\\u", "Invalid \\uXXXX escape: line 1 column 3 (char 2)"),
    C("1 2", "Extra data: line 1 column 3 (char 2)"),
    C("[] x", "Extra data: line 1 column 4 (char 3)"),
    C("{} {}", "Extra data: line 1 column 4 (char 3)"),
    C("1.", "Extra data: line 1 column 2 (char 1)"),
    C("01", "Extra data: line 1 column 2 (char 1)"),
    C("1e", "Extra data: line 1 column 2 (char 1)"),
    C("1e+", "Extra data: line 1 column 2 (char 1)"),
    C("1.5e", "Extra data: line 1 column 4 (char 3)"),
    C("-", "Expecting value: line 1 column 1 (char 0)"),
    C("-x", "Expecting value: line 1 column 1 (char 0)"),
    C("--1", "Expecting value: line 1 column 1 (char 0)"),
    C("nul", "Expecting value: line 1 column 1 (char 0)"),
    C("tru", "Expecting value: line 1 column 1 (char 0)"),
    C("fals", "Expecting value: line 1 column 1 (char 0)"),
    C("NaNx", "Extra data: line 1 column 4 (char 3)"),
    C("Infinit", "Expecting value: line 1 column 1 (char 0)"),
    C("-Inf", "Expecting value: line 1 column 1 (char 0)"),
    C("+1", "Expecting value: line 1 column 1 (char 0)"),
    C(".5", "Expecting value: line 1 column 1 (char 0)"),
    C("true false", "Extra data: line 1 column 6 (char 5)"),
    C("[\000]", "Expecting value: line 1 column 2 (char 1)"),
    C("\"a\000\"", "Invalid control character at: line 1 column 3 (char 2)"),
    C("[\"\303\251\", x]", "Expecting value: line 1 column 7 (char 6)"),
    C("\"\346\227\245\346\234\254\" x", "Extra data: line 1 column 6 (char 5)"),
    C("[\"\360\237\230\200\",\n \"\303\251\" 1]", "Expecting ',' delimiter: line 2 column 6 (char 11)"),
    C("\357\273\277{}", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"),
    C("{\"code\": \"a\", \"globals_dict\": {}} extra", "Extra data: line 1 column 35 (char 34)"),
    C("{\n  \"code\": \"print(1)\",\n  \"globals_dict\": {\"x\": [1, 2,]}\n}", "Expecting value: line 3 column 31 (char 54)"),
    C("{\n  \"code\": \"a\nb\"}", "Invalid control character at: line 2 column 13 (char 14)"),
    C("{\"code\": \"\\q\"}", "Invalid \\escape: line 1 column 11 (char 10)"),
    C("[1,\n2\n,\n]", "Expecting value: line 4 column 1 (char 8)"),
    C("{\"a\":1}\n\n}", "Extra data: line 3 column 1 (char 9)"),
    C("[NaN, Infinity, -Infinity, -Infinityx]", "Expecting ',' delimiter: line 1 column 37 (char 36)"),
    C("[\"a\" \"b\"]", "Expecting ',' delimiter: line 1 column 6 (char 5)"),
    C("{\"a\":\"b\",}", "Expecting property name enclosed in double quotes: line 1 column 10 (char 9)"),
    C("{\"a\" : 1 , \"b\" : }", "Expecting value: line 1 column 18 (char 17)"),
    C("[1e5e5]", "Expecting ',' delimiter: line 1 column 5 (char 4)"),
    C("[0x10]", "Expecting ',' delimiter: line 1 column 3 (char 2)"),
    C("[1.e3]", "Expecting ',' delimiter: line 1 column 3 (char 2)"),
    C("[-0.5.5]", "Expecting ',' delimiter: line 1 column 6 (char 5)"),
    C("\t\n  {\"\303\251\303\251\": 1,\n\t\"\346\227\245\": 'x'}", "Expecting value: line 3 column 7 (char 20)"),
    C("\"\377\"", "Invalid UTF-8 at line 1 column 2 (char 1)"),
    C("\303", "Invalid UTF-8 at line 1 column 1 (char 0)"),
    C("[\"\303\251\",\n\"\342\202\"]", "Invalid UTF-8 at line 2 column 2 (char 7)"),
    C("\"\300\257\"", "Invalid UTF-8 at line 1 column 2 (char 1)"),
    C("\"\355\240\200\"", "Invalid UTF-8 at line 1 column 2 (char 1)"),
    C("\"\364\220\200\200\"", "Invalid UTF-8 at line 1 column 2 (char 1)"),
    C("\"\370\"", "Invalid UTF-8 at line 1 column 2 (char 1)"),
    C("\200", "Invalid UTF-8 at line 1 column 1 (char 0)"),
    C("[\"\346\227\245\346\234\254\",\n\n \"\360\237\230\"]", "Invalid UTF-8 at line 3 column 3 (char 10)"),
    C("{\"code\": \"a\351\"}", "Invalid UTF-8 at line 1 column 12 (char 11)"),
};

/* Texts after "Payload JSON did not match schema ". */
static const struct msg_case schema_errors[] = {
    C("5", "at path $: 5 is not of type 'object'"),
    C("1.5", "at path $: 1.5 is not of type 'object'"),
    C("\"abc\"", "at path $: 'abc' is not of type 'object'"),
    C("[1, \"a\"]", "at path $: [1, 'a'] is not of type 'object'"),
    C("null", "at path $: None is not of type 'object'"),
    C("true", "at path $: True is not of type 'object'"),
    C("false", "at path $: False is not of type 'object'"),
    C("NaN", "at path $: nan is not of type 'object'"),
    C("-Infinity", "at path $: -inf is not of type 'object'"),
    C("Infinity", "at path $: inf is not of type 'object'"),
    C("1e400", "at path $: inf is not of type 'object'"),
    C("-1e400", "at path $: -inf is not of type 'object'"),
    C("1.0E2", "at path $: 100.0 is not of type 'object'"),
    C("-0", "at path $: 0 is not of type 'object'"),
    C("-0.0", "at path $: -0.0 is not of type 'object'"),
    C("1e16", "at path $: 1e+16 is not of type 'object'"),
    C("1e15", "at path $: 1000000000000000.0 is not of type 'object'"),
    C("1.5e-7", "at path $: 1.5e-07 is not of type 'object'"),
    C("0.0001", "at path $: 0.0001 is not of type 'object'"),
    C("0.00001", "at path $: 1e-05 is not of type 'object'"),
    C("12345678901234567890", "at path $: 12345678901234567890 is not of type 'object'"),
    C("\"it's\"", "at path $: \"it's\" is not of type 'object'"),
    C("\"both ' and \\\"\"", "at path $: 'both \\' and \"' is not of type 'object'"),
    C("\"a\\nb\\t\\r\\u0000\\u001f\\u007f\\\\\"", "at path $: 'a\\nb\\t\\r\\x00\\x1f\\x7f\\\\' is not of type 'object'"),
    C("[[], {}, [[]]]", "at path $: [[], {}, [[]]] is not of type 'object'"),
    C("{\"a\": {\"b\": [1, 2.5, null]}}", "at path $: 'code' is a required property"),
    C("{}", "at path $: 'code' is a required property"),
    C("{\"code\": \"\"}", "at path $: 'globals_dict' is a required property"),
    C("{\"globals_dict\": {}}", "at path $: 'code' is a required property"),
    C("{\"globals\": {}, \"Code\": \"\"}", "at path $: 'code' is a required property"),
    C("{\"code\": 5, \"globals_dict\": {}}", "at path $.code: 5 is not of type 'string'"),
    C("{\"code\": \"\", \"globals_dict\": []}", "at path $.globals_dict: [] is not of type 'object'"),
    C("{\"code\": \"\", \"globals_dict\": \"x\"}", "at path $.globals_dict: 'x' is not of type 'object'"),
    C("{\"code\": \"\", \"globals_dict\": null}", "at path $.globals_dict: None is not of type 'object'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": 1}", "at path $.unsafely: 1 is not of type 'boolean'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": null}", "at path $.unsafely: None is not of type 'boolean'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": \"true\"}", "at path $.unsafely: 'true' is not of type 'boolean'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"python_path\": 5}", "at path $.python_path: 5 is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"python_path\": {}}", "at path $.python_path: {} is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"python_path\": \"python_lib.zip\"}", "at path $.python_path: 'python_lib.zip' is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"python_path\": [1]}", "at path $.python_path[0]: 1 is not of type 'string'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"python_path\": [\"a\", null]}", "at path $.python_path[1]: None is not of type 'string'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"python_path\": [\"a\", \"b\", [1, \"x\"], 2]}", "at path $.python_path[2]: [1, 'x'] is not of type 'string'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"limit_overrides_context\": 5}", "at path $.limit_overrides_context: 5 is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"limit_overrides_context\": false}", "at path $.limit_overrides_context: False is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"slug\": []}", "at path $.slug: [] is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"slug\": false}", "at path $.slug: False is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"slug\": {\"k\": \"v\"}}", "at path $.slug: {'k': 'v'} is not valid under any of the given schemas"),
    C("{\"code\": 5, \"globals_dict\": 5}", "at path $.globals_dict: 5 is not of type 'object'"),
    C("{\"code\": 5, \"globals_dict\": {}, \"limit_overrides_context\": 5}", "at path $.limit_overrides_context: 5 is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": 5, \"limit_overrides_context\": 5}", "at path $.limit_overrides_context: 5 is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": 5, \"python_path\": 5}", "at path $.python_path: 5 is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"python_path\": 5, \"limit_overrides_context\": 5}", "at path $.python_path: 5 is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"python_path\": [5], \"limit_overrides_context\": 5}", "at path $.python_path[0]: 5 is not of type 'string'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"python_path\": [5], \"slug\": 5}", "at path $.slug: 5 is not valid under any of the given schemas"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"slug\": 5, \"unsafely\": 5}", "at path $.unsafely: 5 is not of type 'boolean'"),
    C("{\"unsafely\": 5, \"slug\": 5, \"python_path\": 5, \"limit_overrides_context\": 5, \"globals_dict\": 5, \"code\": 5}", "at path $.unsafely: 5 is not of type 'boolean'"),
    C("{\"unsafely\": 5, \"code\": 5}", "at path $: 'globals_dict' is a required property"),
    C("{\"globals_dict\": 5, \"unsafely\": 5}", "at path $: 'code' is a required property"),
    C("{\"code\": \"x\", \"code\": 5, \"globals_dict\": {}}", "at path $.code: 5 is not of type 'string'"),
    C("{\"co\\u0064e\": 5, \"globals_dict\": {}}", "at path $.code: 5 is not of type 'string'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"globals_dict\": 1}", "at path $.globals_dict: 1 is not of type 'object'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": \"it's\"}", "at path $.unsafely: \"it's\" is not of type 'boolean'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": \"a\\\"b'c\"}", "at path $.unsafely: 'a\"b\\'c' is not of type 'boolean'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": \"\\u0000\\u001f\\u007f\\t\\n\\r\\\\\\/\"}", "at path $.unsafely: '\\x00\\x1f\\x7f\\t\\n\\r\\\\/' is not of type 'boolean'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": \"\303\251\346\227\245\346\234\254\360\237\230\200\"}", "at path $.unsafely: '\303\251\346\227\245\346\234\254\360\237\230\200' is not of type 'boolean'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": \"\\u00e9\\ud83d\\ude00\\u00a0\\u2028\\ud800\\udc00x\\udfff\"}", "at path $.unsafely: '\303\251\360\237\230\200\\xa0\\u2028\360\220\200\200x\\udfff' is not of type 'boolean'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": [NaN, Infinity, -Infinity, 1E2, 2e-3, -0, 0.5]}", "at path $.unsafely: [nan, inf, -inf, 100.0, 0.002, 0, 0.5] is not of type 'boolean'"),
    C("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": {\"k\": [true, false, null], \"\303\251\": \"v\"}}", "at path $.unsafely: {'k': [True, False, None], '\303\251': 'v'} is not of type 'boolean'"),
    C(" \n{\"code\": 1}\n ", "at path $: 'globals_dict' is a required property"),
    C("[[[[[]]]]]", "at path $: [[[[[]]]]] is not of type 'object'"),
};

static char *copy(const char *s, size_t n)
{
    char *b = malloc(n ? n : 1);
    if (b && n)
        memcpy(b, s, n);
    return b;
}

static enum cj_payload_status parse_n(const char *s, size_t n, cj_payload *p, char *msg, size_t cap)
{
    char *b = copy(s, n);
    enum cj_payload_status rc = cj_payload_parse(b, n, p, msg, cap);
    /* The spans point into b: map them back into s for the comparisons. */
    if (rc == CJ_PAYLOAD_OK) {
        p->code_json.p = p->code_json.p ? s + (p->code_json.p - b) : NULL;
        p->globals_json.p = p->globals_json.p ? s + (p->globals_json.p - b) : NULL;
    }
    free(b);
    return rc;
}

static enum cj_payload_status parse(const char *s, cj_payload *p, char *msg, size_t cap)
{
    return parse_n(s, strlen(s), p, msg, cap);
}

static int validate_n(const char *s, size_t n, int want_object)
{
    char *b = copy(s, n);
    int rc = cj_json_validate(b, n, want_object);
    free(b);
    return rc;
}

static int validate(const char *s, int want_object)
{
    return validate_n(s, strlen(s), want_object);
}

static int span_is(cj_span sp, const char *text, const char *want)
{
    const char *at = strstr(text, want);
    return at && sp.p == at && sp.len == strlen(want);
}

int main(void)
{
    CHECK_INIT;
    char msg[1024], want[1024];
    cj_payload p;

    /* ---- parse errors: Python's messages, positions in code points ---- */
    for (size_t i = 0; i < sizeof json_errors / sizeof json_errors[0]; i++) {
        const struct msg_case *c = &json_errors[i];
        snprintf(want, sizeof want, "Unable to parse payload JSON: %s", c->want);
        CHECK(parse_n(c->in, c->len, &p, msg, sizeof msg) == CJ_PAYLOAD_NOT_JSON);
        CHECK_STR(msg, want);
        CHECK(p.code_json.p == NULL && p.context == NULL && p.slug == NULL);
        CHECK(validate_n(c->in, c->len, 0) != 0);
    }

    /* ---- schema errors, jsonschema's best_match order ---- */
    for (size_t i = 0; i < sizeof schema_errors / sizeof schema_errors[0]; i++) {
        const struct msg_case *c = &schema_errors[i];
        snprintf(want, sizeof want, "Payload JSON did not match schema %s", c->want);
        CHECK(parse_n(c->in, c->len, &p, msg, sizeof msg) == CJ_PAYLOAD_SCHEMA);
        CHECK_STR(msg, want);
        CHECK(p.context == NULL && p.slug == NULL && p.code_json.p == NULL);
        CHECK(validate_n(c->in, c->len, 0) == 0);
    }

    /* Long reprs are cut at 200 characters plus "..." (our choice; Python
     * prints them whole): 200 exactly is kept, 201 is cut. */
    {
        static const struct {
            const char *open, *item, *sep, *close;
            int count;
            const char *repr_open; /* then `keep` characters of the items */
            int keep;
            const char *tail;
        } longs[] = {
            {"\"", "x", "", "\"", 198, "'", 198, "'"},
            {"\"", "x", "", "\"", 199, "'", 199, "..."},
            {"\"", "x", "", "\"", 300, "'", 199, "..."},
            {"[", "1", ", ", "]", 120, "[", 199, "..."},
            {"", "9", "", "", 250, "", 200, "..."},
        };
        char items[1024], text[2048];
        for (size_t i = 0; i < sizeof longs / sizeof longs[0]; i++) {
            size_t o = 0;
            for (int k = 0; k < longs[i].count; k++)
                o += (size_t)snprintf(items + o, sizeof items - o, "%s%s", k ? longs[i].sep : "",
                                      longs[i].item);
            snprintf(text, sizeof text, "{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": %s%s%s}",
                     longs[i].open, items, longs[i].close);
            snprintf(want, sizeof want,
                     "Payload JSON did not match schema at path $.unsafely: %s%.*s%s is not of type "
                     "'boolean'",
                     longs[i].repr_open, longs[i].keep, items, longs[i].tail);
            CHECK(parse(text, &p, msg, sizeof msg) == CJ_PAYLOAD_SCHEMA);
            CHECK_STR(msg, want);
        }
    }

    /* ---- a full valid payload: spans byte for byte, decoded fields ---- */
    {
#define CODE "\"import math\\nprint(\\\"h\\u00e9\\\")\\t# \xc3\xa9 \xf0\x9f\x98\x80 \\/\""
#define GLOBALS                                                                          \
    "{\"big\": 123456789012345678901234567890123456789, \"nan\": NaN, \"inf\": Infinity, " \
    "\"ninf\": -Infinity, \"f\": -1.5e-300, \"z\": -0, \"nest\": [[{\"x\": [true, false, "   \
    "null, {}]}], []], \"s\": \"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000\\ud800\\udfff\", "        \
    "\"dup\": 1, \"dup\": 2, \"\xe6\x97\xa5\": \"\xe6\x9c\xac\"}"
        const char *text = "\n {\"code\": " CODE ",\n\t\"globals_dict\": " GLOBALS
                           ", \"python_path\": [\"python_lib.zip\"], \"limit_overrides_context\": "
                           "\"course-v1:\\u00e9+X\", \"slug\": \"p\\/1\", \"unsafely\": false} \r\n";
        CHECK(parse(text, &p, msg, sizeof msg) == CJ_PAYLOAD_OK);
        CHECK(span_is(p.code_json, text, CODE));
        CHECK(span_is(p.globals_json, text, GLOBALS));
        CHECK(p.python_path_count == 1 && p.python_path_only_zip == 1 && p.python_path_has_zip == 1);
        CHECK_STR(p.context, "course-v1:\xc3\xa9+X");
        CHECK(p.context_len == strlen("course-v1:\xc3\xa9+X"));
        CHECK_STR(p.slug, "p/1");
        CHECK(p.unsafely == 0);
        cj_payload_free(&p);
        CHECK(p.context == NULL && p.slug == NULL && p.code_json.p == NULL);
        cj_payload_free(&p); /* freeing twice is harmless: the struct was zeroed */
        CHECK(validate(text, 1) == 0);

        /* Every strict prefix is broken JSON (the text ends with its '}'
         * once the trailing white space is cut). */
        size_t n = strlen(text) - 3, bad = 0;
        for (size_t k = 0; k < n; k++) {
            if (parse_n(text, k, &p, msg, sizeof msg) != CJ_PAYLOAD_NOT_JSON ||
                strncmp(msg, "Unable to parse payload JSON: ", 30) != 0 ||
                validate_n(text, k, 0) == 0)
                bad++;
            cj_payload_free(&p);
        }
        CHECK(bad == 0);
        CHECK(parse_n(text, n, &p, msg, sizeof msg) == CJ_PAYLOAD_OK);
        cj_payload_free(&p);
#undef CODE
#undef GLOBALS
    }

    /* Minimal payload: everything optional absent. */
    {
        const char *text = "{\"globals_dict\":{},\"code\":\"\"}";
        CHECK(parse(text, &p, msg, sizeof msg) == CJ_PAYLOAD_OK);
        CHECK(span_is(p.code_json, text, "\"\""));
        CHECK(span_is(p.globals_json, text, "{}"));
        CHECK(p.python_path_count == 0 && p.python_path_only_zip == 1 && p.python_path_has_zip == 0);
        CHECK(p.context == NULL && p.context_len == 0 && p.slug == NULL && p.unsafely == 0);
        cj_payload_free(&p);
    }

    /* Duplicate keys: the last occurrence wins, as in a Python dict. */
    {
        const char *text = "{\"code\": \"a\", \"globals_dict\": {}, \"code\": \"bb\", \"globals_dict\": "
                           "{\"x\": 1}, \"slug\": \"s\", \"slug\": null, \"unsafely\": false, "
                           "\"unsafely\": true, \"limit_overrides_context\": null, "
                           "\"limit_overrides_context\": \"c\", \"python_path\": [\"x\"], "
                           "\"python_path\": null}";
        CHECK(parse(text, &p, msg, sizeof msg) == CJ_PAYLOAD_OK);
        CHECK(span_is(p.code_json, text, "\"bb\""));
        CHECK(span_is(p.globals_json, text, "{\"x\": 1}"));
        CHECK(p.slug == NULL);
        CHECK_STR(p.context, "c");
        CHECK(p.unsafely == 1);
        CHECK(p.python_path_count == 0 && p.python_path_only_zip == 1 && p.python_path_has_zip == 0);
        cj_payload_free(&p);
    }

    /* Keys are compared after unescaping; near-misses are other keys. */
    {
        const char *text = "{\"c\\u006fde\": \"x\", \"glob\\u0061ls_dict\": {}, \"slug \": 5, "
                           "\"Slug\": 5, \"unsafely\\u0000\": 5, \"code\\\"\": 5}";
        CHECK(parse(text, &p, msg, sizeof msg) == CJ_PAYLOAD_OK);
        CHECK(span_is(p.code_json, text, "\"x\""));
        cj_payload_free(&p);
    }

    /* Decoding: every escape, surrogate pairs joined, lone ones as WTF-8,
     * an embedded NUL kept (context_len says where it ends). */
    {
        const char *text = "{\"code\": \"\", \"globals_dict\": {}, \"limit_overrides_context\": "
                           "\"a\\u0000b\\ud800\\ud83d\\ude00\\n\\\"\\/\\\\\\b\\f\\r\\t\xc3\xa9\\uDBFF\\uDFFF\", "
                           "\"slug\": \"\\udc00\\ud800x\\u00e9\"}";
        static const char want_ctx[] = "a\0b\xed\xa0\x80\xf0\x9f\x98\x80\n\"/\\\b\f\r\t\xc3\xa9\xf4\x8f\xbf\xbf";
        CHECK(parse(text, &p, msg, sizeof msg) == CJ_PAYLOAD_OK);
        CHECK(p.context != NULL && p.context_len == sizeof want_ctx - 1 &&
              memcmp(p.context, want_ctx, sizeof want_ctx) == 0);
        CHECK_STR(p.slug, "\xed\xb0\x80\xed\xa0\x80x\xc3\xa9");
        cj_payload_free(&p);
    }

    /* python_path variants. */
    {
        static const struct {
            const char *pp;
            size_t count;
            int only_zip, has_zip;
        } pps[] = {
            {"null", 0, 1, 0},
            {"[]", 0, 1, 0},
            {"[ ]", 0, 1, 0},
            {"[\"python_lib.zip\"]", 1, 1, 1},
            {"[\"x\"]", 1, 0, 0},
            {"[\"python_lib.zip\",\"x\"]", 2, 0, 1},
            {"[\"x\", \"python_lib.zip\"]", 2, 0, 1},
            {"[\"python_lib.zip\", \"python\\u005flib.zip\"]", 2, 1, 1},
            {"[\"python_lib.zip \"]", 1, 0, 0},
            {"[\"\"]", 1, 0, 0},
        };
        for (size_t i = 0; i < sizeof pps / sizeof pps[0]; i++) {
            char text[256];
            snprintf(text, sizeof text, "{\"code\": \"\", \"globals_dict\": {}, \"python_path\": %s}",
                     pps[i].pp);
            CHECK(parse(text, &p, msg, sizeof msg) == CJ_PAYLOAD_OK);
            CHECK(p.python_path_count == pps[i].count);
            CHECK(p.python_path_only_zip == pps[i].only_zip);
            CHECK(p.python_path_has_zip == pps[i].has_zip);
            cj_payload_free(&p);
        }
    }

    /* unsafely: only JSON true counts. */
    {
        CHECK(parse("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": true}", &p, msg, sizeof msg) ==
              CJ_PAYLOAD_OK);
        CHECK(p.unsafely == 1);
        cj_payload_free(&p);
        CHECK(parse("{\"code\": \"\", \"globals_dict\": {}, \"unsafely\": false}", &p, msg, sizeof msg) ==
              CJ_PAYLOAD_OK);
        CHECK(p.unsafely == 0);
        cj_payload_free(&p);
    }

    /* ---- nesting: 400 levels pass, the 401st bracket is refused ---- */
    {
        size_t n = 401;
        char *deep = malloc(2 * n + 64);
        memset(deep, '[', n);
        memset(deep + n, ']', n);
        /* 400 '[' then 400 ']' */
        char *ok = malloc(800);
        memset(ok, '[', 400);
        memset(ok + 400, ']', 400);
        CHECK(validate_n(ok, 800, 0) == 0);
        CHECK(parse_n(ok, 800, &p, msg, sizeof msg) == CJ_PAYLOAD_SCHEMA);
        /* the repr is cut at 200 characters */
        snprintf(want, sizeof want,
                 "Payload JSON did not match schema at path $: %.200s... is not of type 'object'", ok);
        CHECK_STR(msg, want);
        CHECK(validate_n(deep, 2 * n, 0) != 0);
        CHECK(parse_n(deep, 2 * n, &p, msg, sizeof msg) == CJ_PAYLOAD_NOT_JSON);
        CHECK_STR(msg, "Unable to parse payload JSON: Nesting too deep at line 1 column 401 (char 400)");
        /* Objects count too, and the depth includes the payload itself. */
        const char *head = "{\"code\": \"\xc3\xa9\",\n \"globals_dict\": {\"a\": ";
        size_t hl = strlen(head);
        char *obj = malloc(hl + 1000);
        memcpy(obj, head, hl);
        memset(obj + hl, '[', 399);
        CHECK(parse_n(obj, hl + 399, &p, msg, sizeof msg) == CJ_PAYLOAD_NOT_JSON);
        /* char index: hl bytes hold one 2-byte character; 398 brackets fit;
         * the newline is character 13 */
        snprintf(want, sizeof want,
                 "Unable to parse payload JSON: Nesting too deep at line 2 column %zu (char %zu)",
                 hl - 1 + 398 - 13, hl - 1 + 398);
        CHECK_STR(msg, want);
        free(obj);
        free(ok);
        free(deep);
        /* Far deeper input must not blow the stack either. */
        size_t huge = 1000000;
        char *h = malloc(huge);
        memset(h, '[', huge);
        CHECK(validate_n(h, huge, 0) != 0);
        memset(h, '{', huge);
        CHECK(validate_n(h, huge, 0) != 0);
        free(h);
    }

    /* ---- cj_json_validate ---- */
    {
        static const char *const good[] = {
            "0", " {} ", "[1, 2]", "\"x\"", "NaN", "-Infinity", "Infinity", "null", "true",
            "123456789012345678901234567890", "{\"a\": [1, {\"b\": null}], \"a\": 2}", "\n\t{}\r\n",
            "-0.0e-0", "\"\\ud800\"", "[\"\xf4\x8f\xbf\xbf\"]", "1E+400",
        };
        static const char *const bad[] = {
            "", " ", "{} {}", "{", "\xef\xbb\xbf{}", "{\"a\":\"\xff\"}", "[01]", "{'a': 1}", "[1,]",
            "nan", "[-NaN]", "[+1]", "[.1]", "[1.]", "\"\t\"", "[\"\\u12\"]", "\f{}", "{}\v",
            "\"\xed\xa0\x80\"", "[\"\xc0\x80\"]",
        };
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
            CHECK(validate(good[i], 0) == 0);
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            CHECK(validate(bad[i], 0) != 0);
            CHECK(validate(bad[i], 1) != 0);
        }
        CHECK(validate(" {\"a\": 1} ", 1) == 0);
        CHECK(validate("{}", 1) == 0);
        CHECK(validate("[]", 1) != 0);
        CHECK(validate("5", 1) != 0);
        CHECK(validate("\"{}\"", 1) != 0);
        CHECK(validate_n("[\0]", 3, 0) != 0);
        CHECK(cj_json_validate(NULL, 0, 0) != 0);
    }

    /* ---- edge cases of the interface ---- */
    {
        cj_payload z;
        memset(&z, 0, sizeof z);
        cj_payload_free(&z); /* a zeroed struct is fine */
        CHECK(cj_payload_parse(NULL, 0, &p, msg, sizeof msg) == CJ_PAYLOAD_NOT_JSON);
        CHECK_STR(msg, "Unable to parse payload JSON: Expecting value: line 1 column 1 (char 0)");
        char tiny[16];
        CHECK(parse("{", &p, tiny, sizeof tiny) == CJ_PAYLOAD_NOT_JSON);
        CHECK_STR(tiny, "Unable to parse");
        CHECK(parse("5", &p, tiny, 1) == CJ_PAYLOAD_SCHEMA);
        CHECK(tiny[0] == '\0');
        /* On a schema error nothing stays allocated (ASan would tell). */
        CHECK(parse("{\"code\": \"\", \"globals_dict\": [], \"slug\": \"s\", \"limit_overrides_context\": "
                    "\"c\"}",
                    &p, msg, sizeof msg) == CJ_PAYLOAD_SCHEMA);
        CHECK(p.slug == NULL && p.context == NULL);
    }

    /* ---- size: a 16 MB globals_dict goes through in one linear pass ---- */
    {
        size_t n = 16u << 20;
        char *big = malloc(n + 128);
        size_t o = (size_t)sprintf(big, "{\"code\": \"x\", \"globals_dict\": {\"s\": \"");
        size_t gstart = o - strlen("{\"s\": \"");
        for (; o < n; o++)
            big[o] = (char)('a' + o % 26);
        for (size_t k = 1000; k + 16 < n; k += 4096)
            memcpy(big + k, "\\n\xc3\xa9\\u00e9", 10);
        o += (size_t)sprintf(big + o, "\", \"n\": [%s]}}", "1, 2.5, NaN");
        CHECK(parse_n(big, o, &p, msg, sizeof msg) == CJ_PAYLOAD_OK);
        CHECK(p.globals_json.p == big + gstart && p.globals_json.len == o - 1 - gstart);
        cj_payload_free(&p);
        CHECK(validate_n(big, o, 1) == 0);
        free(big);
    }

    return CHECK_DONE();
}
