/* svc_error.c: the service's error and reason functions, generated from
 * SVC_ERRNO_MAP and SVC_REASON_MAP (svc_error.h), and the one edge where
 * gcp/ and audio/ errors become service errors. */
#include "service/svc_error.h"

#include <stdarg.h>
#include <stdio.h>

#include "audio/audio.h"
#include "gcp/error.h"

const char *svc_strerror(int code)
{
    switch (code) {
    case SVC_OK:
        return "success";
#define XX(name, value, text, transient)                                                           \
    case SVC_##name:                                                                               \
        return text;
        SVC_ERRNO_MAP(XX)
#undef XX
    }
    return "unknown service error";
}

const char *svc_errname(int code)
{
    switch (code) {
    case SVC_OK:
        return "SVC_OK";
#define XX(name, value, text, transient)                                                           \
    case SVC_##name:                                                                               \
        return "SVC_" #name;
        SVC_ERRNO_MAP(XX)
#undef XX
    }
    return "SVC_UNKNOWN";
}

int svc_error_is_transient(int code)
{
    switch (code) {
#define XX(name, value, text, transient)                                                           \
    case SVC_##name:                                                                               \
        return transient;
        SVC_ERRNO_MAP(XX)
#undef XX
    }
    return 0;
}

static const char *const reason_names[] = {
#define XX(name, str, text) str,
    SVC_REASON_MAP(XX)
#undef XX
};

static const char *const reason_texts[] = {
#define XX(name, str, text) text,
    SVC_REASON_MAP(XX)
#undef XX
};

const char *svc_reason_name(enum svc_reason r)
{
    return (unsigned)r < sizeof(reason_names) / sizeof(reason_names[0]) ? reason_names[r] : "";
}

const char *svc_reason_text(enum svc_reason r)
{
    return (unsigned)r < sizeof(reason_texts) / sizeof(reason_texts[0]) ? reason_texts[r] : "";
}

int svc_error_set(struct svc_error *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

static int code_from_gcp(int code)
{
    switch (code) {
    case GCP_ENOTFOUND:
        return SVC_ENOTFOUND;
    case GCP_ENOBUCKET:
        return SVC_ENOBUCKET;
    case GCP_EPRECONDITION:
    case GCP_EEXISTS:
        return SVC_EEXISTS;
    case GCP_ETOOBIG:
        return SVC_ETOOBIG;
    case GCP_ECANCELED:
        return SVC_ECANCELED;
    case GCP_EINVAL:
        return SVC_EREMOTE; /* a 400 for this request will be a 400 again */
    case GCP_EIO:
        return SVC_EIO;
    case GCP_ENOMEM:
        return SVC_ENOMEM;
    default:
        /* Transport, timeout, 429, 5xx, checksum, and 401/403: a permission
         * problem is fixed by an operator, so retry (and dead-letter after
         * max_attempts) rather than fail fast. */
        return SVC_ETRANSIENT;
    }
}

int svc_error_from_gcp(struct svc_error *dst, const struct gcp_error *src)
{
    return svc_error_set(dst, code_from_gcp(src->code), "%s%s%s", gcp_strerror(src->code),
                         src->msg[0] ? ": " : "", src->msg);
}

int svc_error_from_audio(int audio_code, enum svc_reason *reason)
{
    *reason = audio_code == AUDIO_ETOOBIG            ? SVC_R_TOO_BIG
              : audio_code == AUDIO_EEMPTY           ? SVC_R_EMPTY_AUDIO
              : audio_error_is_permanent(audio_code) ? SVC_R_BAD_AUDIO
                                                     : SVC_R_NONE;
    return audio_code == AUDIO_ECANCELED ? SVC_ECANCELED : SVC_EAUDIO;
}
