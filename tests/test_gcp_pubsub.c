/* test_gcp_pubsub.c: the Pub/Sub client against the official emulator (one
 * emulator process for the whole executable). Every test uses its own
 * topic and subscriptions. Skipped with a message when the emulator or
 * Java is not installed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <ev.h>
#include <jansson.h>

#include "fake_http.h"
#include "gcp/http.h"
#include "gcp/pubsub.h"
#include "pubsub_emulator.h"
#include "test_gcp_common.h"

static struct tpubsub psemu;
static int emu_state = -2; /* -2 not started, 0 running, else unavailable/failed */

static int setup(void **state)
{
    *state = ctx_new(emu_state == 0, NULL, 0, 1);
    return 0;
}

/* ---- callbacks ---- */

struct done {
    int calls;
    int code;
    char msg[1024];
};

static void on_psdone(void *ud, const struct gcp_error *err)
{
    struct done *d = ud;

    d->calls++;
    d->code = err ? err->code : 0;
    snprintf(d->msg, sizeof d->msg, "%s", err ? err->msg : "");
}

static int run_done(struct ctx *c, int rc, struct done *d)
{
    assert_int_equal(rc, 0);
    assert_int_equal(fake_loop_wait(c->loop, &d->calls, 1, 120), 0);
    assert_int_equal(d->calls, 1);
    return d->code;
}

static void create_topic_sub(struct ctx *c, const char *topic, const char *sub, int deadline)
{
    struct done d1 = {0}, d2 = {0};
    struct gcp_pubsub_sub_spec spec = {0};

    assert_int_equal(run_done(c, gcp_pubsub_topic_create(c->ps, topic, on_psdone, &d1), &d1), 0);
    spec.topic = topic;
    spec.ack_deadline_s = deadline;
    assert_int_equal(
        run_done(c, gcp_pubsub_subscription_create(c->ps, sub, &spec, on_psdone, &d2), &d2), 0);
}

/* sub on an existing topic, dead-lettering to dlq after attempts. */
static void create_dl_sub(struct ctx *c, const char *sub, const char *topic, int deadline,
                          const char *dlq, int attempts)
{
    struct done d = {0};
    struct gcp_pubsub_sub_spec spec = {0};

    spec.topic = topic;
    spec.ack_deadline_s = deadline;
    spec.dead_letter_topic = dlq;
    spec.max_delivery_attempts = attempts;
    assert_int_equal(
        run_done(c, gcp_pubsub_subscription_create(c->ps, sub, &spec, on_psdone, &d), &d), 0);
}

struct pubres {
    int calls, code;
    size_t n;
    char **ids;
};

static void on_pub(void *ud, const struct gcp_error *err, const char *const *ids, size_t n)
{
    struct pubres *p = ud;
    size_t i;

    p->calls++;
    p->code = err ? err->code : 0;
    p->n = n;
    p->ids = calloc(n + 1, sizeof *p->ids);
    for (i = 0; i < n; i++)
        p->ids[i] = strdup(ids[i]);
}

static void pubres_free(struct pubres *p)
{
    size_t i;

    for (i = 0; p->ids && i < p->n; i++)
        free(p->ids[i]);
    free(p->ids);
}

/* A pulled message, copied out of the callback. */
struct got {
    char *ack_id, *id, *data;
    size_t len;
    int attempt;
    json_t *attrs;
};

struct pulled {
    int calls, code;
    size_t n;
    struct got *m;
};

static void on_pull(void *ud, const struct gcp_error *err, const struct gcp_pubsub_received *m,
                    size_t n)
{
    struct pulled *p = ud;
    size_t i, j;

    p->calls++;
    p->code = err ? err->code : 0;
    p->m = realloc(p->m, (p->n + n + 1) * sizeof *p->m);
    for (i = 0; i < n; i++) {
        struct got *g = &p->m[p->n + i];

        g->ack_id = strdup(m[i].ack_id);
        g->id = strdup(m[i].message_id);
        g->data = malloc(m[i].data_len + 1);
        memcpy(g->data, m[i].data, m[i].data_len);
        g->data[m[i].data_len] = '\0';
        g->len = m[i].data_len;
        g->attempt = m[i].delivery_attempt;
        g->attrs = json_object();
        for (j = 0; j < m[i].n_attrs; j++)
            json_object_set_new(g->attrs, m[i].attrs[j].key, json_string(m[i].attrs[j].value));
    }
    p->n += n;
}

