/* gcp_int.h: internals shared by the gcp/ sources (not a public header).
 *
 * The request layer: one call = one logical request, retried inside the
 * engine by its retry policy, authenticated through a gcp_auth when given,
 * completed by exactly one callback. Loop thread only. */
#ifndef WIGGLY_GCP_INT_H
#define WIGGLY_GCP_INT_H

#include <stddef.h>
#include <stdint.h>
#include "gcp/error.h"
#include "gcp/http.h"

struct gcp_auth;
struct gcp__req;

/* Which failures a request may be retried on (reference §7). */
enum gcp__retry {
    GCP__RETRY_NEVER = 0,
    GCP__RETRY_IDEMPOTENT, /* GCS idempotent / token: 408, 429, 5xx, transport */
    GCP__RETRY_PS_PUBLISH, /* ABORTED, CANCELLED, DEADLINE, INTERNAL, EXHAUSTED, UNAVAILABLE */
    GCP__RETRY_PS_PULL,    /* ABORTED, INTERNAL, UNAVAILABLE, UNKNOWN; no client timeout */
    GCP__RETRY_PS_ACK,     /* UNAVAILABLE, transport */
    GCP__RETRY_PS_ADMIN    /* ABORTED, UNAVAILABLE, UNKNOWN, transport */
};

struct gcp__resp {
    long status;
    char *body; /* NUL-terminated; NULL when streamed to a sink or empty */
    size_t body_len;
    char *headers; /* raw header block of the final response */
    int curl_code; /* CURLcode of the last attempt */
};

/* Returns the value of the first header called name (case-insensitive),
 * copied into out; 0 when found. */
int gcp__resp_header(const struct gcp__resp *r, const char *name, char *out, size_t outsz);
/* Visits every header called name. */
void gcp__resp_headers_each(const struct gcp__resp *r, const char *name,
                            void (*fn)(void *ud, const char *value), void *ud);

/* err is NULL on success (2xx, or 308 when accept_308). resp is always
 * given (status 0 when no response); borrowed for the callback. */
typedef void (*gcp__req_cb)(void *ud, const struct gcp_error *err, struct gcp__resp *resp);
/* Streaming sink for a 2xx body: return 0 to go on, or a negative gcp code
 * to abort the transfer with that code. reset is called before each attempt. */
typedef int (*gcp__sink_fn)(void *ud, const void *data, size_t len);
typedef void (*gcp__sink_reset_fn)(void *ud);

/* A client's set of requests, so that it can cancel its own. Zeroed by the
 * owner; it must stay alive while requests are in it. */
struct gcp__group {
    struct gcp__req *head;
    unsigned gen;
};
/* Cancels the group's requests that exist now and carry tag (or any tag
 * when tag < 0); their callbacks fire with GCP_ECANCELED. Requests started
 * by those callbacks are left alone. */
void gcp__group_cancel(struct gcp__group *g, int tag);

struct gcp__req_spec {
    const char *method; /* GET, POST, PUT, PATCH, DELETE */
    const char *url;
    const char *what;           /* resource for error messages, e.g. "gs://b/o"; NULL = url path */
    const char *const *headers; /* NULL-terminated extra headers, copied */
    const void *body;           /* borrowed until the callback */
    size_t body_len;
    int has_body;             /* send body (even if empty) */
    const char *content_type; /* for the body; NULL = application/json when has_body */
    long timeout_ms;          /* 0 = engine default */
    size_t max_body;          /* 0 = engine default */
    enum gcp__retry retry;
    int accept_308;
    struct gcp_auth *auth; /* NULL = no Authorization header */
    gcp__sink_fn sink;
    gcp__sink_reset_fn sink_reset;
    void *sink_ud;
    struct gcp__group *group; /* optional */
    int tag;                  /* for gcp__group_cancel */
};

/* Starts a request. Returns a handle (for gcp__req_cancel) or NULL when it
 * could not be submitted (err set, callback never fires). */
struct gcp__req *gcp__http_request(struct gcp_http *h, const struct gcp__req_spec *spec,
                                   gcp__req_cb cb, void *ud, struct gcp_error *err);
/* Cancels one request: its callback fires now with GCP_ECANCELED. */
void gcp__req_cancel(struct gcp__req *r);

/* Engine options, for clients that derive their own limits. */
const struct gcp_http_opts *gcp__http_opts(const struct gcp_http *h);
/* Backoff delay before attempt n (0-based retry count), full jitter. */
double gcp__http_backoff(const struct gcp_http *h, int n);
struct ev_loop *gcp__http_loop(const struct gcp_http *h);

/* Error helpers. */
void gcp__seterr(struct gcp_error *err, int code, int http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* base64 (standard, padded) and base64url (no padding). Returns malloc'd,
 * NUL-terminated strings; NULL on ENOMEM. */
char *gcp__b64_encode(const void *data, size_t len, int url);
/* Decodes standard or URL-safe base64, padding optional. Returns 0 or -1. */
int gcp__b64_decode(const char *in, size_t inlen, unsigned char **out, size_t *outlen);

/* The table implementation, for tests that compare it with the SSE4.2 one. */
uint32_t gcp__crc32c_sw(uint32_t crc, const void *data, size_t len);

/* Appends to a growable buffer. */
struct gcp__buf {
    char *p;
    size_t len, cap;
};
int gcp__buf_add(struct gcp__buf *b, const void *data, size_t len);
int gcp__buf_printf(struct gcp__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gcp__buf_free(struct gcp__buf *b);

/* curl_easy_escape without a handle; malloc'd. */
char *gcp__escape(const char *s);

#endif
