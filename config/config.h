/* config.h: a job config file -> one immutable struct cfg_job, defaults
 * applied. Loaded once at start; read-only afterwards, so any thread may
 * read it. Every error is reported as "file:line:col: message".
 * Ownership: cfg_load allocates; cfg_job_destroy frees (NULL is a no-op). */
#ifndef WIGGLY_CONFIG_H
#define WIGGLY_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* The error table (libuv's UV_ERRNO_MAP): name, value, text; cfg_strerror
 * and cfg_errname are generated from it (error.c). A config error is never
 * transient: the file has to change. */
#define CFG_ERRNO_MAP(XX)                                                                          \
    XX(EIO, -3000, "cannot read config") /* cannot read the file */                                \
    XX(ESYNTAX, -3001, "config is not valid JSON")                                                 \
    XX(EINVALID, -3002, "invalid config") /* unknown key, wrong type, bad value, missing key */

enum cfg_errc {
    CFG_OK = 0,
#define XX(name, value, text) CFG_##name = value,
    CFG_ERRNO_MAP(XX)
#undef XX
};

struct cfg_error {
    int code;
    char msg[512]; /* "file:line:col: message" */
};
const char *cfg_strerror(int code);
/* "CFG_EINVALID" for CFG_EINVALID. */
const char *cfg_errname(int code);

/* Files a transform may declare per track (the pipeline's limit is 8 in
 * all: these, the features JSON and the audio). */
#define CFG_TF_OUTPUTS_MAX 6

/* Analysis arrays per job (docs/analysis.md); with the features JSON, a
 * transform's outputs and the audio at most CFG_OUTPUTS_MAX files in all
 * (the pipeline's SVC_PROC_MAX_OUTPUTS). */
#define CFG_ARRAYS_MAX  7
#define CFG_OUTPUTS_MAX 8

enum cfg_events_kind { CFG_EVENTS_PUBSUB, CFG_EVENTS_FILE };
enum cfg_array_kind { CFG_ARRAY_STFT, CFG_ARRAY_MEL, CFG_ARRAY_MFCC };
enum cfg_channels { CFG_CH_KEEP, CFG_CH_MONO, CFG_CH_STEREO, CFG_CH_SELECT };

struct cfg_job {
    char *name;    /* job name: used in recipients and the audit trail */
    char *project; /* GCP project; may be NULL for purely local jobs */

    struct {
        /* Files a transform may declare per track (the pipeline's limit is 8 in
         * all: these, the features JSON and the audio). */
#define CFG_TF_OUTPUTS_MAX 6

        enum cfg_events_kind kind;
        char *subscription; /* full path projects/P/subscriptions/S (PUBSUB) */
        char *file;         /* path of a file of IDs, "-" = stdin (FILE) */
    } events;

    struct {
        char *location; /* gs://bucket/prefix/ or file:///abs/dir/ (always ends in '/') */
        char *suffix;   /* e.g. ".flac"; may be "" */
    } input;

    struct {
        char *location;
        char *suffix;
        int audio; /* write the encoded audio: default 1, 0 with a transform */
    } output;

    char **output_topics; /* full paths projects/P/topics/T */
    size_t n_output_topics;

    struct {
        char *name;  /* NULL = no parent job */
        char *topic; /* the parent's input topic, full path */
    } parent;

    char *dead_letter_topic; /* full path or NULL */

    struct {
        enum cfg_channels channels;
        int select_channel;
        int rate;           /* 0 = keep */
        char *quality;      /* quick|low|medium|high|very-high (default high) */
        char *format;       /* wav|flac|ogg|opus|mp3 (default flac) */
        int bits;           /* 16|24|32 (32 = float, WAV only); default 16 */
        double vbr_quality; /* -1 = default */
        int bitrate_kbps;   /* 0 = default */
    } steps;

