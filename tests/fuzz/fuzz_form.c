/* libFuzzer driver for http/form.c: the input up to its first '\n' is the
 * Content-Type header, the rest the body.  Without a '\n' the type is absent,
 * which exercises the untyped path.  Both halves are exact-size heap copies
 * so ASan sees any read past either end.
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ihttp
 *        tests/fuzz/fuzz_form.c http/form.c
 * Seed it with a body from Python's requests, prefixed by its Content-Type and '\n'. */
#include "form.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *copy_of(const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c != NULL && n > 0)
        memcpy(c, p, n);
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - data) : 0;
    size_t body_off = nl ? ct_len + 1 : 0;
    char *ct = nl ? copy_of(data, ct_len) : NULL;
    char *body = copy_of(data + body_off, size - body_off);
    if ((nl == NULL || ct != NULL) && body != NULL) {
        cj_form form;
        char detail[128];
        if (cj_form_parse(ct, ct_len, body, size - body_off, &form, detail, sizeof(detail)) ==
            CJ_FORM_OK) {
            /* Walk what was returned so a bad length shows up here. */
            for (size_t i = 0; i < form.n; i++) {
                const cj_form_field *f = &form.fields[i];
                if (f->data[f->len] != '\0' || f->name[f->name_len] != '\0')
                    abort();
                if (strlen(f->name) == f->name_len && cj_form_get(&form, f->name) == NULL)
                    abort();
            }
        } else if (form.n != 0 || form.fields != NULL || strlen(detail) >= sizeof(detail)) {
            abort();
        }
        cj_form_free(&form);
    }
    free(ct);
    free(body);
    return 0;
}
