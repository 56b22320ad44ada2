/* test_audio_analysis.c: the building blocks of the analysis arrays and the
 * picture (docs/analysis.md), each against values derived here from its
 * definition rather than from wiggly's own code: the Slaney and HTK mel
 * scales and the filter edges, the orthonormal DCT-II, the radix-2 real FFT
 * of audio/rfft.c (and KISS FFT behind the same call) against a naive DFT in
 * double, the .npy header of the documented shapes parsed byte by byte, the
 * colour maps' endpoints, and the picture's second pass stopping on the
 * cancel flag without leaving a picture behind. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audio/audio.h"
#include "audio/audio_int.h"
#include "audio/colormap.h"

#define PI 3.14159265358979323846

static char dir[64] = "/tmp/wiggly-test-analysis-XXXXXX";

static void near(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: %.17g, want %.17g (tolerance %g)", what, got, want, tol);
}

/* Values worked out from the formulas of docs/analysis.md "Definitions":
 * Slaney mel(f) = f / (200/3) below 1 kHz, 15 + ln(f / 1000) / (ln 6.4 / 27)
 * above; HTK mel(f) = 2595 log10(1 + f / 700). */
static void test_mel_scales(void **state)
{
    (void)state;
    /* Slaney: linear part, the knee, and 6400 Hz = 15 + 27 exactly. */
    near(audio__hz_to_mel(0, 0), 0, 0, "slaney 0 Hz");
    near(audio__hz_to_mel(500, 0), 7.5, 1e-12, "slaney 500 Hz");
    near(audio__hz_to_mel(1000, 0), 15, 1e-12, "slaney 1 kHz");
    near(audio__hz_to_mel(6400, 0), 42, 1e-12, "slaney 6.4 kHz");
    /* 15 + 27 ln 8 / ln 6.4 */
    near(audio__hz_to_mel(8000, 0), 45.245640471924965, 1e-12, "slaney 8 kHz");
    /* HTK: 2595 log10 2 at 700 Hz; 2595 log10(17/7) at 1 kHz. */
    near(audio__hz_to_mel(700, 1), 781.1728387480312, 1e-9, "htk 700 Hz");
    near(audio__hz_to_mel(1000, 1), 999.9855371396244, 1e-9, "htk 1 kHz");
    near(audio__hz_to_mel(8000, 1), 2840.023046708319, 1e-9, "htk 8 kHz");
    /* The inverses, also across Slaney's knee. */
    static const double hz[] = {0, 30, 999.9, 1000, 1000.1, 4321, 22050, 96000};
    for (size_t i = 0; i < sizeof(hz) / sizeof(hz[0]); i++)
        for (int htk = 0; htk <= 1; htk++)
            near(audio__mel_to_hz(audio__hz_to_mel(hz[i], htk), htk), hz[i], 1e-9 * (1 + hz[i]),
                 htk ? "htk round trip" : "slaney round trip");
    near(audio__mel_to_hz(7.5, 0), 500, 1e-9, "slaney mel 7.5");
    near(audio__mel_to_hz(42, 0), 6400, 1e-9, "slaney mel 42");
}

static void test_mel_points(void **state)
{
    (void)state;
    double f[42];
    /* One band from 0 to 8 kHz: its centre is at half the mel range,
     * Slaney 45.2456.../2 = 22.6228... mel = 1000 exp((22.62 - 15) ln 6.4 / 27)
     * Hz; HTK 2840.02.../2 mel = 700 (10^(1420.01/2595) - 1) Hz. */
    audio__mel_points(f, 1, 0, 8000, 0);
    near(f[0], 0, 1e-12, "slaney f0");
    near(f[1], 1688.9084626617798, 1e-9, "slaney centre");
    near(f[2], 8000, 1e-9, "slaney f2");
    audio__mel_points(f, 1, 0, 8000, 1);
    near(f[1], 1767.7925358506134, 1e-9, "htk centre");
    near(f[2], 8000, 1e-9, "htk f2");
    /* 40 HTK bands over [30, 7000] Hz (tests/analysis_ref.py's htk case):
     * the edges are fmin and fmax, equally spaced in mel. */
    audio__mel_points(f, 40, 30, 7000, 1);
    near(f[0], 30, 1e-9, "htk fmin");
    near(f[41], 7000, 1e-9, "htk fmax");
    near(f[1], 73.17566028921185, 1e-9, "htk edge 1");
    near(f[20], 1603.7170456808872, 1e-9, "htk edge 20");
    near(f[40], 6570.016748713251, 1e-9, "htk edge 40");
    double step = audio__hz_to_mel(f[1], 1) - audio__hz_to_mel(f[0], 1);
    for (int i = 1; i < 42; i++)
        near(audio__hz_to_mel(f[i], 1) - audio__hz_to_mel(f[i - 1], 1), step, 1e-9, "htk spacing");
}

