/* pipeline.c: one message from decode to its disposition (see pipeline.h).
 * Every asynchronous step holds a reference on the item and checks
 * it->finished when it comes back, because a timeout or a shutdown may have
 * finished the item meanwhile; finish() is always the last thing a code path
 * does with an item. Every stage change goes through set_stage() (curl's
 * multi.c mstate() is the model). Loop thread only, except work_run() on a
 * worker, which touches only in_path, out_path[], res and the processor's
 * read-only state, and reads the atomic `abandoned` (the processor's cancel
 * flag). */
#define _DEFAULT_SOURCE /* mkstemps */
#include "service/pipeline_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "config/config.h"
#include "service/log.h"
#include "service/pool.h"
#include "service/roots.h"
#include "service/storage.h"

/* The stages, in order (pipeline.h); the name is what the debug log says. */
#define SVC_STAGES(X)                                                                              \
    X(NEW, "new")                                                                                  \
    X(DECIDE, "decide")                                                                            \
    X(CHECK_OUTPUTS, "check_outputs")                                                              \
    X(CHECK_INPUT, "check_input")                                                                  \
    X(FETCH, "fetch")                                                                              \
    X(PROCESS, "process")                                                                          \
    X(UPLOAD, "upload")                                                                            \
    X(PUBLISH, "publish")                                                                          \
    X(DONE, "done")

enum stage {
#define X(id, name) ST_##id,
    SVC_STAGES(X)
#undef X
};

static const char *const stage_names[] = {
#define X(id, name) name,
    SVC_STAGES(X)
#undef X
};

struct svc_pipeline {
    struct svc_pipeline_opts o;
    const struct cfg_job *cfg;
    const struct svc_processor *proc;
    void *proc_state;
    struct svc_output_decl outs[SVC_PROC_MAX_OUTPUTS];
    size_t n_outs;
    struct svc_job_view view;
    int has_parent;
    const char *temp_dir;
};

struct item {
    struct svc_item pub; /* first: runners see only this */
    struct svc_pipeline *pl;
    int refs;
    int finished;
    int pending;          /* outstanding async operations */
    atomic_int abandoned; /* finished: the processor stops at its next chunk (or never starts) */
    int have_msg;
    struct svc_message msg;
    ev_timer timeout;
    struct svc_pool_job job;
    int in_pool;          /* job submitted, done() not yet called */
    double t_queued;      /* ev_time() at submit */
    double wait_credited; /* queue wait already added to the timeout */
    enum stage stage;
    double t_stage;
    int stage_line;
    int force;
    int outputs_exist; /* every declared output was there */
    char *in_url, *in_path;
    int in_is_temp;
    size_t next_out;
    int last_existed; /* the done marker was uploaded by someone else first */
    int n_written;    /* outputs this attempt created */
    char *out_url[SVC_PROC_MAX_OUTPUTS];
    char *out_path[SVC_PROC_MAX_OUTPUTS]; /* temporary files the processor writes */
    uint64_t bytes_out;
    struct svc_proc_result res;
    int n_pub, pub_failed;
    struct svc_error pub_err;
};

static struct item *item_of(struct svc_item *p)
{
    return (struct item *)p;
}

/* ---- the one stage setter ---- */

/* Leaving fetch, process or upload for the next stage in order times it;
 * a failure's time is not counted. */
static void set_stage_at(struct item *it, enum stage to, int line)
{
    struct svc_pipeline *pl = it->pl;
    double now = ev_time();
    enum stage from = it->stage;
    if (to == from + 1) {
        if (from == ST_FETCH)
            svc_metrics_stage(pl->o.metrics, SVC_STAGE_DOWNLOAD, now - it->t_stage);
        else if (from == ST_PROCESS)
            svc_metrics_stage(pl->o.metrics, SVC_STAGE_PROCESS, now - it->t_stage);
        else if (from == ST_UPLOAD)
            svc_metrics_stage(pl->o.metrics, SVC_STAGE_UPLOAD, now - it->t_stage);
    }
    svc_log(SVC_DEBUG,
            &(struct svc_log_fields){.job = pl->cfg->name,
                                     .element = it->pub.element[0] ? it->pub.element : NULL,
                                     .duration_ms = (now - it->t_stage) * 1e3},
            "stage %s -> %s (pipeline.c:%d)", stage_names[from], stage_names[to], line);
    it->stage = to;
    it->stage_line = line;
    it->t_stage = now;
}
#define set_stage(it, to) set_stage_at(it, to, __LINE__)

