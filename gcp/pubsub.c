/* pubsub.c: Pub/Sub REST v1 client on the gcp_http engine.
 *
 * Unary :pull with a long poll (curl timeout 120 s > the server's ~90 s; a
 * client-side timeout counts as an empty pull), :acknowledge and
 * :modifyAckDeadline split into requests of at most 1000 ackIds, :publish
 * split within 1000 messages / 10 MB, and the admin calls. Retries follow
 * the per-RPC sets of the official clients (docs/gcp.md "Retries and
 * idempotency"); the engine applies them. Every request of this client is
 * in one group, so destroy and gcp_pubsub_cancel_pulls cancel exactly their
 * own requests.
 * Loop thread only. */
#include "gcp/pubsub.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "gcp/gcp_int.h"

#define PULL_TIMEOUT_MS  120000L
#define PULL_MAX_BODY    (64u << 20)
#define MAX_IDS_PER_REQ  1000
#define MAX_MSGS_PER_REQ 1000
#define MAX_REQ_BYTES    10000000u
#define MAX_ATTRS        100

enum { TAG_PULL = 1, TAG_OTHER = 2 };

struct gcp_pubsub {
    struct gcp_http *http;
    struct gcp_auth *auth;
    char *base; /* scheme://host[:port], no trailing slash */
    struct gcp__group group;
    int closing;
};

struct gcp_pubsub *gcp_pubsub_create(struct gcp_http *http, struct gcp_auth *auth,
                                     const char *base_url, struct gcp_error *err)
{
    struct gcp_pubsub *ps;
    const char *emu = getenv("PUBSUB_EMULATOR_HOST");
    size_t n;

    if (!http) {
        gcp__seterr(err, GCP_EINVAL, 0, "gcp_pubsub_create: http is NULL");
        return NULL;
    }
    ps = calloc(1, sizeof *ps);
    if (!ps)
        goto nomem;
    ps->http = http;
    if (base_url && base_url[0]) {
        ps->base = strdup(base_url);
        ps->auth = auth;
    } else if (emu && emu[0]) {
        struct gcp__buf b = {0};

        if (gcp__buf_printf(&b, "%s%s", strstr(emu, "://") ? "" : "http://", emu) < 0)
            goto nomem;
        ps->base = b.p;
        ps->auth = NULL; /* emulators take no credentials */
    } else {
        ps->base = strdup("https://pubsub.googleapis.com");
        ps->auth = auth;
        if (!auth) {
            gcp__seterr(err, GCP_EAUTH, 0,
                        "gcp_pubsub_create: the real endpoint needs credentials (auth is NULL "
                        "and PUBSUB_EMULATOR_HOST is unset)");
            free(ps->base);
            free(ps);
            return NULL;
        }
    }
    if (!ps->base)
        goto nomem;
    n = strlen(ps->base);
    while (n > 0 && ps->base[n - 1] == '/')
        ps->base[--n] = '\0';
    return ps;
nomem:
    if (ps)
        free(ps->base);
    free(ps);
    gcp__seterr(err, GCP_ENOMEM, 0, "gcp_pubsub_create: out of memory");
    return NULL;
}

void gcp_pubsub_destroy(struct gcp_pubsub *ps)
{
    if (!ps)
        return;
    ps->closing = 1;
    gcp__group_cancel(&ps->group, -1);
    free(ps->base);
    free(ps);
}

void gcp_pubsub_cancel_pulls(struct gcp_pubsub *ps)
{
    if (ps)
        gcp__group_cancel(&ps->group, TAG_PULL);
}

/* projects/P/{kind}/NAME with Pub/Sub's name alphabet. */
static int check_name(const char *name, const char *kind)
{
    const char *p;
    size_t kl = strlen(kind);

    if (!name || strncmp(name, "projects/", 9) != 0)
        return -1;
    p = strchr(name + 9, '/');
    if (!p || p == name + 9 || strncmp(p + 1, kind, kl) != 0 || p[1 + kl] != '/' || !p[2 + kl])
        return -1;
    for (p = name; *p; p++) {
        char c = *p;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-_.~+%/", c)))
            return -1;
    }
    return 0;
}

