/* audio_testutil.c: see audio_testutil.h. */
#include "tests/support/audio_testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sndfile.h>

#define TU_PI 3.14159265358979323846

struct memsrc {
    const unsigned char *p;
    sf_count_t len, pos;
};

static sf_count_t m_len(void *u)
{
    return ((struct memsrc *)u)->len;
}

static sf_count_t m_seek(sf_count_t off, int whence, void *u)
{
    struct memsrc *m = u;
    sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? m->pos : m->len;
    if (base + off < 0)
        return -1;
    m->pos = base + off;
    return m->pos;
}

static sf_count_t m_read(void *dst, sf_count_t n, void *u)
{
    struct memsrc *m = u;
    if (m->pos >= m->len)
        return 0;
    if (n > m->len - m->pos)
        n = m->len - m->pos;
    memcpy(dst, m->p + m->pos, (size_t)n);
    m->pos += n;
    return n;
}

static sf_count_t m_write(const void *src, sf_count_t n, void *u)
{
    (void)src;
    (void)n;
    (void)u;
    return 0;
}

static sf_count_t m_tell(void *u)
{
    return ((struct memsrc *)u)->pos;
}

static int decode_sf(SNDFILE *sf, const SF_INFO *info, struct audio_test_pcm *out)
{
    size_t cap = 65536, n = 0;
    float *x = malloc(cap * (size_t)info->channels * sizeof(float));
    for (;;) {
        if (!x)
            return -1;
        if (n + 4096 > cap) {
            cap *= 2;
            float *y = realloc(x, cap * (size_t)info->channels * sizeof(float));
            if (!y) {
                free(x);
                return -1;
            }
            x = y;
        }
        sf_count_t got = sf_readf_float(sf, x + n * (size_t)info->channels, 4096);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    out->x = x;
    out->frames = (int64_t)n;
    out->rate = info->samplerate;
    out->channels = info->channels;
    out->sf_format = info->format;
    return 0;
}

int audio_test_decode_mem(const void *buf, size_t len, struct audio_test_pcm *out)
{
    SF_VIRTUAL_IO io = {m_len, m_seek, m_read, m_write, m_tell};
    struct memsrc m = {buf, (sf_count_t)len, 0};
    SF_INFO info;
    memset(&info, 0, sizeof(info));
    memset(out, 0, sizeof(*out));
    SNDFILE *sf = sf_open_virtual(&io, SFM_READ, &info, &m);
    if (!sf)
        return -1;
    int rc = decode_sf(sf, &info, out);
    sf_close(sf);
    return rc;
}

int audio_test_decode_file(const char *path, struct audio_test_pcm *out)
{
    size_t len;
    void *buf = audio_test_slurp(path, &len);
    if (!buf)
        return -1;
    int rc = audio_test_decode_mem(buf, len, out);
    free(buf);
    return rc;
}

void audio_test_pcm_free(struct audio_test_pcm *p)
{
    free(p->x);
    p->x = NULL;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

void *audio_test_wav_float(const float *x, int64_t frames, int channels, int rate, size_t *len)
{
    size_t data = (size_t)frames * (size_t)channels * 4;
    unsigned char *b = malloc(44 + data);
    if (!b)
        return NULL;
    memcpy(b, "RIFF", 4);
    put32(b + 4, (uint32_t)(36 + data));
    memcpy(b + 8, "WAVEfmt ", 8);
    put32(b + 16, 16);
    put16(b + 20, 3); /* IEEE float */
    put16(b + 22, (unsigned)channels);
    put32(b + 24, (uint32_t)rate);
    put32(b + 28, (uint32_t)(rate * channels * 4));
    put16(b + 32, (unsigned)(channels * 4));
    put16(b + 34, 32);
    memcpy(b + 36, "data", 4);
    put32(b + 40, (uint32_t)data);
    memcpy(b + 44, x, data); /* little-endian host assumed (x86, arm64) */
    *len = 44 + data;
    return b;
}

int audio_test_sf_write(const char *path, int sf_format, const float *x, int64_t frames,
                        int channels, int rate)
{
    SF_INFO info;
    memset(&info, 0, sizeof(info));
    info.samplerate = rate;
    info.channels = channels;
    info.format = sf_format;
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf)
        return -1;
    int ok = frames == 0 || sf_writef_float(sf, x, (sf_count_t)frames) == (sf_count_t)frames;
    return sf_close(sf) == 0 && ok ? 0 : -1;
}

void *audio_test_flac_empty(int rate, int channels, size_t *len)
{
    /* "fLaC", then a metadata block header (last block, type 0 STREAMINFO,
     * 34 bytes): block sizes 4096/4096, frame sizes unknown (0), then 64
     * bits of rate (20), channels - 1 (3), bits per sample - 1 (5) and
     * total samples (36) = 0, then an MD5 of zeros (unset). */
    unsigned char *b = calloc(1, 42);
    if (!b)
        return NULL;
    memcpy(b, "fLaC", 4);
    b[4] = 0x80;
    b[7] = 34;
    b[8] = 0x10;
    b[10] = 0x10;
    uint64_t v = (uint64_t)rate << 44 | (uint64_t)(channels - 1) << 41 | (uint64_t)(16 - 1) << 36;
    for (int i = 0; i < 8; i++)
        b[18 + i] = (unsigned char)(v >> (56 - 8 * i));
    *len = 42;
    return b;
}

/* Solves the 4x4 system a x = y in place (Gaussian elimination with
 * partial pivoting). */
static void solve4(double a[4][4], double y[4])
{
    for (int c = 0; c < 4; c++) {
        int p = c;
        for (int r = c + 1; r < 4; r++)
            if (fabs(a[r][c]) > fabs(a[p][c]))
                p = r;
        for (int k = 0; k < 4; k++) {
            double t = a[c][k];
            a[c][k] = a[p][k];
            a[p][k] = t;
        }
        double t = y[c];
        y[c] = y[p];
        y[p] = t;
        for (int r = c + 1; r < 4; r++) {
            double f = a[r][c] / a[c][c];
            for (int k = c; k < 4; k++)
                a[r][k] -= f * a[c][k];
            y[r] -= f * y[c];
        }
    }
    for (int c = 3; c >= 0; c--) {
        for (int k = c + 1; k < 4; k++)
            y[c] -= a[c][k] * y[k];
        y[c] /= a[c][c];
    }
}

double audio_test_sine_fit(const float *x, size_t n, int stride, double rate, double f0,
                           double *freq, double *amp)
{
    double w = 2 * TU_PI * f0 / rate, A = 0, B = 0, C = 0;
    double tmid = (double)n / 2; /* centre time for conditioning */
    for (int iter = 0; iter < 8; iter++) {
        double m[4][4] = {{0}}, y[4] = {0};
        for (size_t i = 0; i < n; i++) {
            double t = (double)i - tmid, s = sin(w * t), c = cos(w * t);
            double g[4] = {s, c, 1, iter ? t * (A * c - B * s) : 0};
            double v = x[i * (size_t)stride];
            for (int r = 0; r < 4; r++) {
                for (int k = 0; k < 4; k++)
                    m[r][k] += g[r] * g[k];
                y[r] += g[r] * v;
            }
        }
        if (!iter) {
            m[3][3] = 1; /* first pass: three-parameter fit only */
        }
        solve4(m, y);
        A = y[0];
        B = y[1];
        C = y[2];
        if (iter)
            w += y[3];
    }
    double res = 0;
    for (size_t i = 0; i < n; i++) {
        double t = (double)i - tmid;
        double e = x[i * (size_t)stride] - (A * sin(w * t) + B * cos(w * t) + C);
        res += e * e;
    }
    double sig = (A * A + B * B) / 2;
    *freq = w * rate / (2 * TU_PI);
    *amp = sqrt(A * A + B * B);
    return 10 * log10(res / (double)n / sig);
}

double audio_test_rms(const struct audio_test_pcm *p, int ch, int64_t from, int64_t to)
{
    double s = 0;
    for (int64_t i = from; i < to; i++) {
        double v = p->x[i * p->channels + ch];
        s += v * v;
    }
    return sqrt(s / (double)(to - from));
}

void *audio_test_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    size_t got;
    while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *c = realloc(b, cap * 2);
            if (!c) {
                free(b);
                b = NULL;
                break;
            }
            b = c;
            cap *= 2;
        }
    }
    fclose(f);
    *len = n;
    return b;
}

