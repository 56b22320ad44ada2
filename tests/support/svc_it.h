/* svc_it.h: shared harness of the service integration tests: one official
 * Pub/Sub emulator and one wiggly-gcs-emulator per test executable, a
 * scratch directory, blocking cloud helpers, and `wiggly run` processes
 * (real binaries, environment PUBSUB_EMULATOR_HOST / STORAGE_EMULATOR_HOST). */
#ifndef WIGGLY_TESTS_SVC_IT_H
#define WIGGLY_TESTS_SVC_IT_H

#include <stdint.h>
#include <sys/types.h>

#include "audio/audio.h"
#include "support/gcs_emulator.h"
#include "support/pubsub_emulator.h"
#include "support/svc_cloud_sync.h"

#define SVC_IT_PROJECT "p"
#define SVC_IT_BUCKET  "wbkt"

struct svc_it {
    struct tpubsub ps;
    struct tgcs gcs;
    struct tcloud *cloud;
    char dir[256];
    int started;
};

struct svc_job_proc {
    char name[32];
    char cfg[512];
    char log[512];
    int port;
    pid_t pid;
};

/* 0 running; 1 skip (emulator not installed, reason printed); -1 failure. */
int svc_it_start(struct svc_it *it);
void svc_it_stop(struct svc_it *it);
/* One subscription for svc_it_group_setup: NAME on topic TOPIC (short names,
 * as given to svc_it_sub and svc_it_topic). */
struct svc_it_sub_spec {
    const char *sub;
    const char *topic;
    int ack_deadline_s;
};
/* The common start of an it_service_* group set-up: svc_it_start, then every
 * topic of topics (NULL-terminated; NULL for none), then every subscription
 * of subs (ended by one whose sub is NULL; NULL for none), in that order.
 * Returns 0 when all is there; 1 when the emulator is not installed (reason
 * printed, *skipped = 1: the set-up returns 0 and every test skips); -1 on
 * failure. */
int svc_it_group_setup(struct svc_it *it, int *skipped, const char *const *topics,
                       const struct svc_it_sub_spec *subs);
/* The matching tear-down: unless skipped, svc_it_job_stop(jobs[i], limit_s)
 * for every job of jobs (NULL-terminated; NULL for none), then svc_it_stop.
 * Returns 0, as a cmocka group tear-down does. */
int svc_it_group_teardown(struct svc_it *it, int skipped, struct svc_job_proc *const *jobs,
                          double limit_s);
/* "projects/p/topics/NAME" into a static ring of buffers. */
const char *svc_it_topic(const char *name);
const char *svc_it_sub(const char *name);
/* Write DIR/NAME.json with json; fill j. */
int svc_it_job(struct svc_it *it, struct svc_job_proc *j, const char *name, const char *json);
/* Spawn `wiggly run -c CFG --listen 127.0.0.1:PORT --log-format json` and wait
 * until its /metrics answers. 0 or -1. */
int svc_it_job_start(struct svc_it *it, struct svc_job_proc *j);
/* SIGTERM and wait; returns the wait status or -1. */
int svc_it_job_stop(struct svc_job_proc *j, double limit_s);
double svc_it_metric(const struct svc_job_proc *j, const char *series);
/* A sine WAV uploaded to gs://wbkt/NAME. */
int svc_it_upload_wav(struct svc_it *it, const char *name, int rate, int channels, double seconds);
/* n sine WAVs (as svc_it_upload_wav) gs://wbkt/PREFIX<i>SUFFIX for i in
 * [0, n), i zero-padded to width digits (0: as is). 0 or -1. */
int svc_it_upload_wavs(struct svc_it *it, const char *prefix, int width, const char *suffix, int n,
                       int rate, int channels, double seconds);
int svc_it_upload_wav_to(struct svc_it *it, const char *bucket, const char *name, int rate,
                         int channels, double seconds);
int svc_it_upload_bytes(struct svc_it *it, const char *name, const void *data, size_t len);
/* Download gs://wbkt/NAME and probe it. */
int svc_it_probe(struct svc_it *it, const char *name, struct audio_info *info);
/* Restart the GCS emulator on the same state with extra_args (new port):
 * updates STORAGE_EMULATOR_HOST and the test's clients. 0 or -1. */
int svc_it_gcs_restart(struct svc_it *it, const char *const *extra_args);
/* Lines of the GCS emulator's request log. */
long svc_it_gcs_log_lines(struct svc_it *it);
/* Wait until the GCS request log has not grown for quiet_s (at most limit_s). */
void svc_it_gcs_quiet(struct svc_it *it, double quiet_s, double limit_s);

#endif
