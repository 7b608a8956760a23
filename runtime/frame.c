/* The bytecode frame (wire.h): written before a request, read from a
 * compile run's result stream. */
#include "frame.h"

#include <stdint.h>
#include <string.h>

#include "files.h"
#include "wire.h"

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The frame's items: tag, length, bytes (wire.h). */
static int write_item(int fd, int tag, const cj_sandbox_bytecode *b)
{
    unsigned char h[CJ_FRAME_ITEM_HEADER] = {(unsigned char)tag};
    put_u64(h + 1, b->len);
    return cj_write_all(fd, h, sizeof(h)) < 0 || cj_write_all(fd, b->p, b->len) < 0 ? -1 : 0;
}

int cj_frame_write(int fd, const cj_sandbox_spec *spec)
{
    const cj_sandbox_bytecode none = {"", 0};
    cj_sandbox_bytecode zip = spec->compile & CJ_COMPILE_ZIP ? none : spec->zip_bytecode;
    cj_sandbox_bytecode code = spec->compile & CJ_COMPILE_CODE ? none : spec->code_bytecode;
    int has_zip = (spec->compile & CJ_COMPILE_ZIP) || zip.p != NULL, has_code = (spec->compile & CJ_COMPILE_CODE) || code.p != NULL;
    if (!has_zip && !has_code)
        return 0;
    unsigned char h[CJ_FRAME_HEADER];
    memcpy(h, CJ_FRAME_MAGIC, CJ_FRAME_MAGIC_LEN);
    h[CJ_FRAME_MAGIC_LEN] = spec->compile ? CJ_FRAME_COMPILE : CJ_FRAME_USE;
    put_u64(h + CJ_FRAME_MAGIC_LEN + 1, (has_zip ? CJ_FRAME_ITEM_HEADER + zip.len : 0) +
                                            (has_code ? CJ_FRAME_ITEM_HEADER + code.len : 0));
    if (cj_write_all(fd, h, sizeof(h)) < 0 || (has_zip && write_item(fd, CJ_ITEM_ZIP, &zip) < 0) ||
        (has_code && write_item(fd, CJ_ITEM_CODE, &code) < 0))
        return -1;
    return 0;
}

int cj_sandbox_bytecode_of(const void *result, size_t len, cj_sandbox_bytecode *zip, cj_sandbox_bytecode *code)
{
    const unsigned char *r = result;
    cj_sandbox_bytecode got[2] = {{NULL, 0}, {NULL, 0}}; /* zip, code: given out only when all of it reads */
    *zip = *code = got[0];
    if (len < CJ_FRAME_HEADER || memcmp(r, CJ_FRAME_MAGIC, CJ_FRAME_MAGIC_LEN) != 0 ||
        r[CJ_FRAME_MAGIC_LEN] != CJ_FRAME_BLOB)
        return -1;
    uint64_t n = get_u64(r + CJ_FRAME_MAGIC_LEN + 1);
    if (n > len - CJ_FRAME_HEADER)
        return -1; /* cut short: the output cap, or it died writing */
    for (uint64_t at = 0; at < n;) {
        if (n - at < CJ_FRAME_ITEM_HEADER)
            return -1;
        const unsigned char *item = r + CJ_FRAME_HEADER + at;
        uint64_t size = get_u64(item + 1);
        if (size > n - at - CJ_FRAME_ITEM_HEADER || (item[0] != CJ_ITEM_ZIP && item[0] != CJ_ITEM_CODE))
            return -1;
        got[item[0] == CJ_ITEM_CODE] = (cj_sandbox_bytecode){item + CJ_FRAME_ITEM_HEADER, (size_t)size};
        at += CJ_FRAME_ITEM_HEADER + size;
    }
    *zip = got[0];
    *code = got[1];
    return 0;
}
