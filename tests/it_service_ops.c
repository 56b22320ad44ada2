/* it_service_ops.c: operational integration tests of `wiggly run` against
 * the official Pub/Sub emulator and wiggly-gcs-emulator (one pair for the
 * executable): two processes sharing one subscription (each output created
 * exactly once, every message acked), SIGKILL mid-flight (redelivery, no
 * partial object), SIGTERM (exit 0, unfinished messages redelivered). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "gcp/error.h"
#include "support/svc_it.h"
#include "support/svc_util.h"

#define N_SHARED     100
#define N_LONG       6
#define LONG_SECONDS 30.0
#define LIMIT        170.0

static struct svc_it it;
static int skipped;

static int group_setup(void **state)
{
    static const char *const topics[] = {"E-in", "G-in", "H-in", NULL};
    static const struct svc_it_sub_spec subs[] = {
        {"E-sub", "E-in", 10}, {"G-sub", "G-in", 10}, {"H-sub", "H-in", 10}, {NULL, NULL, 0}};
    int rc;
    (void)state;
    rc = svc_it_group_setup(&it, &skipped, topics, subs);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (svc_it_upload_wavs(&it, "short/e", 3, ".wav", N_SHARED, 16000, 1, 0.3) != 0)
        return -1;
    return svc_it_upload_wavs(&it, "long/l", 0, ".wav", N_LONG, 48000, 2, LONG_SECONDS);
}

static int group_teardown(void **state)
{
    (void)state;
    return svc_it_group_teardown(&it, skipped, NULL, 0);
}

static void write_job(struct svc_job_proc *j, const char *name, const char *sub, const char *in,
                      const char *outp, const char *format, const char *runtime)
{
    char json[2048];
    snprintf(json, sizeof(json),
             "{\"job\":\"%s\",\"project\":\"p\","
             "\"events\":{\"subscription\":\"projects/p/subscriptions/%s\"},"
             "\"input\":{\"location\":\"gs://wbkt/%s/\",\"suffix\":\".wav\"},"
             "\"output\":{\"location\":\"gs://wbkt/%s/\",\"suffix\":\".%s\"},"
             "\"steps\":{\"channels\":\"mono\",\"rate\":22050,\"quality\":\"very-high\","
             "\"format\":\"%s\"},"
             "\"runtime\":%s}",
             name, sub, in, outp, format, format, runtime);
    assert_int_equal(svc_it_job(&it, j, name, json), 0);
}

static void publish_range(const char *topic, const char *prefix, int width, int n)
{
    for (int i = 0; i < n; i++) {
        char buf[64];
        const char *m[1] = {buf};
        snprintf(buf, sizeof(buf), "%s%0*d", prefix, width, i);
        assert_int_equal(tcloud_publish(it.cloud, svc_it_topic(topic), m, 1), 0);
    }
}

/* Successful creates of one object in the GCS request log
 * ("METHOD PATH?QUERY STATUS BYTES MS"). */
static int creates_of(const char *log, const char *encoded_name)
{
    int n = 0;
    char needle[128];
    snprintf(needle, sizeof(needle), "name=%s", encoded_name);
    for (const char *line = log; line && *line;) {
        const char *nl = strchr(line, '\n');
        char method[16], path[1024];
        int status;
        if (sscanf(line, "%15s %1023s %d", method, path, &status) == 3 && !strcmp(method, "POST") &&
            strstr(path, "/upload/") && status == 200) {
            const char *p = strstr(path, needle);
            if (p && (p[strlen(needle)] == '&' || p[strlen(needle)] == 0))
                n++;
        }
        line = nl ? nl + 1 : NULL;
    }
    return n;
}

