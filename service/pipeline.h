/* pipeline.h: the per-message state machine (docs/architecture.md "Data
 * flow of one message"), driven by the runner (runner.c) for every event
 * source (source.h: Pub/Sub, an IDs file).
 *
 *   NEW -> DECIDE (decode, recipients, loop guard, ping)
 *       -> CHECK_OUTPUTS (every declared output) -> CHECK_INPUT
 *       -> FETCH (loop) -> PROCESS (the processor, on the pool)
 *       -> UPLOAD (every declared output, create-only unless forced)
 *       -> PUBLISH (downstream, or to the parent for a bottom-up trigger)
 *       -> DONE
 * Every transition goes through one setter that logs it (debug) and times
 * the fetch, process and upload stages (wiggly_stage_seconds).
 *
 * The pipeline never acks: it ends every item by calling the runner's
 * finish hook exactly once with a disposition (ACK with an outcome, RETRY for
 * a transient failure, DEAD for a permanent one with a short reason code and
 * the precise error). The runner acks, nacks or dead-letters.
 *
 * Threading: loop thread only, except the processor's run() on the pool.
 * Ownership: items are created by svc_item_create and reference-counted: the
 * runner holds one reference and drops it with svc_item_release once it is
 * done with the item (after finish); the pipeline holds one while an
 * operation is outstanding (e.g. a worker job still stopping after a
 * timeout). The pipeline's own state behind an item is private. */
#ifndef WIGGLY_SERVICE_PIPELINE_H
#define WIGGLY_SERVICE_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "service/message.h"
#include "service/metrics.h"
#include "service/svc_error.h"

struct ev_loop;
struct cfg_job;
struct svc_pool;
struct svc_storage;
struct svc_pipeline;

enum svc_disp { SVC_DISP_ACK = 0, SVC_DISP_RETRY, SVC_DISP_DEAD };

struct svc_item {
    /* Runner's fields: set before svc_pipeline_start, read-only for the
     * pipeline. */
    void *data; /* original payload, owned by the item */
    size_t len;
    char *ack_id;                 /* Pub/Sub ack id, owned; NULL in batch mode */
    char *message_id;             /* Pub/Sub message id, owned; may be NULL */
    int attempt;                  /* delivery attempt (1-based), 0 = unknown */
    void *runner;                 /* runner's pointer */
    size_t index;                 /* runner's index (batch: line number) */
    struct svc_item *prev, *next; /* runner's in-flight list */
    double received;              /* ev_now at receipt */
    /* The message's own attributes as key, value pairs (attrs[2i], attrs[2i+1]),
     * owned; NULL in batch mode. The pipeline ignores them; a dead letter
     * carries them so that `wiggly deadletters --replay` can send the
     * original message again. */
    char **attrs;
    size_t n_attrs; /* pairs */

    /* Result, valid once finish() is called. */
    enum svc_disp disp;
    enum svc_outcome outcome;          /* for ACK */
    const char *reason;                /* short code for RETRY/DEAD: "bad_audio", "too_big", ... */
    struct svc_error err;              /* precise text for RETRY/DEAD (and notes for ACK) */
    char element[SVC_ELEMENT_MAX + 1]; /* "" until decoded */
    double seconds;                    /* audio seconds written (processed) */
};

typedef void (*svc_publish_done_cb)(void *ud, const struct svc_error *err);
struct svc_pipeline_hooks {
    /* Publish one message. NULL: no Pub/Sub (batch mode): pass-throughs do
     * not publish and bottom-up triggers are impossible. Must call cb
     * exactly once, also on failure. */
    void (*publish)(void *ctx, const char *topic, const void *data, size_t len,
                    svc_publish_done_cb cb, void *ud);
    /* The item's disposition is decided; called exactly once per item. */
    void (*finish)(void *ctx, struct svc_item *it);
    void *ctx;
};

struct svc_pipeline_opts {
    const struct cfg_job *cfg;
    struct ev_loop *loop;
    struct svc_storage *storage;
    struct svc_pool *pool;
    struct svc_metrics *metrics; /* may be NULL */
    int force;                   /* command-line --force (ORed with the config's) */
    struct svc_pipeline_hooks hooks;
};

struct svc_pipeline *svc_pipeline_create(const struct svc_pipeline_opts *o, struct svc_error *err);
void svc_pipeline_destroy(struct svc_pipeline *pl);
/* The processor's readiness (processor.h): 0 ready, 1 starting, -1 failed
 * with why. Loop thread. */
int svc_pipeline_status(struct svc_pipeline *pl, char *why, size_t why_n);

/* The scratch directory takes files: a missing or read-only temp_dir would
 * fail every message until it is dead-lettered, so runners and `verify`
 * check it first. 0 or SVC_EIO with the reason. */
int svc_temp_dir_check(const char *dir, struct svc_error *err);
/* The config's runtime.temp_dir, or /tmp. */
const char *svc_temp_dir(const struct cfg_job *cfg);

/* A new item holding a copy of the payload (refs = 1, the runner's). */
struct svc_item *svc_item_create(const void *data, size_t len);
void svc_item_release(struct svc_item *it);
/* svc_pipeline_start was called on it. */
int svc_item_started(const struct svc_item *it);

void svc_pipeline_start(struct svc_pipeline *pl, struct svc_item *it);
/* Finish now with RETRY and SVC_ECANCELED (shutdown); no-op when finished. */
void svc_pipeline_cancel(struct svc_pipeline *pl, struct svc_item *it);

#endif
