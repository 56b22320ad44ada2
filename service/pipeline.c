/* pipeline.c: one message from decode to its disposition (see pipeline.h).
 * Every asynchronous step holds a reference on the item and checks
 * it->finished when it comes back, because a timeout or a shutdown may have
 * finished the item meanwhile; finish() is always the last thing a code path
 * does with an item. Loop thread only, except work_run() on a worker, which
 * touches only it->in_path, out_path, res, aerr and arc, and reads the
 * atomic it->abandoned. */
#include "service/pipeline.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "service/storage.h"

struct svc_pipeline {
    struct svc_pipeline_opts o;
    const struct cfg_job *cfg;
    struct audio_spec spec;
    struct svc_job_view view;
    int has_parent;
    const char *out_mime;
    const char *temp_dir;
};

/* ---- items ---- */

struct svc_item *svc_item_create(const void *data, size_t len)
{
    struct svc_item *it = calloc(1, sizeof(*it));
    if (!it)
        return NULL;
    it->data = malloc(len + 1);
    if (!it->data) {
        free(it);
        return NULL;
    }
    memcpy(it->data, data, len);
    ((char *)it->data)[len] = 0;
    it->len = len;
    it->refs = 1;
    return it;
}

static void item_free(struct svc_item *it)
{
    if (it->pl)
        ev_timer_stop(it->pl->o.loop, &it->timeout);
    if (it->in_path && it->in_is_temp)
        unlink(it->in_path);
    if (it->out_path)
        unlink(it->out_path);
    if (it->have_msg)
        svc_message_cleanup(&it->msg);
    audio_result_cleanup(&it->res);
    free(it->in_url);
    free(it->out_url);
    free(it->feat_url);
    free(it->in_path);
    free(it->out_path);
    free(it->ack_id);
    free(it->message_id);
    free(it->data);
    free(it);
}

void svc_item_release(struct svc_item *it)
{
    if (it && --it->refs == 0)
        item_free(it);
}

static void hold(struct svc_item *it)
{
    it->refs++;
    it->pending++;
}

/* Called first in every completion: drops the operation's reference and
 * says whether the item still wants the result. */
static int resume(struct svc_item *it)
{
    int alive = !it->finished;
    it->pending--;
    svc_item_release(it); /* the runner's reference keeps it alive while !finished */
    return alive;
}

__attribute__((format(printf, 5, 6))) static void
finish(struct svc_item *it, enum svc_disp d, const char *reason, int code, const char *fmt, ...)
{
    struct svc_pipeline *pl = it->pl;
    if (it->finished)
        return;
    it->finished = 1;
    /* A running DSP job sees this at its next chunk; a queued one is taken
     * back (its done() still follows, with SVC_ECANCELED). */
    atomic_store(&it->abandoned, 1);
    if (it->in_pool)
        svc_pool_cancel(pl->o.pool, &it->job);
    ev_timer_stop(pl->o.loop, &it->timeout);
    it->disp = d;
    it->reason = reason;
    it->err.code = code;
    it->err.msg[0] = 0;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(it->err.msg, sizeof(it->err.msg), fmt, ap);
        va_end(ap);
    }
    pl->o.hooks.finish(pl->o.hooks.ctx, it);
}

static void finish_ack(struct svc_item *it, enum svc_outcome o)
{
    it->outcome = o;
    finish(it, SVC_DISP_ACK, NULL, 0, NULL);
}

/* ---- spec ---- */

