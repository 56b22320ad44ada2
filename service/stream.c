/* stream.c: `wiggly run` on a Pub/Sub subscription: the service loop.
 *
 * One libev loop owns everything: the pull (one long poll at a time, only
 * while in-flight < max_in_flight), the in-flight list, lease extension
 * (lease.c: modack every ack_deadline_s / 2), acks, nacks with backoff,
 * dead-letter publishes, the readiness flag and SIGTERM/SIGINT. DSP runs on
 * the pool inside the pipeline. A message is acked only after the pipeline
 * finished it (output and downstream messages written) or after it was
 * published to the dead-letter topic; if that publish fails it is nacked,
 * so nothing is lost.
 * Shutdown (docs/gcp.md "Termination on Kubernetes"): readiness false,
 * cancel the pull, keep extending leases, let in-flight work finish until
 * shutdown_grace_s, then nack the rest (modack 0), flush the outstanding
 * requests, exit 0. */
#include "service/run.h"

#include <math.h>
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
#include "service/roots.h"
#include "service/storage.h"

#define ATTEMPT_SLOTS 4096

struct attempt_slot {
    char *message_id;
    int n;
};

/* Largest original payload a dead-letter message carries (base64 makes it
 * 4/3 larger; the publish request limit is 10 MB). */
#define SVC_DEAD_PAYLOAD_MAX (4u << 20)

/* A message that found its bucket missing comes back after this long; the
 * bucket check repeats at the same pace. */
#define SVC_NOBUCKET_DELAY_S 30

struct stream {
    struct ev_loop *loop;
    const struct cfg_job *cfg;
    struct svc_cloud cloud;
    struct svc_storage *st;
    struct svc_pool *pool;
    struct svc_metrics *metrics;
    struct svc_httpd *httpd;
    struct svc_pipeline *pl;
    struct svc_lease *lease;
    struct svc_roots *roots; /* no work while a bucket is missing */
    struct svc_item *head;   /* in flight (in the pipeline) */
    size_t n_in_flight;
    int max_in_flight;
    int pulling;
    int draining;
    int pull_failures;
    size_t pending_reqs; /* acks, nacks, dead-letter publishes */
    ev_timer pull_retry, tick, grace, hard_stop;
    ev_signal sigterm, sigint;
    struct attempt_slot attempts[ATTEMPT_SLOTS];
    size_t attempt_next;
    int exit_code;
};

static void maybe_pull(struct stream *s);

static struct svc_log_fields fields_of(struct stream *s, struct svc_item *it, const char *outcome)
{
    struct svc_log_fields f = {.job = s->cfg->name,
                               .element = it && it->element[0] ? it->element : NULL,
                               .outcome = outcome,
                               .duration_ms = it ? (ev_now(s->loop) - it->received) * 1e3 : -1};
    return f;
}

/* ---- in-flight list ---- */

static void list_add(struct stream *s, struct svc_item *it)
{
    it->prev = NULL;
    it->next = s->head;
    if (s->head)
        s->head->prev = it;
    s->head = it;
    s->n_in_flight++;
    svc_metrics_in_flight(s->metrics, (int64_t)s->n_in_flight);
}

static void list_del(struct stream *s, struct svc_item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        s->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    it->prev = it->next = NULL;
    s->n_in_flight--;
    svc_metrics_in_flight(s->metrics, (int64_t)s->n_in_flight);
}

/* ---- own delivery count, for subscriptions without a dead-letter policy
 * (deliveryAttempt 0) ---- */

static int attempt_bump(struct stream *s, const char *message_id)
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

static void attempt_forget(struct stream *s, const char *message_id)
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

/* ---- exit ---- */

static void maybe_exit(struct stream *s)
{
    if (s->draining && s->n_in_flight == 0 && s->pending_reqs == 0 && !s->pulling)
        ev_break(s->loop, EVBREAK_ONE);
}

