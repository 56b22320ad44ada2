/* gen.c: synthetic test audio, synthesised and encoded AUDIO__CHUNK_FRAMES at
 * a time so that any duration runs in constant memory. Deterministic for a
 * given seed. The "music" signal has chords, bass, a melody, drums and a
 * little noise so that lossy codecs and loudness meters see something close
 * to real material. */
#include "audio/audio_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TWO_PI     6.283185307179586476925286766559
#define TABLE_BITS 12
#define TABLE_SIZE (1u << TABLE_BITS)

struct gen {
    const struct audio_gen_spec *spec;
    double amp, freq;
    int64_t n; /* next frame */
    uint64_t rng;
    float table[TABLE_SIZE + 1]; /* one period of a 4-harmonic tone */
    double phase[6];             /* voices: 3 chord notes, bass, melody, kick */
    float hat_prev;
};

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float noise(uint64_t *s)
{
    return (float)((double)(splitmix(s) >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

static void gen_init(struct gen *g, const struct audio_gen_spec *spec)
{
    memset(g, 0, sizeof(*g));
    g->spec = spec;
    g->amp = spec->amplitude > 0 ? spec->amplitude : 0.5;
    g->freq = spec->freq > 0 ? spec->freq : 1000;
    g->rng = spec->seed ^ 0x5EEDull;
    for (unsigned i = 0; i <= TABLE_SIZE; i++) {
        double x = TWO_PI * i / TABLE_SIZE;
        g->table[i] =
            (float)((sin(x) + 0.5 * sin(2 * x) + 0.25 * sin(3 * x) + 0.125 * sin(4 * x)) / 1.875);
    }
}

static float tone(const struct gen *g, double phase)
{
    double p = phase * TABLE_SIZE;
    unsigned i = (unsigned)p;
    float fr = (float)(p - i);
    i &= TABLE_SIZE - 1;
    return g->table[i] + fr * (g->table[i + 1] - g->table[i]);
}

static double midi_hz(int note)
{
    return 440.0 * pow(2.0, (note - 69) / 12.0);
}

/* One frame of music: fills l and r. 120 bpm, a chord every bar of 2 s. */
static void music_frame(struct gen *g, double t, int rate, float *l, float *r)
{
    static const int chords[4][3] = {{60, 64, 67}, {55, 59, 62}, {57, 60, 64}, {53, 57, 60}};
    int bar = (int)(t / 2.0);
    const int *ch = chords[bar % 4];
    int beat = (int)(t / 0.5);
    double tb = t - beat * 0.5;
    int eighth = (int)(t / 0.25);
    double te = t - eighth * 0.25;
    double attack = tb < 0.005 ? tb / 0.005 : 1.0;
    double env = attack * (0.35 + 0.65 * exp(-4.0 * tb));
    float L = 0, R = 0;
    static const float pan[3] = {0.3f, 0.5f, 0.7f};
    for (int v = 0; v < 3; v++) {
        g->phase[v] += midi_hz(ch[v]) / rate;
        g->phase[v] -= floor(g->phase[v]);
        float s = (float)(0.11 * env) * tone(g, g->phase[v]);
        L += s * (1 - pan[v]);
        R += s * pan[v];
    }
    g->phase[3] += midi_hz(ch[0] - 24) / rate;
    g->phase[3] -= floor(g->phase[3]);
    float bass = (float)(0.16 * attack * (0.5 + 0.5 * exp(-3.0 * tb))) * tone(g, g->phase[3]);
    /* Melody: a chord tone an octave up, picked per eighth from the seed. */
    uint64_t h = g->spec->seed * 0x9E3779B97F4A7C15ull + (uint64_t)eighth;
    int note = ch[splitmix(&h) % 3] + 12 + (splitmix(&h) % 4 == 0 ? 12 : 0);
    g->phase[4] += midi_hz(note) / rate;
    g->phase[4] -= floor(g->phase[4]);
    double menv = (te < 0.003 ? te / 0.003 : 1.0) * exp(-6.0 * te);
    float mel = (float)(0.09 * menv) * tone(g, g->phase[4]);
    float drums = 0;
    if (beat % 2 == 0) { /* kick: a falling 150 -> 50 Hz sine */
        double ph = 50 * tb + 100.0 / 30.0 * (1 - exp(-30 * tb));
        drums += (float)(0.3 * exp(-6 * tb) * sin(TWO_PI * ph));
    } else { /* snare: a noise burst */
        drums += (float)(0.12 * exp(-18 * tb)) * noise(&g->rng);
    }
    float n = noise(&g->rng);
    float hat = (float)(0.05 * exp(-50 * te)) * (n - g->hat_prev);
    g->hat_prev = n;
    float bg = 0.003f * noise(&g->rng);
    L += bass + mel * 0.6f + drums + hat * 0.4f + bg;
    R += bass + mel * 0.4f + drums + hat * 0.6f + bg;
    float k = (float)(g->amp / 0.5 * 0.7);
    *l = L * k;
    *r = R * k;
}

static void gen_fill(struct gen *g, float *buf, size_t frames)
{
    const struct audio_gen_spec *s = g->spec;
    int nc = s->channels, rate = s->rate;
    for (size_t f = 0; f < frames; f++, g->n++) {
        float *x = buf + f * (size_t)nc;
        double t = (double)g->n / rate;
        float v = 0, l, r;
        switch (s->signal) {
        case AUDIO_SIG_SINE: /* phase from n, not accumulated: exact */
            v = (float)(g->amp * sin(TWO_PI * fmod(g->freq * (double)g->n, rate) / rate));
            break;
        case AUDIO_SIG_SWEEP: {
            double f0 = 20, f1 = 0.45 * rate, T = s->seconds;
            double k = log(f1 / f0) / T;
            v = (float)(g->amp * sin(TWO_PI * f0 * (exp(k * t) - 1) / k));
            break;
        }
        case AUDIO_SIG_NOISE:
            for (int c = 0; c < nc; c++)
                x[c] = (float)g->amp * noise(&g->rng);
            continue;
        case AUDIO_SIG_MUSIC:
            music_frame(g, t, rate, &l, &r);
            for (int c = 0; c < nc; c++)
                x[c] = nc == 1 ? (l + r) * 0.5f : (c % 2 ? r : l);
            continue;
        case AUDIO_SIG_SILENCE:
            break;
        }
        for (int c = 0; c < nc; c++)
            x[c] = v;
    }
}

int audio_signal_parse(const char *text, struct audio_gen_spec *g)
{
    static const struct {
        const char *name;
        enum audio_signal sig;
    } sigs[] = {{"sine", AUDIO_SIG_SINE},
                {"sweep", AUDIO_SIG_SWEEP},
                {"noise", AUDIO_SIG_NOISE},
                {"music", AUDIO_SIG_MUSIC},
                {"silence", AUDIO_SIG_SILENCE}};
    if (!text)
        return AUDIO_EINVAL;
    if (!strncmp(text, "sine:", 5)) {
        char *end;
        errno = 0;
        double f = strtod(text + 5, &end);
        if (errno || end == text + 5 || *end || !(f > 0) || f > 1e6)
            return AUDIO_EINVAL;
        g->signal = AUDIO_SIG_SINE;
        g->freq = f;
        return 0;
    }
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        if (!strcmp(text, sigs[i].name)) {
            g->signal = sigs[i].sig;
            return 0;
        }
    return AUDIO_EINVAL;
}

static int gen_run(struct audio__vio *v, enum audio_format fmt, const struct audio_gen_spec *spec,
                   struct audio_error *err)
{
    if (!(spec->seconds >= 0) || spec->seconds > 24 * 3600.0)
        return audio__fail(err, AUDIO_EINVAL, "invalid duration %g s", spec->seconds);
    if (spec->rate < 1 || spec->rate > 768000)
        return audio__fail(err, AUDIO_EINVAL, "invalid sample rate %d", spec->rate);
    if (spec->channels < 1 || spec->channels > AUDIO__MAX_CHANNELS)
        return audio__fail(err, AUDIO_EINVAL, "invalid channel count %d", spec->channels);
    if ((unsigned)spec->signal > AUDIO_SIG_SILENCE)
        return audio__fail(err, AUDIO_EINVAL, "invalid signal %d", (int)spec->signal);
    SF_INFO oi = {.samplerate = spec->rate, .channels = spec->channels};
    int rc = audio__sf_format_for(fmt, spec->sample, spec->rate, spec->channels, &oi.format, err);
    if (rc)
        return rc;
    SNDFILE *sf = NULL;
    rc = audio__sf_open(v, SFM_WRITE, &oi, "output", &sf, err);
    if (rc)
        return rc;
    rc = audio__sf_configure_writer(sf, &oi, fmt, spec->vbr_quality, spec->bitrate_kbps, err);
    struct gen *g = malloc(sizeof(*g));
    float *buf = malloc((size_t)AUDIO__CHUNK_FRAMES * (size_t)spec->channels * sizeof(float));
    if (!rc && (!g || !buf))
        rc = audio__fail(err, AUDIO_ENOMEM, "out of memory");
    if (!rc) {
        gen_init(g, spec);
        int64_t total = llround(spec->seconds * spec->rate);
        while (g->n < total && !rc) {
            size_t n =
                (size_t)(total - g->n < AUDIO__CHUNK_FRAMES ? total - g->n : AUDIO__CHUNK_FRAMES);
            gen_fill(g, buf, n);
            rc = audio__sf_write(sf, buf, n, err);
        }
    }
    free(g);
    free(buf);
    int cerr = sf_close(sf);
    if (!rc && cerr)
        rc = audio__fail(err, AUDIO_EIO, "cannot finish the output: %s", sf_error_number(cerr));
    return rc;
}

int audio_gen_file(const char *path, const struct audio_gen_spec *g, struct audio_error *err)
{
    if (!path || !g)
        return audio__fail(err, AUDIO_EINVAL, "missing argument");
    enum audio_format fmt = g->format;
    if (fmt == AUDIO_FMT_AUTO && audio_format_from_path(path, &fmt) != 0)
        fmt = AUDIO_FMT_FLAC;
    struct audio__vio v = {.fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (v.fd < 0)
        return audio__fail(err, AUDIO_EIO, "cannot create %s: %s", path, strerror(errno));
    int rc = gen_run(&v, fmt, g, err);
    if (close(v.fd) != 0 && !rc)
        rc = audio__fail(err, AUDIO_EIO, "cannot write %s: %s", path, strerror(errno));
    return rc;
}

int audio_gen_mem(void **out, size_t *out_len, const struct audio_gen_spec *g,
                  struct audio_error *err)
{
    if (!out || !out_len || !g)
        return audio__fail(err, AUDIO_EINVAL, "missing argument");
    *out = NULL;
    *out_len = 0;
    struct audio__vio v = {.fd = -1};
    int rc = gen_run(&v, g->format == AUDIO_FMT_AUTO ? AUDIO_FMT_FLAC : g->format, g, err);
    if (rc) {
        free(v.wr);
        return rc;
    }
    *out = v.wr;
    *out_len = v.len;
    return 0;
}
