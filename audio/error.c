/* error.c: the audio module's error functions, generated from
 * AUDIO_ERRNO_MAP (audio.h). */
#include "audio/audio.h"

const char *audio_strerror(int code)
{
    switch (code) {
    case AUDIO_OK:
        return "success";
#define XX(name, value, text, permanent)                                                           \
    case AUDIO_##name:                                                                             \
        return text;
        AUDIO_ERRNO_MAP(XX)
#undef XX
    }
    return "unknown audio error";
}

const char *audio_errname(int code)
{
    switch (code) {
    case AUDIO_OK:
        return "AUDIO_OK";
#define XX(name, value, text, permanent)                                                           \
    case AUDIO_##name:                                                                             \
        return "AUDIO_" #name;
        AUDIO_ERRNO_MAP(XX)
#undef XX
    }
    return "AUDIO_UNKNOWN";
}

int audio_error_is_permanent(int code)
{
    switch (code) {
#define XX(name, value, text, permanent)                                                           \
    case AUDIO_##name:                                                                             \
        return permanent;
        AUDIO_ERRNO_MAP(XX)
#undef XX
    }
    return 0;
}
