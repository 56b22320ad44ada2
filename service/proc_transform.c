/* proc_transform.c: the user's transform as a processor (processor.h,
 * docs/transforms.md). One pass of the audio chain writes the track after
 * the job's steps to a .npy in the scratch directory (and the encoded audio
 * when output.audio is on, and the built-in features); then one request to
 * the transform's children (transform/) names that file and the paths of
 * every declared output, and the reply decides the track:
 *
 *   done                      every transform output non-empty -> success,
 *                             features merged into the features JSON;
 *                             one empty or missing -> DEAD transform_output_missing
 *   error, retryable          RETRY transform (max_attempts dead-letters it)
 *   error, not retryable      DEAD transform_error
 *   crashed alone, < 3 times  RETRY transform_crashed
 *   crashed alone, 3rd time   DEAD transform_crashed
 *   timeout                   RETRY transform_timeout (its child was killed)
 *   canceled                  SVC_ECANCELED (a timeout or shutdown abandoned it)
 *
 * Outputs, in upload order: the features JSON (when on), the analysis
 * arrays (docs/analysis.md, written by the same chain pass), the transform's
 * outputs in config order, the encoded audio (when on); the last is the
 * done marker. The .npy is removed after every outcome. */
#define _GNU_SOURCE /* mkstemps */
#include "service/processor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audio/audio.h"
#include "config/config.h"
#include "service/log.h"
#include "service/metrics.h"
#include "service/pipeline.h"
#include "service/svc_error.h"
#include "transform/transform.h"

/* Crashes of a track alone in a child before it is dead-lettered. */
#define TF_MAX_BLAME 3

struct proc_tf {
    const struct cfg_job *cfg;
    struct svc_metrics *metrics;
    struct audio_spec spec;
    int features, audio;
    struct svc_arrays arrays;
    size_t i_tf; /* index of the first transform output */
    size_t n_tf;
    const char *names[CFG_TF_OUTPUTS_MAX];
    struct tf_pool *pool;
    const char *scratch;
};

static void on_log(void *ud, enum tf_log_level lv, int worker, const char *stream, const char *text)
{
    const struct proc_tf *pt = ud;
    struct svc_log_fields f = {.job = pt->cfg->name, .duration_ms = -1};
    enum svc_severity sev = lv == TF_LOG_DEBUG     ? SVC_DEBUG
                            : lv == TF_LOG_INFO    ? SVC_INFO
                            : lv == TF_LOG_WARNING ? SVC_WARNING
                                                   : SVC_ERROR;
    if (stream)
        svc_log(sev, &f, "transform[%d] %s: %s", worker, stream, text);
    else if (worker >= 0)
        svc_log(sev, &f, "transform[%d]: %s", worker, text);
    else
        svc_log(sev, &f, "transform: %s", text);
}

static const char *content_type(const char *suffix)
{
    size_t n = strlen(suffix);
    if (n >= 5 && strcmp(suffix + n - 5, ".json") == 0)
        return "application/json";
    if (n >= 4 && strcmp(suffix + n - 4, ".txt") == 0)
        return "text/plain";
    if (n >= 4 && strcmp(suffix + n - 4, ".png") == 0)
        return "image/png";
    return "application/octet-stream";
}

