/* http.h: the async HTTP engine: one curl multi handle driven by a libev
 * loop. Every gcp/ client runs its requests through one struct gcp_http.
 *
 * Threading: everything here runs on the loop's thread only. Call
 * gcp_http_global_init() (or curl_global_init()) before any thread starts.
 * Ownership: gcp_http_destroy() cancels outstanding requests (their callbacks
 * fire with GCP_ECANCELED) and then frees; the loop is borrowed. */
#ifndef WIGGLY_GCP_HTTP_H
#define WIGGLY_GCP_HTTP_H

#include <stddef.h>

#include "gcp/error.h"

struct ev_loop;
struct gcp_http;

struct gcp_http_opts {
    long connect_timeout_ms; /* 0 = 10000 */
    long timeout_ms;         /* default per-request timeout; 0 = 60000 */
    size_t max_body;         /* default cap on a response body kept in memory; 0 = 16 MiB */
    int max_retries;         /* 0 = 6 */
    double backoff_initial_s, backoff_max_s; /* 0 = 0.5 and 32 */
};

/* Process-wide setup of the HTTP library (curl_global_init), so callers
 * need not link libcurl: once, before any thread starts; 0 or GCP_ENOMEM.
 * gcp_http_global_cleanup() once at exit, after every gcp_http is gone. */
int gcp_http_global_init(void);
void gcp_http_global_cleanup(void);

struct gcp_http *gcp_http_create(struct ev_loop *loop, const struct gcp_http_opts *opts);
void gcp_http_destroy(struct gcp_http *h);
/* Cancel every outstanding request; each callback fires with GCP_ECANCELED. */
void gcp_http_cancel_all(struct gcp_http *h);
/* Number of requests in flight (for metrics and draining). */
size_t gcp_http_pending(const struct gcp_http *h);

/* A plain GET of url (not a Google API, e.g. a pod's /metrics): no
 * credentials, retried like any read (408, 429, 5xx, transport), the body
 * capped at max_body (0 = the engine's cap). A non-2xx answer is err. body
 * is borrowed, NUL-terminated, NULL when empty. The callback fires exactly
 * once unless the call returns an error. */
typedef void (*gcp_http_get_cb)(void *ud, const struct gcp_error *err, const char *body,
                                size_t len);
int gcp_http_get(struct gcp_http *h, const char *url, size_t max_body, long timeout_ms,
                 gcp_http_get_cb cb, void *ud);

#endif
