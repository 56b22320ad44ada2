/* test_gcp_monitoring.c: the Cloud Monitoring client (gcp/monitoring.c).
 * The parser of projects.timeSeries.list answers over recorded responses of
 * the documented shape (tests/data/monitoring/, written by hand from the API
 * reference: there is no Monitoring emulator), RFC 3339 timestamps, and the
 * client against a small HTTP stand-in on 127.0.0.1: the request it sends
 * (path, filter, interval, no token over http://), retries, error answers,
 * the endpoint variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <ev.h>

#include "fake_http.h"
#include "gcp/gcp_int.h"
#include "gcp/http.h"
#include "gcp/monitoring.h"

#ifndef WIGGLY_MONITORING_DATA
#error "WIGGLY_MONITORING_DATA must name tests/data/monitoring"
#endif

static char *slurp(const char *name, size_t *len)
{
    char path[1024];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof path, "%s/%s", WIGGLY_MONITORING_DATA, name);
    f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static int parse_file(const char *name, struct gcp_monitoring_point *pt, struct gcp_error *e)
{
    size_t len;
    char *body = slurp(name, &len);
    int rc;

    memset(e, 0, sizeof *e);
    rc = gcp__monitoring_parse_latest(body, len, pt, e);
    free(body);
    return rc;
}

/* ---- the parser ---- */

static void test_rfc3339(void **state)
{
    double t;

    (void)state;
    assert_int_equal(gcp__rfc3339_parse("1970-01-01T00:00:00Z", &t), 0);
    assert_true(t == 0);
    assert_int_equal(gcp__rfc3339_parse("2026-05-01T12:04:00Z", &t), 0);
    assert_true(t == 1777637040.0);
    assert_int_equal(gcp__rfc3339_parse("2026-05-01T14:04:00+02:00", &t), 0);
    assert_true(t == 1777637040.0);
    assert_int_equal(gcp__rfc3339_parse("2026-05-01T12:04:00.250000000Z", &t), 0);
    assert_true(t == 1777637040.25);
    assert_int_equal(gcp__rfc3339_parse("2000-02-29T00:00:00-00:30", &t), 0);
    assert_true(t == 951782400.0 + 1800);
    {
        static const char *const bad[] = {"",
                                          "yesterday",
                                          "2026-05-01",
                                          "2026-05-01T12:04:00",
                                          "2026-05-01 12:04:00Z",
                                          "2026-13-01T00:00:00Z",
                                          "2026-05-01T24:00:00Z",
                                          "2026-05-01T12:04:00.Z",
                                          "2026-05-01T12:04:00Zjunk",
                                          "2026-05-01T12:04:00+2:00"};

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            assert_int_equal(gcp__rfc3339_parse(bad[i], &t), -1);
        assert_int_equal(gcp__rfc3339_parse(NULL, &t), -1);
    }
}

static void test_parse_backlog(void **state)
{
    struct gcp_monitoring_point pt;
    struct gcp_error e;

    (void)state;
    /* Points come newest first; the newest wins, not the largest. */
    assert_int_equal(parse_file("backlog.json", &pt, &e), 0);
    assert_int_equal(pt.found, 1);
    assert_true(pt.value == 1234);
    assert_true(pt.end_time == 1777637040.0);
    assert_int_equal(pt.series, 1);
    assert_int_equal(parse_file("oldest-age.json", &pt, &e), 0);
    assert_true(pt.found && pt.value == 312);
    assert_int_equal(parse_file("dead-backlog.json", &pt, &e), 0);
    assert_true(pt.found && pt.value == 7);
    /* int64Value as a JSON number is accepted too. */
    assert_int_equal(parse_file("int64-number.json", &pt, &e), 0);
    assert_true(pt.found && pt.value == 42);
}

static void test_parse_double_two_series(void **state)
{
    struct gcp_monitoring_point pt;
    struct gcp_error e;

    (void)state;
    /* The newest point over both series, the +02:00 offset taken into
     * account: 13:59:00.5+02:00 is after 11:58:30.25Z and 11:57:00Z. A
     * nextPageToken does not matter for the newest point of one filter. */
    assert_int_equal(parse_file("double-two-series.json", &pt, &e), 0);
    assert_int_equal(pt.found, 1);
    assert_true(pt.value == 12.25);
    assert_int_equal(pt.series, 2);
}

