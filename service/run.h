/* run.h: `wiggly run`: one runner (runner.c) around one event source
 * (source.h), chosen by the config's events:
 *  - the IDs file (events.file, or --ids FILE|-; source_file.c): IDs from a
 *    file or stdin, every core busy, a live progress line on a terminal, a
 *    summary at the end.
 *  - Pub/Sub (events.subscription; source_pubsub.c): pull with flow
 *    control, lease extension, dead-lettering, health/metrics, SIGTERM
 *    drain.
 * Both drive the same pipeline (pipeline.h). Each call returns the process
 * exit code: 0 success, 1 work failed (IDs file) or fatal runtime error, 2
 * setup error (bad config for this source). Loop thread: the caller's; the
 * call returns when the run is over. */
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

/* The source the options pick: the IDs file when o->ids is set, else the
 * config's events. summary (may be NULL) is filled when the run ends. */
int svc_run(const struct svc_run_opts *o, struct svc_batch_summary *summary);
/* One source, whatever the config's events say. */
int svc_batch_run(const struct svc_run_opts *o, struct svc_batch_summary *summary);
int svc_stream_run(const struct svc_run_opts *o);

#endif
