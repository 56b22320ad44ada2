/* audio_testutil.h: helpers for the audio tests: whole-file decoding (tests
 * only: the engine itself never does this), float WAV construction, and
 * sinusoid fitting for THD+N. */
#ifndef WIGGLY_TESTS_AUDIO_TESTUTIL_H
#define WIGGLY_TESTS_AUDIO_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

struct audio_test_pcm {
    float *x; /* interleaved */
    int64_t frames;
    int rate, channels;
    int sf_format;
};

/* Decode a whole buffer or file with libsndfile directly; 0 or -1. */
int audio_test_decode_mem(const void *buf, size_t len, struct audio_test_pcm *out);
int audio_test_decode_file(const char *path, struct audio_test_pcm *out);
void audio_test_pcm_free(struct audio_test_pcm *p);

/* A 32-bit float WAV in memory (malloc'ed) holding x. */
void *audio_test_wav_float(const float *x, int64_t frames, int channels, int rate, size_t *len);

/* Fit A sin(2 pi f t + p) + c to channel ch of x (frames n, stride channels)
 * starting from f0, refining f (IEEE 1057 four-parameter fit). Returns the
 * residual-to-signal power ratio in dB (THD+N), fills *freq and *amp. */
double audio_test_sine_fit(const float *x, size_t n, int stride, double rate, double f0,
                           double *freq, double *amp);

/* RMS of channel ch over frames [from, to). */
double audio_test_rms(const struct audio_test_pcm *p, int ch, int64_t from, int64_t to);

/* Reads a whole file (malloc'ed) or returns NULL. */
void *audio_test_slurp(const char *path, size_t *len);
int audio_test_spit(const char *path, const void *buf, size_t len);

/* A number from a flat JSON object: 0 and *v, or -1 (missing or null). */
int audio_test_json_number(const char *json, const char *key, double *v);

#endif
