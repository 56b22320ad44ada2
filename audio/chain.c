/* chain.c: one track through decode -> channel op -> resample -> encode
 * (+ features, + analysis arrays, + fingerprint, tempo, onsets and picture:
 * extras.c), AUDIO__CHUNK_FRAMES at a time. Memory use is bounded by the
 * chunk buffers, soxr's filter state and the codecs' own state: it does not
 * depend on the track's length (the memory path's output buffer aside).
 * The input comes from decoder.c's table (libsndfile, else FFmpeg).
 * No locks besides the libsndfile open lock taken in sfio.c. */
#include "audio/audio_int.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <soxr.h>

/* A byte of the input file can honestly carry at most this many decoded
 * samples: lossy codecs stay below ~130 (Opus at 6 kbit/s), FLAC of digital
 * silence at its default block size reaches ~500 to ~1000. Beyond it, a
 * header's claim or the decoded stream itself is an audio bomb (a 45 KB
 * FLAC claiming an hour at 384 kHz x 8 channels is ~250 000 per byte) and
 * fails as too big: the bound comes from the file's own size, not from
 * max_input_bytes (docs/audio.md "Limits"). */
#define AUDIO__MAX_EXPANSION 4096

struct chain {
    struct audio__decoder dec;
    SNDFILE *out;
    /* ii mirrors the decoder's info (rate, channels, frames, format) for
     * the checks below; oi is the output's. */
    SF_INFO ii, oi;
    soxr_t soxr;
    float *inbuf, *chbuf, *rsbuf;
    size_t rs_cap;                     /* frames */
    float mix[2][AUDIO__MAX_CHANNELS]; /* stereo downmix gains */
    struct audio__features *feat;
    struct audio__npy npy;
    int has_npy;
    struct audio__analysis *an;
    struct audio__extras *ex;
    int64_t in_frames, out_frames;
    const struct audio__vio *vout;
};

static void chain_cleanup(struct chain *c)
{
    audio__decoder_close(&c->dec);
    if (c->out)
        sf_close(c->out);
    soxr_delete(c->soxr);
    free(c->inbuf);
    free(c->chbuf);
    free(c->rsbuf);
    audio__features_destroy(c->feat);
    audio__analysis_destroy(c->an);
    audio__extras_destroy(c->ex);
    if (c->has_npy)
        audio__npy_close(&c->npy);
}

/* Downmix gains for more than two channels, assuming the WAVE/SMPTE channel
 * order (L R C LFE BL BR SL SR, quad = L R BL BR) and ITU-R BS.775 weights:
 * centre and surrounds at -3 dB, LFE dropped, normalised so that a full-scale
 * signal on every channel stays full scale. Beyond 8 channels: even channels
 * left, odd channels right. */
static void stereo_gains(struct chain *c, int n)
{
    const double g = 0.70710678118654752;
    static const char *const layouts[] = {"",      "",       "",        "LRC",     "LRlr",
                                          "LRClr", "LRCElr", "LRCEcsS", "LRCElrsS"};
    for (int i = 0; i < n; i++) {
        double l = 0, r = 0;
        char pos = n <= 8 ? layouts[n][i] : (i % 2 ? 'R' : 'L');
        switch (pos) {
        case 'L':
            l = 1;
            break;
        case 'R':
            r = 1;
            break;
        case 'C':
            l = r = g;
            break;
        case 'c': /* back centre */
            l = r = 0.5;
            break;
        case 'l':
        case 's':
            l = g;
            break;
        case 'r':
        case 'S':
            r = g;
            break;
        default: /* 'E': LFE */
            break;
        }
        c->mix[0][i] = (float)l;
        c->mix[1][i] = (float)r;
    }
    for (int side = 0; side < 2; side++) {
        double sum = 0;
        for (int i = 0; i < n; i++)
            sum += c->mix[side][i];
        for (int i = 0; i < n; i++)
            c->mix[side][i] = (float)(c->mix[side][i] / sum);
    }
}

