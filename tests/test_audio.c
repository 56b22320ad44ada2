/* test_audio.c: the audio engine, measured on decoded output: resampling
 * quality, channel ops, encoder round trips, bad input, memory and file
 * paths, features (also on more than 64 channels), empty results and the
 * generator. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sndfile.h>

#include "audio/audio.h"
#include "audio/audio_int.h" /* audio__npy_map's cancel check */
#include "tests/support/audio_testutil.h"
#include "tests/support/flac_bomb.h"

static char tmpdir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/wiggly-test-audio-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *tmp_path(const char *name)
{
    static char buf[4][320];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
    return buf[i];
}

/* A sine as a float WAV in memory. */
static void *sine_wav(double freq, double seconds, int rate, int channels, size_t *len)
{
    struct audio_gen_spec g = {.signal = AUDIO_SIG_SINE,
                               .freq = freq,
                               .seconds = seconds,
                               .rate = rate,
                               .channels = channels,
                               .format = AUDIO_FMT_WAV,
                               .sample = AUDIO_FLOAT,
                               .vbr_quality = -1};
    void *buf = NULL;
    struct audio_error err = {0};
    int rc = audio_gen_mem(&buf, len, &g, &err);
    assert_int_equal(rc, 0);
    return buf;
}

/* Runs mem -> mem and decodes the output. */
static void run_decode(const void *in, size_t in_len, const struct audio_spec *spec,
                       struct audio_test_pcm *pcm, struct audio_result *res)
{
    void *out = NULL;
    size_t out_len = 0;
    struct audio_error err = {0};
    int rc = audio_chain_run_mem(in, in_len, &out, &out_len, spec, res, &err);
    if (rc)
        fail_msg("chain failed: %d %s", rc, err.msg);
    assert_int_equal(audio_test_decode_mem(out, out_len, pcm), 0);
    free(out);
}

/* --- resampling quality (high preset, float WAV output) ------------------ */

static struct audio_spec float_wav_at(int rate)
{
    struct audio_spec spec = {.rate = rate,
                              .quality = AUDIO_Q_HIGH,
                              .format = AUDIO_FMT_WAV,
                              .sample = AUDIO_FLOAT,
                              .vbr_quality = -1};
    return spec;
}

static void check_resample(int in_rate, int out_rate, double freq)
{
    size_t len;
    double secs = 2.0;
    void *in = sine_wav(freq, secs, in_rate, 1, &len);
    struct audio_spec spec = float_wav_at(out_rate);
    struct audio_test_pcm pcm;
    struct audio_result res;
    run_decode(in, len, &spec, &pcm, &res);
    free(in);
    assert_int_equal(pcm.rate, out_rate);
    assert_int_equal(pcm.channels, 1);
    int64_t in_frames = llround(secs * in_rate);
    int64_t want = llround((double)in_frames * out_rate / in_rate);
    /* Duration preserved to +-1 frame (soxr flushed at the end). */
    assert_true(llabs(pcm.frames - want) <= 1);
    assert_int_equal(res.out.frames, pcm.frames);
    /* Skip 0.1 s at each end: the filter's edges. */
    int64_t skip = out_rate / 10;
    double f, amp;
    double thdn = audio_test_sine_fit(pcm.x + skip, (size_t)(pcm.frames - 2 * skip), 1, out_rate,
                                      freq, &f, &amp);
    printf("# %d -> %d Hz: %.1f Hz tone: f=%.6f amp=%.6f THD+N=%.1f dB frames=%lld/%lld\n", in_rate,
           out_rate, freq, f, amp, thdn, (long long)pcm.frames, (long long)want);
    assert_true(fabs(f - freq) < 0.001);
    assert_true(fabs(amp - 0.5) < 0.001);
    assert_true(thdn <= -100.0);
    audio_test_pcm_free(&pcm);
}

static void test_resample_44k_16k(void **state)
{
    (void)state;
    check_resample(44100, 16000, 1000);
}

static void test_resample_48k_44k(void **state)
{
    (void)state;
    check_resample(48000, 44100, 1000);
}

static void test_resample_8k_48k(void **state)
{
    (void)state;
    check_resample(8000, 48000, 1000);
}

static void test_resample_stopband(void **state)
{
    (void)state;
    size_t len;
    void *in = sine_wav(12000, 2.0, 44100, 1, &len);
    struct audio_spec spec = float_wav_at(16000);
    struct audio_test_pcm pcm;
    struct audio_result res;
    run_decode(in, len, &spec, &pcm, &res);
    free(in);
    double rms = audio_test_rms(&pcm, 0, 1600, pcm.frames - 1600);
    double att = 20 * log10(rms / (0.5 / sqrt(2)));
    printf("# 12 kHz at 44.1 -> 16 kHz: %.1f dB\n", att);
    assert_true(att <= -100.0);
    audio_test_pcm_free(&pcm);
}

static void test_resample_bypass_and_presets(void **state)
{
    (void)state;
    size_t len;
    void *in = sine_wav(440, 0.5, 22050, 1, &len);
    /* Equal rates: bypass, bit-exact in float. */
    struct audio_spec spec = {.format = AUDIO_FMT_WAV, .sample = AUDIO_FLOAT, .vbr_quality = -1};
    struct audio_test_pcm a, b;
    struct audio_result res;
    run_decode(in, len, &spec, &a, &res);
    assert_int_equal(audio_test_decode_mem(in, len, &b), 0);
    assert_int_equal(a.frames, b.frames);
    assert_memory_equal(a.x, b.x, (size_t)a.frames * sizeof(float));
    audio_test_pcm_free(&a);
    audio_test_pcm_free(&b);
    /* Every preset keeps the duration. */
    for (int q = AUDIO_Q_QUICK; q <= AUDIO_Q_VERY_HIGH; q++) {
        spec.rate = 32000;
        spec.quality = (enum audio_quality)q;
        run_decode(in, len, &spec, &a, &res);
        assert_true(llabs(a.frames - 11025 * 32000 / 22050) <= 1);
        audio_test_pcm_free(&a);
    }
    free(in);
}

/* --- channel ops --------------------------------------------------------- */

static void *known_wav(int channels, int64_t frames, size_t *len, float **samples)
{
    float *x = malloc((size_t)frames * (size_t)channels * sizeof(float));
    for (int64_t i = 0; i < frames; i++)
        for (int c = 0; c < channels; c++)
            x[i * channels + c] =
                (float)(0.1 * (c + 1) * sin(0.01 * (double)i * (c + 1)) + 0.05 * (c - 1));
    *samples = x;
    return audio_test_wav_float(x, frames, channels, 48000, len);
}

