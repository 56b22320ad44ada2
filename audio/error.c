/* error.c: text for the audio module's error codes. */
#include "audio/audio.h"

const char *audio_strerror(int code)
{
    switch (code) {
    case AUDIO_OK:
        return "success";
    case AUDIO_ENOMEM:
        return "out of memory";
    case AUDIO_EIO:
        return "i/o error";
    case AUDIO_ENOTAUDIO:
        return "not an audio file";
    case AUDIO_ECORRUPT:
        return "corrupt audio stream";
    case AUDIO_EUNSUPPORTED:
        return "unsupported";
    case AUDIO_ETOOBIG:
        return "input larger than limit";
    case AUDIO_EINVAL:
        return "invalid argument";
    case AUDIO_EINTERNAL:
        return "internal audio library error";
    case AUDIO_ECANCELED:
        return "canceled";
    case AUDIO_EEMPTY:
        return "empty audio";
    }
    return "unknown audio error";
}

int audio_error_is_permanent(int code)
{
    return code == AUDIO_ENOTAUDIO || code == AUDIO_ECORRUPT || code == AUDIO_EUNSUPPORTED ||
           code == AUDIO_ETOOBIG || code == AUDIO_EINVAL || code == AUDIO_EEMPTY;
}
