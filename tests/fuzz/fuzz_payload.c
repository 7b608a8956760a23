/* libFuzzer driver for http/payload.c: any bytes must give a clean status,
 * a NUL-terminated message, spans inside the input and no leak, and the two
 * entry points must agree on what is JSON.  The input is used as is
 * (libFuzzer's buffer is exactly sized), so over-reads show.
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ihttp
 *        tests/fuzz/fuzz_payload.c http/payload.c -lm
 * Seed it with real payloads (edx-platform's remote_exec sends them). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int inside(cj_span s, const char *text, size_t len)
{
    return s.p == NULL || (s.p >= text && s.len <= len && (size_t)(s.p - text) <= len - s.len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    cj_payload p;
    char msg[1024];
    memset(msg, 'X', sizeof msg);
    enum cj_payload_status rc = cj_payload_parse(text, size, &p, msg, sizeof msg);
    if (memchr(msg, '\0', sizeof msg) == NULL)
        abort();
    int valid = cj_json_validate(text, size, 0) == 0;
    int valid_obj = cj_json_validate(text, size, 1) == 0;
    /* The two entry points share one grammar, so they must agree. */
    if (valid_obj && !valid)
        abort();
    if ((rc == CJ_PAYLOAD_NOT_JSON) == valid && strstr(msg, "out of memory") == NULL)
        abort();
    if (rc == CJ_PAYLOAD_OK) {
        if (!valid_obj || !p.code_json.p || !p.globals_json.p)
            abort();
        if (!inside(p.code_json, text, size) || !inside(p.globals_json, text, size))
            abort();
        if (p.code_json.p[0] != '"' || p.globals_json.p[0] != '{')
            abort();
        /* The spans are themselves complete JSON values. */
        if (cj_json_validate(p.code_json.p, p.code_json.len, 0) != 0 ||
            cj_json_validate(p.globals_json.p, p.globals_json.len, 1) != 0)
            abort();
        if (p.python_path_count == 0 && (!p.python_path_only_zip || p.python_path_has_zip))
            abort();
        if (p.context && strlen(p.context) > p.context_len)
            abort();
    } else if (p.code_json.p || p.context || p.slug) {
        abort();
    }
    cj_payload_free(&p);
    return 0;
}