static void test_channels_exact(void **state)
{
    (void)state;
    const int64_t n = 5000;
    size_t len;
    float *x;
    void *in = known_wav(2, n, &len, &x);
    struct audio_spec spec = {.format = AUDIO_FMT_WAV, .sample = AUDIO_FLOAT, .vbr_quality = -1};
    struct audio_test_pcm p;
    struct audio_result res;

    spec.channels = AUDIO_CH_MONO;
    run_decode(in, len, &spec, &p, &res);
    assert_int_equal(p.channels, 1);
    assert_int_equal(p.frames, n);
    for (int64_t i = 0; i < n; i++)
        assert_true(p.x[i] == (x[2 * i] + x[2 * i + 1]) * 0.5f);
    audio_test_pcm_free(&p);

    spec.channels = AUDIO_CH_SELECT;
    spec.select_channel = 1;
    run_decode(in, len, &spec, &p, &res);
    assert_int_equal(p.channels, 1);
    for (int64_t i = 0; i < n; i++)
        assert_true(p.x[i] == x[2 * i + 1]);
    audio_test_pcm_free(&p);

    spec.channels = AUDIO_CH_KEEP;
    run_decode(in, len, &spec, &p, &res);
    assert_int_equal(p.channels, 2);
    assert_memory_equal(p.x, x, (size_t)n * 2 * sizeof(float));
    audio_test_pcm_free(&p);

    spec.channels = AUDIO_CH_STEREO; /* stereo stays as is */
    run_decode(in, len, &spec, &p, &res);
    assert_memory_equal(p.x, x, (size_t)n * 2 * sizeof(float));
    audio_test_pcm_free(&p);

    /* Selecting a channel that does not exist. */
    spec.channels = AUDIO_CH_SELECT;
    spec.select_channel = 2;
    void *out = NULL;
    size_t out_len;
    struct audio_error err = {0};
    assert_int_equal(audio_chain_run_mem(in, len, &out, &out_len, &spec, &res, &err), AUDIO_EINVAL);
    assert_non_null(strstr(err.msg, "channel 2 selected but the input has 2 channels"));
    assert_null(out);
    free(in);
    free(x);

    /* Mono to stereo: duplicated. */
    in = known_wav(1, n, &len, &x);
    spec.channels = AUDIO_CH_STEREO;
    run_decode(in, len, &spec, &p, &res);
    assert_int_equal(p.channels, 2);
    for (int64_t i = 0; i < n; i++)
        assert_true(p.x[2 * i] == x[i] && p.x[2 * i + 1] == x[i]);
    audio_test_pcm_free(&p);
    free(in);
    free(x);
}

static void test_channels_multichannel(void **state)
{
    (void)state;
    const int64_t n = 3000;
    size_t len;
    float *x;
    /* 5.1 (L R C LFE Ls Rs): ITU downmix, LFE dropped, normalised. */
    void *in = known_wav(6, n, &len, &x);
    struct audio_spec spec = {.format = AUDIO_FMT_WAV,
                              .sample = AUDIO_FLOAT,
                              .vbr_quality = -1,
                              .channels = AUDIO_CH_STEREO};
    struct audio_test_pcm p;
    struct audio_result res;
    run_decode(in, len, &spec, &p, &res);
    assert_int_equal(p.channels, 2);
    assert_int_equal(res.in.channels, 6);
    const double g = sqrt(0.5), norm = 1 + 2 * g;
    for (int64_t i = 0; i < n; i++) {
        const float *s = x + i * 6;
        double l = (s[0] + g * s[2] + g * s[4]) / norm, r = (s[1] + g * s[2] + g * s[5]) / norm;
        assert_true(fabs(p.x[2 * i] - l) < 1e-6);
        assert_true(fabs(p.x[2 * i + 1] - r) < 1e-6);
    }
    audio_test_pcm_free(&p);

    spec.channels = AUDIO_CH_MONO;
    run_decode(in, len, &spec, &p, &res);
    for (int64_t i = 0; i < n; i++) {
        double m = 0;
        for (int c = 0; c < 6; c++)
            m += x[i * 6 + c];
        assert_true(fabs(p.x[i] - m / 6) < 1e-6);
    }
    audio_test_pcm_free(&p);

    spec.channels = AUDIO_CH_SELECT;
    spec.select_channel = 4;
    run_decode(in, len, &spec, &p, &res);
    for (int64_t i = 0; i < n; i++)
        assert_true(p.x[i] == x[i * 6 + 4]);
    audio_test_pcm_free(&p);

    /* Six channels cannot go to MP3. */
    spec.channels = AUDIO_CH_KEEP;
    spec.format = AUDIO_FMT_MP3;
    spec.sample = AUDIO_PCM_DEFAULT;
    void *out = NULL;
    size_t out_len;
    struct audio_error err = {0};
    int rc = audio_chain_run_mem(in, len, &out, &out_len, &spec, &res, &err);
    assert_int_equal(rc, AUDIO_EUNSUPPORTED);
    assert_int_equal(err.code, AUDIO_EUNSUPPORTED);
    assert_string_equal(err.msg, "unsupported: 6 channels to MP3");
    assert_true(audio_error_is_permanent(rc));
    free(in);
    free(x);
}

/* --- encoders round-trip through the decoder ----------------------------- */

struct codec_case {
    enum audio_format fmt;
    enum audio_sample sample;
    int sf_major, sf_sub;
    /* Allowed difference in frames after decoding. WAV, FLAC and Vorbis are
     * exact. Opus trims its pre-skip and end padding from the granule
     * positions, and libsndfile's MP3 writer stores a LAME/Xing tag with the
     * encoder delay and padding that the mpg123 decoder honours (gapless);
     * both are exact in practice, but a frame of slack is allowed for
     * Opus (20 ms = 960 frames at 48 kHz) and MP3 (one 1152-frame granule). */
    int64_t frame_tol;
    double max_err; /* lossless: max sample error; lossy: RMS difference in dB */
};

static void roundtrip(const struct codec_case *cc, int channels, int rate)
{
    struct audio_gen_spec g = {.signal = AUDIO_SIG_MUSIC,
                               .seconds = 3,
                               .rate = rate,
                               .channels = 2,
                               .seed = 7,
                               .format = AUDIO_FMT_WAV,
                               .sample = AUDIO_FLOAT,
                               .vbr_quality = -1};
    void *in;
    size_t len;
    struct audio_error err = {0};
    assert_int_equal(audio_gen_mem(&in, &len, &g, &err), 0);
    struct audio_spec spec = {.format = cc->fmt,
                              .sample = cc->sample,
                              .vbr_quality = -1,
                              .channels = channels == 1 ? AUDIO_CH_MONO : AUDIO_CH_KEEP};
    struct audio_test_pcm out, ref;
    struct audio_result res;
    void *enc;
    size_t enc_len;
    assert_int_equal(audio_chain_run_mem(in, len, &enc, &enc_len, &spec, &res, &err), 0);
    assert_int_equal(audio_test_decode_mem(enc, enc_len, &out), 0);
    /* The reference: the same channel op, float WAV. */
    struct audio_spec rs = spec;
    rs.format = AUDIO_FMT_WAV;
    rs.sample = AUDIO_FLOAT;
    run_decode(in, len, &rs, &ref, &res);
    free(in);
    /* The chain's own decoder reads the encoded bytes back the same way. */
    struct audio_test_pcm back;
    rs.channels = AUDIO_CH_KEEP;
    run_decode(enc, enc_len, &rs, &back, &res);
    assert_int_equal(res.in.format, cc->fmt);
    assert_int_equal(res.in.rate, rate);
    assert_int_equal(res.in.channels, channels);
    assert_int_equal(back.frames, out.frames);
    assert_int_equal(back.channels, channels);
    for (int64_t i = 0; i < back.frames * channels; i++)
        assert_true(fabsf(back.x[i] - out.x[i]) <= 1e-6f);
    audio_test_pcm_free(&back);
    free(enc);
    printf("# %s/%d ch: %lld frames (want %lld)\n", audio_format_name(cc->fmt), channels,
           (long long)out.frames, (long long)ref.frames);
    assert_int_equal(out.sf_format & SF_FORMAT_TYPEMASK, cc->sf_major);
    assert_int_equal(out.sf_format & SF_FORMAT_SUBMASK, cc->sf_sub);
    assert_int_equal(out.rate, rate);
    assert_int_equal(out.channels, channels);
    assert_true(llabs(out.frames - ref.frames) <= cc->frame_tol);
    int64_t n = out.frames < ref.frames ? out.frames : ref.frames;
    if (cc->frame_tol == 0) {
        double worst = 0;
        for (int64_t i = 0; i < n * channels; i++)
            worst = fmax(worst, fabs(out.x[i] - ref.x[i]));
        assert_true(worst <= cc->max_err);
    } else {
        for (int c = 0; c < channels; c++) {
            double a = audio_test_rms(&out, c, 0, n), b = audio_test_rms(&ref, c, 0, n);
            assert_true(fabs(20 * log10(a / b)) < cc->max_err);
        }
    }
    audio_test_pcm_free(&out);
    audio_test_pcm_free(&ref);
}

