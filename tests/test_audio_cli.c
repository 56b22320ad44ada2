/* test_audio_cli.c: `wiggly gen` and `wiggly process` through the real
 * binary (argv[1]): exit codes, one-line messages, and the audio they write,
 * decoded and checked. */
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmocka.h>
#include <sndfile.h>

#include "tests/support/audio_testutil.h"

extern char **environ;
static const char *wiggly;
static char dir[256];
static char out_text[8192], err_text[8192];

static const char *path(const char *name)
{
    static char buf[64][320];
    static int i;
    i = (i + 1) % 64;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

/* The child's stdout and stderr: fixed names, never from path()'s ring. */
static char out_file[320], err_file[320];

static void read_text(const char *p, char *dst, size_t cap)
{
    size_t len = 0;
    char *b = audio_test_slurp(p, &len);
    if (len >= cap)
        len = cap - 1;
    if (b)
        memcpy(dst, b, len);
    dst[b ? len : 0] = 0;
    free(b);
}

/* Runs wiggly with the NULL-terminated arguments; returns its exit code and
 * leaves its stdout and stderr in out_text and err_text. */
static int run(const char *verb, ...)
{
    const char *argv[32] = {wiggly, verb};
    int argc = 2;
    va_list ap;
    va_start(ap, verb);
    const char *a;
    while ((a = va_arg(ap, const char *)) && argc < 31)
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, err_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int rc = posix_spawn(&pid, wiggly, &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    read_text(out_file, out_text, sizeof(out_text));
    read_text(err_file, err_text, sizeof(err_text));
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_help(void **state)
{
    (void)state;
    assert_int_equal(run("gen", "--help", NULL), 0);
    assert_non_null(strstr(out_text, "usage: wiggly gen OUT"));
    assert_int_equal(run("process", "--help", NULL), 0);
    assert_non_null(strstr(out_text, "usage: wiggly process IN [OUT]"));
    assert_non_null(strstr(out_text, "--vbr-quality"));
}

static void test_gen_then_process(void **state)
{
    (void)state;
    const char *in = path("in.flac"), *out = path("out.flac"), *json = path("f.json");
    assert_int_equal(run("gen", in, "--seconds", "3", "--rate", "44100", "--channels", "2",
                         "--signal", "music", NULL),
                     0);
    struct audio_test_pcm p;
    assert_int_equal(audio_test_decode_file(in, &p), 0);
    assert_int_equal(p.rate, 44100);
    assert_int_equal(p.channels, 2);
    assert_int_equal(p.frames, 132300);
    audio_test_pcm_free(&p);

    assert_int_equal(
        run("process", in, out, "--rate", "16000", "--channels", "mono", "--features", json, NULL),
        0);
    /* One line: in and out rate, channels, seconds. */
    assert_non_null(strstr(out_text, "44100 Hz 2 ch 3.000 s"));
    assert_non_null(strstr(out_text, "16000 Hz 1 ch 3.000 s"));
    assert_non_null(strchr(out_text, '\n'));
    assert_true(strchr(out_text, '\n')[1] == 0);
    assert_int_equal(audio_test_decode_file(out, &p), 0);
    assert_int_equal(p.rate, 16000);
    assert_int_equal(p.channels, 1);
    assert_int_equal(p.frames, 48000);
    audio_test_pcm_free(&p);
    char j[1024];
    read_text(json, j, sizeof(j));
    double v;
    assert_int_equal(audio_test_json_number(j, "loudness_lufs", &v), 0);
    assert_true(v < -5 && v > -40);
    assert_int_equal(audio_test_json_number(j, "frames", &v), 0);
    assert_true(v == 48000);

    /* Format from --format, channel by index, 24 bits, very-high quality. */
    const char *raw = path("out.audio");
    assert_int_equal(run("process", in, raw, "--format", "wav", "--bits", "24", "--channels", "1",
                         "--rate", "22050", "--quality", "very-high", NULL),
                     0);
    assert_int_equal(audio_test_decode_file(raw, &p), 0);
    assert_int_equal(p.rate, 22050);
    assert_int_equal(p.channels, 1);
    assert_int_equal(p.frames, 66150);
    audio_test_pcm_free(&p);

    /* Lossy outputs with their options. */
    assert_int_equal(run("process", in, path("o.mp3"), "--bitrate", "128", NULL), 0);
    assert_int_equal(run("process", in, path("o.ogg"), "--vbr-quality", "0.3", NULL), 0);
    assert_int_equal(run("process", in, path("o.opus"), "--channels", "stereo", NULL), 0);
    assert_non_null(strstr(out_text, "48000 Hz 2 ch 3.000 s (opus)"));
}

static void test_usage_errors(void **state)
{
    (void)state;
    const char *in = path("u.wav");
    assert_int_equal(
        run("gen", in, "--seconds", "0.5", "--signal", "sine:1000", "--channels", "1", NULL), 0);
    assert_int_equal(run("process", NULL), 2);
    assert_non_null(strstr(err_text, "needs IN and OUT"));
    assert_int_equal(run("process", in, path("x.flac"), "--rate", "fast", NULL), 2);
    assert_non_null(strstr(err_text, "bad --rate 'fast'"));
    assert_int_equal(run("process", in, path("x.flac"), "--bogus", "1", NULL), 2);
    assert_int_equal(run("process", in, path("x.unknown"), NULL), 2);
    assert_non_null(strstr(err_text, "give --format"));
    assert_int_equal(run("process", in, path("x.flac"), "--channels", "left", NULL), 2);
    assert_int_equal(run("process", in, path("x.flac"), "--rate", NULL), 2);
    assert_int_equal(run("process", in, in, NULL), 2);
    assert_non_null(strstr(err_text, "IN and OUT are the same file"));
    assert_int_equal(access(in, F_OK), 0);
    assert_int_equal(run("gen", NULL), 2);
    assert_int_equal(run("gen", path("g.flac"), "--signal", "square", NULL), 2);
    assert_int_equal(run("gen", path("g.xyz"), NULL), 2);
    /* Exactly one line of reason. */
    assert_non_null(strchr(err_text, '\n'));
    assert_true(strchr(err_text, '\n')[1] == 0);
}

static void test_failures(void **state)
{
    (void)state;
    const char *bad = path("bad.flac"), *out = path("never.wav");
    unsigned char junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 37 + 11);
    assert_int_equal(audio_test_spit(bad, junk, sizeof(junk)), 0);
    assert_int_equal(run("process", bad, out, NULL), 1);
    assert_non_null(strstr(err_text, "not an audio file"));
    assert_int_equal(access(out, F_OK), -1); /* no garbage left behind */
    assert_int_equal(run("process", path("missing.flac"), out, NULL), 1);
    assert_non_null(strstr(err_text, "cannot open"));
    const char *mono = path("mono.wav");
    assert_int_equal(run("gen", mono, "--seconds", "0.2", "--channels", "1", NULL), 0);
    assert_int_equal(run("process", mono, out, "--channels", "1", NULL), 1);
    assert_non_null(strstr(err_text, "channel 1 selected but the input has 1 channels"));
    assert_int_equal(run("process", mono, path("x.opus"), "--rate", "44100", NULL), 1);
    assert_non_null(strstr(err_text, "unsupported: 44100 Hz in Opus"));
}

/* No frame out, whatever the format: exit 1 with the reason, and neither
 * OUT nor the features file is left behind (a 0-byte or header-only OUT
 * would read as done). */
static void test_empty_output(void **state)
{
    (void)state;
    static const char *const exts[] = {"wav", "flac", "ogg", "opus", "mp3"};
    const char *zero = path("zero.wav"), *one = path("one.wav"), *json = path("empty.json");
    const float x[1] = {0.5f};
    assert_int_equal(audio_test_sf_write(zero, SF_FORMAT_WAV | SF_FORMAT_PCM_16, NULL, 0, 2, 44100),
                     0);
    assert_int_equal(audio_test_sf_write(one, SF_FORMAT_WAV | SF_FORMAT_PCM_16, x, 1, 1, 48000), 0);
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "empty.%s", exts[i]);
        const char *out = path(name);
        assert_int_equal(run("process", zero, out, "--features", json, NULL), 1);
        assert_non_null(strstr(err_text, "zero.wav: empty audio: the input holds 0 frames"));
        assert_true(strchr(err_text, '\n')[1] == 0);
        assert_string_equal(out_text, "");
        assert_int_equal(access(out, F_OK), -1);
        assert_int_equal(access(json, F_OK), -1);
        assert_int_equal(run("process", one, out, "--rate", "8000", NULL), 1);
        assert_non_null(strstr(
            err_text, "empty audio: 1 input frame at 48000 Hz gives no output frame at 8000 Hz"));
        assert_int_equal(access(out, F_OK), -1);
    }
}