/* D D^T = I: the DCT-II with norm "ortho" is orthonormal; its first row is
 * the constant 1 / sqrt(n). */
static void test_dct_ortho(void **state)
{
    (void)state;
    static const int sizes[] = {1, 2, 3, 13, 40, 128};
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int n = sizes[s];
        double *d = audio__dct_ortho(n, n);
        assert_non_null(d);
        for (int m = 0; m < n; m++)
            near(d[m], 1 / sqrt(n), 1e-15, "DC row");
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) {
                double dot = 0;
                for (int m = 0; m < n; m++)
                    dot += d[a * n + m] * d[b * n + m];
                near(dot, a == b, 1e-12, "D D^T");
            }
        free(d);
    }
    /* n_mfcc < n_mels keeps the first rows of the square matrix. */
    double *full = audio__dct_ortho(128, 128), *part = audio__dct_ortho(20, 128);
    assert_non_null(full);
    assert_non_null(part);
    assert_memory_equal(full, part, 20 * 128 * sizeof(double));
    free(full);
    free(part);
}

/* audio__rfft_run on four different frames at once against the DFT
 * X[k] = sum_n x[n] e^{-2 pi i k n / N} summed in double. */
static void test_rfft_dft(void **state)
{
    (void)state;
    /* Powers of two take the own radix-2 path, the others KISS FFT. */
    static const int sizes[] = {2, 4, 16, 64, 256, 1024, 4096, 18, 400};
    srand(11);
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        int n = sizes[s], nb = n / 2 + 1;
        struct audio__rfft *f;
        assert_int_equal(audio__rfft_create(&f, n), 0);
        audio__f4 *x = audio__f4_alloc((size_t)n), *re = audio__f4_alloc((size_t)nb),
                  *im = audio__f4_alloc((size_t)nb);
        assert_true(x && re && im);
        /* Lane 0 noise, 1 a cosine on bin 1, 2 an impulse at 1, 3 a constant. */
        for (int i = 0; i < n; i++)
            x[i] = (audio__f4){(float)((double)rand() / RAND_MAX * 2 - 1),
                               (float)cos(2 * PI * i / n), i == 1 ? 1.0f : 0.0f, 0.25f};
        audio__rfft_run(f, x, re, im);
        for (int l = 0; l < AUDIO__LANES; l++) {
            double worst = 0, scale = 0;
            for (int k = 0; k < nb; k++) {
                double sr = 0, si = 0;
                for (int i = 0; i < n; i++) {
                    double a = 2 * PI * (double)((int64_t)k * i % n) / n;
                    sr += x[i][l] * cos(a);
                    si -= x[i][l] * sin(a);
                }
                double e = hypot(re[k][l] - sr, im[k][l] - si);
                worst = e > worst ? e : worst;
                scale = hypot(sr, si) > scale ? hypot(sr, si) : scale;
            }
            /* float32 with twiddles rounded once: far below 1e-5 of the
             * largest bin (a 4096-point transform measures about 1e-7). */
            if (!(worst <= 1e-5 * scale))
                fail_msg("n %d lane %d: error %g of the largest bin %g", n, l, worst, scale);
        }
        free(x);
        free(re);
        free(im);
        audio__rfft_destroy(f);
    }
}

