/* error.h: error codes and the error struct shared by every gcp/ call.
 * Foreign errors (CURLcode, HTTP status, google.rpc.Status) are converted to
 * these codes at the module edge; msg carries the precise text. */
#ifndef WIGGLY_GCP_ERROR_H
#define WIGGLY_GCP_ERROR_H

enum gcp_errc {
    GCP_OK = 0,
    GCP_ENOMEM = -2000,
    GCP_ETRANSPORT = -2001,    /* connect/reset/DNS: curl error */
    GCP_ETIMEOUT = -2002,      /* request timed out */
    GCP_EINVAL = -2003,        /* 400 INVALID_ARGUMENT, or a bad argument locally */
    GCP_EAUTH = -2004,         /* 401 after one refresh, or no credentials */
    GCP_EPERM = -2005,         /* 403 */
    GCP_ENOTFOUND = -2006,     /* 404 */
    GCP_EEXISTS = -2007,       /* 409 ALREADY_EXISTS */
    GCP_EPRECONDITION = -2008, /* 412 (GCS) / FAILED_PRECONDITION */
    GCP_ERATELIMIT = -2009,    /* 429 after retries */
    GCP_EUNAVAILABLE = -2010,  /* 5xx after retries */
    GCP_ECHECKSUM = -2011,     /* CRC32C mismatch */
    GCP_ETOOBIG = -2012,       /* response or object larger than the cap */
    GCP_ECANCELED = -2013,     /* request canceled (shutdown) */
    GCP_EPROTO = -2014,        /* unparseable response */
    GCP_EIO = -2015,           /* local file error */
    GCP_EHTTP = -2016,         /* any other HTTP status */
    GCP_ENOBUCKET = -2017      /* 404 whose body says the bucket does not exist */
};

struct gcp_error {
    int code;        /* enum gcp_errc */
    int http_status; /* 0 when no response */
    char msg[1024];
};

const char *gcp_strerror(int code);
/* Worth retrying later (transport, timeout, 429, 5xx)? */
int gcp_error_is_transient(int code);

#endif
