/* decoder.c: the input side's table of decoders, tried in order on the same
 * bytes. libsndfile first: it keeps what it reads well (WAV, AIFF, FLAC, Ogg
 * Vorbis and Opus, MP3) and its behaviour there is what the tests pin. Only
 * bytes libsndfile does not recognise go to FFmpeg (ffdec.c). The choice is
 * made from the bytes alone, never from a name. No locks here. */
#include "audio/audio_int.h"

#include <string.h>

static const struct audio__decoder_ops *const decoders[] = {
    &audio__sf_decoder,
    &audio__ff_decoder,
};

int audio__decoder_open(struct audio__decoder *d, struct audio__vio *v, struct audio_error *err)
{
    struct audio_error first = {0};
    memset(d, 0, sizeof(*d));
    for (size_t i = 0; i < sizeof(decoders) / sizeof(decoders[0]); i++) {
        struct audio_error e = {0};
        memset(&d->info, 0, sizeof(d->info));
        v->pos = 0;
        int rc = decoders[i]->open(v, &d->st, &d->info, &e);
        if (rc == 0) {
            d->ops = decoders[i];
            return 0;
        }
        if (rc != AUDIO_ENOTAUDIO || d->info.recognised) {
            if (err)
                *err = e;
            return rc;
        }
        if (i == 0)
            first = e;
    }
    /* Nobody knows the bytes: the first decoder's words, as before FFmpeg. */
    if (err)
        *err = first;
    return AUDIO_ENOTAUDIO;
}

void audio__decoder_close(struct audio__decoder *d)
{
    if (d->ops)
        d->ops->close(d->st);
    d->ops = NULL;
    d->st = NULL;
}
