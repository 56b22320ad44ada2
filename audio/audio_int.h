/* audio_int.h: internals shared by the audio module's .c files (audio__ names).
 * Not part of the public contract. */
#ifndef WIGGLY_AUDIO_INT_H
#define WIGGLY_AUDIO_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <sndfile.h>

#include "audio/audio.h"

/* Frames per chunk through the chain. 4096 keeps every buffer small (tens of
 * KiB) while amortising per-call overhead in libsndfile and soxr. */
#define AUDIO__CHUNK_FRAMES 4096
/* Most channels any stage accepts (libsndfile's own limit is 1024). */
#define AUDIO__MAX_CHANNELS 256

/* Sets err (if any) and returns code. printf-style message. */
int audio__fail(struct audio_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A source or sink of bytes behind libsndfile's virtual I/O: either a
 * borrowed read-only memory buffer, a growable owned write buffer, or a file
 * descriptor. */
struct audio__vio {
    int fd; /* -1 when memory */
    const unsigned char *rd;
    unsigned char *wr; /* owned, when writing to memory */
    size_t len, cap;
    int64_t pos;
    int64_t fd_len;
    /* fd sinks only, opt-in (buffered = 1): libsndfile's encoders write a
     * few KiB at a time, and each write(2) into the page cache has its own
     * cost. Bytes wait here for file offset wb_pos; audio__vio_flush writes
     * them (also done before any read, length or end-relative seek). */
    int buffered;
    int write_errno; /* errno of a failed write to fd (buffered or not) */
    unsigned char *wb;
    size_t wb_len;
    int64_t wb_pos;
};
extern SF_VIRTUAL_IO audio__vio_ops;
/* Writes a buffered sink's pending bytes and frees its buffer: 0, or -1
 * with errno when a write failed (now or earlier). */
int audio__vio_flush(struct audio__vio *v);

/* Opens through libsndfile under the module's open mutex, converting
 * libsndfile's process-global open error into a project code and message.
 * Returns 0 or a code. mode is SFM_READ or SFM_WRITE; info->format = 0 for reading (detect). */
int audio__sf_open(struct audio__vio *v, int mode, SF_INFO *info, const char *what, SNDFILE **out,
                   struct audio_error *err);

/* The input side (decoder.c): chain_run and audio_probe_file read
 * interleaved float frames from whichever decoder opens the bytes. Each
 * decoder is one file behind this table (curl's vtls backends): libsndfile's
 * in sfio.c, FFmpeg's in ffdec.c. decoder.c tries them in order; a decoder
 * that does not recognise the bytes says AUDIO_ENOTAUDIO and the next one
 * tries, any other error is final. */
struct audio__dec_info {
    int rate, channels;
    /* What the container claims, -1 when unknown. fewer decoded than
     * frames - frames_slack means a truncated stream (0: exact count). */
    int64_t frames;
    int64_t frames_slack;
    int sf_format; /* libsndfile's format word, 0 for other decoders */
    enum audio_format format;
    char container[32], codec[32];
    /* Set by a decoder that knows the container even when open fails (no
     * audio stream): its AUDIO_ENOTAUDIO is then the final word. */
    int recognised;
    /* What the file holds when a fast path delivers less (rate and channels
     * above are what read() delivers); decoder.c fills them otherwise. */
    int file_rate, file_channels;
    const char *path; /* static: the fast path taken, NULL = the decoder's name */
};
/* What the job wants, so that a codec can do part of the channel op and the
 * resampling itself (docs/audio.md "Fast paths"). A decoder may then deliver
 * fewer channels or a lower rate; the chain takes both from the info. */
struct audio__dec_hint {
    int want_rate;  /* the output rate, 0 = keep */
    int want_mono;  /* the channel op mixes to mono */
    int allow_fast; /* 0: decode exactly what the file holds */
};
struct audio__decoder_ops {
    const char *name; /* "mpg123-fast", "libsndfile", "ffmpeg" */
    /* v is borrowed for the decoder's life and positioned at 0; hint may be
     * NULL (the probe: no fast path). */
    int (*open)(struct audio__vio *v, const struct audio__dec_hint *hint, void **st,
                struct audio__dec_info *info, struct audio_error *err);
    /* Up to `frames` interleaved frames into buf: the count, 0 at the end of
     * the stream, or a negative AUDIO_E* code (a corrupt stream). */
    long (*read)(void *st, float *buf, size_t frames, struct audio_error *err);
    void (*close)(void *st);
};
extern const struct audio__decoder_ops audio__mpg123_decoder;
extern const struct audio__decoder_ops audio__opus_fast_decoder;
extern const struct audio__decoder_ops audio__sf_decoder;
extern const struct audio__decoder_ops audio__ff_decoder;
/* The fast paths' choices, pure (unit-tested): mpg123's MPG123_DOWN_SAMPLE
 * (0, 1 or 2 for 1:1, 2:1, 4:1), the largest that keeps the rate at or
 * above want_rate; and the Opus decode rate, the smallest of 8, 12, 16, 24
 * and 48 kHz strictly above want_rate (48000 when want_rate is 0): libopus's
 * band edge at a lower rate is softer than soxr's, so soxr always runs
 * after it and cuts the band (docs/audio.md "Fast paths"). */
int audio__mpg123_down_sample(int file_rate, int want_rate);
int audio__opus_decode_rate(int want_rate);
struct audio__decoder {
    const struct audio__decoder_ops *ops; /* NULL when not open */
    void *st;
    struct audio__dec_info info;
};
int audio__decoder_open(struct audio__decoder *d, struct audio__vio *v,
                        const struct audio__dec_hint *hint, struct audio_error *err);
void audio__decoder_close(struct audio__decoder *d);

/* The chain's mono (chain.c): out[f] = the mean of in's `channels` samples
 * of frame f, (L + R) * 0.5 for stereo; out may be in (in place). Also the
 * mixdown the analysis arrays and aubio see. */
void audio__mix_mono(float *out, const float *in, size_t frames, int channels);

/* A WAVE header's own claim about its data chunk (see wavclaim.c). */
struct audio__wav_claim {
    int found;
    uint64_t data_offset, data_bytes, frames;
};
/* Returns 1 and fills out when v starts with a RIFF/RF64 WAVE header whose
 * data chunk size is known, else 0. Leaves v at offset 0. */
int audio__wav_claim(struct audio__vio *v, struct audio__wav_claim *out);

/* Maps libsndfile's major format to ours (AUDIO_FMT_AUTO when other). */
enum audio_format audio__format_from_sf(int sf_format);

/* Writing side: the libsndfile format for an output spec, or a negative code. */
int audio__sf_format_for(enum audio_format f, enum audio_sample s, int rate, int channels,
                         int *sf_format, struct audio_error *err);
/* Opus accepts only 8, 12, 16, 24 and 48 kHz. */
int audio__opus_rate_ok(int rate);
/* Applies encoder options (quality, bitrate, clipping) to an open writer. */
int audio__sf_configure_writer(SNDFILE *sf, const SF_INFO *info, enum audio_format f,
                               double vbr_quality, int bitrate_kbps, struct audio_error *err);

/* Feature accumulator: peak, RMS, loudness, true peak. Any channel count up
 * to AUDIO__MAX_CHANNELS, as long as channels x rate stays within
 * AUDIO__FEATURES_MAX_CHANNEL_HZ (else AUDIO_EUNSUPPORTED). */
#define AUDIO__FEATURES_MAX_CHANNEL_HZ (64 * 768000)
struct audio__features;
int audio__features_create(struct audio__features **out, int rate, int channels,
                           struct audio_error *err);
void audio__features_add(struct audio__features *f, const float *buf, size_t frames);
/* Returns malloc'ed JSON, NULL on ENOMEM. */
char *audio__features_json(struct audio__features *f);
void audio__features_destroy(struct audio__features *f);

/* Opens path read-only into v (fd-backed); *size = its length. */
int audio__open_input_fd(const char *path, struct audio__vio *v, uint64_t *size,
                         struct audio_error *err);
/* Writes `frames` frames to sf, converting short writes to an error. */
int audio__sf_write(SNDFILE *sf, const float *buf, size_t frames, struct audio_error *err);

/* npy.c: a .npy file ('<f4', shape (frames, channels)) written in chunks. */
#define AUDIO__NPY_HEADER 128
struct audio__npy {
    int fd;
    const char *path; /* borrowed */
    int channels;
    int64_t frames;
    char *buf;
    size_t used;
};
int audio__npy_header(char out[AUDIO__NPY_HEADER], int64_t frames, int channels);
int audio__npy_open(struct audio__npy *w, const char *path, int channels, struct audio_error *err);
int audio__npy_write(struct audio__npy *w, const float *x, size_t frames, struct audio_error *err);
/* Writes the final header and closes the file. */
int audio__npy_finish(struct audio__npy *w, struct audio_error *err);
/* Frees; safe after finish or a failure (the file is left for the caller). */
void audio__npy_close(struct audio__npy *w);
/* Rewrites a finished .npy of `rows` rows in place, in chunks: fn turns
 * rows of in_cols floats into rows of out_cols floats (out_cols <= in_cols,
 * so a chunk is read before the bytes it writes over are needed); the
 * header then says (rows, out_cols) and the file is cut to size. */
typedef void (*audio__npy_map_fn)(void *ud, const float *in, float *out, size_t rows);
/* cancel (may be NULL) is checked before each chunk: once set, the call
 * stops with AUDIO_ECANCELED and leaves the file half rewritten. */
int audio__npy_map(const char *path, int64_t rows, int in_cols, int out_cols, audio__npy_map_fn fn,
                   void *ud, const atomic_int *cancel, struct audio_error *err);

/* rfft.c: the real FFT of n points (n even) of AUDIO__LANES frames at
 * once, one frame per lane of an audio__f4 (a GCC/Clang vector: a typedef,
 * as the vector_size attribute needs one). x holds n vectors, re and im
 * receive the n/2 + 1 bins; the handle's scratch makes a run not
 * reentrant: one handle per array. */
#define AUDIO__LANES 4
typedef float audio__f4 __attribute__((vector_size(4 * sizeof(float))));
struct audio__rfft;
int audio__rfft_create(struct audio__rfft **out, int n);
void audio__rfft_run(struct audio__rfft *f, const audio__f4 *x, audio__f4 *re, audio__f4 *im);
void audio__rfft_destroy(struct audio__rfft *f);
/* count vectors, aligned for them; free() frees. */
void *audio__f4_alloc(size_t count);

/* analysis.c: the analysis arrays of struct audio_spec, fed the chain's
 * output (interleaved, `channels` wide) and mixed down to mono. */
struct audio__analysis;
int audio__analysis_create(struct audio__analysis **out, const struct audio_array_spec *specs,
                           size_t n, int rate, int channels, struct audio_error *err);
int audio__analysis_add(struct audio__analysis *a, const float *buf, size_t frames,
                        struct audio_error *err);
/* Pads the end, writes the last frames, then the second pass (dB floor,
 * DCT) over each file, checking cancel (may be NULL) per chunk. */
int audio__analysis_finish(struct audio__analysis *a, const atomic_int *cancel,
                           struct audio_error *err);
void audio__analysis_destroy(struct audio__analysis *a);
/* The mel scales of docs/analysis.md "Definitions" (htk: 1 HTK, 0 Slaney). */
double audio__hz_to_mel(double hz, int htk);
double audio__mel_to_hz(double mel, int htk);
/* The n_mels + 2 filter edges f[0] = fmin .. f[n_mels + 1] = fmax, in Hz,
 * evenly spaced in mel. */
void audio__mel_points(double *f, int n_mels, double fmin, double fmax, int htk);
/* The orthonormal DCT-II, n_out x n_in, row-major (scipy dct(type=2,
 * norm="ortho")): malloc'ed, NULL when out of memory. */
double *audio__dct_ortho(int n_out, int n_in);

/* A growable string (extras.c). */
struct audio__str {
    char *s;
    size_t len, cap;
    int oom;
};
void audio__str_addf(struct audio__str *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* fingerprint.c: Chromaprint over the first seconds of the output. */
struct audio__fingerprint;
int audio__fingerprint_create(struct audio__fingerprint **out,
                              const struct audio_fingerprint_spec *s, int rate, int channels,
                              struct audio_error *err);
int audio__fingerprint_add(struct audio__fingerprint *f, const float *buf, size_t frames,
                           struct audio_error *err);
/* Finishes and appends `"fingerprint": {...}` to b. */
int audio__fingerprint_json(struct audio__fingerprint *f, int64_t frames, struct audio__str *b,
                            struct audio_error *err);
void audio__fingerprint_destroy(struct audio__fingerprint *f);

/* rhythm.c: aubio tempo and onsets over the mono mixdown, hop by hop. */
struct audio__rhythm;
int audio__rhythm_create(struct audio__rhythm **out, const struct audio_tempo_spec *t,
                         const struct audio_onset_spec *o, int rate, int channels,
                         struct audio_error *err);
int audio__rhythm_add(struct audio__rhythm *r, const float *buf, size_t frames,
                      struct audio_error *err);
/* Feeds the last, zero-padded hop, finishes the onsets .npy and appends
 * `"tempo": {...}` and/or `"onsets": {...}` to b. */
int audio__rhythm_finish(struct audio__rhythm *r, struct audio__str *b, struct audio_error *err);
void audio__rhythm_destroy(struct audio__rhythm *r);

/* plot.c: the log-mel picture; a temporary mel .npy beside the PNG, read
 * back at the end. */
struct audio__plot;
int audio__plot_create(struct audio__plot **out, const struct audio_plot_spec *p, int rate,
                       int channels, struct audio_error *err);
int audio__plot_add(struct audio__plot *p, const float *buf, size_t frames,
                    struct audio_error *err);
/* Renders the PNG from the temporary file, checking cancel (may be NULL)
 * before each chunk it reads back: once set, it stops with AUDIO_ECANCELED
 * and writes no picture. The temporary file is removed either way. */
int audio__plot_finish(struct audio__plot *p, const atomic_int *cancel, struct audio_error *err);
/* Removes the temporary file if it is still there. */
void audio__plot_destroy(struct audio__plot *p);

/* extras.c: the above as one set for the chain. */
struct audio__extras;
/* *out stays NULL when the spec asks for none of them. */
int audio__extras_create(struct audio__extras **out, const struct audio_spec *spec, int rate,
                         int channels, struct audio_error *err);
int audio__extras_add(struct audio__extras *x, const float *buf, size_t frames,
                      struct audio_error *err);
/* Finishes everything; *json (the features JSON, an object, or NULL) is
 * replaced by one with the extra keys. cancel (may be NULL) is checked by
 * the picture's second pass. */
int audio__extras_finish(struct audio__extras *x, int64_t frames, char **json,
                         const atomic_int *cancel, struct audio_error *err);
void audio__extras_destroy(struct audio__extras *x);

#endif
