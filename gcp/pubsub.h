/* pubsub.h: Pub/Sub REST v1 client (pull, ack, modack, publish, admin).
 *
 * Endpoint: base_url if given, else http://$PUBSUB_EMULATOR_HOST (no auth),
 * else https://pubsub.googleapis.com with tokens from the gcp_auth.
 * Names are full resource paths: projects/P/topics/T,
 * projects/P/subscriptions/S.
 * Loop thread only. Every callback fires exactly once (also on cancel) unless
 * the call itself returns an error. Arguments are copied: the caller's
 * buffers may be freed right after the call returns. Data handed to a
 * callback is borrowed: valid only during the callback. */
#ifndef WIGGLY_GCP_PUBSUB_H
#define WIGGLY_GCP_PUBSUB_H

#include <stddef.h>
#include "gcp/error.h"

struct gcp_http;
struct gcp_auth;
struct gcp_pubsub;

/* auth may be NULL when the endpoint is an emulator. */
struct gcp_pubsub *gcp_pubsub_create(struct gcp_http *http, struct gcp_auth *auth,
                                     const char *base_url, struct gcp_error *err);
void gcp_pubsub_destroy(struct gcp_pubsub *ps);
/* Cancel outstanding pulls only (shutdown: stop intake, keep acks going). */
void gcp_pubsub_cancel_pulls(struct gcp_pubsub *ps);

struct gcp_pubsub_attr {
    const char *key;
    const char *value;
};

struct gcp_pubsub_received {
    const char *ack_id;
    const char *message_id;
    const char *publish_time;
    const unsigned char *data; /* base64-decoded */
    size_t data_len;
    const struct gcp_pubsub_attr *attrs;
    size_t n_attrs;
    int delivery_attempt; /* 0 = unknown */
};

typedef void (*gcp_pubsub_done_cb)(void *ud, const struct gcp_error *err);
typedef void (*gcp_pubsub_pull_cb)(void *ud, const struct gcp_error *err,
                                   const struct gcp_pubsub_received *msgs, size_t n);
typedef void (*gcp_pubsub_publish_cb)(void *ud, const struct gcp_error *err,
                                      const char *const *message_ids, size_t n);

/* Long poll (no returnImmediately); an empty answer is n = 0, not an error.
 * Cancelling one (gcp_pubsub_cancel_pulls) closes the connection, but the
 * server may still hand messages to it for as long as it would have held
 * it (~90 s): they come back only after the ack deadline. */
int gcp_pubsub_pull(struct gcp_pubsub *ps, const char *subscription, int max_messages,
                    gcp_pubsub_pull_cb cb, void *ud);
/* returnImmediately: answers at once with what is there (often nothing even
 * when messages wait, so callers poll). For tools that look and stop, where
 * a long poll would have to be cancelled. */
int gcp_pubsub_pull_now(struct gcp_pubsub *ps, const char *subscription, int max_messages,
                        gcp_pubsub_pull_cb cb, void *ud);
/* Batched internally by 1000 ackIds; cb fires once after all batches. */
int gcp_pubsub_ack(struct gcp_pubsub *ps, const char *subscription, const char *const *ack_ids,
                   size_t n, gcp_pubsub_done_cb cb, void *ud);
/* deadline_s 0 = nack; clamped to [0, 600]. */
int gcp_pubsub_modack(struct gcp_pubsub *ps, const char *subscription, const char *const *ack_ids,
                      size_t n, int deadline_s, gcp_pubsub_done_cb cb, void *ud);

struct gcp_pubsub_message {
    const void *data;
    size_t len;
    const struct gcp_pubsub_attr *attrs;
    size_t n_attrs;
};
/* Split into requests within 1000 messages / 10 MB; ids in input order. */
int gcp_pubsub_publish(struct gcp_pubsub *ps, const char *topic,
                       const struct gcp_pubsub_message *msgs, size_t n, gcp_pubsub_publish_cb cb,
                       void *ud);

/* Admin (verify --create, tests). GCP_EEXISTS / GCP_ENOTFOUND as codes. */
int gcp_pubsub_topic_create(struct gcp_pubsub *ps, const char *topic, gcp_pubsub_done_cb cb,
                            void *ud);
int gcp_pubsub_topic_get(struct gcp_pubsub *ps, const char *topic, gcp_pubsub_done_cb cb, void *ud);
int gcp_pubsub_topic_delete(struct gcp_pubsub *ps, const char *topic, gcp_pubsub_done_cb cb,
                            void *ud);

struct gcp_pubsub_sub_spec {
    const char *topic;
    int ack_deadline_s;                  /* 0 = 60 */
    const char *dead_letter_topic;       /* NULL = none */
    int max_delivery_attempts;           /* 5..100 when dead_letter_topic; 0 = 5 */
    double min_backoff_s, max_backoff_s; /* retry policy; 0 = none */
};
int gcp_pubsub_subscription_create(struct gcp_pubsub *ps, const char *subscription,
                                   const struct gcp_pubsub_sub_spec *spec, gcp_pubsub_done_cb cb,
                                   void *ud);
int gcp_pubsub_subscription_get(struct gcp_pubsub *ps, const char *subscription,
                                gcp_pubsub_done_cb cb, void *ud);
/* A subscription's settings as Pub/Sub reports them (GET subscription).
 * Borrowed: valid only during the callback. */
struct gcp_pubsub_subscription_info {
    const char *name;              /* projects/P/subscriptions/S */
    const char *topic;             /* projects/P/topics/T, or "_deleted-topic_" */
    int ack_deadline_s;            /* 0 = not reported */
    const char *dead_letter_topic; /* NULL = no dead-letter policy */
    int max_delivery_attempts;     /* 0 = none or not reported (Pub/Sub's default is 5) */
};
/* info is NULL exactly when err is set. */
typedef void (*gcp_pubsub_subinfo_cb)(void *ud, const struct gcp_error *err,
                                      const struct gcp_pubsub_subscription_info *info);
/* Like gcp_pubsub_subscription_get, with the fields; a missing subscription
 * is GCP_ENOTFOUND, an answer without a topic GCP_EPROTO. */
int gcp_pubsub_subscription_info(struct gcp_pubsub *ps, const char *subscription,
                                 gcp_pubsub_subinfo_cb cb, void *ud);
int gcp_pubsub_subscription_delete(struct gcp_pubsub *ps, const char *subscription,
                                   gcp_pubsub_done_cb cb, void *ud);

#endif
