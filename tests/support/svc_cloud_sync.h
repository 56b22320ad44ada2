/* svc_cloud_sync.h: blocking wrappers over the gcp/ clients for the
 * service integration tests (topics, subscriptions, publish, pull, buckets,
 * objects), each running a private libev loop until its callback fires.
 * Endpoints come from PUBSUB_EMULATOR_HOST and STORAGE_EMULATOR_HOST.
 * Also: spawning and stopping `wiggly` processes, free ports. */
#ifndef WIGGLY_TESTS_SVC_CLOUD_SYNC_H
#define WIGGLY_TESTS_SVC_CLOUD_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tcloud;

struct tcloud *tcloud_create(void);
void tcloud_destroy(struct tcloud *t);

/* Every call returns 0 or a negative GCP_E* code; "already exists" is 0. */
int tcloud_topic(struct tcloud *t, const char *topic);
int tcloud_sub(struct tcloud *t, const char *sub, const char *topic, int ack_deadline_s,
               const char *dead_letter_topic, int max_delivery_attempts);
int tcloud_publish(struct tcloud *t, const char *topic, const char *const *data, size_t n);

struct tmsg {
    char *data; /* NUL-terminated */
    size_t len;
    char *attrs[8][2]; /* key, value */
    size_t n_attrs;
};
void tmsg_cleanup(struct tmsg *m, size_t n);
const char *tmsg_attr(const struct tmsg *m, const char *key);
/* Publish messages with their attributes (data of len bytes, n_attrs
 * pairs); 0 or a GCP_E* code. */
int tcloud_publish_msgs(struct tcloud *t, const char *topic, const struct tmsg *msgs, size_t n);
/* Pull and nack (modack 0) whatever comes, until nothing came for quiet_s
 * or limit_s passed; returns the number of deliveries nacked. Drives a
 * subscription's dead-letter policy (Pub/Sub forwards a message after its
 * maxDeliveryAttempts). */
size_t tcloud_nack_all(struct tcloud *t, const char *sub, double quiet_s, double limit_s);
/* Pull (and ack) until want messages arrived or limit_s seconds passed;
 * returns how many were stored in out (at most cap). */
size_t tcloud_pull(struct tcloud *t, const char *sub, size_t want, double limit_s, struct tmsg *out,
                   size_t cap);

int tcloud_bucket(struct tcloud *t, const char *bucket);
int tcloud_upload(struct tcloud *t, const char *bucket, const char *name, const char *path);
/* GCP_ENOTFOUND when missing. */
int tcloud_stat(struct tcloud *t, const char *bucket, const char *name, int64_t *generation,
                uint64_t *size);
int tcloud_download(struct tcloud *t, const char *bucket, const char *name, const char *path);
/* Poll until the object exists (0) or limit_s passed (GCP_ENOTFOUND). */
int tcloud_wait_object(struct tcloud *t, const char *bucket, const char *name, double limit_s);

/* fork + exec argv with stdout and stderr appended to log; returns the pid. */
pid_t svc_test_spawn(char *const argv[], const char *log);
/* SIGTERM (or sig), then wait up to limit_s; SIGKILL after. Returns the
 * wait status, or -1 if it had to be killed. */
int svc_test_stop(pid_t pid, int sig, double limit_s);
/* A free TCP port on 127.0.0.1. */
int svc_test_free_port(void);
/* GET http://127.0.0.1:port/metrics and return the value of one sample line
 * ("name{labels}"), or -1. */
double svc_test_metric(int port, const char *series);

#endif
