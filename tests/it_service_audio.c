/* it_service_audio.c: audio edge cases through `wiggly run` with the
 * official Pub/Sub emulator and wiggly-gcs-emulator (real processes, real
 * sockets). One emulator pair and two jobs:
 *
 *   E-in -> E (src/NAME.wav -> e/NAME.mp3, 8 kHz mono, features e/NAME.json)
 *           -> E-out; dead letters to E-dead
 *   F-in -> F (src/NAME.wav -> f/NAME.wav, channels kept, features
 *           f/NAME.json) -> F-out; dead letters to F-dead
 *
 * An input without a frame, or too short for one output frame, is
 * dead-lettered once with reason empty_audio and leaves no object behind (a
 * 0-byte or header-only output would make every rerun skip the track), also
 * when it comes again. Features on 65 channels (more than libebur128's 64
 * per state) are processed, never retried, and their figures match a
 * computation from the input's samples. Test audio is made with libsndfile
 * here (tests/support/audio_testutil.c). */
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
#include <sndfile.h>

#include "gcp/error.h"
#include "support/svc_it.h"
#include "support/svc_util.h"
#include "tests/support/audio_testutil.h"

#define LIMIT 90.0 /* seconds any wait may take before the test gives up */

static struct svc_it it;
static struct svc_job_proc E, F;
static int skipped;

static int job_json(char *out, size_t len, const char *name, const char *outp, const char *sfx,
                    const char *steps)
{
    return snprintf(out, len,
                    "{\"job\":\"%s\",\"project\":\"p\","
                    "\"events\":{\"subscription\":\"projects/p/subscriptions/%s-sub\"},"
                    "\"input\":{\"location\":\"gs://wbkt/src/\",\"suffix\":\".wav\"},"
                    "\"output\":{\"location\":\"gs://wbkt/%s/\",\"suffix\":\"%s\","
                    "\"topics\":[\"projects/p/topics/%s-out\"]},\"steps\":%s,"
                    "\"features\":{\"enabled\":true},"
                    "\"dead_letter_topic\":\"projects/p/topics/%s-dead\","
                    "\"runtime\":{\"workers\":1,\"max_in_flight\":4,\"max_attempts\":3,"
                    "\"ack_deadline_s\":20,\"shutdown_grace_s\":10,\"max_input_mb\":64,"
                    "\"temp_dir\":\"%s/tmp-%s\"}}",
                    name, name, outp, sfx, name, steps, name, it.dir, name);
}

static int group_setup(void **state)
{
    char json[4096], dir[512];
    int rc;
    (void)state;
    rc = svc_it_group_setup(&it, &skipped, NULL, NULL);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    const char *jobs[] = {"E", "F"};
    for (size_t i = 0; i < 2; i++) {
        char t[32], s[32];
        const char *kinds[] = {"in", "out", "dead"};
        for (size_t k = 0; k < 3; k++) {
            snprintf(t, sizeof(t), "%s-%s", jobs[i], kinds[k]);
            if (tcloud_topic(it.cloud, svc_it_topic(t)) != 0)
                return -1;
        }
        snprintf(t, sizeof(t), "%s-in", jobs[i]);
        snprintf(s, sizeof(s), "%s-sub", jobs[i]);
        if (tcloud_sub(it.cloud, svc_it_sub(s), svc_it_topic(t), 20, NULL, 0) != 0)
            return -1;
        for (size_t k = 1; k < 3; k++) {
            snprintf(t, sizeof(t), "%s-%s", jobs[i], kinds[k]);
            snprintf(s, sizeof(s), "%s-%s-check", jobs[i], kinds[k]);
            if (tcloud_sub(it.cloud, svc_it_sub(s), svc_it_topic(t), 60, NULL, 0) != 0)
                return -1;
        }
        snprintf(dir, sizeof(dir), "%s/tmp-%s", it.dir, jobs[i]);
        if (mkdir(dir, 0700) != 0)
            return -1;
    }
    job_json(json, sizeof(json), "E", "e", ".mp3",
             "{\"channels\":\"mono\",\"rate\":8000,\"format\":\"mp3\"}");
    svc_it_job(&it, &E, "E", json);
    job_json(json, sizeof(json), "F", "f", ".wav", "{\"format\":\"wav\"}");
    svc_it_job(&it, &F, "F", json);
    if (svc_it_job_start(&it, &E) || svc_it_job_start(&it, &F))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    struct svc_job_proc *const jobs[] = {&E, &F, NULL};
    (void)state;
    return svc_it_group_teardown(&it, skipped, jobs, 60);
}

/* Encodes with libsndfile into a scratch file and uploads it as src/NAME.wav. */
static void upload_sf(const char *element, int sf_format, const float *x, int64_t frames,
                      int channels, int rate)
{
    char p[512], name[128];
    snprintf(p, sizeof(p), "%s/%s.upload", it.dir, element);
    snprintf(name, sizeof(name), "src/%s.wav", element);
    assert_int_equal(audio_test_sf_write(p, sf_format, x, frames, channels, rate), 0);
    assert_int_equal(tcloud_upload(it.cloud, SVC_IT_BUCKET, name, p), 0);
}

