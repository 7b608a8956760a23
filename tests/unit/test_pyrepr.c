/* Output encoders, checked against fixed cases and against Python itself:
 * the contract says "exactly what Python's repr() gives", so Python is the
 * oracle.  Thousands of random byte strings (biased towards quotes,
 * backslashes, control and high bytes, broken UTF-8) go to one Python run.
 * Set CJ_TEST_SEED to replay a failing run. */
#include "pyrepr.h"

#include "check.h"

#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define N_RANDOM 3000
#define MAX_LEN 64

static char *repr_of(const char *data, size_t len, char *buf, size_t cap)
{
    cj_bytes_repr((const unsigned char *)data, len, buf, cap);
    return buf;
}

static char *json_of(const char *data, size_t len, char *buf, size_t cap)
{
    cj_json_quote(data, len, buf, cap);
    return buf;
}

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64*: enough spread for test data, and replayable from a seed */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* Bytes that stress Python's repr: quotes, backslash, named escapes,
 * control and high bytes, plain text. */
static size_t gen_repr_input(uint64_t *s, unsigned char *out)
{
    static const char special[] = "'\"\\\t\n\r\0\x7f";
    size_t len = next_rand(s) % (MAX_LEN + 1);
    int no_dquote = next_rand(s) % 3 == 0; /* so b"..." is chosen often too */
    for (size_t i = 0; i < len; i++) {
        uint64_t r = next_rand(s);
        switch (r % 4) {
        case 0:
            out[i] = (unsigned char)special[(r >> 8) % (sizeof(special) - 1)];
            break;
        case 1:
            out[i] = (unsigned char)((r >> 8) % 32);
            break;
        case 2:
            out[i] = (unsigned char)(0x80 + (r >> 8) % 128);
            break;
        default:
            out[i] = (unsigned char)(0x20 + (r >> 8) % 95);
        }
        if (no_dquote && out[i] == '"')
            out[i] = '\'';
    }
    return len;
}

/* Text that stresses a UTF-8 validator: valid sequences of every length,
 * overlongs, surrogates, code points above U+10FFFF, stray and truncated
 * sequences, and the characters JSON must escape. */
static size_t gen_utf8_input(uint64_t *s, unsigned char *out)
{
    static const char *const pieces[] = {
        "\"", "\\", "\n", "\r", "\t", "\b", "\f", "\x01", "\x1f", "\x7f", "/", "a",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "\xef\xbf\xbd",
        "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf", "\xe0\x9f\xbf", "\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf",
        "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80", "\xff", "\xfe",
        "\x80", "\xbf", "\xc3", "\xe2\x82", "\xf0\x9f\x98", "\xf0\x9f", "\xe2",
    };
    size_t len = 0, want = next_rand(s) % (MAX_LEN + 1);
    while (len < want) {
        uint64_t r = next_rand(s);
        if (r % 5 == 0) {
            out[len++] = (unsigned char)(r >> 8);
            continue;
        }
        const char *p = pieces[(r >> 8) % (sizeof(pieces) / sizeof(pieces[0]))];
        size_t n = strlen(p);
        if (len + n > MAX_LEN)
            break;
        memcpy(out + len, p, n);
        len += n;
    }
    if (next_rand(s) % 8 == 0 && len < MAX_LEN)
        out[len++] = 0; /* NUL bytes are text too */
    return len;
}

static void hex(FILE *f, const unsigned char *p, size_t n)
{
    fputc('x', f); /* so an empty string is still a field */
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
}

/* Python prints one line per input line; the caller compares them. */
#define PY_REPR                                                                                     \
    "import sys\n"                                                                                  \
    "for line in open(sys.argv[1]):\n"                                                              \
    "    print(repr(bytes.fromhex(line.split()[0][1:])))\n"
/* "same" when our bytes are exactly json.dumps(..., ensure_ascii=False) of
 * Python's own decode(errors="replace"); "valid" when they at least parse
 * back (strictly, as UTF-8) to that text; "bad" otherwise. */
#define PY_JSON                                                                                     \
    "import sys, json\n"                                                                            \
    "for line in open(sys.argv[1]):\n"                                                              \
    "    a, b = line.split()\n"                                                                     \
    "    raw, ours = bytes.fromhex(a[1:]), bytes.fromhex(b[1:])\n"                                  \
    "    text = raw.decode(\"utf-8\", \"replace\")\n"                                               \
    "    if ours == json.dumps(text, ensure_ascii=False).encode(\"utf-8\"):\n"                      \
    "        print(\"same\")\n"                                                                     \
    "        continue\n"                                                                            \
    "    try:\n"                                                                                    \
    "        print(\"valid\" if json.loads(ours.decode(\"utf-8\")) == text else \"bad\")\n"         \
    "    except ValueError:\n"                                                                      \
    "        print(\"bad\")\n"

