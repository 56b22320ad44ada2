/* rhythm.c: tempo and onsets of the chain's output with aubio
 * (docs/analysis.md "Tempo and onsets").
 *
 * The output is mixed down to mono (the average of its channels, as aubio's
 * own sources do) and fed to aubio hop by hop, as the `aubio tempo` and
 * `aubio onset` commands do: full hops as they fill, then one last hop
 * padded with zeros (also when the track ends on a hop boundary, as the
 * command's read loop does). The tempo is reported as the command reports
 * it: the mean of 60 / (interval between consecutive beats). Memory is
 * flat in the track's length except for the onset times kept for the JSON
 * (4 bytes each, at most AUDIO__ONSETS_JSON_MAX). No locks. */
#include "audio/audio_int.h"
#include "audio/lazy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <aubio/aubio.h>

/* aubio's functions, bound when the first track needs them (lazy.h). */
/* clang-format off */
#define AB_FUNCS(X) \
    X(aubio_onset_do) \
    X(aubio_onset_get_last_s) \
    X(aubio_onset_set_minioi_ms) \
    X(aubio_onset_set_silence) \
    X(aubio_onset_set_threshold) \
    X(aubio_tempo_do) \
    X(aubio_tempo_get_confidence) \
    X(aubio_tempo_get_last_s) \
    X(del_aubio_onset) \
    X(del_aubio_tempo) \
    X(del_fvec) \
    X(fvec_get_sample) \
    X(fvec_set_sample) \
    X(new_aubio_onset) \
    X(new_aubio_tempo) \
    X(new_fvec)
/* clang-format on */
#define LAZY_TABLE ab
LAZY_DEFINE(AB_FUNCS, audio__aubio_bind)

/* Onset times listed in the JSON; beyond it the JSON says how many were left
 * out (the .npy, when asked, has them all). */
#define AUDIO__ONSETS_JSON_MAX 100000

struct detector {
    int on, hop;
    fvec_t *in, *out;
    size_t fill;
};

struct audio__rhythm {
    int rate, channels;
    struct detector t, o;
    aubio_tempo_t *tempo;
    aubio_onset_t *onset;
    /* tempo: beats and the running sum of 60 / interval */
    int64_t beats;
    double last_beat, bpm_sum;
    /* onsets */
    int64_t n_onsets;
    float *times;
    size_t n_times, cap_times;
    struct audio__npy npy;
    int has_npy;
    const char *method_t, *method_o;
};

static const char *const onset_methods[] = {"default",  "energy", "hfc", "complex",  "phase",
                                            "specdiff", "kl",     "mkl", "specflux", NULL};

int audio_onset_method_ok(const char *method)
{
    for (int k = 0; onset_methods[k]; k++)
        if (!strcmp(method, onset_methods[k]))
            return 1;
    return 0;
}

static int check_sizes(const char *what, int buf, int hop, struct audio_error *err)
{
    if (buf < 2 || buf > AUDIO_RHYTHM_BUF_MAX || hop < 1 || hop > buf)
        return audio__fail(err, AUDIO_EINVAL, "%s: buf must be 2 to %d and hop 1 to buf, got %d/%d",
                           what, AUDIO_RHYTHM_BUF_MAX, buf, hop);
    return 0;
}

