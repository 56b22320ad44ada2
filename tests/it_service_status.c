/* it_service_status.c: `wiggly status --metrics` reading a real running
 * `wiggly run` on the official Pub/Sub emulator and wiggly-gcs-emulator.
 * The test knows what the job did: 12 tracks processed and 3 bad inputs
 * dead-lettered, then the same 12 again (skipped). At rest the two samples
 * carry exactly those counts and every rate is 0; while the second round
 * runs, the rates are the growth of the counts over the measured interval
 * and never more than was published. Backlogs stay unknown (the emulator has
 * no Cloud Monitoring), and that is not a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "support/svc_it.h"
#include "support/svc_util.h"

#define N_OK  12
#define N_BAD 3
#define LIMIT 120.0

static struct svc_it it;
static int skipped;
static struct svc_job_proc job;

static int group_setup(void **state)
{
    static const char *const topics[] = {"S-in", "S-dead", NULL};
    static const struct svc_it_sub_spec subs[] = {
        {"S-sub", "S-in", 10}, {"S-dead", "S-dead", 10}, {NULL, NULL, 0}};
    char json[2048];
    int rc;

    (void)state;
    rc = svc_it_group_setup(&it, &skipped, topics, subs);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (svc_it_upload_wavs(&it, "st/ok", 2, ".wav", N_OK, 16000, 1, 0.3) != 0)
        return -1;
    for (int i = 0; i < N_BAD; i++) {
        char name[64];
        static const char junk[] = "this is not audio at all, not even close";

        snprintf(name, sizeof name, "st/bad%d.wav", i);
        if (svc_it_upload_bytes(&it, name, junk, sizeof junk - 1) != 0)
            return -1;
    }
    snprintf(json, sizeof json,
             "{\"job\":\"S\",\"project\":\"p\","
             "\"events\":{\"subscription\":\"projects/p/subscriptions/S-sub\"},"
             "\"input\":{\"location\":\"gs://wbkt/st/\",\"suffix\":\".wav\"},"
             "\"output\":{\"location\":\"gs://wbkt/sto/\",\"suffix\":\".flac\"},"
             "\"dead_letter_topic\":\"projects/p/topics/S-dead\","
             "\"steps\":{\"channels\":\"mono\",\"format\":\"flac\"},"
             "\"runtime\":{\"workers\":1,\"max_in_flight\":2,\"ack_deadline_s\":10}}");
    if (svc_it_job(&it, &job, "S", json) != 0 || svc_it_job_start(&it, &job) != 0)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    struct svc_job_proc *const jobs[] = {&job, NULL};
    (void)state;
    return svc_it_group_teardown(&it, skipped, jobs, 30);
}

static void publish_ids(const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        char buf[64];
        const char *m[1] = {buf};

        snprintf(buf, sizeof buf, prefix[0] == 'o' ? "%s%02d" : "%s%d", prefix, i);
        assert_int_equal(tcloud_publish(it.cloud, svc_it_topic("S-in"), m, 1), 0);
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void wait_metric(const char *series, double want)
{
    double end = now_s() + LIMIT, v = -1;

    while (now_s() < end) {
        v = svc_it_metric(&job, series);
        if (v >= want)
            break;
        svc_test_sleep(0.2);
    }
    assert_true(v == want);
}

static FILE *status_start(double interval)
{
    char cmd[1024];

    snprintf(cmd, sizeof cmd,
             "'%s' status -c '%s' --metrics http://127.0.0.1:%d/metrics --interval %g --json "
             "2>'%s/status.err'",
             WIGGLY_BIN, job.cfg, job.port, interval, it.dir);
    return popen(cmd, "r");
}

/* The document, and the exit code in *rc. */
static json_t *status_finish(FILE *f, int *rc)
{
    char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int st = pclose(f);

    buf[n] = '\0';
    assert_true(WIFEXITED(st));
    *rc = WEXITSTATUS(st);
    return json_loads(buf, 0, NULL);
}