/* Starts one request on projects/...{suffix}. body is borrowed. */
static struct gcp__req *ps_request(struct gcp_pubsub *ps, const char *method, const char *name,
                                   const char *suffix, const char *body, enum gcp__retry retry,
                                   int tag, gcp__req_cb cb, void *ud, struct gcp_error *err)
{
    struct gcp__req_spec s;
    struct gcp__buf url = {0};
    struct gcp__req *r;
    char what[300];

    if (ps->closing) {
        gcp__seterr(err, GCP_ECANCELED, 0, "%s %s%s: client is shutting down", method, name,
                    suffix);
        return NULL;
    }
    if (gcp__buf_printf(&url, "%s/v1/%s%s", ps->base, name, suffix) < 0) {
        gcp__seterr(err, GCP_ENOMEM, 0, "pubsub: out of memory");
        return NULL;
    }
    snprintf(what, sizeof what, "%s%s", name, suffix);
    memset(&s, 0, sizeof s);
    s.method = method;
    s.url = url.p;
    s.what = what;
    s.body = body;
    s.body_len = body ? strlen(body) : 0;
    s.has_body = body != NULL;
    s.content_type = "application/json";
    s.retry = retry;
    s.auth = ps->auth;
    s.group = &ps->group;
    s.tag = tag;
    if (tag == TAG_PULL) {
        s.timeout_ms = PULL_TIMEOUT_MS;
        s.max_body = PULL_MAX_BODY;
    }
    r = gcp__http_request(ps->http, &s, cb, ud, err);
    gcp__buf_free(&url);
    return r;
}

/* ---- pull ---- */

struct pull_op {
    gcp_pubsub_pull_cb cb;
    void *ud;
    char body[64]; /* borrowed by the request */
};

static void free_received(struct gcp_pubsub_received *m, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free((void *)m[i].data);
        free((void *)m[i].attrs);
    }
    free(m);
}

/* One ReceivedMessage into m; strings borrowed from rm. */
static int parse_received(json_t *rm, size_t i, struct gcp_pubsub_received *m,
                          struct gcp_error *err)
{
    json_t *msg = json_object_get(rm, "message");
    json_t *attrs = json_object_get(msg, "attributes");
    const char *data = json_string_value(json_object_get(msg, "data"));
    json_t *da = json_object_get(rm, "deliveryAttempt");

    m->ack_id = json_string_value(json_object_get(rm, "ackId"));
    m->message_id = json_string_value(json_object_get(msg, "messageId"));
    m->publish_time = json_string_value(json_object_get(msg, "publishTime"));
    /* 0 = unknown, also for a value no int holds or a negative one. */
    if (json_is_integer(da) && json_integer_value(da) > 0 && json_integer_value(da) <= INT_MAX)
        m->delivery_attempt = (int)json_integer_value(da);
    if (!m->ack_id || !json_is_object(msg)) {
        gcp__seterr(err, GCP_EPROTO, 0, "receivedMessages[%zu] has no %s", i,
                    !m->ack_id ? "ackId" : "message object");
        return GCP_EPROTO;
    }
    {
        unsigned char *d = NULL;
        size_t dl = 0;

        if (gcp__b64_decode(data ? data : "", data ? strlen(data) : 0, &d, &dl) < 0) {
            gcp__seterr(err, GCP_EPROTO, 0, "receivedMessages[%zu]: data is not base64", i);
            return GCP_EPROTO;
        }
        m->data = d;
        m->data_len = dl;
    }
    if (json_is_object(attrs) && json_object_size(attrs) > 0) {
        struct gcp_pubsub_attr *a = calloc(json_object_size(attrs), sizeof *a);
        const char *k;
        json_t *v;
        size_t j = 0;

        if (!a) {
            gcp__seterr(err, GCP_ENOMEM, 0, "out of memory");
            return GCP_ENOMEM;
        }
        json_object_foreach(attrs, k, v)
        {
            a[j].key = k;
            a[j].value = json_is_string(v) ? json_string_value(v) : "";
            j++;
        }
        m->attrs = a;
        m->n_attrs = j;
    }
    return 0;
}

