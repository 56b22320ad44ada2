/* plot.c: a log-mel spectrogram picture of the chain's output, as a PNG
 * (docs/analysis.md "Pictures").
 *
 * The mel power spectrogram is computed by analysis.c in the chain's pass
 * and written to a temporary .npy beside the picture (PATH.mel.tmp). Its
 * frame count F is known only at the end (a decoder's frame count can be
 * missing or wrong), so the picture is made by a second pass over that
 * file: the image has W = min(F, width_max) columns, column c the mean
 * power of frames [c F / W, (c+1) F / W), then in dB, coloured over
 * [max - top_db, max]. Memory: W x n_mels floats, bounded by the spec and
 * not by the track's length; the temporary file grows with the track
 * (4 x n_mels bytes a frame) and is removed at the end. The second pass
 * checks the chain's cancel flag before each chunk it reads back and then
 * writes no picture. Ticks and labels are drawn with a 3 x 5 pixel font at
 * twice its size. No locks. */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "audio/audio_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <png.h>

#include "audio/colormap.h"

#define PI 3.14159265358979323846
/* Margins around the image when the axes are drawn, in pixels. */
#define M_LEFT   40
#define M_RIGHT  8
#define M_TOP    8
#define M_BOTTOM 20
#define GLYPH    2 /* font scale */
/* Rows read back per read(2). */
#define READ_ROWS 256

struct audio__plot {
    struct audio_plot_spec s;
    int rate;
    char *tmp; /* PATH.mel.tmp */
    struct audio__analysis *an;
};

/* ---- spec -------------------------------------------------------------- */

void audio_plot_spec_init(struct audio_plot_spec *p)
{
    struct audio_array_spec a;
    /* The picture is a mel array: its defaults are the array's. */
    audio_array_spec_init(&a, AUDIO_ARRAY_MEL);
    memset(p, 0, sizeof(*p));
    p->n_fft = a.n_fft;
    p->hop = a.hop;
    p->n_mels = a.n_mels;
    p->fmin = a.fmin;
    p->fmax = a.fmax;
    p->top_db = a.top_db;
    p->width_max = 1024;
    p->axes = 1;
    p->cmap = AUDIO_CMAP_MAGMA;
}

int audio_colormap_parse(const char *name, enum audio_colormap *out)
{
    if (!strcmp(name, "magma"))
        *out = AUDIO_CMAP_MAGMA;
    else if (!strcmp(name, "viridis"))
        *out = AUDIO_CMAP_VIRIDIS;
    else
        return AUDIO_EINVAL;
    return 0;
}

/* The mel array the picture is made of. */
static void mel_spec(const struct audio_plot_spec *p, struct audio_array_spec *a)
{
    audio_array_spec_init(a, AUDIO_ARRAY_MEL);
    a->n_fft = p->n_fft;
    a->hop = p->hop;
    a->n_mels = p->n_mels;
    a->fmin = p->fmin;
    a->fmax = p->fmax;
}

int audio_plot_spec_check(const struct audio_plot_spec *p, int rate, char *why, size_t n)
{
    struct audio_array_spec a;
    if (p->width_max < 1 || p->width_max > AUDIO_PLOT_WIDTH_MAX) {
        snprintf(why, n, "width_max must be 1 to %d, got %d", AUDIO_PLOT_WIDTH_MAX, p->width_max);
        return AUDIO_EINVAL;
    }
    if (!(p->top_db > 0 && p->top_db <= 1000)) {
        snprintf(why, n, "top_db must be above 0 and at most 1000, got %g", p->top_db);
        return AUDIO_EINVAL;
    }
    if ((unsigned)p->cmap > AUDIO_CMAP_VIRIDIS) {
        snprintf(why, n, "unknown colour map %d", (int)p->cmap);
        return AUDIO_EINVAL;
    }
    mel_spec(p, &a);
    return audio_array_spec_check(&a, rate, why, n);
}

static int parse_kv(struct audio_plot_spec *p, const char *k, const char *v)
{
    char *end;
    double d = strtod(v, &end);
    int num = end != v && !*end && isfinite(d), integer = num && d == floor(d) && fabs(d) < 1e9;
    if (!strcmp(k, "n_fft") && integer)
        p->n_fft = (int)d;
    else if (!strcmp(k, "hop") && integer)
        p->hop = (int)d;
    else if (!strcmp(k, "n_mels") && integer)
        p->n_mels = (int)d;
    else if (!strcmp(k, "width_max") && integer)
        p->width_max = (int)d;
    else if (!strcmp(k, "fmin") && num)
        p->fmin = d;
    else if (!strcmp(k, "fmax") && num)
        p->fmax = d;
    else if (!strcmp(k, "top_db") && num)
        p->top_db = d;
    else if (!strcmp(k, "axes") && (!strcmp(v, "true") || !strcmp(v, "false")))
        p->axes = !strcmp(v, "true");
    else if (!strcmp(k, "colormap"))
        return audio_colormap_parse(v, &p->cmap);
    else
        return AUDIO_EINVAL;
    return 0;
}

