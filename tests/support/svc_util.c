/* svc_util.c: file helpers for the service tests and their body collector
 * for libcurl (see svc_util.h). */
#include "support/svc_util.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

int svc_test_tmpdir(char *out, size_t len, const char *tag)
{
    const char *t = getenv("TMPDIR");
    snprintf(out, len, "%s/wiggly-%s-XXXXXX", t && t[0] ? t : "/tmp", tag);
    return mkdtemp(out) ? 0 : -1;
}

int svc_test_rmtree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    if (!d)
        return unlink(path);
    while ((e = readdir(d)) != NULL) {
        char sub[4096];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        svc_test_rmtree(sub);
    }
    closedir(d);
    return rmdir(path);
}

int svc_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    if (len && fwrite(data, 1, len, f) != len) {
        fclose(f);
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

char *svc_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap = (cap ? cap * 2 : 8192));
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t k = fread(buf + n, 1, 4096, f);
        n += k;
        if (k < 4096)
            break;
    }
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

int svc_test_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void le16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v & 0xff);
    p[1] = (unsigned char)((v >> 8) & 0xff);
}

static void le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)((v >> (8 * i)) & 0xff);
}

int svc_test_write_wav(const char *path, int rate, int channels, double seconds, double freq)
{
    int64_t frames = (int64_t)(seconds * rate + 0.5);
    uint32_t data_len = (uint32_t)(frames * channels * 2);
    unsigned char h[44];
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    memcpy(h, "RIFF", 4);
    le32(h + 4, 36 + data_len);
    memcpy(h + 8, "WAVEfmt ", 8);
    le32(h + 16, 16);
    le16(h + 20, 1);
    le16(h + 22, (unsigned)channels);
    le32(h + 24, (uint32_t)rate);
    le32(h + 28, (uint32_t)(rate * channels * 2));
    le16(h + 32, (unsigned)(channels * 2));
    le16(h + 34, 16);
    memcpy(h + 36, "data", 4);
    le32(h + 40, data_len);
    fwrite(h, 1, sizeof(h), f);
    for (int64_t i = 0; i < frames; i++) {
        double v = 0.5 * sin(2 * M_PI * freq * (double)i / rate);
        int16_t s = (int16_t)lrint(v * 32767);
        unsigned char b[2];
        le16(b, (uint16_t)s);
        for (int c = 0; c < channels; c++)
            fwrite(b, 1, 2, f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

void svc_test_sleep(double seconds)
{
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0)
        ;
}

size_t svc_test_body_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct svc_test_body *b = ud;
    size_t k = sz * n;
    if (b->len + k >= sizeof(b->buf))
        return 0;
    memcpy(b->buf + b->len, p, k);
    b->len += k;
    b->buf[b->len] = 0;
    return k;
}

CURL *svc_test_http_easy(const char *url, struct svc_test_body *b)
{
    CURL *c = curl_easy_init();
    b->len = 0;
    b->buf[0] = 0;
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, svc_test_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    return c;
}
