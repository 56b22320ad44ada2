/* ffdec.c: FFmpeg (libavformat + libavcodec) as the input side's second
 * decoder, for what libsndfile does not read: AAC and ALAC in MP4/M4A, Opus
 * and Vorbis in WebM/Matroska, WMA, AC-3 and the audio track of a video.
 *
 * FFmpeg only ever sees the bytes of the one input, through a custom
 * AVIOContext over the same struct audio__vio libsndfile reads: no file name
 * and no URL is handed to it. The demuxer is chosen by probing those bytes,
 * and only from a fixed list of self-contained containers (`containers`
 * below); playlists (HLS, DASH), concat lists, image sequences and anything
 * else that names other files or URLs are refused before a demuxer runs.
 * As a second wall, the format context's io_open callback (the one way a
 * demuxer opens a nested resource: an HLS segment, an MP4 external data
 * reference) refuses everything, and the protocol whitelist names no
 * protocol at all.
 *
 * Decoding is one packet and one AVFrame at a time: memory does not grow with
 * the track. Samples of any FFmpeg sample format (integer or float, packed or
 * planar) are converted to interleaved float here, by plain loops.
 *
 * No global state of ours; FFmpeg's log level is set to quiet once
 * (pthread_once), since its messages would go to stderr of the service. */
#include "audio/audio_int.h"
#include "audio/lazy.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/avutil.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <opus.h>
#include <opus_multistream.h>

/* FFmpeg's functions, bound when the first track needs them (lazy.h). */
/* clang-format off */
#define FF_FUNCS(X) \
    X(av_dict_free) \
    X(av_dict_set) \
    X(av_find_best_stream) \
    X(av_frame_alloc) \
    X(av_frame_free) \
    X(av_frame_unref) \
    X(av_free) \
    X(av_freep) \
    X(av_get_bytes_per_sample) \
    X(av_get_packed_sample_fmt) \
    X(av_log_set_level) \
    X(av_malloc) \
    X(av_match_list) \
    X(av_packet_alloc) \
    X(av_packet_free) \
    X(av_packet_get_side_data) \
    X(av_packet_unref) \
    X(av_probe_input_buffer2) \
    X(av_read_frame) \
    X(av_rescale_q) \
    X(av_sample_fmt_is_planar) \
    X(av_strerror) \
    X(avcodec_alloc_context3) \
    X(avcodec_free_context) \
    X(avcodec_get_name) \
    X(avcodec_open2) \
    X(avcodec_parameters_to_context) \
    X(avcodec_receive_frame) \
    X(avcodec_send_packet) \
    X(avformat_alloc_context) \
    X(avformat_close_input) \
    X(avformat_find_stream_info) \
    X(avformat_open_input) \
    X(avio_alloc_context) \
    X(avio_context_free)
/* clang-format on */
#define LAZY_TABLE ff
LAZY_DEFINE(FF_FUNCS, audio__ffmpeg_bind)

#define AVIO_BUF 65536

/* Demuxers that read one self-contained file (first name of the demuxer's
 * comma-separated list, as av_match_list compares them). Each reads its
 * streams from the bytes given and nothing else. */
static const char containers[] = "aac,ac3,eac3,aiff,amr,ape,asf,au,avi,caf,dts,flac,flv,matroska,"
                                 "mov,mp3,mpc,mpc8,mpegts,ogg,truehd,mlp,tta,w64,wav,wv,xwma";

struct ffdec {
    struct audio__vio *v;
    int io_errno;
    AVIOContext *avio;
    AVFormatContext *fmt;
    AVCodecContext *cc;
    AVPacket *pkt;
    AVFrame *frame;
    int stream;
    int rate, channels;
    int frame_pos;  /* frames of `frame` already handed out */
    int have_frame; /* frame holds decoded samples */
    int flushed;    /* the end of the packets was sent to the decoder */
    int done;
    int64_t frames; /* handed out so far */
    char codec[32];
    /* The Opus fast path: libopus at a lower rate and/or to mono, fed the
     * demuxer's packets (one of the two decoders; no AVCodecContext). */
    OpusDecoder *od;    /* mapping family 0: can also downmix to mono */
    OpusMSDecoder *msd; /* other families */
    float *pcm;         /* one decoded packet, up to 120 ms */
    int pcm_max, pcm_pos, pcm_len;
    int skip; /* pre-skip still to drop, at the decode rate */
};

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void quiet_log(void)
{
    ff.av_log_set_level(AV_LOG_QUIET);
}

