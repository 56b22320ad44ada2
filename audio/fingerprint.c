/* fingerprint.c: the Chromaprint fingerprint of the chain's output, the one
 * AcoustID and MusicBrainz use (docs/analysis.md "Fingerprint").
 *
 * Chromaprint takes 16-bit interleaved PCM. The chain's float samples are
 * converted exactly as libsndfile writes them to a 16-bit WAV (see
 * to_s16), so that the fingerprint of a track is
 * the one fpcalc computes from `wiggly process IN x.wav` with the same
 * steps. Chromaprint is fed chunk by chunk and only the first `seconds` of
 * audio (fpcalc's -length, 120 s by default): its state is a few hundred
 * KiB whatever the track's length. No locks: one handle per chain. */
#include "audio/audio_int.h"
#include "audio/lazy.h"

#include <math.h>
#include <stdlib.h>

#include <chromaprint.h>

/* Chromaprint's functions, bound when the first track needs them (lazy.h). */
/* clang-format off */
#define CP_FUNCS(X) \
    X(chromaprint_dealloc) \
    X(chromaprint_feed) \
    X(chromaprint_finish) \
    X(chromaprint_free) \
    X(chromaprint_get_fingerprint) \
    X(chromaprint_get_raw_fingerprint_size) \
    X(chromaprint_new) \
    X(chromaprint_start)
/* clang-format on */
#define LAZY_TABLE cp
LAZY_DEFINE(CP_FUNCS, audio__chromaprint_bind)

/* Samples converted per chromaprint_feed call. */
#define FEED_SAMPLES 8192

struct audio__fingerprint {
    ChromaprintContext *ctx;
    int rate, channels;
    double seconds;
    int64_t left; /* frames still to feed */
    int16_t pcm[FEED_SAMPLES];
};

int audio__fingerprint_create(struct audio__fingerprint **out,
                              const struct audio_fingerprint_spec *s, int rate, int channels,
                              struct audio_error *err)
{
    *out = NULL;
    if (!(s->seconds >= 0 && s->seconds <= 86400))
        return audio__fail(err, AUDIO_EINVAL, "fingerprint seconds must be 0 to 86400, got %g",
                           s->seconds);
    if (channels > FEED_SAMPLES)
        return audio__fail(err, AUDIO_EUNSUPPORTED, "fingerprint: %d channels", channels);
    int rc = audio__lazy_load(&audio__lazy_chromaprint, err);
    if (rc)
        return rc;
    struct audio__fingerprint *f = calloc(1, sizeof(*f));
    if (!f)
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    f->rate = rate;
    f->channels = channels;
    f->seconds = s->seconds > 0 ? s->seconds : 120;
    /* fpcalc: stream_limit = max_duration * rate, truncated. */
    f->left = (int64_t)(f->seconds * rate);
    f->ctx = cp.chromaprint_new(CHROMAPRINT_ALGORITHM_DEFAULT);
    if (!f->ctx || !cp.chromaprint_start(f->ctx, rate, channels)) {
        audio__fingerprint_destroy(f);
        return audio__fail(err, AUDIO_EINTERNAL, "chromaprint: cannot start at %d Hz, %d channels",
                           rate, channels);
    }
    *out = f;
    return 0;
}

/* libsndfile's float to 16-bit conversion with clipping on (sfio.c sets
 * SFC_SET_CLIPPING), pcm.c f2les_clip_array: scaled by 2^31, rounded to an
 * int32 with lrintf, then its top 16 bits (an arithmetic shift, so about
 * floor(x * 32768), not the nearest integer); clipped at full scale. */
static int16_t to_s16(float x)
{
    float v = x * 2147483648.0f;
    if (!(v < 2147483647.0f))
        return v != v ? 0 : 32767;
    if (v <= -2147483648.0f)
        return -32768;
    return (int16_t)(lrintf(v) >> 16);
}

int audio__fingerprint_add(struct audio__fingerprint *f, const float *buf, size_t frames,
                           struct audio_error *err)
{
    size_t ch = (size_t)f->channels, per = FEED_SAMPLES / ch;
    if ((int64_t)frames > f->left)
        frames = (size_t)f->left;
    f->left -= (int64_t)frames;
    while (frames > 0) {
        size_t m = frames < per ? frames : per;
        for (size_t i = 0; i < m * ch; i++)
            f->pcm[i] = to_s16(buf[i]);
        if (!cp.chromaprint_feed(f->ctx, f->pcm, (int)(m * ch)))
            return audio__fail(err, AUDIO_EINTERNAL, "chromaprint: cannot process audio");
        buf += m * ch;
        frames -= m;
    }
    return 0;
}

int audio__fingerprint_json(struct audio__fingerprint *f, int64_t frames, struct audio__str *b,
                            struct audio_error *err)
{
    char *fp = NULL;
    int size = 0;
    if (!cp.chromaprint_finish(f->ctx) || !cp.chromaprint_get_raw_fingerprint_size(f->ctx, &size))
        return audio__fail(err, AUDIO_EINTERNAL, "chromaprint: cannot finish");
    if (size <= 0) {
        /* Too short to fingerprint (fpcalc: "Empty fingerprint"). */
        audio__str_addf(b, "\"fingerprint\": null");
        return 0;
    }
    if (!cp.chromaprint_get_fingerprint(f->ctx, &fp) || !fp)
        return audio__fail(err, AUDIO_EINTERNAL, "chromaprint: cannot encode the fingerprint");
    /* fpcalc's DURATION: the whole track's, in whole seconds (truncated). */
    audio__str_addf(b,
                    "\"fingerprint\": {\"chromaprint\": \"%s\", \"duration\": %lld, "
                    "\"algorithm\": 2, \"seconds\": %g}",
                    fp, (long long)(frames / f->rate), f->seconds);
    cp.chromaprint_dealloc(fp);
    return 0;
}

void audio__fingerprint_destroy(struct audio__fingerprint *f)
{
    if (!f)
        return;
    if (f->ctx)
        cp.chromaprint_free(f->ctx);
    free(f);
}