/* Redelivery delay for a failed attempt: 10 s doubling to 600 s. */
static int backoff_s(int attempt)
{
    double d = 10.0 * pow(2.0, attempt > 1 ? attempt - 1 : 0);
    return d > 600 ? 600 : (int)d;
}

/* ---- acks and nacks ---- */

struct req {
    struct stream *s;
    struct svc_item *it; /* held until the request completes; may be NULL */
    const char *what;
};

static void on_req_done(void *ud, const struct gcp_error *err)
{
    struct req *r = ud;
    struct stream *s = r->s;
    if (err && err->code != GCP_ECANCELED) {
        struct svc_log_fields f = fields_of(s, r->it, NULL);
        f.error = err->msg[0] ? err->msg : gcp_strerror(err->code);
        svc_log(SVC_WARNING, &f, "%s failed (the message will be redelivered)", r->what);
    }
    s->pending_reqs--;
    svc_item_release(r->it);
    free(r);
    maybe_exit(s);
}

/* Ack (deadline < 0) or modack it. Steals the caller's item reference. */
static void settle(struct stream *s, struct svc_item *it, int deadline)
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
        rc = gcp_pubsub_ack(s->cloud.pubsub, s->cfg->events.subscription, ids, 1, on_req_done, r);
    else
        rc = gcp_pubsub_modack(s->cloud.pubsub, s->cfg->events.subscription, ids, 1, deadline,
                               on_req_done, r);
    if (rc != 0) {
        struct gcp_error e = {.code = rc};
        snprintf(e.msg, sizeof(e.msg), "%s", gcp_strerror(rc));
        on_req_done(r, &e);
    }
}

/* ---- dead letter ---- */

struct dead {
    struct stream *s;
    struct svc_item *it;
};

static void on_dead_published(void *ud, const struct gcp_error *err, const char *const *ids,
                              size_t n)
{
    struct dead *d = ud;
    struct stream *s = d->s;
    struct svc_item *it = d->it;
    struct svc_log_fields f = fields_of(s, it, "dead_lettered");
    (void)ids;
    (void)n;
    s->pending_reqs--;
    free(d);
    if (err) {
        f.outcome = "retried";
        f.error = err->msg[0] ? err->msg : gcp_strerror(err->code);
        int delay = backoff_s(attempt_bump(s, it->message_id));
        svc_log(SVC_ERROR, &f,
                "dead-letter publish failed; nacking so the message is not lost (redelivery in "
                "%d s)",
                delay);
        svc_metrics_outcome(s->metrics, SVC_OUT_RETRIED);
        settle(s, it, delay);
    } else {
        f.error = it->err.msg;
        svc_log(SVC_ERROR, &f, "dead-lettered (%s) to %s", it->reason ? it->reason : "error",
                s->cfg->dead_letter_topic);
        svc_metrics_outcome(s->metrics, SVC_OUT_DEAD_LETTERED);
        attempt_forget(s, it->message_id);
        settle(s, it, -1);
    }
    maybe_exit(s);
}

