/* httpd.h: health and metrics endpoints on libmicrohttpd:
 *   GET /healthz  200 "ok" while the process and its HTTP thread run
 *                 (liveness: no remote checks)
 *   GET /readyz   200 when svc_metrics_ready(), else 503
 *   GET /metrics  Prometheus text format 0.0.4 (svc_metrics plus the
 *                 server's own wiggly_http_* series)
 *
 * The server is built to stay up under hostile or careless clients
 * (docs/operations.md, "Health endpoints"):
 *  - at most SVC_HTTPD_MAX_CONNECTIONS connections are kept; a new one
 *    beyond that closes the oldest connection that is not in the middle of
 *    a request, so idle connections never lock the probes out;
 *  - a connection gets SVC_HTTPD_REQUEST_TIMEOUT_S seconds from its start
 *    (or from its previous response) to send a whole request and take the
 *    answer, however slowly it trickles bytes;
 *  - svc_httpd_create raises the process's soft RLIMIT_NOFILE to the hard
 *    limit (logged) and the server never holds more than a quarter of the
 *    soft limit, so it cannot starve the service's own sockets;
 *  - libmicrohttpd's messages and the server's own go to the structured log
 *    (log.h), at most one line per second plus a count of those suppressed.
 *
 * Threading: one thread of the server's own runs libmicrohttpd and every
 * handler; it only reads the atomics of struct svc_metrics. create and
 * destroy are called from one thread (not the server's).
 * Ownership: the metrics are borrowed and must outlive the server. */
#ifndef WIGGLY_SERVICE_HTTPD_H
#define WIGGLY_SERVICE_HTTPD_H

#include "service/svc_error.h"

#define SVC_HTTPD_MAX_CONNECTIONS   64
#define SVC_HTTPD_REQUEST_TIMEOUT_S 5

struct svc_metrics;
struct svc_httpd;

/* listen: "host:port"; host is empty or "*" (every IPv4 address), an IPv4
 * address, "localhost" (127.0.0.1) or an IPv6 address in brackets ("[::1]",
 * "[::]"); port 0 = ephemeral. A port in use or not permitted is an error
 * naming the address and the system's reason. */
struct svc_httpd *svc_httpd_create(const char *listen, struct svc_metrics *m,
                                   struct svc_error *err);
void svc_httpd_destroy(struct svc_httpd *h);
/* The bound port (useful with port 0). */
int svc_httpd_port(const struct svc_httpd *h);

#endif
