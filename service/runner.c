/* runner.c: `wiggly run`: one libev loop around one event source
 * (source.h).
 *
 * The runner owns what every source needs: the loop, the gcp/ clients,
 * storage, the bucket checks (roots.c), the worker pool, the pipeline,
 * metrics, the in-flight list and flow control (ask the source for work
 * only while fewer than max_in_flight items are in flight and no bucket is
 * missing), and the finish hook that turns the pipeline's disposition into
 * the source's ack, nack (with backoff, up to runtime.max_attempts) or dead
 * letter. For a source that can stop intake it also owns SIGTERM/SIGINT
 * (docs/gcp.md "Termination on Kubernetes"): readiness false, stop intake,
 * let work in flight finish until shutdown_grace_s, then nack the rest
 * (delay 0), wait for the source's requests, exit 0. A source that runs out
 * of work (a file of IDs) ends the run once nothing is in flight.
 * Loop thread only (the pool's workers run inside the pipeline). */
#include "service/source.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include <ev.h>

#include "config/config.h"
#include "service/cloud.h"
#include "service/log.h"
#include "service/metrics.h"
#include "service/pipeline.h"
#include "service/pool.h"
#include "service/processor.h"
#include "service/roots.h"
#include "service/storage.h"

/* The sources, by the config's events (`--ids` picks the file). A new
 * source is one file and one line here. */
static const struct svc_source *const sources[] = {
    [CFG_EVENTS_PUBSUB] = &svc_source_pubsub,
    [CFG_EVENTS_FILE] = &svc_source_file,
};

struct svc_runner {
    struct svc_source_env env; /* lent to the source */
    const struct svc_source *src;
    void *state; /* the source's */
    struct svc_cloud cloud;
    struct svc_storage *st;
    struct svc_roots *roots; /* no work while a bucket is missing */
    struct svc_pipeline *pl;
    struct svc_item *head; /* in flight (in the pipeline) */
    size_t n_in_flight;
    int draining;
    int feeding;  /* re-entrancy guard: items can finish inside pull */
    int starting; /* waiting for the first bucket check (roots_recheck_s 0) */
    int roots_answered;
    int proc_ok; /* the processor is ready (svc_pipeline_status) */
    int fatal;   /* the processor failed: the run ends, exit 1 */
    struct svc_batch_summary sum;
    ev_timer tick, poll, grace, hard_stop;
    ev_signal sigterm, sigint;
};

double svc__backoff_s(double base_s, double cap_s, int attempt)
{
    double d = base_s;
    for (int i = 1; i < attempt && d < cap_s; i++)
        d *= 2;
    return d < cap_s ? d : cap_s;
}

struct svc_log_fields svc__runner_fields(const struct svc_runner *r, const struct svc_item *it,
                                         const char *outcome)
{
    struct svc_log_fields f = {.job = r->env.cfg->name, .outcome = outcome, .duration_ms = -1};
    if (it) {
        f.element = it->element[0]                ? it->element
                    : r->src->name_of && r->state ? r->src->name_of(r->state, it)
                                                  : NULL;
        f.duration_ms = (ev_now(r->env.loop) - it->received) * 1e3;
    }
    return f;
}

int svc__runner_draining(const struct svc_runner *r)
{
    return r->draining;
}

struct svc_item *svc__runner_in_flight(const struct svc_runner *r, size_t *n)
{
    if (n)
        *n = r->n_in_flight;
    return r->head;
}

struct svc_batch_summary *svc__runner_summary(struct svc_runner *r)
{
    return &r->sum;
}

/* ---- in-flight list ---- */

static void list_add(struct svc_runner *r, struct svc_item *it)
{
    it->prev = NULL;
    it->next = r->head;
    if (r->head)
        r->head->prev = it;
    r->head = it;
    r->n_in_flight++;
    svc_metrics_in_flight(r->env.metrics, (int64_t)r->n_in_flight);
}