static void av_reason(int averr, char *buf, size_t n)
{
    if (ff.av_strerror(averr, buf, n) < 0)
        snprintf(buf, n, "error %d", averr);
}

static int on_read(void *opaque, uint8_t *buf, int size)
{
    struct ffdec *d = opaque;
    struct audio__vio *v = d->v;
    if (size <= 0)
        return 0;
    if (v->fd >= 0) {
        for (;;) {
            ssize_t n = pread(v->fd, buf, (size_t)size, v->pos);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                d->io_errno = errno;
                return AVERROR(errno);
            }
            if (n == 0)
                return AVERROR_EOF;
            v->pos += n;
            return (int)n;
        }
    }
    if (v->pos >= (int64_t)v->len)
        return AVERROR_EOF;
    size_t n = v->len - (size_t)v->pos;
    if ((size_t)size < n)
        n = (size_t)size;
    memcpy(buf, v->rd + v->pos, n);
    v->pos += (int64_t)n;
    return (int)n;
}

static int64_t vio_size(struct audio__vio *v)
{
    if (v->fd < 0)
        return (int64_t)v->len;
    off_t end = lseek(v->fd, 0, SEEK_END);
    return end < 0 ? -1 : (int64_t)end;
}

static int64_t on_seek(void *opaque, int64_t offset, int whence)
{
    struct ffdec *d = opaque;
    int64_t size = vio_size(d->v), base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
        return size;
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = d->v->pos;
        break;
    case SEEK_END:
        if (size < 0)
            return AVERROR(EIO);
        base = size;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if ((offset < 0 && -offset > base) || (offset > 0 && offset > INT64_MAX - base))
        return AVERROR(EINVAL);
    d->v->pos = base + offset;
    return d->v->pos;
}

/* The one door to nested resources (playlist entries, external data
 * references, concat parts): closed. */
static int on_io_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                      AVDictionary **options)
{
    (void)s;
    (void)url;
    (void)flags;
    (void)options;
    *pb = NULL;
    return AVERROR(EPERM);
}

static void ff_dec_close(void *st)
{
    struct ffdec *d = st;
    if (!d)
        return;
    opus_decoder_destroy(d->od);
    opus_multistream_decoder_destroy(d->msd);
    free(d->pcm);
    ff.av_frame_free(&d->frame);
    ff.av_packet_free(&d->pkt);
    ff.avcodec_free_context(&d->cc);
    ff.avformat_close_input(&d->fmt);
    if (d->avio) {
        ff.av_freep(&d->avio->buffer);
        ff.avio_context_free(&d->avio);
    }
    free(d);
}

static int fail_av(struct ffdec *d, struct audio_error *err, int averr, const char *what)
{
    char why[128];
    av_reason(averr, why, sizeof(why));
    if (d->io_errno)
        return audio__fail(err, AUDIO_EIO, "cannot read input: %s", strerror(d->io_errno));
    if (averr == AVERROR(ENOMEM))
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    return audio__fail(err, AUDIO_ECORRUPT, "%s: %s", what, why);
}

static int fail_stream(struct ffdec *d, struct audio_error *err, int averr)
{
    char what[96];
    snprintf(what, sizeof(what), "corrupt %s stream at frame %lld", d->codec, (long long)d->frames);
    return fail_av(d, err, averr, what);
}

/* The Opus fast path applies: a lower decode rate, or a family-0 stereo
 * stream wanted as mono (libopus mixes (L + R) / 2 itself, like the chain's
 * AUDIO_CH_MONO; measured by tests/fast_paths.py). Other mappings keep
 * their channels: libopus has no downmix for them. Fills what the
 * decoder is created with from the OpusHead (RFC 7845 5.1), which FFmpeg
 * gives as extradata for Ogg and Matroska alike. */
