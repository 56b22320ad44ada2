/* svc_error.h: the service module's error codes and error struct.
 * Foreign errors (gcp_error, audio_error, errno) are converted at the
 * service edge into these codes; msg carries the precise text. */
#ifndef WIGGLY_SERVICE_SVC_ERROR_H
#define WIGGLY_SERVICE_SVC_ERROR_H

enum svc_errc {
    SVC_OK = 0,
    SVC_ENOMEM = -4000,
    SVC_EIO = -4001,        /* local file error */
    SVC_ENOTFOUND = -4002,  /* object does not exist */
    SVC_EEXISTS = -4003,    /* create-only write: object already exists */
    SVC_ETOOBIG = -4004,    /* input larger than the configured cap */
    SVC_EINVAL = -4005,     /* bad location, bad argument */
    SVC_ETRANSIENT = -4006, /* remote failure worth retrying */
    SVC_EREMOTE = -4007,    /* remote failure not worth retrying */
    SVC_ECANCELED = -4008,  /* canceled (shutdown) */
    SVC_EAUDIO = -4009,     /* audio chain failed; see msg */
    SVC_ETIMEOUT = -4010,   /* message took longer than message_timeout_s */
    SVC_ENOBUCKET = -4011,  /* the bucket (or file:// directory) of a location is missing */
    SVC_EBUSY = -4012       /* a worker is running the job: it cannot be taken back */
};

struct svc_error {
    int code;
    char msg[1024];
};

const char *svc_strerror(int code);
/* Set code and a printf-style message; err may be NULL. Returns code. */
int svc_error_set(struct svc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
