/* libFuzzer driver for http/answer.c: whatever the sandbox writes on its
 * result channel, the answer is CORRUPT or one valid JSON object, built
 * without over-reads, leaks or deep recursion past the validator's limit.
 * The input is split at its first NUL: the part before is the request's
 * globals (used only when it is a valid object, as the payload parser
 * guarantees), the rest the result.
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Ihttp
 *        tests/fuzz/fuzz_answer.c http/answer.c http/payload.c -lm */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "answer.h"
#include "payload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, '\0', size);
    const char *input = "{\"x\": 1}";
    size_t input_len = strlen(input);
    const char *result = (const char *)data;
    size_t result_len = size;
    char *copy = NULL;
    if (nul != NULL) {
        size_t n = (size_t)(nul - (const char *)data);
        if (cj_json_validate((const char *)data, n, 1) == 0) {
            copy = malloc(n + 1); /* the payload's text is NUL-terminated */
            memcpy(copy, data, n);
            copy[n] = '\0';
            input = copy;
            input_len = n;
        }
        result = nul + 1;
        result_len = size - n - 1;
    }
    char *out = NULL;
    size_t len = 0;
    enum cj_answer_status st = cj_answer_globals(input, input_len, result, result_len, &out, &len);
    if (st == CJ_ANSWER_OK && (out == NULL || cj_json_validate(out, len, 1) != 0))
        abort();
    if (st == CJ_ANSWER_CORRUPT && cj_json_validate(result, result_len, 1) == 0)
        abort();
    free(out);
    free(copy);
    return 0;
}