static void list_del(struct svc_runner *r, struct svc_item *it)
{
    if (it->prev)
        it->prev->next = it->next;
    else
        r->head = it->next;
    if (it->next)
        it->next->prev = it->prev;
    it->prev = it->next = NULL;
    r->n_in_flight--;
    svc_metrics_in_flight(r->env.metrics, (int64_t)r->n_in_flight);
}

/* ---- flow control and the end of a run ---- */

static int run_over(const struct svc_runner *r)
{
    if (r->n_in_flight)
        return 0;
    if (r->draining)
        return !r->src->idle || r->src->idle(r->state);
    return r->src->exhausted && r->src->exhausted(r->state) && svc_storage_pending(r->st) == 0;
}

void svc__runner_maybe_exit(struct svc_runner *r)
{
    if (run_over(r))
        ev_break(r->env.loop, EVBREAK_ONE);
}

void svc__runner_feed(struct svc_runner *r)
{
    /* An item can finish inside pull (a bad ID) and feed again from the
     * finish hook; the outer loop takes the freed slot instead, so a file
     * of a million bad IDs does not recurse a million deep. */
    if (r->feeding || r->draining || !r->pl)
        return;
    r->feeding = 1;
    while (r->n_in_flight < (size_t)r->env.max_in_flight && svc_roots_ok(r->roots) && r->proc_ok)
        if (r->src->pull(r->state, r->env.max_in_flight - (int)r->n_in_flight) <= 0)
            break;
    r->feeding = 0;
}

void svc__runner_deliver(struct svc_runner *r, struct svc_item **items, size_t n)
{
    size_t n_taken = 0;
    for (size_t i = 0; i < n; i++) {
        struct svc_item *it = items[i];
        it->runner = r;
        it->received = ev_now(r->env.loop);
        if (r->draining) { /* raced with shutdown: give it back */
            r->src->nack(r->state, it, 0);
            continue;
        }
        list_add(r, it);
        items[n_taken++] = it;
    }
    /* Take the lease at once (a subscription's own deadline may be short),
     * then start them, after the lease request copied what it needs: an
     * item may finish synchronously. */
    if (n_taken && r->src->extend)
        r->src->extend(r->state, items, n_taken);
    for (size_t k = 0; k < n_taken; k++)
        svc_pipeline_start(r->pl, items[k]);
}

/* ---- the pipeline's hooks ---- */

static void hook_publish(void *ctx, const char *topic, const void *data, size_t len,
                         svc_publish_done_cb cb, void *ud)
{
    struct svc_runner *r = ctx;
    r->src->publish(r->state, topic, data, len, cb, ud);
}

static void count(struct svc_runner *r, const struct svc_item *it)
{
    switch (it->outcome) {
    case SVC_OUT_PROCESSED:
        r->sum.processed++;
        r->sum.audio_seconds += it->seconds;
        break;
    case SVC_OUT_SKIPPED:
        r->sum.skipped++;
        break;
    case SVC_OUT_MISSING:
        r->sum.missing++;
        break;
    case SVC_OUT_PINGED:
        r->sum.pinged++;
        break;
    case SVC_OUT_DROPPED:
        r->sum.dropped++;
        break;
    default:
        break;
    }
}

static void retry(struct svc_runner *r, struct svc_item *it, struct svc_log_fields *f)
{
    const struct svc_source *src = r->src;
    const struct cfg_job *cfg = r->env.cfg;
    int attempt = src->attempt ? src->attempt(r->state, it) : it->attempt;
    const char *why = it->reason ? it->reason : "transient";
    f->outcome = "retried";
    f->error = it->err.msg;
    if (it->err.code == SVC_ECANCELED) { /* shutdown: hand it to another pod now */
        svc_metrics_outcome(r->env.metrics, SVC_OUT_RETRIED);
        svc_log(SVC_NOTICE, f, "nacked at shutdown");
        src->nack(r->state, it, 0);
    } else if (it->err.code == SVC_ENOBUCKET && src->roots_recheck_s > 0) {
        /* The job's configuration, not the message, is at fault: it waits
         * without using up its attempts, and the runner takes no work until
         * the bucket is there again. */
        svc_metrics_outcome(r->env.metrics, SVC_OUT_RETRIED);
        svc_log(SVC_ERROR, f, "a bucket is missing; nacked (redelivery in %d s)",
                (int)src->roots_recheck_s);
        src->nack(r->state, it, src->roots_recheck_s);
        svc_roots_check(r->roots);
    } else if (attempt >= cfg->runtime.max_attempts) {
        src->dead_letter(r->state, it, attempt);
    } else {
        double d = svc__backoff_s(src->backoff_base_s, src->backoff_cap_s, attempt);
        svc_metrics_outcome(r->env.metrics, SVC_OUT_RETRIED);
        if (src->redelivers)
            svc_log(SVC_WARNING, f, "attempt %d failed (%s); redelivery in %d s", attempt, why,
                    (int)d);
        else
            svc_log(SVC_WARNING, f, "attempt %d failed (%s), retrying", attempt, why);
        src->nack(r->state, it, d);
    }
}

