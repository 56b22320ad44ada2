/* source_file.c: a file (or stdin) of IDs as an event source (source.h):
 * `wiggly run` on events.file or --ids, the local default.
 * The same pipeline as on Pub/Sub, with file:// or gs:// storage; no
 * Pub/Sub, so pass-throughs publish nothing and a missing input whose parent
 * would be triggered counts as missing with that reason. Transient failures
 * are retried in process (nack: a timer delivers the ID again, 0.5 s
 * doubling to 32 s) up to runtime.max_attempts; failures, a missing input
 * included, are listed in the summary and make the exit code 1. A live
 * progress line on a terminal. The run ends when every ID is done.
 * Loop thread only. */
#include "service/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "config/config.h"
#include "service/log.h"
#include "service/message.h"
#include "service/pipeline.h"
#include "service/pool.h"

#define MAX_FAIL_LINES 20

struct failure {
    char *element;
    char *reason;
    char *error;
};

struct retry {
    ev_timer timer;
    struct ids *f;
    size_t index;
    int attempt;
    struct retry *prev, *next;
};

struct ids {
    const struct svc_source_env *env;
    struct svc_runner *r;
    struct svc_batch_summary *sum; /* the runner's */
    const char *path;
    char **ids;
    size_t n_ids, next, done;
    struct retry *retries;
    struct failure *fails;
    size_t n_fails, cap_fails;
    double t0;
    int tty;
    ev_timer progress;
};

static struct ids *progress_owner; /* for the log line clearer */

static void clear_progress(FILE *out)
{
    if (progress_owner && progress_owner->tty && out == stderr)
        fputs("\r\033[K", stderr);
}

static void draw_progress(struct ids *f)
{
    double el = ev_time() - f->t0;
    double rate = el > 0 ? (double)f->done / el : 0;
    double left = rate > 0 ? (double)(f->n_ids - f->done) / rate : 0;
    fprintf(stderr, "\r\033[K[%zu/%zu] %.1f tracks/s, %zu failed, ETA %02d:%02d", f->done, f->n_ids,
            rate, (size_t)f->sum->failed, (int)(left / 60), (int)left % 60);
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

/* One ID is done, and failed. */
static void add_failure(struct ids *f, size_t index, const char *element, const char *reason,
                        const char *error)
{
    f->sum->failed++;
    f->done++;
    if (f->n_fails == f->cap_fails) {
        size_t cap = f->cap_fails ? f->cap_fails * 2 : 16;
        struct failure *nf = realloc(f->fails, cap * sizeof(*nf));
        if (!nf)
            return;
        f->fails = nf;
        f->cap_fails = cap;
    }
    /* The element and the error may have been cut inside a character. */
    f->fails[f->n_fails].element = utf8_dup(element && element[0] ? element : f->ids[index]);
    f->fails[f->n_fails].reason = strdup(reason ? reason : "failed");
    f->fails[f->n_fails].error = utf8_dup(error ? error : "");
    f->n_fails++;
}

/* ---- intake ---- */

static void start_one(struct ids *f, size_t index, int attempt)
{
    const char *id = f->ids[index];
    struct svc_item *it = svc_item_create(id, strlen(id));
    if (!it) {
        add_failure(f, index, id, "internal", "out of memory");
        return;
    }
    it->index = index;
    it->attempt = attempt;
    svc__runner_deliver(f->r, &it, 1);
}

static int ids_pull(void *state, int n)
{
    struct ids *f = state;
    int k = 0;
    for (; k < n && f->next < f->n_ids; k++)
        start_one(f, f->next++, 1);
    return k;
}

static int ids_exhausted(void *state)
{
    struct ids *f = state;
    return f->next == f->n_ids && !f->retries;
}

static const char *ids_name_of(void *state, const struct svc_item *it)
{
    struct ids *f = state;
    return f->ids[it->index];
}

/* ---- what the runner decided ---- */

static void ids_ack(void *state, struct svc_item *it)
{
    struct ids *f = state;
    /* Without Pub/Sub a parent cannot be triggered: a missing input fails. */
    if (it->outcome == SVC_OUT_MISSING)
        add_failure(f, it->index, it->element, "missing", it->err.msg);
    else
        f->done++;
    svc_item_release(it);
}

static void on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct retry *rt = w->data;
    struct ids *f = rt->f;
    (void)loop;
    (void)revents;
    if (rt->prev)
        rt->prev->next = rt->next;
    else
        f->retries = rt->next;
    if (rt->next)
        rt->next->prev = rt->prev;
    start_one(f, rt->index, rt->attempt);
    free(rt);
}

/* In process: the same ID again, as the next attempt, after delay_s. */
static void ids_nack(void *state, struct svc_item *it, double delay_s)
{
    struct ids *f = state;
    struct retry *rt = calloc(1, sizeof(*rt));
    if (!rt) {
        add_failure(f, it->index, NULL, "internal", "out of memory");
    } else {
        rt->f = f;
        rt->index = it->index;
        rt->attempt = it->attempt + 1;
        rt->next = f->retries;
        if (rt->next)
            rt->next->prev = rt;
        f->retries = rt;
        ev_timer_init(&rt->timer, on_retry, delay_s, 0);
        rt->timer.data = rt;
        ev_timer_start(f->env->loop, &rt->timer);
    }
    svc_item_release(it);
}

