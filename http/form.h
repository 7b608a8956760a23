/* Request body parsing: application/x-www-form-urlencoded and
 * multipart/form-data, the two encodings the Open edX client posts.
 * Pure functions over a complete body; no I/O, fuzzable. */
#ifndef CJ_FORM_H
#define CJ_FORM_H

#include <stddef.h>

typedef struct cj_form_field {
    char *name; /* decoded, NUL-terminated */
    size_t name_len;
    char *filename; /* multipart filename= parameter, NULL when absent */
    char *data;     /* field value (decoded for urlencoded); NUL-terminated copy */
    size_t len;
} cj_form_field;

typedef struct cj_form {
    cj_form_field *fields;
    size_t n;
} cj_form;

enum cj_form_status {
    CJ_FORM_OK = 0,
    CJ_FORM_UNSUPPORTED = 1, /* not a form media type: the caller answers 415 */
    CJ_FORM_MALFORMED = 2,   /* a form media type whose body is broken: 400 */
};

/* Parses body according to content_type (the raw header value, may be NULL
 * when absent: an absent type with an empty body is an empty form).  On
 * CJ_FORM_UNSUPPORTED the media type (lowercased, without parameters) is
 * written to detail; on CJ_FORM_MALFORMED a short reason. */
enum cj_form_status cj_form_parse(const char *content_type, size_t ct_len, const char *body,
                                  size_t body_len, cj_form *out, char *detail, size_t detail_len);

/* The first field with that name, or NULL. */
const cj_form_field *cj_form_get(const cj_form *f, const char *name);

void cj_form_free(cj_form *f);

#endif
