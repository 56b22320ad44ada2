/* svc_error.c: text for the service module's error codes. */
#include "service/svc_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *svc_strerror(int code)
{
    switch (code) {
    case SVC_OK:
        return "success";
    case SVC_ENOMEM:
        return "out of memory";
    case SVC_EIO:
        return "local i/o error";
    case SVC_ENOTFOUND:
        return "not found";
    case SVC_EEXISTS:
        return "already exists";
    case SVC_ETOOBIG:
        return "too large";
    case SVC_EINVAL:
        return "invalid argument";
    case SVC_ETRANSIENT:
        return "transient remote failure";
    case SVC_EREMOTE:
        return "remote failure";
    case SVC_ECANCELED:
        return "canceled";
    case SVC_EAUDIO:
        return "audio processing failed";
    case SVC_ETIMEOUT:
        return "timed out";
    case SVC_ENOBUCKET:
        return "bucket does not exist";
    case SVC_EBUSY:
        return "busy";
    }
    return "unknown service error";
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
