/* proc_audio.c: the audio chain as a processor (processor.h): one input
 * through decode -> channel op -> resample -> encode (audio/), writing the
 * encoded output and, when enabled, the features JSON and the analysis
 * arrays (.npy, docs/analysis.md). Those are declared first so that the
 * audio output, uploaded last, marks the track done. run() only reads the state, so any number of
 * workers share it. */
#include "service/processor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audio/audio.h"
#include "config/config.h"
#include "service/svc_error.h"

/* The config's steps as the audio engine's spec. */
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
    spec->fingerprint.enabled = cfg->features.fingerprint.enabled;
    spec->fingerprint.seconds = cfg->features.fingerprint.seconds;
    const struct cfg_rhythm *t = &cfg->features.tempo, *o = &cfg->features.onsets;
    spec->tempo = (struct audio_tempo_spec){t->enabled, t->method, t->buf, t->hop};
    spec->onsets = (struct audio_onset_spec){o->enabled,   o->method,  o->buf,       o->hop,
                                             o->threshold, o->silence, o->minioi_ms, NULL};
    return 0;
}

void svc__arrays_declare(const struct cfg_job *cfg, struct svc_arrays *arrs,
                         struct svc_output_decl *outs, size_t *n_outs)
{
    static const enum audio_array_kind kinds[] = {AUDIO_ARRAY_STFT, AUDIO_ARRAY_MEL,
                                                  AUDIO_ARRAY_MFCC};
    arrs->first = *n_outs;
    arrs->n = cfg->analysis.n_arrays;
    for (size_t k = 0; k < arrs->n; k++) {
        const struct cfg_array *c = &cfg->analysis.arrays[k];
        struct audio_array_spec *a = &arrs->a[k];
        audio_array_spec_init(a, kinds[c->kind]);
        a->n_fft = c->n_fft;
        a->hop = c->hop;
        a->center = c->center;
        a->power = c->power;
        a->db = c->db;
        a->top_db = c->top_db;
        a->n_mels = c->n_mels;
        a->fmin = c->fmin;
        a->fmax = c->fmax;
        a->htk = c->htk;
        a->slaney_norm = c->slaney_norm;
        a->n_mfcc = c->n_mfcc;
        outs[(*n_outs)++] = (struct svc_output_decl){.location = cfg->analysis.location,
                                                     .suffix = c->suffix,
                                                     .content_type = "application/octet-stream"};
    }
    arrs->onsets_npy = cfg->features.onsets.enabled && cfg->features.onsets.suffix;
    if (arrs->onsets_npy)
        outs[(*n_outs)++] = (struct svc_output_decl){.location = cfg->features.location,
                                                     .suffix = cfg->features.onsets.suffix,
                                                     .content_type = "application/octet-stream"};
    const struct cfg_plot *pl = &cfg->analysis.plot;
    arrs->has_plot = pl->enabled;
    if (pl->enabled) {
        struct audio_plot_spec *p = &arrs->plot;
        audio_plot_spec_init(p);
        p->n_fft = pl->n_fft;
        p->hop = pl->hop;
        p->n_mels = pl->n_mels;
        p->fmin = pl->fmin;
        p->fmax = pl->fmax;
        p->top_db = pl->top_db;
        p->width_max = pl->width_max;
        p->axes = pl->axes;
        if (pl->colormap)
            audio_colormap_parse(pl->colormap, &p->cmap);
        outs[(*n_outs)++] = (struct svc_output_decl){
            .location = cfg->analysis.location, .suffix = pl->suffix, .content_type = "image/png"};
    }
    arrs->n_out = *n_outs - arrs->first;
}

void svc__arrays_bind(const struct svc_arrays *arrs, char *const *out_paths, struct svc_arrays *tmp,
                      struct audio_spec *spec)
{
    size_t i = arrs->first;
    *tmp = *arrs;
    for (size_t k = 0; k < arrs->n; k++)
        tmp->a[k].path = out_paths[i++];
    spec->arrays = tmp->a;
    spec->n_arrays = arrs->n;
    if (arrs->onsets_npy)
        spec->onsets.npy_path = out_paths[i++];
    if (arrs->has_plot) {
        tmp->plot.path = out_paths[i++];
        spec->plot = &tmp->plot;
    }
}

struct proc_audio {
    struct audio_spec spec;
    int features;
    struct svc_arrays arrays;
};

static int pa_create(const struct svc_proc_env *env, void **state, struct svc_output_decl *outs,
                     size_t *n_outs, struct svc_error *err)
{
    const struct cfg_job *cfg = env->cfg;
    struct proc_audio *pa = calloc(1, sizeof(*pa));
    size_t n = 0;
    if (!pa)
        return svc_error_set(err, SVC_ENOMEM, "out of memory");
    if (svc_spec_from_cfg(cfg, &pa->spec, err) != 0) {
        free(pa);
        return err ? err->code : SVC_EINVAL;
    }
    pa->features = cfg->features.enabled;
    if (pa->features)
        outs[n++] = (struct svc_output_decl){
            .location = cfg->features.location ? cfg->features.location : cfg->output.location,
            .suffix = cfg->features.suffix ? cfg->features.suffix : ".json",
            .content_type = "application/json"};
    svc__arrays_declare(cfg, &pa->arrays, outs, &n);
    outs[n++] = (struct svc_output_decl){.location = cfg->output.location,
                                         .suffix = cfg->output.suffix,
                                         .content_type = audio_format_mime(pa->spec.format)};
    *n_outs = n;
    *state = pa;
    return 0;
}

static void pa_destroy(void *state)
{
    free(state);
}

int svc__write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    int ok;
    if (!f)
        return -1;
    ok = fputs(text, f) >= 0;
    if (fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static void pa_run(const void *state, const struct svc_proc_track *t, char *const *out_paths,
                   const atomic_int *cancel, struct svc_proc_result *r)
{
    const struct proc_audio *pa = state;
    struct audio_spec spec = pa->spec;
    struct audio_result res;
    struct audio_error aerr = {0};
    struct svc_arrays arrays;
    const char *out = out_paths[pa->arrays.first + pa->arrays.n_out];
    int rc;
    spec.cancel = cancel;
    svc__arrays_bind(&pa->arrays, out_paths, &arrays, &spec);
    rc = audio_chain_run_file(t->in_path, out, &spec, &res, &aerr);
    if (rc != 0) {
        r->code = svc_error_from_audio(rc, &r->reason);
        snprintf(r->msg, sizeof(r->msg), "%s", aerr.msg[0] ? aerr.msg : audio_strerror(rc));
    } else if (pa->features &&
               (!res.features_json || svc__write_text(out_paths[0], res.features_json))) {
        r->code = SVC_EIO;
        snprintf(r->msg, sizeof(r->msg), "cannot write the features to %s", out_paths[0]);
    } else {
        r->seconds = res.seconds;
    }
    audio_result_cleanup(&res);
}

const struct svc_processor svc_proc_audio = {
    .name = "audio",
    .retry_reason = SVC_R_AUDIO,
    .create = pa_create,
    .destroy = pa_destroy,
    .run = pa_run,
};