static int pt_create(const struct svc_proc_env *env, void **state, struct svc_output_decl *outs,
                     size_t *n_outs, struct svc_error *err)
{
    const struct cfg_job *cfg = env->cfg;
    struct proc_tf *pt = calloc(1, sizeof(*pt));
    size_t n = 0;
    char why[512];
    if (!pt)
        return svc_error_set(err, SVC_ENOMEM, "out of memory");
    if (svc_spec_from_cfg(cfg, &pt->spec, err) != 0) {
        free(pt);
        return err ? err->code : SVC_EINVAL;
    }
    pt->cfg = cfg;
    pt->metrics = env->metrics;
    pt->features = cfg->features.enabled;
    pt->audio = cfg->output.audio;
    pt->scratch = svc_temp_dir(cfg);
    if (pt->features)
        outs[n++] = (struct svc_output_decl){
            .location = cfg->features.location ? cfg->features.location : cfg->output.location,
            .suffix = cfg->features.suffix ? cfg->features.suffix : ".json",
            .content_type = "application/json"};
    svc__arrays_declare(cfg, &pt->arrays, outs, &n);
    pt->i_tf = n;
    pt->n_tf = cfg->transform.n_outputs;
    for (size_t k = 0; k < pt->n_tf; k++) {
        pt->names[k] = cfg->transform.outputs[k].name;
        outs[n++] = (struct svc_output_decl){.location = cfg->output.location,
                                             .suffix = cfg->transform.outputs[k].suffix,
                                             .content_type =
                                                 content_type(cfg->transform.outputs[k].suffix)};
    }
    if (pt->audio)
        outs[n++] = (struct svc_output_decl){.location = cfg->output.location,
                                             .suffix = cfg->output.suffix,
                                             .content_type = audio_format_mime(pt->spec.format)};
    *n_outs = n;
    struct tf_opts o = {
        .argv = cfg->transform.command,
        .env = cfg->transform.env,
        .scratch = pt->scratch,
        .job = cfg->name,
        .workers = cfg->transform.workers,
        .max_in_flight = cfg->transform.max_in_flight,
        .startup_timeout_s = cfg->transform.startup_timeout_s,
        .timeout_s = cfg->transform.timeout_s,
        .log = on_log,
        .log_ud = pt,
    };
    if (tf_pool_create(&o, &pt->pool, why, sizeof(why)) != 0) {
        free(pt);
        return svc_error_set(err, SVC_EINVAL, "transform: %s", why);
    }
    *state = pt;
    return 0;
}

static void pt_destroy(void *state)
{
    struct proc_tf *pt = state;
    if (!pt)
        return;
    /* Called after the runner's grace: the children get a short one. */
    tf_pool_destroy(pt->pool, 2.0);
    free(pt);
}

static int pt_status(void *state, char *why, size_t why_n)
{
    struct proc_tf *pt = state;
    struct tf_stats st;
    tf_pool_stats(pt->pool, &st);
    svc_metrics_transform_gauges(pt->metrics, st.in_flight, st.restarts, st.children_ready);
    switch (tf_pool_state(pt->pool, why, why_n)) {
    case TF_READY:
        return SVC_PROC_READY;
    case TF_FAILED:
        return SVC_PROC_FAILED;
    default:
        return SVC_PROC_STARTING;
    }
}

/* The features JSON: the chain's, with the transform's keys added (the
 * chain's win on a clash). */
