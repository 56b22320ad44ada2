/* run.h: the two runners of `wiggly run`.
 *  - batch (events.file, or --ids FILE|-): IDs from a file or stdin, every
 *    core busy, a live progress line on a terminal, a summary at the end.
 *  - stream (events.subscription): pull from Pub/Sub with flow control,
 *    lease extension, dead-lettering, health/metrics, SIGTERM drain.
 * Both drive the same pipeline (pipeline.h). Each returns the process exit
 * code: 0 success, 1 work failed (batch) or fatal runtime error, 2 setup
 * error (bad config for this mode). */
#ifndef WIGGLY_SERVICE_RUN_H
#define WIGGLY_SERVICE_RUN_H

#include <stdint.h>

struct cfg_job;

struct svc_run_opts {
    const struct cfg_job *cfg;
    const char *ids;    /* batch: IDs file, "-" = stdin; NULL = the config's events */
    int force;          /* --force */
    const char *listen; /* override cfg->listen (tests: "127.0.0.1:0"); NULL = config */
};

/* What a batch run did (for tests and the summary). */
struct svc_batch_summary {
    uint64_t total, processed, skipped, missing, failed, pinged, dropped;
    double audio_seconds;
};

int svc_batch_run(const struct svc_run_opts *o, struct svc_batch_summary *summary);
int svc_stream_run(const struct svc_run_opts *o);

#endif