void audio__mix_mono(float *out, const float *in, size_t frames, int channels)
{
    if (channels == 2) {
        for (size_t f = 0; f < frames; f++)
            out[f] = (in[2 * f] + in[2 * f + 1]) * 0.5f;
        return;
    }
    float k = 1.0f / (float)channels;
    for (size_t f = 0; f < frames; f++) {
        float s = 0;
        for (int ch = 0; ch < channels; ch++)
            s += in[f * (size_t)channels + (size_t)ch];
        out[f] = s * k;
    }
}

/* The channel op: returns the buffer holding the result (in place when the
 * output is not wider than the input). */
static float *channel_op(struct chain *c, const struct audio_spec *spec, float *in, size_t n)
{
    int ic = c->ii.channels;
    switch (spec->channels) {
    case AUDIO_CH_KEEP:
        return in;
    case AUDIO_CH_MONO:
        if (ic > 1)
            audio__mix_mono(in, in, n, ic);
        return in;
    case AUDIO_CH_SELECT:
        if (ic == 1)
            return in;
        for (size_t f = 0; f < n; f++)
            in[f] = in[f * (size_t)ic + (size_t)spec->select_channel];
        return in;
    case AUDIO_CH_STEREO:
        if (ic == 2)
            return in;
        if (ic == 1) {
            for (size_t f = 0; f < n; f++)
                c->chbuf[2 * f] = c->chbuf[2 * f + 1] = in[f];
            return c->chbuf;
        }
        for (size_t f = 0; f < n; f++) {
            float l = 0, r = 0;
            const float *x = in + f * (size_t)ic;
            for (int ch = 0; ch < ic; ch++) {
                l += c->mix[0][ch] * x[ch];
                r += c->mix[1][ch] * x[ch];
            }
            in[2 * f] = l;
            in[2 * f + 1] = r;
        }
        return in;
    }
    return in;
}

static int emit(struct chain *c, const float *buf, size_t n, struct audio_error *err)
{
    if (n == 0)
        return 0;
    if (c->feat)
        audio__features_add(c->feat, buf, n);
    c->out_frames += (int64_t)n;
    if (c->has_npy && audio__npy_write(&c->npy, buf, n, err) != 0)
        return err ? err->code : AUDIO_EIO;
    if (c->an) {
        int rc = audio__analysis_add(c->an, buf, n, err);
        if (rc)
            return rc;
    }
    if (c->ex) {
        int rc = audio__extras_add(c->ex, buf, n, err);
        if (rc)
            return rc;
    }
    if (!c->vout)
        return 0;
    int rc = audio__sf_write(c->out, buf, n, err);
    if (rc && c->vout->write_errno) /* libsndfile does not know why */
        rc = audio__fail(err, AUDIO_EIO, "cannot write the output: %s",
                         strerror(c->vout->write_errno));
    return rc;
}

static int resample(struct chain *c, const float *in, size_t n, struct audio_error *err)
{
    int och = c->oi.channels;
    /* in == NULL flushes soxr: call until it has nothing left. */
    for (;;) {
        size_t idone = 0, odone = 0;
        soxr_error_t e =
            soxr_process(c->soxr, in, n, in ? &idone : NULL, c->rsbuf, c->rs_cap, &odone);
        if (e)
            return audio__fail(err, AUDIO_EINTERNAL, "resampler: %s", e);
        int rc = emit(c, c->rsbuf, odone, err);
        if (rc)
            return rc;
        if (in && idone == 0 && odone == 0)
            return audio__fail(err, AUDIO_EINTERNAL, "resampler made no progress");
        if (in) {
            in += idone * (size_t)och;
            n -= idone;
            if (n == 0)
                return 0;
        } else if (odone == 0) {
            return 0;
        }
    }
}