/* ---- items ---- */

struct svc_item *svc_item_create(const void *data, size_t len)
{
    struct item *it = calloc(1, sizeof(*it));
    if (!it)
        return NULL;
    it->pub.data = malloc(len + 1);
    if (!it->pub.data) {
        free(it);
        return NULL;
    }
    memcpy(it->pub.data, data, len);
    ((char *)it->pub.data)[len] = 0;
    it->pub.len = len;
    it->refs = 1;
    return &it->pub;
}

int svc_item_started(const struct svc_item *p)
{
    return ((const struct item *)p)->pl != NULL;
}

const struct svc_proc_result *svc__item_proc_result(const struct svc_item *p)
{
    return &((const struct item *)p)->res;
}

static void drop_outputs(struct item *it)
{
    for (size_t i = 0; i < SVC_PROC_MAX_OUTPUTS; i++) {
        if (it->out_path[i])
            unlink(it->out_path[i]);
        free(it->out_path[i]);
        free(it->out_url[i]);
        it->out_path[i] = it->out_url[i] = NULL;
    }
}

static void item_free(struct item *it)
{
    if (it->pl)
        ev_timer_stop(it->pl->o.loop, &it->timeout);
    if (it->in_path && it->in_is_temp)
        unlink(it->in_path);
    drop_outputs(it);
    if (it->have_msg)
        svc_message_cleanup(&it->msg);
    free(it->in_url);
    free(it->in_path);
    free(it->pub.ack_id);
    free(it->pub.message_id);
    for (size_t i = 0; i < 2 * it->pub.n_attrs; i++)
        free(it->pub.attrs[i]);
    free(it->pub.attrs);
    free(it->pub.data);
    free(it);
}

void svc_item_release(struct svc_item *p)
{
    struct item *it = (struct item *)p;
    if (it && --it->refs == 0)
        item_free(it);
}

static void hold(struct item *it)
{
    it->refs++;
    it->pending++;
}

/* Called first in every completion: drops the operation's reference and
 * says whether the item still wants the result. */
static int resume(struct item *it)
{
    int alive = !it->finished;
    it->pending--;
    svc_item_release(&it->pub); /* the runner's reference keeps it alive while !finished */
    return alive;
}

__attribute__((format(printf, 5, 6))) static void
finish(struct item *it, enum svc_disp d, enum svc_reason reason, int code, const char *fmt, ...)
{
    struct svc_pipeline *pl = it->pl;
    if (it->finished)
        return;
    it->finished = 1;
    set_stage(it, ST_DONE);
    /* A running processor sees this at its next chunk; a queued job is taken
     * back (its done() still follows, with SVC_ECANCELED). */
    atomic_store(&it->abandoned, 1);
    if (it->in_pool)
        svc_pool_cancel(pl->o.pool, &it->job);
    ev_timer_stop(pl->o.loop, &it->timeout);
    it->pub.disp = d;
    it->pub.reason = reason == SVC_R_NONE ? NULL : svc_reason_name(reason);
    it->pub.err.code = code;
    it->pub.err.msg[0] = 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(it->pub.err.msg, sizeof(it->pub.err.msg), fmt, ap);
        va_end(ap);
    }
    pl->o.hooks.finish(pl->o.hooks.ctx, &it->pub);
}

static void finish_ack(struct item *it, enum svc_outcome o)
{
    it->pub.outcome = o;
    finish(it, SVC_DISP_ACK, SVC_R_NONE, 0, NULL);
}

/* ---- scratch ---- */

const char *svc_temp_dir(const struct cfg_job *cfg)
{
    return cfg->runtime.temp_dir && cfg->runtime.temp_dir[0] ? cfg->runtime.temp_dir : "/tmp";
}

/* A new empty file DIR/wiggly-WHAT-XXXXXX; NULL with errno on failure. */
/* A new empty file DIR/wiggly-WHAT-XXXXXXSUFFIX. Outputs keep their
 * declared suffix, so code that picks a format from the name (NumPy's
 * np.save adds ".npy" to a name without it) writes the file it was given. */
