/* httpd.h: health and metrics endpoints on libmicrohttpd:
 *   GET /healthz  200 "ok" while the process runs (liveness: no remote checks)
 *   GET /readyz   200 when svc_metrics_ready(), else 503
 *   GET /metrics  Prometheus text format 0.0.4
 * MHD runs its own thread; it only reads the atomics of struct svc_metrics.
 * Ownership: the metrics are borrowed and must outlive the server. */
#ifndef WIGGLY_SERVICE_HTTPD_H
#define WIGGLY_SERVICE_HTTPD_H

#include "service/svc_error.h"

struct svc_metrics;
struct svc_httpd;

/* listen: "host:port" (host may be empty, "0.0.0.0", "127.0.0.1"; port 0 =
 * ephemeral). */
struct svc_httpd *svc_httpd_create(const char *listen, struct svc_metrics *m,
                                   struct svc_error *err);
void svc_httpd_destroy(struct svc_httpd *h);
/* The bound port (useful with port 0). */
int svc_httpd_port(const struct svc_httpd *h);

#endif
