/* cloud.h: the Google clients a runner needs, created together on one loop:
 * one HTTP engine, auth only when a real (non-emulator) endpoint is used,
 * Pub/Sub and/or GCS. Loop thread only. */
#ifndef WIGGLY_SERVICE_CLOUD_H
#define WIGGLY_SERVICE_CLOUD_H

#include "service/svc_error.h"

struct ev_loop;

struct svc_cloud {
    struct gcp_http *http;
    struct gcp_auth *auth; /* NULL when every endpoint is an emulator */
    struct gcp_pubsub *pubsub;
    struct gcp_gcs *gcs;
};

int svc_cloud_init(struct svc_cloud *c, struct ev_loop *loop, int want_pubsub, int want_gcs,
                   struct svc_error *err);
/* Cancels outstanding requests (their callbacks fire) and frees. */
void svc_cloud_cleanup(struct svc_cloud *c);
struct cfg_job;
/* The job has a gs:// location (input, output, or features when on). */
int svc_cloud_needs_gcs(const struct cfg_job *cfg);

/* Ready when no auth is needed or a token has been obtained. */
int svc_cloud_ready(const struct svc_cloud *c);

#endif
