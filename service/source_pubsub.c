/* source_pubsub.c: the Pub/Sub subscription as an event source (source.h):
 * `wiggly run` on events.subscription, the service in a pod.
 *
 * One long-poll pull at a time (the runner asks only while it has room),
 * lease extension (lease.c: modack every ack_deadline_s / 2, and at once
 * after each pull), acks, nacks as modacks with a delay, dead-letter
 * publishes, the pipeline's downstream publishes, its own delivery count
 * for subscriptions without a dead-letter policy, and the health and
 * metrics server. A message is acked only after the pipeline finished it
 * (output and downstream messages written) or after it was published to the
 * dead-letter topic; if that publish fails it is nacked, so nothing is
 * lost. The runner drains on SIGTERM: stop() cancels the pull; the run ends
 * once no ack, nack or publish is outstanding (idle()).
 * Loop thread only (the HTTP server reads the metrics' atomics). */
#include "service/source.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "config/config.h"
#include "gcp/pubsub.h"
#include "service/cloud.h"
#include "service/httpd.h"
#include "service/lease.h"
#include "service/log.h"
#include "service/metrics.h"
#include "service/pipeline.h"
#include "service/pool.h"

#define ATTEMPT_SLOTS 4096

/* Largest original payload a dead-letter message carries (base64 makes it
 * 4/3 larger; the publish request limit is 10 MB). */
#define DEAD_PAYLOAD_MAX (4u << 20)

/* Redelivery delay of a failed attempt: 10 s doubling to 600 s. */
#define REDELIVERY_BASE_S 10
#define REDELIVERY_CAP_S  600

struct attempt_slot {
    char *message_id;
    int n;
};

struct pubsub {
    const struct svc_source_env *env;
    struct svc_runner *r;
    const struct cfg_job *cfg;
    struct gcp_pubsub *ps;
    struct svc_httpd *httpd;
    struct svc_lease *lease;
    int pulling;
    int pull_failures;
    size_t pending_reqs; /* acks, nacks, dead-letter publishes */
    ev_timer pull_retry;
    struct attempt_slot attempts[ATTEMPT_SLOTS];
    size_t attempt_next;
};

static int redelivery_s(int attempt)
{
    return (int)svc__backoff_s(REDELIVERY_BASE_S, REDELIVERY_CAP_S, attempt);
}

/* ---- own delivery count, for subscriptions without a dead-letter policy
 * (deliveryAttempt 0) ---- */

static int attempt_bump(struct pubsub *s, const char *message_id)
{
    struct attempt_slot *free_slot;
    if (!message_id)
        return 1;
    for (size_t i = 0; i < ATTEMPT_SLOTS; i++)
        if (s->attempts[i].message_id && !strcmp(s->attempts[i].message_id, message_id))
            return ++s->attempts[i].n;
    free_slot = &s->attempts[s->attempt_next];
    s->attempt_next = (s->attempt_next + 1) % ATTEMPT_SLOTS;
    free(free_slot->message_id);
    free_slot->message_id = strdup(message_id);
    free_slot->n = 1;
    return 1;
}

/* Failed attempts of this message seen so far (0 if none). */
static int attempt_seen(const struct pubsub *s, const char *message_id)
{
    if (!message_id)
        return 0;
    for (size_t i = 0; i < ATTEMPT_SLOTS; i++)
        if (s->attempts[i].message_id && !strcmp(s->attempts[i].message_id, message_id))
            return s->attempts[i].n;
    return 0;
}

static void attempt_forget(struct pubsub *s, const char *message_id)
{
    if (!message_id)
        return;
    for (size_t i = 0; i < ATTEMPT_SLOTS; i++)
        if (s->attempts[i].message_id && !strcmp(s->attempts[i].message_id, message_id)) {
            free(s->attempts[i].message_id);
            s->attempts[i].message_id = NULL;
            return;
        }
}

static int ps_attempt(void *state, struct svc_item *it)
{
    int own = attempt_bump(state, it->message_id);
    return it->attempt > own ? it->attempt : own;
}

/* ---- acks and nacks ---- */

struct req {
    struct pubsub *s;
    struct svc_item *it; /* held until the request completes; may be NULL */
    const char *what;
};

