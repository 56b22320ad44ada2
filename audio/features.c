/* features.c: per-track features of the chain's output signal (after the
 * channel op and the resampler, before encoding): sample peak and RMS in
 * dBFS, integrated loudness (EBU R 128 / ITU-R BS.1770) and true peak via
 * libebur128. Computed only when asked for: it is per-sample work the plain
 * chain does not need. */
#include "audio/audio_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <ebur128.h>

struct audio__features {
    ebur128_state *ebu;
    int rate, channels;
    int64_t frames;
    double sumsq;
    float peak;
};

int audio__features_create(struct audio__features **out, int rate, int channels)
{
    struct audio__features *f = calloc(1, sizeof(*f));
    if (!f)
        return AUDIO_ENOMEM;
    f->ebu = ebur128_init((unsigned)channels, (unsigned long)rate,
                          EBUR128_MODE_I | EBUR128_MODE_TRUE_PEAK);
    if (!f->ebu) {
        free(f);
        return AUDIO_ENOMEM;
    }
    f->rate = rate;
    f->channels = channels;
    *out = f;
    return 0;
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
    ebur128_add_frames_float(f->ebu, buf, frames);
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
    if (ebur128_loudness_global(f->ebu, &lufs) != EBUR128_SUCCESS)
        lufs = -HUGE_VAL;
    for (int c = 0; c < f->channels; c++) {
        double p = 0;
        if (ebur128_true_peak(f->ebu, (unsigned)c, &p) == EBUR128_SUCCESS && p > tp)
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
    ebur128_destroy(&f->ebu);
    free(f);
}