int gcp__pubsub_parse_pull(const char *body, size_t len, struct gcp__pull *out,
                           struct gcp_error *err)
{
    json_t *root, *arr;
    size_t i, n;
    struct gcp_pubsub_received *m;
    int rc;

    memset(out, 0, sizeof *out);
    if (!body || len == 0)
        return 0;
    root = json_loadb(body, len, 0, NULL);
    if (!root) {
        gcp__seterr(err, GCP_EPROTO, 0, "not JSON");
        return GCP_EPROTO;
    }
    arr = json_object_get(root, "receivedMessages");
    if (!arr || json_is_null(arr) || (json_is_array(arr) && json_array_size(arr) == 0)) {
        out->doc = root;
        return 0;
    }
    if (!json_is_array(arr)) {
        gcp__seterr(err, GCP_EPROTO, 0, "receivedMessages is not an array");
        json_decref(root);
        return GCP_EPROTO;
    }
    n = json_array_size(arr);
    m = calloc(n, sizeof *m);
    if (!m) {
        gcp__seterr(err, GCP_ENOMEM, 0, "out of memory");
        json_decref(root);
        return GCP_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        rc = parse_received(json_array_get(arr, i), i, &m[i], err);
        if (rc < 0) {
            free_received(m, n);
            json_decref(root);
            return rc;
        }
    }
    out->msgs = m;
    out->n = n;
    out->doc = root;
    return 0;
}

void gcp__pubsub_pull_cleanup(struct gcp__pull *p)
{
    if (!p)
        return;
    free_received(p->msgs, p->n);
    json_decref(p->doc);
    memset(p, 0, sizeof *p);
}

static void on_pull(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct pull_op *op = ud;
    struct gcp__pull pull;
    struct gcp_error pe, e;

    if (err) {
        /* A client-side timeout on a long poll is just an empty pull. */
        if (err->code == GCP_ETIMEOUT && resp->status == 0)
            op->cb(op->ud, NULL, NULL, 0);
        else
            op->cb(op->ud, err, NULL, 0);
        free(op);
        return;
    }
    if (gcp__pubsub_parse_pull(resp->body, resp->body_len, &pull, &pe) < 0) {
        gcp__seterr(&e, pe.code, (int)resp->status, "POST pull: %s%s",
                    pe.code == GCP_EPROTO ? "malformed response body: " : "", pe.msg);
        op->cb(op->ud, &e, NULL, 0);
    } else {
        op->cb(op->ud, NULL, pull.msgs, pull.n);
    }
    gcp__pubsub_pull_cleanup(&pull);
    free(op);
}

static int pull_start(struct gcp_pubsub *ps, const char *subscription, int max_messages,
                      int immediate, gcp_pubsub_pull_cb cb, void *ud)
{
    struct pull_op *op;
    struct gcp_error e;

    if (!ps || !cb || max_messages <= 0)
        return GCP_EINVAL;
    if (check_name(subscription, "subscriptions") < 0)
        return GCP_EINVAL;
    op = calloc(1, sizeof *op);
    if (!op)
        return GCP_ENOMEM;
    op->cb = cb;
    op->ud = ud;
    snprintf(op->body, sizeof op->body, "{\"maxMessages\":%d%s}", max_messages,
             immediate ? ",\"returnImmediately\":true" : "");
    if (!ps_request(ps, "POST", subscription, ":pull", op->body, GCP__RETRY_PS_PULL, TAG_PULL,
                    on_pull, op, &e)) {
        free(op);
        return e.code;
    }
    return 0;
}

