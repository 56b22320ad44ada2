/* test_audio_ffdec.c: FFmpeg's decoder (audio/ffdec.c) through its table
 * entry, audio__ff_decoder, on the bytes of files the ffmpeg command line
 * (argv[1]) makes here from raw samples written by this test. Lossless
 * codecs and PCM only, so every decoded value can be compared with what was
 * encoded: each FFmpeg sample format ffdec.c converts (u8, s16, s32, flt,
 * dbl packed; s16p, s32p, fltp planar) must come out exactly as the
 * conversion documented there, and the frames counted equal the source's.
 * Also: the decoder table's choice, a file with no audio stream
 * (AUDIO_ENOTAUDIO, "no audio stream", recognised), a truncated stream
 * (AUDIO_ECORRUPT with FFmpeg's reason after exact values up to the cut),
 * a playlist (AUDIO_EUNSUPPORTED) and bytes nobody knows. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audio/audio_int.h"
#include "tests/support/audio_testutil.h"

/* Not a multiple of any codec's frame size (ALAC 4096, WavPack, FLAC). */
#define FRAMES 12345
#define CH     2
#define RATE   8000

static const char *ffmpeg;
static char dir[256];

static const char *path(const char *name)
{
    static char buf[16][320];
    static int i;
    i = (i + 1) % 16;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

/* Runs the ffmpeg command line with args (a shell fragment of file names
 * under dir only, no quotes needed); asserts it succeeded. */
static void ff(const char *fmt, ...)
{
    char args[1024], cmd[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof(args), fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' -nostdin -hide_banner -loglevel error -y %s", dir,
             ffmpeg, args);
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("ffmpeg failed (%d): %s", rc, cmd);
}

static uint32_t lcg = 12345;
static uint32_t rnd(void)
{
    lcg = lcg * 1664525u + 1013904223u;
    return lcg;
}

/* The source samples, interleaved, FRAMES x CH of each type. The first
 * frames hold each type's extremes; the rest is pseudo-random over the full
 * range, so any error of scale, sign, offset, channel order or packing
 * shows. s32 holds 24-bit values (the low byte 0) for ALAC's 24-bit mode;
 * s32full uses all 32 bits for PCM. */
static uint8_t src_u8[FRAMES * CH];
static int16_t src_s16[FRAMES * CH];
static int32_t src_s24[FRAMES * CH], src_s32[FRAMES * CH];
static float src_f32[FRAMES * CH];
static double src_f64[FRAMES * CH];

static void write_raw(const char *name, const void *p, size_t n)
{
    assert_int_equal(audio_test_spit(path(name), p, n), 0);
}

static void make_sources(void)
{
    for (size_t i = 0; i < FRAMES * CH; i++) {
        uint32_t r = rnd();
        src_u8[i] = (uint8_t)(r >> 24);
        src_s16[i] = (int16_t)(r >> 16);
        src_s24[i] = (int32_t)(r & 0xFFFFFF00u);
        src_s32[i] = (int32_t)rnd();
        src_f32[i] = (float)((int32_t)r * (1.0 / 2147483648.0));
        src_f64[i] = (int32_t)rnd() * (1.0 / 2147483648.0) * 0.999;
    }
    static const uint8_t u8x[] = {0, 255, 128, 127};
    static const int16_t s16x[] = {INT16_MIN, INT16_MAX, 0, -1};
    static const int32_t s24x[] = {INT32_MIN, 0x7FFFFF00, 0, -256};
    static const int32_t s32x[] = {INT32_MIN, INT32_MAX, 0, -1};
    static const float f32x[] = {-1.0f, 0.999999f, 0.0f, -1e-30f};
    static const double f64x[] = {-1.0, 0.9999999999, 0.0, 1e-300};
    for (size_t i = 0; i < 4; i++) {
        src_u8[i] = u8x[i];
        src_s16[i] = s16x[i];
        src_s24[i] = s24x[i];
        src_s32[i] = s32x[i];
        src_f32[i] = f32x[i];
        src_f64[i] = f64x[i];
    }
    write_raw("u8.raw", src_u8, sizeof(src_u8));
    write_raw("s16.raw", src_s16, sizeof(src_s16));
    write_raw("s24.raw", src_s24, sizeof(src_s24));
    write_raw("s32.raw", src_s32, sizeof(src_s32));
    write_raw("f32.raw", src_f32, sizeof(src_f32));
    write_raw("f64.raw", src_f64, sizeof(src_f64));
}

/* What ffdec.c's conversion must give for sample i of each source. */
static float want(char kind, size_t i)
{
    switch (kind) {
    case 'u':
        return ((int)src_u8[i] - 128) * (1.0f / 128);
    case 's':
        return src_s16[i] * (1.0f / 32768);
    case '4':
        return (float)(src_s24[i] * (1.0 / 2147483648.0));
    case '3':
        return (float)(src_s32[i] * (1.0 / 2147483648.0));
    case 'f':
        return src_f32[i];
    default:
        return (float)src_f64[i];
    }
}

static int setup(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/wiggly-ffdec-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    make_sources();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return audio_test_remove_dir(dir);
}

/* One opened input: the file's bytes in memory (or its fd) and the decoder. */
struct input {
    unsigned char *bytes;
    struct audio__vio v;
    void *st;
    struct audio__dec_info info;
    struct audio_error err;
};

static int open_input(struct input *in, const char *name, int by_fd)
{
    memset(in, 0, sizeof(*in));
    size_t len = 0;
    in->v.fd = -1;
    if (by_fd) {
        in->v.fd = open(path(name), O_RDONLY);
        assert_true(in->v.fd >= 0);
    } else {
        in->bytes = (unsigned char *)audio_test_slurp(path(name), &len);
        assert_non_null(in->bytes);
        in->v.rd = in->bytes;
        in->v.len = len;
    }
    return audio__ff_decoder.open(&in->v, NULL, &in->st, &in->info, &in->err);
}

static void close_input(struct input *in)
{
    if (in->st)
        audio__ff_decoder.close(in->st);
    if (in->v.fd >= 0)
        close(in->v.fd);
    free(in->bytes);
}

/* Decodes all of in in reads of an odd size, comparing every value with
 * the source of kind; returns the frames decoded, or the error code (then
 * every value before it matched). */
static long decode_compare(struct input *in, char kind, int64_t *frames)
{
    float buf[1001 * CH];
    int64_t n = 0;
    for (;;) {
        long got = audio__ff_decoder.read(in->st, buf, 1001, &in->err);
        if (got <= 0) {
            *frames = n;
            return got;
        }
        assert_true(n + got <= FRAMES);
        for (long i = 0; i < got * CH; i++) {
            size_t k = (size_t)(n * CH + i);
            float w = want(kind, k);
            if (buf[i] != w)
                fail_msg("%c: sample %zu (frame %zu ch %zu): %.9g, want %.9g", kind, k, k / CH,
                         k % CH, (double)buf[i], (double)w);
        }
        n += got;
    }
}

struct fmtcase {
    const char *file;  /* made under dir */
    const char *input; /* ffmpeg's raw input format and file */
    const char *codec; /* ffmpeg output options */
    char kind;         /* the source: want() */
    const char *codec_name;
    /* How far the container's claim of the length may be from FRAMES: 0
     * exact, RATE / 1000 for Matroska (it counts milliseconds), -1 when it
     * makes none (CAF's PCM: no claim, frames = -1). */
    int claim_slack;
};

static const struct fmtcase cases[] = {
    /* packed: PCM in WAV, CAF and Matroska, FLAC in Matroska */
    {"u8.wav", "-f u8 -i u8.raw", "-c:a pcm_u8", 'u', "pcm_u8", 0},
    {"s16.wav", "-f s16le -i s16.raw", "-c:a pcm_s16le", 's', "pcm_s16le", 0},
    {"s32.wav", "-f s32le -i s32.raw", "-c:a pcm_s32le", '3', "pcm_s32le", 0},
    {"s24.caf", "-f s32le -i s24.raw", "-c:a pcm_s24be", '4', "pcm_s24be", -1},
    {"f32.caf", "-f f32le -i f32.raw", "-c:a pcm_f32le", 'f', "pcm_f32le", -1},
    {"f64.wav", "-f f64le -i f64.raw", "-c:a pcm_f64le", 'd', "pcm_f64le", 0},
    {"s16.mkv", "-f s16le -i s16.raw", "-c:a pcm_s16le", 's', "pcm_s16le", RATE / 1000},
    {"flac.mkv", "-f s16le -i s16.raw", "-c:a flac", 's', "flac", RATE / 1000},
    /* planar: ALAC (s16p, s32p) in M4A, WavPack float (fltp) */
    {"alac16.m4a", "-f s16le -i s16.raw", "-c:a alac", 's', "alac", 0},
    {"alac24.m4a", "-f s32le -i s24.raw", "-c:a alac -sample_fmt s32p", '4', "alac", 0},
    {"float.wv", "-f f32le -i f32.raw", "-c:a wavpack", 'f', "wavpack", 0},
};

static void test_sample_formats(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const struct fmtcase *fc = &cases[c];
        ff("-ar %d -ac %d %s %s %s", RATE, CH, fc->input, fc->codec, fc->file);
        for (int by_fd = 0; by_fd < 2; by_fd++) {
            struct input in;
            int rc = open_input(&in, fc->file, by_fd);
            if (rc != 0)
                fail_msg("%s: open: %s", fc->file, in.err.msg);
            assert_int_equal(in.info.rate, RATE);
            assert_int_equal(in.info.channels, CH);
            assert_string_equal(in.info.codec, fc->codec_name);
            /* The container's claim: the source's count, where it has one. */
            int64_t off = in.info.frames - FRAMES;
            if (fc->claim_slack < 0 ? in.info.frames != -1
                                    : off < -fc->claim_slack || off > fc->claim_slack)
                fail_msg("%s: claims %lld frames, want %d +- %d", fc->file,
                         (long long)in.info.frames, FRAMES, fc->claim_slack);
            int64_t n = 0;
            long end = decode_compare(&in, fc->kind, &n);
            if (end != 0)
                fail_msg("%s: read: %s", fc->file, in.err.msg);
            if (n != FRAMES)
                fail_msg("%s: decoded %lld frames, want %d", fc->file, (long long)n, FRAMES);
            /* At the end it stays at the end. */
            float one[CH];
            assert_int_equal(audio__ff_decoder.read(in.st, one, 1, &in.err), 0);
            print_message("# %-10s %-9s via %s: %d frames exact (%s)\n", fc->file, fc->codec_name,
                          in.info.container, FRAMES, by_fd ? "fd" : "memory");
            close_input(&in);
        }
    }
}