    struct {
        int enabled;
        char *location; /* default: output.location */
        char *suffix;   /* default ".json" */
        /* Into the JSON (docs/analysis.md); each needs enabled. */
        struct {
            int enabled;
            double seconds; /* 0 = 120 (fpcalc's) */
        } fingerprint;
        struct cfg_rhythm {
            int enabled;
            char *method;                         /* NULL = "default" */
            int buf, hop;                         /* 0 = aubio command line's defaults */
            double threshold, silence, minioi_ms; /* onsets only; 0 = default */
            char *suffix; /* onsets only: the .npy at features.location; NULL = none */
        } tempo, onsets;
    } features;

    /* Analysis arrays, written to location + E + suffix (docs/analysis.md).
     * Defaults are librosa's; keys that do not apply to a kind are rejected. */
    struct {
        char *location; /* default: output.location */
        struct cfg_array {
            char *name;
            char *suffix; /* default "." name ".npy" */
            enum cfg_array_kind kind;
            int n_fft;       /* even, 16..65536; default 2048 */
            int hop;         /* 1..n_fft; default n_fft / 4 */
            int center;      /* default 1 */
            double power;    /* stft, mel: (0, 4], default 2 */
            int db;          /* stft, mel: default 0 */
            double top_db;   /* default 80; 0 = none */
            int n_mels;      /* default 128 */
            double fmin;     /* default 0 */
            double fmax;     /* 0 = rate / 2 */
            int htk;         /* mel_scale "htk" (default "slaney") */
            int slaney_norm; /* norm "slaney" (default) or "none" */
            int n_mfcc;      /* default 20 */
        } arrays[CFG_ARRAYS_MAX];
        size_t n_arrays;
        /* The log-mel picture, at location + E + suffix. */
        struct cfg_plot {
            int enabled;
            char *suffix; /* default ".png" */
            int n_fft, hop, n_mels, width_max, axes;
            double fmin, fmax, top_db;
            char *colormap; /* magma (default), viridis */
        } plot;
    } analysis;

    struct {
        int workers;              /* default: number of cores */
        int max_in_flight;        /* default: 2 x workers */
        int ack_deadline_s;       /* lease length per extension, default 60 */
        int max_attempts;         /* before dead-lettering, default 5 */
        int message_timeout_s;    /* default 600 */
        uint64_t max_input_bytes; /* default 2 GiB */
        int max_duration_s;       /* longest input accepted; default 14400 (4 h) */
        int shutdown_grace_s;     /* default 100 */
        int max_visits;           /* loop guard, default 3 */
        int max_audit;            /* audit trail bound, default 32 */
        char *temp_dir;           /* default $TMPDIR or /tmp */
    } runtime;

    /* A user transform (docs/transforms.md); enabled = 0 when absent. */
    struct {
        int enabled;
        char **command; /* argv, NULL-terminated; n_command >= 1 */
        size_t n_command;
        int workers;           /* child processes, default 1 */
        int max_in_flight;     /* per child, default 1 */
        int startup_timeout_s; /* default 120 */
        int timeout_s;         /* per track, default 300 */
        char **env;            /* "NAME=value", NULL-terminated */
        size_t n_env;
        char *params_json; /* the params object as compact JSON, default "{}" */
        struct cfg_tf_output {
            char *name;
            char *suffix;
        } outputs[CFG_TF_OUTPUTS_MAX];
        size_t n_outputs;
    } transform;

    int force; /* config-level force */
    int ping;  /* config-level ping */

    char *listen; /* health/metrics address "host:port", default "0.0.0.0:8080"; "" = off */
};

/* Upper bound of runtime.max_audit (and the audit trail a message may carry). */
#define CFG_AUDIT_MAX 256

int cfg_load(const char *path, struct cfg_job **out, struct cfg_error *err);
/* Same, from a string; name is used in error messages. */
int cfg_load_string(const char *text, const char *name, struct cfg_job **out,
                    struct cfg_error *err);
/* Same, from len bytes (need not be NUL-terminated). */
int cfg_load_buffer(const char *text, size_t len, const char *name, struct cfg_job **out,
                    struct cfg_error *err);
void cfg_job_destroy(struct cfg_job *job);

#endif