static void test_two_processes_one_subscription(void **state)
{
    struct svc_job_proc e1, e2;
    static struct tmsg m[4];
    char *log;
    (void)state;
    if (skipped)
        skip();
    write_job(&e1, "E", "E-sub", "short", "e", "flac",
              "{\"workers\":1,\"max_in_flight\":8,\"ack_deadline_s\":10}");
    e2 = e1;
    snprintf(e2.log, sizeof(e2.log), "%s/E2.log", it.dir);
    assert_int_equal(svc_it_job_start(&it, &e1), 0);
    assert_int_equal(svc_it_job_start(&it, &e2), 0);
    publish_range("E-in", "e", 3, N_SHARED);
    for (int i = 0; i < N_SHARED; i++) {
        char name[64];
        snprintf(name, sizeof(name), "e/e%03d.flac", i);
        assert_int_equal(tcloud_wait_object(it.cloud, SVC_IT_BUCKET, name, LIMIT), 0);
    }
    /* Both worked, and together they handled every message. */
    for (int k = 0; k < 300; k++) {
        if (svc_it_metric(&e1, "wiggly_in_flight") == 0 &&
            svc_it_metric(&e2, "wiggly_in_flight") == 0)
            break;
        svc_test_sleep(0.1);
    }
    assert_true(svc_it_metric(&e1, "wiggly_messages_total{outcome=\"processed\"}") +
                    svc_it_metric(&e2, "wiggly_messages_total{outcome=\"processed\"}") >=
                N_SHARED);
    assert_int_equal(WEXITSTATUS(svc_it_job_stop(&e1, 60)), 0);
    assert_int_equal(WEXITSTATUS(svc_it_job_stop(&e2, 60)), 0);
    log = svc_test_read_file(it.gcs.log, NULL);
    assert_non_null(log);
    for (int i = 0; i < N_SHARED; i++) {
        char enc[64];
        snprintf(enc, sizeof(enc), "e%%2Fe%03d.flac", i);
        if (creates_of(log, enc) != 1)
            fail_msg("object e/e%03d.flac created %d times", i, creates_of(log, enc));
    }
    free(log);
    /* Every message was acked: nothing comes back after the ack deadline. */
    assert_int_equal(tcloud_pull(it.cloud, svc_it_sub("E-sub"), 1, 15, m, 4), 0);
}

static void expect_long_outputs(const char *prefix, const char *suffix, enum audio_format fmt)
{
    for (int i = 0; i < N_LONG; i++) {
        char name[64];
        struct audio_info info;
        snprintf(name, sizeof(name), "%s/l%d%s", prefix, i, suffix);
        assert_int_equal(tcloud_wait_object(it.cloud, SVC_IT_BUCKET, name, LIMIT), 0);
        assert_int_equal(svc_it_probe(&it, name, &info), 0); /* complete, decodable */
        assert_int_equal(info.rate, 22050);
        assert_int_equal(info.channels, 1);
        assert_int_equal(info.format, fmt);
        assert_true(info.frames > (int64_t)(22050 * LONG_SECONDS * 0.99));
    }
}

static void wait_in_flight(struct svc_job_proc *j)
{
    for (int k = 0; k < 1500 && svc_it_metric(j, "wiggly_in_flight") < 1; k++)
        svc_test_sleep(0.02);
    assert_true(svc_it_metric(j, "wiggly_in_flight") >= 1);
}

static void test_sigkill_mid_flight(void **state)
{
    struct svc_job_proc h;
    int st;
    (void)state;
    if (skipped)
        skip();
    write_job(&h, "H", "H-sub", "long", "h", "flac",
              "{\"workers\":1,\"max_in_flight\":2,\"ack_deadline_s\":10}");
    assert_int_equal(svc_it_job_start(&it, &h), 0);
    publish_range("H-in", "l", 1, N_LONG);
    wait_in_flight(&h);
    st = svc_test_stop(h.pid, SIGKILL, 30);
    assert_true(st >= 0 && WIFSIGNALED(st));
    h.pid = 0;
    assert_int_equal(svc_it_job_start(&it, &h), 0); /* a new pod */
    expect_long_outputs("h", ".flac", AUDIO_FMT_FLAC);
    assert_int_equal(WEXITSTATUS(svc_it_job_stop(&h, 60)), 0);
}

static void test_sigterm_drains(void **state)
{
    struct svc_job_proc g;
    int st;
    (void)state;
    if (skipped)
        skip();
    /* Vorbis encoding is slow enough that the short grace period ends with
     * messages still queued: they are nacked and redelivered. */
    write_job(&g, "G", "G-sub", "long", "g", "ogg",
              "{\"workers\":1,\"max_in_flight\":6,\"ack_deadline_s\":10,"
              "\"shutdown_grace_s\":1}");
    assert_int_equal(svc_it_job_start(&it, &g), 0);
    publish_range("G-in", "l", 1, N_LONG);
    wait_in_flight(&g);
    st = svc_it_job_stop(&g, 60);
    assert_true(st >= 0);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* Not lost: a new process gets the rest. */
    assert_int_equal(svc_it_job_start(&it, &g), 0);
    expect_long_outputs("g", ".ogg", AUDIO_FMT_OGG);
    assert_int_equal(WEXITSTATUS(svc_it_job_stop(&g, 60)), 0);
}