/* The table (decoder.c): libsndfile keeps WAV, FFmpeg gets the M4A. */
static void test_decoder_table(void **state)
{
    (void)state;
    static const char *const files[][2] = {{"table.wav", "libsndfile"}, {"table.m4a", "ffmpeg"}};
    ff("-ar %d -ac %d -f s16le -i s16.raw table.wav", RATE, CH);
    ff("-ar %d -ac %d -f s16le -i s16.raw -c:a alac table.m4a", RATE, CH);
    for (size_t i = 0; i < 2; i++) {
        size_t len = 0;
        unsigned char *b = (unsigned char *)audio_test_slurp(path(files[i][0]), &len);
        assert_non_null(b);
        struct audio__vio v = {.fd = -1, .rd = b, .len = len};
        struct audio__decoder d;
        struct audio_error err = {0};
        assert_int_equal(audio__decoder_open(&d, &v, NULL, &err), 0);
        assert_string_equal(d.ops->name, files[i][1]);
        float buf[512 * CH];
        int64_t n = 0;
        long got;
        while ((got = d.ops->read(d.st, buf, 512, &err)) > 0)
            n += got;
        assert_int_equal(got, 0);
        assert_int_equal(n, FRAMES);
        audio__decoder_close(&d);
        free(b);
    }
}

