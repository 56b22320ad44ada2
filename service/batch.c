/* batch.c: `wiggly run` on a file (or stdin) of IDs: the local default.
 * The same pipeline as the Pub/Sub loop, with file:// or gs:// storage; no
 * Pub/Sub, so pass-throughs publish nothing and a missing input whose parent
 * would be triggered counts as missing with that reason. Transient failures
 * are retried in-process with backoff up to runtime.max_attempts.
 * Loop thread only (plus the pool's workers inside the pipeline). */
#include "service/run.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "config/config.h"
#include "service/cloud.h"
#include "service/log.h"
#include "service/message.h"
#include "service/metrics.h"
#include "service/pipeline.h"
#include "service/pool.h"
#include "service/roots.h"
#include "service/storage.h"

#define MAX_FAIL_LINES 20

struct failure {
    char *element;
    char *reason;
    char *error;
};

struct retry {
    ev_timer timer;
    struct batch *b;
    size_t index;
    int attempt;
    struct retry *prev, *next;
};

struct batch {
    struct ev_loop *loop;
    const struct cfg_job *cfg;
    struct svc_pipeline *pl;
    struct svc_metrics *metrics;
    struct svc_storage *st;
    char **ids;
    size_t n_ids, next, in_flight, done;
    int max_in_flight;
    struct retry *retries;
    struct svc_batch_summary sum;
    struct failure *fails;
    size_t n_fails, cap_fails;
    double t0;
    int tty;
    int feeding; /* re-entrancy guard: items can finish inside start_one */
    ev_timer progress, poll;
};

static struct batch *progress_owner; /* for the log line clearer */

static void clear_progress(FILE *out)
{
    if (progress_owner && progress_owner->tty && out == stderr)
        fputs("\r\033[K", stderr);
}

static void draw_progress(struct batch *b)
{
    double el = ev_time() - b->t0;
    double rate = el > 0 ? (double)b->done / el : 0;
    double left = rate > 0 ? (double)(b->n_ids - b->done) / rate : 0;
    fprintf(stderr, "\r\033[K[%zu/%zu] %.1f tracks/s, %zu failed, ETA %02d:%02d", b->done, b->n_ids,
            rate, (size_t)b->sum.failed, (int)(left / 60), (int)left % 60);
    fflush(stderr);
}

static void on_progress(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    draw_progress(w->data);
}

static char *utf8_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    return d ? (char *)svc_utf8_copy(d, n, s) : NULL;
}

static void add_failure(struct batch *b, size_t index, const char *element, const char *reason,
                        const char *error)
{
    b->sum.failed++;
    if (b->n_fails == b->cap_fails) {
        size_t cap = b->cap_fails ? b->cap_fails * 2 : 16;
        struct failure *f = realloc(b->fails, cap * sizeof(*f));
        if (!f)
            return;
        b->fails = f;
        b->cap_fails = cap;
    }
    /* The element and the error may have been cut inside a character. */
    b->fails[b->n_fails].element = utf8_dup(element && element[0] ? element : b->ids[index]);
    b->fails[b->n_fails].reason = strdup(reason ? reason : "failed");
    b->fails[b->n_fails].error = utf8_dup(error ? error : "");
    b->n_fails++;
}

static void feed(struct batch *b);

static void check_done(struct batch *b)
{
    if (b->done == b->n_ids && !b->retries && svc_storage_pending(b->st) == 0)
        ev_break(b->loop, EVBREAK_ONE);
}

static void start_one(struct batch *b, size_t index, int attempt)
{
    const char *id = b->ids[index];
    struct svc_item *it = svc_item_create(id, strlen(id));
    if (!it) {
        add_failure(b, index, id, "internal", "out of memory");
        b->done++;
        return;
    }
    it->index = index;
    it->attempt = attempt;
    it->runner = b;
    it->received = ev_now(b->loop);
    b->in_flight++;
    svc_pipeline_start(b->pl, it);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct retry *r = w->data;
    struct batch *b = r->b;
    (void)loop;
    (void)revents;
    if (r->prev)
        r->prev->next = r->next;
    else
        b->retries = r->next;
    if (r->next)
        r->next->prev = r->prev;
    start_one(b, r->index, r->attempt);
    free(r);
}

