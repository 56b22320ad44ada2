/* test_service_batch.c: batch mode end to end on file:// (no emulators):
 * real WAV inputs, the real audio chain, real outputs decoded and measured;
 * skip-completed on rerun, force, and the failure reasons (missing input,
 * bad element, corrupt audio, oversized input) in the summary and exit code.
 * Runs svc_batch_run in-process and also the `wiggly run` binary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "audio/audio.h"
#include "config/config.h"
#include "service/log.h"
#include "service/run.h"
#include "support/svc_util.h"

#define N_GOOD  6
#define SECONDS 1.5

static char root[256];

static struct cfg_job *load(const char *extra_runtime)
{
    char text[4096];
    struct cfg_job *cfg = NULL;
    struct cfg_error err = {0};
    snprintf(text, sizeof(text),
             "{\"job\":\"batch-test\",\"events\":{\"file\":\"%s/ids.txt\"},"
             "\"input\":{\"location\":\"file://%s/in/\",\"suffix\":\".wav\"},"
             "\"output\":{\"location\":\"file://%s/out/\",\"suffix\":\".flac\"},"
             "\"steps\":{\"channels\":\"mono\",\"rate\":16000,\"format\":\"flac\"},"
             "\"features\":{\"enabled\":true,\"location\":\"file://%s/feat/\"},"
             "\"runtime\":{\"workers\":2,\"max_attempts\":2,\"temp_dir\":\"%s\"%s},"
             "\"listen\":\"\"}",
             root, root, root, root, root, extra_runtime ? extra_runtime : "");
    if (cfg_load_string(text, "batch-test.json", &cfg, &err) != 0)
        fail_msg("config: %s", err.msg);
    return cfg;
}

static void path_of(char *out, size_t len, const char *dir, const char *element, const char *sfx)
{
    snprintf(out, len, "%s/%s/%s%s", root, dir, element, sfx);
}

static void write_ids(const char *const *ids, size_t n)
{
    char p[512];
    FILE *f;
    snprintf(p, sizeof(p), "%s/ids.txt", root);
    f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "# a comment line, then a blank line\n\n");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "  %s \n", ids[i]);
    fclose(f);
}

static int setup(void **state)
{
    char p[512];
    (void)state;
    if (svc_test_tmpdir(root, sizeof(root), "batch") != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/in", root);
    mkdir(p, 0777);
    snprintf(p, sizeof(p), "%s/in/artist", root);
    mkdir(p, 0777);
    for (int i = 0; i < N_GOOD; i++) {
        snprintf(p, sizeof(p), "%s/in/artist/t%d.wav", root, i);
        if (svc_test_write_wav(p, 44100, 2, SECONDS, 220.0 * (i + 1)) != 0)
            return -1;
    }
    snprintf(p, sizeof(p), "%s/in/corrupt.wav", root);
    svc_test_write_file(p, "RIFF\x10\x00\x00\x00WAVEjunkjunkjunk", 20);
    snprintf(p, sizeof(p), "%s/in/big.wav", root); /* 8 ch x 48 kHz x 3 s x 2 B = 2.3 MB */
    if (svc_test_write_wav(p, 48000, 8, 3.0, 440.0) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    svc_test_rmtree(root);
    return 0;
}

static const char *const good_ids[N_GOOD] = {"artist/t0", "artist/t1", "artist/t2",
                                             "artist/t3", "artist/t4", "artist/t5"};

static void check_outputs(void)
{
    for (int i = 0; i < N_GOOD; i++) {
        char p[512];
        struct audio_info info;
        struct audio_error aerr = {0};
        json_t *j;
        json_error_t jerr;
        path_of(p, sizeof(p), "out", good_ids[i], ".flac");
        if (audio_probe_file(p, &info, &aerr) != 0)
            fail_msg("%s: %s", p, aerr.msg);
        assert_int_equal(info.rate, 16000);
        assert_int_equal(info.channels, 1);
        assert_int_equal(info.format, AUDIO_FMT_FLAC);
        /* Duration within 1% of the input's. */
        assert_true(info.frames > (int64_t)(SECONDS * 16000 * 0.99));
        assert_true(info.frames < (int64_t)(SECONDS * 16000 * 1.01));
        path_of(p, sizeof(p), "feat", good_ids[i], ".json");
        j = json_load_file(p, 0, &jerr);
        if (!j)
            fail_msg("features %s: %s", p, jerr.text);
        assert_true(json_is_object(j));
        json_decref(j);
    }
}