static void test_no_audio_stream(void **state)
{
    (void)state;
    ff("-f lavfi -i testsrc=size=32x24:rate=5:duration=1 -c:v mpeg4 video.mkv");
    struct input in;
    assert_int_equal(open_input(&in, "video.mkv", 0), AUDIO_ENOTAUDIO);
    assert_int_equal(in.err.code, AUDIO_ENOTAUDIO);
    assert_non_null(strstr(in.err.msg, "no audio stream in the matroska"));
    /* FFmpeg knew the container: the table must not try anyone else. */
    assert_int_equal(in.info.recognised, 1);
    assert_null(in.st);
    close_input(&in);
    print_message("# video.mkv: %s\n", in.err.msg);
}

/* An ALAC M4A with its index first (faststart), cut in the middle of the
 * sample data: every value decoded before the cut is exact, then the read
 * fails with AUDIO_ECORRUPT and FFmpeg's reason, never a silent short
 * file. */
static void test_truncated(void **state)
{
    (void)state;
    ff("-ar %d -ac %d -f s16le -i s16.raw -c:a alac -movflags +faststart fs.m4a", RATE, CH);
    size_t len = 0;
    char *b = audio_test_slurp(path("fs.m4a"), &len);
    assert_non_null(b);
    size_t cut = len * 6 / 10;
    assert_int_equal(audio_test_spit(path("cut.m4a"), b, cut), 0);
    free(b);
    struct input in;
    assert_int_equal(open_input(&in, "cut.m4a", 0), 0);
    assert_int_equal(in.info.frames, FRAMES);
    int64_t n = 0;
    long end = decode_compare(&in, 's', &n);
    print_message("# cut.m4a (%zu of %zu bytes): %lld frames exact, then %s: %s\n", cut, len,
                  (long long)n, audio_errname((int)end), in.err.msg);
    assert_int_equal(end, AUDIO_ECORRUPT);
    assert_int_equal(in.err.code, AUDIO_ECORRUPT);
    assert_non_null(strstr(in.err.msg, "corrupt alac stream at frame"));
    assert_true(n > 0 && n < FRAMES);
    close_input(&in);
}