/* The pipeline decided; the source carries it out (and takes the item). */
static void hook_finish(void *ctx, struct svc_item *it)
{
    struct svc_runner *r = ctx;
    struct svc_log_fields f = svc__runner_fields(r, it, NULL);
    list_del(r, it);
    switch (it->disp) {
    case SVC_DISP_ACK:
        f.outcome = svc_outcome_name(it->outcome);
        if (it->err.msg[0]) /* a missing input says which */
            f.error = it->err.msg;
        svc_metrics_outcome(r->env.metrics, it->outcome);
        count(r, it);
        svc_log(it->outcome == SVC_OUT_MISSING ? SVC_WARNING : SVC_INFO, &f, "%s", f.outcome);
        r->src->ack(r->state, it);
        break;
    case SVC_DISP_RETRY:
        retry(r, it, &f);
        break;
    case SVC_DISP_DEAD:
        r->src->dead_letter(r->state, it, 0);
        break;
    }
    svc__runner_feed(r);
    svc__runner_maybe_exit(r);
}

/* ---- timers, bucket checks ---- */

static int ready(const struct svc_runner *r)
{
    return !r->draining && svc_cloud_ready(&r->cloud) && svc_roots_ok(r->roots) && r->proc_ok;
}

static void on_hard_stop(struct ev_loop *loop, ev_timer *w, int revents);

/* The processor's readiness (a transform's children said hello); when it
 * cannot start at all, the run stops: in-flight work is nacked, exit 1. */
static void check_processor(struct svc_runner *r)
{
    char why[512];
    int st = svc_pipeline_status(r->pl, why, sizeof(why));
    r->proc_ok = st == SVC_PROC_READY;
    if (st != SVC_PROC_FAILED || r->fatal)
        return;
    r->fatal = 1;
    fprintf(stderr, "wiggly run: the transform cannot start: %s\n", why);
    svc_log(SVC_ERROR, SVC_LOG_FIELDS_NONE, "the transform cannot start, stopping: %s", why);
    r->draining = 1;
    svc_metrics_set_ready(r->env.metrics, 0);
    if (r->src->stop)
        r->src->stop(r->state);
    while (r->head)
        svc_pipeline_cancel(r->pl, r->head);
    ev_timer_init(&r->hard_stop, on_hard_stop, 5, 0);
    r->hard_stop.data = r;
    ev_timer_start(r->env.loop, &r->hard_stop);
    svc__runner_maybe_exit(r);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct svc_runner *r = w->data;
    (void)loop;
    (void)revents;
    check_processor(r);
    svc_metrics_set_ready(r->env.metrics, ready(r));
    svc_metrics_queue_depth(r->env.metrics, (int64_t)svc_pool_queued(r->env.pool));
    svc_metrics_workers_busy(r->env.metrics, svc_pool_busy(r->env.pool));
    svc__runner_feed(r); /* e.g. once the first token arrived */
}

/* Storage may still be busy when the last item finished. */
static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    svc__runner_maybe_exit(w->data);
}

static void on_roots(void *ud, int ok)
{
    struct svc_runner *r = ud;
    r->roots_answered = 1;
    if (r->starting) {
        ev_break(r->env.loop, EVBREAK_ONE);
        return;
    }
    svc_metrics_set_ready(r->env.metrics, ok && ready(r));
    svc__runner_feed(r);
}