static void pulled_free(struct pulled *p)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        free(p->m[i].ack_id);
        free(p->m[i].id);
        free(p->m[i].data);
        json_decref(p->m[i].attrs);
    }
    free(p->m);
    memset(p, 0, sizeof *p);
}

/* Pulls until at least want messages arrived in total. */
static void pull_at_least(struct ctx *c, const char *sub, size_t want, struct pulled *p)
{
    int rounds = 0;

    while (p->n < want && rounds++ < 50) {
        int before = p->calls;

        assert_int_equal(gcp_pubsub_pull(c->ps, sub, 1000, on_pull, p), 0);
        assert_int_equal(fake_loop_wait(c->loop, &p->calls, before + 1, 150), 0);
        assert_int_equal(p->code, 0);
    }
    assert_true(p->n >= want);
}

static void ack_all(struct ctx *c, const char *sub, struct pulled *p, size_t from)
{
    const char **ids = calloc(p->n, sizeof *ids);
    struct done d = {0};
    size_t i;

    for (i = from; i < p->n; i++)
        ids[i - from] = p->m[i].ack_id;
    assert_int_equal(run_done(c, gcp_pubsub_ack(c->ps, sub, ids, p->n - from, on_psdone, &d), &d),
                     0);
    free(ids);
}

static void publish_one(struct ctx *c, const char *topic, const char *data, struct pubres *r)
{
    struct gcp_pubsub_message m = {data, strlen(data), NULL, 0};

    assert_int_equal(gcp_pubsub_publish(c->ps, topic, &m, 1, on_pub, r), 0);
    assert_int_equal(fake_loop_wait(c->loop, &r->calls, 1, 60), 0);
    assert_int_equal(r->code, 0);
}

/* ---- tests ---- */

static void test_publish_2000_pull_ack(void **state)
{
    struct ctx *c = *state;
    const char *topic = "projects/p/topics/bulk", *sub = "projects/p/subscriptions/bulk-sub";
    struct gcp_pubsub_message *m;
    char(*payload)[16];
    struct pubres pr = {0}, pr2 = {0};
    struct pulled p = {0}, p2 = {0};
    unsigned char *seen;
    size_t i;

    NEED_EMULATOR(state, tpubsub_why());
    create_topic_sub(c, topic, sub, 10);
    m = calloc(2000, sizeof *m);
    payload = calloc(2000, sizeof *payload);
    seen = calloc(2000, 1);
    for (i = 0; i < 2000; i++) {
        snprintf(payload[i], sizeof payload[i], "msg-%zu", i);
        m[i].data = payload[i];
        m[i].len = strlen(payload[i]);
    }
    assert_int_equal(gcp_pubsub_publish(c->ps, topic, m, 2000, on_pub, &pr), 0);
    assert_int_equal(fake_loop_wait(c->loop, &pr.calls, 1, 120), 0);
    assert_int_equal(pr.code, 0);
    assert_int_equal(pr.n, 2000);
    for (i = 1; i < 2000; i++)
        assert_string_not_equal(pr.ids[i], pr.ids[i - 1]);

    pull_at_least(c, sub, 2000, &p);
    for (i = 0; i < p.n; i++) {
        unsigned k;

        assert_int_equal(sscanf(p.m[i].data, "msg-%u", &k), 1);
        assert_true(k < 2000);
        seen[k] = 1;
    }
    for (i = 0; i < 2000; i++)
        assert_int_equal(seen[i], 1);
    ack_all(c, sub, &p, 0);

    /* Acked messages stay gone after the 10 s deadline has passed: the
     * next pull brings only a fresh sentinel. */
    fake_loop_sleep(c->loop, 12);
    publish_one(c, topic, "sentinel", &pr2);
    pull_at_least(c, sub, 1, &p2);
    for (i = 0; i < p2.n; i++)
        assert_string_equal(p2.m[i].data, "sentinel");
    pulled_free(&p);
    pulled_free(&p2);
    pubres_free(&pr);
    pubres_free(&pr2);
    free(m);
    free(payload);
    free(seen);
}