static char *temp_file(const char *dir, const char *what, const char *suffix)
{
    size_t n = strlen(dir) + strlen(what) + strlen(suffix) + 16;
    char *p = malloc(n);
    int fd;
    if (!p)
        return NULL;
    snprintf(p, n, "%s/wiggly-%s-XXXXXX%s", dir, what, suffix);
    fd = mkstemps(p, (int)strlen(suffix));
    if (fd < 0) {
        int e = errno;
        free(p);
        errno = e;
        return NULL;
    }
    close(fd);
    return p;
}

int svc_temp_dir_check(const char *dir, struct svc_error *err)
{
    char *p = temp_file(dir, "check", "");
    if (!p)
        return svc_error_set(err, SVC_EIO, "runtime.temp_dir %s: cannot create a file there: %s",
                             dir, strerror(errno));
    unlink(p);
    free(p);
    return 0;
}

/* ---- create ---- */

/* The job's processor. A new one is one file and one line here. */
const struct svc_processor *svc_processor_for(const struct cfg_job *cfg)
{
    return cfg->transform.enabled ? &svc_proc_transform : &svc_proc_audio;
}

struct svc_pipeline *svc_pipeline_create(const struct svc_pipeline_opts *o, struct svc_error *err)
{
    struct svc_pipeline *pl;
    const struct cfg_job *cfg = o->cfg;
    if (!o->hooks.finish || !o->storage || !o->pool || !cfg) {
        svc_error_set(err, SVC_EINVAL, "pipeline: missing storage, pool, config or finish hook");
        return NULL;
    }
    if (svc_roots_validate(cfg, err) != 0) /* each location's scheme rules */
        return NULL;
    pl = calloc(1, sizeof(*pl));
    if (!pl) {
        svc_error_set(err, SVC_ENOMEM, "out of memory");
        return NULL;
    }
    pl->o = *o;
    pl->cfg = cfg;
    pl->proc = svc_processor_for(cfg);
    struct svc_proc_env env = {.cfg = cfg, .metrics = o->metrics};
    if (pl->proc->create(&env, &pl->proc_state, pl->outs, &pl->n_outs, err) != 0) {
        free(pl);
        return NULL;
    }
    pl->view.name = cfg->name;
    pl->view.force = cfg->force || o->force;
    pl->view.ping = cfg->ping;
    pl->view.max_visits = cfg->runtime.max_visits;
    pl->has_parent = cfg->parent.name && cfg->parent.topic && o->hooks.publish;
    pl->temp_dir = svc_temp_dir(cfg);
    if (svc_temp_dir_check(pl->temp_dir, err) != 0) {
        svc_pipeline_destroy(pl);
        return NULL;
    }
    return pl;
}

int svc_pipeline_status(struct svc_pipeline *pl, char *why, size_t why_n)
{
    if (why_n)
        why[0] = '\0';
    return pl->proc->status ? pl->proc->status(pl->proc_state, why, why_n) : SVC_PROC_READY;
}

void svc_pipeline_destroy(struct svc_pipeline *pl)
{
    if (!pl)
        return;
    pl->proc->destroy(pl->proc_state);
    free(pl);
}

/* ---- steps ---- */

static char *cat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = c ? strlen(c) : 0;
    char *s = malloc(la + lb + lc + 1);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    if (lc)
        memcpy(s + la + lb, c, lc);
    s[la + lb + lc] = 0;
    return s;
}

static void fail_storage(struct item *it, const struct svc_error *e, const char *what)
{
    switch (e->code) {
    case SVC_ETOOBIG:
        finish(it, SVC_DISP_DEAD, SVC_R_TOO_BIG, e->code, "%s: %s", what, e->msg);
        break;
    case SVC_EINVAL:
    case SVC_EREMOTE:
        finish(it, SVC_DISP_DEAD, SVC_R_STORAGE, e->code, "%s: %s", what, e->msg);
        break;
    case SVC_ENOBUCKET: /* a configuration problem, not this message's: it waits */
        finish(it, SVC_DISP_RETRY, SVC_R_NO_BUCKET, e->code, "%s: %s", what, e->msg);
        break;
    default: /* transient, canceled, local i/o, out of memory, vanished object */
        finish(it, SVC_DISP_RETRY, SVC_R_STORAGE, e->code, "%s: %s", what, e->msg);
        break;
    }
}

