/* audio.h: the audio engine's public contract.
 *
 * Streaming decode -> channel op -> resample -> encode (+ features), in
 * chunks: a whole decoded track is never held in memory.
 *
 * Threading: every function is reentrant; distinct handles may be used from
 * distinct threads at once. A handle is used by one thread at a time. The
 * library serialises libsndfile's opens internally (its open error is
 * process-global).
 * Ownership: create/destroy pairs; destroy(NULL) is a no-op. Strings in
 * results are owned by the result and freed by audio_result_cleanup().
 * Errors: functions return 0 or a negative AUDIO_E* code; details go to the
 * optional struct audio_error. */
#ifndef WIGGLY_AUDIO_H
#define WIGGLY_AUDIO_H

#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>

/* The error table (libuv's UV_ERRNO_MAP): name, value, text, and whether
 * the input itself is at fault (permanent: retrying cannot help).
 * audio_strerror, audio_errname and audio_error_is_permanent are generated
 * from it (error.c). */
#define AUDIO_ERRNO_MAP(XX)                                                                        \
    XX(ENOMEM, -1000, "out of memory", 0)                                                          \
    XX(EIO, -1001, "i/o error", 0)                                                                 \
    XX(ENOTAUDIO, -1002, "not an audio file", 1)                                                   \
    XX(ECORRUPT, -1003, "corrupt audio stream", 1)                                                 \
    XX(EUNSUPPORTED, -1004, "unsupported", 1)                                                      \
    XX(ETOOBIG, -1005, "input larger than limit", 1)                                               \
    XX(EINVAL, -1006, "invalid argument", 1)                                                       \
    XX(EINTERNAL, -1007, "internal audio library error", 0)                                        \
    XX(EEMPTY, -1008, "empty audio", 1)                                                            \
    XX(ECANCELED, -1009, "canceled", 0)

/* ENOMEM out of memory; EIO cannot read or write a file; ENOTAUDIO not an
 * audio file / unknown format; ECORRUPT truncated or malformed stream;
 * EUNSUPPORTED valid input, but the requested op/format can't do it;
 * ETOOBIG larger than a limit (docs/audio.md "Limits"); EINVAL bad argument
 * (spec, option value); EINTERNAL a library failed unexpectedly; EEMPTY
 * valid input, but no output frame (never written out); ECANCELED
 * spec.cancel was set: stopped between two chunks. */
enum audio_errc {
    AUDIO_OK = 0,
#define XX(name, value, text, permanent) AUDIO_##name = value,
    AUDIO_ERRNO_MAP(XX)
#undef XX
};

struct audio_error {
    int code;
    char msg[256];
};

const char *audio_strerror(int code);
/* "AUDIO_ETOOBIG" for AUDIO_ETOOBIG. */
const char *audio_errname(int code);

/* Permanent: retrying with the same input can never succeed. */
int audio_error_is_permanent(int code);

enum audio_channels {
    AUDIO_CH_KEEP = 0,
    AUDIO_CH_MONO,   /* average of all channels */
    AUDIO_CH_STEREO, /* mono duplicated; >2 channels downmixed */
    AUDIO_CH_SELECT  /* one channel, index in select_channel */
};

enum audio_quality {
    AUDIO_Q_QUICK = 0,
    AUDIO_Q_LOW,
    AUDIO_Q_MEDIUM,
    AUDIO_Q_HIGH,
    AUDIO_Q_VERY_HIGH
};

enum audio_format {
    AUDIO_FMT_AUTO = 0, /* from the output file's extension; FLAC when none */
    AUDIO_FMT_WAV,
    AUDIO_FMT_FLAC,
    AUDIO_FMT_OGG, /* Vorbis */
    AUDIO_FMT_OPUS,
    AUDIO_FMT_MP3
};

enum audio_sample {
    AUDIO_PCM_DEFAULT = 0, /* 16-bit PCM for WAV/FLAC */
    AUDIO_PCM_16,
    AUDIO_PCM_24,
    AUDIO_FLOAT /* WAV only */
};

/* Analysis arrays: short-time spectra of the chain's output, mixed down to
 * mono, written as NumPy .npy ('<f4', shape (frames, bins), C order). The
 * definitions and defaults are librosa's (docs/analysis.md). */