static void test_modack_extends_and_expiry_redelivers(void **state)
{
    struct ctx *c = *state;
    const char *topic = "projects/p/topics/lease", *sub = "projects/p/subscriptions/lease-sub";
    struct pubres a = {0}, b = {0};
    struct pulled p = {0}, p2 = {0};
    struct done d = {0};
    const char *keep_ack = NULL;
    size_t i;
    int saw_expired = 0;

    NEED_EMULATOR(state, tpubsub_why());
    create_topic_sub(c, topic, sub, 10);
    publish_one(c, topic, "extended", &a);
    publish_one(c, topic, "expires", &b);
    pull_at_least(c, sub, 2, &p);
    for (i = 0; i < p.n; i++)
        if (strcmp(p.m[i].data, "extended") == 0)
            keep_ack = p.m[i].ack_id;
    assert_non_null(keep_ack);
    assert_int_equal(
        run_done(c, gcp_pubsub_modack(c->ps, sub, &keep_ack, 1, 120, on_psdone, &d), &d), 0);
    /* Past the 10 s subscription deadline: "expires" comes back, the
     * extended one does not. */
    fake_loop_sleep(c->loop, 12);
    pull_at_least(c, sub, 1, &p2);
    for (i = 0; i < p2.n; i++) {
        assert_string_not_equal(p2.m[i].data, "extended");
        if (strcmp(p2.m[i].data, "expires") == 0) {
            saw_expired = 1;
            assert_string_equal(p2.m[i].id, b.ids[0]);
        }
    }
    assert_true(saw_expired);
    pulled_free(&p);
    pulled_free(&p2);
    pubres_free(&a);
    pubres_free(&b);
}

static void test_nack_redelivers(void **state)
{
    struct ctx *c = *state;
    const char *topic = "projects/p/topics/nack", *sub = "projects/p/subscriptions/nack-sub";
    struct pubres a = {0};
    struct pulled p = {0}, p2 = {0};
    struct done d = {0};
    const char *ack;

    NEED_EMULATOR(state, tpubsub_why());
    create_topic_sub(c, topic, sub, 60);
    publish_one(c, topic, "again", &a);
    pull_at_least(c, sub, 1, &p);
    ack = p.m[0].ack_id;
    assert_int_equal(run_done(c, gcp_pubsub_modack(c->ps, sub, &ack, 1, 0, on_psdone, &d), &d), 0);
    pull_at_least(c, sub, 1, &p2);
    assert_string_equal(p2.m[0].data, "again");
    assert_string_equal(p2.m[0].id, p.m[0].id);
    assert_string_not_equal(p2.m[0].ack_id, p.m[0].ack_id);
    ack_all(c, sub, &p2, 0);
    pulled_free(&p);
    pulled_free(&p2);
    pubres_free(&a);
}

static void test_attributes_round_trip(void **state)
{
    struct ctx *c = *state;
    const char *topic = "projects/p/topics/attrs", *sub = "projects/p/subscriptions/attrs-sub";
    static const unsigned char bin[] = {0, 1, 2, 255, 'x', 0, 10};
    struct gcp_pubsub_attr at[3] = {
        {"k", "v"}, {"track", "artist/album/track-001"}, {"uni", "caf\xc3\xa9 \xe2\x9c\x93"}};
    struct gcp_pubsub_message m[2] = {{bin, sizeof bin, at, 3}, {NULL, 0, at, 1}};
    struct pubres pr = {0};
    struct pulled p = {0};
    size_t i;
    int seen_bin = 0, seen_attr_only = 0;

    NEED_EMULATOR(state, tpubsub_why());
    create_topic_sub(c, topic, sub, 60);
    assert_int_equal(gcp_pubsub_publish(c->ps, topic, m, 2, on_pub, &pr), 0);
    assert_int_equal(fake_loop_wait(c->loop, &pr.calls, 1, 60), 0);
    assert_int_equal(pr.code, 0);
    pull_at_least(c, sub, 2, &p);
    for (i = 0; i < p.n; i++) {
        json_t *a = p.m[i].attrs;

        if (p.m[i].len == sizeof bin) {
            seen_bin = 1;
            assert_memory_equal(p.m[i].data, bin, sizeof bin);
            assert_int_equal(json_object_size(a), 3);
            assert_string_equal(json_string_value(json_object_get(a, "k")), "v");
            assert_string_equal(json_string_value(json_object_get(a, "track")),
                                "artist/album/track-001");
            assert_string_equal(json_string_value(json_object_get(a, "uni")),
                                "caf\xc3\xa9 \xe2\x9c\x93");
        } else {
            seen_attr_only = 1;
            assert_int_equal(p.m[i].len, 0);
            assert_int_equal(json_object_size(a), 1);
        }
    }
    assert_true(seen_bin && seen_attr_only);
    ack_all(c, sub, &p, 0);
    pulled_free(&p);
    pubres_free(&pr);
}

