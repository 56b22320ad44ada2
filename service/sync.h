/* sync.h: blocking helpers for the one-shot CLI verbs (publish, verify):
 * run a private loop until an asynchronous gcp/ call has called back.
 * Not for the service loop. */
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

/* The topic of a subscription (GET subscription, read "topic"). */
int svc_sync_sub_topic(struct svc_sync *s, const char *subscription, char *topic, size_t len,
                       struct svc_error *err);

#endif