static int write_features(const char *path, const char *chain_json, const char *tf_json)
{
    json_t *a = json_loads(chain_json ? chain_json : "{}", 0, NULL);
    json_t *b = tf_json ? json_loads(tf_json, 0, NULL) : NULL;
    int rc = -1;
    if (a && json_is_object(a)) {
        if (b && json_is_object(b))
            json_object_update_missing(a, b);
        rc = json_dump_file(a, path, JSON_COMPACT) == 0 ? 0 : -1;
    }
    json_decref(a);
    json_decref(b);
    return rc;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void fail(struct svc_proc_result *r, int code, enum svc_reason dead, enum svc_reason retry,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void fail(struct svc_proc_result *r, int code, enum svc_reason dead, enum svc_reason retry,
                 const char *fmt, ...)
{
    va_list ap;
    r->code = code;
    r->reason = dead;
    r->retry = retry;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
}

static void pt_run(const void *state, const struct svc_proc_track *t, char *const *out_paths,
                   const atomic_int *cancel, struct svc_proc_result *r)
{
    const struct proc_tf *pt = state;
    struct audio_spec spec = pt->spec;
    struct audio_result ar;
    struct audio_error aerr = {0};
    struct svc_arrays arrays;
    char npy[4096];
    int fd, rc;
    svc__arrays_bind(&pt->arrays, out_paths, &arrays, &spec);
    snprintf(npy, sizeof(npy), "%s/wiggly-tf-XXXXXX.npy", pt->scratch);
    if ((fd = mkstemps(npy, 4)) < 0) {
        fail(r, SVC_EIO, SVC_R_NONE, SVC_R_LOCAL_IO, "cannot create a scratch file in %s: %s",
             pt->scratch, strerror(errno));
        return;
    }
    close(fd);
    spec.cancel = cancel;
    spec.npy_path = npy;
    double t_audio = mono_s();
    rc = audio_chain_run_file(t->in_path, pt->audio ? out_paths[pt->i_tf + pt->n_tf] : NULL, &spec,
                              &ar, &aerr);
    r->audio_s = mono_s() - t_audio;
    if (rc != 0) {
        enum svc_reason reason;
        int code = svc_error_from_audio(rc, &reason);
        fail(r, code, reason, SVC_R_AUDIO, "%s", aerr.msg[0] ? aerr.msg : audio_strerror(rc));
        goto out;
    }
    {
        const char *paths[CFG_TF_OUTPUTS_MAX];
        for (size_t k = 0; k < pt->n_tf; k++)
            paths[k] = out_paths[pt->i_tf + k];
        struct tf_request req = {
            .element = t->element,
            .audio = npy,
            .rate = ar.out.rate,
            .channels = ar.out.channels,
            .frames = ar.out.frames,
            .output_names = pt->names,
            .output_paths = paths,
            .n_outputs = pt->n_tf,
            .params_json = pt->cfg->transform.params_json,
            .attempt = t->attempt,
        };
        struct tf_result tr;
        double t0 = mono_s();
        tf_pool_call(pt->pool, &req, cancel, &tr);
        double took = mono_s() - t0;
        r->transform_s = took;
        unlink(npy);
        npy[0] = '\0';
        switch (tr.outcome) {
        case TF_DONE: {
            struct stat sb;
            for (size_t k = 0; k < pt->n_tf; k++) {
                if (stat(paths[k], &sb) != 0 || sb.st_size == 0) {
                    svc_metrics_transform_call(pt->metrics, SVC_TF_OUTPUT_MISSING, took);
                    fail(r, SVC_EINVAL, SVC_R_TRANSFORM_OUTPUT_MISSING, SVC_R_NONE,
                         "the transform said done but its output \"%s\" is %s", pt->names[k],
                         stat(paths[k], &sb) != 0 ? "missing" : "empty");
                    tf_result_cleanup(&tr);
                    goto out;
                }
            }
            if (pt->features && write_features(out_paths[0], ar.features_json, tr.features_json)) {
                fail(r, SVC_EIO, SVC_R_NONE, SVC_R_LOCAL_IO, "cannot write the features to %s",
                     out_paths[0]);
                tf_result_cleanup(&tr);
                goto out;
            }
            svc_metrics_transform_call(pt->metrics, SVC_TF_DONE, took);
            r->seconds = ar.seconds;
            break;
        }
        case TF_ERROR:
            svc_metrics_transform_call(pt->metrics,
                                       tr.retryable ? SVC_TF_ERROR : SVC_TF_ERROR_PERMANENT, took);
            if (tr.retryable)
                fail(r, SVC_ETRANSIENT, SVC_R_NONE, SVC_R_TRANSFORM, "transform error: %s", tr.msg);
            else
                fail(r, SVC_EINVAL, SVC_R_TRANSFORM_ERROR, SVC_R_NONE, "transform error: %s",
                     tr.msg);
            break;
        case TF_CRASHED:
            svc_metrics_transform_call(pt->metrics, SVC_TF_CRASHED, took);
            if (tr.blame >= TF_MAX_BLAME)
                fail(r, SVC_EINVAL, SVC_R_TRANSFORM_CRASHED, SVC_R_NONE, "%s", tr.msg);
            else
                fail(r, SVC_ETRANSIENT, SVC_R_NONE, SVC_R_TRANSFORM_CRASHED, "%s", tr.msg);
            break;
        case TF_TIMEOUT:
            svc_metrics_transform_call(pt->metrics, SVC_TF_TIMEOUT, took);
            fail(r, SVC_ETIMEOUT, SVC_R_NONE, SVC_R_TRANSFORM_TIMEOUT, "%s", tr.msg);
            break;
        case TF_CANCELED:
            svc_metrics_transform_call(pt->metrics, SVC_TF_CANCELED, took);
            fail(r, SVC_ECANCELED, SVC_R_NONE, SVC_R_NONE, "%s", tr.msg);
            break;
        case TF_UNAVAILABLE:
            fail(r, SVC_ETRANSIENT, SVC_R_NONE, SVC_R_TRANSFORM, "the transform cannot start: %s",
                 tr.msg);
            break;
        }
        tf_result_cleanup(&tr);
    }
out:
    if (npy[0])
        unlink(npy);
    audio_result_cleanup(&ar);
}

const struct svc_processor svc_proc_transform = {
    .name = "transform",
    .retry_reason = SVC_R_TRANSFORM,
    .create = pt_create,
    .destroy = pt_destroy,
    .run = pt_run,
    .status = pt_status,
};
