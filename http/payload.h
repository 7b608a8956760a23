/* The `payload` field: JSON in Python's dialect (NaN, Infinity, -Infinity,
 * integers of any size) validated without converting numbers, so values pass
 * through to the sandbox byte for byte, then checked against the Django
 * service's schema.  Error texts are the contract's exact messages. */
#ifndef CJ_PAYLOAD_H
#define CJ_PAYLOAD_H

#include <stddef.h>

typedef struct cj_span {
    const char *p; /* into the caller's text; NULL when absent */
    size_t len;
} cj_span;

typedef struct cj_payload {
    cj_span code_json;    /* the raw JSON string token, quotes included */
    cj_span globals_json; /* the raw JSON object text */
    /* python_path: null or absent counts as empty */
    size_t python_path_count;
    int python_path_only_zip; /* every entry equals "python_lib.zip" */
    int python_path_has_zip;
    char *context; /* limit_overrides_context decoded to UTF-8 (malloc), NULL if null/absent */
    size_t context_len;
    char *slug; /* decoded (malloc), NULL if null/absent */
    size_t slug_len;
    int unsafely;
} cj_payload;

enum cj_payload_status {
    CJ_PAYLOAD_OK = 0,
    CJ_PAYLOAD_NOT_JSON = 1, /* msg: "Unable to parse payload JSON: <detail>" */
    CJ_PAYLOAD_SCHEMA = 2,   /* msg: "Payload JSON did not match schema at path <path>: <detail>" */
};

/* Validates text (not NUL-terminated) and fills out.  On error writes the full
 * contract message into msg. */
enum cj_payload_status cj_payload_parse(const char *text, size_t len, cj_payload *out, char *msg,
                                        size_t msg_len);
void cj_payload_free(cj_payload *p);

/* Checks that text is one JSON value in Python's dialect and nothing else
 * (leading/trailing white space allowed).  Returns 0 when valid; when
 * want_object is set the value must be an object. */
int cj_json_validate(const char *text, size_t len, int want_object);

/* For text cj_json_validate accepted: the offset just past the value that
 * starts at text[i] (no white space before it).  Inside an object or array
 * it never reads past the container's end. */
size_t cj_json_skip_value(const char *text, size_t i);
/* Decodes the string token (quotes included) into out, which holds len
 * bytes: UTF-8, with a lone surrogate in its 3-byte form and *lone_surrogate
 * set.  Returns the decoded length. */
size_t cj_json_string_decode(const char *token, size_t len, char *out, int *lone_surrogate);

#endif
