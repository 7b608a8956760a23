/* Output encoders: Python's repr() of bytes (for the contract's emsg, which
 * operators diff against the codejail library's) and JSON string escaping. */
#ifndef CJ_PYREPR_H
#define CJ_PYREPR_H

#include <stddef.h>

/* Writes exactly what Python's repr(bytes) gives, quote choice included
 * (b'..' normally, b".." when the data holds ' but no ").  Returns the length
 * it needs (excluding the NUL); writes at most cap-1 bytes plus a NUL. */
size_t cj_bytes_repr(const unsigned char *data, size_t len, char *out, size_t cap);

/* Appends a JSON string literal (quotes included) for the UTF-8 text s;
 * returns the length needed, same convention. Invalid UTF-8 bytes become
 * U+FFFD so the output is always valid JSON. */
size_t cj_json_quote(const char *s, size_t len, char *out, size_t cap);

/* Copies UTF-8 text with each invalid sequence replaced by U+FFFD, as
 * Django decodes form fields (errors="replace").  Same return/cap convention. */
size_t cj_utf8_repair(const char *s, size_t len, char *out, size_t cap);

#endif
