/* it_service_limits.c: audio bombs against a real `wiggly run` (issue 11),
 * with the official Pub/Sub emulator and wiggly-gcs-emulator:
 *  - a 7.6 MB FLAC that decodes to 10 hours of 8 channels at 384 kHz is
 *    dead-lettered as too_big at once, and 6 good tracks queued behind it
 *    on the pod's only worker are all processed;
 *  - a bomb whose header does not tell its length keeps the worker busy:
 *    /metrics shows the busy worker, and SIGTERM with shutdown_grace_s 3
 *    stops the DSP at its next chunk, so the process exits within the
 *    grace period (Kubernetes would SIGKILL it after), and the message is
 *    nacked, not lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "gcp/error.h"
#include "tests/support/flac_bomb.h"
#include "support/svc_it.h"
#include "support/svc_util.h"

#define LIMIT   170.0
#define N_GOOD  6
#define GRACE_S 3

static struct svc_it it;
static int skipped;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int upload_bomb(const char *name, uint64_t claim_frames)
{
    char p[512];
    int rc;
    const uint64_t frames = 10ull * 3600 * 384000;
    snprintf(p, sizeof(p), "%s/bomb.flac", it.dir);
    if (flac_bomb_file(p, 8, 384000, frames, claim_frames ? frames : 0) != 0)
        return -1;
    rc = tcloud_upload(it.cloud, SVC_IT_BUCKET, name, p);
    unlink(p);
    return rc;
}

static int group_setup(void **state)
{
    static const char *const topics[] = {"K-in", "K-dead", NULL};
    static const struct svc_it_sub_spec subs[] = {
        {"K-sub", "K-in", 10}, {"K-dcheck", "K-dead", 10}, {NULL, NULL, 0}};
    int rc;
    (void)state;
    rc = svc_it_group_setup(&it, &skipped, topics, subs);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (upload_bomb("bombs/bomb.flac", 1) != 0 || upload_bomb("bombs/quiet.flac", 0) != 0)
        return -1;
    return svc_it_upload_wavs(&it, "bombs/g", 0, ".flac", N_GOOD, 44100, 2, 2.0);
}

static int group_teardown(void **state)
{
    (void)state;
    return svc_it_group_teardown(&it, skipped, NULL, 0);
}

static void write_job(struct svc_job_proc *j, const char *runtime)
{
    char json[2048];
    snprintf(json, sizeof(json),
             "{\"job\":\"K\",\"events\":{\"subscription\":\"projects/p/subscriptions/K-sub\"},"
             "\"input\":{\"location\":\"gs://wbkt/bombs/\",\"suffix\":\".flac\"},"
             "\"output\":{\"location\":\"gs://wbkt/k/\",\"suffix\":\".wav\"},"
             "\"steps\":{\"channels\":\"keep\",\"format\":\"wav\",\"bits\":24},"
             "\"dead_letter_topic\":\"projects/p/topics/K-dead\","
             "\"runtime\":%s}",
             runtime);
    assert_int_equal(svc_it_job(&it, j, "K", json), 0);
}

static void publish(const char *id)
{
    const char *m[1] = {id};
    assert_int_equal(tcloud_publish(it.cloud, svc_it_topic("K-in"), m, 1), 0);
}

static void test_bomb_then_good_tracks(void **state)
{
    struct svc_job_proc k;
    static struct tmsg dl[4];
    size_t got;
    double t0;
    (void)state;
    if (skipped)
        skip();
    write_job(&k, "{\"workers\":1,\"max_in_flight\":8,\"max_attempts\":1,\"ack_deadline_s\":10}");
    assert_int_equal(svc_it_job_start(&it, &k), 0);
    t0 = mono_now();
    publish("bomb");
    for (int i = 0; i < N_GOOD; i++) {
        char id[16];
        snprintf(id, sizeof(id), "g%d", i);
        publish(id);
    }
    got = tcloud_pull(it.cloud, svc_it_sub("K-dcheck"), 1, LIMIT, dl, 4);
    assert_int_equal(got, 1);
    assert_string_equal(dl[0].data, "bomb");
    assert_string_equal(tmsg_attr(&dl[0], "wiggly_reason"), "too_big");
    assert_non_null(strstr(tmsg_attr(&dl[0], "wiggly_error"), "more than"));
    printf("it_service_limits: bomb dead-lettered after %.1f s: %s\n", mono_now() - t0,
           tmsg_attr(&dl[0], "wiggly_error"));
    tmsg_cleanup(dl, got);
    for (int i = 0; i < N_GOOD; i++) {
        char name[64];
        struct audio_info info;
        snprintf(name, sizeof(name), "k/g%d.wav", i);
        assert_int_equal(tcloud_wait_object(it.cloud, SVC_IT_BUCKET, name, LIMIT), 0);
        assert_int_equal(svc_it_probe(&it, name, &info), 0);
        assert_int_equal(info.frames, 88200);
    }
    printf("it_service_limits: %d good tracks behind the bomb processed after %.1f s\n", N_GOOD,
           mono_now() - t0);
    assert_int_equal(tcloud_stat(it.cloud, SVC_IT_BUCKET, "k/bomb.wav", NULL, NULL), GCP_ENOTFOUND);
    assert_true(svc_it_metric(&k, "wiggly_messages_total{outcome=\"processed\"}") == N_GOOD);
    assert_int_equal(WEXITSTATUS(svc_it_job_stop(&k, 60)), 0);
}

static void test_sigterm_stops_running_dsp(void **state)
{
    struct svc_job_proc k;
    static struct tmsg back[2];
    char runtime[256];
    double busy = 0, t0, took;
    int st;
    char *log;
    (void)state;
    if (skipped)
        skip();
    snprintf(runtime, sizeof(runtime),
             "{\"workers\":1,\"max_in_flight\":1,\"ack_deadline_s\":10,\"shutdown_grace_s\":%d}",
             GRACE_S);
    write_job(&k, runtime);
    assert_int_equal(svc_it_job_start(&it, &k), 0);
    publish("quiet");
    for (int i = 0; i < 600 && busy < 1; i++) {
        busy = svc_it_metric(&k, "wiggly_workers_busy");
        svc_test_sleep(0.1);
    }
    /* The metrics show the worker at work. */
    assert_true(busy == 1);
    t0 = mono_now();
    st = svc_it_job_stop(&k, GRACE_S + 30);
    took = mono_now() - t0;
    printf("it_service_limits: SIGTERM with a bomb running (grace %d s): exit after %.1f s\n",
           GRACE_S, took);
    assert_true(st >= 0); /* -1: still running after grace + 30 s, so it was SIGKILLed */
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    log = svc_test_read_file(k.log, NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "nacked at shutdown"));
    free(log);
    /* Not lost: it is waiting in the subscription again. */
    assert_int_equal(tcloud_pull(it.cloud, svc_it_sub("K-sub"), 1, LIMIT, back, 2), 1);
    assert_string_equal(back[0].data, "quiet");
    tmsg_cleanup(back, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bomb_then_good_tracks),
        cmocka_unit_test(test_sigterm_stops_running_dsp),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