static void on_req_done(void *ud, const struct gcp_error *err)
{
    struct req *r = ud;
    struct pubsub *s = r->s;
    if (err && err->code != GCP_ECANCELED) {
        struct svc_log_fields f = svc__runner_fields(s->r, r->it, NULL);
        f.error = err->msg[0] ? err->msg : gcp_strerror(err->code);
        svc_log(SVC_WARNING, &f, "%s failed (the message will be redelivered)", r->what);
    }
    s->pending_reqs--;
    svc_item_release(r->it);
    free(r);
    svc__runner_maybe_exit(s->r);
}

/* Ack (deadline < 0) or modack it. Steals the caller's item reference. */
static void settle(struct pubsub *s, struct svc_item *it, int deadline)
{
    struct req *r = calloc(1, sizeof(*r));
    const char *ids[1] = {it->ack_id};
    int rc;
    if (!r) {
        svc_item_release(it);
        return;
    }
    r->s = s;
    r->it = it;
    r->what = deadline < 0 ? "ack" : deadline == 0 ? "nack" : "modack";
    s->pending_reqs++;
    if (deadline < 0)
        rc = gcp_pubsub_ack(s->ps, s->cfg->events.subscription, ids, 1, on_req_done, r);
    else
        rc =
            gcp_pubsub_modack(s->ps, s->cfg->events.subscription, ids, 1, deadline, on_req_done, r);
    if (rc != 0) {
        struct gcp_error e = {.code = rc};
        snprintf(e.msg, sizeof(e.msg), "%s", gcp_strerror(rc));
        on_req_done(r, &e);
    }
}

static void ps_ack(void *state, struct svc_item *it)
{
    struct pubsub *s = state;
    attempt_forget(s, it->message_id);
    settle(s, it, -1);
}

static void ps_nack(void *state, struct svc_item *it, double delay_s)
{
    settle(state, it, (int)delay_s);
}

/* ---- dead letter ---- */

struct dead {
    struct pubsub *s;
    struct svc_item *it;
};

static void on_dead_published(void *ud, const struct gcp_error *err, const char *const *ids,
                              size_t n)
{
    struct dead *d = ud;
    struct pubsub *s = d->s;
    struct svc_item *it = d->it;
    struct svc_log_fields f = svc__runner_fields(s->r, it, "dead_lettered");
    (void)ids;
    (void)n;
    s->pending_reqs--;
    free(d);
    if (err) {
        int delay = redelivery_s(attempt_bump(s, it->message_id));
        f.outcome = "retried";
        f.error = err->msg[0] ? err->msg : gcp_strerror(err->code);
        svc_log(SVC_ERROR, &f,
                "dead-letter publish failed; nacking so the message is not lost (redelivery in "
                "%d s)",
                delay);
        svc_metrics_outcome(s->env->metrics, SVC_OUT_RETRIED);
        settle(s, it, delay);
    } else {
        f.error = it->err.msg;
        svc_log(SVC_ERROR, &f, "dead-lettered (%s) to %s", it->reason ? it->reason : "error",
                s->cfg->dead_letter_topic);
        svc_metrics_outcome(s->env->metrics, SVC_OUT_DEAD_LETTERED);
        ps_ack(s, it);
    }
    svc__runner_maybe_exit(s->r);
}

/* Pub/Sub's limit of attributes per message (docs/messages.md "Dead
 * letters"). */
#define ATTRS_MAX 100

/* The attributes a dead letter adds; an original attribute of the same name
 * is not copied (ours say why it is here). `wiggly deadletters --replay`
 * strips exactly these again. */
static const char *const dead_keys[] = {"wiggly_job",           "wiggly_reason",
                                        "wiggly_error",         "wiggly_element",
                                        "wiggly_payload_bytes", "wiggly_attributes_dropped"};

static int is_dead_key(const char *k)
{
    for (size_t i = 0; i < sizeof(dead_keys) / sizeof(dead_keys[0]); i++)
        if (!strcmp(k, dead_keys[i]))
            return 1;
    return 0;
}