static void test_encoders_roundtrip(void **state)
{
    (void)state;
    const struct codec_case cases[] = {
        {AUDIO_FMT_WAV, AUDIO_PCM_16, SF_FORMAT_WAV, SF_FORMAT_PCM_16, 0, 1.0001 / 32768},
        {AUDIO_FMT_WAV, AUDIO_PCM_24, SF_FORMAT_WAV, SF_FORMAT_PCM_24, 0, 1.0001 / 8388608},
        {AUDIO_FMT_WAV, AUDIO_FLOAT, SF_FORMAT_WAV, SF_FORMAT_FLOAT, 0, 0},
        {AUDIO_FMT_FLAC, AUDIO_PCM_16, SF_FORMAT_FLAC, SF_FORMAT_PCM_16, 0, 1.0001 / 32768},
        {AUDIO_FMT_FLAC, AUDIO_PCM_24, SF_FORMAT_FLAC, SF_FORMAT_PCM_24, 0, 1.0001 / 8388608},
        {AUDIO_FMT_OGG, AUDIO_PCM_DEFAULT, SF_FORMAT_OGG, SF_FORMAT_VORBIS, 0, 0.5},
        {AUDIO_FMT_OPUS, AUDIO_PCM_DEFAULT, SF_FORMAT_OGG, SF_FORMAT_OPUS, 960, 1.0},
        {AUDIO_FMT_MP3, AUDIO_PCM_DEFAULT, SF_FORMAT_MPEG, SF_FORMAT_MPEG_LAYER_III, 1152, 1.0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        for (int ch = 1; ch <= 2; ch++)
            roundtrip(&cases[i], ch, 48000);
}

static void test_encoder_options(void **state)
{
    (void)state;
    struct audio_gen_spec g = {.signal = AUDIO_SIG_MUSIC,
                               .seconds = 4,
                               .rate = 44100,
                               .channels = 2,
                               .seed = 3,
                               .format = AUDIO_FMT_WAV,
                               .vbr_quality = -1};
    void *in;
    size_t len;
    struct audio_error err = {0};
    assert_int_equal(audio_gen_mem(&in, &len, &g, &err), 0);
    struct audio_spec spec = {.format = AUDIO_FMT_MP3, .vbr_quality = -1};
    size_t sizes[2];
    const int rates[2] = {64, 256};
    for (int i = 0; i < 2; i++) {
        void *out;
        struct audio_result res;
        spec.bitrate_kbps = rates[i];
        assert_int_equal(audio_chain_run_mem(in, len, &out, &sizes[i], &spec, &res, &err), 0);
        free(out);
        /* CBR: the file size follows the bitrate (within 15 %). */
        double kbps = (double)sizes[i] * 8 / 4.0 / 1000;
        printf("# mp3 --bitrate %d: %.1f kbps\n", rates[i], kbps);
        assert_true(fabs(kbps - rates[i]) < 0.15 * rates[i]);
    }
    spec.format = AUDIO_FMT_OGG;
    spec.bitrate_kbps = 0;
    spec.vbr_quality = 0.1;
    void *lo, *hi;
    size_t lo_len, hi_len;
    struct audio_result res;
    assert_int_equal(audio_chain_run_mem(in, len, &lo, &lo_len, &spec, &res, &err), 0);
    spec.vbr_quality = 0.9;
    assert_int_equal(audio_chain_run_mem(in, len, &hi, &hi_len, &spec, &res, &err), 0);
    assert_true(hi_len > 2 * lo_len);
    free(lo);
    free(hi);
    /* Opus at 44.1 kHz: "keep" becomes 48 kHz, an explicit 44.1 kHz is refused. */
    spec.format = AUDIO_FMT_OPUS;
    spec.vbr_quality = -1;
    struct audio_test_pcm p;
    run_decode(in, len, &spec, &p, &res);
    assert_int_equal(p.rate, 48000);
    assert_int_equal(res.out.rate, 48000);
    audio_test_pcm_free(&p);
    spec.rate = 44100;
    void *out = NULL;
    size_t out_len;
    assert_int_equal(audio_chain_run_mem(in, len, &out, &out_len, &spec, &res, &err),
                     AUDIO_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "unsupported: 44100 Hz in Opus"));
    /* Float is WAV only. */
    spec.format = AUDIO_FMT_FLAC;
    spec.rate = 0;
    spec.sample = AUDIO_FLOAT;
    assert_int_equal(audio_chain_run_mem(in, len, &out, &out_len, &spec, &res, &err),
                     AUDIO_EUNSUPPORTED);
    assert_string_equal(err.msg, "unsupported: float samples in FLAC");
    free(in);
}

/* --- bad input ----------------------------------------------------------- */

static void expect_error(const void *in, size_t len, const struct audio_spec *spec, int code,
                         const char *msg)
{
    void *out = (void *)1;
    size_t out_len = 1;
    struct audio_error err = {0};
    struct audio_result res;
    int rc = audio_chain_run_mem(in, len, &out, &out_len, spec, &res, &err);
    printf("# -> %d %s\n", rc, err.msg);
    assert_null(res.features_json);
    audio_result_cleanup(&res); /* safe after a failure */
    assert_int_equal(rc, code);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.msg, msg));
    assert_null(out);
    assert_int_equal(out_len, 0);
}

