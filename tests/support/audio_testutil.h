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

/* Encodes x (interleaved; frames may be 0, x then NULL) with libsndfile
 * into path as sf_format, e.g. SF_FORMAT_WAV | SF_FORMAT_PCM_16. 0 or -1.
 * For 0 frames libsndfile's FLAC and MP3 writers leave 0 bytes (no header):
 * audio_test_flac_empty makes a real empty FLAC stream. */
int audio_test_sf_write(const char *path, int sf_format, const float *x, int64_t frames,
                        int channels, int rate);

/* A FLAC stream holding no audio frame, as an encoder writes it for empty
 * input: the magic and one STREAMINFO block claiming 0 samples (malloc'ed). */
void *audio_test_flac_empty(int rate, int channels, size_t *len);

/* Features on many channels: on every channel a 997 Hz sine (BS.1770's
 * reference tone) for one whole second (x malloc'ed, interleaved, rate x
 * channels), amplitudes 0.05..0.45 and the last channel loudest at 0.9, odd
 * channels inverted. Each starts and ends at 0: a step at either end would
 * make the true peak overshoot. */
float *audio_test_wide_sine(int channels, int rate);
/* Checks a features JSON against figures computed here from the signal the
 * chain saw (p: its input decoded; more than 5 channels, whole periods of
 * the reference tone at 48 kHz): peak and RMS from the samples (within
 * 0.002 dB); per channel the mean square z_c, so a sine's amplitude
 * sqrt(2 z_c) gives the true peak (within 0.05 dB: the 4x interpolator's
 * ripple); loudness by ITU-R BS.1770 with libebur128's default map beyond 5
 * channels (L R C weight 1, channel 3 = LFE and channels 6.. not counted, 4
 * and 5 weight 1.41), where for the reference tone K-weighting and the
 * -0.691 offset cancel: 10 log10(z0 + z1 + z2 + 1.41 (z4 + z5)) within
 * 0.01 dB. 0 if all agree, else -1 with the reason in why. */
int audio_test_check_wide_features(const char *json, const struct audio_test_pcm *p, char *why,
                                   size_t cap);

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
/* rm -rf dir (a test's own temporary folder): 0 or -1. */
int audio_test_remove_dir(const char *dir);

/* A number from a flat JSON object: 0 and *v, or -1 (missing or null). */
int audio_test_json_number(const char *json, const char *key, double *v);

#endif