enum audio_array_kind {
    AUDIO_ARRAY_STFT = 0, /* |X|^power, n_fft/2+1 bins */
    AUDIO_ARRAY_MEL,      /* mel filterbank x |X|^power, n_mels bins */
    AUDIO_ARRAY_MFCC      /* DCT-II (ortho) of the dB mel power, n_mfcc bins */
};
#define AUDIO_ARRAYS_MAX     8
#define AUDIO_ARRAY_NFFT_MIN 16
#define AUDIO_ARRAY_NFFT_MAX 65536
#define AUDIO_ARRAY_MELS_MAX 1024

struct audio_array_spec {
    enum audio_array_kind kind;
    int n_fft;         /* even, AUDIO_ARRAY_NFFT_MIN..MAX; the window is n_fft long */
    int hop;           /* 1..n_fft */
    int center;        /* pad n_fft/2 samples at both ends by reflection */
    double power;      /* stft, mel: exponent of |X| (1 magnitude, 2 power); mfcc: 2 */
    int n_mels;        /* mel, mfcc */
    double fmin, fmax; /* Hz; fmax 0 = rate / 2 */
    int htk;           /* mel scale: 0 Slaney (librosa's default), 1 HTK */
    int slaney_norm;   /* 1: filters of unit area per Hz (Slaney), 0: peak 1 */
    int db;            /* stft, mel: in dB (mfcc: always over the mel power) */
    double top_db;     /* dB below the track's maximum where values are clamped; 0 = none */
    int n_mfcc;        /* mfcc: 1..n_mels */
    const char *path;  /* the .npy file, created or truncated */
};

/* Fills *a with librosa's defaults for kind (n_fft 2048, hop 512, center,
 * power 2, 128 Slaney mels with Slaney norm from 0 Hz to rate/2, top_db
 * 80, 20 MFCCs); path NULL. These, audio_plot_spec_init's and
 * audio_array_hop_default are the one place the defaults are written: the
 * job config (config/load.c) takes its defaults from them. */
void audio_array_spec_init(struct audio_array_spec *a, enum audio_array_kind kind);
/* The hop when only n_fft is given: librosa's n_fft / 4 (win_length // 4);
 * for the arrays and the picture. */
int audio_array_hop_default(int n_fft);
/* "stft", "mel", "mfcc". */
int audio_array_kind_parse(const char *name, enum audio_array_kind *out);
const char *audio_array_kind_name(enum audio_array_kind k);
/* 0, or AUDIO_EINVAL with the reason in why. rate 0 = not known yet
 * (fmax is then checked only against fmin). */
int audio_array_spec_check(const struct audio_array_spec *a, int rate, char *why, size_t n);
/* The CLI's form "KIND[,key=value...]" (keys as in the job config) onto
 * defaults; 0 or AUDIO_EINVAL with the reason in why. */
int audio_array_spec_parse(const char *text, struct audio_array_spec *a, char *why, size_t n);

/* Chromaprint fingerprint of the chain's output, in the features JSON
 * (docs/analysis.md "Fingerprint"): the samples as 16-bit PCM, at the
 * output's rate and channels, through Chromaprint's algorithm 2 (fpcalc's
 * default), over the first `seconds` of audio. */
struct audio_fingerprint_spec {
    int enabled;
    double seconds; /* audio fed to Chromaprint; 0 = fpcalc's 120 */
};

/* aubio's tempo and onset detection over the mono mixdown of the chain's
 * output, fed hop by hop, in the features JSON (docs/analysis.md "Tempo and
 * onsets"). Zero fields take the defaults of the aubio command line:
 * tempo "default", buf 1024, hop 512; onset "default", buf 512, hop 256,
 * silence -70 dB, minimum inter-onset interval 12 ms. */
#define AUDIO_RHYTHM_BUF_MAX 65536
#define AUDIO_TEMPO_BUF      1024 /* the defaults: config/load.c reads them here */
#define AUDIO_TEMPO_HOP      512
#define AUDIO_ONSET_BUF      512
#define AUDIO_ONSET_HOP      256
struct audio_tempo_spec {
    int enabled;
    const char *method; /* NULL = "default" */
    int buf, hop;       /* hop <= buf, both <= AUDIO_RHYTHM_BUF_MAX */
};
struct audio_onset_spec {
    int enabled;
    const char *method; /* NULL = "default"; one of aubio's onset methods */
    int buf, hop;
    double threshold;  /* peak-picking threshold; 0 = aubio's default for the method */
    double silence_db; /* 0 = -70 */
    double minioi_ms;  /* 0 = 12 */
    /* Also write the onset times (seconds, '<f4', shape (n, 1)) to this
     * .npy. NULL = only the JSON. */
    const char *npy_path;
};
/* "default", "energy", "hfc", "complex", "phase", "specdiff", "kl", "mkl", "specflux". */
int audio_onset_method_ok(const char *method);