/* Steals the item reference. */
static void dead_letter(struct pubsub *s, struct svc_item *it, const char *reason)
{
    struct svc_log_fields f = svc__runner_fields(s->r, it, "dead_lettered");
    struct dead *d;
    char orig_len[24], dropped[24], error[sizeof(it->err.msg)], element[sizeof(it->element)];
    struct gcp_pubsub_attr *attrs;
    struct gcp_pubsub_message m = {.data = it->data, .len = it->len};
    size_t ours = 3, keep = 0, n_orig = 0;

    f.error = it->err.msg;
    if (!s->cfg->dead_letter_topic) {
        svc_log(SVC_ERROR, &f, "permanent failure (%s), no dead_letter_topic: acked and dropped",
                reason ? reason : "error");
        svc_metrics_outcome(s->env->metrics, SVC_OUT_DEAD_LETTERED);
        ps_ack(s, it);
        return;
    }
    attrs = calloc(ATTRS_MAX, sizeof(*attrs));
    d = calloc(1, sizeof(*d));
    if (!attrs || !d) {
        free(attrs);
        free(d);
        settle(s, it, 0);
        return;
    }
    attrs[0] = (struct gcp_pubsub_attr){"wiggly_job", s->cfg->name};
    attrs[1] = (struct gcp_pubsub_attr){"wiggly_reason", reason ? reason : "error"};
    attrs[2] = (struct gcp_pubsub_attr){
        "wiggly_error",
        it->err.msg[0] ? svc_utf8_copy(error, sizeof(error), it->err.msg) : "unknown error"};
    if (it->element[0])
        attrs[ours++] = (struct gcp_pubsub_attr){
            "wiggly_element", svc_utf8_copy(element, sizeof(element), it->element)};
    /* A payload near Pub/Sub's request limit no longer fits once base64 and
     * our attributes are added: keep its head and say how long it was,
     * rather than fail the dead-letter publish on every redelivery. */
    if (m.len > DEAD_PAYLOAD_MAX) {
        snprintf(orig_len, sizeof(orig_len), "%zu", it->len);
        attrs[ours++] = (struct gcp_pubsub_attr){"wiggly_payload_bytes", orig_len};
        m.len = DEAD_PAYLOAD_MAX;
    }
    /* The message's own attributes, so that a replay can send the original
     * again; within the limit of 100, saying how many did not fit (such a
     * dead letter is not replayed: it is no longer the original). */
    for (size_t i = 0; i < it->n_attrs; i++)
        n_orig += !is_dead_key(it->attrs[2 * i]);
    if (ours + n_orig > ATTRS_MAX) {
        snprintf(dropped, sizeof(dropped), "%zu", ours + 1 + n_orig - ATTRS_MAX);
        attrs[ours++] = (struct gcp_pubsub_attr){"wiggly_attributes_dropped", dropped};
    }
    for (size_t i = 0; i < it->n_attrs && ours + keep < ATTRS_MAX; i++)
        if (!is_dead_key(it->attrs[2 * i]))
            attrs[ours + keep++] = (struct gcp_pubsub_attr){it->attrs[2 * i], it->attrs[2 * i + 1]};
    /* Empty data is fine: a message with attributes needs none, and a
     * replay must send the payload as it was. */
    m.attrs = attrs;
    m.n_attrs = ours + keep;
    d->s = s;
    d->it = it;
    it->reason = reason;
    s->pending_reqs++;
    if (gcp_pubsub_publish(s->ps, s->cfg->dead_letter_topic, &m, 1, on_dead_published, d) != 0) {
        struct gcp_error e = {.code = GCP_EINVAL};
        snprintf(e.msg, sizeof(e.msg), "cannot start the dead-letter publish");
        on_dead_published(d, &e, NULL, 0);
    }
    free(attrs); /* the client copied them */
}

static void ps_dead_letter(void *state, struct svc_item *it, int attempts)
{
    struct pubsub *s = state;
    if (attempts > 0) { /* the attempts ran out: say so in wiggly_error */
        char prev[sizeof(it->err.msg)];
        snprintf(prev, sizeof(prev), "%s", it->err.msg);
        svc_error_set(&it->err, it->err.code, "attempt %d of %d failed (%.20s): %s", attempts,
                      s->cfg->runtime.max_attempts, it->reason ? it->reason : "transient", prev);
        dead_letter(s, it, svc_reason_name(SVC_R_MAX_ATTEMPTS));
    } else {
        dead_letter(s, it, it->reason);
    }
}

/* ---- the pipeline's downstream publishes ---- */

struct pub {
    svc_publish_done_cb cb;
    void *ud;
};

static void on_published(void *ud, const struct gcp_error *err, const char *const *ids, size_t n)
{
    struct pub *p = ud;
    struct svc_error e = {0};
    (void)ids;
    (void)n;
    if (err)
        svc_error_from_gcp(&e, err);
    p->cb(p->ud, err ? &e : NULL);
    free(p);
}

