/* baseline_resample.c: the floor for `wiggly process`: the shortest direct
 * libsndfile -> soxr -> libsndfile loop doing the same work (average to mono,
 * resample with the same soxr preset, write 16-bit FLAC with clipping).
 *   baseline_resample IN OUT.flac RATE
 * Not a test: bench/audio_bench.c times it against wiggly. */
#include <stdio.h>
#include <stdlib.h>

#include <sndfile.h>
#include <soxr.h>

#define CHUNK 4096

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: baseline_resample IN OUT.flac RATE\n");
        return 2;
    }
    SF_INFO ii = {0}, oi = {0};
    SNDFILE *in = sf_open(argv[1], SFM_READ, &ii);
    if (!in) {
        fprintf(stderr, "baseline: %s\n", sf_strerror(NULL));
        return 1;
    }
    oi.samplerate = atoi(argv[3]);
    oi.channels = 1;
    oi.format = SF_FORMAT_FLAC | SF_FORMAT_PCM_16;
    SNDFILE *out = sf_open(argv[2], SFM_WRITE, &oi);
    if (!out) {
        fprintf(stderr, "baseline: %s\n", sf_strerror(NULL));
        return 1;
    }
    sf_command(out, SFC_SET_CLIPPING, NULL, SF_TRUE);
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t q = soxr_quality_spec(SOXR_HQ, 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    soxr_error_t e = NULL;
    soxr_t rs = soxr_create(ii.samplerate, oi.samplerate, 1, &e, &io, &q, &rt);
    if (e)
        return 1;
    size_t ocap = (size_t)CHUNK * (size_t)oi.samplerate / (size_t)ii.samplerate + 256;
    float *buf = malloc(sizeof(float) * CHUNK * (size_t)ii.channels);
    float *obuf = malloc(sizeof(float) * ocap);
    sf_count_t n;
    size_t idone, odone;
    while ((n = sf_readf_float(in, buf, CHUNK)) > 0) {
        for (sf_count_t i = 0; i < n; i++) { /* stereo (or more) to mono */
            float s = 0;
            for (int c = 0; c < ii.channels; c++)
                s += buf[i * ii.channels + c];
            buf[i] = s / (float)ii.channels;
        }
        float *p = buf;
        size_t left = (size_t)n;
        while (left) {
            soxr_process(rs, p, left, &idone, obuf, ocap, &odone);
            sf_writef_float(out, obuf, (sf_count_t)odone);
            p += idone;
            left -= idone;
        }
    }
    do { /* flush */
        soxr_process(rs, NULL, 0, NULL, obuf, ocap, &odone);
        sf_writef_float(out, obuf, (sf_count_t)odone);
    } while (odone);
    soxr_delete(rs);
    sf_close(out);
    sf_close(in);
    free(buf);
    free(obuf);
    return 0;
}