/* A log-mel spectrogram picture (PNG, 8-bit RGB) of the chain's output
 * (docs/analysis.md "Pictures"): one row per mel band (highest at the
 * top), one column per group of STFT frames, at most width_max columns. */
enum audio_colormap { AUDIO_CMAP_MAGMA = 0, AUDIO_CMAP_VIRIDIS };
#define AUDIO_PLOT_WIDTH_MAX 4096
struct audio_plot_spec {
    const char *path; /* the .png, created or truncated; NULL = no picture */
    int n_fft, hop, n_mels;
    double fmin, fmax; /* fmax 0 = rate / 2 */
    double top_db;     /* the colour scale spans [max - top_db, max] dB */
    int width_max;     /* 1..AUDIO_PLOT_WIDTH_MAX */
    int axes;          /* draw time and frequency ticks with labels around the image */
    enum audio_colormap cmap;
};
/* n_fft 2048, hop 512, 128 mels, 0 Hz to rate/2, top_db 80, width_max 1024,
 * axes on, magma; path NULL. */
void audio_plot_spec_init(struct audio_plot_spec *p);
int audio_colormap_parse(const char *name, enum audio_colormap *out); /* magma viridis */
/* 0, or AUDIO_EINVAL with the reason in why (rate 0 = not known yet). */
int audio_plot_spec_check(const struct audio_plot_spec *p, int rate, char *why, size_t n);
/* The CLI's form "key=value,..." onto defaults (keys as in the job config). */
int audio_plot_spec_parse(const char *text, struct audio_plot_spec *p, char *why, size_t n);
/* The picture's size for a track of `frames` STFT frames: width
 * min(frames, width_max) plus the axes' margins, height n_mels plus the
 * margins. */
void audio_plot_size(const struct audio_plot_spec *p, int64_t frames, int *width, int *height);

/* What to do to one track. Zero-initialised means: keep everything, FLAC 16. */
struct audio_spec {
    enum audio_channels channels;
    int select_channel;         /* AUDIO_CH_SELECT: 0-based */
    int rate;                   /* output sample rate, 0 = keep */
    enum audio_quality quality; /* resampler preset; AUDIO_Q_QUICK is 0 */
    enum audio_format format;
    enum audio_sample sample;
    double vbr_quality;       /* Ogg/Opus: 0..1, <0 = library default */
    int bitrate_kbps;         /* MP3: 0 = library default */
    uint64_t max_input_bytes; /* 0 = no limit */
    double max_seconds;       /* longest input accepted, in seconds; 0 = no limit */
    int features;             /* also compute features into the result */
    /* Checked before every chunk (another thread sets it: a timeout, a
     * shutdown); when set, the run stops with AUDIO_ECANCELED. May be NULL. */
    const atomic_int *cancel;
    /* Also write the audio after the channel op and resampling to this
     * NumPy .npy file (format 1.0, '<f4', shape (frames, channels), C
     * order), in the same pass and in chunks. NULL = none. With it, the
     * file chain's out_path may be NULL: no encoded output. */
    const char *npy_path;
    /* Analysis arrays (docs/analysis.md) of the audio after the channel op
     * and resampling, each written to its own .npy in the same pass. The
     * specs and their paths are borrowed for the call. */
    const struct audio_array_spec *arrays;
    size_t n_arrays; /* at most AUDIO_ARRAYS_MAX */
    /* Fingerprint, tempo and onsets go into the features JSON: they need
     * features set. The picture does not. */
    struct audio_fingerprint_spec fingerprint;
    struct audio_tempo_spec tempo;
    struct audio_onset_spec onsets;
    const struct audio_plot_spec *plot; /* borrowed; NULL = none */
    /* 1: no codec fast path (docs/audio.md "Fast paths"): decode what the
     * file holds, then channel op and soxr, as for every other format. */
    int no_fast_path;
};