int audio_test_spit(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(buf, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int audio_test_json_number(const char *json, const char *key, double *v)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    char *end;
    *v = strtod(p, &end);
    return end == p ? -1 : 0;
}

float *audio_test_wide_sine(int channels, int rate)
{
    float *x = malloc((size_t)rate * (size_t)channels * sizeof(float));
    if (!x)
        return NULL;
    for (int c = 0; c < channels; c++) {
        double a = c == channels - 1 ? 0.9 : 0.05 + 0.4 * (double)((c * 7) % 13) / 12.0;
        for (int i = 0; i < rate; i++)
            x[(size_t)i * (size_t)channels + (size_t)c] =
                (float)(a * sin(2 * TU_PI * 997.0 * i / rate + TU_PI * (c % 2)));
    }
    return x;
}

static int near(const char *json, const char *key, double want, double tol, char *why, size_t cap)
{
    double v;
    if (audio_test_json_number(json, key, &v) != 0) {
        snprintf(why, cap, "%s missing", key);
        return -1;
    }
    if (fabs(v - want) > tol) {
        snprintf(why, cap, "%s is %.4f, computed %.4f (tolerance %.4f)", key, v, want, tol);
        return -1;
    }
    return 0;
}

int audio_test_check_wide_features(const char *json, const struct audio_test_pcm *p, char *why,
                                   size_t cap)
{
    int ch = p->channels;
    double *z = calloc((size_t)ch, sizeof(double)), peak = 0, sum = 0, amp = 0;
    if (!z || ch < 6 || !json) {
        free(z);
        snprintf(why, cap, "no JSON, or fewer than 6 channels");
        return -1;
    }
    for (int64_t i = 0; i < p->frames; i++)
        for (int c = 0; c < ch; c++) {
            double v = p->x[i * ch + c];
            z[c] += v * v;
            if (fabs(v) > peak)
                peak = fabs(v);
        }
    for (int c = 0; c < ch; c++) {
        sum += z[c];
        z[c] /= (double)p->frames;
        if (sqrt(2 * z[c]) > amp)
            amp = sqrt(2 * z[c]);
    }
    double lufs = 10 * log10(z[0] + z[1] + z[2] + 1.41 * (z[4] + z[5]));
    free(z);
    if (near(json, "frames", (double)p->frames, 0, why, cap) ||
        near(json, "channels", ch, 0, why, cap) ||
        near(json, "sample_rate", p->rate, 0, why, cap) ||
        near(json, "peak_dbfs", 20 * log10(peak), 0.002, why, cap) ||
        near(json, "rms_dbfs", 10 * log10(sum / ((double)p->frames * ch)), 0.002, why, cap) ||
        near(json, "true_peak_dbfs", 20 * log10(amp), 0.05, why, cap) ||
        near(json, "loudness_lufs", lufs, 0.01, why, cap))
        return -1;
    return 0;
}

int audio_test_remove_dir(const char *dir)
{
    char cmd[600];
    if (strchr(dir, '\'') || snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) >= (int)sizeof(cmd))
        return -1;
    return system(cmd) == 0 ? 0 : -1;
}