static void test_parse_nothing_known(void **state)
{
    struct gcp_monitoring_point pt;
    struct gcp_error e;

    (void)state;
    /* No series, or series without points: nothing known, which is not 0. */
    assert_int_equal(parse_file("empty.json", &pt, &e), 0);
    assert_int_equal(pt.found, 0);
    assert_int_equal(pt.series, 0);
    assert_int_equal(parse_file("no-points.json", &pt, &e), 0);
    assert_int_equal(pt.found, 0);
    assert_int_equal(pt.series, 2);
    assert_int_equal(gcp__monitoring_parse_latest(NULL, 0, &pt, &e), 0);
    assert_int_equal(pt.found, 0);
    assert_int_equal(gcp__monitoring_parse_latest("{}", 2, &pt, &e), 0);
    assert_int_equal(pt.found, 0);
    assert_int_equal(gcp__monitoring_parse_latest("{\"timeSeries\":null}", 19, &pt, &e), 0);
    assert_int_equal(pt.found, 0);
}

static void test_parse_malformed(void **state)
{
    static const char *const files[] = {"error-403.json", "error-400-filter.json", "bad-int64.json",
                                        "bad-endtime.json", "bool-value.json"};
    static const char *const bodies[] = {
        "not json",
        "[]",
        "{\"timeSeries\":{}}",
        "{\"timeSeries\":[{\"points\":{}}]}",
        "{\"timeSeries\":[{\"points\":[{\"value\":{\"int64Value\":\"1\"}}]}]}",
        "{\"timeSeries\":[{\"points\":[{\"interval\":{\"endTime\":\"2026-05-01T12:04:00Z\"}}]}]}",
        "{\"timeSeries\":[{\"points\":[{\"interval\":{\"endTime\":\"2026-05-01T12:04:00Z\"},"
        "\"value\":{\"doubleValue\":\"NaN\"}}]}]}",
        "{\"timeSeries\":[{\"points\":[{\"interval\":{\"endTime\":\"2026-05-01T12:04:00Z\"},"
        "\"value\":{\"int64Value\":\"\"}}]}]}",
        "{\"timeSeries\":[{\"points\":[{\"interval\":{\"endTime\":\"2026-05-01T12:04:00Z\"},"
        "\"value\":{\"int64Value\":\"123456789012345678901234\"}}]}]}",
    };
    struct gcp_monitoring_point pt;
    struct gcp_error e;

    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        assert_int_equal(parse_file(files[i], &pt, &e), GCP_EPROTO);
        assert_int_equal(e.code, GCP_EPROTO);
        assert_true(e.msg[0]);
        assert_int_equal(pt.found, 0);
    }
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        memset(&e, 0, sizeof e);
        assert_int_equal(gcp__monitoring_parse_latest(bodies[i], strlen(bodies[i]), &pt, &e),
                         GCP_EPROTO);
        assert_true(e.msg[0]);
        assert_int_equal(pt.found, 0);
    }
    /* The reason never quotes the body. */
    assert_int_equal(parse_file("error-403.json", &pt, &e), GCP_EPROTO);
    assert_null(strstr(e.msg, "Permission"));
}

/* ---- the client against a stand-in ---- */

struct srv {
    int reqs;
    int fail_first; /* answer this many requests with 503 first */
    int status;     /* then this status with body */
    const char *file;
    char path[256], filter[1024], start[64], end[64], view[32], auth[256];
};
static struct srv srv;

static void handler(void *ud, const struct fake_req *rq, struct fake_resp *rs)
{
    const char *a;
    size_t len;

    (void)ud;
    srv.reqs++;
    snprintf(srv.path, sizeof srv.path, "%s", rq->path);
    snprintf(srv.filter, sizeof srv.filter, "%s", (a = fake_req_arg(rq, "filter")) ? a : "(none)");
    snprintf(srv.start, sizeof srv.start, "%s",
             (a = fake_req_arg(rq, "interval.startTime")) ? a : "");
    snprintf(srv.end, sizeof srv.end, "%s", (a = fake_req_arg(rq, "interval.endTime")) ? a : "");
    snprintf(srv.view, sizeof srv.view, "%s", (a = fake_req_arg(rq, "view")) ? a : "");
    snprintf(srv.auth, sizeof srv.auth, "%s", (a = fake_req_header(rq, "Authorization")) ? a : "");
    rs->content_type = "application/json";
    if (srv.reqs <= srv.fail_first) {
        rs->status = 503;
        rs->body = strdup("{\"error\":{\"code\":503,\"message\":\"The service is currently "
                          "unavailable.\",\"status\":\"UNAVAILABLE\"}}");
        return;
    }
    rs->status = srv.status;
    rs->body = slurp(srv.file, &len);
    rs->body_len = len;
}