int audio_plot_spec_parse(const char *text, struct audio_plot_spec *p, char *why, size_t n)
{
    char buf[512], *save = NULL;
    audio_plot_spec_init(p);
    if (strlen(text) >= sizeof(buf)) {
        snprintf(why, n, "too long");
        return AUDIO_EINVAL;
    }
    snprintf(buf, sizeof(buf), "%s", text);
    int hop_set = 0;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq) {
            snprintf(why, n, "\"%s\" is not key=value", tok);
            return AUDIO_EINVAL;
        }
        *eq = '\0';
        if (parse_kv(p, tok, eq + 1)) {
            snprintf(why, n, "bad key or value \"%s=%s\"", tok, eq + 1);
            return AUDIO_EINVAL;
        }
        hop_set |= !strcmp(tok, "hop");
    }
    if (!hop_set)
        p->hop = audio_array_hop_default(p->n_fft);
    return audio_plot_spec_check(p, 0, why, n);
}

void audio_plot_size(const struct audio_plot_spec *p, int64_t frames, int *width, int *height)
{
    int64_t w = frames < p->width_max ? frames : p->width_max;
    *width = (int)(w < 1 ? 1 : w) + (p->axes ? M_LEFT + M_RIGHT : 0);
    *height = p->n_mels + (p->axes ? M_TOP + M_BOTTOM : 0);
}

/* ---- the pass ---------------------------------------------------------- */

int audio__plot_create(struct audio__plot **out, const struct audio_plot_spec *p, int rate,
                       int channels, struct audio_error *err)
{
    char why[200];
    struct audio_array_spec a;
    *out = NULL;
    if (!p->path)
        return audio__fail(err, AUDIO_EINVAL, "plot: no path");
    if (audio_plot_spec_check(p, rate, why, sizeof(why)))
        return audio__fail(err, AUDIO_EINVAL, "plot %s: %s", p->path, why);
    struct audio__plot *x = calloc(1, sizeof(*x));
    size_t len = strlen(p->path) + sizeof(".mel.tmp");
    if (!x || !(x->tmp = malloc(len))) {
        free(x);
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    }
    snprintf(x->tmp, len, "%s.mel.tmp", p->path);
    x->s = *p;
    x->rate = rate;
    mel_spec(p, &a);
    a.path = x->tmp;
    int rc = audio__analysis_create(&x->an, &a, 1, rate, channels, err);
    if (rc) {
        audio__plot_destroy(x);
        return rc;
    }
    *out = x;
    return 0;
}

int audio__plot_add(struct audio__plot *p, const float *buf, size_t frames, struct audio_error *err)
{
    return audio__analysis_add(p->an, buf, frames, err);
}

/* ---- drawing ----------------------------------------------------------- */