int svc_spec_from_cfg(const struct cfg_job *cfg, struct audio_spec *spec, struct svc_error *err)
{
    memset(spec, 0, sizeof(*spec));
    switch (cfg->steps.channels) {
    case CFG_CH_KEEP:
        spec->channels = AUDIO_CH_KEEP;
        break;
    case CFG_CH_MONO:
        spec->channels = AUDIO_CH_MONO;
        break;
    case CFG_CH_STEREO:
        spec->channels = AUDIO_CH_STEREO;
        break;
    case CFG_CH_SELECT:
        spec->channels = AUDIO_CH_SELECT;
        spec->select_channel = cfg->steps.select_channel;
        break;
    }
    spec->rate = cfg->steps.rate;
    spec->quality = AUDIO_Q_HIGH;
    if (cfg->steps.quality && audio_quality_parse(cfg->steps.quality, &spec->quality) != 0)
        return svc_error_set(err, SVC_EINVAL, "steps.quality: unknown quality '%s'",
                             cfg->steps.quality);
    spec->format = AUDIO_FMT_FLAC;
    if (cfg->steps.format && audio_format_parse(cfg->steps.format, &spec->format) != 0)
        return svc_error_set(err, SVC_EINVAL, "steps.format: unknown format '%s'",
                             cfg->steps.format);
    switch (cfg->steps.bits) {
    case 0:
        spec->sample = AUDIO_PCM_DEFAULT;
        break;
    case 16:
        spec->sample = AUDIO_PCM_16;
        break;
    case 24:
        spec->sample = AUDIO_PCM_24;
        break;
    case 32:
        spec->sample = AUDIO_FLOAT;
        break;
    default:
        return svc_error_set(err, SVC_EINVAL, "steps.bits: %d is not 16, 24 or 32",
                             cfg->steps.bits);
    }
    spec->vbr_quality = cfg->steps.vbr_quality;
    spec->bitrate_kbps = cfg->steps.bitrate_kbps;
    spec->max_input_bytes = cfg->runtime.max_input_bytes;
    spec->max_seconds = cfg->runtime.max_duration_s;
    spec->features = cfg->features.enabled;
    return 0;
}

/* ---- scratch ---- */

const char *svc_temp_dir(const struct cfg_job *cfg)
{
    return cfg->runtime.temp_dir && cfg->runtime.temp_dir[0] ? cfg->runtime.temp_dir : "/tmp";
}

int svc_temp_dir_check(const char *dir, struct svc_error *err)
{
    size_t n = strlen(dir) + 32;
    char *p = malloc(n);
    int fd;
    if (!p)
        return svc_error_set(err, SVC_ENOMEM, "out of memory");
    snprintf(p, n, "%s/wiggly-check-XXXXXX", dir);
    fd = mkstemp(p);
    if (fd < 0) {
        int e = errno;
        free(p);
        return svc_error_set(err, SVC_EIO, "runtime.temp_dir %s: cannot create a file there: %s",
                             dir, strerror(e));
    }
    close(fd);
    unlink(p);
    free(p);
    return 0;
}

/* ---- create ---- */

struct svc_pipeline *svc_pipeline_create(const struct svc_pipeline_opts *o, struct svc_error *err)
{
    struct svc_pipeline *pl;
    const struct cfg_job *cfg = o->cfg;
    if (!o->hooks.finish || !o->storage || !o->pool || !cfg) {
        svc_error_set(err, SVC_EINVAL, "pipeline: missing storage, pool, config or finish hook");
        return NULL;
    }
    if (svc_url_kind(cfg->input.location) == SVC_URL_BAD ||
        svc_url_kind(cfg->output.location) == SVC_URL_BAD) {
        svc_error_set(err, SVC_EINVAL,
                      "input and output locations must be gs://bucket/prefix/ or "
                      "file:///abs/dir/ (got '%s' and '%s')",
                      cfg->input.location, cfg->output.location);
        return NULL;
    }
    pl = calloc(1, sizeof(*pl));
    if (!pl) {
        svc_error_set(err, SVC_ENOMEM, "out of memory");
        return NULL;
    }
    pl->o = *o;
    pl->cfg = cfg;
    if (svc_spec_from_cfg(cfg, &pl->spec, err) != 0) {
        free(pl);
        return NULL;
    }
    pl->view.name = cfg->name;
    pl->view.force = cfg->force || o->force;
    pl->view.ping = cfg->ping;
    pl->view.max_visits = cfg->runtime.max_visits;
    pl->has_parent = cfg->parent.name && cfg->parent.topic && o->hooks.publish;
    pl->out_mime = audio_format_mime(pl->spec.format);
    pl->temp_dir = svc_temp_dir(cfg);
    if (svc_temp_dir_check(pl->temp_dir, err) != 0) {
        free(pl);
        return NULL;
    }
    return pl;
}