/* With every storage request slowed to 3.5 s by the emulator, one message
 * takes longer than the 10 s ack deadline: the lease extensions must keep
 * it from being redelivered (a duplicate would end as "skipped"); and a
 * SIGTERM with a 1 s grace period must nack the unfinished messages, which
 * a new process then completes. */
static void test_slow_storage_lease_and_nack(void **state)
{
    const char *slow[] = {"--latency-ms", "3500", NULL};
    struct svc_job_proc l, m;
    int st;
    char *log;
    (void)state;
    if (skipped)
        skip();
    assert_int_equal(tcloud_topic(it.cloud, svc_it_topic("L-in")), 0);
    assert_int_equal(tcloud_topic(it.cloud, svc_it_topic("M-in")), 0);
    assert_int_equal(tcloud_sub(it.cloud, svc_it_sub("L-sub"), svc_it_topic("L-in"), 10, NULL, 0),
                     0);
    assert_int_equal(tcloud_sub(it.cloud, svc_it_sub("M-sub"), svc_it_topic("M-in"), 10, NULL, 0),
                     0);
    assert_int_equal(svc_it_gcs_restart(&it, slow), 0);

    write_job(&l, "L", "L-sub", "long", "lz", "flac",
              "{\"workers\":1,\"max_in_flight\":2,\"ack_deadline_s\":10}");
    assert_int_equal(svc_it_job_start(&it, &l), 0);
    publish_range("L-in", "l", 1, 2);
    for (int i = 0; i < 2; i++) {
        char name[64];
        snprintf(name, sizeof(name), "lz/l%d.flac", i);
        assert_int_equal(tcloud_wait_object(it.cloud, SVC_IT_BUCKET, name, LIMIT), 0);
    }
    for (int k = 0; k < 600; k++) {
        if (svc_it_metric(&l, "wiggly_messages_total{outcome=\"processed\"}") >= 2 &&
            svc_it_metric(&l, "wiggly_in_flight") == 0)
            break;
        svc_test_sleep(0.1);
    }
    assert_true(svc_it_metric(&l, "wiggly_messages_total{outcome=\"processed\"}") == 2);
    assert_true(svc_it_metric(&l, "wiggly_messages_total{outcome=\"skipped\"}") == 0);
    assert_int_equal(WEXITSTATUS(svc_it_job_stop(&l, 60)), 0);

    write_job(&m, "M", "M-sub", "long", "mz", "flac",
              "{\"workers\":1,\"max_in_flight\":2,\"ack_deadline_s\":10,"
              "\"shutdown_grace_s\":1}");
    assert_int_equal(svc_it_job_start(&it, &m), 0);
    publish_range("M-in", "l", 1, 2);
    wait_in_flight(&m);
    st = svc_it_job_stop(&m, 60);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    log = svc_test_read_file(m.log, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "nacked at shutdown"));
    free(log);
    /* A message that cannot finish within message_timeout_s fails; with
     * max_attempts 1 it is dead-lettered at once, and nothing is written. */
    {
        struct svc_job_proc t;
        static struct tmsg dl[2];
        size_t got;
        assert_int_equal(tcloud_topic(it.cloud, svc_it_topic("T-in")), 0);
        assert_int_equal(tcloud_topic(it.cloud, svc_it_topic("T-dead")), 0);
        assert_int_equal(
            tcloud_sub(it.cloud, svc_it_sub("T-sub"), svc_it_topic("T-in"), 10, NULL, 0), 0);
        assert_int_equal(
            tcloud_sub(it.cloud, svc_it_sub("T-dcheck"), svc_it_topic("T-dead"), 10, NULL, 0), 0);
        assert_int_equal(
            svc_it_job(&it, &t, "T",
                       "{\"job\":\"T\",\"events\":{\"subscription\":"
                       "\"projects/p/subscriptions/T-sub\"},"
                       "\"input\":{\"location\":\"gs://wbkt/long/\",\"suffix\":\".wav\"},"
                       "\"output\":{\"location\":\"gs://wbkt/tz/\",\"suffix\":\".flac\"},"
                       "\"dead_letter_topic\":\"projects/p/topics/T-dead\","
                       "\"runtime\":{\"workers\":1,\"max_attempts\":1,"
                       "\"message_timeout_s\":2}}"),
            0);
        assert_int_equal(svc_it_job_start(&it, &t), 0);
        publish_range("T-in", "l", 1, 1);
        got = tcloud_pull(it.cloud, svc_it_sub("T-dcheck"), 1, LIMIT, dl, 2);
        assert_int_equal(got, 1);
        assert_string_equal(dl[0].data, "l0");
        assert_string_equal(tmsg_attr(&dl[0], "wiggly_reason"), "max_attempts");
        assert_non_null(strstr(tmsg_attr(&dl[0], "wiggly_error"), "timeout"));
        tmsg_cleanup(dl, got);
        assert_int_equal(WEXITSTATUS(svc_it_job_stop(&t, 60)), 0);
        assert_int_equal(tcloud_stat(it.cloud, SVC_IT_BUCKET, "tz/l0.flac", NULL, NULL),
                         GCP_ENOTFOUND);
    }
    assert_int_equal(svc_it_gcs_restart(&it, NULL), 0); /* full speed again */
    assert_int_equal(svc_it_job_start(&it, &m), 0);
    for (int i = 0; i < 2; i++) {
        char name[64];
        snprintf(name, sizeof(name), "mz/l%d.flac", i);
        assert_int_equal(tcloud_wait_object(it.cloud, SVC_IT_BUCKET, name, LIMIT), 0);
    }
    assert_int_equal(WEXITSTATUS(svc_it_job_stop(&m, 60)), 0);
}

