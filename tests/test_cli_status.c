/* test_cli_status.c: `wiggly status` through the real binary against a
 * small HTTP server this test runs on 127.0.0.1 (tests/support/fake_http.h,
 * a real socket): it plays Cloud Monitoring (WIGGLY_MONITORING_ENDPOINT)
 * with the recorded responses of tests/data/monitoring/, and a pod's
 * /metrics whose counters grow by known amounts between two scrapes. Checks
 * the lines and the --json document, "unknown" (never 0) when Monitoring
 * fails, is unreachable or cannot exist (the emulators), "batch job", a
 * directory of jobs, and the exit codes. A real `wiggly run` is read by
 * tests/it_service_status.c. */
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
#include <jansson.h>

#include "fake_http.h"

#ifndef WIGGLY_BIN
#error "WIGGLY_BIN must name the wiggly binary"
#endif
#ifndef WIGGLY_MONITORING_DATA
#error "WIGGLY_MONITORING_DATA must name tests/data/monitoring"
#endif

static struct fake_http *fake;
static char dir[256];

/* What the stand-in saw and how it answers. */
static struct {
    int monitoring_reqs, metrics_reqs;
    int monitoring_status; /* 200, or an error status for every query */
} srv;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static void serve_file(struct fake_resp *rs, int status, const char *name)
{
    char path[512];

    snprintf(path, sizeof path, "%s/%s", WIGGLY_MONITORING_DATA, name);
    rs->status = status;
    rs->body = slurp(path, &rs->body_len);
    rs->content_type = "application/json";
}

/* The k-th scrape (from 0): every counter grows by a known step. */
static void metrics_text(int k, char *out, size_t n)
{
    snprintf(out, n,
             "# HELP wiggly_messages_total Messages handled, by outcome.\n"
             "# TYPE wiggly_messages_total counter\n"
             "wiggly_messages_total{outcome=\"processed\"} %d\n"
             "wiggly_messages_total{outcome=\"skipped\"} %d\n"
             "wiggly_messages_total{outcome=\"pinged\"} 0\n"
             "wiggly_messages_total{outcome=\"dead_lettered\"} %d\n"
             "wiggly_messages_total{outcome=\"retried\"} %d\n"
             "wiggly_messages_total{outcome=\"missing\"} %d\n"
             "wiggly_in_flight 3\n",
             100 + 40 * k, 10 + 4 * k, 5 + 2 * k, 7 + k, 1 + k);
}

static void handler(void *ud, const struct fake_req *rq, struct fake_resp *rs)
{
    const char *filter = fake_req_arg(rq, "filter");

    (void)ud;
    if (!strcmp(rq->path, "/metrics")) {
        char text[1024];

        metrics_text(srv.metrics_reqs++, text, sizeof text);
        rs->status = 200;
        rs->body = strdup(text);
        rs->content_type = "text/plain; version=0.0.4";
        return;
    }
    if (strcmp(rq->path, "/v3/projects/my-project/timeSeries") != 0 || !filter) {
        rs->status = 404;
        rs->body = strdup("{\"error\":{\"code\":404,\"message\":\"no such path\"}}");
        return;
    }
    srv.monitoring_reqs++;
    if (srv.monitoring_status != 200) {
        serve_file(rs, srv.monitoring_status, "error-403.json");
        return;
    }
    int age = strstr(filter, "oldest_unacked_message_age") != NULL;
    if (strstr(filter, "subscription_id=\"downsample-16k-dead\""))
        serve_file(rs, 200, age ? "int64-number.json" : "dead-backlog.json");
    else if (strstr(filter, "subscription_id=\"downsample-16k\""))
        serve_file(rs, 200, age ? "oldest-age.json" : "backlog.json");
    else
        serve_file(rs, 200, "empty.json");
}

/* Runs `wiggly status ARGS` with the environment as it is; stdout into
 * *out (malloc'd), stderr into *err; returns the exit code. */