/* 3 x 5 glyphs, one row of 3 bits per byte, top row first. */
static const char font_chars[] = "0123456789ksHz:";
static const unsigned char font[][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
    {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
    {4, 5, 6, 5, 5}, {3, 4, 2, 1, 6}, {5, 5, 7, 5, 5}, {7, 1, 2, 4, 7}, {0, 2, 0, 2, 0},
};

struct canvas {
    unsigned char *px; /* RGB, row-major */
    int w, h;
};

static void put(struct canvas *c, int x, int y, unsigned char v)
{
    if (x >= 0 && x < c->w && y >= 0 && y < c->h)
        memset(c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3, v, 3);
}

static int text_width(const char *s)
{
    return (int)strlen(s) * 4 * GLYPH - GLYPH;
}

/* Dark text with its top-left corner at (x, y). */
static void text(struct canvas *c, int x, int y, const char *s)
{
    for (; *s; s++, x += 4 * GLYPH) {
        const char *f = strchr(font_chars, *s);
        if (!f)
            continue;
        const unsigned char *g = font[f - font_chars];
        for (int r = 0; r < 5 * GLYPH; r++)
            for (int k = 0; k < 3 * GLYPH; k++)
                if (g[r / GLYPH] & (4 >> (k / GLYPH)))
                    put(c, x + k, y + r, 32);
    }
}

static void axes(struct canvas *c, const struct audio__plot *p, int64_t frames, int w)
{
    const struct audio_plot_spec *s = &p->s;
    int n = s->n_mels;
    double fmax = s->fmax > 0 ? s->fmax : p->rate / 2.0;
    /* Slaney's scale, as the mel array the picture is made of. */
    double m0 = audio__hz_to_mel(s->fmin, 0), m1 = audio__hz_to_mel(fmax, 0);
    /* Frequency: 0, 250 Hz, then every octave of 500 Hz; one label per 12
     * pixels at least. */
    static const double hz[] = {0, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000};
    int last_y = 1 << 30;
    for (size_t i = 0; i < sizeof(hz) / sizeof(hz[0]); i++) {
        if (hz[i] < s->fmin || hz[i] > fmax)
            continue;
        int y = M_TOP + n - 1 - (int)lrint((audio__hz_to_mel(hz[i], 0) - m0) / (m1 - m0) * (n - 1));
        if (last_y - y < 12)
            continue;
        last_y = y;
        char lab[16];
        if (hz[i] >= 1000)
            snprintf(lab, sizeof(lab), "%dk", (int)(hz[i] / 1000));
        else
            snprintf(lab, sizeof(lab), "%d", (int)hz[i]);
        for (int k = 1; k <= 4; k++)
            put(c, M_LEFT - k, y, 32);
        text(c, M_LEFT - 6 - text_width(lab), y - 5 * GLYPH / 2, lab);
    }
    /* Time: the smallest step of these that leaves 48 pixels per tick. */
    static const double steps[] = {0.1, 0.2, 0.5, 1,   2,   5,   10,   15,
                                   30,  60,  120, 300, 600, 900, 1800, 3600};
    double secs = (double)frames * s->hop / p->rate, per_px = secs / w, step = 7200;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (steps[i] / per_px >= 48) {
            step = steps[i];
            break;
        }
    for (int k = 0; k * step <= secs; k++) {
        double t = k * step;
        int x = M_LEFT + (int)(t / per_px);
        if (x >= M_LEFT + w)
            break;
        char lab[24] = "";
        if (step >= 60)
            snprintf(lab, sizeof(lab), "%d:%02d", (int)t / 60, (int)t % 60);
        else if (fabs(t - lrint(t)) < 1e-9) /* no decimal point in the font: whole seconds */
            snprintf(lab, sizeof(lab), "%lds", lrint(t));
        for (int d = 1; d <= 4; d++)
            put(c, x, M_TOP + n + d - 1, 32);
        if (lab[0] && x + text_width(lab) / 2 < c->w)
            text(c, x - (k ? text_width(lab) / 2 : 0), M_TOP + n + 6, lab);
    }
}

struct png_out {
    jmp_buf jb;
    char msg[128];
};

static void on_png_error(png_structp png, png_const_charp msg)
{
    struct png_out *o = png_get_error_ptr(png);
    snprintf(o->msg, sizeof(o->msg), "%s", msg);
    longjmp(o->jb, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int write_png(const char *path, const struct canvas *c, struct audio_error *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return audio__fail(err, AUDIO_EIO, "cannot create %s: %s", path, strerror(errno));
    struct png_out o = {.msg = ""};
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, &o, on_png_error, on_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    }
    if (setjmp(o.jb)) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return audio__fail(err, AUDIO_EIO, "cannot write %s: %s", path, o.msg);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->h; y++)
        png_write_row(png, c->px + (size_t)y * (size_t)c->w * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0)
        return audio__fail(err, AUDIO_EIO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

/* Reads the temporary mel .npy back: img[c * n_mels + m] = dB of the mean
 * power of column c's frames. cancel (may be NULL) is checked before each
 * chunk of READ_ROWS rows, like audio__npy_map's. */
static int read_columns(struct audio__plot *p, float *img, int64_t frames, int w, float *maxv,
                        const atomic_int *cancel, struct audio_error *err)
{
    int n = p->s.n_mels;
    int fd = open(p->tmp, O_RDONLY | O_CLOEXEC);
    float *rows = malloc((size_t)READ_ROWS * (size_t)n * sizeof(float));
    double *acc = calloc((size_t)n, sizeof(double));
    int rc = 0;
    if (fd < 0 || !rows || !acc) {
        rc = fd < 0 ? audio__fail(err, AUDIO_EIO, "cannot read %s: %s", p->tmp, strerror(errno))
                    : audio__fail(err, AUDIO_ENOMEM, "out of memory");
        goto out;
    }
    *maxv = -HUGE_VALF;
    int64_t t = 0;
    int col = 0;
    int64_t col_end = frames / w; /* (col + 1) * frames / w */
    int64_t col_n = 0;
    off_t off = AUDIO__NPY_HEADER;
    while (t < frames) {
        if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) {
            rc = audio__fail(err, AUDIO_ECANCELED, "canceled drawing %s at frame %lld of %lld",
                             p->s.path, (long long)t, (long long)frames);
            goto out;
        }
        int64_t k = frames - t < READ_ROWS ? frames - t : READ_ROWS;
        size_t bytes = (size_t)k * (size_t)n * sizeof(float);
        ssize_t got = pread(fd, rows, bytes, off);
        if (got != (ssize_t)bytes) {
            rc = audio__fail(err, AUDIO_EIO, "cannot read %s: %s", p->tmp,
                             got < 0 ? strerror(errno) : "short read");
            goto out;
        }
        off += (off_t)bytes;
        for (int64_t i = 0; i < k; i++, t++) {
            const float *r = rows + i * n;
            for (int m = 0; m < n; m++)
                acc[m] += r[m];
            col_n++;
            if (t + 1 == col_end) {
                for (int m = 0; m < n; m++) {
                    double v = acc[m] / (double)col_n;
                    float d = (float)(10 * log10(v > 1e-10 ? v : 1e-10));
                    img[(size_t)col * (size_t)n + (size_t)m] = d;
                    if (d > *maxv)
                        *maxv = d;
                    acc[m] = 0;
                }
                col_n = 0;
                col++;
                col_end = (int64_t)(col + 1) * frames / w;
            }
        }
    }
out:
    if (fd >= 0)
        close(fd);
    free(rows);
    free(acc);
    return rc;
}

int audio__plot_finish(struct audio__plot *p, const atomic_int *cancel, struct audio_error *err)
{
    const struct audio_plot_spec *s = &p->s;
    int rc = audio__analysis_finish(p->an, cancel, err);
    if (rc) {
        unlink(p->tmp);
        return rc;
    }
    struct stat st;
    if (stat(p->tmp, &st) != 0)
        return audio__fail(err, AUDIO_EIO, "cannot read %s: %s", p->tmp, strerror(errno));
    int n = s->n_mels;
    int64_t frames = ((int64_t)st.st_size - AUDIO__NPY_HEADER) / ((int64_t)n * 4);
    if (frames < 1)
        return audio__fail(err, AUDIO_EEMPTY, "empty audio: no frame to plot");
    int w = (int)(frames < s->width_max ? frames : s->width_max);
    struct canvas c;
    audio_plot_size(s, frames, &c.w, &c.h);
    float *img = malloc((size_t)w * (size_t)n * sizeof(float));
    c.px = malloc((size_t)c.w * (size_t)c.h * 3);
    float maxv = 0;
    if (!img || !c.px) {
        rc = audio__fail(err, AUDIO_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = read_columns(p, img, frames, w, &maxv, cancel, err)))
        goto out;
    memset(c.px, 255, (size_t)c.w * (size_t)c.h * 3);
    const unsigned char(*cmap)[3] =
        s->cmap == AUDIO_CMAP_VIRIDIS ? audio__cmap_viridis : audio__cmap_magma;
    int x0 = s->axes ? M_LEFT : 0, y0 = s->axes ? M_TOP : 0;
    for (int y = 0; y < n; y++) {
        int m = n - 1 - y; /* highest band at the top */
        unsigned char *row = c.px + ((size_t)(y0 + y) * (size_t)c.w + (size_t)x0) * 3;
        for (int x = 0; x < w; x++) {
            double v = (img[(size_t)x * (size_t)n + (size_t)m] - (maxv - s->top_db)) / s->top_db;
            int i = v <= 0 ? 0 : v >= 1 ? 255 : (int)(v * 255 + 0.5);
            memcpy(row + (size_t)x * 3, cmap[i], 3);
        }
    }
    if (s->axes)
        axes(&c, p, frames, w);
    rc = write_png(s->path, &c, err);
out:
    free(img);
    free(c.px);
    unlink(p->tmp);
    return rc;
}

void audio__plot_destroy(struct audio__plot *p)
{
    if (!p)
        return;
    audio__analysis_destroy(p->an);
    if (p->tmp)
        unlink(p->tmp);
    free(p->tmp);
    free(p);
}