static void *music(enum audio_format f, double seconds, size_t *len)
{
    struct audio_gen_spec g = {.signal = AUDIO_SIG_MUSIC,
                               .seconds = seconds,
                               .rate = 44100,
                               .channels = 2,
                               .seed = 1,
                               .format = f,
                               .vbr_quality = -1};
    void *buf;
    struct audio_error err = {0};
    assert_int_equal(audio_gen_mem(&buf, len, &g, &err), 0);
    return buf;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void test_bad_input(void **state)
{
    (void)state;
    struct audio_spec spec = {.vbr_quality = -1};
    /* Empty. */
    expect_error("", 0, &spec, AUDIO_ENOTAUDIO, "not an audio file: empty input");
    /* Random bytes. */
    unsigned char rnd[65536];
    uint64_t s = 12345;
    for (size_t i = 0; i < sizeof(rnd); i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        rnd[i] = (unsigned char)(s >> 56);
    }
    expect_error(rnd, sizeof(rnd), &spec, AUDIO_ENOTAUDIO, "not an audio file");
    /* Truncated FLAC: cut at a third. */
    size_t len;
    unsigned char *flac = music(AUDIO_FMT_FLAC, 5, &len);
    expect_error(flac, len / 3, &spec, AUDIO_ECORRUPT, "truncated FLAC stream at frame ");
    /* The limit. */
    spec.max_input_bytes = len / 2;
    expect_error(flac, len, &spec, AUDIO_ETOOBIG, "input larger than limit");
    spec.max_input_bytes = 0;
    free(flac);
    /* A FLAC STREAMINFO claiming twice the samples it holds. */
    flac = music(AUDIO_FMT_FLAC, 0.5, &len);
    assert_memory_equal(flac, "fLaC", 4);
    flac[21] &= 0xf0;
    memcpy(flac + 22, "\x00\x00\xac\x44", 4); /* 44100 */
    expect_error(flac, len, &spec, AUDIO_ECORRUPT,
                 "truncated FLAC stream at frame 22050 (of 44100)");
    /* Claiming 2^36-1 samples (~18 days at 44.1 kHz): an audio bomb, too big
     * for the file's own size whatever max_input_bytes says. */
    flac[21] |= 0x0f;
    memset(flac + 22, 0xff, 4);
    expect_error(flac, len, &spec, AUDIO_ETOOBIG,
                 "input larger than limit: header claims 68719476735 frames of 2 channels, more "
                 "than");
    spec.max_input_bytes = 1 << 20;
    expect_error(flac, len, &spec, AUDIO_ETOOBIG,
                 "input larger than limit: header claims 68719476735 frames of 2 channels");
    spec.max_input_bytes = 0;
    /* An honest claim beyond max_seconds. */
    memcpy(flac + 22, "\x00\x00\xac\x44", 4);
    flac[21] &= 0xf0;
    spec.max_seconds = 0.5;
    expect_error(
        flac, len, &spec, AUDIO_ETOOBIG,
        "input larger than limit: header claims 1 s of audio, more than the 0.5 s allowed");
    spec.max_seconds = 0;
    free(flac);
    /* Truncated MP3. */
    unsigned char *mp3 = music(AUDIO_FMT_MP3, 5, &len);
    expect_error(mp3, len / 2, &spec, AUDIO_ECORRUPT, "truncated MP3 stream at frame ");
    free(mp3);
    /* A WAV header claiming 10^12 frames (RF64 with a ds64 chunk). */
    unsigned char wav[12 + 8 + 28 + 8 + 16 + 8 + 4000];
    memset(wav, 0, sizeof(wav));
    memcpy(wav, "RF64\xff\xff\xff\xffWAVEds64", 16);
    put_le32(wav + 16, 28);
    uint64_t bytes = 4000000000000ull;
    for (int i = 0; i < 8; i++)
        wav[20 + 8 + i] = (unsigned char)(bytes >> (8 * i));
    unsigned char *f = wav + 48;
    memcpy(f, "fmt ", 4);
    put_le32(f + 4, 16);
    const unsigned char fmt[16] = {1, 0, 2, 0, 0x44, 0xac, 0, 0, 0x10, 0xb1, 2, 0, 4, 0, 16, 0};
    memcpy(f + 8, fmt, 16);
    memcpy(f + 24, "data\xff\xff\xff\xff", 8);
    expect_error(wav, sizeof(wav), &spec, AUDIO_ECORRUPT,
                 "malformed header: WAV claims 1000000000000 frames");
    spec.max_input_bytes = 1 << 30;
    expect_error(wav, sizeof(wav), &spec, AUDIO_ETOOBIG,
                 "input larger than limit: WAV header claims 1000000000000 frames");
    spec.max_input_bytes = 0;
    /* A 0-channel header (plain RIFF). */
    unsigned char zero[44 + 400];
    memset(zero, 0, sizeof(zero));
    memcpy(zero, "RIFF", 4);
    put_le32(zero + 4, sizeof(zero) - 8);
    memcpy(zero + 8, "WAVEfmt ", 8);
    put_le32(zero + 16, 16);
    const unsigned char fmt0[16] = {1, 0, 0, 0, 0x44, 0xac, 0, 0, 0x10, 0xb1, 2, 0, 4, 0, 16, 0};
    memcpy(zero + 20, fmt0, 16);
    memcpy(zero + 36, "data", 4);
    put_le32(zero + 40, 400);
    expect_error(zero, sizeof(zero), &spec, AUDIO_ECORRUPT, "Channel count is zero");
    /* A 1 Hz sample rate (found by the fuzzer: would make soxr's buffers huge). */
    const unsigned char fmt1[16] = {1, 0, 1, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 16, 0};
    memcpy(zero + 20, fmt1, 16);
    spec.rate = 16000;
    expect_error(zero, sizeof(zero), &spec, AUDIO_EUNSUPPORTED,
                 "unsupported: input sample rate 1 Hz");
    spec.rate = 0;
    assert_true(audio_error_is_permanent(AUDIO_ECORRUPT));
    assert_true(audio_error_is_permanent(AUDIO_ENOTAUDIO));
    assert_true(audio_error_is_permanent(AUDIO_ETOOBIG));
    /* One table (AUDIO_ERRNO_MAP) gives names, texts and permanence. */
    assert_string_equal(audio_errname(AUDIO_ETOOBIG), "AUDIO_ETOOBIG");
    assert_string_equal(audio_errname(AUDIO_OK), "AUDIO_OK");
    assert_string_equal(audio_errname(-1), "AUDIO_UNKNOWN");
    assert_false(audio_error_is_permanent(AUDIO_ENOMEM));
    assert_false(audio_error_is_permanent(AUDIO_EIO));
    assert_false(audio_error_is_permanent(AUDIO_ENOMEM));
    assert_string_equal(audio_strerror(AUDIO_ETOOBIG), "input larger than limit");
}

/* --- file path ----------------------------------------------------------- */

/* Audio bombs (issue 11): a FLAC of digital silence in 65535-frame blocks
 * of CONSTANT subframes carries ~14 000 samples per byte. The bound comes
 * from the file's own size (at most 4096 samples per byte), with no
 * max_input_bytes set, whether the header tells the length or not. */
static void test_audio_bomb(void **state)
{
    struct audio_spec spec = {.rate = 16000, .channels = AUDIO_CH_MONO, .vbr_quality = -1};
    const uint64_t frames = 60ull * 384000; /* a minute of 8 channels at 384 kHz */
    size_t len;
    unsigned char *b;
    (void)state;
    /* The generator makes real FLAC: a small one decodes to its silence. */
    b = flac_bomb(1, 8000, 65535, 65535, &len);
    assert_non_null(b);
    {
        void *out = NULL;
        size_t out_len = 0;
        struct audio_result res;
        struct audio_error err = {0};
        struct audio_test_pcm p;
        struct audio_spec keep = {.vbr_quality = -1, .format = AUDIO_FMT_WAV};
        assert_int_equal(audio_chain_run_mem(b, len, &out, &out_len, &keep, &res, &err), 0);
        assert_int_equal(res.in.frames, 65535);
        assert_int_equal(res.in.format, AUDIO_FMT_FLAC);
        assert_int_equal(audio_test_decode_mem(out, out_len, &p), 0);
        assert_int_equal(p.frames, 65535);
        assert_true(audio_test_rms(&p, 0, 0, p.frames) == 0.0);
        audio_test_pcm_free(&p);
        audio_result_cleanup(&res);
        free(out);
    }
    free(b);
    b = flac_bomb(8, 384000, frames, frames, &len);
    assert_non_null(b);
    printf("# bomb: %zu bytes for %llu frames of 8 channels\n", len, (unsigned long long)frames);
    assert_true(frames * 8 / len > 4096);
    expect_error(b, len, &spec, AUDIO_ETOOBIG,
                 "input larger than limit: header claims 23040000 frames of 8 channels, more than");
    free(b);
    /* The header says nothing: the decoded stream is held to the same bound. */
    b = flac_bomb(8, 384000, frames, 0, &len);
    assert_non_null(b);
    expect_error(b, len, &spec, AUDIO_ETOOBIG, "input larger than limit: decodes to more than");
    /* And to max_seconds, however honest the expansion. */
    spec.max_seconds = 0.1;
    expect_error(b, len, &spec, AUDIO_ETOOBIG,
                 "input larger than limit: decodes to more than the 0.1 s allowed");
    free(b);
}

struct canceller {
    atomic_int *flag;
    double after_s;
};

static void *cancel_later(void *arg)
{
    struct canceller *c = arg;
    struct timespec ts = {0, (long)(c->after_s * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(c->flag, 1);
    return NULL;
}

/* A timeout or shutdown sets the cancel flag from another thread: the run
 * stops at the next chunk, and says so. */
static void test_cancel(void **state)
{
    atomic_int flag = 0;
    struct audio_spec spec = {.rate = 16000,
                              .channels = AUDIO_CH_MONO,
                              .quality = AUDIO_Q_VERY_HIGH,
                              .vbr_quality = -1,
                              .cancel = &flag};
    struct audio_result res;
    struct audio_error err = {0};
    const char *in = tmp_path("long.flac"), *out = tmp_path("long-out.flac");
    size_t len;
    void *flac = music(AUDIO_FMT_FLAC, 120, &len);
    pthread_t t;
    struct canceller c = {&flag, 0.02};
    (void)state;
    assert_int_equal(audio_test_spit(in, flac, len), 0);
    free(flac);
    atomic_store(&flag, 1);
    assert_int_equal(audio_chain_run_file(in, out, &spec, &res, &err), AUDIO_ECANCELED);
    assert_non_null(strstr(err.msg, "canceled after 0 frames"));
    audio_result_cleanup(&res);
    atomic_store(&flag, 0);
    assert_int_equal(pthread_create(&t, NULL, cancel_later, &c), 0);
    assert_int_equal(audio_chain_run_file(in, out, &spec, &res, &err), AUDIO_ECANCELED);
    pthread_join(t, NULL);
    printf("# %s\n", err.msg);
    audio_result_cleanup(&res);
    assert_false(audio_error_is_permanent(AUDIO_ECANCELED));
    assert_string_equal(audio_strerror(AUDIO_ECANCELED), "canceled");
    unlink(in);
    unlink(out);
}

/* The analysis arrays' second pass (audio__npy_map: dB floor, DCT) checks
 * the cancel flag per chunk: here the flag is set while the first chunk is
 * mapped, and the second chunk is never read. */
static void set_flag_rows(void *ud, const float *in, float *out, size_t rows)
{
    atomic_store((atomic_int *)ud, 1);
    memcpy(out, in, rows * 4 * sizeof(float));
}

static void test_npy_map_cancel(void **state)
{
    (void)state;
    atomic_int flag = 0;
    struct audio__npy w;
    struct audio_error err = {0};
    const char *path = tmp_path("cancel.npy");
    enum { ROWS = 100000 }; /* 256 KiB chunks of 16-byte rows: 7 chunks */
    float *x = calloc(ROWS * 4, sizeof(float));
    assert_non_null(x);
    assert_int_equal(audio__npy_open(&w, path, 4, &err), 0);
    assert_int_equal(audio__npy_write(&w, x, ROWS, &err), 0);
    assert_int_equal(audio__npy_finish(&w, &err), 0);
    audio__npy_close(&w);
    free(x);
    assert_int_equal(audio__npy_map(path, ROWS, 4, 4, set_flag_rows, &flag, &flag, &err),
                     AUDIO_ECANCELED);
    assert_non_null(strstr(err.msg, "at row 16384 of 100000"));
    atomic_store(&flag, 0);
    assert_int_equal(audio__npy_map(path, ROWS, 4, 4, set_flag_rows, &flag, NULL, &err), 0);
    unlink(path);
}

static void test_file_path(void **state)
{
    (void)state;
    size_t len;
    void *flac = music(AUDIO_FMT_FLAC, 2, &len);
    /* FLAC bytes named .wav: detection is by bytes. */
    const char *in = tmp_path("really-flac.wav"), *out = tmp_path("out.ogg");
    assert_int_equal(audio_test_spit(in, flac, len), 0);
    free(flac);
    struct audio_info info;
    struct audio_error err = {0};
    assert_int_equal(audio_probe_file(in, &info, &err), 0);
    assert_int_equal(info.format, AUDIO_FMT_FLAC);
    assert_int_equal(info.rate, 44100);
    assert_int_equal(info.channels, 2);
    assert_int_equal(info.frames, 88200);
    struct audio_spec spec = {.rate = 22050,
                              .channels = AUDIO_CH_MONO,
                              .vbr_quality = -1,
                              .quality = AUDIO_Q_MEDIUM,
                              .features = 1};
    struct audio_result res;
    assert_int_equal(audio_chain_run_file(in, out, &spec, &res, &err), 0);
    assert_int_equal(res.in.format, AUDIO_FMT_FLAC);
    assert_int_equal(res.out.format, AUDIO_FMT_OGG); /* from the extension */
    assert_non_null(res.features_json);
    audio_result_cleanup(&res);
    struct audio_test_pcm p;
    assert_int_equal(audio_test_decode_file(out, &p), 0);
    assert_int_equal(p.sf_format & SF_FORMAT_SUBMASK, SF_FORMAT_VORBIS);
    assert_int_equal(p.rate, 22050);
    assert_int_equal(p.channels, 1);
    assert_int_equal(p.frames, 44100);
    audio_test_pcm_free(&p);
    /* A missing input is an i/o error (transient), an empty one not audio. */
    assert_int_equal(audio_chain_run_file(tmp_path("nope.flac"), out, &spec, &res, &err),
                     AUDIO_EIO);
    assert_non_null(strstr(err.msg, "nope.flac"));
    /* Never truncate the input by writing over it. */
    assert_int_equal(audio_chain_run_file(in, in, &spec, &res, &err), AUDIO_EINVAL);
    assert_non_null(strstr(err.msg, "input and output are the same file"));
    assert_int_equal(audio_probe_file(in, &info, &err), 0);
    assert_int_equal(info.frames, 88200);
    const char *empty = tmp_path("empty.flac");
    assert_int_equal(audio_test_spit(empty, "", 0), 0);
    assert_int_equal(audio_chain_run_file(empty, out, &spec, &res, &err), AUDIO_ENOTAUDIO);
    assert_int_equal(audio_probe_file(empty, &info, &err), AUDIO_ENOTAUDIO);
    /* An existing, longer output is replaced, not overwritten in place. */
    char src[320], fresh[320], old[320];
    snprintf(src, sizeof(src), "%s", in); /* tmp_path() reuses 4 buffers */
    in = src;
    snprintf(fresh, sizeof(fresh), "%s", tmp_path("fresh.flac"));
    snprintf(old, sizeof(old), "%s", tmp_path("old.flac"));
    struct stat sf, so;
    char junk[65536];
    memset(junk, 0x5a, sizeof(junk));
    spec.features = 0;
    assert_int_equal(audio_chain_run_file(in, fresh, &spec, &res, &err), 0);
    FILE *f = fopen(old, "wb");
    assert_non_null(f);
    for (int i = 0; i < 64; i++)
        assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
    fclose(f);
    assert_int_equal(audio_chain_run_file(in, old, &spec, &res, &err), 0);
    assert_int_equal(stat(fresh, &sf), 0);
    assert_int_equal(stat(old, &so), 0);
    assert_int_equal(so.st_size, sf.st_size);
    assert_int_equal(audio_test_decode_file(old, &p), 0);
    assert_int_equal(p.frames, 44100);
    audio_test_pcm_free(&p);
    /* A sink that refuses writes (a FIFO cannot pwrite): the reason is the
     * system's, not libsndfile's "No Error". */
    const char *fifo = tmp_path("fifo.flac");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(audio_chain_run_file(in, fifo, &spec, &res, &err), AUDIO_EIO);
    assert_non_null(strstr(err.msg, strerror(ESPIPE)));
}

/* --- features and generator ---------------------------------------------- */

static void test_features(void **state)
{
    (void)state;
    size_t len;
    void *in = sine_wav(1000, 5, 48000, 1, &len);
    struct audio_spec spec = {.format = AUDIO_FMT_WAV, .vbr_quality = -1, .features = 1};
    void *out;
    size_t out_len;
    struct audio_result res;
    struct audio_error err = {0};
    assert_int_equal(audio_chain_run_mem(in, len, &out, &out_len, &spec, &res, &err), 0);
    free(out);
    free(in);
    const char *j = res.features_json;
    assert_non_null(j);
    printf("# %s\n", j);
    double v;
    assert_int_equal(audio_test_json_number(j, "frames", &v), 0);
    assert_true(v == 240000);
    assert_int_equal(audio_test_json_number(j, "duration_s", &v), 0);
    assert_true(fabs(v - 5) < 1e-9);
    assert_int_equal(audio_test_json_number(j, "sample_rate", &v), 0);
    assert_true(v == 48000);
    assert_int_equal(audio_test_json_number(j, "peak_dbfs", &v), 0);
    assert_true(fabs(v + 6.0206) < 0.01);
    assert_int_equal(audio_test_json_number(j, "rms_dbfs", &v), 0);
    assert_true(fabs(v + 9.0309) < 0.01);
    /* BS.1770 is calibrated so that a 1 kHz sine reads its RMS level. */
    assert_int_equal(audio_test_json_number(j, "loudness_lufs", &v), 0);
    assert_true(fabs(v + 9.03) < 0.3);
    assert_int_equal(audio_test_json_number(j, "true_peak_dbfs", &v), 0);
    assert_true(fabs(v + 6.02) < 0.2);
    audio_result_cleanup(&res);
    /* Without spec.features: nothing. */
    in = sine_wav(1000, 0.1, 48000, 1, &len);
    spec.features = 0;
    assert_int_equal(audio_chain_run_mem(in, len, &out, &out_len, &spec, &res, &err), 0);
    assert_null(res.features_json);
    free(out);
    free(in);
    /* Silence has no level: null, not -inf. */
    struct audio_gen_spec g = {.signal = AUDIO_SIG_SILENCE,
                               .seconds = 1,
                               .rate = 8000,
                               .channels = 1,
                               .format = AUDIO_FMT_WAV,
                               .vbr_quality = -1};
    assert_int_equal(audio_gen_mem(&in, &len, &g, &err), 0);
    spec.features = 1;
    assert_int_equal(audio_chain_run_mem(in, len, &out, &out_len, &spec, &res, &err), 0);
    assert_non_null(strstr(res.features_json, "\"peak_dbfs\": null"));
    assert_non_null(strstr(res.features_json, "\"loudness_lufs\": null"));
    audio_result_cleanup(&res);
    free(out);
    free(in);
}

/* Features on more than libebur128's 64 channels per state: checked
 * against figures computed from the samples (audio_testutil.c). 64 is one
 * state, 65 and 129 need two and three. */
static void check_wide_features(int channels)
{
    const int rate = 48000;
    float *x = audio_test_wide_sine(channels, rate);
    assert_non_null(x);
    size_t len;
    void *in = audio_test_wav_float(x, rate, channels, rate, &len);
    free(x);
    struct audio_spec spec = {
        .format = AUDIO_FMT_WAV, .sample = AUDIO_FLOAT, .vbr_quality = -1, .features = 1};
    struct audio_test_pcm pcm;
    struct audio_result res;
    run_decode(in, len, &spec, &pcm, &res);
    assert_int_equal(pcm.channels, channels);
    assert_int_equal(pcm.frames, rate);
    struct audio_test_pcm src;
    assert_int_equal(audio_test_decode_mem(in, len, &src), 0);
    char why[256];
    printf("# %d channels: %s\n", channels, res.features_json);
    if (audio_test_check_wide_features(res.features_json, &src, why, sizeof(why)) != 0)
        fail_msg("%d channels: %s", channels, why);
    audio_test_pcm_free(&src);
    audio_test_pcm_free(&pcm);
    audio_result_cleanup(&res);
    free(in);
}

static void test_features_many_channels(void **state)
{
    (void)state;
    check_wide_features(64);
    check_wide_features(65);
    check_wide_features(129);
    /* Bounded like before: libebur128 keeps 400 ms of each channel, so
     * channels x rate is capped (64 x 768 kHz), a permanent refusal. */
    size_t len;
    float x[65 * 16] = {0};
    void *in = audio_test_wav_float(x, 16, 65, 768000, &len);
    struct audio_spec spec = {.format = AUDIO_FMT_WAV, .vbr_quality = -1, .features = 1};
    expect_error(in, len, &spec, AUDIO_EUNSUPPORTED,
                 "unsupported: features on 65 channels at 768000 Hz");
    assert_true(audio_error_is_permanent(AUDIO_EUNSUPPORTED));
    free(in);
}

/* --- empty results ------------------------------------------------------- */

/* in (an input with no frame, or too few for one output frame at rate):
 * AUDIO_EEMPTY with msg for every output format, with and without
 * features, memory to memory (nothing returned) and file to file (nothing
 * counted as a result). */
static void expect_empty(const char *in_path, int rate, const char *msg)
{
    static const enum audio_format fmts[] = {AUDIO_FMT_WAV, AUDIO_FMT_FLAC, AUDIO_FMT_OGG,
                                             AUDIO_FMT_OPUS, AUDIO_FMT_MP3};
    size_t len;
    void *in = audio_test_slurp(in_path, &len);
    assert_non_null(in);
    assert_true(len > 0); /* a header: not the 0-byte "not an audio file" case */
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++)
        for (int feat = 0; feat < 2; feat++) {
            struct audio_spec spec = {
                .format = fmts[i], .rate = rate, .vbr_quality = -1, .features = feat};
            printf("# %s -> %s%s\n", in_path, audio_format_name(fmts[i]),
                   feat ? " + features" : "");
            expect_error(in, len, &spec, AUDIO_EEMPTY, msg);
            struct audio_result res;
            struct audio_error err = {0};
            const char *out = tmp_path("empty-out");
            assert_int_equal(audio_chain_run_file(in_path, out, &spec, &res, &err), AUDIO_EEMPTY);
            assert_int_equal(err.code, AUDIO_EEMPTY);
            assert_non_null(strstr(err.msg, msg));
            assert_int_equal(res.out.frames, 0);
            assert_null(res.features_json);
            unlink(out); /* the caller's job after a failure */
        }
    free(in);
}

static void test_empty_audio(void **state)
{
    (void)state;
    char wav0[320], flac0[320], ogg0[320], one[320], two[320], three[320];
    const float x[3] = {0.5f, -0.5f, 0.25f};
    snprintf(wav0, sizeof(wav0), "%s", tmp_path("zero.wav"));
    snprintf(flac0, sizeof(flac0), "%s", tmp_path("zero.flac"));
    snprintf(ogg0, sizeof(ogg0), "%s", tmp_path("zero.ogg"));
    snprintf(one, sizeof(one), "%s", tmp_path("one.wav"));
    snprintf(two, sizeof(two), "%s", tmp_path("two.wav"));
    snprintf(three, sizeof(three), "%s", tmp_path("three.wav"));
    assert_int_equal(audio_test_sf_write(wav0, SF_FORMAT_WAV | SF_FORMAT_PCM_16, NULL, 0, 2, 48000),
                     0);
    assert_int_equal(audio_test_sf_write(ogg0, SF_FORMAT_OGG | SF_FORMAT_VORBIS, NULL, 0, 1, 44100),
                     0);
    size_t len;
    void *flac = audio_test_flac_empty(44100, 2, &len);
    assert_int_equal(audio_test_spit(flac0, flac, len), 0);
    free(flac);
    assert_int_equal(audio_test_sf_write(one, SF_FORMAT_WAV | SF_FORMAT_PCM_16, x, 1, 1, 48000), 0);
    assert_int_equal(audio_test_sf_write(two, SF_FORMAT_WAV | SF_FORMAT_PCM_16, x, 2, 1, 48000), 0);
    assert_int_equal(audio_test_sf_write(three, SF_FORMAT_WAV | SF_FORMAT_PCM_16, x, 3, 1, 48000),
                     0);
    /* Real audio files, as libsndfile sees them: 0 frames. */
    struct audio_info info;
    struct audio_error err = {0};
    assert_int_equal(audio_probe_file(wav0, &info, &err), 0);
    assert_int_equal(info.frames, 0);
    assert_int_equal(audio_probe_file(flac0, &info, &err), 0);
    assert_int_equal(info.format, AUDIO_FMT_FLAC);
    assert_int_equal(info.frames, -1); /* STREAMINFO's 0 samples mean "unknown" */
    assert_int_equal(audio_probe_file(ogg0, &info, &err), 0);
    assert_int_equal(info.format, AUDIO_FMT_OGG);

    expect_empty(wav0, 0, "empty audio: the input holds 0 frames");
    expect_empty(flac0, 0, "empty audio: the input holds 0 frames");
    expect_empty(ogg0, 0, "empty audio: the input holds 0 frames");
    expect_empty(one, 8000,
                 "empty audio: 1 input frame at 48000 Hz gives no output frame at 8000 Hz");
    expect_empty(two, 8000,
                 "empty audio: 2 input frames at 48000 Hz give no output frame at 8000 Hz");
    expect_empty(one, 16000, "gives no output frame at 16000 Hz");
    /* The boundary: 3 frames at 48 kHz make one at 8 kHz, a result. */
    struct audio_spec spec = {.format = AUDIO_FMT_WAV, .rate = 8000, .vbr_quality = -1};
    struct audio_result res;
    const char *out = tmp_path("three-out.wav");
    assert_int_equal(audio_chain_run_file(three, out, &spec, &res, &err), 0);
    assert_int_equal(res.out.frames, 1);
    struct audio_test_pcm p;
    assert_int_equal(audio_test_decode_file(out, &p), 0);
    assert_int_equal(p.frames, 1);
    audio_test_pcm_free(&p);

    assert_true(audio_error_is_permanent(AUDIO_EEMPTY));
    assert_string_equal(audio_strerror(AUDIO_EEMPTY), "empty audio");
}

static void test_generator(void **state)
{
    (void)state;
    struct audio_gen_spec g = {.seconds = 1.5,
                               .rate = 44100,
                               .channels = 2,
                               .seed = 9,
                               .format = AUDIO_FMT_FLAC,
                               .vbr_quality = -1};
    assert_int_equal(audio_signal_parse("music", &g), 0);
    assert_int_equal(audio_signal_parse("sine:x", &g), AUDIO_EINVAL);
    assert_int_equal(audio_signal_parse("bogus", &g), AUDIO_EINVAL);
    void *a, *b, *c;
    size_t la, lb, lc;
    struct audio_error err = {0};
    assert_int_equal(audio_gen_mem(&a, &la, &g, &err), 0);
    assert_int_equal(audio_gen_mem(&b, &lb, &g, &err), 0);
    g.seed = 10;
    assert_int_equal(audio_gen_mem(&c, &lc, &g, &err), 0);
    assert_true(la == lb && memcmp(a, b, la) == 0); /* deterministic */
    assert_true(la != lc || memcmp(a, c, la) != 0); /* seeded */
    struct audio_test_pcm p;
    assert_int_equal(audio_test_decode_mem(a, la, &p), 0);
    assert_int_equal(p.frames, 66150);
    assert_int_equal(p.channels, 2);
    double l = audio_test_rms(&p, 0, 0, p.frames), r = audio_test_rms(&p, 1, 0, p.frames);
    assert_true(l > 0.03 && r > 0.03); /* audible, and channels differ */
    double diff = 0;
    for (int64_t i = 0; i < p.frames; i++)
        diff += fabs(p.x[2 * i] - p.x[2 * i + 1]);
    assert_true(diff / (double)p.frames > 1e-3);
    audio_test_pcm_free(&p);
    free(a);
    free(b);
    free(c);
    /* Sine: the frequency asked for. */
    assert_int_equal(audio_signal_parse("sine:440", &g), 0);
    g.channels = 1;
    g.format = AUDIO_FMT_WAV;
    g.sample = AUDIO_FLOAT;
    assert_int_equal(audio_gen_mem(&a, &la, &g, &err), 0);
    assert_int_equal(audio_test_decode_mem(a, la, &p), 0);
    double f, amp;
    double thdn = audio_test_sine_fit(p.x, (size_t)p.frames, 1, 44100, 440, &f, &amp);
    assert_true(fabs(f - 440) < 1e-4 && fabs(amp - 0.5) < 1e-4 && thdn < -130);
    audio_test_pcm_free(&p);
    free(a);
    /* Bad spec. */
    g.rate = 0;
    assert_int_equal(audio_gen_mem(&a, &la, &g, &err), AUDIO_EINVAL);
    assert_non_null(strstr(err.msg, "invalid sample rate 0"));
}

/* --- other containers and threads --------------------------------------- */

static void test_decode_aiff(void **state)
{
    (void)state;
    /* wiggly does not write AIFF, but reads whatever libsndfile reads. */
    const char *in = tmp_path("tone.aiff"), *out = tmp_path("tone.flac");
    SF_INFO si = {.samplerate = 32000, .channels = 2, .format = SF_FORMAT_AIFF | SF_FORMAT_PCM_24};
    SNDFILE *sf = sf_open(in, SFM_WRITE, &si);
    assert_non_null(sf);
    float x[2 * 3200];
    for (int i = 0; i < 3200; i++)
        x[2 * i] = x[2 * i + 1] = (float)(0.25 * sin(0.05 * i));
    assert_int_equal(sf_writef_float(sf, x, 3200), 3200);
    sf_close(sf);
    struct audio_spec spec = {.channels = AUDIO_CH_MONO, .rate = 16000, .vbr_quality = -1};
    struct audio_result res;
    struct audio_error err = {0};
    assert_int_equal(audio_chain_run_file(in, out, &spec, &res, &err), 0);
    assert_int_equal(res.in.rate, 32000);
    assert_int_equal(res.in.frames, 3200);
    assert_int_equal(res.out.frames, 1600);
    struct audio_test_pcm p;
    assert_int_equal(audio_test_decode_file(out, &p), 0);
    assert_int_equal(p.sf_format & SF_FORMAT_TYPEMASK, SF_FORMAT_FLAC);
    assert_int_equal(p.frames, 1600);
    audio_test_pcm_free(&p);
}

struct worker {
    pthread_t tid;
    const void *in;
    size_t len;
    int expect;
    int failures;
};

/* Good and bad inputs at once: a failed open in one thread must not report
 * "no error" or another thread's error (libsndfile's open error is global). */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct audio_spec spec = {.channels = AUDIO_CH_MONO, .rate = 22050, .vbr_quality = -1};
    for (int i = 0; i < 20; i++) {
        void *out = NULL;
        size_t out_len = 0;
        struct audio_result res;
        struct audio_error err = {0};
        int rc = audio_chain_run_mem(w->in, w->len, &out, &out_len, &spec, &res, &err);
        if (rc != w->expect || (rc && !strstr(err.msg, "not an audio file")) ||
            (!rc && res.out.frames != 22050))
            w->failures++;
        free(out);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    size_t len;
    void *flac = music(AUDIO_FMT_FLAC, 1, &len);
    static const char junk[] = "this is not audio, not at all, but long enough to be probed....";
    struct worker w[4] = {{0, flac, len, 0, 0},
                          {0, junk, sizeof(junk), AUDIO_ENOTAUDIO, 0},
                          {0, flac, len, 0, 0},
                          {0, junk, sizeof(junk), AUDIO_ENOTAUDIO, 0}};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(w[i].tid, NULL);
        assert_int_equal(w[i].failures, 0);
    }
    free(flac);
}

static void test_names(void **state)
{
    (void)state;
    enum audio_format f;
    enum audio_quality q;
    assert_int_equal(audio_format_from_path("/a/b.c/track.MP3", &f), 0);
    assert_int_equal(f, AUDIO_FMT_MP3);
    assert_int_equal(audio_format_from_path("/a/b.flac/track", &f), AUDIO_EINVAL);
    assert_int_equal(audio_format_parse("opus", &f), 0);
    assert_string_equal(audio_format_mime(f), "audio/ogg; codecs=opus");
    assert_int_equal(audio_format_parse("aac", &f), AUDIO_EINVAL);
    assert_int_equal(audio_quality_parse("very-high", &q), 0);
    assert_int_equal(q, AUDIO_Q_VERY_HIGH);
    assert_string_equal(audio_quality_name(q), "very-high");
    assert_int_equal(audio_quality_parse("ultra", &q), AUDIO_EINVAL);
}

/* The fast paths' choices (docs/audio.md "Fast paths"). */
static void test_fast_path_rates(void **state)
{
    (void)state;
    assert_int_equal(audio__mpg123_down_sample(44100, 0), 0);
    assert_int_equal(audio__mpg123_down_sample(44100, 44100), 0);
    assert_int_equal(audio__mpg123_down_sample(44100, 22051), 0);
    assert_int_equal(audio__mpg123_down_sample(44100, 22050), 1);
    assert_int_equal(audio__mpg123_down_sample(44100, 16000), 1);
    assert_int_equal(audio__mpg123_down_sample(44100, 11025), 2);
    assert_int_equal(audio__mpg123_down_sample(48000, 8000), 2);
    assert_int_equal(audio__mpg123_down_sample(8000, 1000), 2); /* never beyond 4:1 */
    assert_int_equal(audio__opus_decode_rate(0), 48000);
    assert_int_equal(audio__opus_decode_rate(16000), 24000); /* strictly above */
    assert_int_equal(audio__opus_decode_rate(15999), 16000);
    assert_int_equal(audio__opus_decode_rate(8000), 12000);
    assert_int_equal(audio__opus_decode_rate(7999), 8000);
    assert_int_equal(audio__opus_decode_rate(22050), 24000);
    assert_int_equal(audio__opus_decode_rate(24000), 48000);
    assert_int_equal(audio__opus_decode_rate(96000), 48000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fast_path_rates),
        cmocka_unit_test(test_resample_44k_16k),
        cmocka_unit_test(test_resample_48k_44k),
        cmocka_unit_test(test_resample_8k_48k),
        cmocka_unit_test(test_resample_stopband),
        cmocka_unit_test(test_resample_bypass_and_presets),
        cmocka_unit_test(test_channels_exact),
        cmocka_unit_test(test_channels_multichannel),
        cmocka_unit_test(test_encoders_roundtrip),
        cmocka_unit_test(test_encoder_options),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_file_path),
        cmocka_unit_test(test_audio_bomb),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_npy_map_cancel),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_features_many_channels),
        cmocka_unit_test(test_empty_audio),
        cmocka_unit_test(test_generator),
        cmocka_unit_test(test_decode_aiff),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