/* Steals the item reference. */
static void dead_letter(struct stream *s, struct svc_item *it, const char *reason)
{
    struct svc_log_fields f = fields_of(s, it, "dead_lettered");
    struct dead *d;
    char orig_len[24], error[sizeof(it->err.msg)], element[sizeof(it->element)];
    struct gcp_pubsub_attr attrs[5] = {
        {"wiggly_job", s->cfg->name},
        {"wiggly_reason", reason ? reason : "error"},
        {"wiggly_error",
         it->err.msg[0] ? svc_utf8_copy(error, sizeof(error), it->err.msg) : "unknown error"},
    };
    struct gcp_pubsub_message m = {.data = it->data, .len = it->len, .attrs = attrs, .n_attrs = 3};
    if (it->element[0])
        attrs[m.n_attrs++] = (struct gcp_pubsub_attr){
            "wiggly_element", svc_utf8_copy(element, sizeof(element), it->element)};
    /* A payload near Pub/Sub's request limit no longer fits once base64 and
     * our attributes are added: keep its head and say how long it was,
     * rather than fail the dead-letter publish on every redelivery. */
    if (m.len > SVC_DEAD_PAYLOAD_MAX) {
        snprintf(orig_len, sizeof(orig_len), "%zu", it->len);
        attrs[m.n_attrs++] = (struct gcp_pubsub_attr){"wiggly_payload_bytes", orig_len};
        m.len = SVC_DEAD_PAYLOAD_MAX;
    }
    f.error = it->err.msg;
    if (!s->cfg->dead_letter_topic) {
        svc_log(SVC_ERROR, &f, "permanent failure (%s), no dead_letter_topic: acked and dropped",
                reason ? reason : "error");
        svc_metrics_outcome(s->metrics, SVC_OUT_DEAD_LETTERED);
        attempt_forget(s, it->message_id);
        settle(s, it, -1);
        return;
    }
    if (m.len == 0) { /* Pub/Sub refuses empty data; attributes carry it all */
        m.data = " ";
        m.len = 1;
    }
    d = calloc(1, sizeof(*d));
    if (!d) {
        settle(s, it, 0);
        return;
    }
    d->s = s;
    d->it = it;
    it->reason = reason;
    s->pending_reqs++;
    if (gcp_pubsub_publish(s->cloud.pubsub, s->cfg->dead_letter_topic, &m, 1, on_dead_published,
                           d) != 0) {
        struct gcp_error e = {.code = GCP_EINVAL};
        snprintf(e.msg, sizeof(e.msg), "cannot start the dead-letter publish");
        on_dead_published(d, &e, NULL, 0);
    }
}

/* ---- the pipeline's hooks ---- */

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

static void hook_publish(void *ctx, const char *topic, const void *data, size_t len,
                         svc_publish_done_cb cb, void *ud)
{
    struct stream *s = ctx;
    struct pub *p = malloc(sizeof(*p));
    struct gcp_pubsub_message m = {.data = data, .len = len};
    if (!p) {
        struct svc_error e = {SVC_ENOMEM, "out of memory"};
        cb(ud, &e);
        return;
    }
    p->cb = cb;
    p->ud = ud;
    if (gcp_pubsub_publish(s->cloud.pubsub, topic, &m, 1, on_published, p) != 0) {
        struct svc_error e = {SVC_EREMOTE, ""};
        snprintf(e.msg, sizeof(e.msg), "cannot publish to %s", topic);
        free(p);
        cb(ud, &e);
    }
}

static void hook_finish(void *ctx, struct svc_item *it)
{
    struct stream *s = ctx;
    struct svc_log_fields f;
    list_del(s, it);
    switch (it->disp) {
    case SVC_DISP_ACK:
        f = fields_of(s, it, svc_outcome_name(it->outcome));
        if (it->err.msg[0])
            f.error = it->err.msg;
        svc_metrics_outcome(s->metrics, it->outcome);
        svc_log(it->outcome == SVC_OUT_MISSING ? SVC_WARNING : SVC_INFO, &f, "%s",
                svc_outcome_name(it->outcome));
        attempt_forget(s, it->message_id);
        settle(s, it, -1);
        break;
    case SVC_DISP_RETRY: {
        int own = attempt_bump(s, it->message_id);
        int attempt = it->attempt > own ? it->attempt : own;
        f = fields_of(s, it, "retried");
        f.error = it->err.msg;
        if (it->err.code == SVC_ECANCELED) { /* shutdown: hand it to another pod now */
            svc_metrics_outcome(s->metrics, SVC_OUT_RETRIED);
            svc_log(SVC_NOTICE, &f, "nacked at shutdown");
            settle(s, it, 0);
        } else if (it->err.code == SVC_ENOBUCKET) {
            /* The job's configuration, not the message, is at fault: it
             * waits without using up its attempts, and this pod takes no
             * work until the bucket is there again. */
            svc_metrics_outcome(s->metrics, SVC_OUT_RETRIED);
            svc_log(SVC_ERROR, &f, "a bucket is missing; nacked (redelivery in %d s)",
                    SVC_NOBUCKET_DELAY_S);
            settle(s, it, SVC_NOBUCKET_DELAY_S);
            svc_roots_check(s->roots);
        } else if (attempt >= s->cfg->runtime.max_attempts) {
            char prev[sizeof(it->err.msg)];
            snprintf(prev, sizeof(prev), "%s", it->err.msg);
            svc_error_set(&it->err, it->err.code, "attempt %d of %d failed (%.20s): %s", attempt,
                          s->cfg->runtime.max_attempts, it->reason ? it->reason : "transient",
                          prev);
            dead_letter(s, it, svc_reason_name(SVC_R_MAX_ATTEMPTS));
        } else {
            int d = backoff_s(attempt);
            svc_metrics_outcome(s->metrics, SVC_OUT_RETRIED);
            svc_log(SVC_WARNING, &f, "attempt %d failed (%s); redelivery in %d s", attempt,
                    it->reason ? it->reason : "transient", d);
            settle(s, it, d);
        }
        break;
    }
    case SVC_DISP_DEAD:
        dead_letter(s, it, it->reason);
        break;
    }
    maybe_pull(s);
    maybe_exit(s);
}