static void schedule_retry(struct batch *b, size_t index, int attempt)
{
    struct retry *r = calloc(1, sizeof(*r));
    double delay = 0.5;
    if (!r) {
        add_failure(b, index, NULL, "internal", "out of memory");
        b->done++;
        return;
    }
    for (int i = 2; i < attempt && delay < 30; i++)
        delay *= 2;
    r->b = b;
    r->index = index;
    r->attempt = attempt;
    r->next = b->retries;
    if (r->next)
        r->next->prev = r;
    b->retries = r;
    ev_timer_init(&r->timer, on_retry, delay, 0);
    r->timer.data = r;
    ev_timer_start(b->loop, &r->timer);
}

static void on_finish(void *ctx, struct svc_item *it)
{
    struct batch *b = ctx;
    const struct cfg_job *cfg = b->cfg;
    struct svc_log_fields f = {.job = cfg->name,
                               .element = it->element[0] ? it->element : b->ids[it->index],
                               .duration_ms = (ev_now(b->loop) - it->received) * 1e3};
    b->in_flight--;
    switch (it->disp) {
    case SVC_DISP_ACK:
        f.outcome = svc_outcome_name(it->outcome);
        svc_metrics_outcome(b->metrics, it->outcome);
        switch (it->outcome) {
        case SVC_OUT_PROCESSED:
            b->sum.processed++;
            b->sum.audio_seconds += it->seconds;
            break;
        case SVC_OUT_SKIPPED:
            b->sum.skipped++;
            break;
        case SVC_OUT_MISSING:
            b->sum.missing++;
            add_failure(b, it->index, it->element, "missing", it->err.msg);
            f.error = it->err.msg;
            break;
        case SVC_OUT_PINGED:
            b->sum.pinged++;
            break;
        case SVC_OUT_DROPPED:
            b->sum.dropped++;
            break;
        default:
            break;
        }
        svc_log(it->outcome == SVC_OUT_MISSING ? SVC_WARNING : SVC_INFO, &f, "%s",
                svc_outcome_name(it->outcome));
        b->done++;
        break;
    case SVC_DISP_RETRY:
        f.error = it->err.msg;
        if (it->attempt < cfg->runtime.max_attempts) {
            f.outcome = "retried";
            svc_metrics_outcome(b->metrics, SVC_OUT_RETRIED);
            svc_log(SVC_WARNING, &f, "attempt %d failed (%s), retrying", it->attempt,
                    it->reason ? it->reason : "transient");
            schedule_retry(b, it->index, it->attempt + 1);
        } else {
            f.outcome = "failed";
            svc_log(SVC_ERROR, &f, "failed after %d attempts (%s)", it->attempt,
                    it->reason ? it->reason : "transient");
            add_failure(b, it->index, it->element, it->reason, it->err.msg);
            b->done++;
        }
        break;
    case SVC_DISP_DEAD:
        f.outcome = "failed";
        f.error = it->err.msg;
        svc_log(SVC_ERROR, &f, "failed permanently (%s)", it->reason ? it->reason : "error");
        add_failure(b, it->index, it->element, it->reason, it->err.msg);
        b->done++;
        break;
    }
    svc_metrics_in_flight(b->metrics, (int64_t)b->in_flight);
    svc_item_release(it);
    feed(b);
    check_done(b);
}

static void feed(struct batch *b)
{
    /* An item can finish synchronously (a bad ID) and call feed() again from
     * on_finish; the outer loop picks up the freed slot instead, so a file
     * of a million bad IDs does not recurse a million deep. */
    if (b->feeding)
        return;
    b->feeding = 1;
    while (b->next < b->n_ids && b->in_flight < (size_t)b->max_in_flight)
        start_one(b, b->next++, 1);
    b->feeding = 0;
}