static void publish(const char *topic, const char *element)
{
    const char *m[1] = {element};
    assert_int_equal(tcloud_publish(it.cloud, svc_it_topic(topic), m, 1), 0);
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    size_t len = size * n, have = strlen(ud);
    if (have + len < 65536) {
        memcpy((char *)ud + have, p, len);
        ((char *)ud)[have + len] = 0;
    }
    return len;
}

/* The names of every object under prefix, comma-separated, sorted by the
 * emulator (a plain JSON API list request, like GCS's). */
static void list_objects(const char *prefix, char *out, size_t cap)
{
    static char body[65536];
    char url[512];
    CURL *c = curl_easy_init();
    json_t *j, *items, *v;
    size_t i;
    body[0] = 0;
    out[0] = 0;
    snprintf(url, sizeof(url), "%s/storage/v1/b/%s/o?prefix=%s", it.gcs.url, SVC_IT_BUCKET, prefix);
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    j = json_loads(body, 0, NULL);
    if (!j)
        fail_msg("object list is not JSON: %.200s", body);
    items = json_object_get(j, "items");
    json_array_foreach(items, i, v)
    {
        size_t n = strlen(out);
        snprintf(out + n, cap - n, "%s%s", n ? "," : "",
                 json_string_value(json_object_get(v, "name")));
    }
    json_decref(j);
}

static char *download_text(const char *name)
{
    char p[512];
    char *text;
    snprintf(p, sizeof(p), "%s/download", it.dir);
    assert_int_equal(tcloud_download(it.cloud, SVC_IT_BUCKET, name, p), 0);
    text = svc_test_read_file(p, NULL);
    assert_non_null(text);
    unlink(p);
    return text;
}

/* The element of a downstream message (plain ID in, JSON out). */
static void element_of(const struct tmsg *m, char *out, size_t cap)
{
    json_t *j = json_loads(m->data, 0, NULL);
    if (!j)
        fail_msg("downstream message is not JSON: %s", m->data);
    snprintf(out, cap, "%s", json_string_value(json_object_get(j, "element")));
    json_decref(j);
}

static const struct {
    const char *element, *error;
} empties[] = {
    {"zero-wav", "empty audio: the input holds 0 frames"},
    {"zero-flac", "empty audio: the input holds 0 frames"}, /* FLAC bytes named .wav */
    {"one", "empty audio: 1 input frame at 48000 Hz gives no output frame at 8000 Hz"},
};
#define N_EMPTY (sizeof(empties) / sizeof(empties[0]))

/* Pulls E-dead-check until every element of empties arrived once. */
static void expect_empty_dead_letters(void)
{
    static struct tmsg m[8];
    int seen[N_EMPTY] = {0};
    size_t got = tcloud_pull(it.cloud, svc_it_sub("E-dead-check"), N_EMPTY, LIMIT, m, 8);
    for (size_t i = 0; i < got; i++) {
        const char *reason = tmsg_attr(&m[i], "wiggly_reason");
        const char *err = tmsg_attr(&m[i], "wiggly_error");
        size_t k = 0;
        while (k < N_EMPTY && strcmp(m[i].data, empties[k].element))
            k++;
        printf("it_service_audio: dead letter %s reason %s error %s\n", m[i].data,
               reason ? reason : "(none)", err ? err : "(none)");
        if (k == N_EMPTY)
            fail_msg("unexpected dead letter: %s", m[i].data);
        assert_non_null(reason);
        assert_string_equal(reason, "empty_audio");
        assert_non_null(err);
        assert_non_null(strstr(err, empties[k].error));
        assert_string_equal(tmsg_attr(&m[i], "wiggly_job"), "E");
        assert_string_equal(tmsg_attr(&m[i], "wiggly_element"), empties[k].element);
        seen[k]++;
    }
    tmsg_cleanup(m, got);
    for (size_t k = 0; k < N_EMPTY; k++)
        if (seen[k] != 1)
            fail_msg("%s dead-lettered %d times (log %s)", empties[k].element, seen[k], E.log);
}