static void test_first_run_and_failures(void **state)
{
    const char *ids[N_GOOD + 4];
    struct cfg_job *cfg = load(",\"max_input_mb\":1");
    struct svc_run_opts o = {.cfg = cfg};
    struct svc_batch_summary sum = {0};
    (void)state;
    for (int i = 0; i < N_GOOD; i++)
        ids[i] = good_ids[i];
    ids[N_GOOD] = "artist/not-there";
    ids[N_GOOD + 1] = "../escape";
    ids[N_GOOD + 2] = "corrupt";
    ids[N_GOOD + 3] = "big";
    write_ids(ids, N_GOOD + 4);
    assert_int_equal(svc_batch_run(&o, &sum), 1); /* some failed */
    assert_int_equal(sum.total, N_GOOD + 4);
    assert_int_equal(sum.processed, N_GOOD);
    assert_int_equal(sum.failed, 4);
    assert_int_equal(sum.missing, 1);
    assert_true(sum.audio_seconds > N_GOOD * SECONDS * 0.99);
    check_outputs();
    /* The failures wrote nothing. */
    {
        char p[512];
        struct stat sb;
        path_of(p, sizeof(p), "out", "corrupt", ".flac");
        assert_int_not_equal(stat(p, &sb), 0);
        path_of(p, sizeof(p), "out", "big", ".flac");
        assert_int_not_equal(stat(p, &sb), 0);
    }
    cfg_job_destroy(cfg);
}

static void test_rerun_skips_then_force(void **state)
{
    struct cfg_job *cfg = load(NULL);
    struct svc_run_opts o = {.cfg = cfg};
    struct svc_batch_summary sum = {0};
    struct stat before[N_GOOD], after;
    char p[512];
    (void)state;
    write_ids(good_ids, N_GOOD);
    for (int i = 0; i < N_GOOD; i++) {
        path_of(p, sizeof(p), "out", good_ids[i], ".flac");
        assert_int_equal(stat(p, &before[i]), 0);
    }
    assert_int_equal(svc_batch_run(&o, &sum), 0);
    assert_int_equal(sum.skipped, N_GOOD);
    assert_int_equal(sum.processed, 0);
    for (int i = 0; i < N_GOOD; i++) { /* untouched: same inode, same mtime */
        path_of(p, sizeof(p), "out", good_ids[i], ".flac");
        assert_int_equal(stat(p, &after), 0);
        assert_int_equal(after.st_ino, before[i].st_ino);
        assert_true(after.st_mtim.tv_sec == before[i].st_mtim.tv_sec &&
                    after.st_mtim.tv_nsec == before[i].st_mtim.tv_nsec);
    }
    o.force = 1;
    memset(&sum, 0, sizeof(sum));
    assert_int_equal(svc_batch_run(&o, &sum), 0);
    assert_int_equal(sum.processed, N_GOOD);
    assert_int_equal(sum.skipped, 0);
    for (int i = 0; i < N_GOOD; i++) { /* replaced atomically: a new inode */
        path_of(p, sizeof(p), "out", good_ids[i], ".flac");
        assert_int_equal(stat(p, &after), 0);
        assert_int_not_equal(after.st_ino, before[i].st_ino);
    }
    check_outputs();
    cfg_job_destroy(cfg);
}

/* A typo in input.location (a directory that does not exist) would make
 * every track "missing": the run stops before taking any, exit 2, naming
 * the location, and writes nothing. */
