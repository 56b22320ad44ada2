/* error.c: text for the config module's error codes. */
#include "config/config.h"

const char *cfg_strerror(int code)
{
    switch (code) {
    case CFG_OK:
        return "success";
    case CFG_EIO:
        return "cannot read config";
    case CFG_ESYNTAX:
        return "config is not valid JSON";
    case CFG_EINVALID:
        return "invalid config";
    }
    return "unknown config error";
}