int gcp_pubsub_pull(struct gcp_pubsub *ps, const char *subscription, int max_messages,
                    gcp_pubsub_pull_cb cb, void *ud)
{
    return pull_start(ps, subscription, max_messages, 0, cb, ud);
}

int gcp_pubsub_pull_now(struct gcp_pubsub *ps, const char *subscription, int max_messages,
                        gcp_pubsub_pull_cb cb, void *ud)
{
    return pull_start(ps, subscription, max_messages, 1, cb, ud);
}

/* ---- batched calls: ack, modack, publish ---- */

struct batch_op;

struct batch {
    struct batch_op *op;
    char *body;
    size_t first, count; /* message index range (publish) */
};

struct batch_op {
    int remaining;
    struct gcp_error err;
    int failed;
    gcp_pubsub_done_cb done_cb;
    gcp_pubsub_publish_cb pub_cb;
    void *ud;
    char **ids; /* publish: one per input message */
    size_t n;
};

static void batch_op_finish(struct batch_op *op)
{
    size_t i;

    if (op->pub_cb) {
        if (op->failed)
            op->pub_cb(op->ud, &op->err, NULL, 0);
        else
            op->pub_cb(op->ud, NULL, (const char *const *)op->ids, op->n);
    } else {
        op->done_cb(op->ud, op->failed ? &op->err : NULL);
    }
    if (op->ids)
        for (i = 0; i < op->n; i++)
            free(op->ids[i]);
    free(op->ids);
    free(op);
}

static void batch_op_fail(struct batch_op *op, const struct gcp_error *err)
{
    if (!op->failed) {
        op->failed = 1;
        op->err = *err;
    }
}

static void on_batch(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct batch *b = ud;
    struct batch_op *op = b->op;

    if (err) {
        batch_op_fail(op, err);
    } else if (op->pub_cb) {
        json_t *root = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, NULL);
        json_t *ids = json_object_get(root, "messageIds");
        size_t i;

        if (!json_is_array(ids) || json_array_size(ids) != b->count) {
            struct gcp_error e;

            gcp__seterr(&e, GCP_EPROTO, (int)resp->status,
                        "POST publish: expected %zu messageIds, got %zu", b->count,
                        json_is_array(ids) ? json_array_size(ids) : (size_t)0);
            batch_op_fail(op, &e);
        } else {
            for (i = 0; i < b->count; i++) {
                const char *id = json_string_value(json_array_get(ids, i));

                op->ids[b->first + i] = strdup(id ? id : "");
                if (!op->ids[b->first + i]) {
                    struct gcp_error e;

                    gcp__seterr(&e, GCP_ENOMEM, 0, "publish: out of memory");
                    batch_op_fail(op, &e);
                    break;
                }
            }
        }
        json_decref(root);
    }
    free(b->body);
    free(b);
    if (--op->remaining == 0)
        batch_op_finish(op);
}

/* Submits one batch. Returns 0, or a negative code when nothing was
 * submitted (the body is freed). */
static int batch_submit(struct gcp_pubsub *ps, struct batch_op *op, const char *name,
                        const char *suffix, char *body, size_t first, size_t count,
                        enum gcp__retry retry, struct gcp_error *err)
{
    struct batch *b = calloc(1, sizeof *b);

    if (!b) {
        free(body);
        gcp__seterr(err, GCP_ENOMEM, 0, "pubsub: out of memory");
        return GCP_ENOMEM;
    }
    b->op = op;
    b->body = body;
    b->first = first;
    b->count = count;
    op->remaining++;
    if (!ps_request(ps, "POST", name, suffix, body, retry, TAG_OTHER, on_batch, b, err)) {
        op->remaining--;
        free(body);
        free(b);
        return err->code ? err->code : GCP_ENOMEM;
    }
    return 0;
}

