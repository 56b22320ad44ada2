/* flac_bomb.c: see flac_bomb.h. Layout per RFC 9639: "fLaC", one
 * STREAMINFO block, then frames of a fixed block size, each a header (sync,
 * block size from the 16-bit field, rate and depth from STREAMINFO,
 * independent channels, UTF-8-coded frame number, CRC-8), one CONSTANT
 * subframe of 16 zero bits per channel, and a CRC-16. */
#include "tests/support/flac_bomb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK 65535u

static uint8_t crc8(const uint8_t *p, size_t n)
{
    uint8_t c = 0;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int b = 0; b < 8; b++)
            c = (uint8_t)(c & 0x80 ? (c << 1) ^ 0x07 : c << 1);
    }
    return c;
}

static uint16_t crc16(const uint8_t *p, size_t n)
{
    uint16_t c = 0;
    for (size_t i = 0; i < n; i++) {
        c ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            c = (uint16_t)(c & 0x8000 ? (c << 1) ^ 0x8005 : c << 1);
    }
    return c;
}

/* The frame number as FLAC's extended UTF-8 (up to 31 bits here). */
static size_t utf8(uint8_t *o, uint32_t v)
{
    if (v < 0x80) {
        o[0] = (uint8_t)v;
        return 1;
    }
    if (v < 0x800) {
        o[0] = (uint8_t)(0xC0 | (v >> 6));
        o[1] = (uint8_t)(0x80 | (v & 0x3F));
        return 2;
    }
    if (v < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (v >> 12));
        o[1] = (uint8_t)(0x80 | ((v >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (v & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | (v >> 18));
    o[1] = (uint8_t)(0x80 | ((v >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((v >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (v & 0x3F));
    return 4;
}

unsigned char *flac_bomb(int channels, int rate, uint64_t frames, uint64_t claim, size_t *len)
{
    uint64_t n_blocks = (frames + BLOCK - 1) / BLOCK;
    size_t cap = 42 + (size_t)n_blocks * (16 + 3 * (size_t)channels);
    uint8_t *b, *p;
    if (channels < 1 || channels > 8 || rate <= 0 || rate >= (1 << 20) || !frames ||
        n_blocks >= 0x200000)
        return NULL;
    b = malloc(cap);
    if (!b)
        return NULL;
    p = b;
    memcpy(p, "fLaC", 4);
    p += 4;
    *p++ = 0x80; /* last metadata block, STREAMINFO */
    *p++ = 0;
    *p++ = 0;
    *p++ = 34;
    /* The last block may be shorter, so min block size 16. */
    *p++ = 0;
    *p++ = 16;
    *p++ = BLOCK >> 8;
    *p++ = BLOCK & 0xFF;
    memset(p, 0, 6); /* frame sizes unknown */
    p += 6;
    /* 20 bits rate, 3 bits channels-1, 5 bits depth-1 (15), 36 bits total. */
    *p++ = (uint8_t)(rate >> 12);
    *p++ = (uint8_t)(rate >> 4);
    *p++ = (uint8_t)(((rate & 0xF) << 4) | ((channels - 1) << 1) | (15 >> 4));
    *p++ = (uint8_t)(((15 & 0xF) << 4) | ((claim >> 32) & 0xF));
    *p++ = (uint8_t)(claim >> 24);
    *p++ = (uint8_t)(claim >> 16);
    *p++ = (uint8_t)(claim >> 8);
    *p++ = (uint8_t)claim;
    memset(p, 0, 16); /* MD5 unknown */
    p += 16;
    for (uint64_t k = 0; k < n_blocks; k++) {
        uint8_t *f = p;
        uint32_t bs = k + 1 < n_blocks ? BLOCK : (uint32_t)(frames - k * BLOCK);
        if (bs < 16 && n_blocks > 1) /* too short a tail: fold it into a full block */
            bs = 16;
        *p++ = 0xFF;
        *p++ = 0xF8; /* fixed block size */
        *p++ = 0x70; /* 16-bit block size field follows; rate from STREAMINFO */
        *p++ = (uint8_t)((channels - 1) << 4); /* independent; depth from STREAMINFO */
        p += utf8(p, (uint32_t)k);
        *p++ = (uint8_t)((bs - 1) >> 8);
        *p++ = (uint8_t)((bs - 1) & 0xFF);
        *p = crc8(f, (size_t)(p - f));
        p++;
        for (int c = 0; c < channels; c++) { /* CONSTANT subframe, value 0 */
            *p++ = 0;
            *p++ = 0;
            *p++ = 0;
        }
        uint16_t c16 = crc16(f, (size_t)(p - f));
        *p++ = (uint8_t)(c16 >> 8);
        *p++ = (uint8_t)(c16 & 0xFF);
    }
    *len = (size_t)(p - b);
    return b;
}

int flac_bomb_file(const char *path, int channels, int rate, uint64_t frames, uint64_t claim)
{
    size_t len;
    unsigned char *b = flac_bomb(channels, rate, frames, claim, &len);
    FILE *f;
    int rc = -1;
    if (!b)
        return -1;
    f = fopen(path, "wb");
    if (f) {
        rc = fwrite(b, 1, len, f) == len ? 0 : -1;
        if (fclose(f) != 0)
            rc = -1;
    }
    free(b);
    return rc;
}