static void on_published(void *ud, const struct svc_error *err)
{
    struct item *it = ud;
    if (err && !it->pub_failed) {
        it->pub_failed = 1;
        it->pub_err = *err;
    }
    it->n_pub--;
    if (!resume(it))
        return;
    if (it->n_pub > 0)
        return;
    if (it->pub_failed)
        finish(it, SVC_DISP_RETRY, SVC_R_PUBLISH, it->pub_err.code, "publish: %s", it->pub_err.msg);
    else
        finish_ack(it, it->pub.outcome);
}

/* Publish payload to every topic, then ACK with outcome. */
static void publish_then_ack(struct item *it, char *const *topics, size_t n, const char *payload,
                             size_t len, enum svc_outcome outcome)
{
    struct svc_pipeline *pl = it->pl;
    it->pub.outcome = outcome;
    if (!pl->o.hooks.publish || n == 0) {
        finish_ack(it, outcome);
        return;
    }
    if (it->stage != ST_PUBLISH)
        set_stage(it, ST_PUBLISH);
    it->n_pub = (int)n;
    it->pub_failed = 0;
    /* Hold every reference before the first call: a hook may complete
     * synchronously. */
    for (size_t i = 0; i < n; i++)
        hold(it);
    for (size_t i = 0; i < n; i++)
        pl->o.hooks.publish(pl->o.hooks.ctx, topics[i], payload, len, on_published, it);
}

static void pass_through(struct item *it, enum svc_outcome outcome)
{
    struct svc_pipeline *pl = it->pl;
    struct svc_message down;
    char *payload;
    size_t len;
    if (!pl->o.hooks.publish || pl->cfg->n_output_topics == 0) {
        finish_ack(it, outcome);
        return;
    }
    /* The message as this job saw it (recipients already switched to anyone
     * when this job was trigger_children_of), plus this job in the audit. */
    if (svc_message_copy(&down, &it->msg) != 0) {
        finish(it, SVC_DISP_RETRY, SVC_R_INTERNAL, SVC_ENOMEM, "out of memory");
        return;
    }
    if (svc_message_audit_add(&down, pl->cfg->name, (size_t)pl->cfg->runtime.max_audit) != 0 ||
        !(payload = svc_message_encode(&down, &len))) {
        svc_message_cleanup(&down);
        finish(it, SVC_DISP_RETRY, SVC_R_INTERNAL, SVC_ENOMEM,
               "cannot encode the downstream message");
        return;
    }
    svc_message_cleanup(&down);
    publish_then_ack(it, pl->cfg->output_topics, pl->cfg->n_output_topics, payload, len, outcome);
    free(payload); /* publish copies its arguments */
}

static void trigger_parent(struct item *it)
{
    struct svc_pipeline *pl = it->pl;
    struct svc_message trig;
    char *payload, *topics[1];
    size_t len;
    memset(&trig, 0, sizeof(trig));
    if (svc_message_make_trigger(&trig, &it->msg, pl->cfg->parent.name, pl->cfg->name) != 0 ||
        !(payload = svc_message_encode(&trig, &len))) {
        svc_message_cleanup(&trig);
        finish(it, SVC_DISP_RETRY, SVC_R_INTERNAL, SVC_ENOMEM, "cannot build the parent trigger");
        return;
    }
    svc_message_cleanup(&trig);
    topics[0] = pl->cfg->parent.topic;
    publish_then_ack(it, topics, 1, payload, len, SVC_OUT_TRIGGERED_PARENT);
    free(payload);
}

/* ---- upload: every declared output, in order ---- */

static void upload_next(struct item *it);

static void on_output_put(void *ud, const struct svc_error *err)
{
    struct item *it = ud;
    if (!resume(it))
        return;
    if (err && err->code != SVC_EEXISTS) {
        fail_storage(it, err, "upload output");
        return;
    }
    /* Already there (an earlier attempt, another worker): done for that file. */
    if (err && it->next_out + 1 == it->pl->n_outs)
        it->last_existed = 1;
    if (!err)
        it->n_written++;
    it->next_out++;
    upload_next(it);
}