static void test_dead_letter_policy(void **state)
{
    struct ctx *c = *state;
    const char *topic = "projects/p/topics/dl-src", *dlq = "projects/p/topics/dl-dlq";
    const char *sub = "projects/p/subscriptions/dl-src-sub";
    const char *dsub = "projects/p/subscriptions/dl-dlq-sub";
    struct gcp_pubsub_sub_spec spec = {0};
    struct done d1 = {0}, d3 = {0}, d4 = {0}, d5 = {0};
    struct pubres pr = {0};
    struct pulled dp = {0};
    int round;

    NEED_EMULATOR(state, tpubsub_why());
    create_topic_sub(c, dlq, dsub, 60);
    assert_int_equal(run_done(c, gcp_pubsub_topic_create(c->ps, topic, on_psdone, &d1), &d1), 0);
    create_dl_sub(c, sub, topic, 30, dlq, 5);
    assert_int_equal(run_done(c, gcp_pubsub_subscription_get(c->ps, sub, on_psdone, &d3), &d3), 0);
    spec.topic = topic;
    spec.ack_deadline_s = 30;
    spec.dead_letter_topic = dlq;
    spec.max_delivery_attempts = 5;
    /* Creating it again is ALREADY_EXISTS, mapped and not retried. */
    assert_int_equal(
        run_done(c, gcp_pubsub_subscription_create(c->ps, sub, &spec, on_psdone, &d4), &d4),
        GCP_EEXISTS);
    assert_non_null(strstr(d4.msg, "409"));
    assert_non_null(strstr(d4.msg, "ALREADY_EXISTS"));
    /* A retry policy is accepted too. */
    {
        struct gcp_pubsub_sub_spec rp = {0};
        struct done d6 = {0};

        rp.topic = topic;
        rp.min_backoff_s = 1;
        rp.max_backoff_s = 5.5;
        assert_int_equal(
            run_done(c,
                     gcp_pubsub_subscription_create(c->ps, "projects/p/subscriptions/dl-rp-sub",
                                                    &rp, on_psdone, &d6),
                     &d6),
            0);
    }
    /* Out-of-range attempts are refused locally. */
    spec.max_delivery_attempts = 101;
    assert_int_equal(gcp_pubsub_subscription_create(c->ps, sub, &spec, on_psdone, &d5), GCP_EINVAL);

    /* The policy works: nacked 5 times, the message lands on the DLQ. */
    publish_one(c, topic, "poison", &pr);
    for (round = 0; round < 5; round++) {
        struct pulled p = {0};
        struct done dn = {0};
        const char *ack;

        pull_at_least(c, sub, 1, &p);
        assert_string_equal(p.m[0].data, "poison");
        assert_int_equal(p.m[0].attempt, round + 1);
        ack = p.m[0].ack_id;
        assert_int_equal(
            run_done(c, gcp_pubsub_modack(c->ps, sub, &ack, 1, 0, on_psdone, &dn), &dn), 0);
        pulled_free(&p);
    }
    /* The emulator forwards to the DLQ when it would deliver a 6th time,
     * so keep a pull open on the source while waiting on the DLQ. */
    {
        struct pulled src = {0};

        assert_int_equal(gcp_pubsub_pull(c->ps, sub, 10, on_pull, &src), 0);
        pull_at_least(c, dsub, 1, &dp);
        gcp_pubsub_cancel_pulls(c->ps);
        assert_int_equal(src.calls, 1);
        assert_int_equal(src.n, 0); /* never delivered a 6th time */
        pulled_free(&src);
    }
    assert_string_equal(dp.m[0].data, "poison");
    assert_non_null(json_object_get(dp.m[0].attrs, "CloudPubSubDeadLetterSourceSubscription"));
    ack_all(c, dsub, &dp, 0);
    pulled_free(&dp);
    pubres_free(&pr);
}

