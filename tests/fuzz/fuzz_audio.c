/* fuzz_audio.c: libFuzzer target for audio decoding from memory.
 *
 * The bytes are an input file of any format libsndfile knows (WAV, FLAC,
 * Ogg, MP3, ...) and go through audio_chain_run_mem with a small spec that
 * keeps each run fast: no resampling, cheap output (WAV or FLAC 16-bit), an
 * input cap. The spec varies with the input length so every channel op and
 * the feature extractor are reached without disturbing the file's bytes.
 * A failure must be a known AUDIO_E* code with a message; a success must
 * produce output and sane stream info. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "audio/audio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_AUDIO_MAX (64 * 1024)

#define die(what, detail) fuzz_die("fuzz_audio", what, detail)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_AUDIO_MAX)
        return 0;
    static const enum audio_channels ops[] = {AUDIO_CH_KEEP, AUDIO_CH_MONO, AUDIO_CH_STEREO,
                                              AUDIO_CH_SELECT};
    struct audio_spec spec;
    memset(&spec, 0, sizeof(spec));
    spec.channels = ops[size % 4];
    spec.select_channel = 0;
    spec.format = (size / 4) % 2 ? AUDIO_FMT_FLAC : AUDIO_FMT_WAV;
    spec.sample = AUDIO_PCM_16;
    spec.features = (size / 8) % 2;
    spec.vbr_quality = -1;
    spec.max_input_bytes = FUZZ_AUDIO_MAX;

    void *out = NULL;
    size_t out_len = 0;
    struct audio_result res;
    memset(&res, 0, sizeof(res));
    struct audio_error err;
    memset(&err, 0, sizeof(err));
    int rc = audio_chain_run_mem(data, size, &out, &out_len, &spec, &res, &err);
    if (rc == 0) {
        if (!out && out_len)
            die("output length without output", NULL);
        if (res.in.rate <= 0 || res.in.channels <= 0 || res.out.rate <= 0 || res.out.channels <= 0)
            die("success with a non-positive rate or channel count", NULL);
        if (spec.channels == AUDIO_CH_MONO && res.out.channels != 1)
            die("mono output has more than one channel", NULL);
        if (spec.features && !res.features_json)
            die("features requested but none produced", NULL);
        if (res.out.frames <= 0)
            die("success without an output frame", NULL);
    } else {
        if (rc > AUDIO_ENOMEM || rc < AUDIO_EEMPTY)
            die("unknown error code", err.msg);
        if (err.code != rc || !err.msg[0])
            die("error without matching code or message", err.msg);
    }
    free(out);
    audio_result_cleanup(&res);
    return 0;
}
