/* fuzz_audio_ffmpeg.c: libFuzzer target for the FFmpeg side of the input
 * (audio/ffdec.c): arbitrary bytes straight into FFmpeg's decoder ops, as
 * the chain would see them after libsndfile said "not mine" (probe, the
 * container list, demuxer, codec, sample conversion), every frame read in
 * chunks. Any error code is fine; crashes, leaks and UB are not. */
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
    if (audio__ff_decoder.open(&v, &st, &info, &err) != 0)
        return 0;
    /* The chain's own bounds: channel count, and no more samples than the
     * expansion limit lets the bytes carry (a bomb must not time out). */
    if (info.channels > AUDIO__MAX_CHANNELS) {
        audio__ff_decoder.close(st);
        return 0;
    }
    uint64_t samples = 0, max = (uint64_t)size * 4096;
    for (;;) {
        long n = audio__ff_decoder.read(st, buf, AUDIO__CHUNK_FRAMES, &err);
        if (n <= 0)
            break;
        samples += (uint64_t)n * (uint64_t)info.channels;
        if (samples > max)
            break;
    }
    audio__ff_decoder.close(st);
    return 0;
}