static void ps_publish(void *state, const char *topic, const void *data, size_t len,
                       svc_publish_done_cb cb, void *ud)
{
    struct pubsub *s = state;
    struct pub *p = malloc(sizeof(*p));
    struct gcp_pubsub_message m = {.data = data, .len = len};
    if (!p) {
        struct svc_error e = {SVC_ENOMEM, "out of memory"};
        cb(ud, &e);
        return;
    }
    p->cb = cb;
    p->ud = ud;
    if (gcp_pubsub_publish(s->ps, topic, &m, 1, on_published, p) != 0) {
        struct svc_error e = {SVC_EREMOTE, ""};
        snprintf(e.msg, sizeof(e.msg), "cannot publish to %s", topic);
        free(p);
        cb(ud, &e);
    }
}

/* ---- pull ---- */

/* The message's attributes into the item, for its dead letter; -1 when out
 * of memory (the caller drops the item: redelivered after the deadline). */
static int copy_attrs(struct svc_item *it, const struct gcp_pubsub_received *m)
{
    if (!m->n_attrs)
        return 0;
    if (!(it->attrs = calloc(2 * m->n_attrs, sizeof(*it->attrs))))
        return -1;
    for (; it->n_attrs < m->n_attrs; it->n_attrs++) {
        char **kv = &it->attrs[2 * it->n_attrs];
        kv[0] = strdup(m->attrs[it->n_attrs].key);
        kv[1] = strdup(m->attrs[it->n_attrs].value);
        if (!kv[0] || !kv[1]) {
            it->n_attrs++; /* svc_item_release frees this pair too */
            return -1;
        }
    }
    return 0;
}

static void on_pull(void *ud, const struct gcp_error *err, const struct gcp_pubsub_received *msgs,
                    size_t n)
{
    struct pubsub *s = ud;
    struct svc_item **items = NULL;
    size_t n_items = 0, n_in_flight;
    s->pulling = 0;
    if (err) {
        if (err->code != GCP_ECANCELED && !svc__runner_draining(s->r)) {
            double d = svc__backoff_s(1, 32, s->pull_failures + 1); /* 1 s doubling to 32 s */
            s->pull_failures++;
            svc_log(
                SVC_WARNING,
                &(struct svc_log_fields){.job = s->cfg->name,
                                         .error = err->msg[0] ? err->msg : gcp_strerror(err->code),
                                         .duration_ms = -1},
                "pull failed; retrying in %.0f s", d);
            ev_timer_set(&s->pull_retry, d, 0);
            ev_timer_start(s->env->loop, &s->pull_retry);
        }
        svc__runner_maybe_exit(s->r);
        return;
    }
    s->pull_failures = 0;
    svc__runner_in_flight(s->r, &n_in_flight);
    svc_log(SVC_DEBUG, SVC_LOG_FIELDS_NONE, "pulled %zu messages (%zu in flight)", n, n_in_flight);
    if (n)
        items = calloc(n, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        const struct gcp_pubsub_received *m = &msgs[i];
        struct svc_item *it = svc_item_create(m->data, m->data_len);
        if (!it || !(it->ack_id = strdup(m->ack_id)) || copy_attrs(it, m) != 0) {
            svc_item_release(it);
            continue; /* redelivered after the deadline */
        }
        it->message_id = m->message_id ? strdup(m->message_id) : NULL;
        it->attempt = m->delivery_attempt;
        /* Without a dead-letter policy Pub/Sub gives no delivery attempt:
         * this one follows the failures we counted, so a processor (a
         * transform's request) sees 2 on the first redelivery, not 1 again. */
        if (it->attempt <= 0 && attempt_seen(s, it->message_id) > 0)
            it->attempt = attempt_seen(s, it->message_id) + 1;
        if (items)
            items[n_items++] = it;
        else
            svc__runner_deliver(s->r, &it, 1);
    }
    if (n_items)
        svc__runner_deliver(s->r, items, n_items);
    free(items);
    svc__runner_feed(s->r);
}

static int ps_pull(void *state, int n)
{
    struct pubsub *s = state;
    if (s->pulling || ev_is_active(&s->pull_retry) || !svc_cloud_ready(s->env->cloud))
        return 0;
    if (n > 1000)
        n = 1000;
    if (gcp_pubsub_pull(s->ps, s->cfg->events.subscription, n, on_pull, s) == 0)
        s->pulling = 1;
    else {
        ev_timer_set(&s->pull_retry, 5, 0);
        ev_timer_start(s->env->loop, &s->pull_retry);
    }
    return 0;
}

