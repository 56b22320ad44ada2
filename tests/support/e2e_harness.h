/* e2e_harness.h: shared harness of the fault suite (tests/it_faults_*.c) and
 * the end-to-end benchmark: one official Pub/Sub emulator and one
 * wiggly-gcs-emulator per executable, optionally with faults on both clouds
 * (the GCS emulator's own fault injection; wiggly-fault-proxy in front of
 * the Pub/Sub emulator), `wiggly run` processes ("pods") that see the faulty
 * endpoints while the test itself talks to the emulators directly, and
 * helpers to upload tracks, collect downstream messages and check outputs.
 *
 * Reuses tcloud (tests/support/svc_cloud_sync.h) for blocking cloud calls.
 * Not thread-safe: call from the test's main thread. */
#ifndef WIGGLY_TESTS_E2E_HARNESS_H
#define WIGGLY_TESTS_E2E_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "audio/audio.h"
#include "support/fault_proxy.h"
#include "support/gcs_emulator.h"
#include "support/pubsub_emulator.h"
#include "support/svc_cloud_sync.h"
#include "support/svc_util.h"

#define E2E_PROJECT "p"
#define E2E_BUCKET  "wbkt"

struct e2e {
    struct tpubsub ps;
    struct tgcs gcs;
    struct tproxy proxy;
    struct tcloud *cloud; /* direct to the Pub/Sub emulator; GCS as configured */
    int faults;           /* 1 while faults are on */
    char pod_ps_host[64]; /* PUBSUB_EMULATOR_HOST given to pods */
    char dir[256];        /* scratch: configs, logs, pods' temp dirs */
};

struct e2e_pod {
    char name[32];
    char cfg[512];
    char log[512];
    int port;
    pid_t pid;
};

/* 0 running; 1 skip (emulator not installed, reason printed); -1 failure.
 * Creates the bucket E2E_BUCKET. No faults yet. */
int e2e_start(struct e2e *e);
void e2e_stop(struct e2e *e);

/* Turn faults on: the GCS emulator restarts on the same state with
 * gcs_args (e.g. --fault-rate 0.15 ...), and a fault proxy starts in front
 * of the Pub/Sub emulator with proxy_args; pods started afterwards see both.
 * (its request log goes to DIR/proxy.log). Either list may be NULL (no
 * faults on that side). 0 or -1. */
int e2e_faults_on(struct e2e *e, const char *const *gcs_args, const char *const *proxy_args);
/* Faults off: the GCS emulator restarts without faults, the proxy stops. */
int e2e_faults_off(struct e2e *e);

const char *e2e_topic(const char *name);
const char *e2e_sub(const char *name);
/* Topic NAME plus subscription NAME-check (ack deadline 60 s) to observe it. */
int e2e_topic_observed(struct e2e *e, const char *name);

/* A Pub/Sub job config: gs://E2E_BUCKET/IN/ -> gs://E2E_BUCKET/OUT/,
 * subscription SUB, output topic out_topic (NULL = none), steps and
 * runtime as JSON objects, extra = further top-level members (",..." or "").
 * runtime.temp_dir is DIR/tmp-NAME (created). Returns 0 or -1. */
int e2e_job_json(struct e2e *e, char *out, size_t len, const char *name, const char *sub,
                 const char *in, const char *in_sfx, const char *outp, const char *out_sfx,
                 const char *out_topic, const char *steps, const char *runtime, const char *extra);
/* DIR/tmp-NAME, the pods' temp_dir (static buffer). */
const char *e2e_pod_tmp(struct e2e *e, const char *name);

/* Write DIR/NAME.json; fill p (not started). */
int e2e_pod_init(struct e2e *e, struct e2e_pod *p, const char *name, const char *json);
/* Spawn `wiggly run -c CFG --listen 127.0.0.1:PORT --log-format json` with
 * the pods' endpoints and wait until /healthz answers. 0 or -1. */
int e2e_pod_start(struct e2e *e, struct e2e_pod *p);
/* Send sig and wait up to limit_s; SIGKILL after. Returns the wait status
 * (or -1 if it had to be killed); *took_s = seconds until it was gone. */
int e2e_pod_stop(struct e2e_pod *p, int sig, double limit_s, double *took_s);
/* 1 if the process exists and has not exited (reaps it if it has). */
int e2e_pod_alive(struct e2e_pod *p);
/* HTTP status of GET /healthz, or -1. */
int e2e_pod_http(const struct e2e_pod *p, const char *path);
double e2e_pod_metric(const struct e2e_pod *p, const char *series);

/* Generate one track (audio_gen_file; sine at 440 Hz), upload it as
 * PREFIX/ELEMENT-i SUFFIX for i in [0, n) with element names from
 * e2e_element(i). */
int e2e_upload_tracks(struct e2e *e, const char *prefix, const char *suffix, int n, int rate,
                      int channels, double seconds);
int e2e_upload_bytes(struct e2e *e, const char *name, const void *data, size_t len);
/* "t%03d" in a static ring. */
const char *e2e_element(int i);
/* Publish e2e_element(i) for i in [from, to) as plain IDs, in batches. */
int e2e_publish_range(struct e2e *e, const char *topic, int from, int to);

/* Pull sub until every element e2e_element(0..n-1) was seen or limit_s
 * passed. seen[i] counts deliveries of element i (duplicates included);
 * *other counts messages with elements outside the range. Returns the
 * number of distinct elements seen. */
int e2e_collect(struct e2e *e, const char *sub, int n, double limit_s, int *seen, int *other);

/* Every object under prefix in the bucket (names malloc'ed into *names,
 * *n). 0 or a negative code. */
int e2e_list(struct e2e *e, const char *prefix, char ***names, size_t *n);
void e2e_names_free(char **names, size_t n);

/* Download and probe one object. 0 or negative. */
int e2e_probe(struct e2e *e, const char *name, struct audio_info *info);

/* The two-job chain of the fault suite, after e2e_start (same returns):
 * topics A-in, A-out, B-out, A-dead, B-dead (all but A-in observed by a
 * NAME-check subscription), subscriptions A-sub (A-in) and B-sub (A-out) with
 * ack_deadline_s, and n tracks src/ID.flac (44.1 kHz stereo sine, seconds). */
int e2e_chain_start(struct e2e *e, int ack_deadline_s, int n, double seconds);
/* Config of pod POD of the chain: job A (A-sub, src/ID.flac -> a/ID.flac with
 * steps_a, publishes A-out, dead letters A-dead) or, with job_b, job B (B-sub,
 * a/ID.flac -> b/ID.wav 8 kHz mono, B-out, B-dead). 0 or -1. */
int e2e_chain_pod(struct e2e *e, struct e2e_pod *p, const char *pod, int job_b, const char *steps_a,
                  const char *runtime);
/* SIGTERM; 0 if the pod exited with status 0 within limit_s (else -1 with
 * a message). */
int e2e_pod_stop_clean(struct e2e_pod *p, double limit_s);
/* Pull (and ack) what sub holds within wait_s; returns how many (up to 16). */
size_t e2e_drain_sub(struct e2e *e, const char *sub, double wait_s);
/* Prints, for a test that failed on element, the lines of the pods' logs
 * about it and their warnings and errors (40 per pod at most), so that a
 * failure in CI explains itself after its directory is gone. */
void e2e_explain(const struct e2e_pod *pods, int n, const char *element);
/* Deliveries beyond the first, summed over seen[0..n). */
int e2e_dups(const int *seen, int n);

/* Files left anywhere under dir (recursively), -1 if unreadable. */
int e2e_count_files(const char *dir);

double e2e_now(void);
void e2e_sleep(double s);

#endif