static void test_missing_input_directory(void **state)
{
    char cfgpath[512], cmd[2048], p[512];
    FILE *f;
    int status;
    char *out;
    struct stat sb;
    (void)state;
    snprintf(cfgpath, sizeof(cfgpath), "%s/typo.json", root);
    f = fopen(cfgpath, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"job\":\"typo\",\"events\":{\"file\":\"%s/none.txt\"},"
            "\"input\":{\"location\":\"file://%s/inptu/\",\"suffix\":\".wav\"},"
            "\"output\":{\"location\":\"file://%s/out-typo/\",\"suffix\":\".wav\"},"
            "\"runtime\":{\"workers\":1,\"temp_dir\":\"%s\"},\"listen\":\"\"}\n",
            root, root, root, root);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "printf 'artist/t0\\nartist/t1\\n' | %s run -c %s --ids - > %s/typo-out.txt "
             "2> %s/typo-err.txt",
             WIGGLY_BIN, cfgpath, root, root);
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    snprintf(p, sizeof(p), "%s/typo-err.txt", root);
    out = svc_test_read_file(p, NULL);
    assert_non_null(out);
    snprintf(p, sizeof(p), "file://%s/inptu/ (input.location) does not exist", root);
    if (!strstr(out, p))
        fail_msg("stderr lacks \"%s\": %s", p, out);
    assert_null(strstr(out, "\"outcome\":\"missing\""));
    free(out);
    snprintf(p, sizeof(p), "%s/out-typo", root);
    assert_int_not_equal(stat(p, &sb), 0);
}

/* A bucket name GCS would refuse is a config error at start (issue 10.3:
 * the gs:// scheme checks it, no longer config/): `run` exits 2 and
 * `verify` 1, both with the scheme's text, before any request. */
static void test_bad_bucket_name(void **state)
{
    static const struct {
        const char *verb;
        int exit_code;
    } runs[] = {{"run", 2}, {"verify", 1}};
    char cfgpath[512], text[512], cmd[2048], errpath[512];
    (void)state;
    snprintf(cfgpath, sizeof(cfgpath), "%s/bucket.json", root);
    snprintf(errpath, sizeof(errpath), "%s/bucket-err.txt", root);
    snprintf(text, sizeof(text),
             "{\"job\":\"bucket\",\"events\":{\"file\":\"-\"},"
             "\"input\":{\"location\":\"gs://My_Bucket/in/\"},"
             "\"output\":{\"location\":\"file:///nonexistent/out/\"},\"listen\":\"\"}\n");
    assert_int_equal(svc_test_write_file(cfgpath, text, strlen(text)), 0);
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        char *out;
        int status;
        snprintf(cmd, sizeof(cmd), "%s %s -c %s > /dev/null 2> %s", WIGGLY_BIN, runs[i].verb,
                 cfgpath, errpath);
        status = system(cmd);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), runs[i].exit_code);
        out = svc_test_read_file(errpath, NULL);
        assert_non_null(out);
        if (!strstr(out, "\"input.location\": \"gs://My_Bucket/in/\" bucket name may only "
                         "contain lowercase letters"))
            fail_msg("wiggly %s: %s", runs[i].verb, out);
        free(out);
    }
}

/* Strict UTF-8 (RFC 3629): no overlongs, surrogates or code points above
 * U+10FFFF. */
static int valid_utf8(const unsigned char *p)
{
    while (*p) {
        int k = *p < 0x80             ? 1
                : (*p & 0xE0) == 0xC0 ? 2
                : (*p & 0xF0) == 0xE0 ? 3
                : (*p & 0xF8) == 0xF0 ? 4
                                      : 0;
        unsigned cp;
        if (!k)
            return 0;
        cp = k == 1 ? *p : (unsigned)(*p & (0x7F >> k));
        for (int i = 1; i < k; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        p += k;
    }
    return 1;
}

/* An element too long to be valid, of two-byte characters, is cut at the
 * 1024-byte field inside a character: the summary on stdout stays valid
 * UTF-8 (issue 11). */
static void test_summary_is_utf8(void **state)
{
    char cfgpath[512], ids[512], cmd[2048], p[512];
    char *out;
    FILE *f;
    int status;
    (void)state;
    snprintf(ids, sizeof(ids), "%s/long-ids.txt", root);
    f = fopen(ids, "w");
    assert_non_null(f);
    fputc('a', f);
    for (int i = 0; i < 600; i++)
        fputs("\xc3\xa9", f); /* U+00E9 */
    fputc('\n', f);
    fclose(f);
    snprintf(cfgpath, sizeof(cfgpath), "%s/utf8.json", root);
    f = fopen(cfgpath, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"job\":\"utf8\",\"events\":{\"file\":\"%s\"},"
            "\"input\":{\"location\":\"file://%s/in/\",\"suffix\":\".wav\"},"
            "\"output\":{\"location\":\"file://%s/out-utf8/\",\"suffix\":\".wav\"},"
            "\"runtime\":{\"workers\":1,\"temp_dir\":\"%s\"},\"listen\":\"\"}\n",
            ids, root, root, root);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "%s run -c %s > %s/utf8-out.txt 2> %s/utf8-err.txt", WIGGLY_BIN,
             cfgpath, root, root);
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    snprintf(p, sizeof(p), "%s/utf8-out.txt", root);
    out = svc_test_read_file(p, NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, "[bad_element]"));
    if (!valid_utf8((const unsigned char *)out))
        fail_msg("the summary is not valid UTF-8: %s", out);
    free(out);
}

