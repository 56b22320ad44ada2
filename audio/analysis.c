/* analysis.c: the analysis arrays (STFT, mel, MFCC) of the chain's output,
 * computed in the chain's one streaming pass (docs/analysis.md).
 *
 * The output is mixed down to mono (the average of its channels, as
 * librosa.load(mono=True)), then every array keeps its own buffer of the
 * reflect-padded signal: at most about 5 x n_fft samples, whatever the
 * track's length. Frames are taken AUDIO__LANES at a time, one per lane of
 * a vector: windowed (periodic Hann), transformed by rfft.c and reduced to
 * rows in float, four frames per instruction, then written to the .npy. The
 * left padding needs the first n_fft/2 + 1 samples, the right padding the
 * last n_fft/2 + 1 ones: the buffer always keeps that many. A dB array is
 * written in dB and its floor (the track's maximum - top_db, known only at
 * the end) applied by a second pass over the file, skipped when no value
 * is below the floor; an MFCC array is written as dB mel rows and turned
 * into MFCCs by that same pass, in place (n_mfcc <= n_mels). The second
 * pass checks the cancel flag per chunk. Memory is flat in the track's
 * length.
 *
 * Definitions follow librosa (filters.mel, feature.melspectrogram,
 * power_to_db, feature.mfcc), which torchaudio matches for these options.
 * No locks: one handle per chain. */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "audio/audio_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* librosa's amin for power_to_db: the smallest power taken as is. */
#define DB_AMIN 1e-10
/* Mono samples mixed down per step. */
#define MONO_CHUNK 4096
#define PI         3.14159265358979323846

struct arr {
    struct audio_array_spec s;
    int nfreq, nbins; /* FFT bins; columns written (n_mels for an MFCC's first pass) */
    struct audio__rfft *fft;
    float *win;
    /* One frame per lane (rfft.c): the windowed frames, their bins, the
     * powers, the mel rows; out: the rows as written, frame after frame. */
    audio__f4 *frame, *re, *im, *pw, *row;
    float *out;
    /* Mel filters, packed: band m covers bins fb_lo[m] .. fb_lo[m] + fb_n[m] - 1,
     * its weights at fb_w + fb_off[m]. */
    int *fb_lo, *fb_n, *fb_off;
    float *fb_w;
    double *dct; /* n_mfcc x n_mels, row-major */
    /* The padded signal from padded index `base` on (before the left
     * padding exists: the raw signal from index 0). */
    float *buf;
    size_t len, cap;
    int64_t base, next, x_len;
    int started;
    float maxv, minv; /* largest and smallest dB value written */
    struct audio__npy npy;
    int has_npy;
};

struct audio__analysis {
    struct arr *a;
    size_t n;
    int rate, channels;
    float *mono;
};

/* ---- specs ------------------------------------------------------------- */

void audio_array_spec_init(struct audio_array_spec *a, enum audio_array_kind kind)
{
    memset(a, 0, sizeof(*a));
    a->kind = kind;
    a->n_fft = 2048;
    a->hop = audio_array_hop_default(a->n_fft);
    a->center = 1;
    a->power = 2;
    a->n_mels = 128;
    a->slaney_norm = 1;
    a->top_db = 80;
    a->n_mfcc = 20;
}

int audio_array_hop_default(int n_fft)
{
    return n_fft / 4;
}

static const char *const kind_names[] = {"stft", "mel", "mfcc"};

int audio_array_kind_parse(const char *name, enum audio_array_kind *out)
{
    for (int k = 0; k < 3; k++)
        if (!strcmp(name, kind_names[k])) {
            *out = (enum audio_array_kind)k;
            return 0;
        }
    return AUDIO_EINVAL;
}

const char *audio_array_kind_name(enum audio_array_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "unknown";
}

__attribute__((format(printf, 3, 4))) static int why_set(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (why && n)
        vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return AUDIO_EINVAL;
}

