/* monitoring.c: Cloud Monitoring API v3 client on the gcp_http engine: the
 * latest point of a metric through projects.timeSeries.list (a GET with
 * filter, interval.startTime and interval.endTime). The answer is parsed by
 * a pure function (gcp__monitoring_parse_latest) that the unit tests and
 * tests/fuzz/fuzz_gcp_timeseries.c drive directly. A list is a read, so it
 * is retried like other idempotent requests (408, 429, 5xx, transport).
 * Every request is in the client's group, so destroy cancels its own.
 * Loop thread only. */
#include "gcp/monitoring.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "gcp/gcp_int.h"

#define LIST_MAX_BODY (4u << 20)

struct gcp_monitoring {
    struct gcp_http *http;
    struct gcp_auth *auth; /* NULL for an http:// endpoint */
    char *base;            /* scheme://host[:port], no trailing slash */
    struct gcp__group group;
    int closing;
};

struct gcp_monitoring *gcp_monitoring_create(struct gcp_http *http, struct gcp_auth *auth,
                                             const char *base_url, struct gcp_error *err)
{
    struct gcp_monitoring *m;
    const char *env = getenv("WIGGLY_MONITORING_ENDPOINT");
    const char *b = base_url && base_url[0] ? base_url : env && env[0] ? env : NULL;
    struct gcp__buf buf = {0};
    size_t n;

    if (!http) {
        gcp__seterr(err, GCP_EINVAL, 0, "gcp_monitoring_create: http is NULL");
        return NULL;
    }
    m = calloc(1, sizeof *m);
    if (!m || gcp__buf_printf(&buf, "%s%s", b && !strstr(b, "://") ? "http://" : "",
                              b ? b : "https://monitoring.googleapis.com") < 0) {
        free(m);
        gcp__seterr(err, GCP_ENOMEM, 0, "gcp_monitoring_create: out of memory");
        return NULL;
    }
    m->http = http;
    m->base = buf.p;
    n = strlen(m->base);
    while (n > 0 && m->base[n - 1] == '/')
        m->base[--n] = '\0';
    /* A token only over TLS: an http:// stand-in never sees one. */
    m->auth = strncmp(m->base, "https://", 8) == 0 ? auth : NULL;
    if (!b && !auth) {
        gcp__seterr(err, GCP_EAUTH, 0,
                    "gcp_monitoring_create: the real endpoint needs credentials (auth is NULL "
                    "and WIGGLY_MONITORING_ENDPOINT is unset)");
        gcp_monitoring_destroy(m);
        return NULL;
    }
    return m;
}

void gcp_monitoring_destroy(struct gcp_monitoring *m)
{
    if (!m)
        return;
    m->closing = 1;
    gcp__group_cancel(&m->group, -1);
    free(m->base);
    free(m);
}

const char *gcp_monitoring_endpoint(const struct gcp_monitoring *m)
{
    return m ? m->base : "";
}

/* ---- the answer ---- */