/* Copies of the borrowed fields of gcp_pubsub_subscription_info. */
struct subinfo {
    int calls, code, info_null;
    char name[128], topic[128], dlq[128];
    int ack, attempts;
};

static void on_subinfo(void *ud, const struct gcp_error *err,
                       const struct gcp_pubsub_subscription_info *info)
{
    struct subinfo *si = ud;

    si->calls++;
    si->code = err ? err->code : 0;
    si->info_null = info == NULL;
    if (!info)
        return;
    snprintf(si->name, sizeof si->name, "%s", info->name ? info->name : "(null)");
    snprintf(si->topic, sizeof si->topic, "%s", info->topic ? info->topic : "(null)");
    snprintf(si->dlq, sizeof si->dlq, "%s",
             info->dead_letter_topic ? info->dead_letter_topic : "(none)");
    si->ack = info->ack_deadline_s;
    si->attempts = info->max_delivery_attempts;
}

static int run_subinfo(struct ctx *c, const char *sub, struct subinfo *si)
{
    assert_int_equal(gcp_pubsub_subscription_info(c->ps, sub, on_subinfo, si), 0);
    assert_int_equal(fake_loop_wait(c->loop, &si->calls, 1, 120), 0);
    assert_int_equal(si->calls, 1);
    assert_int_equal(si->info_null, si->code != 0);
    return si->code;
}

static void test_subscription_info(void **state)
{
    struct ctx *c = *state;
    const char *topic = "projects/p/topics/si-src", *dlq = "projects/p/topics/si-dlq";
    const char *sub = "projects/p/subscriptions/si-sub";
    const char *plain = "projects/p/subscriptions/si-plain";
    struct done d1 = {0}, d3 = {0};
    struct subinfo a = {0}, b = {0}, m = {0};

    NEED_EMULATOR(state, tpubsub_why());
    create_topic_sub(c, topic, plain, 45);
    assert_int_equal(run_done(c, gcp_pubsub_topic_create(c->ps, dlq, on_psdone, &d1), &d1), 0);
    create_dl_sub(c, sub, topic, 20, dlq, 7);

    assert_int_equal(run_subinfo(c, sub, &a), 0);
    assert_string_equal(a.name, sub);
    assert_string_equal(a.topic, topic);
    assert_int_equal(a.ack, 20);
    assert_string_equal(a.dlq, dlq);
    assert_int_equal(a.attempts, 7);

    assert_int_equal(run_subinfo(c, plain, &b), 0);
    assert_string_equal(b.topic, topic);
    assert_int_equal(b.ack, 45);
    assert_string_equal(b.dlq, "(none)");
    assert_int_equal(b.attempts, 0);

    /* Missing: GCP_ENOTFOUND, like gcp_pubsub_subscription_get. */
    assert_int_equal(run_subinfo(c, "projects/p/subscriptions/si-nope", &m), GCP_ENOTFOUND);
    assert_int_equal(run_done(c,
                              gcp_pubsub_subscription_get(c->ps, "projects/p/subscriptions/si-nope",
                                                          on_psdone, &d3),
                              &d3),
                     GCP_ENOTFOUND);
    /* Bad arguments are refused before any request (no callback). */
    assert_int_equal(
        gcp_pubsub_subscription_info(c->ps, "projects/p/topics/si-src", on_subinfo, &m),
        GCP_EINVAL);
    assert_int_equal(gcp_pubsub_subscription_info(c->ps, sub, NULL, NULL), GCP_EINVAL);
    assert_int_equal(m.calls, 1);
}