static void upload_next(struct item *it)
{
    struct svc_pipeline *pl = it->pl;
    size_t i = it->next_out;
    struct stat sb;
    if (i == pl->n_outs) {
        /* The last output marks the track done: if it was there already,
         * another worker finished it first (a duplicate delivery). */
        int dup = it->last_existed && it->n_written == 0;
        set_stage(it, ST_PUBLISH);
        if (!dup) {
            svc_metrics_bytes(pl->o.metrics, 1, it->bytes_out);
            it->pub.seconds = it->res.seconds;
            svc_metrics_audio_seconds(pl->o.metrics, it->res.seconds);
        }
        pass_through(it, dup ? SVC_OUT_SKIPPED : SVC_OUT_PROCESSED);
        return;
    }
    /* An empty file is no result: stored, it would make every rerun skip
     * the track. Whatever the processor, none is ever uploaded. */
    if (stat(it->out_path[i], &sb) != 0 || sb.st_size == 0) {
        finish(it, SVC_DISP_DEAD, SVC_R_EMPTY_OUTPUT, SVC_EINVAL,
               "the %s processor wrote no data for %s", pl->proc->name, it->out_url[i]);
        return;
    }
    it->bytes_out += (uint64_t)sb.st_size;
    hold(it);
    svc_storage_put_file(pl->o.storage, it->out_url[i], it->out_path[i], pl->outs[i].content_type,
                         !it->force, on_output_put, it);
}

/* ---- process: the processor on the pool ---- */

static void work_run(struct svc_pool_job *j)
{
    struct item *it = (struct item *)((char *)j - offsetof(struct item, job));
    struct svc_pipeline *pl = it->pl;
    /* Timed out or cancelled after the worker took it: nobody wants the
     * result. While it runs, the same flag stops it between two chunks, so
     * a timeout or a shutdown frees the worker at once. */
    if (atomic_load(&it->abandoned)) {
        it->res.code = SVC_ECANCELED;
        return;
    }
    struct svc_proc_track t = {.in_path = it->in_path,
                               .element = it->msg.element,
                               .attempt = it->pub.attempt > 0 ? it->pub.attempt : 1};
    pl->proc->run(pl->proc_state, &t, it->out_path, &it->abandoned, &it->res);
}

static void work_done(struct svc_pool_job *j, int status)
{
    struct item *it = (struct item *)((char *)j - offsetof(struct item, job));
    struct svc_pipeline *pl = it->pl;
    it->in_pool = 0;
    svc_metrics_queue_depth(pl->o.metrics, (int64_t)svc_pool_queued(pl->o.pool));
    if (!resume(it))
        return;
    if (status == SVC_ECANCELED) { /* the pool is going away with it still queued */
        finish(it, SVC_DISP_RETRY, SVC_R_SHUTDOWN, SVC_ECANCELED,
               "shutting down before it started");
        return;
    }
    if (it->in_is_temp) { /* free the disk early */
        unlink(it->in_path);
        it->in_is_temp = 0;
    }
    if (it->res.code != 0) {
        if (it->res.reason != SVC_R_NONE)
            finish(it, SVC_DISP_DEAD, it->res.reason, it->res.code, "%s", it->res.msg);
        else
            finish(it, SVC_DISP_RETRY, it->res.retry ? it->res.retry : pl->proc->retry_reason,
                   it->res.code, "%s", it->res.msg);
        return;
    }
    set_stage(it, ST_UPLOAD);
    it->next_out = 0;
    upload_next(it);
}

static void on_fetched(void *ud, const struct svc_error *err, const char *path, int is_temp,
                       uint64_t size)
{
    struct item *it = ud;
    struct svc_pipeline *pl = it->pl;
    if (!err && path) { /* keep ownership of a temp file even when abandoned */
        it->in_path = strdup(path);
        it->in_is_temp = is_temp;
        if (!it->in_path && is_temp)
            unlink(path);
    }
    if (!resume(it))
        return;
    if (err) {
        fail_storage(it, err, "download input");
        return;
    }
    if (!it->in_path) {
        finish(it, SVC_DISP_RETRY, SVC_R_INTERNAL, SVC_ENOMEM, "out of memory");
        return;
    }
    svc_metrics_bytes(pl->o.metrics, 0, size);
    for (size_t i = 0; i < pl->n_outs; i++) {
        if (!(it->out_path[i] = temp_file(pl->temp_dir, "out", pl->outs[i].suffix))) {
            finish(it, SVC_DISP_RETRY, SVC_R_LOCAL_IO, SVC_EIO,
                   "cannot create a temporary file in %s: %s", pl->temp_dir, strerror(errno));
            return;
        }
    }
    set_stage(it, ST_PROCESS);
    it->job.work = work_run;
    it->job.done = work_done;
    it->t_queued = ev_time();
    hold(it);
    if (svc_pool_submit(pl->o.pool, &it->job) != 0) {
        it->pending--;
        it->refs--; /* the runner still holds one */
        finish(it, SVC_DISP_RETRY, SVC_R_INTERNAL, SVC_ECANCELED, "worker pool is shutting down");
        return;
    }
    it->in_pool = 1;
    svc_metrics_queue_depth(pl->o.metrics, (int64_t)svc_pool_queued(pl->o.pool));
}

