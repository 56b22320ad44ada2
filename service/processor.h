/* processor.h: the per-track work behind one port (issue 10, the first
 * seam). The pipeline (pipeline.c) does everything around it: message
 * semantics, skip-completed, bottom-up triggers, download, upload,
 * publish, ack, dead letters, timeouts. A processor turns one local input
 * file into the output files it declared, on a worker thread.
 *
 * Implementations: proc_audio.c (the audio chain: decode, channel op,
 * resample, encode, features); proc_transform.c (the same chain into a
 * .npy for the user's transform, transform/, then its outputs). A new one is one file defining a
 * `const struct svc_processor` plus one line in svc_processor_for()
 * (pipeline.c); docs/architecture.md, "Adding a processor".
 *
 * Outputs: create() declares every file the processor writes per track, in
 * upload order (the last one is the track's "done" marker). The pipeline
 * stats all of them for skip-completed, creates an empty temporary file for
 * each before run(), uploads each create-only unless forced (an existing
 * object counts as done for that file), and removes the temporaries.
 *
 * Threading: create/destroy on the loop thread; run() on a worker thread,
 * any number at once for one state (it must not change the state).
 * Cancellation: run() checks *cancel between chunks of work and returns
 * SVC_ECANCELED soon after it is set (a timeout or a shutdown). */
#ifndef WIGGLY_SERVICE_PROCESSOR_H
#define WIGGLY_SERVICE_PROCESSOR_H

#include <stdatomic.h>
#include <stddef.h>

#include "audio/audio.h"
#include "service/svc_error.h"

struct cfg_job;
struct svc_metrics;

#define SVC_PROC_MAX_OUTPUTS 8

/* One file per track: written to LOCATION + element + SUFFIX. Borrowed from
 * the processor's state (valid until destroy). */
struct svc_output_decl {
    const char *location;
    const char *suffix;
    const char *content_type;
};

/* What create() gets. */
struct svc_proc_env {
    const struct cfg_job *cfg;
    struct svc_metrics *metrics; /* may be NULL */
};

/* The track run() works on. */
struct svc_proc_track {
    const char *in_path; /* the local input file */
    const char *element;
    int attempt; /* 1 for the first delivery */
};

/* What run() reports. */
struct svc_proc_result {
    int code;               /* 0 or an SVC_E* code */
    enum svc_reason reason; /* for a failure: the dead-letter reason when it is
                               permanent (SVC_R_BAD_AUDIO, ...), SVC_R_NONE when a
                               retry may help */
    enum svc_reason retry;  /* a retry's reason when not the processor's retry_reason */
    char msg[1024];         /* precise text of the failure */
    double seconds;         /* seconds of audio written (metrics, summary) */
    double audio_s;         /* wall time of the audio chain (`wiggly test`) */
    double transform_s;     /* wall time in the transform, when there is one */
};

struct svc_processor {
    const char *name;
    enum svc_reason retry_reason; /* for failures a retry may fix */
    /* Per job. Fill outs[0..*n_outs) (at most SVC_PROC_MAX_OUTPUTS). */
    int (*create)(const struct svc_proc_env *env, void **state, struct svc_output_decl *outs,
                  size_t *n_outs, struct svc_error *err);
    void (*destroy)(void *state);
    /* Worker thread: t->in_path -> out_paths[i] for every declared output. */
    void (*run)(const void *state, const struct svc_proc_track *t, char *const *out_paths,
                const atomic_int *cancel, struct svc_proc_result *res);
    /* Optional; loop thread, about once a second. SVC_PROC_READY, or
     * SVC_PROC_STARTING (take no work yet, /readyz fails), or SVC_PROC_FAILED
     * (the run stops, exit 1, why on stderr). May refresh metrics. */
    int (*status)(void *state, char *why, size_t why_n);
};

enum { SVC_PROC_READY = 0, SVC_PROC_STARTING = 1, SVC_PROC_FAILED = -1 };

/* The job's processor (pipeline.c): the transform when the job has one. */
const struct svc_processor *svc_processor_for(const struct cfg_job *cfg);

extern const struct svc_processor svc_proc_audio;
extern const struct svc_processor svc_proc_transform;

/* Writes text to path (a processor's small outputs). 0 or -1. */
int svc__write_text(const char *path, const char *text);

/* The job's analysis arrays (docs/analysis.md), shared by both processors
 * (proc_audio.c): declared as outputs after the features JSON, bound to
 * each track's output paths in run(). */
struct svc_arrays {
    struct audio_array_spec a[AUDIO_ARRAYS_MAX];
    size_t first, n; /* index of the first array among the outputs; count */
    /* Then the onsets .npy (features.onsets.suffix) and the picture
     * (analysis.plot), when asked for; n_out counts every output declared. */
    int onsets_npy, has_plot;
    struct audio_plot_spec plot;
    size_t n_out;
};
/* Fills arrs from cfg and appends one declaration per array to outs. */
void svc__arrays_declare(const struct cfg_job *cfg, struct svc_arrays *arrs,
                         struct svc_output_decl *outs, size_t *n_outs);
/* spec->arrays (and the onsets .npy and the picture) from tmp, a copy of
 * arrs with this track's paths. */
void svc__arrays_bind(const struct svc_arrays *arrs, char *const *out_paths, struct svc_arrays *tmp,
                      struct audio_spec *spec);

/* The job's steps as the audio engine's spec (proc_audio.c; tests). */
int svc_spec_from_cfg(const struct cfg_job *cfg, struct audio_spec *spec, struct svc_error *err);

#endif
