/* test_service_metrics.c: metrics rendering (Prometheus text 0.0.4) and
 * the health/metrics HTTP server (a real libmicrohttpd server on an
 * ephemeral 127.0.0.1 port, queried with libcurl). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "service/httpd.h"
#include "service/metrics.h"
#include "support/svc_util.h"

static void has_line(const char *text, const char *line)
{
    const char *p = text;
    size_t n = strlen(line);
    while ((p = strstr(p, line)) != NULL) {
        if ((p == text || p[-1] == '\n') && (p[n] == '\n'))
            return;
        p += n;
    }
    fail_msg("line \"%s\" not found in:\n%s", line, text);
}

static void test_render(void **state)
{
    struct svc_metrics *m = svc_metrics_create();
    char *text = NULL;
    size_t len = 0;
    (void)state;
    assert_non_null(m);
    svc_metrics_outcome(m, SVC_OUT_PROCESSED);
    svc_metrics_outcome(m, SVC_OUT_PROCESSED);
    svc_metrics_outcome(m, SVC_OUT_DEAD_LETTERED);
    svc_metrics_stage(m, SVC_STAGE_PROCESS, 0.2);
    svc_metrics_stage(m, SVC_STAGE_PROCESS, 3.0);
    svc_metrics_stage(m, SVC_STAGE_PROCESS, 1000.0); /* above every bucket */
    svc_metrics_audio_seconds(m, 30.0);
    svc_metrics_audio_seconds(m, 0.5);
    svc_metrics_bytes(m, 0, 1000);
    svc_metrics_bytes(m, 1, 250);
    svc_metrics_in_flight(m, 3);
    svc_metrics_queue_depth(m, 2);
    assert_int_equal(svc_metrics_render(m, &text, &len), 0);
    assert_int_equal(len, strlen(text));
    assert_true(len > 0 && text[len - 1] == '\n');
    has_line(text, "# TYPE wiggly_messages_total counter");
    has_line(text, "wiggly_messages_total{outcome=\"processed\"} 2");
    has_line(text, "wiggly_messages_total{outcome=\"dead_lettered\"} 1");
    has_line(text, "wiggly_messages_total{outcome=\"triggered_parent\"} 0");
    has_line(text, "# TYPE wiggly_stage_seconds histogram");
    has_line(text, "wiggly_stage_seconds_bucket{stage=\"process\",le=\"0.1\"} 0");
    has_line(text, "wiggly_stage_seconds_bucket{stage=\"process\",le=\"0.25\"} 1");
    has_line(text, "wiggly_stage_seconds_bucket{stage=\"process\",le=\"2.5\"} 1");
    has_line(text, "wiggly_stage_seconds_bucket{stage=\"process\",le=\"5\"} 2");
    has_line(text, "wiggly_stage_seconds_bucket{stage=\"process\",le=\"600\"} 2");
    has_line(text, "wiggly_stage_seconds_bucket{stage=\"process\",le=\"+Inf\"} 3");
    has_line(text, "wiggly_stage_seconds_count{stage=\"process\"} 3");
    has_line(text, "wiggly_stage_seconds_sum{stage=\"process\"} 1003.200000");
    has_line(text, "wiggly_stage_seconds_count{stage=\"download\"} 0");
    has_line(text, "wiggly_audio_seconds_total 30.500");
    has_line(text, "wiggly_bytes_total{direction=\"in\"} 1000");
    has_line(text, "wiggly_bytes_total{direction=\"out\"} 250");
    has_line(text, "wiggly_in_flight 3");
    has_line(text, "wiggly_worker_queue_depth 2");
    assert_int_equal(svc_metrics_outcome_count(m, SVC_OUT_PROCESSED), 2);
    /* Every TYPE line comes before the first sample of its metric, and
     * each metric is announced once. */
    assert_null(
        strstr(strstr(text, "# TYPE wiggly_messages_total") + 1, "# TYPE wiggly_messages_total"));
    free(text);
    svc_metrics_destroy(m);
    svc_metrics_destroy(NULL);
}