/* ---- pull ---- */

static void on_pull(void *ud, const struct gcp_error *err, const struct gcp_pubsub_received *msgs,
                    size_t n)
{
    struct stream *s = ud;
    const char **fresh = NULL;
    size_t n_fresh = 0;
    s->pulling = 0;
    if (err) {
        if (err->code != GCP_ECANCELED && !s->draining) {
            double d = 1.0;
            for (int i = 0; i < s->pull_failures && d < 30; i++)
                d *= 2;
            s->pull_failures++;
            svc_log(
                SVC_WARNING,
                &(struct svc_log_fields){.job = s->cfg->name,
                                         .error = err->msg[0] ? err->msg : gcp_strerror(err->code),
                                         .duration_ms = -1},
                "pull failed; retrying in %.0f s", d);
            ev_timer_set(&s->pull_retry, d, 0);
            ev_timer_start(s->loop, &s->pull_retry);
        }
        maybe_exit(s);
        return;
    }
    s->pull_failures = 0;
    svc_log(SVC_DEBUG, SVC_LOG_FIELDS_NONE, "pulled %zu messages (%zu in flight)", n,
            s->n_in_flight);
    if (n)
        fresh = calloc(n, sizeof(*fresh));
    for (size_t i = 0; i < n; i++) {
        const struct gcp_pubsub_received *m = &msgs[i];
        struct svc_item *it = svc_item_create(m->data, m->data_len);
        if (!it || !(it->ack_id = strdup(m->ack_id))) {
            svc_item_release(it);
            continue; /* redelivered after the deadline */
        }
        it->message_id = m->message_id ? strdup(m->message_id) : NULL;
        it->attempt = m->delivery_attempt;
        it->runner = s;
        it->received = ev_now(s->loop);
        if (s->draining) { /* raced with shutdown: give it back */
            settle(s, it, 0);
            continue;
        }
        if (fresh)
            fresh[n_fresh++] = it->ack_id;
        list_add(s, it);
    }
    /* Take the lease at once: the subscription's own deadline may be short. */
    if (n_fresh)
        svc_lease_extend_now(s->lease, fresh, n_fresh);
    free(fresh);
    /* Start them after the lease request copied the ack ids (an item may
     * finish synchronously). */
    for (struct svc_item *it = s->head, *next; it; it = next) {
        next = it->next;
        if (!svc_item_started(it))
            svc_pipeline_start(s->pl, it);
    }
    maybe_pull(s);
}

