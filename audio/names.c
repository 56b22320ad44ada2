/* names.c: the names of formats and resampler presets used by the CLI, the
 * job config and the features JSON. */
#include "audio/audio.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *name, *mime, *ext2;
    enum audio_format f;
} formats[] = {
    {"wav", "audio/wav", "wave", AUDIO_FMT_WAV},
    {"flac", "audio/flac", NULL, AUDIO_FMT_FLAC},
    {"ogg", "audio/ogg", "oga", AUDIO_FMT_OGG},
    {"opus", "audio/ogg; codecs=opus", NULL, AUDIO_FMT_OPUS},
    {"mp3", "audio/mpeg", NULL, AUDIO_FMT_MP3},
};

int audio_format_parse(const char *name, enum audio_format *out)
{
    for (size_t i = 0; name && i < sizeof(formats) / sizeof(formats[0]); i++)
        if (!strcasecmp(name, formats[i].name) ||
            (formats[i].ext2 && !strcasecmp(name, formats[i].ext2))) {
            *out = formats[i].f;
            return 0;
        }
    return AUDIO_EINVAL;
}

int audio_format_from_path(const char *path, enum audio_format *out)
{
    if (!path)
        return AUDIO_EINVAL;
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(slash ? slash : path, '.');
    if (!dot || !dot[1])
        return AUDIO_EINVAL;
    return audio_format_parse(dot + 1, out);
}

const char *audio_format_name(enum audio_format f)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (formats[i].f == f)
            return formats[i].name;
    return "auto";
}

const char *audio_format_mime(enum audio_format f)
{
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (formats[i].f == f)
            return formats[i].mime;
    return "application/octet-stream";
}

static const char *const qualities[] = {"quick", "low", "medium", "high", "very-high"};

int audio_quality_parse(const char *name, enum audio_quality *out)
{
    for (size_t i = 0; name && i < sizeof(qualities) / sizeof(qualities[0]); i++)
        if (!strcasecmp(name, qualities[i])) {
            *out = (enum audio_quality)i;
            return 0;
        }
    return AUDIO_EINVAL;
}

const char *audio_quality_name(enum audio_quality q)
{
    if ((unsigned)q < sizeof(qualities) / sizeof(qualities[0]))
        return qualities[q];
    return "?";
}