/* After the submit loop: drop the submit reference. If nothing at all was
 * submitted, the call fails without a callback. */
static int batch_op_release(struct batch_op *op, int submitted, const struct gcp_error *err)
{
    if (!submitted) {
        int code = err->code ? err->code : GCP_ENOMEM;

        free(op->ids);
        free(op);
        return code;
    }
    if (--op->remaining == 0)
        batch_op_finish(op); /* unreachable in practice: requests finish later */
    return 0;
}

static int ack_like(struct gcp_pubsub *ps, const char *subscription, const char *const *ack_ids,
                    size_t n, int deadline_s, int is_modack, gcp_pubsub_done_cb cb, void *ud)
{
    struct batch_op *op;
    struct gcp_error e = {0};
    size_t i, j;
    int submitted = 0;

    if (!ps || !cb || !ack_ids || n == 0)
        return GCP_EINVAL;
    if (check_name(subscription, "subscriptions") < 0)
        return GCP_EINVAL;
    for (i = 0; i < n; i++)
        if (!ack_ids[i] || !ack_ids[i][0])
            return GCP_EINVAL;
    op = calloc(1, sizeof *op);
    if (!op)
        return GCP_ENOMEM;
    op->done_cb = cb;
    op->ud = ud;
    op->remaining = 1; /* the submit loop's own reference */
    for (i = 0; i < n; i += MAX_IDS_PER_REQ) {
        size_t end = i + MAX_IDS_PER_REQ < n ? i + MAX_IDS_PER_REQ : n;
        json_t *arr = json_array();
        json_t *root = arr ? json_pack("{s:o}", "ackIds", arr) : NULL;
        char *body;

        for (j = i; root && j < end; j++)
            json_array_append_new(arr, json_string(ack_ids[j]));
        if (root && is_modack)
            json_object_set_new(root, "ackDeadlineSeconds", json_integer(deadline_s));
        body = root ? json_dumps(root, JSON_COMPACT) : NULL;
        json_decref(root);
        if (!body) {
            gcp__seterr(&e, GCP_ENOMEM, 0, "pubsub: out of memory");
        } else if (batch_submit(ps, op, subscription,
                                is_modack ? ":modifyAckDeadline" : ":acknowledge", body, i, end - i,
                                GCP__RETRY_PS_ACK, &e) == 0) {
            submitted = 1;
            continue;
        }
        if (!submitted)
            break;
        batch_op_fail(op, &e);
    }
    return batch_op_release(op, submitted, &e);
}

int gcp_pubsub_ack(struct gcp_pubsub *ps, const char *subscription, const char *const *ack_ids,
                   size_t n, gcp_pubsub_done_cb cb, void *ud)
{
    return ack_like(ps, subscription, ack_ids, n, 0, 0, cb, ud);
}

int gcp_pubsub_modack(struct gcp_pubsub *ps, const char *subscription, const char *const *ack_ids,
                      size_t n, int deadline_s, gcp_pubsub_done_cb cb, void *ud)
{
    if (deadline_s < 0)
        deadline_s = 0;
    if (deadline_s > 600)
        deadline_s = 600;
    return ack_like(ps, subscription, ack_ids, n, deadline_s, 1, cb, ud);
}