static void on_poll(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    check_done(w->data);
}

/* Read IDs: one per line; blank lines and lines starting with '#' are
 * skipped; surrounding whitespace is trimmed. */
static int read_ids(const char *path, char ***out, size_t *n_out, struct svc_error *err)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    char *line = NULL;
    size_t cap = 0, n = 0, lcap = 0;
    char **ids = NULL;
    ssize_t len;
    if (!f)
        return svc_error_set(err, SVC_EIO, "cannot open IDs file %s: %s", path, strerror(errno));
    while ((len = getline(&line, &lcap, f)) >= 0) {
        char *s = line, *e = line + len;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
            e--;
        if (s == e || *s == '#')
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            char **ni = realloc(ids, nc * sizeof(*ni));
            if (!ni)
                goto nomem;
            ids = ni;
            cap = nc;
        }
        if (!(ids[n] = strndup(s, (size_t)(e - s))))
            goto nomem;
        n++;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    *out = ids;
    *n_out = n;
    return 0;
nomem:
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    free(line);
    if (f != stdin)
        fclose(f);
    return svc_error_set(err, SVC_ENOMEM, "out of memory reading %s", path);
}

static void print_summary(struct batch *b, double elapsed)
{
    const struct svc_batch_summary *s = &b->sum;
    printf("wiggly run %s: %llu tracks in %.1f s: %llu processed, %llu skipped, %llu failed; "
           "%.3f hours of audio written\n",
           b->cfg->name, (unsigned long long)s->total, elapsed, (unsigned long long)s->processed,
           (unsigned long long)s->skipped, (unsigned long long)s->failed,
           s->audio_seconds / 3600.0);
    if (s->pinged || s->dropped)
        printf("  %llu pinged, %llu dropped\n", (unsigned long long)s->pinged,
               (unsigned long long)s->dropped);
    for (size_t i = 0; i < b->n_fails && i < MAX_FAIL_LINES; i++)
        printf("  failed %s [%s] %s\n", b->fails[i].element ? b->fails[i].element : "?",
               b->fails[i].reason ? b->fails[i].reason : "?",
               b->fails[i].error ? b->fails[i].error : "");
    if (b->n_fails > MAX_FAIL_LINES)
        printf("  ... and %zu more failures (see the log)\n", b->n_fails - MAX_FAIL_LINES);
    fflush(stdout);
}

struct roots_wait {
    struct ev_loop *loop;
    int done, ok;
};

static void on_roots(void *ud, int ok)
{
    struct roots_wait *w = ud;
    w->done = 1;
    w->ok = ok;
    ev_break(w->loop, EVBREAK_ONE);
}

/* A missing input directory or bucket would make every track "missing":
 * say so once and stop before taking any. */
static int check_roots(struct ev_loop *loop, struct svc_storage *st, const struct cfg_job *cfg,
                       struct svc_roots **out)
{
    struct roots_wait w = {.loop = loop};
    *out = svc_roots_create(loop, st, cfg, 0, on_roots, &w);
    if (!*out) {
        fprintf(stderr, "wiggly run: out of memory\n");
        return 1;
    }
    svc_roots_check(*out);
    if (!w.done)
        ev_run(loop, 0);
    if (!w.ok) {
        fprintf(stderr,
                "wiggly run: %s does not exist (`wiggly verify -c CONFIG --create` creates "
                "it)\n",
                svc_roots_missing(*out));
        return 2;
    }
    return 0;
}