int audio_array_spec_check(const struct audio_array_spec *a, int rate, char *why, size_t n)
{
    if ((unsigned)a->kind > AUDIO_ARRAY_MFCC)
        return why_set(why, n, "unknown kind %d", (int)a->kind);
    if (a->n_fft < AUDIO_ARRAY_NFFT_MIN || a->n_fft > AUDIO_ARRAY_NFFT_MAX || a->n_fft % 2)
        return why_set(why, n, "n_fft must be even and %d to %d, got %d", AUDIO_ARRAY_NFFT_MIN,
                       AUDIO_ARRAY_NFFT_MAX, a->n_fft);
    if (a->hop < 1 || a->hop > a->n_fft)
        return why_set(why, n, "hop must be 1 to n_fft (%d), got %d", a->n_fft, a->hop);
    if (!(a->power > 0 && a->power <= 4) || (a->kind == AUDIO_ARRAY_MFCC && a->power != 2))
        return why_set(why, n, "power must be above 0 and at most 4 (mfcc: 2), got %g", a->power);
    if (!(a->top_db >= 0 && a->top_db <= 1000))
        return why_set(why, n, "top_db must be 0 to 1000, got %g", a->top_db);
    if (a->kind == AUDIO_ARRAY_STFT)
        return 0;
    if (a->n_mels < 1 || a->n_mels > AUDIO_ARRAY_MELS_MAX)
        return why_set(why, n, "n_mels must be 1 to %d, got %d", AUDIO_ARRAY_MELS_MAX, a->n_mels);
    if (a->kind == AUDIO_ARRAY_MFCC && (a->n_mfcc < 1 || a->n_mfcc > a->n_mels))
        return why_set(why, n, "n_mfcc must be 1 to n_mels (%d), got %d", a->n_mels, a->n_mfcc);
    if (!(a->fmin >= 0) || !(a->fmax >= 0))
        return why_set(why, n, "fmin and fmax must not be negative");
    if (rate > 0 && a->fmax > rate / 2.0)
        return why_set(why, n, "fmax %g Hz is above the Nyquist frequency of %d Hz (%g Hz)",
                       a->fmax, rate, rate / 2.0);
    double fmax = a->fmax > 0 ? a->fmax : rate / 2.0;
    if ((a->fmax > 0 || rate > 0) && a->fmin >= fmax)
        return why_set(why, n, "fmin %g Hz must be below fmax %g Hz", a->fmin, fmax);
    return 0;
}

static int parse_num(const char *v, double *out)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !isfinite(d))
        return -1;
    *out = d;
    return 0;
}