int audio__rhythm_create(struct audio__rhythm **out, const struct audio_tempo_spec *t,
                         const struct audio_onset_spec *o, int rate, int channels,
                         struct audio_error *err)
{
    *out = NULL;
    int tbuf = t->buf ? t->buf : AUDIO_TEMPO_BUF, thop = t->hop ? t->hop : AUDIO_TEMPO_HOP;
    int obuf = o->buf ? o->buf : AUDIO_ONSET_BUF, ohop = o->hop ? o->hop : AUDIO_ONSET_HOP;
    const char *tm = t->method ? t->method : "default", *om = o->method ? o->method : "default";
    int rc;
    if ((t->enabled && (rc = check_sizes("tempo", tbuf, thop, err))) ||
        (o->enabled && (rc = check_sizes("onsets", obuf, ohop, err))))
        return rc;
    if (t->enabled && strcmp(tm, "default") && !audio_onset_method_ok(tm))
        return audio__fail(err, AUDIO_EINVAL, "tempo: unknown method \"%s\"", tm);
    if (o->enabled && !audio_onset_method_ok(om))
        return audio__fail(err, AUDIO_EINVAL, "onsets: unknown method \"%s\"", om);
    if ((t->enabled || o->enabled) && (rc = audio__lazy_load(&audio__lazy_aubio, err)))
        return rc;
    struct audio__rhythm *r = calloc(1, sizeof(*r));
    if (!r)
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    r->rate = rate;
    r->channels = channels;
    r->method_t = tm;
    r->method_o = om;
    if (t->enabled) {
        r->t.on = 1;
        r->t.hop = thop;
        r->tempo = ab.new_aubio_tempo(tm, (uint_t)tbuf, (uint_t)thop, (uint_t)rate);
        r->t.in = ab.new_fvec((uint_t)thop);
        r->t.out = ab.new_fvec(2);
        if (!r->tempo || !r->t.in || !r->t.out) {
            audio__rhythm_destroy(r);
            return audio__fail(err, AUDIO_EINTERNAL, "aubio: cannot create the tempo detector");
        }
    }
    if (o->enabled) {
        r->o.on = 1;
        r->o.hop = ohop;
        r->onset = ab.new_aubio_onset(om, (uint_t)obuf, (uint_t)ohop, (uint_t)rate);
        r->o.in = ab.new_fvec((uint_t)ohop);
        r->o.out = ab.new_fvec(1);
        if (!r->onset || !r->o.in || !r->o.out) {
            audio__rhythm_destroy(r);
            return audio__fail(err, AUDIO_EINTERNAL, "aubio: cannot create the onset detector");
        }
        if (o->threshold > 0)
            ab.aubio_onset_set_threshold(r->onset, (smpl_t)o->threshold);
        ab.aubio_onset_set_silence(r->onset, (smpl_t)(o->silence_db ? o->silence_db : -70));
        ab.aubio_onset_set_minioi_ms(r->onset, (smpl_t)(o->minioi_ms > 0 ? o->minioi_ms : 12));
        if (o->npy_path) {
            r->has_npy = 1;
            if ((rc = audio__npy_open(&r->npy, o->npy_path, 1, err))) {
                audio__rhythm_destroy(r);
                return rc;
            }
        }
    }
    *out = r;
    return 0;
}

static int on_onset(struct audio__rhythm *r, struct audio_error *err)
{
    float s = (float)ab.aubio_onset_get_last_s(r->onset);
    r->n_onsets++;
    if (r->has_npy && audio__npy_write(&r->npy, &s, 1, err))
        return err ? err->code : AUDIO_EIO;
    if (r->n_times == AUDIO__ONSETS_JSON_MAX)
        return 0;
    if (r->n_times == r->cap_times) {
        size_t cap = r->cap_times ? 2 * r->cap_times : 256;
        float *p = realloc(r->times, cap * sizeof(float));
        if (!p)
            return audio__fail(err, AUDIO_ENOMEM, "out of memory");
        r->times = p;
        r->cap_times = cap;
    }
    r->times[r->n_times++] = s;
    return 0;
}

static int run_hop(struct audio__rhythm *r, struct detector *d, struct audio_error *err)
{
    if (d == &r->t) {
        ab.aubio_tempo_do(r->tempo, d->in, d->out);
        if (ab.fvec_get_sample(d->out, 0) != 0) {
            double s = ab.aubio_tempo_get_last_s(r->tempo);
            if (r->beats > 0 && s > r->last_beat)
                r->bpm_sum += 60.0 / (s - r->last_beat);
            r->last_beat = s;
            r->beats++;
        }
    } else {
        ab.aubio_onset_do(r->onset, d->in, d->out);
        if (ab.fvec_get_sample(d->out, 0) != 0)
            return on_onset(r, err);
    }
    return 0;
}

