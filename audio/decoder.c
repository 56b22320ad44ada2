/* decoder.c: the input side's table of decoders, tried in order on the same
 * bytes. mpg123 directly comes first but claims MP3 only when the hint makes
 * a fast path apply (mono, mpg123dec.c), and so does libopus for Opus in
 * Ogg or Matroska (a lower rate and/or mono, ffdec.c); then libsndfile: it keeps what it reads well
 * (WAV, AIFF, FLAC, Ogg Vorbis and Opus, MP3) and its behaviour there is what the tests pin. Only
 * bytes libsndfile does not recognise go to FFmpeg (ffdec.c). The choice is
 * made from the bytes alone, never from a name. No locks here. */
#include "audio/audio_int.h"

#include <string.h>

static const struct audio__decoder_ops *const decoders[] = {
    &audio__mpg123_decoder,
    &audio__opus_fast_decoder,
    &audio__sf_decoder,
    &audio__ff_decoder,
};

int audio__decoder_open(struct audio__decoder *d, struct audio__vio *v,
                        const struct audio__dec_hint *hint, struct audio_error *err)
{
    struct audio_error first = {0};
    int have_first = 0;
    memset(d, 0, sizeof(*d));
    for (size_t i = 0; i < sizeof(decoders) / sizeof(decoders[0]); i++) {
        struct audio_error e = {0};
        memset(&d->info, 0, sizeof(d->info));
        v->pos = 0;
        int rc = decoders[i]->open(v, hint, &d->st, &d->info, &e);
        if (rc == 0) {
            d->ops = decoders[i];
            if (!d->info.file_rate)
                d->info.file_rate = d->info.rate;
            if (!d->info.file_channels)
                d->info.file_channels = d->info.channels;
            return 0;
        }
        if (rc != AUDIO_ENOTAUDIO || d->info.recognised) {
            if (err)
                *err = e;
            return rc;
        }
        /* The fast path's decoder declines silently: libsndfile's words
         * come first, as before. */
        if (!have_first && decoders[i] != &audio__mpg123_decoder &&
            decoders[i] != &audio__opus_fast_decoder) {
            first = e;
            have_first = 1;
        }
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

int audio__mpg123_down_sample(int file_rate, int want_rate)
{
    if (want_rate <= 0)
        return 0;
    int ds = 0;
    while (ds < 2 && file_rate >> (ds + 1) >= want_rate)
        ds++;
    return ds;
}

int audio__opus_decode_rate(int want_rate)
{
    static const int rates[] = {8000, 12000, 16000, 24000};
    for (size_t i = 0; want_rate > 0 && i < sizeof(rates) / sizeof(rates[0]); i++)
        if (rates[i] > want_rate)
            return rates[i];
    return 48000;
}