/* The header of NumPy format 1.0 ("\x93NUMPY", 1, 0, a little-endian
 * uint16 length, a Python dict padded with spaces and ended by a newline,
 * the whole a multiple of 64 bytes), for the shapes docs/analysis.md
 * documents: (frames, n_fft/2 + 1), (frames, n_mels), (frames, n_mfcc),
 * (n, 1) for onsets, and an empty track. */
static void test_npy_header(void **state)
{
    (void)state;
    static const struct {
        long long frames;
        int cols;
    } shapes[] = {{0, 128}, {1, 1}, {251, 1025}, {13127, 20}, {321, 32769}, {4000000000LL, 128}};
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        unsigned char h[AUDIO__NPY_HEADER];
        assert_int_equal(audio__npy_header((char *)h, shapes[s].frames, shapes[s].cols), 0);
        assert_memory_equal(h, "\x93NUMPY\x01\x00", 8);
        size_t hlen = (size_t)h[8] | (size_t)h[9] << 8;
        assert_int_equal(10 + hlen, AUDIO__NPY_HEADER);
        assert_int_equal(AUDIO__NPY_HEADER % 64, 0);
        assert_int_equal(h[AUDIO__NPY_HEADER - 1], '\n');
        char dict[AUDIO__NPY_HEADER];
        memcpy(dict, h + 10, hlen - 1);
        dict[hlen - 1] = '\0';
        size_t len = strlen(dict);
        while (len && dict[len - 1] == ' ')
            dict[--len] = '\0';
        char want[128];
        snprintf(want, sizeof(want),
                 "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %d), }",
                 shapes[s].frames, shapes[s].cols);
        assert_string_equal(dict, want);
    }
    /* A file through the chunked writer: header with the final row count,
     * then the rows, little-endian float32 in C order. */
    char path[128];
    snprintf(path, sizeof(path), "%s/h.npy", dir);
    struct audio__npy w;
    struct audio_error err = {0};
    const float rows[3][2] = {{1, -2}, {0.5f, 3}, {-0.25f, 8}};
    assert_int_equal(audio__npy_open(&w, path, 2, &err), 0);
    assert_int_equal(audio__npy_write(&w, &rows[0][0], 3, &err), 0);
    assert_int_equal(audio__npy_finish(&w, &err), 0);
    audio__npy_close(&w);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char b[AUDIO__NPY_HEADER + 64];
    assert_int_equal(fread(b, 1, sizeof(b), fp), AUDIO__NPY_HEADER + 24);
    fclose(fp);
    long long fr = -1;
    int co = -1;
    const char *shape = strstr((const char *)b + 10, "'shape': (");
    assert_non_null(shape);
    assert_int_equal(sscanf(shape, "'shape': (%lld, %d)", &fr, &co), 2);
    assert_int_equal(fr, 3);
    assert_int_equal(co, 2);
    for (int i = 0; i < 6; i++) {
        const unsigned char *p = b + AUDIO__NPY_HEADER + 4 * i;
        uint32_t u =
            (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        float v;
        memcpy(&v, &u, sizeof(v));
        assert_true(v == (&rows[0][0])[i]);
    }
    unlink(path);
}

/* matplotlib's _cm_listed.py: magma from (0.001462, 0.000466, 0.013866) to
 * (0.987053, 0.991438, 0.749504), viridis from (0.267004, 0.004874,
 * 0.329415) to (0.993248, 0.906157, 0.143936); round(255 v). */
static void test_colormap_endpoints(void **state)
{
    (void)state;
    static const double ends[2][2][3] = {
        {{0.001462, 0.000466, 0.013866}, {0.987053, 0.991438, 0.749504}},
        {{0.267004, 0.004874, 0.329415}, {0.993248, 0.906157, 0.143936}},
    };
    const unsigned char(*maps[2])[3] = {audio__cmap_magma, audio__cmap_viridis};
    for (int m = 0; m < 2; m++)
        for (int e = 0; e < 2; e++)
            for (int c = 0; c < 3; c++)
                assert_int_equal(maps[m][e ? 255 : 0][c], (int)lround(255 * ends[m][e][c]));
    assert_int_equal(audio__cmap_magma[0][2], 4);
    assert_int_equal(audio__cmap_viridis[255][1], 231);
}