static int run_status(const char *args, char **out, char **err)
{
    char cmd[2048], ep[512];
    int st;

    snprintf(ep, sizeof ep, "%s/stderr.txt", dir);
    snprintf(cmd, sizeof cmd, "'%s' status %s >'%s/stdout.txt' 2>'%s'", WIGGLY_BIN, args, dir, ep);
    st = system(cmd);
    snprintf(cmd, sizeof cmd, "%s/stdout.txt", dir);
    *out = slurp(cmd, NULL);
    *err = slurp(ep, NULL);
    assert_non_null(*out);
    assert_non_null(*err);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void write_file(const char *name, const char *text)
{
    char p[512];
    FILE *f;

    snprintf(p, sizeof p, "%s/%s", dir, name);
    f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

#define JOB_STREAM                                                                                 \
    "{\"job\":\"downsample-16k\",\"project\":\"my-project\","                                      \
    "\"events\":{\"subscription\":\"projects/my-project/subscriptions/downsample-16k\"},"          \
    "\"input\":{\"location\":\"gs://wbkt/in/\",\"suffix\":\".wav\"},"                              \
    "\"output\":{\"location\":\"gs://wbkt/out/\",\"suffix\":\".flac\"},"                           \
    "\"dead_letter_topic\":\"projects/my-project/topics/downsample-16k-dead\"}"
#define JOB_IDLE                                                                                   \
    "{\"job\":\"idle\",\"project\":\"my-project\","                                                \
    "\"events\":{\"subscription\":\"projects/my-project/subscriptions/idle\"},"                    \
    "\"input\":{\"location\":\"gs://wbkt/in/\",\"suffix\":\".wav\"},"                              \
    "\"output\":{\"location\":\"gs://wbkt/idle/\",\"suffix\":\".flac\"}}"
#define JOB_BATCH                                                                                  \
    "{\"job\":\"local-16k\",\"events\":{\"file\":\"/tmp/ids.txt\"},"                               \
    "\"input\":{\"location\":\"file:///tmp/in/\",\"suffix\":\".wav\"},"                            \
    "\"output\":{\"location\":\"file:///tmp/out/\",\"suffix\":\".flac\"}}"

static int group_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/wiggly-status-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    fake = fake_http_start(handler, NULL);
    if (!fake)
        return -1;
    write_file("stream.json", JOB_STREAM);
    write_file("idle.json", JOB_IDLE);
    write_file("batch.json", JOB_BATCH);
    char jobs[300];
    snprintf(jobs, sizeof jobs, "%s/jobs", dir);
    mkdir(jobs, 0777);
    write_file("jobs/a-stream.json", JOB_STREAM);
    write_file("jobs/b-batch.json", JOB_BATCH);
    write_file("jobs/c-broken.json", "{\"job\": 12}");
    write_file("jobs/notes.txt", "not a job");
    return 0;
}

static int group_teardown(void **state)
{
    char cmd[300];

    (void)state;
    fake_http_stop(fake);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int setup(void **state)
{
    (void)state;
    memset(&srv, 0, sizeof srv);
    srv.monitoring_status = 200;
    setenv("WIGGLY_MONITORING_ENDPOINT", fake_http_url(fake), 1);
    unsetenv("PUBSUB_EMULATOR_HOST");
    return 0;
}

static json_t *job_of(json_t *doc, size_t i)
{
    json_t *j = json_array_get(json_object_get(doc, "jobs"), i);

    assert_non_null(j);
    return j;
}

static double num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void test_monitoring_text(void **state)
{
    char *out, *err, args[512];

    (void)state;
    snprintf(args, sizeof args, "-c '%s/stream.json'", dir);
    assert_int_equal(run_status(args, &out, &err), 0);
    /* backlog 1234 (the newest point, not the largest), oldest unacked 312 s,
     * 7 dead letters, the oldest 42 s old. */
    assert_non_null(strstr(out, "BACKLOG"));
    assert_non_null(strstr(out, "downsample-16k"));
    assert_non_null(strstr(out, " 1234 "));
    assert_non_null(strstr(out, " 5m12s "));
    assert_non_null(strstr(out, " 7 "));
    assert_non_null(strstr(out, " 42s"));
    assert_null(strstr(out, "unknown"));
    assert_int_equal(srv.monitoring_reqs, 4);
    free(out);
    free(err);
}

static void test_monitoring_json(void **state)
{
    char *out, *err, args[512];
    json_t *doc, *j;

    (void)state;
    snprintf(args, sizeof args, "-c '%s/stream.json' --json", dir);
    assert_int_equal(run_status(args, &out, &err), 0);
    doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    j = job_of(doc, 0);
    assert_string_equal(json_string_value(json_object_get(j, "job")), "downsample-16k");
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "pubsub");
    assert_string_equal(json_string_value(json_object_get(j, "dead_letter_subscription")),
                        "projects/my-project/subscriptions/downsample-16k-dead");
    assert_true(num(j, "backlog") == 1234);
    assert_true(num(j, "oldest_unacked_s") == 312);
    assert_true(num(j, "dead_letters") == 7);
    assert_true(num(j, "dead_letters_oldest_s") == 42);
    assert_true(json_is_null(json_object_get(j, "error")));
    json_decref(doc);
    free(out);
    free(err);
}

/* Nothing known is unknown, not 0: no point in the window (exit 0, a
 * note), a failing Monitoring (exit 1), an unreachable one (exit 1). */
static void test_monitoring_unknown(void **state)
{
    char *out, *err, args[512];
    json_t *doc, *j;

    (void)state;
    snprintf(args, sizeof args, "-c '%s/idle.json'", dir);
    assert_int_equal(run_status(args, &out, &err), 0);
    assert_non_null(strstr(out, "idle"));
    assert_non_null(strstr(out, "unknown"));
    assert_null(strstr(out, " 0 "));
    assert_non_null(strstr(err, "no point in the last 10 minutes"));
    free(out);
    free(err);

    srv.monitoring_status = 403;
    snprintf(args, sizeof args, "-c '%s/stream.json' --json", dir);
    assert_int_equal(run_status(args, &out, &err), 1);
    assert_non_null(strstr(err, "Permission monitoring.timeSeries.list denied"));
    doc = json_loads(out, 0, NULL);
    j = job_of(doc, 0);
    assert_true(json_is_null(json_object_get(j, "backlog")));
    assert_true(json_is_null(json_object_get(j, "oldest_unacked_s")));
    assert_true(json_is_null(json_object_get(j, "dead_letters")));
    assert_non_null(strstr(json_string_value(json_object_get(j, "error")), "403"));
    json_decref(doc);
    free(out);
    free(err);

    /* Nobody listens there. */
    setenv("WIGGLY_MONITORING_ENDPOINT", "http://127.0.0.1:1", 1);
    snprintf(args, sizeof args, "-c '%s/stream.json'", dir);
    assert_int_equal(run_status(args, &out, &err), 1);
    assert_non_null(strstr(out, "unknown"));
    assert_null(strstr(out, " 0 "));
    free(out);
    free(err);
}

/* Against the emulators there is no Monitoring: unknown, asked nowhere,
 * and not a failure. */
static void test_emulator_unknown(void **state)
{
    char *out, *err, args[512];
    json_t *doc, *j;

    (void)state;
    unsetenv("WIGGLY_MONITORING_ENDPOINT");
    setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1", 1);
    snprintf(args, sizeof args, "-c '%s/stream.json' --json", dir);
    assert_int_equal(run_status(args, &out, &err), 0);
    assert_non_null(strstr(err, "emulator has no Cloud Monitoring"));
    doc = json_loads(out, 0, NULL);
    j = job_of(doc, 0);
    assert_true(json_is_null(json_object_get(j, "backlog")));
    assert_true(json_is_null(json_object_get(j, "dead_letters")));
    json_decref(doc);
    assert_int_equal(srv.monitoring_reqs, 0);
    free(out);
    free(err);
}

/* Every *.json of a directory, sorted: a stream job, a batch job, a config
 * that does not load (exit 1); other files are not jobs. */
static void test_directory(void **state)
{
    char *out, *err, args[512];
    char *l1, *l2, *l3;

    (void)state;
    snprintf(args, sizeof args, "-c '%s/jobs/'", dir);
    assert_int_equal(run_status(args, &out, &err), 1);
    l1 = strstr(out, "downsample-16k");
    l2 = strstr(out, "local-16k");
    l3 = strstr(out, "c-broken.json");
    assert_non_null(l1);
    assert_non_null(l2);
    assert_non_null(l3);
    assert_true(l1 < l2 && l2 < l3);
    assert_non_null(strstr(l2, "batch job"));
    assert_non_null(strstr(l3, "config does not load"));
    assert_null(strstr(out, "notes"));
    assert_non_null(strstr(out, " 1234 "));
    assert_int_equal(srv.monitoring_reqs, 4); /* the batch job asks nothing */
    free(out);
    free(err);
}

/* Two scrapes of /metrics: the counts the server handed out, and rates
 * that are their difference over the measured interval. */
static void test_metrics_rates(void **state)
{
    char *out, *err, args[512];
    json_t *doc, *m;
    double dt;
    static const struct {
        const char *name;
        double first, last;
    } want[] = {{"processed", 100, 140}, {"skipped", 10, 14}, {"failed", 6, 9}, {"retried", 7, 8}};

    (void)state;
    snprintf(args, sizeof args, "-c '%s/stream.json' --metrics %s/metrics --interval 1 --json", dir,
             fake_http_url(fake));
    assert_int_equal(run_status(args, &out, &err), 0);
    assert_int_equal(srv.metrics_reqs, 2);
    doc = json_loads(out, 0, NULL);
    assert_non_null(doc);
    m = json_object_get(job_of(doc, 0), "metrics");
    assert_non_null(m);
    dt = num(m, "interval_s");
    assert_true(dt >= 1.0 && dt < 10);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *r = json_object_get(m, want[i].name);

        assert_non_null(r);
        assert_true(num(r, "first") == want[i].first);
        assert_true(num(r, "last") == want[i].last);
        /* --json prints 10 significant digits */
        assert_true(num(r, "per_s") > (want[i].last - want[i].first) / dt * (1 - 1e-6));
        assert_true(num(r, "per_s") < (want[i].last - want[i].first) / dt * (1 + 1e-6));
    }
    json_decref(doc);
    free(out);
    free(err);

    /* The text: processed/s, skipped/s, failed/s after the Monitoring columns. */
    srv.metrics_reqs = 0;
    snprintf(args, sizeof args, "-c '%s/batch.json' --metrics %s/metrics --interval 0.5", dir,
             fake_http_url(fake));
    assert_int_equal(run_status(args, &out, &err), 0);
    assert_non_null(strstr(out, "PROCESSED/S"));
    assert_non_null(strstr(out, "batch job"));
    {
        double p, s, f;
        const char *line = strstr(out, "batch job");

        assert_int_equal(sscanf(line, "batch job %lf %lf %lf", &p, &s, &f), 3);
        /* 40, 4 and 3 over a bit more than 0.5 s */
        assert_true(p > 40 && p <= 80);
        assert_true(s > 4 && s <= 8);
        assert_true(f > 3 && f <= 6);
    }
    free(out);
    free(err);

    /* Nobody at the URL: unknown rates, exit 1. */
    snprintf(args, sizeof args, "-c '%s/batch.json' --metrics http://127.0.0.1:1/metrics", dir);
    assert_int_equal(run_status(args, &out, &err), 1);
    assert_non_null(strstr(out, "unknown"));
    assert_non_null(strstr(err, "127.0.0.1:1"));
    free(out);
    free(err);
}

