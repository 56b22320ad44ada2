/* source.h (internal): the event-source seam of `wiggly run`
 * (docs/architecture.md "Seams" → "Event sources").
 *
 * One runner (runner.c) owns the loop, the clients, storage, the bucket
 * checks, the pool, the pipeline, metrics, the in-flight list and flow
 * control, the decision of what a finished item becomes (ack, retry with
 * backoff up to runtime.max_attempts, dead letter), the SIGTERM/SIGINT
 * drain and the summary counts. A source is where items come from and what
 * acking, nacking and dead-lettering them means: a `const struct
 * svc_source`, one per file (source_pubsub.c, source_file.c), chosen by the
 * table in runner.c. curl's `struct Curl_ssl` (lib/vtls/vtls_int.h) is the
 * model.
 *
 * Threading: loop thread only, like everything the runner owns.
 * Ownership: the runner creates the source's state with create() and frees
 * it with destroy(), after the clients are cleaned up (callbacks of
 * cancelled requests still reach the source). An item handed to ack, nack
 * or dead_letter comes with the runner's reference: the op steals it and
 * releases it once done with the item. */
#ifndef WIGGLY_SERVICE_SOURCE_H
#define WIGGLY_SERVICE_SOURCE_H

#include <stddef.h>

#include "service/log.h"
#include "service/pipeline.h"
#include "service/run.h"

struct ev_loop;
struct cfg_job;
struct svc_cloud;
struct svc_pool;
struct svc_metrics;
struct svc_runner;

/* What the runner lends its source. runner, cfg and opts are set before
 * create(); the rest from start() until destroy(). */
struct svc_source_env {
    struct svc_runner *runner;
    const struct cfg_job *cfg;
    const struct svc_run_opts *opts;
    struct ev_loop *loop;
    struct svc_cloud *cloud;
    struct svc_pool *pool;
    struct svc_metrics *metrics;
    int max_in_flight;
};

struct svc_source {
    const char *name;
    /* The runner's policy for this source. */
    int wants_pubsub; /* the runner creates the Pub/Sub client */
    /* A retried item comes back after min(cap, base * 2^(attempt - 1)) s. */
    double backoff_base_s, backoff_cap_s;
    /* 0: the source retries in process (the log says "retrying"); 1: a
     * broker redelivers (the log says when). */
    int redelivers;
    /* > 0: while a bucket or input directory is missing take no work, check
     * again at this pace, and give an item that met a missing bucket back
     * for as long without using an attempt. 0: check once before the first
     * item and stop with exit code 2 when one is missing. */
    double roots_recheck_s;

    /* Before the loop exists: check the options and read what the source
     * needs. 0, or the exit code (2: the config does not fit this source),
     * having said why on stderr. */
    int (*create)(const struct svc_source_env *env, void **state);
    /* Everything is set up: start the source's own watchers and say so. 0 or
     * an exit code. */
    int (*start)(void *state);
    /* The loop has stopped: say so (a summary); returns the exit code. */
    int (*end)(void *state);
    void (*destroy)(void *state); /* state may be half started */

    /* Deliver up to n items (svc__runner_deliver), now or later; returns
     * how many were delivered during the call. */
    int (*pull)(void *state, int n);
    /* Stop intake for a drain (SIGTERM, SIGINT). NULL: the source does not
     * drain and the runner leaves the signals alone. */
    void (*stop)(void *state);
    /* Take the lease of newly delivered items before they start. NULL: no
     * leases. */
    void (*extend)(void *state, struct svc_item *const *items, size_t n);

    /* The item is done (it->outcome says how). */
    void (*ack)(void *state, struct svc_item *it);
    /* Deliver the item again in delay_s seconds (0: now, or to another
     * pod). */
    void (*nack)(void *state, struct svc_item *it, double delay_s);
    /* A permanent failure (attempts == 0: it->reason says which) or the
     * attempts ran out (attempts > 0: the last one failed with it->reason).
     * The source logs it and counts it. */
    void (*dead_letter)(void *state, struct svc_item *it, int attempts);
    /* The pipeline's publish hook (pipeline.h). NULL: no downstream topics. */
    void (*publish)(void *state, const char *topic, const void *data, size_t len,
                    svc_publish_done_cb cb, void *ud);

    /* The attempt that just failed. NULL: it->attempt. */
    int (*attempt)(void *state, struct svc_item *it);
    /* The item's name in a log line before its element is known. NULL:
     * none. */
    const char *(*name_of)(void *state, const struct svc_item *it);
    /* No request and no delivery outstanding (a drain may end). NULL:
     * always. */
    int (*idle)(void *state);
    /* Nothing more will be delivered (the run ends once nothing is in
     * flight). NULL: never; the source runs until a signal. */
    int (*exhausted)(void *state);
};

extern const struct svc_source svc_source_pubsub; /* source_pubsub.c */
extern const struct svc_source svc_source_file;   /* source_file.c */

/* ---- the runner (runner.c) ---- */

/* Run one source until it is exhausted or drained (what svc_run does after
 * picking it; tests drive a fake source through it). Returns the exit
 * code; summary (may be NULL) gets the counts. */
int svc__run(const struct svc_source *src, const struct svc_run_opts *o,
             struct svc_batch_summary *summary);

/* For the source: */

/* Take these new items (the array is the caller's and is reordered): the
 * runner links them into its in-flight list (or, while draining, nacks them
 * at once), calls extend once for all, then starts each in the pipeline. An
 * item may finish inside this call. */
void svc__runner_deliver(struct svc_runner *r, struct svc_item **items, size_t n);
/* Ask the source for work if flow control allows (e.g. after a pull). */
void svc__runner_feed(struct svc_runner *r);
/* The source's state changed (a request answered): end the run if it is
 * over. */
void svc__runner_maybe_exit(struct svc_runner *r);
int svc__runner_draining(const struct svc_runner *r);
/* The in-flight list (linked through it->next) and its length. */
struct svc_item *svc__runner_in_flight(const struct svc_runner *r, size_t *n);
/* Log fields for an item (NULL: the job's only). */
struct svc_log_fields svc__runner_fields(const struct svc_runner *r, const struct svc_item *it,
                                         const char *outcome);
/* The run's counts: the runner counts outcomes, the source total and
 * failed. */
struct svc_batch_summary *svc__runner_summary(struct svc_runner *r);
/* min(cap_s, base_s * 2^(attempt - 1)), doubling while below cap_s. */
double svc__backoff_s(double base_s, double cap_s, int attempt);

#endif