/* 10 s of a chirp at 16 kHz through the picture's pass; hop 512 gives 313
 * mel frames, two chunks of the second pass. */
static struct audio__plot *plot_fed(const char *png)
{
    struct audio_plot_spec s;
    struct audio_error err = {0};
    struct audio__plot *p = NULL;
    audio_plot_spec_init(&s);
    s.path = png;
    assert_int_equal(audio__plot_create(&p, &s, 16000, 1, &err), 0);
    float *x = malloc(16000 * sizeof(float));
    assert_non_null(x);
    for (int sec = 0; sec < 10; sec++) {
        for (int i = 0; i < 16000; i++) {
            double t = sec + i / 16000.0;
            x[i] = (float)(0.5 * sin(2 * PI * (100 + 300 * t) * t));
        }
        assert_int_equal(audio__plot_add(p, x, 16000, &err), 0);
    }
    free(x);
    return p;
}

static void test_plot_cancel(void **state)
{
    (void)state;
    char png[128], tmp[160];
    snprintf(png, sizeof(png), "%s/c.png", dir);
    snprintf(tmp, sizeof(tmp), "%s.mel.tmp", png);
    atomic_int flag = 1;
    struct audio_error err = {0};
    struct audio__plot *p = plot_fed(png);
    assert_int_equal(access(tmp, F_OK), 0); /* the first pass wrote the mel rows */
    assert_int_equal(audio__plot_finish(p, &flag, &err), AUDIO_ECANCELED);
    assert_non_null(strstr(err.msg, "canceled drawing"));
    assert_non_null(strstr(err.msg, "at frame 0 of 313"));
    assert_int_equal(access(png, F_OK), -1);
    assert_int_equal(access(tmp, F_OK), -1);
    audio__plot_destroy(p);
    /* The same pass with the flag clear draws the picture. */
    atomic_store(&flag, 0);
    p = plot_fed(png);
    assert_int_equal(audio__plot_finish(p, &flag, &err), 0);
    audio__plot_destroy(p);
    assert_int_equal(access(png, F_OK), 0);
    assert_int_equal(access(tmp, F_OK), -1);
    unlink(png);
}

/* Through the chain: with the flag set, audio_chain_run_file stops (in the
 * streaming pass, before the picture's second pass) and leaves neither the
 * picture nor its temporary mel file. */
static void test_plot_cancel_chain(void **state)
{
    (void)state;
    char in[128], out[128], png[128], tmp[160];
    snprintf(in, sizeof(in), "%s/in.wav", dir);
    snprintf(out, sizeof(out), "%s/out.wav", dir);
    snprintf(png, sizeof(png), "%s/chain.png", dir);
    snprintf(tmp, sizeof(tmp), "%s.mel.tmp", png);
    struct audio_gen_spec g = {
        .signal = AUDIO_SIG_SINE, .freq = 440, .seconds = 2, .rate = 16000, .channels = 1};
    struct audio_error err = {0};
    assert_int_equal(audio_gen_file(in, &g, &err), 0);
    atomic_int flag = 1;
    struct audio_plot_spec ps;
    audio_plot_spec_init(&ps);
    ps.path = png;
    struct audio_spec spec = {.plot = &ps, .cancel = &flag};
    struct audio_result res;
    assert_int_equal(audio_chain_run_file(in, out, &spec, &res, &err), AUDIO_ECANCELED);
    audio_result_cleanup(&res);
    assert_int_equal(access(png, F_OK), -1);
    assert_int_equal(access(tmp, F_OK), -1);
    unlink(in);
    unlink(out);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mel_scales),  cmocka_unit_test(test_mel_points),
        cmocka_unit_test(test_dct_ortho),   cmocka_unit_test(test_rfft_dft),
        cmocka_unit_test(test_npy_header),  cmocka_unit_test(test_colormap_endpoints),
        cmocka_unit_test(test_plot_cancel), cmocka_unit_test(test_plot_cancel_chain),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    return rc;
}
