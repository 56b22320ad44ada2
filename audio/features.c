/* features.c: per-track features of the chain's output signal (after the
 * channel op and the resampler, before encoding): sample peak and RMS in
 * dBFS, integrated loudness (EBU R 128 / ITU-R BS.1770) and true peak via
 * libebur128. Computed only when asked for: it is per-sample work the plain
 * chain does not need.
 *
 * libebur128 takes at most 64 channels per state, so a wider signal is split
 * into groups of 64 channels, one state each, fed deinterleaved copies. No
 * figure changes by it: libebur128's default channel map weighs only the
 * first six channels for loudness (L R C, LFE unused, Ls Rs; every further
 * channel unused), so the first group's state measures the whole signal's
 * loudness; the other groups' channels are marked unused (no K-filtering)
 * and their states measure true peak only. Peak and RMS are summed here over
 * every channel. libebur128 keeps 400 ms of every channel as doubles (3.2
 * bytes per channel and Hz), hence the cap on channels x rate. */
#include "audio/audio_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <ebur128.h>

/* libebur128's VALIDATE_MAX_CHANNELS. */
#define EBU_GROUP 64
/* Frames deinterleaved per call when there is more than one group. */
#define SCRATCH_FRAMES 1024

struct audio__features {
    ebur128_state **ebu; /* one per group of EBU_GROUP channels; [0] measures loudness */
    int n_ebu;
    float *scratch; /* SCRATCH_FRAMES x EBU_GROUP, only when n_ebu > 1 */
    int rate, channels;
    int64_t frames;
    double sumsq;
    float peak;
};

int audio__features_create(struct audio__features **out, int rate, int channels,
                           struct audio_error *err)
{
    *out = NULL;
    if (channels < 1 || channels > AUDIO__MAX_CHANNELS || rate < 1)
        return audio__fail(err, AUDIO_EINVAL, "features: invalid signal (%d channels at %d Hz)",
                           channels, rate);
    if ((int64_t)channels * rate > AUDIO__FEATURES_MAX_CHANNEL_HZ)
        return audio__fail(err, AUDIO_EUNSUPPORTED,
                           "unsupported: features on %d channels at %d Hz (channels x rate at "
                           "most %d, e.g. 256 channels at 192 kHz or 64 at 768 kHz)",
                           channels, rate, AUDIO__FEATURES_MAX_CHANNEL_HZ);
    struct audio__features *f = calloc(1, sizeof(*f));
    if (!f)
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    f->rate = rate;
    f->channels = channels;
    f->n_ebu = (channels + EBU_GROUP - 1) / EBU_GROUP;
    f->ebu = calloc((size_t)f->n_ebu, sizeof(*f->ebu));
    if (!f->ebu)
        goto nomem;
    if (f->n_ebu > 1 &&
        !(f->scratch = malloc((size_t)SCRATCH_FRAMES * EBU_GROUP * sizeof(*f->scratch))))
        goto nomem;
    for (int g = 0; g < f->n_ebu; g++) {
        int n = channels - g * EBU_GROUP < EBU_GROUP ? channels - g * EBU_GROUP : EBU_GROUP;
        int mode = g == 0 ? EBUR128_MODE_I | EBUR128_MODE_TRUE_PEAK : EBUR128_MODE_TRUE_PEAK;
        /* Rate and channel count are valid here: NULL means no memory. */
        if (!(f->ebu[g] = ebur128_init((unsigned)n, (unsigned long)rate, mode)))
            goto nomem;
        for (int c = 0; g > 0 && c < n; c++)
            ebur128_set_channel(f->ebu[g], (unsigned)c, EBUR128_UNUSED);
    }
    *out = f;
    return 0;
nomem:
    audio__features_destroy(f);
    return audio__fail(err, AUDIO_ENOMEM, "out of memory");
}

void audio__features_add(struct audio__features *f, const float *buf, size_t frames)
{
    size_t n = frames * (size_t)f->channels;
    double s = 0;
    float pk = f->peak;
    for (size_t i = 0; i < n; i++) {
        float a = fabsf(buf[i]);
        if (a > pk)
            pk = a;
        s += (double)buf[i] * buf[i];
    }
    f->peak = pk;
    f->sumsq += s;
    f->frames += (int64_t)frames;
    if (f->n_ebu == 1) {
        ebur128_add_frames_float(f->ebu[0], buf, frames);
        return;
    }
    size_t ch = (size_t)f->channels;
    for (size_t done = 0; done < frames; done += SCRATCH_FRAMES) {
        size_t m = frames - done < SCRATCH_FRAMES ? frames - done : SCRATCH_FRAMES;
        const float *x = buf + done * ch;
        for (int g = 0; g < f->n_ebu; g++) {
            size_t first = (size_t)g * EBU_GROUP,
                   gn = ch - first < EBU_GROUP ? ch - first : EBU_GROUP;
            for (size_t i = 0; i < m; i++)
                for (size_t c = 0; c < gn; c++)
                    f->scratch[i * gn + c] = x[i * ch + first + c];
            ebur128_add_frames_float(f->ebu[g], f->scratch, m);
        }
    }
}

/* JSON has no infinities: silence gives null. */
static void put_db(char *dst, size_t cap, double v)
{
    if (isfinite(v))
        snprintf(dst, cap, "%.3f", v);
    else
        snprintf(dst, cap, "null");
}

char *audio__features_json(struct audio__features *f)
{
    double peak_db = 20 * log10((double)f->peak);
    double rms = f->frames ? sqrt(f->sumsq / ((double)f->frames * f->channels)) : 0;
    double rms_db = 20 * log10(rms);
    double lufs = -HUGE_VAL, tp = 0;
    if (ebur128_loudness_global(f->ebu[0], &lufs) != EBUR128_SUCCESS)
        lufs = -HUGE_VAL;
    for (int c = 0; c < f->channels; c++) {
        double p = 0;
        if (ebur128_true_peak(f->ebu[c / EBU_GROUP], (unsigned)(c % EBU_GROUP), &p) ==
                EBUR128_SUCCESS &&
            p > tp)
            tp = p;
    }
    char s_peak[32], s_rms[32], s_lufs[32], s_tp[32];
    put_db(s_peak, sizeof(s_peak), peak_db);
    put_db(s_rms, sizeof(s_rms), rms_db);
    put_db(s_lufs, sizeof(s_lufs), lufs);
    put_db(s_tp, sizeof(s_tp), 20 * log10(tp));
#define FEATURES_FMT                                                                               \
    "{\"duration_s\": %.6f, \"frames\": %lld, \"sample_rate\": %d, \"channels\": %d, "             \
    "\"peak_dbfs\": %s, \"rms_dbfs\": %s, \"loudness_lufs\": %s, \"true_peak_dbfs\": %s}"
    double dur = (double)f->frames / f->rate;
    int n = snprintf(NULL, 0, FEATURES_FMT, dur, (long long)f->frames, f->rate, f->channels, s_peak,
                     s_rms, s_lufs, s_tp);
    char *out = malloc((size_t)n + 1);
    if (out)
        snprintf(out, (size_t)n + 1, FEATURES_FMT, dur, (long long)f->frames, f->rate, f->channels,
                 s_peak, s_rms, s_lufs, s_tp);
    return out;
}

void audio__features_destroy(struct audio__features *f)
{
    if (!f)
        return;
    for (int g = 0; f->ebu && g < f->n_ebu; g++)
        if (f->ebu[g])
            ebur128_destroy(&f->ebu[g]);
    free(f->ebu);
    free(f->scratch);
    free(f);
}
