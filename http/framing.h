/* Strict HTTP/1 message framing (RFC 9112 section 6).  A request whose body
 * length two readers could compute differently (a proxy in front and us) is
 * answered 400 and its connection closed, before its body is read, so bytes
 * smuggled after it are never taken for a request.
 *
 * h2o 2.2.5 has no hook between a request's headers and its body: its HTTP/1
 * handler runs once the body is read.  Every request on a connection (the
 * first, keep-alive, pipelined) goes through picohttpparser's
 * phr_parse_request, which libh2o calls through its PLT; codejail-server
 * defines that symbol (exported, see CMakeLists.txt), checks the headers the
 * real parser found, and turns a refused request into one h2o itself answers
 * 400 with Connection: close. */
#ifndef CJ_FRAMING_H
#define CJ_FRAMING_H

#include <stddef.h>

/* picohttpparser's struct phr_header (its public ABI; Debian ships no header
 * for it). */
typedef struct cj_phr_header {
    const char *name; /* NULL for an obs-fold continuation line */
    size_t name_len;
    const char *value;
    size_t value_len;
} cj_phr_header;

/* A refused request's target becomes this, the reason after it (no
 * request-target has a space): h2o answers it 400 before routing it, and
 * the error filter, which has the service's logger, logs the refusal from
 * it (json_errors.c); this parser gets no logger. */
#define CJ_FRAMING_REFUSED "refused: "

/* Why the headers' framing is refused, or NULL when it is unambiguous:
 * the reason, right after CJ_FRAMING_REFUSED in the same string.
 * minor_version is the request's HTTP/1.x minor version. */
const char *cj_framing_refusal(const cj_phr_header *h, size_t n, int minor_version);

/* 0 when the running binary's phr_parse_request is ours and the real one is
 * behind it: what the server checks before it listens. */
int cj_framing_in_place(void);

#endif