static void on_pull_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pubsub *s = w->data;
    (void)loop;
    (void)revents;
    svc__runner_feed(s->r);
}

static void ps_stop(void *state)
{
    struct pubsub *s = state;
    ev_timer_stop(s->env->loop, &s->pull_retry);
    gcp_pubsub_cancel_pulls(s->ps);
}

static int ps_idle(void *state)
{
    struct pubsub *s = state;
    return s->pending_reqs == 0 && !s->pulling;
}

/* ---- leases ---- */

static size_t lease_collect(void *ctx, const char **ids, size_t cap)
{
    struct pubsub *s = ctx;
    size_t n = 0;
    for (struct svc_item *it = svc__runner_in_flight(s->r, NULL); it && n < cap; it = it->next)
        ids[n++] = it->ack_id;
    return n;
}

static void ps_extend(void *state, struct svc_item *const *items, size_t n)
{
    struct pubsub *s = state;
    const char **ids = calloc(n, sizeof(*ids));
    if (!ids)
        return; /* the next round of lease.c extends them */
    for (size_t i = 0; i < n; i++)
        ids[i] = items[i]->ack_id;
    svc_lease_extend_now(s->lease, ids, n);
    free(ids);
}

/* ---- lifecycle ---- */

static int ps_create(const struct svc_source_env *env, void **state)
{
    struct pubsub *s;
    if (!env->cfg->events.subscription) {
        fprintf(stderr, "wiggly run: the config has no events.subscription\n");
        return 2;
    }
    if (!(s = calloc(1, sizeof(*s))))
        return 1;
    s->env = env;
    s->r = env->runner;
    s->cfg = env->cfg;
    *state = s;
    return 0;
}

static int ps_start(void *state)
{
    struct pubsub *s = state;
    const struct cfg_job *cfg = s->cfg;
    const char *listen = s->env->opts->listen ? s->env->opts->listen : cfg->listen;
    struct svc_error err = {0};
    s->ps = s->env->cloud->pubsub;
    s->lease = svc_lease_create(s->env->loop, s->ps, cfg->events.subscription,
                                cfg->runtime.ack_deadline_s, lease_collect, s);
    if (!s->lease)
        return 1;
    if (listen && listen[0]) {
        s->httpd = svc_httpd_create(listen, s->env->metrics, &err);
        if (!s->httpd) {
            fprintf(stderr, "wiggly run: %s\n", err.msg);
            return 1;
        }
    }
    ev_timer_init(&s->pull_retry, on_pull_retry, 1, 0);
    s->pull_retry.data = s;
    signal(SIGPIPE, SIG_IGN);
    svc_log(SVC_NOTICE, &(struct svc_log_fields){.job = cfg->name, .duration_ms = -1},
            "serving %s: %d workers, %d in flight, health/metrics on %s (port %d)",
            cfg->events.subscription, svc_pool_threads(s->env->pool), s->env->max_in_flight,
            listen && listen[0] ? listen : "(off)", svc_httpd_port(s->httpd));
    return 0;
}

static int ps_end(void *state)
{
    (void)state;
    svc_log(SVC_NOTICE, SVC_LOG_FIELDS_NONE, "stopped");
    return 0;
}

static void ps_destroy(void *state)
{
    struct pubsub *s = state;
    if (!s)
        return;
    if (s->env->loop)
        ev_timer_stop(s->env->loop, &s->pull_retry);
    svc_httpd_destroy(s->httpd);
    svc_lease_destroy(s->lease);
    for (size_t i = 0; i < ATTEMPT_SLOTS; i++)
        free(s->attempts[i].message_id);
    free(s);
}

const struct svc_source svc_source_pubsub = {
    .name = "pubsub",
    .wants_pubsub = 1,
    .backoff_base_s = REDELIVERY_BASE_S,
    .backoff_cap_s = REDELIVERY_CAP_S,
    .redelivers = 1,
    .roots_recheck_s = 30, /* and a message that met a missing bucket waits as long */
    .create = ps_create,
    .start = ps_start,
    .end = ps_end,
    .destroy = ps_destroy,
    .pull = ps_pull,
    .stop = ps_stop,
    .extend = ps_extend,
    .ack = ps_ack,
    .nack = ps_nack,
    .dead_letter = ps_dead_letter,
    .publish = ps_publish,
    .attempt = ps_attempt,
    .idle = ps_idle,
};
