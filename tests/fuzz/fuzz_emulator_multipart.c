/* fuzz_emulator_multipart.c: libFuzzer target for the GCS emulator's
 * multipart/related parsing. Input: first line = Content-Type header value,
 * rest = body. Exercises boundary extraction, the in-memory parser, and the
 * head/tail split used for bodies kept in files (a small split point forces
 * the two windows apart). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/emu_multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    char ctype[512], boundary[256], err[200];
    struct emu_multipart mp;
    size_t clen, blen;
    const char *body;
    if (!nl)
        return 0;
    clen = (size_t)(nl - (const char *)data);
    if (clen >= sizeof(ctype))
        return 0;
    memcpy(ctype, data, clen);
    ctype[clen] = '\0';
    body = nl + 1;
    blen = size - clen - 1;
    if (emu_multipart_boundary(ctype, boundary, sizeof(boundary)) < 0)
        return 0;
    if (emu_multipart_parse_buf(boundary, body, blen, &mp, err, sizeof(err)) == 0) {
        /* The data range must lie inside the body. */
        if (mp.data_off > blen || mp.data_len > blen - mp.data_off)
            abort();
        emu_multipart_cleanup(&mp);
    }
    /* Head and tail windows that overlap only partly. */
    {
        size_t head = blen / 2 + 1 > blen ? blen : blen / 2 + 1;
        size_t tail = blen - blen / 3;
        if (emu_multipart_parse_parts(boundary, body, head, body + (blen - tail), tail, blen, &mp,
                                      err, sizeof(err)) == 0) {
            if (mp.data_off > blen || mp.data_len > blen - mp.data_off)
                abort();
            emu_multipart_cleanup(&mp);
        }
    }
    return 0;
}
