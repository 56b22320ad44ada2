/* emu_util.c: percent coding, name keys, CRC32C (slicing-by-8), MD5 via
 * OpenSSL EVP, base64 and timestamps for the GCS emulator. */
#include "emulator/emu_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *emu_pct_decode(const char *src, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '%') {
            int hi, lo;
            if (i + 2 >= len) {
                free(out);
                return NULL;
            }
            hi = hexval((unsigned char)src[i + 1]);
            lo = hexval((unsigned char)src[i + 2]);
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = src[i];
        }
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

static const char HEX[] = "0123456789ABCDEF";

char *emu_pct_encode(const char *src, size_t len)
{
    char *out = malloc(len * 3 + 1);
    size_t o = 0;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = HEX[c >> 4];
            out[o++] = HEX[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

int emu_name_key(const char *name, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
        if (o + 4 > cap || o + 4 > 201) {
            o = (size_t)-1;
            break;
        }
        if (plain) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = HEX[c >> 4];
            out[o++] = HEX[c & 15];
        }
    }
    if (o != (size_t)-1 && o > 0) {
        out[o] = '\0';
        return 0;
    }
    if (cap < 66)
        return -1;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(name, len, md, &mdlen, EVP_sha256(), NULL))
        return -1;
    out[0] = '~';
    for (unsigned int i = 0; i < mdlen && i < 32; i++) {
        out[1 + 2 * i] = "0123456789abcdef"[md[i] >> 4];
        out[2 + 2 * i] = "0123456789abcdef"[md[i] & 15];
    }
    out[65] = '\0';
    return 0;
}

char *emu_name_from_key(const char *key)
{
    size_t len = strlen(key);
    if (key[0] == '~')
        return NULL;
    return emu_pct_decode(key, len, NULL);
}

/* CRC32C, Castagnoli, reflected polynomial 0x82F63B78, slicing-by-8. */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t emu_crc32c_update(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
              crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^
              crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        len -= 8;
    }
    while (len--)
        crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
    return ~crc;
}

int emu_hasher_init(struct emu_hasher *h)
{
    h->crc = 0;
    h->bytes = 0;
    h->md5 = EVP_MD_CTX_new();
    if (!h->md5 || !EVP_DigestInit_ex(h->md5, EVP_md5(), NULL)) {
        EVP_MD_CTX_free(h->md5);
        h->md5 = NULL;
        return -1;
    }
    return 0;
}

void emu_hasher_update(struct emu_hasher *h, const void *buf, size_t len)
{
    h->crc = emu_crc32c_update(h->crc, buf, len);
    h->bytes += len;
    if (h->md5)
        EVP_DigestUpdate(h->md5, buf, len);
}

void emu_hasher_final(struct emu_hasher *h, char *crc_b64, char *md5_b64)
{
    unsigned char be[4] = {(unsigned char)(h->crc >> 24), (unsigned char)(h->crc >> 16),
                           (unsigned char)(h->crc >> 8), (unsigned char)h->crc};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    emu_base64(be, 4, crc_b64);
    if (h->md5 && EVP_DigestFinal_ex(h->md5, md, &n))
        emu_base64(md, n, md5_b64);
    else
        md5_b64[0] = '\0';
    emu_hasher_cleanup(h);
}

void emu_hasher_cleanup(struct emu_hasher *h)
{
    EVP_MD_CTX_free(h->md5);
    h->md5 = NULL;
}

int emu_hash_fd(int fd, uint64_t off, uint64_t len, char *crc_b64, char *md5_b64)
{
    struct emu_hasher h;
    static const size_t BUF = 1 << 16;
    char *buf = malloc(BUF);
    if (!buf || emu_hasher_init(&h) < 0) {
        free(buf);
        return -ENOMEM;
    }
    while (len > 0) {
        size_t want = len < BUF ? (size_t)len : BUF;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? -errno : -EIO;
            emu_hasher_cleanup(&h);
            free(buf);
            return e;
        }
        emu_hasher_update(&h, buf, (size_t)n);
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    free(buf);
    emu_hasher_final(&h, crc_b64, md5_b64);
    return 0;
}

void emu_base64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

void emu_time_rfc3339(uint64_t usec, char *out, size_t cap)
{
    time_t s = (time_t)(usec / 1000000u);
    struct tm tm;
    gmtime_r(&s, &tm);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)((usec / 1000u) % 1000u));
}

uint64_t emu_now_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int emu_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}
