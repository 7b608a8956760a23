#include "framing.h"

#include "log.h"

#include <dlfcn.h>
#include <string.h>
#include <strings.h>

static int name_is(const cj_phr_header *h, const char *name, size_t len)
{
    return h->name != NULL && h->name_len == len && strncasecmp(h->name, name, len) == 0;
}

static int is_content_length(const cj_phr_header *h)
{
    return name_is(h, "content-length", 14);
}

static int is_transfer_encoding(const cj_phr_header *h)
{
    return name_is(h, "transfer-encoding", 17);
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* The reason, inside the request-target that carries it (framing.h). */
#define REASON(why) (&(CJ_FRAMING_REFUSED why)[sizeof(CJ_FRAMING_REFUSED) - 1])

const char *cj_framing_refusal(const cj_phr_header *h, size_t n, int minor_version)
{
    const cj_phr_header *cl = NULL, *te = NULL;
    for (size_t i = 0; i < n; i++) {
        /* RFC 9112 5.2: reject or unfold; a proxy that unfolds
         * "Content-Length: 5\r\n 0" reads another length than one that
         * does not. */
        if (h[i].name == NULL || h[i].name_len == 0)
            return REASON("obsolete line folding");
        if (is_transfer_encoding(&h[i])) {
            if (te != NULL)
                return REASON("more than one Transfer-Encoding");
            te = &h[i];
        } else if (is_content_length(&h[i])) {
            /* RFC 9110 8.6 allows collapsing identical repeats: no two
             * readers can disagree on a length they all see the same.  A
             * list ("5, 5") or anything not a plain number is refused. */
            if (!all_digits(h[i].value, h[i].value_len))
                return REASON("a Content-Length that is not a number");
            if (cl != NULL && (cl->value_len != h[i].value_len ||
                               memcmp(cl->value, h[i].value, cl->value_len) != 0))
                return REASON("differing Content-Length headers");
            cl = &h[i];
        }
    }
    if (te == NULL)
        return NULL;
    /* RFC 9112 6.1: a Transfer-Encoding in HTTP/1.0 means faulty framing;
     * beside a Content-Length, a reader may pick either (we refuse, as it
     * allows); a coding other than chunked alone leaves the length unknown. */
    if (minor_version == 0)
        return REASON("Transfer-Encoding in an HTTP/1.0 request");
    if (cl != NULL)
        return REASON("both Content-Length and Transfer-Encoding");
    if (te->value_len != 7 || strncasecmp(te->value, "chunked", 7) != 0)
        return REASON("a Transfer-Encoding other than chunked");
    return NULL;
}

typedef int (*parse_request_fn)(const char *buf, size_t len, const char **method, size_t *method_len,
                                const char **path, size_t *path_len, int *minor_version,
                                cj_phr_header *headers, size_t *num_headers, size_t last_len);

int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, cj_phr_header *headers, size_t *num_headers,
                      size_t last_len);

/* Called by libh2o for each attempt at a request's head.  The real parser is
 * looked up per call rather than kept in a global: a lookup costs well under
 * a microsecond, a request far more. */
int phr_parse_request(const char *buf, size_t len, const char **method, size_t *method_len, const char **path,
                      size_t *path_len, int *minor_version, cj_phr_header *headers, size_t *num_headers,
                      size_t last_len)
{
    parse_request_fn real = (parse_request_fn)dlsym(RTLD_NEXT, "phr_parse_request");
    if (real == NULL)
        return -1;
    int r = real(buf, len, method, method_len, path, path_len, minor_version, headers, num_headers, last_len);
    if (r <= 0)
        return r;
    const char *why = cj_framing_refusal(headers, *num_headers, *minor_version);
    if (why == NULL)
        return r;
    /* h2o frames the body by the last Transfer-Encoding, else the first
     * Content-Length, and answers a value it cannot use with 400 and
     * Connection: close through the error filters (a JSON body).  So every
     * framing header gets a value neither reading accepts. */
    int poisoned = 0;
    for (size_t i = 0; i < *num_headers; i++)
        if (is_content_length(&headers[i]) || is_transfer_encoding(&headers[i])) {
            headers[i].value = "refused";
            headers[i].value_len = 7;
            poisoned = 1;
        }
    /* No framing header (obs-fold alone): nothing can be smuggled, and h2o's
     * parse error answers its own plain 400 and closes, unlogged like every
     * request h2o cannot parse.  Else the target carries the reason to the
     * error filter, which logs it. */
    if (!poisoned)
        return -1;
    *path = why - (sizeof(CJ_FRAMING_REFUSED) - 1);
    *path_len = strlen(*path);
    return r;
}

int cj_framing_in_place(void)
{
    void *first = dlsym(RTLD_DEFAULT, "phr_parse_request");
    void *next = dlsym(RTLD_NEXT, "phr_parse_request");
    return first == (void *)phr_parse_request && next != NULL && next != first ? 0 : -1;
}