static int check_input(struct chain *c, const struct audio__wav_claim *claim, uint64_t in_size,
                       const struct audio_spec *spec, struct audio_error *err)
{
    SF_INFO *ii = &c->ii;
    struct audio__wav_claim wc = *claim;
    if (wc.found && wc.data_bytes > in_size - wc.data_offset) {
        if (spec->max_input_bytes && wc.data_bytes > spec->max_input_bytes)
            return audio__fail(err, AUDIO_ETOOBIG,
                               "input larger than limit: WAV header claims %llu frames (%llu "
                               "bytes > %llu)",
                               (unsigned long long)wc.frames, (unsigned long long)wc.data_bytes,
                               (unsigned long long)spec->max_input_bytes);
        return audio__fail(err, AUDIO_ECORRUPT,
                           "malformed header: WAV claims %llu frames but the input holds %llu",
                           (unsigned long long)wc.frames, (unsigned long long)ii->frames);
    }
    if (ii->channels < 1)
        return audio__fail(err, AUDIO_ECORRUPT, "malformed header: %d channels", ii->channels);
    if (ii->channels > AUDIO__MAX_CHANNELS)
        return audio__fail(err, AUDIO_EUNSUPPORTED, "unsupported: %d channels (at most %d)",
                           ii->channels, AUDIO__MAX_CHANNELS);
    /* Below 1 kHz is no real audio, and extreme ratios would make soxr's
     * buffers huge. */
    if (ii->samplerate < 1000 || ii->samplerate > 768000)
        return audio__fail(err, AUDIO_EUNSUPPORTED,
                           "unsupported: input sample rate %d Hz (1000 to 768000)", ii->samplerate);
    if (ii->frames <= 0 || ii->frames == SF_COUNT_MAX)
        return 0;
    /* For uncompressed PCM the claim can be checked against the bytes. */
    int sub = ii->format & SF_FORMAT_SUBMASK, major = ii->format & SF_FORMAT_TYPEMASK, bps = 0;
    int pcm_container = major == SF_FORMAT_WAV || major == SF_FORMAT_WAVEX ||
                        major == SF_FORMAT_RF64 || major == SF_FORMAT_W64 ||
                        major == SF_FORMAT_AIFF || major == SF_FORMAT_AU || major == SF_FORMAT_CAF;
    if (!pcm_container)
        bps = 0;
    else if (sub == SF_FORMAT_PCM_16)
        bps = 2;
    else if (sub == SF_FORMAT_PCM_24)
        bps = 3;
    else if (sub == SF_FORMAT_PCM_32 || sub == SF_FORMAT_FLOAT)
        bps = 4;
    else if (sub == SF_FORMAT_DOUBLE)
        bps = 8;
    if (bps && (uint64_t)ii->frames > in_size / ((uint64_t)bps * (uint64_t)ii->channels))
        return audio__fail(err, AUDIO_ECORRUPT,
                           "malformed header: claims %lld frames but the input holds %llu bytes",
                           (long long)ii->frames, (unsigned long long)in_size);
    if ((uint64_t)ii->frames / AUDIO__MAX_EXPANSION * (uint64_t)ii->channels > in_size)
        return audio__fail(err, AUDIO_ETOOBIG,
                           "input larger than limit: header claims %lld frames of %d channels, "
                           "more than %llu bytes can hold (at most %d samples per byte)",
                           (long long)ii->frames, ii->channels, (unsigned long long)in_size,
                           AUDIO__MAX_EXPANSION);
    if (spec->max_seconds > 0 && (double)ii->frames / ii->samplerate > spec->max_seconds)
        return audio__fail(err, AUDIO_ETOOBIG,
                           "input larger than limit: header claims %g s of audio, more than the "
                           "%g s allowed",
                           (double)ii->frames / ii->samplerate, spec->max_seconds);
    return 0;
}

static int check_spec(const struct audio_spec *spec, struct audio_error *err)
{
    if ((unsigned)spec->channels > AUDIO_CH_SELECT)
        return audio__fail(err, AUDIO_EINVAL, "invalid channel op %d", (int)spec->channels);
    if ((unsigned)spec->quality > AUDIO_Q_VERY_HIGH)
        return audio__fail(err, AUDIO_EINVAL, "invalid resampler quality %d", (int)spec->quality);
    if ((unsigned)spec->sample > AUDIO_FLOAT)
        return audio__fail(err, AUDIO_EINVAL, "invalid sample format %d", (int)spec->sample);
    if (spec->rate < 0 || spec->rate > 768000)
        return audio__fail(err, AUDIO_EINVAL, "invalid output rate %d", spec->rate);
    if (spec->channels == AUDIO_CH_SELECT && spec->select_channel < 0)
        return audio__fail(err, AUDIO_EINVAL, "invalid channel index %d", spec->select_channel);
    if (spec->bitrate_kbps < 0)
        return audio__fail(err, AUDIO_EINVAL, "invalid bitrate %d", spec->bitrate_kbps);
    return 0;
}

