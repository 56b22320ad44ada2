/* error.c: text for the gcp module's error codes. */
#include "gcp/error.h"

const char *gcp_strerror(int code)
{
    switch (code) {
    case GCP_OK:
        return "success";
    case GCP_ENOMEM:
        return "out of memory";
    case GCP_ETRANSPORT:
        return "connection failed";
    case GCP_ETIMEOUT:
        return "request timed out";
    case GCP_EINVAL:
        return "invalid argument";
    case GCP_EAUTH:
        return "not authenticated";
    case GCP_EPERM:
        return "permission denied";
    case GCP_ENOTFOUND:
        return "not found";
    case GCP_EEXISTS:
        return "already exists";
    case GCP_EPRECONDITION:
        return "precondition failed";
    case GCP_ERATELIMIT:
        return "rate limited";
    case GCP_EUNAVAILABLE:
        return "service unavailable";
    case GCP_ECHECKSUM:
        return "checksum mismatch";
    case GCP_ETOOBIG:
        return "too large";
    case GCP_ECANCELED:
        return "canceled";
    case GCP_EPROTO:
        return "malformed response";
    case GCP_EIO:
        return "local i/o error";
    case GCP_EHTTP:
        return "http error";
    case GCP_ENOBUCKET:
        return "bucket does not exist";
    }
    return "unknown gcp error";
}

int gcp_error_is_transient(int code)
{
    return code == GCP_ETRANSPORT || code == GCP_ETIMEOUT || code == GCP_ERATELIMIT ||
           code == GCP_EUNAVAILABLE || code == GCP_ECHECKSUM || code == GCP_ENOMEM;
}