/* A missing input directory or bucket would make every track "missing":
 * say so once and stop before taking any. */
static int check_roots_once(struct svc_runner *r)
{
    r->starting = 1;
    svc_roots_check(r->roots);
    if (!r->roots_answered)
        ev_run(r->env.loop, 0);
    r->starting = 0;
    if (!svc_roots_ok(r->roots)) {
        fprintf(stderr,
                "wiggly run: %s does not exist (`wiggly verify -c CONFIG --create` creates "
                "it)\n",
                svc_roots_missing(r->roots));
        return 2;
    }
    return 0;
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
    struct svc_runner *r = w->data;
    (void)revents;
    svc_log(SVC_NOTICE, SVC_LOG_FIELDS_NONE,
            "shutdown grace period over: nacking %zu unfinished messages", r->n_in_flight);
    while (r->head)
        svc_pipeline_cancel(r->pl, r->head); /* the finish hook unlinks it and nacks */
    ev_timer_init(&r->hard_stop, on_hard_stop, 5, 0);
    r->hard_stop.data = r;
    ev_timer_start(loop, &r->hard_stop);
    svc__runner_maybe_exit(r);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct svc_runner *r = w->data;
    double grace = r->env.cfg->runtime.shutdown_grace_s;
    (void)revents;
    if (r->draining)
        return;
    r->draining = 1;
    svc_metrics_set_ready(r->env.metrics, 0);
    svc_log(SVC_NOTICE, SVC_LOG_FIELDS_NONE, "signal %d: draining %zu messages (grace %.0f s)",
            w->signum, r->n_in_flight, grace);
    r->src->stop(r->state);
    /* Leave a margin for the nacks and acks to reach the server. */
    grace = grace > 10 ? grace - 5 : grace * 0.8;
    ev_timer_init(&r->grace, on_grace, grace, 0);
    r->grace.data = r;
    ev_timer_start(loop, &r->grace);
    svc__runner_maybe_exit(r);
}

static void start_watchers(struct svc_runner *r)
{
    struct ev_loop *loop = r->env.loop;
    ev_timer_init(&r->tick, on_tick, 0, 1);
    r->tick.data = r;
    ev_timer_start(loop, &r->tick);
    if (r->src->exhausted) {
        ev_timer_init(&r->poll, on_poll, 0.2, 0.2);
        r->poll.data = r;
        ev_timer_start(loop, &r->poll);
    }
    if (r->src->stop) {
        ev_signal_init(&r->sigterm, on_signal, SIGTERM);
        r->sigterm.data = r;
        ev_signal_start(loop, &r->sigterm);
        ev_signal_init(&r->sigint, on_signal, SIGINT);
        r->sigint.data = r;
        ev_signal_start(loop, &r->sigint);
    }
}

static void stop_watchers(struct svc_runner *r)
{
    struct ev_loop *loop = r->env.loop;
    ev_signal_stop(loop, &r->sigterm);
    ev_signal_stop(loop, &r->sigint);
    ev_timer_stop(loop, &r->tick);
    ev_timer_stop(loop, &r->poll);
    ev_timer_stop(loop, &r->grace);
    ev_timer_stop(loop, &r->hard_stop);
}

/* ---- setup and teardown ---- */

/* The clients, storage, pool, bucket checks and pipeline. 0 or an exit
 * code, said on stderr. */