static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's days_from_civil), so no time zone is involved. */
static long days_from_civil(int y, int mo, int d)
{
    long era, yoe, doy, doe;

    y -= mo <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153L * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int gcp__rfc3339_parse(const char *s, double *out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    double frac = 0, scale = 0.1;
    const char *p = s;

    if (!s || digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 || *p++ != '-' ||
        digits(&p, 2, &d) < 0 || (*p != 'T' && *p != 't'))
        return -1;
    p++;
    if (digits(&p, 2, &h) < 0 || *p++ != ':' || digits(&p, 2, &mi) < 0 || *p++ != ':' ||
        digits(&p, 2, &sec) < 0)
        return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        for (int i = 0; *p >= '0' && *p <= '9'; p++, i++)
            if (i < 9) {
                frac += (*p - '0') * scale;
                scale /= 10;
            }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (digits(&p, 2, &oh) < 0 || *p++ != ':' || digits(&p, 2, &om) < 0 || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    *out = (double)days_from_civil(y, mo, d) * 86400.0 + h * 3600.0 + mi * 60.0 + sec + frac -
           sign * (oh * 3600.0 + om * 60.0);
    return 0;
}

/* A point's value: int64Value (string or number) or doubleValue. */
static int point_value(json_t *v, double *out)
{
    json_t *i = json_object_get(v, "int64Value");
    json_t *d = json_object_get(v, "doubleValue");

    if (json_is_string(i)) {
        const char *s = json_string_value(i);
        char *end;
        long long x;

        if (!s[0] || strlen(s) > 20)
            return -1;
        x = strtoll(s, &end, 10);
        if (*end)
            return -1;
        *out = (double)x;
        return 0;
    }
    if (json_is_integer(i)) {
        *out = (double)json_integer_value(i);
        return 0;
    }
    if (json_is_number(d) && isfinite(json_number_value(d))) {
        *out = json_number_value(d);
        return 0;
    }
    return -1;
}

int gcp__monitoring_parse_latest(const char *body, size_t len, struct gcp_monitoring_point *out,
                                 struct gcp_error *err)
{
    json_t *root, *ts;
    size_t i, j;
    int rc = GCP_EPROTO;

    memset(out, 0, sizeof *out);
    if (!body || len == 0)
        return 0;
    root = json_loadb(body, len, 0, NULL);
    if (!json_is_object(root)) {
        gcp__seterr(err, GCP_EPROTO, 0, root ? "not a JSON object" : "not JSON");
        goto out;
    }
    if (json_object_get(root, "error")) {
        gcp__seterr(err, GCP_EPROTO, 0, "an error answer, not a list of time series");
        goto out;
    }
    ts = json_object_get(root, "timeSeries");
    if (ts && !json_is_null(ts) && !json_is_array(ts)) {
        gcp__seterr(err, GCP_EPROTO, 0, "timeSeries is not an array");
        goto out;
    }
    out->series = (unsigned long)json_array_size(ts);
    for (i = 0; i < json_array_size(ts); i++) {
        json_t *pts = json_object_get(json_array_get(ts, i), "points");

        if (pts && !json_is_array(pts)) {
            gcp__seterr(err, GCP_EPROTO, 0, "timeSeries[%zu].points is not an array", i);
            goto out;
        }
        for (j = 0; j < json_array_size(pts); j++) {
            json_t *pt = json_array_get(pts, j);
            const char *end =
                json_string_value(json_object_get(json_object_get(pt, "interval"), "endTime"));
            double t, v;

            if (gcp__rfc3339_parse(end, &t) < 0) {
                gcp__seterr(err, GCP_EPROTO, 0,
                            "timeSeries[%zu].points[%zu] has no RFC 3339 interval.endTime", i, j);
                goto out;
            }
            if (point_value(json_object_get(pt, "value"), &v) < 0) {
                gcp__seterr(err, GCP_EPROTO, 0,
                            "timeSeries[%zu].points[%zu] has no int64Value or finite doubleValue",
                            i, j);
                goto out;
            }
            if (!out->found || t > out->end_time || (t == out->end_time && v > out->value)) {
                out->found = 1;
                out->end_time = t;
                out->value = v;
            }
        }
    }
    rc = 0;
out:
    if (rc < 0)
        memset(out, 0, sizeof *out);
    json_decref(root);
    return rc;
}

/* ---- the request ---- */

struct list_op {
    gcp_monitoring_point_cb cb;
    void *ud;
};

static void on_list(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct list_op *op = ud;
    struct gcp_monitoring_point pt;
    struct gcp_error pe, e;

    if (err) {
        op->cb(op->ud, err, NULL);
    } else if (gcp__monitoring_parse_latest(resp->body, resp->body_len, &pt, &pe) < 0) {
        gcp__seterr(&e, pe.code, (int)resp->status, "GET timeSeries: %s%s",
                    pe.code == GCP_EPROTO ? "malformed response body: " : "", pe.msg);
        op->cb(op->ud, &e, NULL);
    } else {
        op->cb(op->ud, NULL, &pt);
    }
    free(op);
}

static void rfc3339_now(time_t t, char *out, size_t n)
{
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Project IDs: 6-30 of [a-z0-9-]; domain-scoped ones add "domain:". */
static int check_project(const char *p)
{
    size_t n = p ? strlen(p) : 0;

    if (n == 0 || n > 100)
        return -1;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == ':' ||
              *p == '.'))
            return -1;
    return 0;
}

int gcp_monitoring_latest(struct gcp_monitoring *m, const char *project, const char *filter,
                          int window_s, gcp_monitoring_point_cb cb, void *ud)
{
    struct gcp__req_spec s;
    struct gcp__buf url = {0};
    struct gcp_error e;
    struct list_op *op;
    char start[32], end[32], what[160];
    char *esc;
    time_t now = time(NULL);

    if (!m || !cb || !filter || !filter[0] || window_s < 60 || window_s > 86400 ||
        check_project(project) < 0)
        return GCP_EINVAL;
    if (m->closing)
        return GCP_ECANCELED;
    rfc3339_now(now - window_s, start, sizeof start);
    rfc3339_now(now, end, sizeof end);
    esc = gcp__escape(filter);
    op = calloc(1, sizeof *op);
    if (!esc || !op ||
        gcp__buf_printf(&url,
                        "%s/v3/projects/%s/timeSeries?filter=%s&interval.startTime=%s"
                        "&interval.endTime=%s&view=FULL",
                        m->base, project, esc, start, end) < 0) {
        free(esc);
        free(op);
        gcp__buf_free(&url);
        return GCP_ENOMEM;
    }
    free(esc);
    op->cb = cb;
    op->ud = ud;
    snprintf(what, sizeof what, "projects/%s/timeSeries", project);
    memset(&s, 0, sizeof s);
    s.method = "GET";
    s.url = url.p;
    s.what = what;
    s.max_body = LIST_MAX_BODY;
    s.retry = GCP__RETRY_IDEMPOTENT;
    s.auth = m->auth;
    s.group = &m->group;
    if (!gcp__http_request(m->http, &s, on_list, op, &e)) {
        free(op);
        gcp__buf_free(&url);
        return e.code ? e.code : GCP_ENOMEM;
    }
    gcp__buf_free(&url);
    return 0;
}

int gcp_monitoring_subscription_latest(struct gcp_monitoring *m, const char *subscription,
                                       const char *metric, int window_s, gcp_monitoring_point_cb cb,
                                       void *ud)
{
    char project[128], filter[1024];
    const char *p, *id;
    int n;

    if (!subscription || !metric || strncmp(subscription, "projects/", 9) != 0)
        return GCP_EINVAL;
    p = subscription + 9;
    id = strstr(p, "/subscriptions/");
    if (!id || id == p || (size_t)(id - p) >= sizeof project || !id[15] || strchr(id + 15, '/') ||
        strchr(id + 15, '"') || strchr(metric, '"'))
        return GCP_EINVAL;
    snprintf(project, sizeof project, "%.*s", (int)(id - p), p);
    n = snprintf(filter, sizeof filter,
                 "metric.type=\"pubsub.googleapis.com/%s\" AND "
                 "resource.type=\"pubsub_subscription\" AND "
                 "resource.labels.subscription_id=\"%s\"",
                 metric, id + 15);
    if (n < 0 || (size_t)n >= sizeof filter)
        return GCP_EINVAL;
    return gcp_monitoring_latest(m, project, filter, window_s, cb, ud);
}