static long get(int port, const char *path, struct svc_test_body *b, char *ctype, size_t ctype_len)
{
    CURL *c;
    char url[128];
    long status = 0;
    char *ct = NULL;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    c = svc_test_http_easy(url, b);
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ctype)
        snprintf(ctype, ctype_len, "%s", ct ? ct : "");
    curl_easy_cleanup(c);
    return status;
}

/* The transform's series appear once it reports, with their values. */
static void test_render_transform(void **state)
{
    struct svc_metrics *m = svc_metrics_create();
    char *text = NULL;
    (void)state;
    assert_non_null(m);
    assert_int_equal(svc_metrics_render(m, &text, NULL), 0);
    assert_null(strstr(text, "wiggly_transform")); /* a job without a transform */
    free(text);
    svc_metrics_transform_gauges(m, 2, 5, 1);
    svc_metrics_transform_call(m, SVC_TF_DONE, 0.3);
    svc_metrics_transform_call(m, SVC_TF_DONE, 7.0);
    svc_metrics_transform_call(m, SVC_TF_CRASHED, 1.0); /* counted, not timed */
    svc_metrics_transform_call(m, SVC_TF_OUTPUT_MISSING, 1.0);
    assert_int_equal(svc_metrics_render(m, &text, NULL), 0);
    has_line(text, "# TYPE wiggly_transform_requests_total counter");
    has_line(text, "wiggly_transform_requests_total{result=\"done\"} 2");
    has_line(text, "wiggly_transform_requests_total{result=\"crashed\"} 1");
    has_line(text, "wiggly_transform_requests_total{result=\"output_missing\"} 1");
    has_line(text, "wiggly_transform_requests_total{result=\"timeout\"} 0");
    has_line(text, "# TYPE wiggly_transform_seconds histogram");
    has_line(text, "wiggly_transform_seconds_bucket{le=\"0.25\"} 0");
    has_line(text, "wiggly_transform_seconds_bucket{le=\"0.5\"} 1");
    has_line(text, "wiggly_transform_seconds_bucket{le=\"10\"} 2");
    has_line(text, "wiggly_transform_seconds_bucket{le=\"+Inf\"} 2");
    has_line(text, "wiggly_transform_seconds_sum 7.300000");
    has_line(text, "wiggly_transform_seconds_count 2");
    has_line(text, "wiggly_transform_in_flight 2");
    has_line(text, "wiggly_transform_restarts_total 5");
    has_line(text, "wiggly_transform_workers_ready 1");
    /* the stage histograms keep their labels */
    has_line(text, "wiggly_stage_seconds_count{stage=\"process\"} 0");
    free(text);
    svc_metrics_destroy(m);
}