/* One message as its JSON text, or NULL (err set) when it breaks a limit. */
static char *message_json(const struct gcp_pubsub_message *m, size_t idx, struct gcp_error *err)
{
    json_t *o = json_object();
    char *b64 = NULL, *out = NULL;
    size_t i;

    if (!o)
        goto nomem;
    if ((!m->data || m->len == 0) && m->n_attrs == 0) {
        gcp__seterr(err, GCP_EINVAL, 0, "publish: message %zu has neither data nor attributes",
                    idx);
        goto out;
    }
    if (m->n_attrs > MAX_ATTRS) {
        gcp__seterr(err, GCP_EINVAL, 0, "publish: message %zu has %zu attributes (max %d)", idx,
                    m->n_attrs, MAX_ATTRS);
        goto out;
    }
    if (m->len) {
        if (!m->data)
            goto inval;
        b64 = gcp__b64_encode(m->data, m->len, 0);
        if (!b64 || json_object_set_new(o, "data", json_string(b64)) < 0)
            goto nomem;
    }
    if (m->n_attrs) {
        json_t *a = json_object();

        if (!a || json_object_set_new(o, "attributes", a) < 0)
            goto nomem;
        for (i = 0; i < m->n_attrs; i++) {
            const char *k = m->attrs[i].key, *v = m->attrs[i].value;

            if (!k || !k[0] || strlen(k) > 256 || strncmp(k, "goog", 4) == 0 || !v ||
                strlen(v) > 1024) {
                gcp__seterr(err, GCP_EINVAL, 0,
                            "publish: message %zu attribute %zu: key must be 1-256 bytes not "
                            "starting with \"goog\", value at most 1024 bytes",
                            idx, i);
                goto out;
            }
            if (json_object_set_new(a, k, json_string(v)) < 0) {
                gcp__seterr(err, GCP_EINVAL, 0,
                            "publish: message %zu attribute %zu is not valid UTF-8", idx, i);
                goto out;
            }
        }
    }
    out = json_dumps(o, JSON_COMPACT);
    if (!out)
        goto nomem;
    if (strlen(out) + 16 > MAX_REQ_BYTES) {
        gcp__seterr(err, GCP_ETOOBIG, 0, "publish: message %zu is larger than 10 MB encoded", idx);
        free(out);
        out = NULL;
    }
    goto out;
inval:
    gcp__seterr(err, GCP_EINVAL, 0, "publish: message %zu has len but no data", idx);
    goto out;
nomem:
    gcp__seterr(err, GCP_ENOMEM, 0, "publish: out of memory");
out:
    free(b64);
    json_decref(o);
    return out;
}

int gcp_pubsub_publish(struct gcp_pubsub *ps, const char *topic,
                       const struct gcp_pubsub_message *msgs, size_t n, gcp_pubsub_publish_cb cb,
                       void *ud)
{
    struct batch_op *op;
    char **parts;
    struct gcp_error e = {0};
    size_t i, first;
    int submitted = 0, rc = 0;

    if (!ps || !cb || !msgs || n == 0)
        return GCP_EINVAL;
    if (check_name(topic, "topics") < 0)
        return GCP_EINVAL;
    /* Validate and encode everything first: all or nothing is submitted. */
    parts = calloc(n, sizeof *parts);
    if (!parts)
        return GCP_ENOMEM;
    for (i = 0; i < n; i++) {
        parts[i] = message_json(&msgs[i], i, &e);
        if (!parts[i]) {
            rc = e.code ? e.code : GCP_ENOMEM;
            goto out;
        }
    }
    op = calloc(1, sizeof *op);
    if (op)
        op->ids = calloc(n, sizeof *op->ids);
    if (!op || !op->ids) {
        free(op);
        rc = GCP_ENOMEM;
        goto out;
    }
    op->pub_cb = cb;
    op->ud = ud;
    op->n = n;
    op->remaining = 1;
    first = 0;
    while (first < n) {
        struct gcp__buf body = {0};
        size_t end = first;

        gcp__buf_add(&body, "{\"messages\":[", 13);
        while (end < n && end - first < MAX_MSGS_PER_REQ &&
               (end == first || body.len + strlen(parts[end]) + 3 <= MAX_REQ_BYTES)) {
            if (end > first)
                gcp__buf_add(&body, ",", 1);
            gcp__buf_add(&body, parts[end], strlen(parts[end]));
            end++;
        }
        if (gcp__buf_add(&body, "]}", 2) < 0) {
            gcp__buf_free(&body);
            gcp__seterr(&e, GCP_ENOMEM, 0, "publish: out of memory");
            if (!submitted)
                break;
            batch_op_fail(op, &e);
            break;
        }
        if (batch_submit(ps, op, topic, ":publish", body.p, first, end - first,
                         GCP__RETRY_PS_PUBLISH, &e) == 0) {
            submitted = 1;
        } else if (!submitted) {
            break;
        } else {
            batch_op_fail(op, &e);
        }
        first = end;
    }
    rc = batch_op_release(op, submitted, &e);
out:
    for (i = 0; i < n; i++)
        free(parts[i]);
    free(parts);
    return rc;
}

