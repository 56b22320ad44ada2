/* crc32c.c: CRC32C (Castagnoli, reflected polynomial 0x82F63B78) and the
 * base64 helpers of the module. The SSE4.2 crc32 instruction is used when
 * cpuid reports it; otherwise a slice-by-8 table. The table is built once
 * under pthread_once, so everything here is thread-safe. */
#include "gcp/crc32c.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "gcp/gcp_int.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <nmmintrin.h>
#define HAVE_X86 1
#endif

static uint32_t table[8][256];
static int use_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    uint32_t i, j, c;

    for (i = 0; i < 256; i++) {
        c = i;
        for (j = 0; j < 8; j++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        table[0][i] = c;
    }
    for (i = 0; i < 256; i++)
        for (j = 1; j < 8; j++)
            table[j][i] = (table[j - 1][i] >> 8) ^ table[0][table[j - 1][i] & 0xff];
#ifdef HAVE_X86
    {
        unsigned int a, b, cc, d;

        if (__get_cpuid(1, &a, &b, &cc, &d) && (cc & bit_SSE4_2))
            use_hw = 1;
    }
    if (getenv("WIGGLY_CRC32C_NO_HW"))
        use_hw = 0;
#endif
}

static uint32_t crc_sw(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
        len--;
    }
    while (len >= 8) {
        uint64_t w;

        memcpy(&w, p, 8);
        /* Little-endian load: x86 and arm64 hosts. */
        w ^= crc;
        crc = table[7][w & 0xff] ^ table[6][(w >> 8) & 0xff] ^ table[5][(w >> 16) & 0xff] ^
              table[4][(w >> 24) & 0xff] ^ table[3][(w >> 32) & 0xff] ^ table[2][(w >> 40) & 0xff] ^
              table[1][(w >> 48) & 0xff] ^ table[0][w >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
    return crc;
}

#ifdef HAVE_X86
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p,
                                                         size_t len)
{
    uint64_t c = crc;

    while (len && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    while (len >= 8) {
        uint64_t w;

        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return (uint32_t)c;
}
#endif

uint32_t gcp_crc32c(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;

    pthread_once(&once, crc_init);
    if (!p || !len)
        return crc;
    crc = ~crc;
#ifdef HAVE_X86
    if (use_hw)
        return ~crc_hw(crc, p, len);
#endif
    return ~crc_sw(crc, p, len);
}

uint32_t gcp__crc32c_sw(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&once, crc_init);
    if (!data || !len)
        return crc;
    return ~crc_sw(~crc, data, len);
}

void gcp_crc32c_base64(uint32_t crc, char out[9])
{
    unsigned char be[4] = {(unsigned char)(crc >> 24), (unsigned char)(crc >> 16),
                           (unsigned char)(crc >> 8), (unsigned char)crc};
    char *s = gcp__b64_encode(be, 4, 0);

    if (s) {
        memcpy(out, s, 9);
        free(s);
    } else {
        out[0] = '\0';
    }
}

/* ---- base64 ---- */

char *gcp__b64_encode(const void *data, size_t len, int url)
{
    static const char std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    static const char urls[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const char *a = url ? urls : std;
    const unsigned char *p = data;
    size_t i, o = 0;
    char *out = malloc((len + 2) / 3 * 4 + 1);

    if (!out)
        return NULL;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = ((uint32_t)p[i] << 16) | ((uint32_t)p[i + 1] << 8) | p[i + 2];

        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        out[o++] = a[(v >> 6) & 63];
        out[o++] = a[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16;

        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        out[o++] = a[v >> 18];
        out[o++] = a[(v >> 12) & 63];
        if (i + 1 < len)
            out[o++] = a[(v >> 6) & 63];
        else if (!url)
            out[o++] = '=';
        if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

int gcp__b64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen)
{
    unsigned char *o = malloc(inlen / 4 * 3 + 4);
    size_t i, n = 0;
    uint32_t acc = 0;
    int bits = 0, pad = 0;

    if (!o)
        return -1;
    for (i = 0; i < inlen; i++) {
        int v;

        if (in[i] == '=') {
            pad++;
            continue;
        }
        if (pad) /* data after padding */
            goto bad;
        v = b64val((unsigned char)in[i]);
        if (v < 0)
            goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (bits >= 6 || pad > 2)
        goto bad;
    *out = o;
    *outlen = n;
    return 0;
bad:
    free(o);
    return -1;
}