static void test_refused(void **state)
{
    (void)state;
    /* A playlist: FFmpeg knows it, wiggly refuses it before a demuxer runs. */
    static const char m3u8[] = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
                               "http://127.0.0.1:9/seg.ts\n#EXT-X-ENDLIST\n";
    struct audio__vio v = {.fd = -1, .rd = (const unsigned char *)m3u8, .len = sizeof(m3u8) - 1};
    void *st = NULL;
    struct audio__dec_info info = {0};
    struct audio_error err = {0};
    int rc = audio__ff_decoder.open(&v, NULL, &st, &info, &err);
    print_message("# playlist: %s\n", err.msg);
    assert_int_equal(rc, AUDIO_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "unsupported: hls input"));
    assert_int_equal(info.recognised, 1);
    /* Text nobody knows: AUDIO_ENOTAUDIO, not recognised, so the table's
     * first decoder's words stand. (Random bytes are another matter: FFmpeg's
     * probe may name a demuxer at a low score, which then fails with
     * AUDIO_ECORRUPT: permanent too.) */
    char text[4096];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = "the quick brown fox jumps over the lazy dog.\n"[i % 45];
    struct audio__vio j = {.fd = -1, .rd = (const unsigned char *)text, .len = sizeof(text)};
    memset(&info, 0, sizeof(info));
    rc = audio__ff_decoder.open(&j, NULL, &st, &info, &err);
    print_message("# text: %s\n", err.msg);
    assert_int_equal(rc, AUDIO_ENOTAUDIO);
    assert_int_equal(info.recognised, 0);
    assert_non_null(strstr(err.msg, "not an audio file"));
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_audio_ffdec PATH-TO-FFMPEG\n");
        return 2;
    }
    ffmpeg = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample_formats),  cmocka_unit_test(test_decoder_table),
        cmocka_unit_test(test_no_audio_stream), cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