static void ids_dead_letter(void *state, struct svc_item *it, int attempts)
{
    struct ids *f = state;
    struct svc_log_fields lf = svc__runner_fields(f->r, it, "failed");
    lf.error = it->err.msg;
    if (attempts > 0)
        svc_log(SVC_ERROR, &lf, "failed after %d attempts (%s)", attempts,
                it->reason ? it->reason : "transient");
    else
        svc_log(SVC_ERROR, &lf, "failed permanently (%s)", it->reason ? it->reason : "error");
    add_failure(f, it->index, it->element, it->reason, it->err.msg);
    svc_item_release(it);
}

/* ---- the IDs ---- */

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

static void print_summary(struct ids *f, double elapsed)
{
    const struct svc_batch_summary *s = f->sum;
    printf("wiggly run %s: %llu tracks in %.1f s: %llu processed, %llu skipped, %llu failed; "
           "%.3f hours of audio written\n",
           f->env->cfg->name, (unsigned long long)s->total, elapsed,
           (unsigned long long)s->processed, (unsigned long long)s->skipped,
           (unsigned long long)s->failed, s->audio_seconds / 3600.0);
    if (s->pinged || s->dropped)
        printf("  %llu pinged, %llu dropped\n", (unsigned long long)s->pinged,
               (unsigned long long)s->dropped);
    for (size_t i = 0; i < f->n_fails && i < MAX_FAIL_LINES; i++)
        printf("  failed %s [%s] %s\n", f->fails[i].element ? f->fails[i].element : "?",
               f->fails[i].reason ? f->fails[i].reason : "?",
               f->fails[i].error ? f->fails[i].error : "");
    if (f->n_fails > MAX_FAIL_LINES)
        printf("  ... and %zu more failures (see the log)\n", f->n_fails - MAX_FAIL_LINES);
    fflush(stdout);
}

/* ---- lifecycle ---- */

static int ids_create(const struct svc_source_env *env, void **state)
{
    const char *path = env->opts->ids ? env->opts->ids : env->cfg->events.file;
    struct svc_error err = {0};
    struct ids *f;
    if (!path) {
        fprintf(stderr, "wiggly run: batch mode needs an IDs file (events.file or --ids)\n");
        return 2;
    }
    if (!(f = calloc(1, sizeof(*f)))) {
        fprintf(stderr, "wiggly run: out of memory\n");
        return 1;
    }
    if (read_ids(path, &f->ids, &f->n_ids, &err) != 0) {
        fprintf(stderr, "wiggly run: %s\n", err.msg);
        free(f);
        return 2;
    }
    f->env = env;
    f->r = env->runner;
    f->sum = svc__runner_summary(env->runner);
    f->sum->total = f->n_ids;
    f->path = path;
    *state = f;
    return 0;
}

static int ids_start(void *state)
{
    struct ids *f = state;
    f->tty = isatty(STDERR_FILENO);
    progress_owner = f;
    svc_log_set_clear_hook(clear_progress);
    f->t0 = ev_time();
    if (f->tty) {
        ev_timer_init(&f->progress, on_progress, 0.25, 0.25);
        f->progress.data = f;
        ev_timer_start(f->env->loop, &f->progress);
    }
    svc_log(SVC_INFO, &(struct svc_log_fields){.job = f->env->cfg->name, .duration_ms = -1},
            "batch: %zu tracks from %s, %d workers, %d in flight", f->n_ids, f->path,
            svc_pool_threads(f->env->pool), f->env->max_in_flight);
    return 0;
}

static int ids_end(void *state)
{
    struct ids *f = state;
    if (f->tty) {
        ev_timer_stop(f->env->loop, &f->progress);
        draw_progress(f);
        fputc('\n', stderr);
    }
    svc_log_set_clear_hook(NULL);
    progress_owner = NULL;
    print_summary(f, ev_time() - f->t0);
    return f->sum->failed ? 1 : 0;
}

static void ids_destroy(void *state)
{
    struct ids *f = state;
    if (!f)
        return;
    if (progress_owner == f) {
        svc_log_set_clear_hook(NULL);
        progress_owner = NULL;
    }
    for (struct retry *rt = f->retries; rt;) {
        struct retry *n = rt->next;
        ev_timer_stop(f->env->loop, &rt->timer);
        free(rt);
        rt = n;
    }
    if (f->env->loop)
        ev_timer_stop(f->env->loop, &f->progress);
    for (size_t i = 0; i < f->n_fails; i++) {
        free(f->fails[i].element);
        free(f->fails[i].reason);
        free(f->fails[i].error);
    }
    free(f->fails);
    for (size_t i = 0; i < f->n_ids; i++)
        free(f->ids[i]);
    free(f->ids);
    free(f);
}

const struct svc_source svc_source_file = {
    .name = "file",
    /* 0.5 s doubling while under 30 s: the longest wait is 32 s. */
    .backoff_base_s = 0.5,
    .backoff_cap_s = 32,
    .roots_recheck_s = 0,
    .create = ids_create,
    .start = ids_start,
    .end = ids_end,
    .destroy = ids_destroy,
    .pull = ids_pull,
    .ack = ids_ack,
    .nack = ids_nack,
    .dead_letter = ids_dead_letter,
    .name_of = ids_name_of,
    .exhausted = ids_exhausted,
};