static int feed(struct audio__rhythm *r, struct detector *d, const float *x, size_t n,
                struct audio_error *err)
{
    while (n > 0) {
        size_t k = (size_t)d->hop - d->fill;
        if (k > n)
            k = n;
        for (size_t i = 0; i < k; i++)
            ab.fvec_set_sample(d->in, (smpl_t)x[i], (uint_t)(d->fill + i));
        d->fill += k;
        x += k;
        n -= k;
        if (d->fill == (size_t)d->hop) {
            d->fill = 0;
            int rc = run_hop(r, d, err);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int audio__rhythm_add(struct audio__rhythm *r, const float *buf, size_t frames,
                      struct audio_error *err)
{
    float mono[1024];
    size_t ch = (size_t)r->channels;
    while (frames > 0) {
        size_t m = frames < 1024 ? frames : 1024;
        const float *x = buf;
        if (ch > 1) {
            audio__mix_mono(mono, buf, m, r->channels);
            x = mono;
        }
        int rc;
        if ((r->t.on && (rc = feed(r, &r->t, x, m, err))) ||
            (r->o.on && (rc = feed(r, &r->o, x, m, err))))
            return rc;
        buf += m * ch;
        frames -= m;
    }
    return 0;
}

static int last_hop(struct audio__rhythm *r, struct detector *d, struct audio_error *err)
{
    for (size_t i = d->fill; i < (size_t)d->hop; i++)
        ab.fvec_set_sample(d->in, 0, (uint_t)i);
    d->fill = 0;
    return run_hop(r, d, err);
}

int audio__rhythm_finish(struct audio__rhythm *r, struct audio__str *b, struct audio_error *err)
{
    int rc;
    if (r->t.on) {
        if ((rc = last_hop(r, &r->t, err)))
            return rc;
        /* `aubio tempo`: fewer than 2 beats is "unknown bpm". */
        if (r->beats < 2)
            audio__str_addf(b, "\"tempo\": {\"bpm\": null, \"beats\": %lld", (long long)r->beats);
        else
            audio__str_addf(b, "\"tempo\": {\"bpm\": %.3f, \"beats\": %lld",
                            r->bpm_sum / (double)(r->beats - 1), (long long)r->beats);
        audio__str_addf(b, ", \"method\": \"%s\", \"confidence\": %.3f}", r->method_t,
                        (double)ab.aubio_tempo_get_confidence(r->tempo));
    }
    if (r->o.on) {
        if ((rc = last_hop(r, &r->o, err)))
            return rc;
        if (r->has_npy && (rc = audio__npy_finish(&r->npy, err)))
            return rc;
        audio__str_addf(b, "%s\"onsets\": {\"count\": %lld, \"method\": \"%s\", \"times\": [",
                        r->t.on ? ", " : "", (long long)r->n_onsets, r->method_o);
        for (size_t i = 0; i < r->n_times; i++)
            audio__str_addf(b, "%s%.6f", i ? ", " : "", (double)r->times[i]);
        audio__str_addf(b, "], \"omitted\": %lld}", (long long)(r->n_onsets - (int64_t)r->n_times));
    }
    return 0;
}

void audio__rhythm_destroy(struct audio__rhythm *r)
{
    if (!r)
        return;
    if (r->tempo)
        ab.del_aubio_tempo(r->tempo);
    if (r->onset)
        ab.del_aubio_onset(r->onset);
    if (r->t.in)
        ab.del_fvec(r->t.in);
    if (r->t.out)
        ab.del_fvec(r->t.out);
    if (r->o.in)
        ab.del_fvec(r->o.in);
    if (r->o.out)
        ab.del_fvec(r->o.out);
    if (r->has_npy)
        audio__npy_close(&r->npy);
    free(r->times);
    free(r);
}