struct env {
    struct ev_loop *loop;
    struct fake_http *fake;
    struct gcp_http *http;
};

struct answer {
    int done;
    struct gcp_error err;
    int has_pt;
    struct gcp_monitoring_point pt;
};

static void on_point(void *ud, const struct gcp_error *err, const struct gcp_monitoring_point *pt)
{
    struct answer *a = ud;

    a->done++;
    if (err)
        a->err = *err;
    if (pt) {
        a->has_pt = 1;
        a->pt = *pt;
    }
    assert_true(!err != !pt);
}

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    struct gcp_http_opts o = {.backoff_initial_s = 0.01, .backoff_max_s = 0.02};

    memset(&srv, 0, sizeof srv);
    e->loop = ev_loop_new(EVFLAG_AUTO);
    e->fake = fake_http_start(handler, NULL);
    e->http = gcp_http_create(e->loop, &o);
    if (!e->loop || !e->fake || !e->http)
        return -1;
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;

    gcp_http_destroy(e->http);
    fake_http_stop(e->fake);
    ev_loop_destroy(e->loop);
    free(e);
    unsetenv("WIGGLY_MONITORING_ENDPOINT");
    return 0;
}

static void test_client_request(void **state)
{
    struct env *e = *state;
    struct gcp_monitoring *m;
    struct gcp_error ge;
    struct answer a = {0};
    double t0, t1, now = (double)time(NULL);

    srv.status = 200;
    srv.file = "backlog.json";
    m = gcp_monitoring_create(e->http, NULL, fake_http_url(e->fake), &ge);
    assert_non_null(m);
    assert_string_equal(gcp_monitoring_endpoint(m), fake_http_url(e->fake));
    assert_int_equal(gcp_monitoring_subscription_latest(
                         m, "projects/my-project/subscriptions/downsample-16k",
                         "subscription/num_undelivered_messages", 600, on_point, &a),
                     0);
    assert_int_equal(fake_loop_wait(e->loop, &a.done, 1, 30), 0);
    assert_int_equal(a.done, 1);
    assert_int_equal(a.err.code, 0);
    assert_true(a.has_pt && a.pt.found && a.pt.value == 1234);
    assert_string_equal(srv.path, "/v3/projects/my-project/timeSeries");
    assert_string_equal(srv.filter,
                        "metric.type=\"pubsub.googleapis.com/subscription/"
                        "num_undelivered_messages\" AND resource.type=\"pubsub_subscription\" "
                        "AND resource.labels.subscription_id=\"downsample-16k\"");
    assert_string_equal(srv.view, "FULL");
    assert_string_equal(srv.auth, ""); /* http://: no token */
    assert_int_equal(gcp__rfc3339_parse(srv.start, &t0), 0);
    assert_int_equal(gcp__rfc3339_parse(srv.end, &t1), 0);
    assert_true(t1 - t0 == 600);
    assert_true(t1 >= now - 5 && t1 <= now + 5);
    gcp_monitoring_destroy(m);
}

static void test_client_retry_then_error(void **state)
{
    struct env *e = *state;
    struct gcp_monitoring *m;
    struct gcp_error ge;
    struct answer a = {0}, b = {0};

    /* Two 503s are retried away. */
    srv.fail_first = 2;
    srv.status = 200;
    srv.file = "oldest-age.json";
    m = gcp_monitoring_create(e->http, NULL, fake_http_url(e->fake), &ge);
    assert_non_null(m);
    assert_int_equal(gcp_monitoring_latest(m, "my-project",
                                           "metric.type=\"pubsub.googleapis.com/subscription/"
                                           "oldest_unacked_message_age\"",
                                           300, on_point, &a),
                     0);
    assert_int_equal(fake_loop_wait(e->loop, &a.done, 1, 30), 0);
    assert_int_equal(srv.reqs, 3);
    assert_true(a.has_pt && a.pt.value == 312);
    /* A 403 is an error with the API's message, not a value. */
    srv.reqs = 0;
    srv.fail_first = 0;
    srv.status = 403;
    srv.file = "error-403.json";
    assert_int_equal(gcp_monitoring_subscription_latest(m, "projects/my-project/subscriptions/s",
                                                        "subscription/num_undelivered_messages",
                                                        600, on_point, &b),
                     0);
    assert_int_equal(fake_loop_wait(e->loop, &b.done, 1, 30), 0);
    assert_int_equal(srv.reqs, 1);
    assert_false(b.has_pt);
    assert_int_equal(b.err.code, GCP_EPERM);
    assert_int_equal(b.err.http_status, 403);
    assert_non_null(strstr(b.err.msg, "Permission monitoring.timeSeries.list denied"));
    gcp_monitoring_destroy(m);
}