static void maybe_pull(struct stream *s)
{
    int want;
    if (s->draining || s->pulling || ev_is_active(&s->pull_retry) ||
        s->n_in_flight >= (size_t)s->max_in_flight || !svc_cloud_ready(&s->cloud) ||
        !svc_roots_ok(s->roots))
        return;
    want = s->max_in_flight - (int)s->n_in_flight;
    if (want > 1000)
        want = 1000;
    if (gcp_pubsub_pull(s->cloud.pubsub, s->cfg->events.subscription, want, on_pull, s) == 0)
        s->pulling = 1;
    else {
        ev_timer_set(&s->pull_retry, 5, 0);
        ev_timer_start(s->loop, &s->pull_retry);
    }
}

static void on_pull_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    maybe_pull(w->data);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct stream *s = w->data;
    (void)loop;
    (void)revents;
    svc_metrics_set_ready(s->metrics,
                          !s->draining && svc_cloud_ready(&s->cloud) && svc_roots_ok(s->roots));
    svc_metrics_queue_depth(s->metrics, (int64_t)svc_pool_queued(s->pool));
    svc_metrics_workers_busy(s->metrics, svc_pool_busy(s->pool));
    maybe_pull(s); /* e.g. once the first token arrived */
}

static void on_roots(void *ud, int ok)
{
    struct stream *s = ud;
    svc_metrics_set_ready(s->metrics, ok && !s->draining && svc_cloud_ready(&s->cloud));
    maybe_pull(s);
}

/* ---- shutdown ---- */

static void on_hard_stop(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    svc_log(SVC_WARNING, SVC_LOG_FIELDS_NONE, "shutdown: requests still pending; exiting");
    ev_break(loop, EVBREAK_ONE);
}

static void on_grace(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct stream *s = w->data;
    (void)revents;
    svc_log(SVC_NOTICE, SVC_LOG_FIELDS_NONE,
            "shutdown grace period over: nacking %zu unfinished messages", s->n_in_flight);
    while (s->head)
        svc_pipeline_cancel(s->pl, s->head); /* finish() unlinks it and nacks */
    ev_timer_init(&s->hard_stop, on_hard_stop, 5, 0);
    s->hard_stop.data = s;
    ev_timer_start(loop, &s->hard_stop);
    maybe_exit(s);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct stream *s = w->data;
    double grace = s->cfg->runtime.shutdown_grace_s;
    (void)revents;
    if (s->draining)
        return;
    s->draining = 1;
    svc_metrics_set_ready(s->metrics, 0);
    svc_log(SVC_NOTICE, SVC_LOG_FIELDS_NONE, "signal %d: draining %zu messages (grace %.0f s)",
            w->signum, s->n_in_flight, grace);
    ev_timer_stop(loop, &s->pull_retry);
    gcp_pubsub_cancel_pulls(s->cloud.pubsub);
    /* Leave a margin for the nacks and acks to reach the server. */
    grace = grace > 10 ? grace - 5 : grace * 0.8;
    ev_timer_init(&s->grace, on_grace, grace, 0);
    s->grace.data = s;
    ev_timer_start(loop, &s->grace);
    maybe_exit(s);
}

/* ---- lease source ---- */

static size_t lease_collect(void *ctx, const char **ids, size_t cap)
{
    struct stream *s = ctx;
    size_t n = 0;
    for (struct svc_item *it = s->head; it && n < cap; it = it->next)
        ids[n++] = it->ack_id;
    return n;
}

