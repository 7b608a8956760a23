/* libFuzzer driver for runtime/frame.c: whatever a compile run writes first
 * on its result stream, cj_sandbox_bytecode_of either refuses it or
 * returns items that lie within it, without over-reads.
 * Build: clang -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iruntime -Iruntime/include -Icommon
 *        tests/fuzz/fuzz_frame.c runtime/frame.c common/files.c common/error.c */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void within(const cj_sandbox_bytecode *b, const uint8_t *data, size_t size)
{
    if (b->p == NULL)
        return;
    const uint8_t *p = b->p;
    if (p < data || b->len > size || p + b->len > data + size)
        abort();
    uint8_t sum = 0; /* every byte readable (ASan checks) */
    for (size_t i = 0; i < b->len; i++)
        sum ^= p[i];
    __asm__ volatile("" : : "r"(sum)); /* kept: the reads are the point */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so a read past it is ASan's to see. */
    uint8_t *copy = malloc(size > 0 ? size : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    cj_sandbox_bytecode zip, code;
    if (cj_sandbox_bytecode_of(copy, size, &zip, &code) == 0) {
        within(&zip, copy, size);
        within(&code, copy, size);
    } else if (zip.p != NULL || code.p != NULL) {
        abort(); /* refused: nothing to use */
    }
    free(copy);
    return 0;
}