/* ---- admin ---- */

struct done_op {
    gcp_pubsub_done_cb cb;
    gcp_pubsub_subinfo_cb info_cb; /* instead of cb: parse the answer as a subscription */
    void *ud;
    char *body;
};

/* An int32 field; proto3 JSON may also write it as a string. */
static int json_int32(json_t *v)
{
    long long x = 0;

    if (json_is_integer(v))
        x = json_integer_value(v);
    else if (json_is_string(v))
        x = strtoll(json_string_value(v), NULL, 10);
    return x > 0 && x <= 0x7fffffff ? (int)x : 0;
}

static void subinfo_answer(struct done_op *op, const struct gcp__resp *resp)
{
    json_t *root = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, NULL);
    json_t *dlp = json_object_get(root, "deadLetterPolicy");
    struct gcp_pubsub_subscription_info info;
    struct gcp_error e;

    memset(&info, 0, sizeof info);
    info.name = json_string_value(json_object_get(root, "name"));
    info.topic = json_string_value(json_object_get(root, "topic"));
    info.ack_deadline_s = json_int32(json_object_get(root, "ackDeadlineSeconds"));
    info.dead_letter_topic = json_string_value(json_object_get(dlp, "deadLetterTopic"));
    if (info.dead_letter_topic && !info.dead_letter_topic[0])
        info.dead_letter_topic = NULL;
    info.max_delivery_attempts = json_int32(json_object_get(dlp, "maxDeliveryAttempts"));
    if (!info.topic) {
        gcp__seterr(&e, GCP_EPROTO, (int)resp->status, "GET subscription: %s in the answer",
                    root ? "no topic" : "no JSON object");
        op->info_cb(op->ud, &e, NULL);
    } else {
        op->info_cb(op->ud, NULL, &info);
    }
    json_decref(root);
}

static void on_done(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct done_op *op = ud;

    if (!op->info_cb)
        op->cb(op->ud, err);
    else if (err)
        op->info_cb(op->ud, err, NULL);
    else
        subinfo_answer(op, resp);
    free(op->body);
    free(op);
}

/* One admin request; exactly one of cb and info_cb is set. Steals body. */
static int admin_call(struct gcp_pubsub *ps, const char *method, const char *name, const char *kind,
                      char *body, gcp_pubsub_done_cb cb, gcp_pubsub_subinfo_cb info_cb, void *ud)
{
    struct done_op *op;
    struct gcp_error e;

    if (!ps || (!cb && !info_cb) || check_name(name, kind) < 0) {
        free(body);
        return GCP_EINVAL;
    }
    op = calloc(1, sizeof *op);
    if (!op) {
        free(body);
        return GCP_ENOMEM;
    }
    op->cb = cb;
    op->info_cb = info_cb;
    op->ud = ud;
    op->body = body;
    if (!ps_request(ps, method, name, "", body, GCP__RETRY_PS_ADMIN, TAG_OTHER, on_done, op, &e)) {
        free(op->body);
        free(op);
        return e.code;
    }
    return 0;
}