/* A missing temp_dir would fail every track: `run` stops at once (exit 2)
 * and `verify` reports it (issue 11). */
static void test_missing_temp_dir(void **state)
{
    char cfgpath[512], cmd[2048], p[512];
    char *out;
    FILE *f;
    int status;
    (void)state;
    snprintf(cfgpath, sizeof(cfgpath), "%s/notmp.json", root);
    f = fopen(cfgpath, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"job\":\"notmp\",\"events\":{\"file\":\"%s/none.txt\"},"
            "\"input\":{\"location\":\"file://%s/in/\",\"suffix\":\".wav\"},"
            "\"output\":{\"location\":\"file://%s/out-notmp/\",\"suffix\":\".wav\"},"
            "\"runtime\":{\"workers\":1,\"temp_dir\":\"%s/no-such-dir\"},\"listen\":\"\"}\n",
            root, root, root, root);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "printf 'artist/t0\\n' | %s run -c %s --ids - > %s/notmp-out.txt 2> %s/notmp-err.txt",
             WIGGLY_BIN, cfgpath, root, root);
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    snprintf(p, sizeof(p), "%s/notmp-err.txt", root);
    out = svc_test_read_file(p, NULL);
    assert_non_null(out);
    snprintf(
        p, sizeof(p),
        "runtime.temp_dir %s/no-such-dir: cannot create a file there: No such file or directory",
        root);
    if (!strstr(out, p))
        fail_msg("stderr lacks \"%s\": %s", p, out);
    free(out);
    snprintf(cmd, sizeof(cmd), "%s verify -c %s > %s/notmp-verify.txt 2>&1", WIGGLY_BIN, cfgpath,
             root);
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    snprintf(p, sizeof(p), "%s/notmp-verify.txt", root);
    out = svc_test_read_file(p, NULL);
    assert_non_null(out);
    if (!strstr(out, "ERROR    temp_dir"))
        fail_msg("verify did not report the temp_dir: %s", out);
    free(out);
}

