/* libFuzzer driver for http/framing.c's strict request framing, through the
 * same symbol libh2o calls: for any request head, our phr_parse_request
 * answers what the real parser answers, except that a head whose body
 * length two readers could compute differently never comes out with a
 * usable Content-Length or Transfer-Encoding.  The real parser is libh2o's,
 * found behind ours with dlsym as in the server; what may pass is said again
 * here (unambiguous()) apart from framing.c.  libFuzzer's buffer is exactly
 * sized, so an over-read past the input shows.
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ihttp -Icommon
 *        -Wl,--export-dynamic-symbol=phr_parse_request tests/fuzz/fuzz_framing.c
 *        http/framing.c common/log.c common/files.c -lh2o-evloop -ldl */
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "framing.h"

/* h2o's own bound (H2O_MAX_HEADERS). */
#define MAX_HEADERS 100

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, cj_phr_header *headers, size_t *num_headers,
                      size_t last_len);

typedef int (*parse_request_fn)(const char *buf, size_t len, const char **method, size_t *method_len,
                                const char **path, size_t *path_len, int *minor_version,
                                cj_phr_header *headers, size_t *num_headers, size_t last_len);

struct head {
    const char *method, *path;
    size_t method_len, path_len, n;
    int minor_version;
    cj_phr_header h[MAX_HEADERS];
};

static int parse(parse_request_fn fn, const uint8_t *data, size_t size, struct head *out)
{
    memset(out, 0, sizeof *out);
    out->n = MAX_HEADERS;
    return fn((const char *)data, size, &out->method, &out->method_len, &out->path, &out->path_len,
              &out->minor_version, out->h, &out->n, 0);
}

static int named(const cj_phr_header *h, const char *name)
{
    return h->name != NULL && h->name_len == strlen(name) && strncasecmp(h->name, name, h->name_len) == 0;
}

static int is_framing(const cj_phr_header *h)
{
    return named(h, "content-length") || named(h, "transfer-encoding");
}

static int is_refused(const cj_phr_header *h)
{
    return h->value_len == 7 && memcmp(h->value, "refused", 7) == 0;
}

/* What RFC 9112 section 6 lets every reader agree on, said apart from
 * framing.c: no folded line; every Content-Length the same digits; or one
 * Transfer-Encoding "chunked" in HTTP/1.1 with no Content-Length. */
static int unambiguous(const struct head *r)
{
    const cj_phr_header *cl = NULL;
    size_t n_te = 0;
    for (size_t i = 0; i < r->n; i++) {
        const cj_phr_header *h = &r->h[i];
        if (h->name == NULL || h->name_len == 0)
            return 0;
        if (named(h, "transfer-encoding")) {
            if (++n_te > 1 || r->minor_version == 0 || h->value_len != 7 ||
                strncasecmp(h->value, "chunked", 7) != 0)
                return 0;
        } else if (named(h, "content-length")) {
            if (h->value_len == 0)
                return 0;
            for (size_t k = 0; k < h->value_len; k++)
                if (h->value[k] < '0' || h->value[k] > '9')
                    return 0;
            if (cl != NULL && (cl->value_len != h->value_len || memcmp(cl->value, h->value, h->value_len) != 0))
                return 0;
            cl = h;
        }
    }
    return !(n_te > 0 && cl != NULL);
}

/* Without ours in front of libh2o's, every input would pass unchecked. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (cj_framing_in_place() != 0) {
        fprintf(stderr, "fuzz_framing: phr_parse_request is not framing.c's in front of libh2o's\n");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_request_fn real = (parse_request_fn)dlsym(RTLD_NEXT, "phr_parse_request");
    if (real == NULL)
        abort();
    struct head want, got;
    int rw = parse(real, data, size, &want);
    int rg = parse(phr_parse_request, data, size, &got);
    if (rw <= 0) {
        if (rg != rw)
            abort();
    } else if (cj_framing_refusal(want.h, want.n, want.minor_version) == NULL) {
        /* Accepted: passed through untouched, and truly unambiguous. */
        if (rg != rw || got.n != want.n || memcmp(got.h, want.h, want.n * sizeof want.h[0]) != 0 ||
            !unambiguous(&want))
            abort();
    } else {
        /* Refused: a parse error (nothing to smuggle with), or the same
         * head with every framing header's value one h2o answers 400. */
        if (unambiguous(&want))
            abort();
        if (rg != -1) {
            size_t poisoned = 0;
            if (rg != rw || got.n != want.n)
                abort();
            for (size_t i = 0; i < got.n; i++) {
                if (got.h[i].name != want.h[i].name || got.h[i].name_len != want.h[i].name_len)
                    abort();
                if (is_framing(&got.h[i])) {
                    if (!is_refused(&got.h[i]))
                        abort();
                    poisoned++;
                } else if (got.h[i].value != want.h[i].value || got.h[i].value_len != want.h[i].value_len) {
                    abort();
                }
            }
            if (poisoned == 0)
                abort();
        } else {
            for (size_t i = 0; i < want.n; i++)
                if (is_framing(&want.h[i]))
                    abort();
        }
    }
    return 0;
}