static int simple_call(struct gcp_pubsub *ps, const char *method, const char *name,
                       const char *kind, char *body, gcp_pubsub_done_cb cb, void *ud)
{
    if (!cb) {
        free(body);
        return GCP_EINVAL;
    }
    return admin_call(ps, method, name, kind, body, cb, NULL, ud);
}

int gcp_pubsub_topic_create(struct gcp_pubsub *ps, const char *topic, gcp_pubsub_done_cb cb,
                            void *ud)
{
    char *body = strdup("{}");

    return body ? simple_call(ps, "PUT", topic, "topics", body, cb, ud) : GCP_ENOMEM;
}

int gcp_pubsub_topic_get(struct gcp_pubsub *ps, const char *topic, gcp_pubsub_done_cb cb, void *ud)
{
    return simple_call(ps, "GET", topic, "topics", NULL, cb, ud);
}

int gcp_pubsub_topic_delete(struct gcp_pubsub *ps, const char *topic, gcp_pubsub_done_cb cb,
                            void *ud)
{
    return simple_call(ps, "DELETE", topic, "topics", NULL, cb, ud);
}

static json_t *duration(double s)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%.3fs", s);
    return json_string(buf);
}

int gcp_pubsub_subscription_create(struct gcp_pubsub *ps, const char *subscription,
                                   const struct gcp_pubsub_sub_spec *spec, gcp_pubsub_done_cb cb,
                                   void *ud)
{
    json_t *o;
    char *body;
    int ack;

    if (!spec || check_name(spec->topic, "topics") < 0)
        return GCP_EINVAL;
    ack = spec->ack_deadline_s ? spec->ack_deadline_s : 60;
    if (ack < 10 || ack > 600)
        return GCP_EINVAL;
    o = json_pack("{s:s, s:i}", "topic", spec->topic, "ackDeadlineSeconds", ack);
    if (!o)
        return GCP_ENOMEM;
    if (spec->dead_letter_topic) {
        int mda = spec->max_delivery_attempts ? spec->max_delivery_attempts : 5;

        if (check_name(spec->dead_letter_topic, "topics") < 0 || mda < 5 || mda > 100) {
            json_decref(o);
            return GCP_EINVAL;
        }
        json_object_set_new(o, "deadLetterPolicy",
                            json_pack("{s:s, s:i}", "deadLetterTopic", spec->dead_letter_topic,
                                      "maxDeliveryAttempts", mda));
    }
    if (spec->min_backoff_s > 0 || spec->max_backoff_s > 0) {
        double lo = spec->min_backoff_s > 0 ? spec->min_backoff_s : 10;
        double hi = spec->max_backoff_s > 0 ? spec->max_backoff_s : 600;

        if (lo > 600 || hi > 600 || lo > hi) {
            json_decref(o);
            return GCP_EINVAL;
        }
        json_object_set_new(o, "retryPolicy",
                            json_pack("{s:o, s:o}", "minimumBackoff", duration(lo),
                                      "maximumBackoff", duration(hi)));
    }
    body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!body)
        return GCP_ENOMEM;
    return simple_call(ps, "PUT", subscription, "subscriptions", body, cb, ud);
}

int gcp_pubsub_subscription_get(struct gcp_pubsub *ps, const char *subscription,
                                gcp_pubsub_done_cb cb, void *ud)
{
    return simple_call(ps, "GET", subscription, "subscriptions", NULL, cb, ud);
}

int gcp_pubsub_subscription_info(struct gcp_pubsub *ps, const char *subscription,
                                 gcp_pubsub_subinfo_cb cb, void *ud)
{
    if (!cb)
        return GCP_EINVAL;
    return admin_call(ps, "GET", subscription, "subscriptions", NULL, NULL, cb, ud);
}

int gcp_pubsub_subscription_delete(struct gcp_pubsub *ps, const char *subscription,
                                   gcp_pubsub_done_cb cb, void *ud)
{
    return simple_call(ps, "DELETE", subscription, "subscriptions", NULL, cb, ud);
}
