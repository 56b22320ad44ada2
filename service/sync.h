/* sync.h: blocking helpers for one-shot programs (the verbs publish and
 * verify in cli/): run a private loop until an asynchronous gcp/ call has
 * called back. Not for the service loop. */
#ifndef WIGGLY_SERVICE_SYNC_H
#define WIGGLY_SERVICE_SYNC_H

#include <stddef.h>

#include "service/cloud.h"

struct ev_loop;

struct svc_sync {
    struct ev_loop *loop;
    struct svc_cloud cloud;
};

/* Creates the loop and the clients; 0 or an SVC_E* code with err. */
int svc_sync_init(struct svc_sync *s, int want_pubsub, int want_gcs, struct svc_error *err);
void svc_sync_cleanup(struct svc_sync *s);
/* Run until *flag is set or limit_s passed; 0 or SVC_ETIMEOUT. */
int svc_sync_wait(struct svc_sync *s, int *flag, double limit_s);

/* A subscription's settings, copied from gcp_pubsub_subscription_info. */
struct svc_sync_sub {
    char topic[512];
    char dead_letter_topic[512]; /* "" = no dead-letter policy */
    int ack_deadline_s;          /* 0 = not reported */
    int max_delivery_attempts;   /* 0 = none or not reported */
};

/* GET a subscription: 0, SVC_ENOTFOUND when it does not exist, or another
 * SVC_E* code; err says why. */
int svc_sync_sub_get(struct svc_sync *s, const char *subscription, struct svc_sync_sub *out,
                     struct svc_error *err);

#endif