static void test_errors_mapped(void **state)
{
    struct ctx *c = *state;
    struct gcp_pubsub_message m = {"x", 1, NULL, 0};
    struct pubres pr = {0};
    struct done d1 = {0}, d2 = {0}, d3 = {0};
    struct gcp_pubsub_sub_spec spec = {0};

    NEED_EMULATOR(state, tpubsub_why());
    assert_int_equal(gcp_pubsub_publish(c->ps, "projects/p/topics/nope", &m, 1, on_pub, &pr), 0);
    assert_int_equal(fake_loop_wait(c->loop, &pr.calls, 1, 60), 0);
    assert_int_equal(pr.code, GCP_ENOTFOUND);
    assert_int_equal(
        run_done(c, gcp_pubsub_topic_get(c->ps, "projects/p/topics/nope", on_psdone, &d1), &d1),
        GCP_ENOTFOUND);
    assert_non_null(strstr(d1.msg, "GET projects/p/topics/nope: HTTP 404 NOT_FOUND"));
    spec.topic = "projects/p/topics/nope";
    assert_int_equal(
        run_done(c,
                 gcp_pubsub_subscription_create(c->ps, "projects/p/subscriptions/nope-sub", &spec,
                                                on_psdone, &d2),
                 &d2),
        GCP_ENOTFOUND);
    /* The emulator checks names: 2-character topic. */
    assert_int_equal(
        run_done(c, gcp_pubsub_topic_create(c->ps, "projects/p/topics/t1", on_psdone, &d3), &d3),
        GCP_EINVAL);
    pubres_free(&pr);
}

static void test_cancel_pulls(void **state)
{
    struct ctx *c = *state;
    const char *topic = "projects/p/topics/idle", *sub = "projects/p/subscriptions/idle-sub";
    struct pulled p = {0};
    struct done d = {0};

    NEED_EMULATOR(state, tpubsub_why());
    create_topic_sub(c, topic, sub, 60);
    assert_int_equal(gcp_pubsub_pull(c->ps, sub, 10, on_pull, &p), 0);
    /* Acks keep going while the pull is canceled. */
    assert_int_equal(gcp_pubsub_topic_get(c->ps, topic, on_psdone, &d), 0);
    fake_loop_sleep(c->loop, 0.5);
    assert_int_equal(p.calls, 0); /* long poll on an empty subscription */
    gcp_pubsub_cancel_pulls(c->ps);
    assert_int_equal(p.calls, 1);
    assert_int_equal(p.code, GCP_ECANCELED);
    assert_int_equal(fake_loop_wait(c->loop, &d.calls, 1, 60), 0);
    assert_int_equal(d.code, 0);
    pulled_free(&p);
}

/* returnImmediately: an empty subscription answers at once (no long poll
 * to cancel), and a waiting message is handed over. */
static void test_pull_now(void **state)
{
    struct ctx *c = *state;
    const char *topic = "projects/p/topics/now", *sub = "projects/p/subscriptions/now-sub";
    struct pulled p = {0};
    struct pubres r = {0};
    int rounds = 0;

    NEED_EMULATOR(state, tpubsub_why());
    create_topic_sub(c, topic, sub, 60);
    assert_int_equal(gcp_pubsub_pull_now(c->ps, sub, 10, on_pull, &p), 0);
    assert_int_equal(fake_loop_wait(c->loop, &p.calls, 1, 20), 0); /* a long poll holds ~90 s */
    assert_int_equal(p.code, 0);
    assert_int_equal(p.n, 0);
    publish_one(c, topic, "now-1", &r);
    while (p.n == 0 && rounds++ < 100) {
        int before = p.calls;
        assert_int_equal(gcp_pubsub_pull_now(c->ps, sub, 10, on_pull, &p), 0);
        assert_int_equal(fake_loop_wait(c->loop, &p.calls, before + 1, 20), 0);
        if (p.n == 0)
            fake_loop_sleep(c->loop, 0.1);
    }
    assert_int_equal(p.n, 1);
    assert_string_equal(p.m[0].data, "now-1");
    ack_all(c, sub, &p, 0);
    pulled_free(&p);
    pubres_free(&r);
}

static int group_setup(void **state)
{
    (void)state;
    emu_state = tpubsub_start(&psemu);
    if (emu_state == 0)
        setenv("PUBSUB_EMULATOR_HOST", psemu.host, 1);
    else
        fprintf(stderr, "pubsub emulator: %s\n", tpubsub_why());
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    tpubsub_stop(&psemu);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish_2000_pull_ack, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_modack_extends_and_expiry_redelivers, setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_nack_redelivers, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_attributes_round_trip, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_dead_letter_policy, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_subscription_info, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_errors_mapped, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_pulls, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_pull_now, setup, ctx_teardown),
    };
    return run_suite("gcp_pubsub", tests, sizeof tests / sizeof tests[0], group_setup,
                     group_teardown);
}