static int create_resampler(struct chain *c, enum audio_quality q, struct audio_error *err)
{
    static const unsigned long recipes[] = {SOXR_QQ, SOXR_LQ, SOXR_MQ, SOXR_HQ, SOXR_VHQ};
    soxr_error_t e = NULL;
    soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
    soxr_quality_spec_t qs = soxr_quality_spec(recipes[q], 0);
    soxr_runtime_spec_t rt = soxr_runtime_spec(1);
    c->soxr = soxr_create(c->ii.samplerate, c->oi.samplerate, (unsigned)c->oi.channels, &e, &io,
                          &qs, &rt);
    if (!c->soxr || e)
        return audio__fail(err, AUDIO_EINTERNAL, "resampler: %s", e ? e : "create failed");
    double ratio = (double)c->oi.samplerate / c->ii.samplerate;
    /* Room for one chunk's output, bounded: the loop in resample() drains
     * soxr in as many calls as it takes. */
    c->rs_cap = (size_t)(AUDIO__CHUNK_FRAMES * ratio) + 256;
    if (c->rs_cap > 4 * AUDIO__CHUNK_FRAMES)
        c->rs_cap = 4 * AUDIO__CHUNK_FRAMES;
    c->rsbuf = malloc(c->rs_cap * (size_t)c->oi.channels * sizeof(float));
    if (!c->rsbuf)
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    return 0;
}

/* The chain over two opened byte endpoints. `fmt` is already resolved. */
static int chain_run(struct audio__vio *vin, uint64_t in_size, struct audio__vio *vout,
                     enum audio_format fmt, const struct audio_spec *spec, struct audio_result *res,
                     struct audio_error *err)
{
    struct chain c;
    memset(&c, 0, sizeof(c));
    c.vout = vout;
    if (res) /* so that audio_result_cleanup() is safe after a failure too */
        memset(res, 0, sizeof(*res));
    int rc = check_spec(spec, err);
    if (rc)
        return rc;
    if (in_size == 0)
        return audio__fail(err, AUDIO_ENOTAUDIO, "not an audio file: empty input");
    if (spec->max_input_bytes && in_size > spec->max_input_bytes)
        return audio__fail(err, AUDIO_ETOOBIG, "input larger than limit: %llu bytes > %llu",
                           (unsigned long long)in_size, (unsigned long long)spec->max_input_bytes);
    /* Before libsndfile opens it: the claim check moves the read position. */
    struct audio__wav_claim claim;
    audio__wav_claim(vin, &claim);
    /* The job's wishes, for a codec that can meet them cheaper itself. */
    struct audio__dec_hint hint = {
        .want_rate = spec->rate,
        .want_mono = spec->channels == AUDIO_CH_MONO,
        .allow_fast = !spec->no_fast_path,
    };
    rc = audio__decoder_open(&c.dec, vin, &hint, err);
    if (rc)
        return rc;
    c.ii.samplerate = c.dec.info.rate;
    c.ii.channels = c.dec.info.channels;
    c.ii.frames = c.dec.info.frames < 0 ? 0 : c.dec.info.frames;
    c.ii.format = c.dec.info.sf_format;
    rc = check_input(&c, &claim, in_size, spec, err);
    if (rc)
        goto out;