static json_t *rate(json_t *doc, const char *name)
{
    json_t *m = json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "metrics");
    json_t *r = json_object_get(m, name);

    assert_non_null(r);
    return r;
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    assert_true(json_is_number(v));
    return json_number_value(v);
}

/* The counts a finished sample carries, both samples the same. */
static void check_rest(json_t *doc, double processed, double skipped_n, double failed)
{
    static const char *const names[] = {"processed", "skipped", "failed", "retried"};
    double want[] = {processed, skipped_n, failed, 0};

    for (int i = 0; i < 4; i++) {
        json_t *r = rate(doc, names[i]);

        assert_true(num(r, "first") == want[i]);
        assert_true(num(r, "last") == want[i]);
        assert_true(num(r, "per_s") == 0);
    }
}

static void test_status_reads_a_running_job(void **state)
{
    json_t *doc, *j;
    FILE *f;
    int rc;

    (void)state;
    if (skipped)
        skip();
    /* Round 1: 12 processed, 3 dead-lettered (not audio). */
    publish_ids("ok", N_OK);
    publish_ids("bad", N_BAD);
    wait_metric("wiggly_messages_total{outcome=\"processed\"}", N_OK);
    wait_metric("wiggly_messages_total{outcome=\"dead_lettered\"}", N_BAD);
    f = status_start(1);
    assert_non_null(f);
    doc = status_finish(f, &rc);
    assert_non_null(doc);
    assert_int_equal(rc, 0); /* unknown on the emulator is no failure */
    check_rest(doc, N_OK, 0, N_BAD);
    j = json_array_get(json_object_get(doc, "jobs"), 0);
    assert_true(json_is_null(json_object_get(j, "backlog")));
    assert_true(json_is_null(json_object_get(j, "dead_letters")));
    assert_true(num(json_object_get(j, "metrics"), "interval_s") >= 1.0);
    json_decref(doc);

    /* Round 2, sampled while it runs: the same 12 again are skipped. */
    f = status_start(2);
    assert_non_null(f);
    svc_test_sleep(0.3);
    publish_ids("ok", N_OK);
    doc = status_finish(f, &rc);
    assert_non_null(doc);
    assert_int_equal(rc, 0);
    {
        json_t *s = rate(doc, "skipped"), *p = rate(doc, "processed");
        double dt = num(json_object_get(json_array_get(json_object_get(doc, "jobs"), 0), "metrics"),
                        "interval_s");

        assert_true(dt >= 2.0);
        assert_true(num(s, "first") >= 0 && num(s, "last") >= num(s, "first"));
        assert_true(num(s, "last") <= N_OK);
        /* --json prints 10 significant digits */
        assert_true(num(s, "per_s") >= (num(s, "last") - num(s, "first")) / dt * (1 - 1e-6));
        assert_true(num(s, "per_s") <= (num(s, "last") - num(s, "first")) / dt * (1 + 1e-6));
        assert_true(num(p, "last") == N_OK && num(p, "per_s") == 0);
    }
    json_decref(doc);
    wait_metric("wiggly_messages_total{outcome=\"skipped\"}", N_OK);
    f = status_start(1);
    doc = status_finish(f, &rc);
    assert_non_null(doc);
    assert_int_equal(rc, 0);
    check_rest(doc, N_OK, N_OK, N_BAD);
    json_decref(doc);

    /* The text: unknown Monitoring columns, rates 0.00 at rest. */
    {
        char cmd[1024], out[4096];
        FILE *t;
        size_t n;

        snprintf(cmd, sizeof cmd,
                 "'%s' status -c '%s' --metrics http://127.0.0.1:%d/metrics --interval 0.5 "
                 "2>/dev/null",
                 WIGGLY_BIN, job.cfg, job.port);
        t = popen(cmd, "r");
        assert_non_null(t);
        n = fread(out, 1, sizeof out - 1, t);
        out[n] = '\0';
        assert_int_equal(pclose(t), 0);
        assert_non_null(strstr(out, "S "));
        assert_non_null(strstr(out, "unknown"));
        assert_non_null(strstr(out, "0.00"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_reads_a_running_job),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