void svc_pipeline_destroy(struct svc_pipeline *pl)
{
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

static void fail_storage(struct svc_item *it, const struct svc_error *e, const char *what)
{
    switch (e->code) {
    case SVC_ETOOBIG:
        finish(it, SVC_DISP_DEAD, "too_big", e->code, "%s: %s", what, e->msg);
        break;
    case SVC_EINVAL:
    case SVC_EREMOTE:
        finish(it, SVC_DISP_DEAD, "storage", e->code, "%s: %s", what, e->msg);
        break;
    case SVC_ENOBUCKET: /* a configuration problem, not this message's: it waits */
        finish(it, SVC_DISP_RETRY, "no_bucket", e->code, "%s: %s", what, e->msg);
        break;
    default: /* transient, canceled, local i/o, out of memory, vanished object */
        finish(it, SVC_DISP_RETRY, "storage", e->code, "%s: %s", what, e->msg);
        break;
    }
}

static void on_published(void *ud, const struct svc_error *err)
{
    struct svc_item *it = ud;
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
        finish(it, SVC_DISP_RETRY, "publish", it->pub_err.code, "publish: %s", it->pub_err.msg);
    else
        finish_ack(it, it->outcome);
}

/* Publish payload to every topic, then ACK with outcome. */
static void publish_then_ack(struct svc_item *it, char *const *topics, size_t n,
                             const char *payload, size_t len, enum svc_outcome outcome)
{
    struct svc_pipeline *pl = it->pl;
    it->outcome = outcome;
    if (!pl->o.hooks.publish || n == 0) {
        finish_ack(it, outcome);
        return;
    }
    it->n_pub = (int)n;
    it->pub_failed = 0;
    /* Hold every reference before the first call: a hook may complete
     * synchronously. */
    for (size_t i = 0; i < n; i++)
        hold(it);
    for (size_t i = 0; i < n; i++)
        pl->o.hooks.publish(pl->o.hooks.ctx, topics[i], payload, len, on_published, it);
}

static void pass_through(struct svc_item *it, enum svc_outcome outcome)
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
        finish(it, SVC_DISP_RETRY, "internal", SVC_ENOMEM, "out of memory");
        return;
    }
    if (svc_message_audit_add(&down, pl->cfg->name, (size_t)pl->cfg->runtime.max_audit) != 0 ||
        !(payload = svc_message_encode(&down, &len))) {
        svc_message_cleanup(&down);
        finish(it, SVC_DISP_RETRY, "internal", SVC_ENOMEM, "cannot encode the downstream message");
        return;
    }
    svc_message_cleanup(&down);
    publish_then_ack(it, pl->cfg->output_topics, pl->cfg->n_output_topics, payload, len, outcome);
    free(payload); /* publish copies its arguments */
}

static void trigger_parent(struct svc_item *it)
{
    struct svc_pipeline *pl = it->pl;
    struct svc_message trig;
    char *payload, *topics[1];
    size_t len;
    memset(&trig, 0, sizeof(trig));
    if (svc_message_make_trigger(&trig, &it->msg, pl->cfg->parent.name, pl->cfg->name) != 0 ||
        !(payload = svc_message_encode(&trig, &len))) {
        svc_message_cleanup(&trig);
        finish(it, SVC_DISP_RETRY, "internal", SVC_ENOMEM, "cannot build the parent trigger");
        return;
    }
    svc_message_cleanup(&trig);
    topics[0] = pl->cfg->parent.topic;
    publish_then_ack(it, topics, 1, payload, len, SVC_OUT_TRIGGERED_PARENT);
    free(payload);
}

static void upload_output(struct svc_item *it);