static int parse_int(const char *v, int *out)
{
    double d;
    if (parse_num(v, &d) || d != floor(d) || fabs(d) > 1e9)
        return -1;
    *out = (int)d;
    return 0;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

/* One key=value of the CLI form. */
static int parse_kv(struct audio_array_spec *a, const char *k, const char *v, char *why, size_t n)
{
    int bad = 0;
    if (!strcmp(k, "n_fft"))
        bad = parse_int(v, &a->n_fft);
    else if (!strcmp(k, "hop"))
        bad = parse_int(v, &a->hop);
    else if (!strcmp(k, "win"))
        bad = strcmp(v, "hann") != 0;
    else if (!strcmp(k, "center"))
        bad = parse_bool(v, &a->center);
    else if (!strcmp(k, "power") && a->kind != AUDIO_ARRAY_MFCC)
        bad = parse_num(v, &a->power);
    else if (!strcmp(k, "db") && a->kind != AUDIO_ARRAY_MFCC)
        bad = parse_bool(v, &a->db);
    else if (!strcmp(k, "top_db"))
        bad = parse_num(v, &a->top_db);
    else if (!strcmp(k, "n_mels") && a->kind != AUDIO_ARRAY_STFT)
        bad = parse_int(v, &a->n_mels);
    else if (!strcmp(k, "fmin") && a->kind != AUDIO_ARRAY_STFT)
        bad = parse_num(v, &a->fmin);
    else if (!strcmp(k, "fmax") && a->kind != AUDIO_ARRAY_STFT)
        bad = parse_num(v, &a->fmax);
    else if (!strcmp(k, "mel_scale") && a->kind != AUDIO_ARRAY_STFT)
        bad = strcmp(v, "htk") ? strcmp(v, "slaney") != 0 || (a->htk = 0) : (a->htk = 1) != 1;
    else if (!strcmp(k, "norm") && a->kind != AUDIO_ARRAY_STFT)
        bad = strcmp(v, "none") ? strcmp(v, "slaney") != 0 || (a->slaney_norm = 1) != 1
                                : (a->slaney_norm = 0) != 0;
    else if (!strcmp(k, "n_mfcc") && a->kind == AUDIO_ARRAY_MFCC)
        bad = parse_int(v, &a->n_mfcc);
    else
        return why_set(why, n, "key \"%s\" does not apply to %s", k,
                       audio_array_kind_name(a->kind));
    if (bad)
        return why_set(why, n, "bad value \"%s\" for %s", v, k);
    return 0;
}

int audio_array_spec_parse(const char *text, struct audio_array_spec *a, char *why, size_t n)
{
    char buf[512], *save = NULL;
    enum audio_array_kind kind;
    if (strlen(text) >= sizeof(buf))
        return why_set(why, n, "too long");
    snprintf(buf, sizeof(buf), "%s", text);
    char *tok = strtok_r(buf, ",", &save);
    if (!tok || audio_array_kind_parse(tok, &kind))
        return why_set(why, n, "must start with stft, mel or mfcc");
    audio_array_spec_init(a, kind);
    int hop_set = 0;
    while ((tok = strtok_r(NULL, ",", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return why_set(why, n, "\"%s\" is not key=value", tok);
        *eq = '\0';
        if (parse_kv(a, tok, eq + 1, why, n))
            return AUDIO_EINVAL;
        hop_set |= !strcmp(tok, "hop");
    }
    if (!hop_set)
        a->hop = audio_array_hop_default(a->n_fft);
    return audio_array_spec_check(a, 0, why, n);
}

/* ---- the mel filterbank and the DCT (librosa filters.mel, scipy dct) --- */

double audio__hz_to_mel(double f, int htk)
{
    if (htk)
        return 2595.0 * log10(1.0 + f / 700.0);
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return f < min_log_hz ? f / f_sp : min_log_mel + log(f / min_log_hz) / logstep;
}

double audio__mel_to_hz(double m, int htk)
{
    if (htk)
        return 700.0 * (pow(10.0, m / 2595.0) - 1.0);
    const double f_sp = 200.0 / 3, min_log_hz = 1000.0, min_log_mel = min_log_hz / f_sp;
    const double logstep = log(6.4) / 27.0;
    return m < min_log_mel ? m * f_sp : min_log_hz * exp(logstep * (m - min_log_mel));
}

void audio__mel_points(double *f, int n_mels, double fmin, double fmax, int htk)
{
    double m0 = audio__hz_to_mel(fmin, htk), m1 = audio__hz_to_mel(fmax, htk);
    for (int i = 0; i < n_mels + 2; i++)
        f[i] = audio__mel_to_hz(m0 + (m1 - m0) * i / (n_mels + 1), htk);
}

static int make_filters(struct arr *r, int rate)
{
    const struct audio_array_spec *s = &r->s;
    int nm = s->n_mels, nf = r->nfreq;
    double fmax = s->fmax > 0 ? s->fmax : rate / 2.0;
    double *f = malloc((size_t)(nm + 2) * sizeof(*f));
    r->fb_lo = calloc((size_t)nm, sizeof(int));
    r->fb_n = calloc((size_t)nm, sizeof(int));
    r->fb_off = calloc((size_t)nm, sizeof(int));
    /* Adjacent triangles overlap only each other: each bin is in at most
     * two bands, plus one spare bin per band for rounding at the edges. */
    r->fb_w = malloc((size_t)(2 * nf + 2 * nm) * sizeof(float));
    if (!f || !r->fb_lo || !r->fb_n || !r->fb_off || !r->fb_w) {
        free(f);
        return -1;
    }
    audio__mel_points(f, nm, s->fmin, fmax, s->htk);
    int used = 0;
    for (int m = 0; m < nm; m++) {
        double enorm = s->slaney_norm ? 2.0 / (f[m + 2] - f[m]) : 1.0;
        int lo = -1, hi = -1;
        for (int k = 0; k < nf; k++) {
            double hz = (double)k * rate / s->n_fft;
            double lower = (hz - f[m]) / (f[m + 1] - f[m]);
            double upper = (f[m + 2] - hz) / (f[m + 2] - f[m + 1]);
            double v = lower < upper ? lower : upper;
            if (v > 0) {
                if (lo < 0)
                    lo = k;
                hi = k;
            }
        }
        r->fb_off[m] = used;
        if (lo < 0 || used + (hi - lo + 1) > 2 * nf + 2 * nm)
            continue; /* an empty band (librosa warns); the room is never short */
        r->fb_lo[m] = lo;
        r->fb_n[m] = hi - lo + 1;
        for (int k = lo; k <= hi; k++) {
            double hz = (double)k * rate / s->n_fft;
            double lower = (hz - f[m]) / (f[m + 1] - f[m]);
            double upper = (f[m + 2] - hz) / (f[m + 2] - f[m + 1]);
            double v = lower < upper ? lower : upper;
            r->fb_w[used++] = (float)((v > 0 ? v : 0) * enorm);
        }
    }
    free(f);
    return 0;
}

double *audio__dct_ortho(int n_out, int n_in)
{
    double *d = malloc((size_t)n_out * (size_t)n_in * sizeof(double));
    if (!d)
        return NULL;
    for (int k = 0; k < n_out; k++)
        for (int m = 0; m < n_in; m++)
            d[k * n_in + m] = cos(PI / n_in * (m + 0.5) * k) * sqrt((k ? 2.0 : 1.0) / n_in);
    return d;
}

static int make_dct(struct arr *r)
{
    return (r->dct = audio__dct_ortho(r->s.n_mfcc, r->s.n_mels)) ? 0 : -1;
}

/* ---- frames ------------------------------------------------------------ */

/* Writes `count` frames (1 to AUDIO__LANES) starting at p[0..count-1]. All
 * the arithmetic after the FFT is in float, one frame per lane; the worst
 * errors against torchaudio in float64 are in docs/analysis.md. */
static int frames_out(struct arr *r, const float **p, int count, struct audio_error *err)
{
    const struct audio_array_spec *s = &r->s;
    int nf = r->nfreq, nb = r->nbins;
    for (int l = count; l < AUDIO__LANES; l++)
        p[l] = p[0]; /* a spare lane computes a frame again and is dropped */
    for (int i = 0; i < s->n_fft; i++)
        r->frame[i] = (audio__f4){p[0][i], p[1][i], p[2][i], p[3][i]} * r->win[i];
    audio__rfft_run(r->fft, r->frame, r->re, r->im);
    for (int k = 0; k < nf; k++)
        r->pw[k] = r->re[k] * r->re[k] + r->im[k] * r->im[k];
    if (s->power != 2)
        for (int k = 0; k < nf; k++)
            for (int l = 0; l < AUDIO__LANES; l++)
                r->pw[k][l] =
                    s->power == 1 ? sqrtf(r->pw[k][l]) : powf(r->pw[k][l], (float)(s->power / 2));
    const audio__f4 *v = r->pw;
    if (s->kind != AUDIO_ARRAY_STFT) {
        for (int m = 0; m < s->n_mels; m++) {
            const float *w = r->fb_w + r->fb_off[m];
            const audio__f4 *x = r->pw + r->fb_lo[m];
            audio__f4 acc = {0, 0, 0, 0};
            for (int k = 0; k < r->fb_n[m]; k++)
                acc += x[k] * w[k];
            r->row[m] = acc;
        }
        v = r->row;
    }
    if (s->db || s->kind == AUDIO_ARRAY_MFCC) {
        /* librosa power_to_db on |X|^power: 10 log10 of the power. */
        float mult = (float)(20.0 / s->power), amin = (float)pow(DB_AMIN, s->power / 2);
        for (int l = 0; l < count; l++) {
            float *o = r->out + (size_t)l * (size_t)nb, hi = r->maxv, lo = r->minv;
            for (int i = 0; i < nb; i++) {
                float d = mult * log10f(v[i][l] > amin ? v[i][l] : amin);
                hi = d > hi ? d : hi;
                lo = d < lo ? d : lo;
                o[i] = d;
            }
            r->maxv = hi;
            r->minv = lo;
        }
    } else {
        for (int l = 0; l < count; l++)
            for (int i = 0; i < nb; i++)
                r->out[(size_t)l * (size_t)nb + (size_t)i] = v[i][l];
    }
    return audio__npy_write(&r->npy, r->out, (size_t)count, err);
}

/* Writes every batch of AUDIO__LANES frames the buffer holds (at the end,
 * `last`, also a last smaller one), then drops what no frame and no
 * padding will need again. */
static int drain(struct arr *r, int last, struct audio_error *err)
{
    int64_t n = r->s.n_fft, hop = r->s.hop, end = r->base + (int64_t)r->len;
    for (;;) {
        const float *p[AUDIO__LANES];
        int k = 0;
        for (; k < AUDIO__LANES && r->next + k * hop + n <= end; k++)
            p[k] = r->buf + (r->next + k * hop - r->base);
        if (k == 0 || (k < AUDIO__LANES && !last))
            break;
        int rc = frames_out(r, p, k, err);
        if (rc)
            return rc;
        r->next += k * hop;
    }
    int64_t keep = end - (r->s.n_fft / 2 + 1);
    if (keep > r->next)
        keep = r->next;
    if (keep > r->base) {
        size_t drop = (size_t)(keep - r->base);
        memmove(r->buf, r->buf + drop, (r->len - drop) * sizeof(float));
        r->len -= drop;
        r->base = keep;
    }
    return 0;
}

/* Appends padded samples (or raw ones before the left padding exists). */
static int push(struct arr *r, const float *x, size_t n, struct audio_error *err)
{
    while (n > 0) {
        size_t k = r->cap - r->len;
        if (k > n)
            k = n;
        memcpy(r->buf + r->len, x, k * sizeof(float));
        r->len += k;
        x += k;
        n -= k;
        if (!r->started)
            return 0; /* the caller never gives more than the buffer holds */
        int rc = drain(r, 0, err);
        if (rc)
            return rc;
    }
    return 0;
}

/* numpy's reflect padding for any length: index i of an x of len samples. */
static int64_t reflect(int64_t i, int64_t len)
{
    if (len == 1)
        return 0;
    int64_t period = 2 * (len - 1);
    i %= period;
    if (i < 0)
        i += period;
    return i < len ? i : period - i;
}

/* The first half + 1 samples are in: mirror x[half..1] in front of them. */
static void start_padded(struct arr *r)
{
    size_t half = (size_t)r->s.n_fft / 2;
    memmove(r->buf + half, r->buf, r->len * sizeof(float));
    for (size_t j = 0; j < half; j++)
        r->buf[j] = r->buf[half + half - j];
    r->len += half;
    r->base = 0;
    r->started = 1;
}

static int arr_add(struct arr *r, const float *x, size_t n, struct audio_error *err)
{
    r->x_len += (int64_t)n;
    while (!r->started && n > 0) {
        size_t need = (size_t)r->s.n_fft / 2 + 1 - r->len, k = n < need ? n : need;
        push(r, x, k, err);
        x += k;
        n -= k;
        if (r->len == (size_t)r->s.n_fft / 2 + 1)
            start_padded(r);
    }
    return n ? push(r, x, n, err) : 0;
}

static int arr_end(struct arr *r, struct audio_error *err)
{
    int64_t half = r->s.n_fft / 2, len = r->x_len;
    if (!r->s.center)
        return drain(r, 1, err);
    if (!r->started) {
        /* Shorter than n_fft/2 + 1: the whole padded track fits in buf. */
        float *p = r->buf + r->cap - (size_t)(len + 2 * half);
        if (len == 0)
            return 0;
        for (int64_t j = 0; j < len + 2 * half; j++)
            p[j] = r->buf[reflect(j - half, len)];
        const float *f[AUDIO__LANES];
        int k = 0;
        for (int64_t t = 0; t * r->s.hop + 2 * half <= len + 2 * half; t++) {
            f[k++] = p + t * r->s.hop;
            int rc = k == AUDIO__LANES ? frames_out(r, f, k, err) : 0;
            if (rc)
                return rc;
            k %= AUDIO__LANES;
        }
        return k ? frames_out(r, f, k, err) : 0;
    }
    /* x[len - 2 - k] is at buf index len - 2 - k + half - base (drain()
     * keeps the last half + 1 samples), and after drain() the buffer holds
     * less than n_fft + 3 hops (AUDIO__LANES - 1) samples, within 4 n_fft:
     * the padding fits in cap without moving anything. */
    for (int64_t k = 0; k < half; k++)
        r->buf[r->len + (size_t)k] = r->buf[len - 2 - k + half - r->base];
    r->len += (size_t)half;
    return drain(r, 1, err);
}

/* ---- second pass: dB floor, DCT ---------------------------------------- */

static void map_rows(void *ud, const float *in, float *out, size_t rows)
{
    const struct arr *r = ud;
    const struct audio_array_spec *s = &r->s;
    int nin = r->nbins;
    double floor_db = s->top_db > 0 ? r->maxv - s->top_db : -HUGE_VAL;
    for (size_t t = 0; t < rows; t++) {
        const float *x = in + t * (size_t)nin;
        if (s->kind != AUDIO_ARRAY_MFCC) {
            for (int i = 0; i < nin; i++)
                out[t * (size_t)nin + (size_t)i] = (double)x[i] < floor_db ? (float)floor_db : x[i];
            continue;
        }
        double d[AUDIO_ARRAY_MELS_MAX];
        for (int m = 0; m < nin; m++)
            d[m] = (double)x[m] < floor_db ? floor_db : x[m];
        for (int k = 0; k < s->n_mfcc; k++) {
            const double *c = r->dct + (size_t)k * (size_t)nin;
            double acc = 0;
            for (int m = 0; m < nin; m++)
                acc += c[m] * d[m];
            out[t * (size_t)s->n_mfcc + (size_t)k] = (float)acc;
        }
    }
}

/* ---- the set ----------------------------------------------------------- */

static int arr_init(struct arr *r, const struct audio_array_spec *s, int rate,
                    struct audio_error *err)
{
    char why[200];
    r->s = *s;
    r->maxv = -HUGE_VALF;
    r->minv = HUGE_VALF;
    if (audio_array_spec_check(s, rate, why, sizeof(why)))
        return audio__fail(err, AUDIO_EINVAL, "%s array %s: %s", audio_array_kind_name(s->kind),
                           s->path ? s->path : "", why);
    int n = s->n_fft;
    r->nfreq = n / 2 + 1;
    r->nbins = s->kind == AUDIO_ARRAY_STFT ? r->nfreq : s->n_mels;
    r->cap = 5 * (size_t)n; /* see arr_end() */
    audio__rfft_create(&r->fft, n);
    r->win = malloc((size_t)n * sizeof(float));
    r->frame = audio__f4_alloc((size_t)n);
    r->re = audio__f4_alloc((size_t)r->nfreq);
    r->im = audio__f4_alloc((size_t)r->nfreq);
    r->pw = audio__f4_alloc((size_t)r->nfreq);
    r->row = audio__f4_alloc((size_t)r->nbins);
    r->out = malloc(AUDIO__LANES * (size_t)r->nbins * sizeof(float));
    r->buf = malloc(r->cap * sizeof(float));
    if (!r->fft || !r->win || !r->frame || !r->re || !r->im || !r->pw || !r->row || !r->out ||
        !r->buf || (s->kind != AUDIO_ARRAY_STFT && make_filters(r, rate)) ||
        (s->kind == AUDIO_ARRAY_MFCC && make_dct(r)))
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    /* Periodic Hann, as torch.hann_window and scipy get_window("hann"). */
    for (int i = 0; i < n; i++)
        r->win[i] = (float)(0.5 - 0.5 * cos(2 * PI * i / n));
    r->started = !s->center;
    r->has_npy = 1;
    return audio__npy_open(&r->npy, s->path, r->nbins, err);
}

static void arr_cleanup(struct arr *r)
{
    audio__rfft_destroy(r->fft);
    free(r->win);
    free(r->frame);
    free(r->re);
    free(r->im);
    free(r->pw);
    free(r->row);
    free(r->out);
    free(r->buf);
    free(r->fb_lo);
    free(r->fb_n);
    free(r->fb_off);
    free(r->fb_w);
    free(r->dct);
    if (r->has_npy)
        audio__npy_close(&r->npy);
}

int audio__analysis_create(struct audio__analysis **out, const struct audio_array_spec *specs,
                           size_t n, int rate, int channels, struct audio_error *err)
{
    *out = NULL;
    if (n > AUDIO_ARRAYS_MAX)
        return audio__fail(err, AUDIO_EINVAL, "more than %d analysis arrays", AUDIO_ARRAYS_MAX);
    for (size_t i = 0; i < n; i++)
        if (!specs[i].path)
            return audio__fail(err, AUDIO_EINVAL, "analysis array %zu has no path", i);
    struct audio__analysis *a = calloc(1, sizeof(*a));
    if (!a || !(a->a = calloc(n, sizeof(*a->a))) ||
        !(a->mono = malloc(MONO_CHUNK * sizeof(float)))) {
        audio__analysis_destroy(a);
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    }
    a->rate = rate;
    a->channels = channels;
    for (size_t i = 0; i < n; i++) {
        a->n = i + 1;
        int rc = arr_init(&a->a[i], &specs[i], rate, err);
        if (rc) {
            audio__analysis_destroy(a);
            return rc;
        }
    }
    *out = a;
    return 0;
}

int audio__analysis_add(struct audio__analysis *a, const float *buf, size_t frames,
                        struct audio_error *err)
{
    size_t ch = (size_t)a->channels;
    while (frames > 0) {
        size_t m = frames < MONO_CHUNK ? frames : MONO_CHUNK;
        const float *x = buf;
        if (ch > 1) {
            audio__mix_mono(a->mono, buf, m, a->channels);
            x = a->mono;
        }
        for (size_t i = 0; i < a->n; i++) {
            int rc = arr_add(&a->a[i], x, m, err);
            if (rc)
                return rc;
        }
        buf += m * ch;
        frames -= m;
    }
    return 0;
}

int audio__analysis_finish(struct audio__analysis *a, const atomic_int *cancel,
                           struct audio_error *err)
{
    for (size_t i = 0; i < a->n; i++) {
        struct arr *r = &a->a[i];
        int rc = arr_end(r, err);
        if (!rc)
            rc = audio__npy_finish(&r->npy, err);
        if (rc)
            return rc;
        int mfcc = r->s.kind == AUDIO_ARRAY_MFCC;
        int out_cols = mfcc ? r->s.n_mfcc : r->nbins;
        /* A dB array none of whose values is below the floor is final. */
        int floored = r->s.db && r->s.top_db > 0 && (double)r->minv < r->maxv - r->s.top_db;
        if ((mfcc || floored) && (rc = audio__npy_map(r->s.path, r->npy.frames, r->nbins, out_cols,
                                                      map_rows, r, cancel, err)))
            return rc;
    }
    return 0;
}

void audio__analysis_destroy(struct audio__analysis *a)
{
    if (!a)
        return;
    for (size_t i = 0; a->a && i < a->n; i++)
        arr_cleanup(&a->a[i]);
    free(a->a);
    free(a->mono);
    free(a);
}