/* ---- decide ---- */

static void decide_post(struct item *it, int input_exists)
{
    struct svc_pipeline *pl = it->pl;
    switch (svc_decide_post(&it->msg, &pl->view, it->outputs_exist, input_exists, pl->has_parent)) {
    case SVC_POST_SKIP:
        pass_through(it, SVC_OUT_SKIPPED);
        return;
    case SVC_POST_TRIGGER_PARENT:
        trigger_parent(it);
        return;
    case SVC_POST_MISSING:
        it->pub.outcome = SVC_OUT_MISSING;
        if (pl->cfg->parent.name && !pl->o.hooks.publish)
            finish(it, SVC_DISP_ACK, SVC_R_MISSING, SVC_ENOTFOUND,
                   "input %s missing (parent job %s cannot be triggered in batch mode)", it->in_url,
                   pl->cfg->parent.name);
        else
            finish(it, SVC_DISP_ACK, SVC_R_MISSING, SVC_ENOTFOUND, "input %s missing", it->in_url);
        return;
    case SVC_POST_PROCESS:
        set_stage(it, ST_FETCH);
        hold(it);
        svc_storage_fetch(pl->o.storage, it->in_url, pl->temp_dir, pl->cfg->runtime.max_input_bytes,
                          on_fetched, it);
        return;
    }
}

static void on_input_stat(void *ud, const struct svc_error *err, int exists, uint64_t size)
{
    struct item *it = ud;
    struct svc_pipeline *pl = it->pl;
    if (!resume(it))
        return;
    if (err) {
        fail_storage(it, err, "stat input");
        return;
    }
    if (exists && pl->cfg->runtime.max_input_bytes && size > pl->cfg->runtime.max_input_bytes) {
        finish(it, SVC_DISP_DEAD, SVC_R_TOO_BIG, SVC_ETOOBIG,
               "input %s is %llu bytes, more than max_input_mb allows (%llu bytes)", it->in_url,
               (unsigned long long)size, (unsigned long long)pl->cfg->runtime.max_input_bytes);
        return;
    }
    decide_post(it, exists);
}

static void check_input(struct item *it)
{
    set_stage(it, ST_CHECK_INPUT);
    hold(it);
    svc_storage_stat(it->pl->o.storage, it->in_url, on_input_stat, it);
}

static void check_output(struct item *it);

/* Skip-completed means every declared output exists. The last one (the
 * track's done marker) is checked first, so a track not done costs one
 * stat, as before. */
static void on_output_stat(void *ud, const struct svc_error *err, int exists, uint64_t size)
{
    struct item *it = ud;
    (void)size;
    if (!resume(it))
        return;
    if (err) {
        fail_storage(it, err, "stat output");
        return;
    }
    if (!exists) {
        it->outputs_exist = 0;
        check_input(it);
        return;
    }
    if (it->next_out == 0 || it->force) { /* forced: the others do not matter */
        it->outputs_exist = 1;
        if (!it->force) {
            decide_post(it, 1); /* skip: the input does not matter */
            return;
        }
        check_input(it);
        return;
    }
    it->next_out--;
    check_output(it);
}

static void check_output(struct item *it)
{
    hold(it);
    svc_storage_stat(it->pl->o.storage, it->out_url[it->next_out], on_output_stat, it);
}

/* message_timeout_s does not count the time the item waited for a free
 * worker: with one worker busy on a long track, the tracks queued behind it
 * would otherwise time out and, after max_attempts, be dead-lettered
 * without ever having run. That wait is given back, once it is known. */
