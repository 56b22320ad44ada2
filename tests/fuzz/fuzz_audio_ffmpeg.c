/* fuzz_audio_ffmpeg.c: libFuzzer target for the FFmpeg side of the input
 * (audio/ffdec.c): arbitrary bytes straight into FFmpeg's decoder ops, as
 * the chain would see them after libsndfile said "not mine" (probe, the
 * container list, demuxer, codec, sample conversion), every frame read in
 * chunks. The Opus fast path (libopus at 16 kHz, mono) is tried first, as
 * the chain's decoder table does for a mono 16 kHz job; what it declines
 * goes to the general FFmpeg decoder. Any error code is fine; crashes,
 * leaks and UB are not. */
#include <stdint.h>
#include <stdlib.h>

#include "audio/audio_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static float buf[AUDIO__CHUNK_FRAMES * AUDIO__MAX_CHANNELS];
    struct audio__vio v = {.fd = -1, .rd = data, .len = size};
    struct audio__dec_info info = {0};
    struct audio_error err;
    void *st = NULL;
    const struct audio__dec_hint hint = {.want_rate = 16000, .want_mono = 1, .allow_fast = 1};
    const struct audio__decoder_ops *ops = &audio__opus_fast_decoder;
    if (ops->open(&v, &hint, &st, &info, &err) != 0) {
        ops = &audio__ff_decoder;
        v.pos = 0;
        info = (struct audio__dec_info){0};
        if (ops->open(&v, NULL, &st, &info, &err) != 0)
            return 0;
    }
    /* The chain's own bounds: channel count, and no more samples than the
     * expansion limit lets the bytes carry (a bomb must not time out). */
    if (info.channels > AUDIO__MAX_CHANNELS) {
        ops->close(st);
        return 0;
    }
    uint64_t samples = 0, max = (uint64_t)size * 4096;
    for (;;) {
        long n = ops->read(st, buf, AUDIO__CHUNK_FRAMES, &err);
        if (n <= 0)
            break;
        samples += (uint64_t)n * (uint64_t)info.channels;
        if (samples > max)
            break;
    }
    ops->close(st);
    return 0;
}