static void test_usage(void **state)
{
    char *out, *err, args[512];

    (void)state;
    assert_int_equal(run_status("--help", &out, &err), 0);
    assert_non_null(strstr(out, "usage: wiggly status"));
    free(out);
    free(err);
    assert_int_equal(run_status("", &out, &err), 2);
    free(out);
    free(err);
    assert_int_equal(run_status("-c x.json --no-such-option", &out, &err), 2);
    free(out);
    free(err);
    assert_int_equal(run_status("-c x.json --interval 0", &out, &err), 2);
    free(out);
    free(err);
    assert_int_equal(run_status("-c x.json --metrics localhost:8080", &out, &err), 2);
    free(out);
    free(err);
    snprintf(args, sizeof args, "-c '%s/jobs' --metrics http://127.0.0.1:1/metrics", dir);
    assert_int_equal(run_status(args, &out, &err), 2);
    assert_non_null(strstr(err, "one pod of one job"));
    free(out);
    free(err);
    /* A config that does not exist is the work failing, not bad usage. */
    snprintf(args, sizeof args, "-c '%s/nope.json'", dir);
    assert_int_equal(run_status(args, &out, &err), 1);
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_monitoring_text, setup),
        cmocka_unit_test_setup(test_monitoring_json, setup),
        cmocka_unit_test_setup(test_monitoring_unknown, setup),
        cmocka_unit_test_setup(test_emulator_unknown, setup),
        cmocka_unit_test_setup(test_directory, setup),
        cmocka_unit_test_setup(test_metrics_rates, setup),
        cmocka_unit_test_setup(test_usage, setup),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
