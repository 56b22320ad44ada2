/* svc_error.h: the service module's error codes, its dead-letter and retry
 * reasons, and the one edge where gcp/ and audio/ errors become service
 * errors (svc_error.c). docs/service.md lists the reasons for operators.
 * Threading: every function is pure. */
#ifndef WIGGLY_SERVICE_SVC_ERROR_H
#define WIGGLY_SERVICE_SVC_ERROR_H

struct gcp_error;

/* The error table (libuv's UV_ERRNO_MAP): name, value, text, and whether
 * a later attempt may succeed (transient: the message is retried). */
#define SVC_ERRNO_MAP(XX)                                                                          \
    XX(ENOMEM, -4000, "out of memory", 1)                                                          \
    XX(EIO, -4001, "local i/o error", 1)                                                           \
    XX(ENOTFOUND, -4002, "not found", 0)                                                           \
    XX(EEXISTS, -4003, "already exists", 0)  /* create-only write found the object */              \
    XX(ETOOBIG, -4004, "too large", 0)       /* input larger than a configured cap */              \
    XX(EINVAL, -4005, "invalid argument", 0) /* bad location, bad argument */                      \
    XX(ETRANSIENT, -4006, "transient remote failure", 1)                                           \
    XX(EREMOTE, -4007, "remote failure", 0)          /* a retry would get the same answer */       \
    XX(ECANCELED, -4008, "canceled", 1)              /* shutdown: another pod takes it */          \
    XX(EAUDIO, -4009, "audio processing failed", 0)  /* permanence: see the reason */              \
    XX(ETIMEOUT, -4010, "timed out", 1)              /* longer than message_timeout_s */           \
    XX(ENOBUCKET, -4011, "bucket does not exist", 1) /* a location's bucket or directory */        \
    XX(EBUSY, -4012, "busy", 1)                      /* a worker runs the job: not taken back */

enum svc_errc {
    SVC_OK = 0,
#define XX(name, value, text, transient) SVC_##name = value,
    SVC_ERRNO_MAP(XX)
#undef XX
};

/* Why a message was retried or dead-lettered: the `wiggly_reason`
 * attribute of a dead letter and the reason in the logs. Name, text. */
#define SVC_REASON_MAP(XX)                                                                         \
    XX(NONE, "", "")                                                                               \
    XX(BAD_MESSAGE, "bad_message", "the payload is neither a wiggly message nor a track ID")       \
    XX(BAD_ELEMENT, "bad_element", "the element cannot name an object")                            \
    XX(LOOP, "loop", "the loop guard stopped a message that came back too often")                  \
    XX(TOO_BIG, "too_big", "the input is larger than the limits allow")                            \
    XX(BAD_AUDIO, "bad_audio", "the input is not audio wiggly can read")                           \
    XX(EMPTY_AUDIO, "empty_audio", "the input gives no output frame")                              \
    XX(EMPTY_OUTPUT, "empty_output", "the processor wrote an empty file")                          \
    XX(STORAGE, "storage", "a storage request failed")                                             \
    XX(NO_BUCKET, "no_bucket", "a bucket or directory of the job is missing")                      \
    XX(MAX_ATTEMPTS, "max_attempts", "it failed transiently runtime.max_attempts times")           \
    XX(TIMEOUT, "timeout", "not finished within message_timeout_s")                                \
    XX(SHUTDOWN, "shutdown", "the pod shut down before it finished")                               \
    XX(PUBLISH, "publish", "publishing downstream failed")                                         \
    XX(AUDIO, "audio", "the audio chain failed for a reason a retry may fix")                      \
    XX(LOCAL_IO, "local_io", "scratch space failed")                                               \
    XX(INTERNAL, "internal", "out of memory or a similar local failure")                           \
    XX(MISSING, "missing", "the input does not exist")                                             \
    XX(TRANSFORM, "transform", "the transform failed for a reason a retry may fix")                \
    XX(TRANSFORM_ERROR, "transform_error", "the transform answered a permanent error")             \
    XX(TRANSFORM_CRASHED, "transform_crashed", "the track crashed the transform 3 times alone")    \
    XX(TRANSFORM_TIMEOUT, "transform_timeout", "the transform took longer than timeout_s")         \
    XX(TRANSFORM_OUTPUT_MISSING, "transform_output_missing",                                       \
       "the transform said done without writing every declared output")

enum svc_reason {
#define XX(name, str, text) SVC_R_##name,
    SVC_REASON_MAP(XX)
#undef XX
};

struct svc_error {
    int code;
    char msg[1024];
};

const char *svc_strerror(int code);
/* "SVC_ETIMEOUT" for SVC_ETIMEOUT. */
const char *svc_errname(int code);
int svc_error_is_transient(int code);
/* "too_big" for SVC_R_TOO_BIG. */
const char *svc_reason_name(enum svc_reason r);
const char *svc_reason_text(enum svc_reason r);
/* Set code and a printf-style message; err may be NULL. Returns code. */
int svc_error_set(struct svc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The one edge from gcp/ into service errors: dst gets the code and
 * "TEXT: precise message". 401 and 403 are transient for the service (an
 * operator fixes a role; the message is retried, and dead-lettered after
 * runtime.max_attempts), as are transport, timeout, 429 and 5xx failures;
 * a 400 is a remote failure a retry would repeat. Returns dst->code. */
int svc_error_from_gcp(struct svc_error *dst, const struct gcp_error *src);
/* The one edge from audio/: the service code for an AUDIO_E* code, and the
 * reason to dead-letter it with (SVC_R_NONE: worth a retry). */
int svc_error_from_audio(int audio_code, enum svc_reason *reason);

#endif