int svc_batch_run(const struct svc_run_opts *o, struct svc_batch_summary *summary)
{
    const struct cfg_job *cfg = o->cfg;
    const char *path = o->ids ? o->ids : cfg->events.file;
    struct batch b;
    struct svc_cloud cloud;
    struct svc_pool *pool = NULL;
    struct svc_roots *roots = NULL;
    struct svc_error err = {0};
    int rc = 1;

    memset(&b, 0, sizeof(b));
    memset(&cloud, 0, sizeof(cloud));
    if (!path) {
        fprintf(stderr, "wiggly run: batch mode needs an IDs file (events.file or --ids)\n");
        return 2;
    }
    if (read_ids(path, &b.ids, &b.n_ids, &err) != 0) {
        fprintf(stderr, "wiggly run: %s\n", err.msg);
        return 2;
    }
    b.loop = ev_loop_new(EVFLAG_AUTO);
    b.cfg = cfg;
    b.sum.total = b.n_ids;
    b.metrics = svc_metrics_create();
    if (!b.loop || !b.metrics) {
        fprintf(stderr, "wiggly run: out of memory\n");
        goto out;
    }
    if (svc_cloud_init(&cloud, b.loop, 0, svc_cloud_needs_gcs(cfg), &err) != 0) {
        fprintf(stderr, "wiggly run: %s\n", err.msg);
        goto out;
    }
    b.st = svc_storage_create(b.loop, cloud.gcs);
    pool = svc_pool_create(b.loop, cfg->runtime.workers);
    if (!b.st || !pool) {
        fprintf(stderr, "wiggly run: cannot start the worker pool\n");
        goto out;
    }
    if ((rc = check_roots(b.loop, b.st, cfg, &roots)) != 0)
        goto out;
    rc = 1;
    b.max_in_flight = svc_pool_max_in_flight(pool, cfg->runtime.max_in_flight);
    {
        struct svc_pipeline_opts po = {
            .cfg = cfg,
            .loop = b.loop,
            .storage = b.st,
            .pool = pool,
            .metrics = b.metrics,
            .force = o->force,
            .hooks = {.publish = NULL, .finish = on_finish, .ctx = &b},
        };
        b.pl = svc_pipeline_create(&po, &err);
        if (!b.pl) {
            fprintf(stderr, "wiggly run: %s\n", err.msg);
            rc = 2;
            goto out;
        }
    }
    b.tty = isatty(STDERR_FILENO);
    progress_owner = &b;
    svc_log_set_clear_hook(clear_progress);
    b.t0 = ev_time();
    if (b.tty) {
        ev_timer_init(&b.progress, on_progress, 0.25, 0.25);
        b.progress.data = &b;
        ev_timer_start(b.loop, &b.progress);
    }
    ev_timer_init(&b.poll, on_poll, 0.2, 0.2);
    b.poll.data = &b;
    ev_timer_start(b.loop, &b.poll);
    svc_log(SVC_INFO, &(struct svc_log_fields){.job = cfg->name, .duration_ms = -1},
            "batch: %zu tracks from %s, %d workers, %d in flight", b.n_ids, path,
            svc_pool_threads(pool), b.max_in_flight);
    feed(&b);
    if (b.n_ids)
        ev_run(b.loop, 0);
    ev_timer_stop(b.loop, &b.poll);
    if (b.tty) {
        ev_timer_stop(b.loop, &b.progress);
        draw_progress(&b);
        fputc('\n', stderr);
    }
    svc_log_set_clear_hook(NULL);
    progress_owner = NULL;
    print_summary(&b, ev_time() - b.t0);
    rc = b.sum.failed ? 1 : 0;
    if (summary)
        *summary = b.sum;
out:
    svc_pool_destroy(pool); /* runs done() of abandoned jobs while the pipeline lives */
    svc_cloud_cleanup(&cloud);
    svc_pipeline_destroy(b.pl);
    svc_storage_destroy(b.st);
    svc_roots_destroy(roots);
    svc_metrics_destroy(b.metrics);
    for (struct retry *r = b.retries; r;) {
        struct retry *n = r->next;
        free(r);
        r = n;
    }
    for (size_t i = 0; i < b.n_fails; i++) {
        free(b.fails[i].element);
        free(b.fails[i].reason);
        free(b.fails[i].error);
    }
    free(b.fails);
    for (size_t i = 0; i < b.n_ids; i++)
        free(b.ids[i]);
    free(b.ids);
    if (b.loop)
        ev_loop_destroy(b.loop);
    return rc;
}