/* What `wiggly status --metrics` reads back is what render wrote. */
static void test_text_value(void **state)
{
    struct svc_metrics *m = svc_metrics_create();
    char *text = NULL;
    size_t len = 0;
    double v = -1;
    static const char other[] =
        "# TYPE x counter\n"
        "wiggly_messages_total{job=\"a\",outcome=\"processed\"} 2\n"
        "wiggly_messages_total{outcome=\"processed\",pod=\"b\"} 3e0 1700000000\n"
        "wiggly_messages_total_x{outcome=\"processed\"} 100\n"
        "wiggly_messages_total{outcome=\"proc\\\"essed\"} 100\n"
        "wiggly_messages_total{outcome=\"processed\"\n"
        "wiggly_messages_total{outcome=\"processed\"} oops\n"
        "wiggly_in_flight 4";

    (void)state;
    for (int i = 0; i < 5; i++)
        svc_metrics_outcome(m, SVC_OUT_PROCESSED);
    svc_metrics_outcome(m, SVC_OUT_DEAD_LETTERED);
    svc_metrics_in_flight(m, 3);
    assert_int_equal(svc_metrics_render(m, &text, &len), 0);
    assert_int_equal(
        svc_metrics_text_value(text, len, "wiggly_messages_total", "outcome", "processed", &v), 0);
    assert_true(v == 5);
    assert_int_equal(
        svc_metrics_text_value(text, len, "wiggly_messages_total", "outcome", "dead_lettered", &v),
        0);
    assert_true(v == 1);
    assert_int_equal(
        svc_metrics_text_value(text, len, "wiggly_messages_total", "outcome", "skipped", &v), 0);
    assert_true(v == 0); /* rendered as 0: known to be 0 */
    assert_int_equal(svc_metrics_text_value(text, len, "wiggly_messages_total", NULL, NULL, &v), 0);
    assert_true(v == 6);
    assert_int_equal(svc_metrics_text_value(text, len, "wiggly_in_flight", NULL, NULL, &v), 0);
    assert_true(v == 3);
    /* Not there: not found, never 0; the transform series are absent without one. */
    assert_int_equal(
        svc_metrics_text_value(text, len, "wiggly_transform_restarts_total", NULL, NULL, &v),
        SVC_ENOTFOUND);
    assert_int_equal(svc_metrics_text_value(NULL, 0, "wiggly_in_flight", NULL, NULL, &v),
                     SVC_ENOTFOUND);
    free(text);
    svc_metrics_destroy(m);
    /* Other labels, timestamps, escapes, near-miss names, broken lines, no
     * final newline. */
    assert_int_equal(svc_metrics_text_value(other, sizeof other - 1, "wiggly_messages_total",
                                            "outcome", "processed", &v),
                     0);
    assert_true(v == 5);
    assert_int_equal(svc_metrics_text_value(other, sizeof other - 1, "wiggly_messages_total",
                                            "outcome", "proc\"essed", &v),
                     0);
    assert_true(v == 100);
    assert_int_equal(
        svc_metrics_text_value(other, sizeof other - 1, "wiggly_in_flight", NULL, NULL, &v), 0);
    assert_true(v == 4);
}

static void test_httpd(void **state)
{
    struct svc_metrics *m = svc_metrics_create();
    struct svc_error err = {0};
    struct svc_httpd *h = svc_httpd_create("127.0.0.1:0", m, &err);
    static struct svc_test_body b;
    char ctype[128];
    int port;
    (void)state;
    assert_non_null(h);
    port = svc_httpd_port(h);
    assert_true(port > 0);
    assert_int_equal(get(port, "/healthz", &b, NULL, 0), 200);
    assert_int_equal(get(port, "/readyz", &b, NULL, 0), 503);
    svc_metrics_set_ready(m, 1);
    assert_int_equal(get(port, "/readyz", &b, NULL, 0), 200);
    svc_metrics_outcome(m, SVC_OUT_SKIPPED);
    assert_int_equal(get(port, "/metrics", &b, ctype, sizeof(ctype)), 200);
    assert_non_null(strstr(ctype, "text/plain; version=0.0.4"));
    has_line(b.buf, "wiggly_messages_total{outcome=\"skipped\"} 1");
    assert_int_equal(get(port, "/nope", &b, NULL, 0), 404);
    svc_metrics_set_ready(m, 0);
    assert_int_equal(get(port, "/readyz", &b, NULL, 0), 503);
    svc_httpd_destroy(h);
    svc_metrics_destroy(m);
}

static void test_httpd_bad_listen(void **state)
{
    struct svc_metrics *m = svc_metrics_create();
    struct svc_error err = {0};
    (void)state;
    assert_null(svc_httpd_create("nonsense", m, &err));
    assert_non_null(strstr(err.msg, "host:port"));
    assert_null(svc_httpd_create("127.0.0.1:99999", m, &err));
    assert_non_null(strstr(err.msg, "bad port"));
    assert_null(svc_httpd_create("example.com:80", m, &err));
    assert_non_null(strstr(err.msg, "IPv4"));
    svc_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),           cmocka_unit_test(test_render_transform),
        cmocka_unit_test(test_text_value),       cmocka_unit_test(test_httpd),
        cmocka_unit_test(test_httpd_bad_listen),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
