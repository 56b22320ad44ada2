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

/* Which failures a request may be retried on (docs/gcp.md "Retry policy"). */
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

/* ---- Parsers of answers from the network ----
 * Pure functions of the body as received (bytes + length, not necessarily
 * NUL-terminated; NULL or length 0 is an empty body), apart from the request
 * that fetched it, so that tests/test_gcp_unit.c and the libFuzzer targets
 * tests/fuzz/fuzz_gcp_*.c drive them directly. Each returns 0, GCP_EPROTO
 * (the answer is malformed) or GCP_ENOMEM, and on failure says why in err
 * (optional) without quoting the body. Strings in a result point into doc,
 * the parsed JSON, which the result owns until its cleanup. Any thread. */
struct json_t; /* jansson's json_t */
struct gcp_pubsub_received;
struct gcp_gcs_object;

/* Pub/Sub :pull answer ({"receivedMessages":[{ackId, message{data,
 * attributes, messageId, publishTime}, deliveryAttempt}]}); an empty body or
 * {} is zero messages. Every message needs an ackId, a message object and
 * base64 data (absent data is empty); message data is decoded into the
 * result. */
struct gcp__pull {
    struct gcp_pubsub_received *msgs; /* n entries, NULL when n == 0 */
    size_t n;
    struct json_t *doc;
};
int gcp__pubsub_parse_pull(const char *body, size_t len, struct gcp__pull *out,
                           struct gcp_error *err);
/* Frees everything in p and zeroes it; a zeroed or failed result is fine. */
void gcp__pubsub_pull_cleanup(struct gcp__pull *p);

/* GCS object resource (objects.get, an upload's answer): needs a JSON object
 * with a name; int64 fields as strings (or numbers), crc32c as base64 of 4
 * big-endian bytes (has_crc32c only when it decodes). *doc owns the strings
 * in o: release it with gcp__json_free. On failure *doc is NULL. */
int gcp__gcs_parse_object(const char *body, size_t len, struct gcp_gcs_object *o,
                          struct json_t **doc, struct gcp_error *err);
void gcp__json_free(struct json_t *doc);

/* An HTTP error answer: message and status string of a google.rpc.Status
 * ({"error":{"code","message","status"}}), a GCS error (the same without
 * status) or an OAuth error ({"error":"invalid_grant","error_description":
 * ...}); else the first line of the body (at most 120 bytes, non-printable
 * bytes as '?') as msg. Both outputs are always NUL-terminated strings,
 * truncated to their sizes (which must be > 0). */
void gcp__http_parse_error_body(const char *body, size_t len, char *msg, size_t msgsz, char *rpc,
                                size_t rpcsz);

/* A token answer from the metadata server or an OAuth token endpoint:
 * {"access_token":"ya29...","expires_in":3599,"token_type":"Bearer"}.
 * expires_in may be a number or a string, must be finite and > 0, and is
 * capped at GCP__TOKEN_MAX_LIFE_S. The token must be 1..GCP__TOKEN_MAX
 * visible ASCII bytes (it becomes a header line of at most 4096 bytes in
 * http.c launch()); token_type, when present, must be Bearer (any case). */
#define GCP__TOKEN_MAX        4000
#define GCP__TOKEN_MAX_LIFE_S 86400.0
struct gcp__token {
    char *access_token; /* malloc'd; gcp__auth_token_cleanup wipes it */
    double expires_in;  /* seconds, in (0, GCP__TOKEN_MAX_LIFE_S] */
};
int gcp__auth_parse_token(const char *body, size_t len, struct gcp__token *out,
                          struct gcp_error *err);
void gcp__auth_token_cleanup(struct gcp__token *t);

/* Cloud Monitoring projects.timeSeries.list answer: {"timeSeries":[{"metric":
 * {...}, "resource":{...}, "points":[{"interval":{"startTime","endTime"},
 * "value":{"int64Value":"12"}}]}], "nextPageToken":"..."}; int64Value is a
 * string in proto3 JSON (a number is accepted too), doubleValue a number.
 * out gets the newest point of all series (by endTime; on a tie the larger
 * value). An empty body, {}, no series or series without points is
 * found = 0, never a value of 0. A point needs an RFC 3339 endTime and a
 * finite numeric value; a body carrying "error" is GCP_EPROTO. */
struct gcp_monitoring_point;
int gcp__monitoring_parse_latest(const char *body, size_t len, struct gcp_monitoring_point *out,
                                 struct gcp_error *err);
/* "2024-05-01T12:00:00.123456Z" or with a +hh:mm / -hh:mm offset, to seconds
 * since the epoch; 0, or -1 when it is not such a timestamp. */
int gcp__rfc3339_parse(const char *s, double *out);

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