    int ic = c.ii.channels, oc = ic;
    if (spec->channels == AUDIO_CH_MONO || spec->channels == AUDIO_CH_SELECT)
        oc = 1;
    else if (spec->channels == AUDIO_CH_STEREO)
        oc = 2;
    if (spec->channels == AUDIO_CH_SELECT && spec->select_channel >= ic) {
        rc = audio__fail(err, AUDIO_EINVAL, "channel %d selected but the input has %d channels",
                         spec->select_channel, ic);
        goto out;
    }
    if (spec->channels == AUDIO_CH_STEREO && ic > 2)
        stereo_gains(&c, ic);
    int orate = spec->rate ? spec->rate : c.ii.samplerate;
    /* Opus only runs at five rates: "keep" means its native 48 kHz. */
    if (vout && fmt == AUDIO_FMT_OPUS && !spec->rate && !audio__opus_rate_ok(orate))
        orate = 48000;
    c.oi.samplerate = orate;
    c.oi.channels = oc;
    if (vout) {
        rc = audio__sf_format_for(fmt, spec->sample, orate, oc, &c.oi.format, err);
        if (rc)
            goto out;
        rc = audio__sf_open(vout, SFM_WRITE, &c.oi, "output", &c.out, err);
        if (rc)
            goto out;
        rc = audio__sf_configure_writer(c.out, &c.oi, fmt, spec->vbr_quality, spec->bitrate_kbps,
                                        err);
        if (rc)
            goto out;
    }
    if (spec->npy_path) {
        c.has_npy = 1;
        if ((rc = audio__npy_open(&c.npy, spec->npy_path, oc, err)) != 0)
            goto out;
    }
    c.inbuf = malloc((size_t)AUDIO__CHUNK_FRAMES * (size_t)ic * sizeof(float));
    c.chbuf = oc > ic ? malloc((size_t)AUDIO__CHUNK_FRAMES * (size_t)oc * sizeof(float)) : NULL;
    if (!c.inbuf || (oc > ic && !c.chbuf)) {
        rc = audio__fail(err, AUDIO_ENOMEM, "out of memory");
        goto out;
    }
    if (orate != c.ii.samplerate && (rc = create_resampler(&c, spec->quality, err)))
        goto out;
    if (spec->features && (rc = audio__features_create(&c.feat, orate, oc, err)))
        goto out;
    if (spec->n_arrays &&
        (rc = audio__analysis_create(&c.an, spec->arrays, spec->n_arrays, orate, oc, err)))
        goto out;
    if ((rc = audio__extras_create(&c.ex, spec, orate, oc, err)))
        goto out;