struct opus_head {
    int channels, pre_skip, gain_q8, family, streams, coupled;
    unsigned char map[255];
};

static int opus_head_parse(const AVCodecParameters *p, struct opus_head *h)
{
    const unsigned char *x = p->extradata;
    if (!x || p->extradata_size < 19 || memcmp(x, "OpusHead", 8) || (x[8] & 0xf0))
        return -1;
    h->channels = x[9];
    h->pre_skip = x[10] | x[11] << 8;
    h->gain_q8 = (int16_t)(x[16] | x[17] << 8);
    h->family = x[18];
    if (h->channels < 1)
        return -1;
    if (h->family == 0) {
        if (h->channels > 2)
            return -1;
        h->streams = 1;
        h->coupled = h->channels - 1;
        h->map[0] = 0;
        h->map[1] = 1;
        return 0;
    }
    if (p->extradata_size < 21 + h->channels)
        return -1;
    h->streams = x[19];
    h->coupled = x[20];
    memcpy(h->map, x + 21, (size_t)h->channels);
    return h->streams < 1 || h->coupled > h->streams ? -1 : 0;
}

static int opus_fast_setup(struct ffdec *d, const AVStream *as, const struct audio__dec_hint *hint,
                           struct audio_error *err)
{
    struct opus_head h;
    if (!hint || !hint->allow_fast || as->codecpar->codec_id != AV_CODEC_ID_OPUS ||
        opus_head_parse(as->codecpar, &h) != 0)
        return 1;
    int rate = audio__opus_decode_rate(hint->want_rate);
    int mono = hint->want_mono && h.family == 0 && h.channels == 2;
    if (rate == 48000 && !mono)
        return 1;
    int ch = mono ? 1 : h.channels, e = OPUS_OK;
    if (h.family == 0)
        d->od = opus_decoder_create(rate, ch, &e);
    else
        d->msd = opus_multistream_decoder_create(rate, ch, h.streams, h.coupled, h.map, &e);
    if (e != OPUS_OK || (!d->od && !d->msd))
        return 1; /* the general path decides what is wrong */
    e = d->od ? opus_decoder_ctl(d->od, OPUS_SET_GAIN(h.gain_q8))
              : opus_multistream_decoder_ctl(d->msd, OPUS_SET_GAIN(h.gain_q8));
    if (e != OPUS_OK)
        return 1;
    d->pcm_max = rate / 1000 * 120;
    if (!(d->pcm = malloc((size_t)d->pcm_max * (size_t)ch * sizeof(float))) ||
        !(d->pkt = ff.av_packet_alloc()))
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    d->rate = rate;
    d->channels = ch;
    d->skip = (int)((int64_t)h.pre_skip * rate / 48000);
    return 0;
}

/* The next packet of our stream decoded into d->pcm: 1, 0 at the end, or a
 * code. The demuxer's end trimming (Ogg's last granule, Matroska's
 * DiscardPadding) comes as skip-samples side data in 48 kHz samples. */
static int opus_next(struct ffdec *d, struct audio_error *err)
{
    int ret;
    do {
        ff.av_packet_unref(d->pkt);
        if ((ret = ff.av_read_frame(d->fmt, d->pkt)) == AVERROR_EOF)
            return 0;
        if (ret < 0)
            return fail_stream(d, err, ret);
    } while (d->pkt->stream_index != d->stream);
    if (d->pkt->size <= 0)
        return fail_stream(d, err, AVERROR_INVALIDDATA);
    int n = d->od ? opus_decode_float(d->od, d->pkt->data, d->pkt->size, d->pcm, d->pcm_max, 0)
                  : opus_multistream_decode_float(d->msd, d->pkt->data, d->pkt->size, d->pcm,
                                                  d->pcm_max, 0);
    if (n < 0)
        return audio__fail(err, AUDIO_ECORRUPT, "corrupt opus stream at frame %lld: %s",
                           (long long)d->frames, opus_strerror(n));
    size_t sd_size = 0;
    const uint8_t *sd = ff.av_packet_get_side_data(d->pkt, AV_PKT_DATA_SKIP_SAMPLES, &sd_size);
    if (sd && sd_size >= 8) {
        int64_t end = (int64_t)(sd[4] | sd[5] << 8 | sd[6] << 16 | (uint32_t)sd[7] << 24);
        end = end * d->rate / 48000;
        n = end >= n ? 0 : n - (int)end;
    }
    d->pcm_pos = 0;
    d->pcm_len = n;
    if (d->skip) {
        int k = d->skip < n ? d->skip : n;
        d->pcm_pos = k;
        d->skip -= k;
    }
    return 1;
}