static void on_output_put(void *ud, const struct svc_error *err)
{
    struct svc_item *it = ud;
    struct svc_pipeline *pl = it->pl;
    if (!resume(it))
        return;
    svc_metrics_stage(pl->o.metrics, SVC_STAGE_UPLOAD, ev_time() - it->t_stage);
    if (err && err->code == SVC_EEXISTS) {
        /* Another worker finished it first (duplicate delivery): done. */
        pass_through(it, SVC_OUT_SKIPPED);
        return;
    }
    if (err) {
        fail_storage(it, err, "upload output");
        return;
    }
    {
        struct stat sb;
        if (stat(it->out_path, &sb) == 0)
            svc_metrics_bytes(pl->o.metrics, 1, (uint64_t)sb.st_size);
    }
    it->seconds = it->res.seconds;
    svc_metrics_audio_seconds(pl->o.metrics, it->res.seconds);
    pass_through(it, SVC_OUT_PROCESSED);
}

static void on_features_put(void *ud, const struct svc_error *err)
{
    struct svc_item *it = ud;
    if (!resume(it))
        return;
    if (err && err->code != SVC_EEXISTS) { /* exists: left by an earlier attempt */
        fail_storage(it, err, "upload features");
        return;
    }
    upload_output(it);
}

static void upload_output(struct svc_item *it)
{
    struct svc_pipeline *pl = it->pl;
    hold(it);
    svc_storage_put_file(pl->o.storage, it->out_url, it->out_path, pl->out_mime, !it->force,
                         on_output_put, it);
}

static void work_run(struct svc_pool_job *j)
{
    struct svc_item *it = (struct svc_item *)((char *)j - offsetof(struct svc_item, job));
    struct audio_spec spec = it->pl->spec;
    /* Timed out or cancelled after the worker took it: nobody wants the
     * result. While it runs, the same flag stops it between two chunks, so
     * a timeout or a shutdown frees the worker at once. */
    spec.cancel = &it->abandoned;
    if (atomic_load(&it->abandoned))
        return;
    it->arc = audio_chain_run_file(it->in_path, it->out_path, &spec, &it->res, &it->aerr);
}

static void work_done(struct svc_pool_job *j, int status)
{
    struct svc_item *it = (struct svc_item *)((char *)j - offsetof(struct svc_item, job));
    struct svc_pipeline *pl = it->pl;
    it->in_pool = 0;
    svc_metrics_queue_depth(pl->o.metrics, (int64_t)svc_pool_queued(pl->o.pool));
    if (!resume(it))
        return;
    if (status == SVC_ECANCELED) { /* the pool is going away with it still queued */
        finish(it, SVC_DISP_RETRY, "shutdown", SVC_ECANCELED, "shutting down before it started");
        return;
    }
    svc_metrics_stage(pl->o.metrics, SVC_STAGE_PROCESS, ev_time() - it->t_stage);
    if (it->in_is_temp) { /* free the disk early */
        unlink(it->in_path);
        it->in_is_temp = 0;
    }
    if (it->arc != 0) {
        const char *msg = it->aerr.msg[0] ? it->aerr.msg : audio_strerror(it->arc);
        if (it->arc == AUDIO_ETOOBIG)
            finish(it, SVC_DISP_DEAD, "too_big", SVC_EAUDIO, "%s", msg);
        else if (it->arc == AUDIO_EEMPTY) /* nothing to upload: out_path is dropped */
            finish(it, SVC_DISP_DEAD, "empty_audio", SVC_EAUDIO, "%s", msg);
        else if (audio_error_is_permanent(it->arc))
            finish(it, SVC_DISP_DEAD, "bad_audio", SVC_EAUDIO, "%s", msg);
        else
            finish(it, SVC_DISP_RETRY, "audio", SVC_EAUDIO, "%s", msg);
        return;
    }
    it->t_stage = ev_time();
    if (pl->cfg->features.enabled && it->res.features_json && it->feat_url) {
        hold(it);
        svc_storage_put_mem(pl->o.storage, it->feat_url, it->res.features_json,
                            strlen(it->res.features_json), "application/json", !it->force,
                            on_features_put, it);
        return;
    }
    upload_output(it);
}