static void test_binary_with_stdin(void **state)
{
    /* `wiggly run -c JOB --ids -` with IDs on stdin: a real process. */
    char cfgpath[512], cmd[2048], p[512];
    FILE *f;
    int status;
    char *out;
    (void)state;
    snprintf(cfgpath, sizeof(cfgpath), "%s/job.json", root);
    f = fopen(cfgpath, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"job\":\"bin-test\",\"events\":{\"file\":\"%s/none.txt\"},"
            "\"input\":{\"location\":\"file://%s/in/\",\"suffix\":\".wav\"},"
            "\"output\":{\"location\":\"file://%s/out8k/\",\"suffix\":\".wav\"},"
            "\"steps\":{\"channels\":\"keep\",\"rate\":8000,\"format\":\"wav\"},"
            "\"runtime\":{\"workers\":2,\"temp_dir\":\"%s\"},\"listen\":\"\"}\n",
            root, root, root, root);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "printf 'artist/t0\\nartist/t1\\nartist/nope\\n' | %s run -c %s --ids - "
             "> %s/summary.txt 2> %s/log.txt",
             WIGGLY_BIN, cfgpath, root, root);
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1); /* artist/nope is missing */
    snprintf(p, sizeof(p), "%s/summary.txt", root);
    out = svc_test_read_file(p, NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, "2 processed"));
    assert_non_null(strstr(out, "1 failed"));
    assert_non_null(strstr(out, "artist/nope"));
    free(out);
    snprintf(p, sizeof(p), "%s/log.txt", root);
    out = svc_test_read_file(p, NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, "\"outcome\":\"processed\""));
    assert_non_null(strstr(out, "\"severity\":"));
    /* stderr is not a terminal: JSON by default, one object per line, and
     * duration_ms in whole milliseconds. */
    {
        int durations = 0;
        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
            json_t *j = json_loads(line, 0, NULL), *d;
            if (!j)
                fail_msg("not a JSON log line: %s", line);
            d = json_object_get(j, "duration_ms");
            if (d) {
                if (!json_is_integer(d))
                    fail_msg("duration_ms is not an integer: %s", line);
                assert_true(json_integer_value(d) >= 0);
                durations++;
            }
            json_decref(j);
        }
        assert_true(durations >= 2); /* one per processed track */
    }
    free(out);
    /* stderr on a terminal (a pty from util-linux script): text by default. */
    if (system("command -v script >/dev/null 2>&1") == 0) {
        snprintf(cmd, sizeof(cmd),
                 "script -qec \"printf 'artist/nope\\n' | %s run -c %s --ids -\" /dev/null "
                 "< /dev/null > %s/tty.txt 2>&1",
                 WIGGLY_BIN, cfgpath, root);
        status = system(cmd);
        assert_true(WIFEXITED(status));
        snprintf(p, sizeof(p), "%s/tty.txt", root);
        out = svc_test_read_file(p, NULL);
        assert_non_null(out);
        if (!strstr(out, " WARNING missing element=artist/nope outcome=missing duration_ms="))
            fail_msg("no text log line on a terminal:\n%s", out);
        assert_null(strstr(out, "\"severity\""));
        free(out);
    } else {
        fprintf(stderr, "note: util-linux script not found; terminal log format not tested\n");
    }
    for (int i = 0; i < 2; i++) {
        struct audio_info info;
        struct audio_error aerr = {0};
        snprintf(p, sizeof(p), "%s/out8k/artist/t%d.wav", root, i);
        if (audio_probe_file(p, &info, &aerr) != 0)
            fail_msg("%s: %s", p, aerr.msg);
        assert_int_equal(info.rate, 8000);
        assert_int_equal(info.channels, 2);
        assert_int_equal(info.format, AUDIO_FMT_WAV);
    }
    /* Usage errors: exit 2 with one line. */
    snprintf(cmd, sizeof(cmd), "%s run --bogus 2>/dev/null", WIGGLY_BIN);
    status = system(cmd);
    assert_int_equal(WEXITSTATUS(status), 2);
    snprintf(cmd, sizeof(cmd), "%s run 2>/dev/null", WIGGLY_BIN);
    status = system(cmd);
    assert_int_equal(WEXITSTATUS(status), 2);
}

/* Inputs that give no output frame (0 frames; 1 frame at 44.1 kHz is none
 * at 16 kHz), through the real binary: failed with reason empty_audio, no
 * output or features file written, no temporary file left. */