struct audio_info {
    int rate;
    int channels;
    int64_t frames;           /* probe: the container's claim, -1 unknown; run: decoded */
    enum audio_format format; /* AUDIO_FMT_AUTO for formats wiggly does not write */
    /* Input side only: what was read and by which library. */
    char container[32];  /* e.g. "WAV", "mov,mp4,m4a,3gp,3g2,mj2" (cut to fit) */
    char codec[32];      /* e.g. "PCM_16", "aac" */
    const char *decoder; /* "libsndfile", "ffmpeg" or a fast path, e.g. "mpg123-fast"; static */
    /* run, input side: what the decoder delivered (a fast path decodes at a
     * lower rate or to mono; rate and channels above are the file's). */
    int decoded_rate, decoded_channels;
};

struct audio_result {
    struct audio_info in, out;
    double seconds;      /* output duration */
    char *features_json; /* NULL unless spec.features; owned by the result */
};
void audio_result_cleanup(struct audio_result *r);

/* Parse names used by the CLI and the job config; return 0 or AUDIO_EINVAL. */
int audio_format_parse(const char *name, enum audio_format *out); /* wav flac ogg opus mp3 */
int audio_format_from_path(const char *path, enum audio_format *out);
int audio_quality_parse(const char *name,
                        enum audio_quality *out); /* quick low medium high very-high */
const char *audio_format_name(enum audio_format f);
const char *audio_quality_name(enum audio_quality q);
const char *audio_format_mime(enum audio_format f); /* e.g. "audio/flac" */

/* One track through the chain, file to file. *res is zeroed first, so
 * audio_result_cleanup() is safe whatever the outcome. The output is written to
 * out_path only; on error out_path may hold garbage and the caller removes it.
 * Success means at least one output frame: an input of 0 frames, or one too
 * short to make a frame at the output rate, fails with AUDIO_EEMPTY (a
 * header-only WAV/Ogg or a 0-byte FLAC/MP3 is never a result). */
int audio_chain_run_file(const char *in_path, const char *out_path, const struct audio_spec *spec,
                         struct audio_result *res, struct audio_error *err);

/* Same, memory to memory. *out is malloc'ed, owned by the caller. */
int audio_chain_run_mem(const void *in, size_t in_len, void **out, size_t *out_len,
                        const struct audio_spec *spec, struct audio_result *res,
                        struct audio_error *err);

/* Probe a file's format from its bytes (not its name). */
int audio_probe_file(const char *path, struct audio_info *info, struct audio_error *err);

/* Loads every library the audio side opens only when a track needs it
 * (FFmpeg, Chromaprint, aubio: audio/lazy.h) and writes one line per group
 * into buf ("FFmpeg (libavutil.so.57 ...): ok" or the reason). 0 when all
 * load, -1 otherwise. For `wiggly version --libs` and the image check. */
int audio_lazy_report(char *buf, size_t n);

/* Synthetic test audio, generated and encoded in chunks (a 60-minute track is
 * never held in memory). */
enum audio_signal {
    AUDIO_SIG_SINE = 0, /* freq Hz on every channel */
    AUDIO_SIG_SWEEP,    /* logarithmic, 20 Hz to 0.45 x rate */
    AUDIO_SIG_NOISE,    /* white, uniform */
    AUDIO_SIG_MUSIC,    /* chords, bass, melody, drums and a little noise */
    AUDIO_SIG_SILENCE
};

/* Zero-initialised: a 1 kHz sine; set seconds, rate and channels. */
struct audio_gen_spec {
    enum audio_signal signal;
    double freq;      /* sine: Hz, 0 = 1000 */
    double amplitude; /* peak, 0 = 0.5 (-6 dBFS) */
    double seconds;
    int rate, channels;
    uint64_t seed;
    enum audio_format format; /* AUTO: from the path, FLAC in memory */
    enum audio_sample sample;
    double vbr_quality; /* as in struct audio_spec */
    int bitrate_kbps;
};

/* "sine", "sine:440", "sweep", "noise", "music", "silence". */
int audio_signal_parse(const char *text, struct audio_gen_spec *g);
int audio_gen_file(const char *path, const struct audio_gen_spec *g, struct audio_error *err);
/* *out is malloc'ed, owned by the caller. */
int audio_gen_mem(void **out, size_t *out_len, const struct audio_gen_spec *g,
                  struct audio_error *err);

#endif