static void on_fetched(void *ud, const struct svc_error *err, const char *path, int is_temp,
                       uint64_t size)
{
    struct svc_item *it = ud;
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
        finish(it, SVC_DISP_RETRY, "internal", SVC_ENOMEM, "out of memory");
        return;
    }
    svc_metrics_stage(pl->o.metrics, SVC_STAGE_DOWNLOAD, ev_time() - it->t_stage);
    svc_metrics_bytes(pl->o.metrics, 0, size);
    {
        size_t n = strlen(pl->temp_dir) + 32;
        int fd;
        it->out_path = malloc(n);
        if (!it->out_path) {
            finish(it, SVC_DISP_RETRY, "internal", SVC_ENOMEM, "out of memory");
            return;
        }
        snprintf(it->out_path, n, "%s/wiggly-out-XXXXXX", pl->temp_dir);
        fd = mkstemp(it->out_path);
        if (fd < 0) {
            free(it->out_path);
            it->out_path = NULL;
            finish(it, SVC_DISP_RETRY, "local_io", SVC_EIO, "cannot create a temporary file in %s",
                   pl->temp_dir);
            return;
        }
        close(fd);
    }
    it->job.work = work_run;
    it->job.done = work_done;
    it->t_stage = it->t_queued = ev_time();
    hold(it);
    if (svc_pool_submit(pl->o.pool, &it->job) != 0) {
        it->pending--;
        it->refs--; /* the runner still holds one */
        finish(it, SVC_DISP_RETRY, "internal", SVC_ECANCELED, "worker pool is shutting down");
        return;
    }
    it->in_pool = 1;
    svc_metrics_queue_depth(pl->o.metrics, (int64_t)svc_pool_queued(pl->o.pool));
}

static void decide_post(struct svc_item *it, int input_exists)
{
    struct svc_pipeline *pl = it->pl;
    switch (svc_decide_post(&it->msg, &pl->view, it->output_exists, input_exists, pl->has_parent)) {
    case SVC_POST_SKIP:
        pass_through(it, SVC_OUT_SKIPPED);
        return;
    case SVC_POST_TRIGGER_PARENT:
        trigger_parent(it);
        return;
    case SVC_POST_MISSING:
        it->outcome = SVC_OUT_MISSING;
        if (pl->cfg->parent.name && !pl->o.hooks.publish)
            finish(it, SVC_DISP_ACK, "missing", SVC_ENOTFOUND,
                   "input %s missing (parent job %s cannot be triggered in batch mode)", it->in_url,
                   pl->cfg->parent.name);
        else
            finish(it, SVC_DISP_ACK, "missing", SVC_ENOTFOUND, "input %s missing", it->in_url);
        return;
    case SVC_POST_PROCESS:
        it->t_stage = ev_time();
        hold(it);
        svc_storage_fetch(pl->o.storage, it->in_url, pl->temp_dir, pl->cfg->runtime.max_input_bytes,
                          on_fetched, it);
        return;
    }
}

static void on_input_stat(void *ud, const struct svc_error *err, int exists, uint64_t size)
{
    struct svc_item *it = ud;
    struct svc_pipeline *pl = it->pl;
    if (!resume(it))
        return;
    if (err) {
        fail_storage(it, err, "stat input");
        return;
    }
    if (exists && pl->cfg->runtime.max_input_bytes && size > pl->cfg->runtime.max_input_bytes) {
        finish(it, SVC_DISP_DEAD, "too_big", SVC_ETOOBIG,
               "input %s is %llu bytes, more than max_input_mb allows (%llu bytes)", it->in_url,
               (unsigned long long)size, (unsigned long long)pl->cfg->runtime.max_input_bytes);
        return;
    }
    decide_post(it, exists);
}