static void test_empty_audio_dead_lettered(void **state)
{
    static struct tmsg m[8];
    char list[4096], el[64];
    const float one[1] = {0.5f};
    size_t got, len;
    void *flac;
    (void)state;
    if (skipped)
        skip();
    upload_sf("zero-wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, NULL, 0, 2, 44100);
    flac = audio_test_flac_empty(44100, 2, &len);
    assert_int_equal(svc_it_upload_bytes(&it, "src/zero-flac.wav", flac, len), 0);
    free(flac);
    upload_sf("one", SF_FORMAT_WAV | SF_FORMAT_PCM_16, one, 1, 1, 48000);
    assert_int_equal(svc_it_upload_wav(&it, "src/good.wav", 48000, 1, 0.5), 0);
    for (size_t k = 0; k < N_EMPTY; k++)
        publish("E-in", empties[k].element);
    publish("E-in", "good");

    expect_empty_dead_letters();
    got = tcloud_pull(it.cloud, svc_it_sub("E-out-check"), 1, LIMIT, m, 8);
    assert_int_equal(got, 1);
    element_of(&m[0], el, sizeof(el));
    assert_string_equal(el, "good");
    tmsg_cleanup(m, got);

    /* No object for an empty input: only the good track's output and
     * features. */
    list_objects("e/", list, sizeof(list));
    printf("it_service_audio: objects under e/: %s\n", list);
    assert_string_equal(list, "e/good.json,e/good.mp3");
    assert_int_equal(tcloud_stat(it.cloud, SVC_IT_BUCKET, "e/zero-wav.mp3", NULL, NULL),
                     GCP_ENOTFOUND);
    /* Permanent: dead-lettered at once, never retried or counted processed. */
    assert_true(svc_it_metric(&E, "wiggly_messages_total{outcome=\"dead_lettered\"}") == N_EMPTY);
    assert_true(svc_it_metric(&E, "wiggly_messages_total{outcome=\"retried\"}") == 0);
    assert_true(svc_it_metric(&E, "wiggly_messages_total{outcome=\"processed\"}") == 1);

    /* Again: nothing was stored that would make a rerun skip them. */
    for (size_t k = 0; k < N_EMPTY; k++)
        publish("E-in", empties[k].element);
    expect_empty_dead_letters();
    assert_true(svc_it_metric(&E, "wiggly_messages_total{outcome=\"skipped\"}") == 0);
    assert_true(svc_it_metric(&E, "wiggly_messages_total{outcome=\"retried\"}") == 0);
    list_objects("e/", list, sizeof(list));
    assert_string_equal(list, "e/good.json,e/good.mp3");
    /* Every scratch file is gone (the output is never uploaded). */
    {
        char dir[512];
        for (int k = 0; k < 100 && svc_it_metric(&E, "wiggly_in_flight") != 0; k++)
            svc_test_sleep(0.1);
        snprintf(dir, sizeof(dir), "%s/tmp-E", it.dir);
        assert_int_equal(svc_test_count_files(dir), 0);
    }
    /* Nothing more arrives on either topic. */
    assert_int_equal(tcloud_pull(it.cloud, svc_it_sub("E-dead-check"), 1, 3.0, m, 8), 0);
    assert_int_equal(tcloud_pull(it.cloud, svc_it_sub("E-out-check"), 1, 1.0, m, 8), 0);
}

static void test_features_65_channels(void **state)
{
    static struct tmsg m[8];
    char el[64], why[256], list[4096];
    struct audio_test_pcm src;
    struct audio_info info;
    float *x;
    char *json, path[512];
    size_t got;
    (void)state;
    if (skipped)
        skip();
    x = audio_test_wide_sine(65, 48000);
    assert_non_null(x);
    upload_sf("c65", SF_FORMAT_WAVEX | SF_FORMAT_PCM_16, x, 48000, 65, 48000);
    free(x);
    publish("F-in", "c65");
    got = tcloud_pull(it.cloud, svc_it_sub("F-out-check"), 1, LIMIT, m, 8);
    if (got != 1)
        fail_msg("c65 never reached F-out (log %s)", F.log);
    element_of(&m[0], el, sizeof(el));
    assert_string_equal(el, "c65");
    tmsg_cleanup(m, got);

    /* The figures, against what the chain decoded from the same bytes. */
    json = download_text("f/c65.json");
    printf("it_service_audio: f/c65.json %s\n", json);
    snprintf(path, sizeof(path), "%s/c65.upload", it.dir);
    assert_int_equal(audio_test_decode_file(path, &src), 0);
    if (audio_test_check_wide_features(json, &src, why, sizeof(why)) != 0)
        fail_msg("features of 65 channels: %s", why);
    audio_test_pcm_free(&src);
    free(json);
    assert_int_equal(svc_it_probe(&it, "f/c65.wav", &info), 0);
    assert_int_equal(info.channels, 65);
    assert_int_equal(info.rate, 48000);
    assert_int_equal(info.frames, 48000);
    list_objects("f/", list, sizeof(list));
    assert_string_equal(list, "f/c65.json,f/c65.wav");

    assert_true(svc_it_metric(&F, "wiggly_messages_total{outcome=\"processed\"}") == 1);
    assert_true(svc_it_metric(&F, "wiggly_messages_total{outcome=\"retried\"}") == 0);
    assert_true(svc_it_metric(&F, "wiggly_messages_total{outcome=\"dead_lettered\"}") == 0);
    assert_int_equal(tcloud_pull(it.cloud, svc_it_sub("F-dead-check"), 1, 1.0, m, 8), 0);
}

/* Both exit 0 on SIGTERM (in the sanitizer build: no leak or error report). */
static void test_sigterm_exits_zero(void **state)
{
    (void)state;
    if (skipped)
        skip();
    struct svc_job_proc *jobs[] = {&E, &F};
    for (size_t i = 0; i < 2; i++) {
        int st = svc_it_job_stop(jobs[i], 60);
        if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0))
            fail_msg("%s did not exit 0 (status %d, log %s)", jobs[i]->name, st, jobs[i]->log);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_audio_dead_lettered),
        cmocka_unit_test(test_features_65_channels),
        cmocka_unit_test(test_sigterm_exits_zero),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