    /* The header may lie or say nothing: the decoded stream is held to the
     * same bounds as the claim. */
    uint64_t max_samples = UINT64_MAX;
    int64_t max_frames = INT64_MAX;
    if (in_size < UINT64_MAX / AUDIO__MAX_EXPANSION)
        max_samples = in_size * AUDIO__MAX_EXPANSION;
    if (spec->max_seconds > 0)
        max_frames = (int64_t)(spec->max_seconds * c.ii.samplerate);
    for (;;) {
        if (spec->cancel && atomic_load_explicit(spec->cancel, memory_order_relaxed)) {
            rc = audio__fail(err, AUDIO_ECANCELED, "canceled after %lld frames",
                             (long long)c.in_frames);
            goto out;
        }
        long n = c.dec.ops->read(c.dec.st, c.inbuf, AUDIO__CHUNK_FRAMES, err);
        if (n < 0) {
            rc = (int)n;
            goto out;
        }
        if (n == 0)
            break;
        c.in_frames += n;
        if ((uint64_t)c.in_frames * (uint64_t)ic > max_samples) {
            rc = audio__fail(err, AUDIO_ETOOBIG,
                             "input larger than limit: decodes to more than %llu samples, more "
                             "than %llu bytes can hold (at most %d samples per byte)",
                             (unsigned long long)max_samples, (unsigned long long)in_size,
                             AUDIO__MAX_EXPANSION);
            goto out;
        }
        if (c.in_frames > max_frames) {
            rc = audio__fail(err, AUDIO_ETOOBIG,
                             "input larger than limit: decodes to more than the %g s allowed",
                             spec->max_seconds);
            goto out;
        }
        float *x = channel_op(&c, spec, c.inbuf, (size_t)n);
        rc = c.soxr ? resample(&c, x, (size_t)n, err) : emit(&c, x, (size_t)n, err);
        if (rc)
            goto out;
    }
    if (c.ii.frames > 0 && c.ii.frames != SF_COUNT_MAX &&
        c.in_frames + c.dec.info.frames_slack < c.ii.frames) {
        rc = audio__fail(err, AUDIO_ECORRUPT, "truncated %s stream at frame %lld (of %lld)",
                         c.dec.info.container, (long long)c.in_frames, (long long)c.ii.frames);
        goto out;
    }
    if (c.soxr && (rc = resample(&c, NULL, 0, err)))
        goto out;
    /* No frame is no result: stored, a header-only WAV or Ogg file (or the
     * 0 bytes libsndfile's FLAC and MP3 encoders leave) would count as done
     * and be skipped on every rerun. Checked on the frames decoded, not on
     * the header's claim (a streamed FLAC may claim 0 and hold audio). */
    if (c.out_frames == 0) {
        if (c.in_frames == 0)
            rc = audio__fail(err, AUDIO_EEMPTY, "empty audio: the input holds 0 frames");
        else
            rc = audio__fail(err, AUDIO_EEMPTY,
                             "empty audio: %lld input %s at %d Hz give%s no output frame at %d Hz",
                             (long long)c.in_frames, c.in_frames == 1 ? "frame" : "frames",
                             c.ii.samplerate, c.in_frames == 1 ? "s" : "", orate);
        goto out;
    }
    if (c.has_npy && (rc = audio__npy_finish(&c.npy, err)) != 0)
        goto out;
    if (c.an && (rc = audio__analysis_finish(c.an, spec->cancel, err)) != 0)
        goto out;
    int cerr = c.out ? sf_close(c.out) : 0;
    c.out = NULL;
    if (cerr) {
        rc = audio__fail(err, AUDIO_EIO, "cannot finish the output: %s", sf_error_number(cerr));
        goto out;
    }
    if (res) {
        /* The file's rate and channels; frames counted at the file's rate
         * when a fast path decoded at a lower one. */
        res->in.rate = c.dec.info.file_rate;
        res->in.channels = c.dec.info.file_channels;
        res->in.frames = c.in_frames;
        if (c.dec.info.file_rate != c.ii.samplerate)
            res->in.frames =
                (int64_t)((double)c.in_frames * c.dec.info.file_rate / c.ii.samplerate + 0.5);
        res->in.decoded_rate = c.ii.samplerate;
        res->in.decoded_channels = ic;
        res->in.format = c.dec.info.format;
        memcpy(res->in.container, c.dec.info.container, sizeof(res->in.container));
        memcpy(res->in.codec, c.dec.info.codec, sizeof(res->in.codec));
        res->in.decoder = c.dec.info.path ? c.dec.info.path : c.dec.ops->name;
        res->out.rate = orate;
        res->out.channels = oc;
        res->out.frames = c.out_frames;
        res->out.format = fmt;
        res->seconds = (double)c.out_frames / orate;
        if (c.feat && !(res->features_json = audio__features_json(c.feat))) {
            rc = audio__fail(err, AUDIO_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (c.ex && (rc = audio__extras_finish(c.ex, c.out_frames, res ? &res->features_json : NULL,
                                           spec->cancel, err)))
        goto out;
out:
    chain_cleanup(&c);
    return rc;
}

void audio_result_cleanup(struct audio_result *r)
{
    if (!r)
        return;
    free(r->features_json);
    r->features_json = NULL;
}

int audio__open_input_fd(const char *path, struct audio__vio *v, uint64_t *size,
                         struct audio_error *err)
{
    memset(v, 0, sizeof(*v));
    v->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (v->fd < 0)
        return audio__fail(err, AUDIO_EIO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(v->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(v->fd);
        v->fd = -1;
        return audio__fail(err, AUDIO_EIO, "cannot read %s: not a regular file", path);
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

int audio_chain_run_file(const char *in_path, const char *out_path, const struct audio_spec *spec,
                         struct audio_result *res, struct audio_error *err)
{
    if (res)
        memset(res, 0, sizeof(*res));
    if (!in_path ||
        (!out_path &&
         !(spec && (spec->npy_path || spec->n_arrays || spec->plot || spec->features))) ||
        !spec)
        return audio__fail(err, AUDIO_EINVAL, "missing argument");
    enum audio_format fmt = spec->format;
    if (fmt == AUDIO_FMT_AUTO && (!out_path || audio_format_from_path(out_path, &fmt) != 0))
        fmt = AUDIO_FMT_FLAC;
    struct audio__vio vin, vout;
    uint64_t size = 0;
    int rc = audio__open_input_fd(in_path, &vin, &size, err);
    if (rc)
        return rc;
    if (!out_path) { /* only the .npy files */
        rc = chain_run(&vin, size, NULL, fmt, spec, res, err);
        close(vin.fd);
        return rc;
    }
    /* Opening the output truncates it: never when it is the input. */
    struct stat si, so;
    if (stat(out_path, &so) == 0 && fstat(vin.fd, &si) == 0 && si.st_dev == so.st_dev &&
        si.st_ino == so.st_ino) {
        close(vin.fd);
        return audio__fail(err, AUDIO_EINVAL, "input and output are the same file: %s", out_path);
    }
    memset(&vout, 0, sizeof(vout));
    /* No O_TRUNC on an empty file: ext4 (auto_da_alloc) would write a
     * truncated file back on close, a cost for the service's scratch files. */
    vout.fd = open(out_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (vout.fd >= 0 &&
        (fstat(vout.fd, &so) != 0 || (so.st_size > 0 && ftruncate(vout.fd, 0) != 0))) {
        close(vout.fd);
        vout.fd = -1;
    }
    if (vout.fd < 0) {
        rc = audio__fail(err, AUDIO_EIO, "cannot create %s: %s", out_path, strerror(errno));
        close(vin.fd);
        return rc;
    }
    vout.buffered = 1;
    rc = chain_run(&vin, size, &vout, fmt, spec, res, err);
    close(vin.fd);
    if (audio__vio_flush(&vout) != 0 && rc == 0)
        rc = audio__fail(err, AUDIO_EIO, "cannot write %s: %s", out_path, strerror(errno));
    if (close(vout.fd) != 0 && rc == 0)
        rc = audio__fail(err, AUDIO_EIO, "cannot write %s: %s", out_path, strerror(errno));
    return rc;
}

int audio_chain_run_mem(const void *in, size_t in_len, void **out, size_t *out_len,
                        const struct audio_spec *spec, struct audio_result *res,
                        struct audio_error *err)
{
    if (res)
        memset(res, 0, sizeof(*res));
    if ((!in && in_len) || !out || !out_len || !spec)
        return audio__fail(err, AUDIO_EINVAL, "missing argument");
    *out = NULL;
    *out_len = 0;
    enum audio_format fmt = spec->format == AUDIO_FMT_AUTO ? AUDIO_FMT_FLAC : spec->format;
    struct audio__vio vin = {.fd = -1, .rd = in, .len = in_len};
    struct audio__vio vout = {.fd = -1};
    int rc = chain_run(&vin, in_len, &vout, fmt, spec, res, err);
    if (rc) {
        free(vout.wr);
        return rc;
    }
    *out = vout.wr;
    *out_len = vout.len;
    return 0;
}

int audio_probe_file(const char *path, struct audio_info *info, struct audio_error *err)
{
    struct audio__vio v;
    uint64_t size = 0;
    int rc = audio__open_input_fd(path, &v, &size, err);
    if (rc)
        return rc;
    if (size == 0) {
        close(v.fd);
        return audio__fail(err, AUDIO_ENOTAUDIO, "not an audio file: empty input");
    }
    struct audio__decoder d;
    rc = audio__decoder_open(&d, &v, NULL, err); /* no hint: the file's own rate and channels */
    if (rc) {
        close(v.fd);
        return rc;
    }
    if (info) {
        memset(info, 0, sizeof(*info));
        info->rate = d.info.rate;
        info->channels = d.info.channels;
        info->frames = d.info.frames;
        info->format = d.info.format;
        memcpy(info->container, d.info.container, sizeof(info->container));
        memcpy(info->codec, d.info.codec, sizeof(info->codec));
        info->decoder = d.ops->name;
    }
    audio__decoder_close(&d);
    close(v.fd);
    return 0;
}