int svc_stream_run(const struct svc_run_opts *o)
{
    const struct cfg_job *cfg = o->cfg;
    struct stream *s = calloc(1, sizeof(*s));
    struct svc_error err = {0};
    const char *listen = o->listen ? o->listen : cfg->listen;
    int rc = 1;

    if (!s)
        return 1;
    if (!cfg->events.subscription) {
        fprintf(stderr, "wiggly run: the config has no events.subscription\n");
        free(s);
        return 2;
    }
    s->cfg = cfg;
    s->loop = ev_loop_new(EVFLAG_AUTO);
    s->metrics = svc_metrics_create();
    if (!s->loop || !s->metrics)
        goto out;
    if (svc_cloud_init(&s->cloud, s->loop, 1, svc_cloud_needs_gcs(cfg), &err) != 0) {
        fprintf(stderr, "wiggly run: %s\n", err.msg);
        goto out;
    }
    s->st = svc_storage_create(s->loop, s->cloud.gcs);
    s->pool = svc_pool_create(s->loop, cfg->runtime.workers);
    s->roots = svc_roots_create(s->loop, s->st, cfg, SVC_NOBUCKET_DELAY_S, on_roots, s);
    if (!s->st || !s->pool || !s->roots) {
        fprintf(stderr, "wiggly run: cannot start the worker pool\n");
        goto out;
    }
    s->max_in_flight = svc_pool_max_in_flight(s->pool, cfg->runtime.max_in_flight);
    {
        struct svc_pipeline_opts po = {
            .cfg = cfg,
            .loop = s->loop,
            .storage = s->st,
            .pool = s->pool,
            .metrics = s->metrics,
            .force = o->force,
            .hooks = {.publish = hook_publish, .finish = hook_finish, .ctx = s},
        };
        s->pl = svc_pipeline_create(&po, &err);
        if (!s->pl) {
            fprintf(stderr, "wiggly run: %s\n", err.msg);
            rc = 2;
            goto out;
        }
    }
    s->lease = svc_lease_create(s->loop, s->cloud.pubsub, cfg->events.subscription,
                                cfg->runtime.ack_deadline_s, lease_collect, s);
    if (!s->lease)
        goto out;
    if (listen && listen[0]) {
        s->httpd = svc_httpd_create(listen, s->metrics, &err);
        if (!s->httpd) {
            fprintf(stderr, "wiggly run: %s\n", err.msg);
            goto out;
        }
    }
    ev_timer_init(&s->pull_retry, on_pull_retry, 1, 0);
    s->pull_retry.data = s;
    ev_timer_init(&s->tick, on_tick, 0, 1);
    s->tick.data = s;
    ev_timer_start(s->loop, &s->tick);
    ev_signal_init(&s->sigterm, on_signal, SIGTERM);
    s->sigterm.data = s;
    ev_signal_start(s->loop, &s->sigterm);
    ev_signal_init(&s->sigint, on_signal, SIGINT);
    s->sigint.data = s;
    ev_signal_start(s->loop, &s->sigint);
    signal(SIGPIPE, SIG_IGN);
    svc_log(SVC_NOTICE, &(struct svc_log_fields){.job = cfg->name, .duration_ms = -1},
            "serving %s: %d workers, %d in flight, health/metrics on %s (port %d)",
            cfg->events.subscription, svc_pool_threads(s->pool), s->max_in_flight,
            listen && listen[0] ? listen : "(off)", svc_httpd_port(s->httpd));
    svc_roots_check(s->roots); /* pulls once every bucket is known to be there */
    ev_run(s->loop, 0);
    svc_log(SVC_NOTICE, SVC_LOG_FIELDS_NONE, "stopped");
    rc = 0;
out:
    if (s->loop) {
        ev_signal_stop(s->loop, &s->sigterm);
        ev_signal_stop(s->loop, &s->sigint);
        ev_timer_stop(s->loop, &s->tick);
        ev_timer_stop(s->loop, &s->pull_retry);
        ev_timer_stop(s->loop, &s->grace);
        ev_timer_stop(s->loop, &s->hard_stop);
    }
    svc_httpd_destroy(s->httpd);
    while (s->head && s->pl) /* only on a hard stop */
        svc_pipeline_cancel(s->pl, s->head);
    svc_pool_destroy(s->pool);
    svc_cloud_cleanup(&s->cloud); /* callbacks of cancelled requests fire here */
    svc_lease_destroy(s->lease);
    svc_pipeline_destroy(s->pl);
    svc_storage_destroy(s->st);
    svc_roots_destroy(s->roots);
    svc_metrics_destroy(s->metrics);
    for (size_t i = 0; i < ATTEMPT_SLOTS; i++)
        free(s->attempts[i].message_id);
    if (s->loop)
        ev_loop_destroy(s->loop);
    free(s);
    return rc;
}