static long opus_read(struct ffdec *d, float *buf, size_t frames, struct audio_error *err)
{
    size_t got = 0;
    while (got < frames && !d->done) {
        if (d->pcm_pos < d->pcm_len) {
            size_t n = (size_t)(d->pcm_len - d->pcm_pos);
            if (n > frames - got)
                n = frames - got;
            memcpy(buf + got * (size_t)d->channels,
                   d->pcm + (size_t)d->pcm_pos * (size_t)d->channels,
                   n * (size_t)d->channels * sizeof(float));
            d->pcm_pos += (int)n;
            got += n;
            continue;
        }
        int rc = opus_next(d, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            d->done = 1;
    }
    d->frames += (int64_t)got;
    return (long)got;
}

static int ff_open(struct audio__vio *v, const struct audio__dec_hint *hint, int fast_only,
                   void **st, struct audio__dec_info *info, struct audio_error *err)
{
    int lrc = audio__lazy_load(&audio__lazy_ffmpeg, err);
    if (lrc) {
        info->recognised = !fast_only; /* the last decoder: its word is final */
        return lrc;
    }
    pthread_once(&log_once, quiet_log);
    struct ffdec *d = calloc(1, sizeof(*d));
    if (!d)
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    d->v = v;
    d->stream = -1;
    int rc = 0;
    unsigned char *buf = ff.av_malloc(AVIO_BUF);
    if (!buf || !(d->avio = ff.avio_alloc_context(buf, AVIO_BUF, 0, d, on_read, NULL, on_seek))) {
        ff.av_free(buf);
        rc = audio__fail(err, AUDIO_ENOMEM, "out of memory");
        goto fail;
    }
    /* Probe by the bytes alone: no name, so no extension counts. */
    const AVInputFormat *ifmt = NULL;
    int ret = ff.av_probe_input_buffer2(d->avio, &ifmt, "", NULL, 0, 0);
    if (d->io_errno) {
        rc = audio__fail(err, AUDIO_EIO, "cannot read input: %s", strerror(d->io_errno));
        goto fail;
    }
    if (ret < 0 || !ifmt) {
        char why[128];
        av_reason(ret, why, sizeof(why));
        rc = audio__fail(err, AUDIO_ENOTAUDIO, "not an audio file: input (%s)", why);
        goto fail;
    }
    info->recognised = 1;
    if (ff.av_match_list(ifmt->name, containers, ',') <= 0) {
        rc = audio__fail(err, AUDIO_EUNSUPPORTED,
                         "unsupported: %s input (wiggly reads only self-contained audio "
                         "containers, never playlists or references to other files)",
                         ifmt->name);
        goto fail;
    }
    if (!(d->fmt = ff.avformat_alloc_context())) {
        rc = audio__fail(err, AUDIO_ENOMEM, "out of memory");
        goto fail;
    }
    d->fmt->pb = d->avio;
    d->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    d->fmt->io_open = on_io_open;
    AVDictionary *opts = NULL;
    ff.av_dict_set(&opts, "format_whitelist", containers, 0);
    ff.av_dict_set(&opts, "protocol_whitelist", "none", 0);
    ret = ff.avformat_open_input(&d->fmt, "", ifmt, &opts);
    ff.av_dict_free(&opts);
    if (ret < 0) { /* d->fmt is freed by the failed call */
        rc = fail_av(d, err, ret, "malformed audio in input");
        goto fail;
    }
    ret = ff.avformat_find_stream_info(d->fmt, NULL);
    if (ret < 0) {
        rc = fail_av(d, err, ret, "malformed audio in input");
        goto fail;
    }
    const AVCodec *codec = NULL;
    ret = ff.av_find_best_stream(d->fmt, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
    if (ret == AVERROR_STREAM_NOT_FOUND) {
        rc = audio__fail(err, AUDIO_ENOTAUDIO, "not an audio file: no audio stream in the %s input",
                         ifmt->name);
        goto fail;
    }
    if (ret < 0 || !codec) {
        int s = -1;
        for (unsigned i = 0; i < d->fmt->nb_streams; i++)
            if (d->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO && s < 0)
                s = (int)i;
        rc =
            audio__fail(err, AUDIO_EUNSUPPORTED, "unsupported: no decoder for the %s audio",
                        s >= 0 ? ff.avcodec_get_name(d->fmt->streams[s]->codecpar->codec_id) : "?");
        goto fail;
    }
    d->stream = ret;
    for (unsigned i = 0; i < d->fmt->nb_streams; i++)
        if ((int)i != d->stream)
            d->fmt->streams[i]->discard = AVDISCARD_ALL;
    AVStream *as = d->fmt->streams[d->stream];
    if ((rc = opus_fast_setup(d, as, hint, err)) <= 0) {
        if (rc < 0)
            goto fail;
        info->path = "libopus-fast";
        info->file_rate = 48000;
        info->file_channels = as->codecpar->ch_layout.nb_channels;
        goto opened;
    }
    rc = 0;
    if (fast_only) {
        rc = audio__fail(err, AUDIO_ENOTAUDIO, "not an audio file: no Opus fast path");
        goto fail;
    }
    if (!(d->cc = ff.avcodec_alloc_context3(codec)) || !(d->pkt = ff.av_packet_alloc()) ||
        !(d->frame = ff.av_frame_alloc())) {
        rc = audio__fail(err, AUDIO_ENOMEM, "out of memory");
        goto fail;
    }
    if ((ret = ff.avcodec_parameters_to_context(d->cc, as->codecpar)) < 0) {
        rc = fail_av(d, err, ret, "malformed audio in input");
        goto fail;
    }
    d->cc->pkt_timebase = as->time_base;
    d->cc->thread_count = 1; /* the service's pool owns the cores */
    if ((ret = ff.avcodec_open2(d->cc, codec, NULL)) < 0) {
        rc = fail_av(d, err, ret, "malformed audio in input");
        goto fail;
    }
    d->rate = d->cc->sample_rate;
    d->channels = d->cc->ch_layout.nb_channels;
    if (d->rate <= 0 || d->channels <= 0) {
        rc = audio__fail(err, AUDIO_ECORRUPT, "malformed header: %s audio of %d Hz, %d channels",
                         codec->name, d->rate, d->channels);
        goto fail;
    }
opened:
    info->rate = d->rate;
    info->channels = d->channels;
    info->frames = -1;
    /* A duration guessed from the bit rate is no claim. */
    if (d->fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE) {
        if (as->duration != AV_NOPTS_VALUE && as->duration > 0)
            info->frames = ff.av_rescale_q(as->duration, as->time_base, (AVRational){1, d->rate});
        else if (d->fmt->duration != AV_NOPTS_VALUE && d->fmt->duration > 0)
            info->frames =
                ff.av_rescale_q(d->fmt->duration, AV_TIME_BASE_Q, (AVRational){1, d->rate});
    }
    /* Containers count in their own time base (Matroska in milliseconds,
     * ASF with its preroll) and codecs pad and trim at both ends: allow two
     * codec frames or 100 ms, whichever is more, before calling it cut. A
     * cut inside the stream is found by the demuxer or decoder anyway. */
    int64_t fs2 = d->cc && d->cc->frame_size > 0 ? 2 * (int64_t)d->cc->frame_size : 0;
    info->frames_slack = fs2 > d->rate / 10 ? fs2 : d->rate / 10;
    info->sf_format = 0;
    info->format = AUDIO_FMT_AUTO;
    snprintf(info->container, sizeof(info->container), "%s", ifmt->name);
    snprintf(info->codec, sizeof(info->codec), "%s", codec->name);
    snprintf(d->codec, sizeof(d->codec), "%s", codec->name);
    *st = d;
    return 0;
fail:
    ff_dec_close(d);
    return rc;
}

/* n frames of f from frame `from` on, interleaved into out. */
static void convert(const AVFrame *f, int from, int n, int ch, float *out)
{
    enum AVSampleFormat sf = (enum AVSampleFormat)f->format;
    int planar = ff.av_sample_fmt_is_planar(sf);
    int bps = ff.av_get_bytes_per_sample(sf);
    enum AVSampleFormat packed = ff.av_get_packed_sample_fmt(sf);
    for (int c = 0; c < ch; c++) {
        const uint8_t *base = planar ? f->extended_data[c] : f->extended_data[0];
        size_t step = planar ? (size_t)bps : (size_t)bps * (size_t)ch;
        const uint8_t *p = base + (size_t)from * step + (planar ? 0 : (size_t)c * (size_t)bps);
        float *o = out + c;
        switch (packed) {
        case AV_SAMPLE_FMT_U8:
            for (int i = 0; i < n; i++, p += step, o += ch)
                *o = ((int)*p - 128) * (1.0f / 128);
            break;
        case AV_SAMPLE_FMT_S16:
            for (int i = 0; i < n; i++, p += step, o += ch) {
                int16_t x;
                memcpy(&x, p, sizeof(x));
                *o = x * (1.0f / 32768);
            }
            break;
        case AV_SAMPLE_FMT_S32:
            for (int i = 0; i < n; i++, p += step, o += ch) {
                int32_t x;
                memcpy(&x, p, sizeof(x));
                *o = (float)(x * (1.0 / 2147483648.0));
            }
            break;
        case AV_SAMPLE_FMT_S64:
            for (int i = 0; i < n; i++, p += step, o += ch) {
                int64_t x;
                memcpy(&x, p, sizeof(x));
                *o = (float)((double)x * (1.0 / 9223372036854775808.0));
            }
            break;
        case AV_SAMPLE_FMT_FLT:
            for (int i = 0; i < n; i++, p += step, o += ch)
                memcpy(o, p, sizeof(float));
            break;
        case AV_SAMPLE_FMT_DBL:
            for (int i = 0; i < n; i++, p += step, o += ch) {
                double x;
                memcpy(&x, p, sizeof(x));
                *o = (float)x;
            }
            break;
        default: /* not reached: every FFmpeg sample format is one of the above */
            for (int i = 0; i < n; i++, o += ch)
                *o = 0;
            break;
        }
    }
}

/* Gets the next decoded frame into d->frame: 1, 0 at the end, or a code. */
static int next_frame(struct ffdec *d, struct audio_error *err)
{
    for (;;) {
        int ret = ff.avcodec_receive_frame(d->cc, d->frame);
        if (ret == 0) {
            if (d->frame->sample_rate != d->rate ||
                d->frame->ch_layout.nb_channels != d->channels) {
                return audio__fail(err, AUDIO_EUNSUPPORTED,
                                   "unsupported: the %s stream changes from %d Hz %d ch to %d Hz "
                                   "%d ch at frame %lld",
                                   d->codec, d->rate, d->channels, d->frame->sample_rate,
                                   d->frame->ch_layout.nb_channels, (long long)d->frames);
            }
            if (ff.av_get_bytes_per_sample((enum AVSampleFormat)d->frame->format) <= 0)
                return audio__fail(err, AUDIO_EUNSUPPORTED, "unsupported: %s sample format %d",
                                   d->codec, d->frame->format);
            return 1;
        }
        if (ret == AVERROR_EOF)
            return 0;
        if (ret != AVERROR(EAGAIN)) {
            return fail_stream(d, err, ret);
        }
        if (d->flushed)
            return 0;
        /* The decoder wants a packet: the next one of our stream. */
        for (;;) {
            ret = ff.av_read_frame(d->fmt, d->pkt);
            if (ret == AVERROR_EOF) {
                d->flushed = 1;
                ret = ff.avcodec_send_packet(d->cc, NULL);
                break;
            }
            if (ret < 0) {
                return fail_stream(d, err, ret);
            }
            if (d->pkt->stream_index != d->stream) {
                ff.av_packet_unref(d->pkt);
                continue;
            }
            ret = ff.avcodec_send_packet(d->cc, d->pkt);
            ff.av_packet_unref(d->pkt);
            break;
        }
        if (ret < 0 && ret != AVERROR_EOF) {
            return fail_stream(d, err, ret);
        }
    }
}

static long ff_dec_read(void *st, float *buf, size_t frames, struct audio_error *err)
{
    struct ffdec *d = st;
    if (d->od || d->msd)
        return opus_read(d, buf, frames, err);
    size_t got = 0;
    while (got < frames && !d->done) {
        if (d->have_frame && d->frame_pos < d->frame->nb_samples) {
            size_t n = (size_t)(d->frame->nb_samples - d->frame_pos);
            if (n > frames - got)
                n = frames - got;
            convert(d->frame, d->frame_pos, (int)n, d->channels, buf + got * (size_t)d->channels);
            d->frame_pos += (int)n;
            got += n;
            continue;
        }
        if (d->have_frame) {
            ff.av_frame_unref(d->frame);
            d->have_frame = 0;
        }
        int rc = next_frame(d, err);
        if (rc < 0)
            return rc;
        if (rc == 0)
            d->done = 1;
        else {
            d->have_frame = 1;
            d->frame_pos = 0;
        }
    }
    d->frames += (int64_t)got;
    return (long)got;
}

static int ff_dec_open(struct audio__vio *v, const struct audio__dec_hint *hint, void **st,
                       struct audio__dec_info *info, struct audio_error *err)
{
    return ff_open(v, hint, 0, st, info, err);
}

const struct audio__decoder_ops audio__ff_decoder = {"ffmpeg", ff_dec_open, ff_dec_read,
                                                     ff_dec_close};

/* The Opus fast path ahead of libsndfile (which reads Ogg Opus, but only at
 * 48 kHz): claims an Opus stream in Ogg or Matroska/WebM when the hint
 * makes a lower rate or a mono decode apply, declines everything else
 * silently, failures included, so that the general path gives its usual
 * verdict. A cheap look at the first bytes keeps other formats from
 * paying for a libavformat probe. */
static int opus_fast_open(struct audio__vio *v, const struct audio__dec_hint *hint, void **st,
                          struct audio__dec_info *info, struct audio_error *err)
{
    unsigned char b[36];
    if (!hint || !hint->allow_fast ||
        (!hint->want_mono && audio__opus_decode_rate(hint->want_rate) == 48000))
        return audio__fail(err, AUDIO_ENOTAUDIO, "not an audio file: no Opus fast path");
    v->pos = 0;
    sf_count_t n = audio__vio_ops.read(b, sizeof(b), v);
    v->pos = 0;
    int ogg_opus =
        n == (sf_count_t)sizeof(b) && !memcmp(b, "OggS", 4) && !memcmp(b + 28, "OpusHead", 8);
    int ebml = n >= 4 && !memcmp(b, "\x1a\x45\xdf\xa3", 4);
    if (!ogg_opus && !ebml)
        return audio__fail(err, AUDIO_ENOTAUDIO, "not an audio file: not Opus");
    int rc = ff_open(v, hint, 1, st, info, err);
    if (rc) {
        memset(info, 0, sizeof(*info));
        v->pos = 0;
        return audio__fail(err, AUDIO_ENOTAUDIO, "not an audio file: the Opus fast path declines");
    }
    return 0;
}

const struct audio__decoder_ops audio__opus_fast_decoder = {"libopus-fast", opus_fast_open,
                                                            ff_dec_read, ff_dec_close};