static long readyz(const struct svc_job_proc *j)
{
    char url[64];
    long code = 0;
    CURL *c = curl_easy_init();
    assert_non_null(c);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", j->port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

static int log_has(const struct svc_job_proc *j, const char *needle, double limit_s)
{
    for (double t = 0; t <= limit_s; t += 0.2) {
        char *log = svc_test_read_file(j->log, NULL);
        int found = log && strstr(log, needle);
        free(log);
        if (found)
            return 1;
        svc_test_sleep(0.2);
    }
    return 0;
}

static void write_nobucket_job(struct svc_job_proc *j, const char *name, const char *bucket)
{
    char json[1024];
    snprintf(json, sizeof(json),
             "{\"job\":\"%s\",\"events\":{\"subscription\":\"projects/p/subscriptions/%s-sub\"},"
             "\"input\":{\"location\":\"gs://%s/in/\",\"suffix\":\".wav\"},"
             "\"output\":{\"location\":\"gs://wbkt/%s-out/\",\"suffix\":\".flac\"},"
             "\"dead_letter_topic\":\"projects/p/topics/%s-dead\","
             "\"runtime\":{\"workers\":1,\"max_attempts\":1,\"ack_deadline_s\":10}}",
             name, name, bucket, name, name);
    assert_int_equal(svc_it_job(&it, j, name, json), 0);
}

static void nobucket_topics(const char *name)
{
    char t[64], d[64], s[64], c[64];
    snprintf(t, sizeof(t), "%s-in", name);
    snprintf(d, sizeof(d), "%s-dead", name);
    snprintf(s, sizeof(s), "%s-sub", name);
    snprintf(c, sizeof(c), "%s-dcheck", name);
    assert_int_equal(tcloud_topic(it.cloud, svc_it_topic(t)), 0);
    assert_int_equal(tcloud_topic(it.cloud, svc_it_topic(d)), 0);
    assert_int_equal(tcloud_sub(it.cloud, svc_it_sub(s), svc_it_topic(t), 10, NULL, 0), 0);
    assert_int_equal(tcloud_sub(it.cloud, svc_it_sub(c), svc_it_topic(d), 10, NULL, 0), 0);
}

/* Inputs in[0..n) of bucket, processed into wbkt/NAME-out/, nothing
 * dead-lettered, nothing counted missing. */
static void expect_all_processed(struct svc_job_proc *j, const char *name, int n)
{
    static struct tmsg dl[2];
    char sub[64];
    for (int i = 0; i < n; i++) {
        char obj[64];
        snprintf(obj, sizeof(obj), "%s-out/t%d.flac", name, i);
        assert_int_equal(tcloud_wait_object(it.cloud, SVC_IT_BUCKET, obj, LIMIT), 0);
    }
    assert_true(svc_it_metric(j, "wiggly_messages_total{outcome=\"missing\"}") == 0);
    snprintf(sub, sizeof(sub), "%s-dcheck", name);
    assert_int_equal(tcloud_pull(it.cloud, svc_it_sub(sub), 1, 3, dl, 2), 0);
}

/* A typo in input.location (a bucket that does not exist) must not make
 * every track "missing": the job stays not ready and takes no message, and
 * once the bucket exists the messages that waited are processed. */
static void test_missing_bucket_at_start_waits(void **state)
{
    struct svc_job_proc n;
    (void)state;
    if (skipped)
        skip();
    nobucket_topics("N");
    write_nobucket_job(&n, "N", "nbkt-later");
    assert_int_equal(svc_it_job_start(&it, &n), 0);
    publish_range("N-in", "t", 1, 3);
    assert_true(log_has(&n, "gs://nbkt-later/ (input.location) does not exist", 30));
    svc_test_sleep(3);
    assert_int_equal(readyz(&n), 503);
    assert_true(svc_it_metric(&n, "wiggly_messages_total{outcome=\"missing\"}") == 0);
    assert_true(svc_it_metric(&n, "wiggly_in_flight") == 0);
    /* The operator fixes it: the next check (30 s) finds the bucket. */
    assert_int_equal(tcloud_bucket(it.cloud, "nbkt-later"), 0);
    for (int i = 0; i < 3; i++) {
        char obj[32];
        snprintf(obj, sizeof(obj), "in/t%d.wav", i);
        assert_int_equal(svc_it_upload_wav_to(&it, "nbkt-later", obj, 16000, 1, 0.3), 0);
    }
    expect_all_processed(&n, "N", 3);
    assert_int_equal(readyz(&n), 200);
    assert_int_equal(WEXITSTATUS(svc_it_job_stop(&n, 60)), 0);
}

/* The bucket disappears while the job runs: GCS's 404 says "The specified
 * bucket does not exist.", and the message is nacked, not acked as
 * missing, not dead-lettered (max_attempts is 1), until it is back. */
static void test_bucket_gone_mid_run_waits(void **state)
{
    struct svc_job_proc o;
    char live[512], away[512];
    (void)state;
    if (skipped)
        skip();
    nobucket_topics("O");
    assert_int_equal(tcloud_bucket(it.cloud, "obkt"), 0);
    for (int i = 0; i < 2; i++) {
        char obj[32];
        snprintf(obj, sizeof(obj), "in/t%d.wav", i);
        assert_int_equal(svc_it_upload_wav_to(&it, "obkt", obj, 16000, 1, 0.3), 0);
    }
    write_nobucket_job(&o, "O", "obkt");
    assert_int_equal(svc_it_job_start(&it, &o), 0);
    for (int k = 0; k < 100 && readyz(&o) != 200; k++)
        svc_test_sleep(0.1);
    assert_int_equal(readyz(&o), 200);
    /* Take the bucket away behind the emulator's back. */
    snprintf(live, sizeof(live), "%s/b/obkt", it.gcs.root);
    snprintf(away, sizeof(away), "%s/obkt.away", it.gcs.root);
    assert_int_equal(rename(live, away), 0);
    publish_range("O-in", "t", 1, 2);
    assert_true(log_has(&o, "a bucket is missing; nacked", 60));
    assert_true(svc_it_metric(&o, "wiggly_messages_total{outcome=\"missing\"}") == 0);
    assert_int_equal(rename(away, live), 0);
    expect_all_processed(&o, "O", 2);
    assert_int_equal(WEXITSTATUS(svc_it_job_stop(&o, 60)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_processes_one_subscription),
        cmocka_unit_test(test_sigkill_mid_flight),
        cmocka_unit_test(test_sigterm_drains),
        cmocka_unit_test(test_slow_storage_lease_and_nack),
        cmocka_unit_test(test_missing_bucket_at_start_waits),
        cmocka_unit_test(test_bucket_gone_mid_run_waits),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
