/* wavclaim.c: what a RIFF/RF64 WAVE header claims about its data size.
 * libsndfile silently clamps a data chunk that is larger than the file, so a
 * header claiming 10^12 frames would decode as a short track; the chain
 * instead reports such a file as malformed (or as too big). Reads at most
 * the first 4 KiB through the same virtual I/O, never allocates. */
#include "audio/audio_int.h"

#include <stdio.h>
#include <string.h>

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

int audio__wav_claim(struct audio__vio *v, struct audio__wav_claim *out)
{
    unsigned char h[4096];
    memset(out, 0, sizeof(*out));
    if (audio__vio_ops.seek(0, SEEK_SET, v) != 0)
        return 0;
    sf_count_t n = audio__vio_ops.read(h, sizeof(h), v);
    audio__vio_ops.seek(0, SEEK_SET, v);
    if (n < 12 || memcmp(h + 8, "WAVE", 4))
        return 0;
    int rf64 = !memcmp(h, "RF64", 4);
    if (!rf64 && memcmp(h, "RIFF", 4))
        return 0;
    uint64_t ds64_data = 0;
    unsigned block_align = 0;
    size_t pos = 12;
    while (pos + 8 <= (size_t)n) {
        const unsigned char *c = h + pos;
        uint32_t size = le32(c + 4);
        if (!memcmp(c, "ds64", 4) && size >= 16 && pos + 8 + 16 <= (size_t)n)
            ds64_data = le64(c + 8 + 8);
        else if (!memcmp(c, "fmt ", 4) && size >= 16 && pos + 8 + 16 <= (size_t)n)
            block_align = (unsigned)c[8 + 12] | (unsigned)c[8 + 13] << 8;
        else if (!memcmp(c, "data", 4)) {
            uint64_t bytes = size;
            if (rf64 && size == 0xFFFFFFFFu)
                bytes = ds64_data;
            else if (!rf64 && (size == 0xFFFFFFFFu || size == 0))
                return 0; /* streamed WAV: length unknown */
            if (!block_align)
                return 0;
            out->found = 1;
            out->data_offset = pos + 8;
            out->data_bytes = bytes;
            out->frames = bytes / block_align;
            return 1;
        }
        if (size > (size_t)n)
            return 0;
        pos += 8 + (size_t)size + (size & 1);
    }
    return 0;
}