static int setup(struct svc_runner *r)
{
    const struct cfg_job *cfg = r->env.cfg;
    struct ev_loop *loop = r->env.loop;
    struct svc_error err = {0};
    int rc;
    if (svc_cloud_init(&r->cloud, loop, r->src->wants_pubsub, svc_cloud_needs_gcs(cfg), &err) !=
        0) {
        fprintf(stderr, "wiggly run: %s\n", err.msg);
        return 1;
    }
    r->st = svc_storage_create(loop, r->cloud.gcs);
    /* A transform's requests wait in a worker thread: enough threads for
     * every request its children can hold, besides the DSP. */
    int threads = cfg->runtime.workers;
    if (cfg->transform.enabled && threads < cfg->transform.workers * cfg->transform.max_in_flight)
        threads = cfg->transform.workers * cfg->transform.max_in_flight;
    r->env.pool = svc_pool_create(loop, threads);
    r->roots = svc_roots_create(loop, r->st, cfg, r->src->roots_recheck_s, on_roots, r);
    if (!r->st || !r->env.pool || !r->roots) {
        fprintf(stderr, "wiggly run: cannot start the worker pool\n");
        return 1;
    }
    if (r->src->roots_recheck_s <= 0 && (rc = check_roots_once(r)) != 0)
        return rc;
    r->env.max_in_flight = svc_pool_max_in_flight(r->env.pool, cfg->runtime.max_in_flight);
    {
        struct svc_pipeline_opts po = {
            .cfg = cfg,
            .loop = loop,
            .storage = r->st,
            .pool = r->env.pool,
            .metrics = r->env.metrics,
            .force = r->env.opts->force,
            .hooks = {.publish = r->src->publish ? hook_publish : NULL,
                      .finish = hook_finish,
                      .ctx = r},
        };
        r->pl = svc_pipeline_create(&po, &err);
        if (!r->pl) {
            fprintf(stderr, "wiggly run: %s\n", err.msg);
            return 2;
        }
    }
    r->proc_ok = svc_pipeline_status(r->pl, NULL, 0) == SVC_PROC_READY;
    return 0;
}

static void teardown(struct svc_runner *r)
{
    if (r->env.loop)
        stop_watchers(r);
    while (r->head && r->pl) /* only on a hard stop */
        svc_pipeline_cancel(r->pl, r->head);
    svc_pool_destroy(r->env.pool); /* runs done() of abandoned jobs while the pipeline lives */
    svc_cloud_cleanup(&r->cloud);  /* callbacks of cancelled requests fire here */
    r->src->destroy(r->state);
    svc_pipeline_destroy(r->pl);
    svc_storage_destroy(r->st);
    svc_roots_destroy(r->roots);
    svc_metrics_destroy(r->env.metrics);
    if (r->env.loop)
        ev_loop_destroy(r->env.loop);
    free(r);
}

int svc__run(const struct svc_source *src, const struct svc_run_opts *o,
             struct svc_batch_summary *summary)
{
    struct svc_runner *r = calloc(1, sizeof(*r));
    int rc;
    if (!r) {
        fprintf(stderr, "wiggly run: out of memory\n");
        return 1;
    }
    r->src = src;
    r->env.runner = r;
    r->env.cfg = o->cfg;
    r->env.opts = o;
    r->env.cloud = &r->cloud;
    if ((rc = src->create(&r->env, &r->state)) != 0) {
        free(r);
        return rc;
    }
    r->env.loop = ev_loop_new(EVFLAG_AUTO);
    r->env.metrics = svc_metrics_create();
    if (!r->env.loop || !r->env.metrics) {
        fprintf(stderr, "wiggly run: out of memory\n");
        rc = 1;
    } else if ((rc = setup(r)) == 0 && (rc = src->start(r->state)) == 0) {
        start_watchers(r);
        if (src->roots_recheck_s > 0)
            svc_roots_check(r->roots); /* work starts once every bucket is known to be there */
        svc__runner_feed(r);
        if (!run_over(r))
            ev_run(r->env.loop, 0);
        rc = src->end(r->state);
        if (r->fatal)
            rc = 1;
        if (summary)
            *summary = r->sum;
    }
    teardown(r);
    return rc;
}

int svc_run(const struct svc_run_opts *o, struct svc_batch_summary *summary)
{
    return svc__run(sources[o->ids ? CFG_EVENTS_FILE : o->cfg->events.kind], o, summary);
}

int svc_batch_run(const struct svc_run_opts *o, struct svc_batch_summary *summary)
{
    return svc__run(&svc_source_file, o, summary);
}

int svc_stream_run(const struct svc_run_opts *o)
{
    return svc__run(&svc_source_pubsub, o, NULL);
}
