/* extras.c: what the chain computes besides the features and the arrays,
 * as one set: the fingerprint, tempo and onsets (into the features JSON)
 * and the picture. Each part is fed every output chunk in emit() and
 * finished after the last one (the JSON parts only when there is a
 * result to put them in). No locks: one set per chain. */
#include "audio/audio_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct audio__extras {
    struct audio__fingerprint *fp;
    struct audio__rhythm *rh;
    struct audio__plot *plot;
};

void audio__str_addf(struct audio__str *b, const char *fmt, ...)
{
    va_list ap;
    if (b->oom)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (n >= 0 && b->len + (size_t)n + 1 > cap)
            cap *= 2;
        char *s = n < 0 ? NULL : realloc(b->s, cap);
        if (!s) {
            b->oom = 1;
            return;
        }
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

int audio__extras_create(struct audio__extras **out, const struct audio_spec *spec, int rate,
                         int channels, struct audio_error *err)
{
    *out = NULL;
    int json = spec->fingerprint.enabled || spec->tempo.enabled || spec->onsets.enabled;
    if (!json && !spec->plot)
        return 0;
    if (json && !spec->features)
        return audio__fail(err, AUDIO_EINVAL,
                           "fingerprint, tempo and onsets go into the features: set features");
    struct audio__extras *x = calloc(1, sizeof(*x));
    if (!x)
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    int rc = 0;
    if (spec->fingerprint.enabled)
        rc = audio__fingerprint_create(&x->fp, &spec->fingerprint, rate, channels, err);
    if (!rc && (spec->tempo.enabled || spec->onsets.enabled))
        rc = audio__rhythm_create(&x->rh, &spec->tempo, &spec->onsets, rate, channels, err);
    if (!rc && spec->plot)
        rc = audio__plot_create(&x->plot, spec->plot, rate, channels, err);
    if (rc) {
        audio__extras_destroy(x);
        return rc;
    }
    *out = x;
    return 0;
}

int audio__extras_add(struct audio__extras *x, const float *buf, size_t frames,
                      struct audio_error *err)
{
    int rc = 0;
    if (x->fp)
        rc = audio__fingerprint_add(x->fp, buf, frames, err);
    if (!rc && x->rh)
        rc = audio__rhythm_add(x->rh, buf, frames, err);
    if (!rc && x->plot)
        rc = audio__plot_add(x->plot, buf, frames, err);
    return rc;
}

int audio__extras_finish(struct audio__extras *x, int64_t frames, char **json,
                         const atomic_int *cancel, struct audio_error *err)
{
    struct audio__str b = {0};
    int rc = 0;
    if (x->plot && (rc = audio__plot_finish(x->plot, cancel, err)))
        return rc;
    if ((!x->fp && !x->rh) || !json)
        return 0;
    /* The features JSON is one object: its keys, then ours. */
    size_t len = *json ? strlen(*json) : 0;
    if (len < 2 || (*json)[len - 1] != '}')
        return audio__fail(err, AUDIO_EINTERNAL, "features JSON is not an object");
    audio__str_addf(&b, "%.*s, ", (int)(len - 1), *json);
    if (x->fp && (rc = audio__fingerprint_json(x->fp, frames, &b, err)))
        goto out;
    if (x->fp && x->rh)
        audio__str_addf(&b, ", ");
    if (x->rh && (rc = audio__rhythm_finish(x->rh, &b, err)))
        goto out;
    audio__str_addf(&b, "}");
    if (b.oom) {
        rc = audio__fail(err, AUDIO_ENOMEM, "out of memory");
        goto out;
    }
    free(*json);
    *json = b.s;
    b.s = NULL;
out:
    free(b.s);
    return rc;
}

void audio__extras_destroy(struct audio__extras *x)
{
    if (!x)
        return;
    audio__fingerprint_destroy(x->fp);
    audio__rhythm_destroy(x->rh);
    audio__plot_destroy(x->plot);
    free(x);
}