/* Features beyond libebur128's 64 channels per state, checked against
 * figures computed from the input (audio_testutil.c). */
static void test_features_65_channels(void **state)
{
    (void)state;
    const char *in = path("c65.wav"), *out = path("c65-out.wav"), *json = path("c65.json");
    float *x = audio_test_wide_sine(65, 48000);
    assert_non_null(x);
    assert_int_equal(
        audio_test_sf_write(in, SF_FORMAT_WAVEX | SF_FORMAT_FLOAT, x, 48000, 65, 48000), 0);
    free(x);
    assert_int_equal(run("process", in, out, "--features", json, NULL), 0);
    assert_non_null(strstr(out_text, "48000 Hz 65 ch 1.000 s (wav)"));
    char j[1024], why[256];
    read_text(json, j, sizeof(j));
    printf("# %s\n", j);
    struct audio_test_pcm src, o;
    assert_int_equal(audio_test_decode_file(in, &src), 0);
    if (audio_test_check_wide_features(j, &src, why, sizeof(why)) != 0)
        fail_msg("%s", why);
    audio_test_pcm_free(&src);
    assert_int_equal(audio_test_decode_file(out, &o), 0);
    assert_int_equal(o.channels, 65);
    assert_int_equal(o.frames, 48000);
    audio_test_pcm_free(&o);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/wiggly-test-audio-cli-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(out_file, sizeof(out_file), "%s/stdout", dir);
    snprintf(err_file, sizeof(err_file), "%s/stderr", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_audio_cli PATH-TO-WIGGLY\n");
        return 2;
    }
    wiggly = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),         cmocka_unit_test(test_gen_then_process),
        cmocka_unit_test(test_usage_errors), cmocka_unit_test(test_failures),
        cmocka_unit_test(test_empty_output), cmocka_unit_test(test_features_65_channels),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
