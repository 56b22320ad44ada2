/* error.c: the config module's error functions, generated from
 * CFG_ERRNO_MAP (config.h). */
#include "config/config.h"

const char *cfg_strerror(int code)
{
    switch (code) {
    case CFG_OK:
        return "success";
#define XX(name, value, text)                                                                      \
    case CFG_##name:                                                                               \
        return text;
        CFG_ERRNO_MAP(XX)
#undef XX
    }
    return "unknown config error";
}

const char *cfg_errname(int code)
{
    switch (code) {
    case CFG_OK:
        return "CFG_OK";
#define XX(name, value, text)                                                                      \
    case CFG_##name:                                                                               \
        return "CFG_" #name;
        CFG_ERRNO_MAP(XX)
#undef XX
    }
    return "CFG_UNKNOWN";
}
