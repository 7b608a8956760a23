/* cj_framing_refusal: which request heads have one body length every reader
 * agrees on (RFC 9112 section 6). */
#include <string.h>

#include "check.h"
#include "framing.h"

#define H(n, v) {n, sizeof(n) - 1, v, sizeof(v) - 1}

static const char *refusal(const cj_phr_header *h, size_t n)
{
    return cj_framing_refusal(h, n, 1);
}

int main(void)
{
    CHECK_INIT;
    cj_phr_header none[] = {H("Host", "x")};
    CHECK(refusal(none, 1) == NULL);
    cj_phr_header cl[] = {H("Host", "x"), H("content-LENGTH", "12")};
    CHECK(refusal(cl, 2) == NULL);
    cj_phr_header same[] = {H("Content-Length", "12"), H("Content-Length", "12")};
    CHECK(refusal(same, 2) == NULL);
    cj_phr_header te[] = {H("Transfer-Encoding", "Chunked")};
    CHECK(refusal(te, 1) == NULL);

    cj_phr_header differ[] = {H("Content-Length", "12"), H("content-length", "13")};
    CHECK_STR(refusal(differ, 2), "differing Content-Length headers");
    cj_phr_header zero[] = {H("Content-Length", "12"), H("Content-Length", "012")};
    CHECK_STR(refusal(zero, 2), "differing Content-Length headers");
    static const char *const bad_numbers[] = {"", "5, 5", "+5", " 5", "5 ", "0x5", "-1"};
    for (size_t i = 0; i < sizeof bad_numbers / sizeof bad_numbers[0]; i++) {
        cj_phr_header h = {"Content-Length", 14, bad_numbers[i], strlen(bad_numbers[i])};
        CHECK_STR(refusal(&h, 1), "a Content-Length that is not a number");
    }
    cj_phr_header both[] = {H("Content-Length", "5"), H("Transfer-Encoding", "chunked")};
    CHECK_STR(refusal(both, 2), "both Content-Length and Transfer-Encoding");
    cj_phr_header both2[] = {H("Transfer-Encoding", "chunked"), H("Content-Length", "5")};
    CHECK_STR(refusal(both2, 2), "both Content-Length and Transfer-Encoding");
    cj_phr_header two_te[] = {H("Transfer-Encoding", "gzip"), H("Transfer-Encoding", "chunked")};
    CHECK_STR(refusal(two_te, 2), "more than one Transfer-Encoding");
    static const char *const codings[] = {"gzip, chunked", "chunked, chunked", "identity", "chunked ", "", "chunkedx"};
    for (size_t i = 0; i < sizeof codings / sizeof codings[0]; i++) {
        cj_phr_header h = {"Transfer-Encoding", 17, codings[i], strlen(codings[i])};
        CHECK_STR(refusal(&h, 1), "a Transfer-Encoding other than chunked");
    }
    CHECK_STR(cj_framing_refusal(te, 1, 0), "Transfer-Encoding in an HTTP/1.0 request");
    CHECK(cj_framing_refusal(cl, 2, 0) == NULL);
    cj_phr_header fold[] = {H("X-A", "a"), {NULL, 0, "b", 1}};
    CHECK_STR(refusal(fold, 2), "obsolete line folding");
    /* Names are compared whole: look-alikes are other headers. */
    cj_phr_header alike[] = {H("Content-Lengths", "x"), H("Transfer-Encodings", "gzip")};
    CHECK(refusal(alike, 2) == NULL);
    return CHECK_DONE();
}