static void test_empty_audio(void **state)
{
    char cfgpath[512], cmd[2048], p[512];
    FILE *f;
    int status;
    char *out;
    (void)state;
    path_of(p, sizeof(p), "in", "empty0", ".wav");
    assert_int_equal(svc_test_write_wav(p, 44100, 2, 0.0, 440.0), 0);
    path_of(p, sizeof(p), "in", "one", ".wav");
    assert_int_equal(svc_test_write_wav(p, 44100, 1, 1.0 / 44100, 440.0), 0);
    snprintf(p, sizeof(p), "%s/tmp-empty", root);
    assert_int_equal(mkdir(p, 0777), 0);
    snprintf(cfgpath, sizeof(cfgpath), "%s/empty.json", root);
    f = fopen(cfgpath, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"job\":\"empty-test\",\"events\":{\"file\":\"-\"},"
            "\"input\":{\"location\":\"file://%s/in/\",\"suffix\":\".wav\"},"
            "\"output\":{\"location\":\"file://%s/out-empty/\",\"suffix\":\".mp3\"},"
            "\"steps\":{\"channels\":\"mono\",\"rate\":16000,\"format\":\"mp3\"},"
            "\"features\":{\"enabled\":true,\"location\":\"file://%s/feat-empty/\"},"
            "\"runtime\":{\"workers\":2,\"max_attempts\":3,\"temp_dir\":\"%s\"},"
            "\"listen\":\"\"}\n",
            root, root, root, p);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "printf 'empty0\\none\\n' | %s run -c %s > %s/empty-summary.txt 2> %s/empty-log.txt",
             WIGGLY_BIN, cfgpath, root, root);
    status = system(cmd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    snprintf(p, sizeof(p), "%s/empty-summary.txt", root);
    out = svc_test_read_file(p, NULL);
    assert_non_null(out);
    printf("%s", out);
    assert_non_null(strstr(out, "0 processed"));
    assert_non_null(strstr(out, "2 failed"));
    assert_non_null(
        strstr(out, "failed empty0 [empty_audio] empty audio: the input holds 0 frames"));
    assert_non_null(strstr(out, "failed one [empty_audio] empty audio: 1 input frame at 44100 Hz "
                                "gives no output frame at 16000 Hz"));
    free(out);
    /* Permanent: one attempt each, never retried. */
    snprintf(p, sizeof(p), "%s/empty-log.txt", root);
    out = svc_test_read_file(p, NULL);
    assert_non_null(out);
    assert_null(strstr(out, "retrying"));
    free(out);
    path_of(p, sizeof(p), "out-empty", "empty0", ".mp3");
    assert_int_equal(access(p, F_OK), -1);
    path_of(p, sizeof(p), "out-empty", "one", ".mp3");
    assert_int_equal(access(p, F_OK), -1);
    path_of(p, sizeof(p), "feat-empty", "empty0", ".json");
    assert_int_equal(access(p, F_OK), -1);
    path_of(p, sizeof(p), "feat-empty", "one", ".json");
    assert_int_equal(access(p, F_OK), -1);
    snprintf(p, sizeof(p), "%s/tmp-empty", root);
    assert_int_equal(svc_test_count_files(p), 0);
}

static void test_many_bad_ids(void **state)
{
    /* 50000 IDs that all fail before any storage call: each finishes inside
     * the call that started it; batch mode must not recurse per item. */
    struct cfg_job *cfg = load(NULL);
    struct svc_run_opts o = {.cfg = cfg};
    struct svc_batch_summary sum = {0};
    char p[512];
    FILE *f, *devnull = fopen("/dev/null", "w");
    (void)state;
    snprintf(p, sizeof(p), "%s/ids.txt", root);
    f = fopen(p, "w");
    assert_non_null(f);
    for (int i = 0; i < 50000; i++)
        fprintf(f, "../bad-%d\n", i);
    fclose(f);
    svc_log_init(SVC_LOG_JSON, devnull, SVC_ERROR);
    assert_int_equal(svc_batch_run(&o, &sum), 1);
    svc_log_init(SVC_LOG_JSON, NULL, SVC_INFO);
    fclose(devnull);
    assert_int_equal(sum.total, 50000);
    assert_int_equal(sum.failed, 50000);
    assert_int_equal(sum.processed, 0);
    cfg_job_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_run_and_failures),
        cmocka_unit_test(test_rerun_skips_then_force),
        cmocka_unit_test(test_binary_with_stdin),
        cmocka_unit_test(test_missing_input_directory),
        cmocka_unit_test(test_bad_bucket_name),
        cmocka_unit_test(test_summary_is_utf8),
        cmocka_unit_test(test_missing_temp_dir),
        cmocka_unit_test(test_empty_audio),
        cmocka_unit_test(test_many_bad_ids),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_object_seed(0);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
