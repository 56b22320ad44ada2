/* error.h: error codes and the error struct shared by every gcp/ call.
 * Foreign errors (CURLcode, HTTP status, google.rpc.Status) are converted to
 * these codes at the module edge; msg carries the precise text. */
#ifndef WIGGLY_GCP_ERROR_H
#define WIGGLY_GCP_ERROR_H

/* The error table (libuv's UV_ERRNO_MAP): name, value, text, and whether
 * a later attempt may succeed (transient). gcp_strerror, gcp_errname and
 * gcp_error_is_transient are generated from it (error.c). 401 and 403 are
 * not transient here (the HTTP layer does not retry them); what the service
 * makes of them is decided once, in service/svc_error.c. */
#define GCP_ERRNO_MAP(XX)                                                                          \
    XX(ENOMEM, -2000, "out of memory", 1)                                                          \
    XX(ETRANSPORT, -2001, "connection failed", 1) /* connect/reset/DNS: curl error */              \
    XX(ETIMEOUT, -2002, "request timed out", 1)                                                    \
    XX(EINVAL, -2003, "invalid argument", 0)           /* 400, or a bad argument locally */        \
    XX(EAUTH, -2004, "not authenticated", 0)           /* 401 after one refresh, no credentials */ \
    XX(EPERM, -2005, "permission denied", 0)           /* 403 */                                   \
    XX(ENOTFOUND, -2006, "not found", 0)               /* 404 */                                   \
    XX(EEXISTS, -2007, "already exists", 0)            /* 409 ALREADY_EXISTS */                    \
    XX(EPRECONDITION, -2008, "precondition failed", 0) /* 412 / FAILED_PRECONDITION */             \
    XX(ERATELIMIT, -2009, "rate limited", 1)           /* 429 after retries */                     \
    XX(EUNAVAILABLE, -2010, "service unavailable", 1)  /* 5xx after retries */                     \
    XX(ECHECKSUM, -2011, "checksum mismatch", 1)       /* CRC32C mismatch */                       \
    XX(ETOOBIG, -2012, "too large", 0)  /* response or object larger than the cap */               \
    XX(ECANCELED, -2013, "canceled", 0) /* request canceled (shutdown) */                          \
    XX(EPROTO, -2014, "malformed response", 0)                                                     \
    XX(EIO, -2015, "local i/o error", 0)             /* local file error */                        \
    XX(EHTTP, -2016, "http error", 0)                /* any other HTTP status */                   \
    XX(ENOBUCKET, -2017, "bucket does not exist", 0) /* 404 whose body says so */

enum gcp_errc {
    GCP_OK = 0,
#define XX(name, value, text, transient) GCP_##name = value,
    GCP_ERRNO_MAP(XX)
#undef XX
};

struct gcp_error {
    int code;        /* enum gcp_errc */
    int http_status; /* 0 when no response */
    char msg[1024];
};

const char *gcp_strerror(int code);
/* "GCP_ENOBUCKET" for GCP_ENOBUCKET. */
const char *gcp_errname(int code);
/* Worth retrying later (transport, timeout, 429, 5xx)? */
int gcp_error_is_transient(int code);

#endif