static FILE *run_python(const char *script, const char *path)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -I -S -c '%s' %s", script, path);
    return popen(cmd, "r");
}

int main(void)
{
    CHECK_INIT;
    char buf[1024];

    /* --- repr: fixed cases (expected texts are what Python 3 prints) */
    CHECK_STR(repr_of("", 0, buf, sizeof(buf)), "b''");
    CHECK_STR(repr_of("abc", 3, buf, sizeof(buf)), "b'abc'");
    CHECK_STR(repr_of("'", 1, buf, sizeof(buf)), "b\"'\"");
    CHECK_STR(repr_of("\"", 1, buf, sizeof(buf)), "b'\"'");
    CHECK_STR(repr_of("'\"", 2, buf, sizeof(buf)), "b'\\'\"'");
    CHECK_STR(repr_of("it's \\", 6, buf, sizeof(buf)), "b\"it's \\\\\"");
    CHECK_STR(repr_of("\t\n\r\0\x01\x1f\x7f\x80\xff ~", 11, buf, sizeof(buf)),
              "b'\\t\\n\\r\\x00\\x01\\x1f\\x7f\\x80\\xff ~'");
    CHECK_STR(repr_of("\x0b\x0c\x07\x08", 4, buf, sizeof(buf)), "b'\\x0b\\x0c\\x07\\x08'");
    CHECK_STR(repr_of("ZeroDivisionError: division by zero\n", 36, buf, sizeof(buf)),
              "b'ZeroDivisionError: division by zero\\n'");
    CHECK(cj_bytes_repr((const unsigned char *)"", 0, NULL, 0) == 3);
    /* --- repr: the snprintf convention */
    char small[5] = "zzzz";
    CHECK(cj_bytes_repr((const unsigned char *)"\xff", 1, small, 0) == 7);
    CHECK_STR(small, "zzzz"); /* cap 0 writes nothing */
    CHECK(cj_bytes_repr((const unsigned char *)"\xff", 1, small, 1) == 7);
    CHECK_STR(small, "");
    CHECK(cj_bytes_repr((const unsigned char *)"\xff", 1, small, 5) == 7);
    CHECK_STR(small, "b'\\x");
    char exact[8];
    CHECK(cj_bytes_repr((const unsigned char *)"\xff", 1, exact, 8) == 7);
    CHECK_STR(exact, "b'\\xff'");

    /* --- JSON: fixed cases */
    CHECK_STR(json_of("", 0, buf, sizeof(buf)), "\"\"");
    CHECK_STR(json_of("a\"b\\c/d", 7, buf, sizeof(buf)), "\"a\\\"b\\\\c/d\"");
    CHECK_STR(json_of("\n\r\t\b\f", 5, buf, sizeof(buf)), "\"\\n\\r\\t\\b\\f\"");
    CHECK_STR(json_of("\0\x01\x1f\x7f", 4, buf, sizeof(buf)), "\"\\u0000\\u0001\\u001f\x7f\"");
    CHECK_STR(json_of("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9, buf, sizeof(buf)),
              "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    CHECK_STR(json_of("\xef\xbf\xbf\xf4\x8f\xbf\xbf", 7, buf, sizeof(buf)), "\"\xef\xbf\xbf\xf4\x8f\xbf\xbf\"");
#define FFFD "\xef\xbf\xbd"
    CHECK_STR(json_of("a\xff" "b", 3, buf, sizeof(buf)), "\"a" FFFD "b\"");
    CHECK_STR(json_of("\xc0\xaf", 2, buf, sizeof(buf)), "\"" FFFD FFFD "\"");           /* overlong '/' */
    CHECK_STR(json_of("\xe0\x80\xaf", 3, buf, sizeof(buf)), "\"" FFFD FFFD FFFD "\"");  /* overlong */
    CHECK_STR(json_of("\xed\xa0\x80", 3, buf, sizeof(buf)), "\"" FFFD FFFD FFFD "\"");  /* surrogate */
    CHECK_STR(json_of("\xf4\x90\x80\x80", 4, buf, sizeof(buf)), "\"" FFFD FFFD FFFD FFFD "\"");
    CHECK_STR(json_of("\xe2\x82", 2, buf, sizeof(buf)), "\"" FFFD "\"");   /* truncated at the end */
    CHECK_STR(json_of("\xe2\x82x", 3, buf, sizeof(buf)), "\"" FFFD "x\""); /* truncated mid-text */
    CHECK_STR(json_of("\xf0\x9f\x98\"", 4, buf, sizeof(buf)), "\"" FFFD "\\\"\"");
    CHECK_STR(json_of("\x80\xbf", 2, buf, sizeof(buf)), "\"" FFFD FFFD "\"");
    /* --- JSON: the snprintf convention */
    CHECK(cj_json_quote("\x01", 1, NULL, 0) == 8);
    memcpy(small, "zzzz", 5);
    CHECK(cj_json_quote("\x01", 1, small, 0) == 8);
    CHECK_STR(small, "zzzz");
    CHECK(cj_json_quote("\x01", 1, small, 4) == 8);
    CHECK_STR(small, "\"\\u");

    /* --- randomized comparison with Python */
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    const char *env = getenv("CJ_TEST_SEED");
    if (env != NULL && *env != '\0')
        seed = strtoull(env, NULL, 0) | 1;
    uint64_t s = seed;
    unsigned char (*in)[MAX_LEN + 1] = malloc(sizeof(*in) * N_RANDOM);
    size_t *lens = malloc(sizeof(size_t) * N_RANDOM);
    char path[] = "/tmp/cj-test-pyrepr-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0 && in != NULL && lens != NULL);
    if (fd < 0 || in == NULL || lens == NULL)
        return CHECK_DONE();

    /* repr */
    FILE *f = fdopen(fd, "w");
    for (size_t i = 0; i < N_RANDOM; i++) {
        lens[i] = gen_repr_input(&s, in[i]);
        hex(f, in[i], lens[i]);
        fputc('\n', f);
    }
    fclose(f);
    FILE *py = run_python(PY_REPR, path);
    CHECK(py != NULL);
    size_t compared = 0, mismatched = 0;
    char line[1024];
    for (size_t i = 0; py != NULL && i < N_RANDOM && fgets(line, sizeof(line), py) != NULL; i++) {
        line[strcspn(line, "\n")] = '\0';
        repr_of((const char *)in[i], lens[i], buf, sizeof(buf));
        compared++;
        if (strcmp(buf, line) != 0 && mismatched++ < 5)
            fprintf(stderr, "repr mismatch #%zu (seed %#llx): python [%s] ours [%s]\n", i,
                    (unsigned long long)seed, line, buf);
    }
    CHECK(py != NULL && pclose(py) == 0);
    CHECK(compared == N_RANDOM);
    CHECK(mismatched == 0);

    /* JSON: our output must be what Python's json.dumps gives for Python's own
     * decode(errors="replace"), hence valid JSON in any case */
    f = fopen(path, "w");
    for (size_t i = 0; f != NULL && i < N_RANDOM; i++) {
        lens[i] = gen_utf8_input(&s, in[i]);
        size_t n = cj_json_quote((const char *)in[i], lens[i], buf, sizeof(buf));
        CHECK(n < sizeof(buf) && strlen(buf) == n);
        hex(f, in[i], lens[i]);
        fputc(' ', f);
        hex(f, (const unsigned char *)buf, n);
        fputc('\n', f);
    }
    CHECK(f != NULL && fclose(f) == 0);
    py = run_python(PY_JSON, path);
    CHECK(py != NULL);
    size_t same = 0, valid = 0, bad = 0;
    for (size_t i = 0; py != NULL && i < N_RANDOM && fgets(line, sizeof(line), py) != NULL; i++) {
        if (strcmp(line, "same\n") == 0) {
            same++;
        } else if (strcmp(line, "valid\n") == 0) {
            valid++;
        } else if (bad++ < 5) {
            cj_json_quote((const char *)in[i], lens[i], buf, sizeof(buf));
            fprintf(stderr, "json #%zu (seed %#llx) %s", i, (unsigned long long)seed, line);
        }
    }
    CHECK(py != NULL && pclose(py) == 0);
    CHECK(same == N_RANDOM);
    if (same != N_RANDOM)
        fprintf(stderr, "json: %zu same, %zu valid, %zu bad of %d\n", same, valid, bad, N_RANDOM);
    unlink(path);
    free(in);
    free(lens);
    /* cj_utf8_repair: Django's decode(errors="replace"), one U+FFFD per
     * maximal invalid subpart (the same rule json_quote follows). */
    {
        static const struct {
            const char *in, *want;
        } rep[] = {
            {"plain", "plain"},
            {"caf\xc3\xa9", "caf\xc3\xa9"},
            {"a\xff" "b", "a\xef\xbf\xbd" "b"},
            {"\xe2\x82", "\xef\xbf\xbd"},
            {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
            {"x\xc0\xafy", "x\xef\xbf\xbd\xef\xbf\xbdy"},
        };
        for (size_t i = 0; i < sizeof(rep) / sizeof(rep[0]); i++) {
            char fixed[64];
            size_t need = cj_utf8_repair(rep[i].in, strlen(rep[i].in), fixed, sizeof(fixed));
            CHECK(need == strlen(rep[i].want));
            CHECK_STR(fixed, rep[i].want);
        }
        char cut[4];
        CHECK(cj_utf8_repair("abcdef", 6, cut, sizeof(cut)) == 6 && strcmp(cut, "abc") == 0);
    }
    return CHECK_DONE();
}