static int queue_wait_owed(struct item *it, double *owed)
{
    long long started;
    double waited;
    if (!it->in_pool)
        return 0;
    started = atomic_load(&it->job.started_us);
    waited = (started ? (double)started / 1e6 : ev_time()) - it->t_queued;
    *owed = waited - it->wait_credited;
    if (*owed < 0.5)
        return 0;
    it->wait_credited = waited;
    return 1;
}

static void on_timeout_queue_aware(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct item *it = w->data;
    double owed;
    (void)revents;
    if (queue_wait_owed(it, &owed)) {
        ev_timer_set(w, owed, 0);
        ev_timer_start(loop, w);
        return;
    }
    finish(it, SVC_DISP_RETRY, SVC_R_TIMEOUT, SVC_ETIMEOUT,
           "not finished within message_timeout_s = %d s (in stage %s)",
           it->pl->cfg->runtime.message_timeout_s, stage_names[it->stage]);
}

void svc_pipeline_cancel(struct svc_pipeline *pl, struct svc_item *p)
{
    (void)pl;
    finish(item_of(p), SVC_DISP_RETRY, SVC_R_SHUTDOWN, SVC_ECANCELED,
           "shutting down before it finished");
}

void svc_pipeline_start(struct svc_pipeline *pl, struct svc_item *p)
{
    struct item *it = item_of(p);
    char why[256];
    struct svc_error nerr;
    const struct cfg_job *cfg = pl->cfg;
    it->pl = pl;
    it->finished = 0;
    it->stage = ST_NEW;
    it->t_stage = ev_time();
    ev_timer_init(&it->timeout, on_timeout_queue_aware, cfg->runtime.message_timeout_s, 0);
    it->timeout.data = it;
    if (cfg->runtime.message_timeout_s > 0)
        ev_timer_start(pl->o.loop, &it->timeout);

    set_stage(it, ST_DECIDE);
    why[0] = 0;
    if (svc_message_decode(p->data, p->len, &it->msg, why, sizeof(why)) != 0) {
        finish(it, SVC_DISP_DEAD, SVC_R_BAD_MESSAGE, SVC_EINVAL, "%s",
               why[0] ? why : "malformed message");
        return;
    }
    it->have_msg = 1;
    if (it->msg.element)
        snprintf(p->element, sizeof(p->element), "%s", it->msg.element);
    why[0] = 0;
    switch (svc_decide_pre(&it->msg, &pl->view, why, sizeof(why))) {
    case SVC_PRE_DROP:
        finish_ack(it, SVC_OUT_DROPPED);
        return;
    case SVC_PRE_DEAD_LOOP:
        finish(it, SVC_DISP_DEAD, SVC_R_LOOP, SVC_EINVAL, "%s",
               why[0] ? why : "loop guard tripped");
        return;
    case SVC_PRE_DEAD_BAD:
        finish(it, SVC_DISP_DEAD, SVC_R_BAD_ELEMENT, SVC_EINVAL, "%s",
               why[0] ? why : "bad element");
        return;
    case SVC_PRE_PING:
        pass_through(it, SVC_OUT_PINGED);
        return;
    case SVC_PRE_CHECK_OUTPUT:
        break;
    }
    it->force = it->msg.force || pl->view.force;
    it->in_url = cat3(cfg->input.location, it->msg.element, cfg->input.suffix);
    if (!it->in_url) {
        finish(it, SVC_DISP_RETRY, SVC_R_INTERNAL, SVC_ENOMEM, "out of memory");
        return;
    }
    for (size_t i = 0; i < pl->n_outs; i++)
        if (!(it->out_url[i] = cat3(pl->outs[i].location, it->msg.element, pl->outs[i].suffix))) {
            finish(it, SVC_DISP_RETRY, SVC_R_INTERNAL, SVC_ENOMEM, "out of memory");
            return;
        }
    for (size_t i = 0; i <= pl->n_outs; i++) /* every name within its scheme's limits */
        if (svc_storage_check_name(i ? it->out_url[i - 1] : it->in_url, &nerr) != 0) {
            finish(it, SVC_DISP_DEAD, SVC_R_BAD_ELEMENT, SVC_EINVAL, "%s", nerr.msg);
            return;
        }
    set_stage(it, ST_CHECK_OUTPUTS);
    it->next_out = pl->n_outs - 1;
    check_output(it);
}
