/* metrics.h: the service's Prometheus metrics (text format 0.0.4).
 *
 * Threading: every update is a relaxed atomic, so the loop, the workers and
 * the HTTP thread (which renders) may touch one struct svc_metrics at once
 * without locks. A render is not a consistent snapshot across series, which
 * Prometheus tolerates.
 * Ownership: create/destroy; destroy(NULL) is a no-op. */
#ifndef WIGGLY_SERVICE_METRICS_H
#define WIGGLY_SERVICE_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum svc_outcome {
    SVC_OUT_PROCESSED = 0,
    SVC_OUT_SKIPPED,
    SVC_OUT_PINGED,
    SVC_OUT_TRIGGERED_PARENT,
    SVC_OUT_DROPPED,
    SVC_OUT_DEAD_LETTERED,
    SVC_OUT_RETRIED,
    SVC_OUT_MISSING,
    SVC_OUT_COUNT
};
const char *svc_outcome_name(enum svc_outcome o);

enum svc_stage { SVC_STAGE_DOWNLOAD = 0, SVC_STAGE_PROCESS, SVC_STAGE_UPLOAD, SVC_STAGE_COUNT };
const char *svc_stage_name(enum svc_stage s);

struct svc_metrics;

struct svc_metrics *svc_metrics_create(void);
void svc_metrics_destroy(struct svc_metrics *m);

void svc_metrics_outcome(struct svc_metrics *m, enum svc_outcome o);
void svc_metrics_stage(struct svc_metrics *m, enum svc_stage s, double seconds);
void svc_metrics_audio_seconds(struct svc_metrics *m, double seconds);
void svc_metrics_bytes(struct svc_metrics *m, int out, uint64_t n);
void svc_metrics_in_flight(struct svc_metrics *m, int64_t n);
void svc_metrics_queue_depth(struct svc_metrics *m, int64_t n);
void svc_metrics_workers_busy(struct svc_metrics *m, int64_t n);
uint64_t svc_metrics_outcome_count(const struct svc_metrics *m, enum svc_outcome o);

/* A user transform's requests (docs/transforms.md), by result. Rendered
 * only once svc_metrics_transform_gauges has been called. */
enum svc_tf_result {
    SVC_TF_DONE = 0,
    SVC_TF_ERROR,           /* a retryable error reply */
    SVC_TF_ERROR_PERMANENT, /* a non-retryable one */
    SVC_TF_CRASHED,
    SVC_TF_TIMEOUT,
    SVC_TF_OUTPUT_MISSING,
    SVC_TF_CANCELED,
    SVC_TF_COUNT
};
void svc_metrics_transform_call(struct svc_metrics *m, enum svc_tf_result r, double seconds);
void svc_metrics_transform_gauges(struct svc_metrics *m, int64_t in_flight, uint64_t restarts,
                                  int64_t ready);

/* Readiness and liveness flags served by /readyz and /healthz. */
void svc_metrics_set_ready(struct svc_metrics *m, int ready);
int svc_metrics_ready(const struct svc_metrics *m);

/* Render the whole exposition; *out is malloc'ed and NUL-terminated. */
int svc_metrics_render(const struct svc_metrics *m, char **out, size_t *len);

/* Reads an exposition back (a pod's /metrics, for `wiggly status`): the sum
 * of the samples of metric `name` whose label `label` is `value` (label
 * NULL: every sample of name). text need not be NUL-terminated; lines that
 * are not a sample, or longer than 4096 bytes, are passed over. 0 with *out,
 * or SVC_ENOTFOUND when no sample matches (not known, which is not 0). Pure;
 * any thread. */
int svc_metrics_text_value(const char *text, size_t len, const char *name, const char *label,
                           const char *value, double *out);

#endif
