/* fuzz_audio_decode.c: libFuzzer target for the audio chain's decoder side:
 * arbitrary bytes through audio_chain_run_mem (format detection, the WAVE
 * header claim check, the fast paths, libsndfile's decoders, channel op, resampler, WAV
 * encoder). Any error code is fine; crashes, leaks and UB are not. */
#include <stdint.h>
#include <stdlib.h>

#include "audio/audio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks the channel op and whether to resample, so one
     * corpus exercises every path; the rest is the file. */
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    struct audio_spec spec = {
        .channels = (enum audio_channels)(sel & 3),
        .select_channel = (sel >> 2) & 1,
        .rate = (sel & 8) ? 16000 : 0,
        .quality = AUDIO_Q_QUICK,
        .format = AUDIO_FMT_WAV,
        .vbr_quality = -1,
        .max_input_bytes = 1 << 20,
        .features = (sel >> 4) & 1,
        /* Fast paths (mpg123 mono, libopus at 24 kHz) are on unless bit 5
         * is set: mono with rate 16000 reaches both. */
        .no_fast_path = (sel >> 5) & 1,
    };
    void *out = NULL;
    size_t out_len = 0;
    struct audio_result res = {0};
    struct audio_error err;
    if (audio_chain_run_mem(data + 1, size - 1, &out, &out_len, &spec, &res, &err) == 0) {
        audio_result_cleanup(&res);
        free(out);
    }
    return 0;
}
