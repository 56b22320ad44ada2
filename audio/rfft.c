/* rfft.c: the real FFT of the analysis arrays, AUDIO__LANES frames at once
 * (docs/analysis.md "The FFT").
 *
 * Each lane of an audio__f4 holds one frame, so every operation below works
 * on four independent transforms with no shuffle: the compiler turns the
 * vector arithmetic into SSE2 on x86-64 and NEON on arm64. A power-of-two
 * n is split into the complex FFT of n/2 points of z[k] = x[2k] + i x[2k+1]
 * (radix-2 Stockham, decimation in frequency, no bit reversal) and the
 * usual split into the n/2 + 1 bins of the real signal, as kiss_fftr does.
 * Any other even n goes through KISS FFT's kiss_fftr one lane at a time.
 * Twiddles are computed in double and rounded once. No locks: one handle
 * per array. */
#include "audio/audio_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <kiss_fftr.h>

#define PI 3.14159265358979323846

struct audio__rfft {
    int n, m;                     /* real points, complex points (n / 2) */
    float *twr, *twi;             /* exp(-2 pi i j / m), j < m / 2 */
    float *tnr, *tni;             /* exp(-2 pi i k / n), k <= m */
    audio__f4 *xr, *xi, *yr, *yi; /* m each: the Stockham ping-pong */
    kiss_fftr_cfg kiss;           /* n not a power of two */
    float *kin;
    kiss_fft_cpx *kout;
};

void *audio__f4_alloc(size_t count)
{
    return aligned_alloc(sizeof(audio__f4), (count ? count : 1) * sizeof(audio__f4));
}

void audio__rfft_destroy(struct audio__rfft *f)
{
    if (!f)
        return;
    free(f->twr);
    free(f->twi);
    free(f->tnr);
    free(f->tni);
    free(f->xr);
    free(f->xi);
    free(f->yr);
    free(f->yi);
    kiss_fftr_free(f->kiss);
    free(f->kin);
    free(f->kout);
    free(f);
}

int audio__rfft_create(struct audio__rfft **out, int n)
{
    struct audio__rfft *f = calloc(1, sizeof(*f));
    *out = NULL;
    if (!f)
        return -1;
    f->n = n;
    f->m = n / 2;
    int m = f->m;
    if (m & (m - 1)) {
        f->kiss = kiss_fftr_alloc(n, 0, NULL, NULL);
        f->kin = malloc((size_t)n * sizeof(float));
        f->kout = malloc((size_t)(m + 1) * sizeof(kiss_fft_cpx));
        if (!f->kiss || !f->kin || !f->kout)
            goto fail;
        *out = f;
        return 0;
    }
    f->twr = malloc((size_t)(m / 2 + 1) * sizeof(float));
    f->twi = malloc((size_t)(m / 2 + 1) * sizeof(float));
    f->tnr = malloc((size_t)(m + 1) * sizeof(float));
    f->tni = malloc((size_t)(m + 1) * sizeof(float));
    f->xr = audio__f4_alloc((size_t)m);
    f->xi = audio__f4_alloc((size_t)m);
    f->yr = audio__f4_alloc((size_t)m);
    f->yi = audio__f4_alloc((size_t)m);
    if (!f->twr || !f->twi || !f->tnr || !f->tni || !f->xr || !f->xi || !f->yr || !f->yi)
        goto fail;
    for (int j = 0; j < m / 2; j++) {
        f->twr[j] = (float)cos(2 * PI * j / m);
        f->twi[j] = (float)-sin(2 * PI * j / m);
    }
    for (int k = 0; k <= m; k++) {
        f->tnr[k] = (float)cos(2 * PI * k / n);
        f->tni[k] = (float)-sin(2 * PI * k / n);
    }
    *out = f;
    return 0;
fail:
    audio__rfft_destroy(f);
    return -1;
}

static void run_kiss(struct audio__rfft *f, const audio__f4 *x, audio__f4 *re, audio__f4 *im)
{
    for (int l = 0; l < AUDIO__LANES; l++) {
        for (int i = 0; i < f->n; i++)
            f->kin[i] = x[i][l];
        kiss_fftr(f->kiss, f->kin, f->kout);
        for (int k = 0; k <= f->m; k++) {
            re[k][l] = f->kout[k].r;
            im[k][l] = f->kout[k].i;
        }
    }
}

void audio__rfft_run(struct audio__rfft *f, const audio__f4 *x, audio__f4 *re, audio__f4 *im)
{
    if (f->kiss) {
        run_kiss(f, x, re, im);
        return;
    }
    int m = f->m;
    audio__f4 *xr = f->xr, *xi = f->xi, *yr = f->yr, *yi = f->yi, *t;
    for (int k = 0; k < m; k++) {
        xr[k] = x[2 * k];
        xi[k] = x[2 * k + 1];
    }
    /* A stage splits each of the m / len blocks of len points into two
     * halves of len / 2: outputs s apart, s = m / len. */
    for (int len = m, s = 1; len > 1; len /= 2, s *= 2) {
        int h = len / 2;
        for (int p = 0; p < h; p++) {
            float wr = f->twr[p * s], wi = f->twi[p * s];
            const audio__f4 *ar = xr + s * p, *ai = xi + s * p;
            const audio__f4 *br = xr + s * (p + h), *bi = xi + s * (p + h);
            audio__f4 *or0 = yr + 2 * s * p, *oi0 = yi + 2 * s * p;
            audio__f4 *or1 = or0 + s, *oi1 = oi0 + s;
            for (int q = 0; q < s; q++) {
                audio__f4 dr = ar[q] - br[q], di = ai[q] - bi[q];
                or0[q] = ar[q] + br[q];
                oi0[q] = ai[q] + bi[q];
                or1[q] = dr * wr - di * wi;
                oi1[q] = dr * wi + di * wr;
            }
        }
        t = xr, xr = yr, yr = t;
        t = xi, xi = yi, yi = t;
    }
    /* X[k] = (Z[k] + conj Z[m-k]) / 2 + W_n^k (Z[k] - conj Z[m-k]) / 2i. */
    re[0] = xr[0] + xi[0];
    im[0] = (audio__f4){0, 0, 0, 0};
    re[m] = xr[0] - xi[0];
    im[m] = im[0];
    for (int k = 1; k < m; k++) {
        audio__f4 ar = xr[k], ai = xi[k], br = xr[m - k], bi = -xi[m - k];
        audio__f4 er = (ar + br) * 0.5f, ei = (ai + bi) * 0.5f;
        audio__f4 odr = (ai - bi) * 0.5f, odi = (br - ar) * 0.5f;
        re[k] = er + odr * f->tnr[k] - odi * f->tni[k];
        im[k] = ei + odi * f->tnr[k] + odr * f->tni[k];
    }
}
