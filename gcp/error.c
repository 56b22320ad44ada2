/* error.c: the gcp module's error functions, generated from
 * GCP_ERRNO_MAP (error.h). */
#include "gcp/error.h"

const char *gcp_strerror(int code)
{
    switch (code) {
    case GCP_OK:
        return "success";
#define XX(name, value, text, transient)                                                           \
    case GCP_##name:                                                                               \
        return text;
        GCP_ERRNO_MAP(XX)
#undef XX
    }
    return "unknown gcp error";
}

const char *gcp_errname(int code)
{
    switch (code) {
    case GCP_OK:
        return "GCP_OK";
#define XX(name, value, text, transient)                                                           \
    case GCP_##name:                                                                               \
        return "GCP_" #name;
        GCP_ERRNO_MAP(XX)
#undef XX
    }
    return "GCP_UNKNOWN";
}

int gcp_error_is_transient(int code)
{
    switch (code) {
#define XX(name, value, text, transient)                                                           \
    case GCP_##name:                                                                               \
        return transient;
        GCP_ERRNO_MAP(XX)
#undef XX
    }
    return 0;
}