static void on_output_stat(void *ud, const struct svc_error *err, int exists, uint64_t size)
{
    struct svc_item *it = ud;
    struct svc_pipeline *pl = it->pl;
    (void)size;
    if (!resume(it))
        return;
    if (err) {
        fail_storage(it, err, "stat output");
        return;
    }
    it->output_exists = exists;
    if (exists && !it->force) {
        decide_post(it, 1); /* skip: the input does not matter */
        return;
    }
    hold(it);
    svc_storage_stat(pl->o.storage, it->in_url, on_input_stat, it);
}

/* message_timeout_s does not count the time the item waited for a free
 * worker: with one worker busy on a long track, the tracks queued behind it
 * would otherwise time out and, after max_attempts, be dead-lettered
 * without ever having run. That wait is given back, once it is known. */
static int queue_wait_owed(struct svc_item *it, double *owed)
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

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct svc_item *it = w->data;
    double owed;
    (void)revents;
    if (queue_wait_owed(it, &owed)) {
        ev_timer_set(w, owed, 0);
        ev_timer_start(loop, w);
        return;
    }
    finish(it, SVC_DISP_RETRY, "timeout", SVC_ETIMEOUT,
           "not finished within message_timeout_s = %d s", it->pl->cfg->runtime.message_timeout_s);
}

void svc_pipeline_cancel(struct svc_pipeline *pl, struct svc_item *it)
{
    (void)pl;
    finish(it, SVC_DISP_RETRY, "shutdown", SVC_ECANCELED, "shutting down before it finished");
}

void svc_pipeline_start(struct svc_pipeline *pl, struct svc_item *it)
{
    char why[256];
    const struct cfg_job *cfg = pl->cfg;
    it->pl = pl;
    it->finished = 0;
    ev_timer_init(&it->timeout, on_timeout, cfg->runtime.message_timeout_s, 0);
    it->timeout.data = it;
    if (cfg->runtime.message_timeout_s > 0)
        ev_timer_start(pl->o.loop, &it->timeout);

    why[0] = 0;
    if (svc_message_decode(it->data, it->len, &it->msg, why, sizeof(why)) != 0) {
        finish(it, SVC_DISP_DEAD, "bad_message", SVC_EINVAL, "%s",
               why[0] ? why : "malformed message");
        return;
    }
    it->have_msg = 1;
    if (it->msg.element)
        snprintf(it->element, sizeof(it->element), "%s", it->msg.element);
    why[0] = 0;
    switch (svc_decide_pre(&it->msg, &pl->view, why, sizeof(why))) {
    case SVC_PRE_DROP:
        finish_ack(it, SVC_OUT_DROPPED);
        return;
    case SVC_PRE_DEAD_LOOP:
        finish(it, SVC_DISP_DEAD, "loop", SVC_EINVAL, "%s", why[0] ? why : "loop guard tripped");
        return;
    case SVC_PRE_DEAD_BAD:
        finish(it, SVC_DISP_DEAD, "bad_element", SVC_EINVAL, "%s", why[0] ? why : "bad element");
        return;
    case SVC_PRE_PING:
        pass_through(it, SVC_OUT_PINGED);
        return;
    case SVC_PRE_CHECK_OUTPUT:
        break;
    }
    it->force = it->msg.force || pl->view.force;
    it->in_url = cat3(cfg->input.location, it->msg.element, cfg->input.suffix);
    it->out_url = cat3(cfg->output.location, it->msg.element, cfg->output.suffix);
    if (cfg->features.enabled)
        it->feat_url = cat3(cfg->features.location ? cfg->features.location : cfg->output.location,
                            it->msg.element, cfg->features.suffix ? cfg->features.suffix : ".json");
    if (!it->in_url || !it->out_url || (cfg->features.enabled && !it->feat_url)) {
        finish(it, SVC_DISP_RETRY, "internal", SVC_ENOMEM, "out of memory");
        return;
    }
    hold(it);
    svc_storage_stat(pl->o.storage, it->out_url, on_output_stat, it);
}
