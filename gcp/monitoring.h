/* monitoring.h: Cloud Monitoring API v3 client, read side only: the latest
 * point of a metric (projects.timeSeries.list), which is how Pub/Sub
 * publishes a subscription's backlog (subscription/num_undelivered_messages)
 * and the age of its oldest unacked message
 * (subscription/oldest_unacked_message_age).
 *
 * Endpoint: base_url if given, else $WIGGLY_MONITORING_ENDPOINT (a local
 * stand-in for tests; scheme optional, default http://), else
 * https://monitoring.googleapis.com. Credentials from the gcp_auth go only to
 * an https:// endpoint: a token is never sent in clear text, so an http://
 * stand-in gets none. There is no Monitoring emulator; see docs/gcp.md.
 *
 * Loop thread only. Every callback fires exactly once (also on cancel)
 * unless the call itself returns an error. Arguments are copied; data handed
 * to a callback is borrowed: valid only during the callback. */
#ifndef WIGGLY_GCP_MONITORING_H
#define WIGGLY_GCP_MONITORING_H

#include "gcp/error.h"

struct gcp_http;
struct gcp_auth;
struct gcp_monitoring;

/* auth may be NULL for an http:// endpoint; the default endpoint needs it. */
struct gcp_monitoring *gcp_monitoring_create(struct gcp_http *http, struct gcp_auth *auth,
                                             const char *base_url, struct gcp_error *err);
/* Cancels its outstanding requests (callbacks fire with GCP_ECANCELED). */
void gcp_monitoring_destroy(struct gcp_monitoring *m);
/* The endpoint in use, scheme://host[:port] (for messages). */
const char *gcp_monitoring_endpoint(const struct gcp_monitoring *m);

/* The newest point over every time series the query returned. */
struct gcp_monitoring_point {
    int found;            /* 0: no point in the window (nothing known, not 0) */
    double value;         /* int64Value or doubleValue */
    double end_time;      /* its interval.endTime, seconds since the epoch */
    unsigned long series; /* time series in the answer */
};
typedef void (*gcp_monitoring_point_cb)(void *ud, const struct gcp_error *err,
                                        const struct gcp_monitoring_point *pt);

/* GET /v3/projects/PROJECT/timeSeries?filter=FILTER with the interval
 * [now - window_s, now] (window_s in 60..86400; Pub/Sub samples every 60 s
 * and its points appear up to a few minutes late). pt is NULL exactly when
 * err is set. */
int gcp_monitoring_latest(struct gcp_monitoring *m, const char *project, const char *filter,
                          int window_s, gcp_monitoring_point_cb cb, void *ud);

/* The same for a Pub/Sub subscription metric: metric is the part after
 * pubsub.googleapis.com/, e.g. "subscription/num_undelivered_messages";
 * subscription is the full name projects/P/subscriptions/S (P is the
 * project asked). */
int gcp_monitoring_subscription_latest(struct gcp_monitoring *m, const char *subscription,
                                       const char *metric, int window_s, gcp_monitoring_point_cb cb,
                                       void *ud);

#endif