static void test_client_malformed_and_empty(void **state)
{
    struct env *e = *state;
    struct gcp_monitoring *m;
    struct gcp_error ge;
    struct answer a = {0}, b = {0};

    srv.status = 200;
    srv.file = "bad-int64.json";
    m = gcp_monitoring_create(e->http, NULL, fake_http_url(e->fake), &ge);
    assert_int_equal(gcp_monitoring_subscription_latest(m, "projects/p/subscriptions/s",
                                                        "subscription/num_undelivered_messages",
                                                        600, on_point, &a),
                     0);
    assert_int_equal(fake_loop_wait(e->loop, &a.done, 1, 30), 0);
    assert_int_equal(a.err.code, GCP_EPROTO);
    assert_non_null(strstr(a.err.msg, "malformed response body"));
    srv.file = "empty.json";
    assert_int_equal(gcp_monitoring_subscription_latest(m, "projects/p/subscriptions/s",
                                                        "subscription/num_undelivered_messages",
                                                        600, on_point, &b),
                     0);
    assert_int_equal(fake_loop_wait(e->loop, &b.done, 1, 30), 0);
    assert_int_equal(b.err.code, 0);
    assert_true(b.has_pt && !b.pt.found);
    gcp_monitoring_destroy(m);
}

static void test_client_arguments_and_endpoint(void **state)
{
    struct env *e = *state;
    struct gcp_monitoring *m;
    struct gcp_error ge;
    struct answer a = {0};
    char hostport[128];

    /* The real endpoint needs credentials. */
    unsetenv("WIGGLY_MONITORING_ENDPOINT");
    memset(&ge, 0, sizeof ge);
    assert_null(gcp_monitoring_create(e->http, NULL, NULL, &ge));
    assert_int_equal(ge.code, GCP_EAUTH);
    /* The variable, without a scheme, means http://. */
    snprintf(hostport, sizeof hostport, "%s/", fake_http_url(e->fake) + 7);
    setenv("WIGGLY_MONITORING_ENDPOINT", hostport, 1);
    m = gcp_monitoring_create(e->http, NULL, NULL, &ge);
    assert_non_null(m);
    assert_string_equal(gcp_monitoring_endpoint(m), fake_http_url(e->fake));
    static const char *const bad_subs[] = {"my-sub",
                                           "projects//subscriptions/s",
                                           "projects/p/subscriptions/",
                                           "projects/p/topics/t",
                                           "projects/p/subscriptions/a/b",
                                           "projects/p/subscriptions/a\"b"};
    for (size_t i = 0; i < sizeof bad_subs / sizeof bad_subs[0]; i++)
        assert_int_equal(
            gcp_monitoring_subscription_latest(m, bad_subs[i], "subscription/x", 600, on_point, &a),
            GCP_EINVAL);
    assert_int_equal(gcp_monitoring_latest(m, "p", "metric.type=\"x\"", 59, on_point, &a),
                     GCP_EINVAL);
    assert_int_equal(gcp_monitoring_latest(m, "P/../x", "metric.type=\"x\"", 600, on_point, &a),
                     GCP_EINVAL);
    assert_int_equal(gcp_monitoring_latest(m, "p", "", 600, on_point, &a), GCP_EINVAL);
    assert_int_equal(srv.reqs, 0);
    assert_int_equal(a.done, 0);
    /* Destroy cancels: the callback fires once, with GCP_ECANCELED. */
    srv.status = 200;
    srv.file = "backlog.json";
    assert_int_equal(gcp_monitoring_latest(m, "p", "metric.type=\"x\"", 600, on_point, &a), 0);
    gcp_monitoring_destroy(m);
    assert_int_equal(a.done, 1);
    assert_int_equal(a.err.code, GCP_ECANCELED);
    gcp_monitoring_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_parse_backlog),
        cmocka_unit_test(test_parse_double_two_series),
        cmocka_unit_test(test_parse_nothing_known),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test_setup_teardown(test_client_request, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_client_retry_then_error, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_client_malformed_and_empty, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_client_arguments_and_endpoint, env_setup,
                                        env_teardown),
    };

    gcp_http_global_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
