/* sfio.c: libsndfile at the module edge.
 *
 * Every byte source and sink goes through libsndfile's virtual I/O (a memory
 * buffer or a file descriptor), so the format is always detected from the
 * bytes, never from a file name. libsndfile keeps the error of a failed open
 * in one process-wide variable, so opens and the reading of that error happen
 * together under open_lock. Formats, encoder options and error texts are
 * converted to project codes here. */
#include "audio/audio_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;

int audio__fail(struct audio_error *err, int code, const char *fmt, ...)
{
    if (err && code < 0) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

#define WB_CAP (256 * 1024)

static int wb_write_out(struct audio__vio *v)
{
    size_t done = 0;
    while (done < v->wb_len) {
        ssize_t n = pwrite(v->fd, v->wb + done, v->wb_len - done, v->wb_pos + (int64_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            v->write_errno = errno;
            break;
        }
        done += (size_t)n;
    }
    v->wb_len = 0;
    return v->write_errno ? -1 : 0;
}

int audio__vio_flush(struct audio__vio *v)
{
    int rc = v->wb_len ? wb_write_out(v) : 0;
    free(v->wb);
    v->wb = NULL;
    if (v->write_errno) {
        errno = v->write_errno;
        rc = -1;
    }
    return rc;
}

static sf_count_t vio_len(void *user)
{
    struct audio__vio *v = user;
    if (v->wb_len && wb_write_out(v) != 0)
        return -1;
    if (v->fd >= 0) {
        struct stat st;
        if (fstat(v->fd, &st) != 0)
            return -1;
        return (sf_count_t)st.st_size;
    }
    return (sf_count_t)v->len;
}

static sf_count_t vio_seek(sf_count_t offset, int whence, void *user)
{
    struct audio__vio *v = user;
    int64_t base;
    switch (whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = v->pos;
        break;
    case SEEK_END:
        base = vio_len(user);
        break;
    default:
        return -1;
    }
    if (base < 0 || (offset < 0 && -offset > base) || (offset > 0 && offset > INT64_MAX - base))
        return -1;
    v->pos = base + offset;
    return v->pos;
}

/* pread/pwrite at the current position until done, EOF or an error. */
static sf_count_t fd_io(struct audio__vio *v, void *ptr, sf_count_t count, int write)
{
    sf_count_t done = 0;
    while (done < count) {
        char *p = (char *)ptr + done;
        size_t want = (size_t)(count - done);
        ssize_t n = write ? pwrite(v->fd, p, want, v->pos) : pread(v->fd, p, want, v->pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (write)
                v->write_errno = n < 0 ? errno : EIO;
            break;
        }
        done += n;
        v->pos += n;
    }
    return done;
}

static sf_count_t vio_read(void *ptr, sf_count_t count, void *user)
{
    struct audio__vio *v = user;
    if (count <= 0)
        return 0;
    if (v->wb_len && wb_write_out(v) != 0)
        return 0;
    if (v->fd >= 0)
        return fd_io(v, ptr, count, 0);
    const unsigned char *src = v->rd ? v->rd : v->wr;
    if (v->pos >= (int64_t)v->len)
        return 0;
    size_t n = v->len - (size_t)v->pos;
    if ((uint64_t)count < n)
        n = (size_t)count;
    memcpy(ptr, src + v->pos, n);
    v->pos += (int64_t)n;
    return (sf_count_t)n;
}

static sf_count_t vio_write(const void *ptr, sf_count_t count, void *user)
{
    struct audio__vio *v = user;
    if (count <= 0)
        return 0;
    if (v->fd >= 0 && v->buffered) {
        if (v->write_errno)
            return 0;
        /* Not contiguous with what waits, or no room: write that out first. */
        if (v->wb_len &&
            (v->pos != v->wb_pos + (int64_t)v->wb_len || v->wb_len + (size_t)count > WB_CAP) &&
            wb_write_out(v) != 0)
            return 0;
        if (count >= WB_CAP || (!v->wb && !(v->wb = malloc(WB_CAP))))
            return fd_io(v, (void *)ptr, count, 1);
        if (!v->wb_len)
            v->wb_pos = v->pos;
        memcpy(v->wb + v->wb_len, ptr, (size_t)count);
        v->wb_len += (size_t)count;
        v->pos += count;
        return count;
    }
    if (v->fd >= 0)
        return fd_io(v, (void *)ptr, count, 1);
    if (v->rd)
        return 0;
    if ((uint64_t)v->pos > SIZE_MAX / 2 || (uint64_t)count > SIZE_MAX / 2)
        return 0;
    size_t end = (size_t)v->pos + (size_t)count;
    if (end > v->cap) {
        size_t cap = v->cap ? v->cap : 65536;
        while (cap < end)
            cap *= 2;
        unsigned char *p = realloc(v->wr, cap);
        if (!p)
            return 0;
        v->wr = p;
        v->cap = cap;
    }
    if ((size_t)v->pos > v->len) /* a seek past the end leaves a hole: zero it */
        memset(v->wr + v->len, 0, (size_t)v->pos - v->len);
    memcpy(v->wr + v->pos, ptr, (size_t)count);
    v->pos = (int64_t)end;
    if (end > v->len)
        v->len = end;
    return count;
}

static sf_count_t vio_tell(void *user)
{
    return ((struct audio__vio *)user)->pos;
}

SF_VIRTUAL_IO audio__vio_ops = {vio_len, vio_seek, vio_read, vio_write, vio_tell};

/* libsndfile's public error numbers; anything above is an internal SFE_*
 * whose text we keep. */
static int code_for_open_error(int sferr, const char *text, int mode)
{
    if (sferr == SF_ERR_SYSTEM)
        return AUDIO_EIO;
    if (mode == SFM_WRITE)
        return AUDIO_EUNSUPPORTED;
    if (sferr == SF_ERR_UNRECOGNISED_FORMAT || strstr(text, "unknown format"))
        return AUDIO_ENOTAUDIO;
    if (sferr == SF_ERR_UNSUPPORTED_ENCODING)
        return AUDIO_EUNSUPPORTED;
    return AUDIO_ECORRUPT;
}

int audio__sf_open(struct audio__vio *v, int mode, SF_INFO *info, const char *what, SNDFILE **out,
                   struct audio_error *err)
{
    pthread_mutex_lock(&open_lock);
    SNDFILE *sf = sf_open_virtual(&audio__vio_ops, mode, info, v);
    *out = sf;
    if (!sf) {
        int sferr = sf_error(NULL);
        char text[160];
        snprintf(text, sizeof(text), "%s", sf_strerror(NULL));
        pthread_mutex_unlock(&open_lock);
        int code = code_for_open_error(sferr, text, mode);
        if (code == AUDIO_ENOTAUDIO)
            return audio__fail(err, code, "not an audio file: %s (%s)", what, text);
        if (code == AUDIO_EUNSUPPORTED)
            return audio__fail(err, code, "unsupported: %s (%s)", what, text);
        if (code == AUDIO_EIO)
            return audio__fail(err, code, "cannot %s %s: %s", mode == SFM_READ ? "read" : "write",
                               what, text);
        return audio__fail(err, code, "malformed audio in %s: %s", what, text);
    }
    pthread_mutex_unlock(&open_lock);
    return 0;
}

enum audio_format audio__format_from_sf(int sf_format)
{
    int major = sf_format & SF_FORMAT_TYPEMASK, sub = sf_format & SF_FORMAT_SUBMASK;
    switch (major) {
    case SF_FORMAT_WAV:
    case SF_FORMAT_WAVEX:
    case SF_FORMAT_RF64:
        return AUDIO_FMT_WAV;
    case SF_FORMAT_FLAC:
        return AUDIO_FMT_FLAC;
    case SF_FORMAT_OGG:
        return sub == SF_FORMAT_OPUS ? AUDIO_FMT_OPUS : AUDIO_FMT_OGG;
    case SF_FORMAT_MPEG:
        return AUDIO_FMT_MP3;
    }
    return AUDIO_FMT_AUTO;
}

static int mp3_rate_ok(int rate)
{
    static const int r[] = {8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000};
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
        if (r[i] == rate)
            return 1;
    return 0;
}

int audio__opus_rate_ok(int rate)
{
    return rate == 8000 || rate == 12000 || rate == 16000 || rate == 24000 || rate == 48000;
}

static int flac_rate_ok(int rate)
{
    return rate <= 655350;
}

/* What each encoder accepts. */
static const struct codec {
    enum audio_format f;
    const char *label;
    int max_channels;
    int sf_format; /* WAV and FLAC: OR the sample subformat */
    int pcm;       /* takes 16/24-bit (and WAV float) samples */
    int (*rate_ok)(int rate);
    const char *rates;
} codecs[] = {
    {AUDIO_FMT_WAV, "WAV", 1024, SF_FORMAT_WAV, 1, NULL, NULL},
    {AUDIO_FMT_FLAC, "FLAC", 8, SF_FORMAT_FLAC, 1, flac_rate_ok, "up to 655350"},
    {AUDIO_FMT_OGG, "Ogg Vorbis", 255, SF_FORMAT_OGG | SF_FORMAT_VORBIS, 0, NULL, NULL},
    {AUDIO_FMT_OPUS, "Opus", 8, SF_FORMAT_OGG | SF_FORMAT_OPUS, 0, audio__opus_rate_ok,
     "8000, 12000, 16000, 24000 or 48000"},
    {AUDIO_FMT_MP3, "MP3", 2, SF_FORMAT_MPEG | SF_FORMAT_MPEG_LAYER_III, 0, mp3_rate_ok,
     "8000 to 48000, MPEG rates only"},
};

int audio__sf_format_for(enum audio_format f, enum audio_sample s, int rate, int channels,
                         int *sf_format, struct audio_error *err)
{
    const struct codec *c = NULL;
    for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
        if (codecs[i].f == f)
            c = &codecs[i];
    if (!c)
        return audio__fail(err, AUDIO_EINVAL, "no output format given");
    if (channels < 1)
        return audio__fail(err, AUDIO_EINVAL, "invalid channel count %d", channels);
    if (s == AUDIO_FLOAT && f != AUDIO_FMT_WAV)
        return audio__fail(err, AUDIO_EUNSUPPORTED, "unsupported: float samples in %s", c->label);
    if (s == AUDIO_PCM_24 && !c->pcm)
        return audio__fail(err, AUDIO_EUNSUPPORTED, "unsupported: 24-bit samples in %s", c->label);
    if (channels > c->max_channels)
        return audio__fail(err, AUDIO_EUNSUPPORTED, "unsupported: %d channels to %s", channels,
                           c->label);
    if (c->rate_ok && !c->rate_ok(rate))
        return audio__fail(err, AUDIO_EUNSUPPORTED, "unsupported: %d Hz in %s (%s)", rate, c->label,
                           c->rates);
    *sf_format = c->sf_format;
    if (c->pcm)
        *sf_format |= s == AUDIO_PCM_24  ? SF_FORMAT_PCM_24
                      : s == AUDIO_FLOAT ? SF_FORMAT_FLOAT
                                         : SF_FORMAT_PCM_16;
    if (f == AUDIO_FMT_WAV && channels > 2)
        *sf_format = (*sf_format & ~SF_FORMAT_TYPEMASK) | SF_FORMAT_WAVEX;
    return 0;
}

int audio__sf_configure_writer(SNDFILE *sf, const SF_INFO *info, enum audio_format f,
                               double vbr_quality, int bitrate_kbps, struct audio_error *err)
{
    /* Resampling overshoots full scale slightly: clip instead of wrapping. */
    sf_command(sf, SFC_SET_CLIPPING, NULL, SF_TRUE);
    if ((f == AUDIO_FMT_OGG || f == AUDIO_FMT_OPUS) && vbr_quality >= 0) {
        if (vbr_quality > 1)
            return audio__fail(err, AUDIO_EINVAL, "vbr quality %g out of range 0..1", vbr_quality);
        double q = vbr_quality;
        if (sf_command(sf, SFC_SET_VBR_ENCODING_QUALITY, &q, sizeof(q)) != SF_TRUE)
            return audio__fail(err, AUDIO_EINTERNAL, "cannot set vbr quality %g: %s", q,
                               sf_strerror(sf));
    }
    if (f == AUDIO_FMT_MP3 && bitrate_kbps > 0) {
        /* libsndfile maps a compression level 0..1 linearly onto LAME's
         * bitrate range for the MPEG version of the sample rate; LAME then
         * picks the nearest legal bitrate. */
        double lo = 32, hi = 320;
        if (info->samplerate < 32000) {
            lo = 8;
            hi = info->samplerate < 16000 ? 64 : 160;
        }
        if (bitrate_kbps < lo || bitrate_kbps > hi)
            return audio__fail(err, AUDIO_EUNSUPPORTED,
                               "unsupported: %d kbps MP3 at %d Hz (%g to %g)", bitrate_kbps,
                               info->samplerate, lo, hi);
        int mode = SF_BITRATE_MODE_CONSTANT;
        double level = (hi - bitrate_kbps) / (hi - lo);
        /* SFC_SET_BITRATE_MODE returns 0 on success, unlike the others. */
        sf_command(sf, SFC_SET_BITRATE_MODE, &mode, sizeof(mode));
        if (sf_command(sf, SFC_SET_COMPRESSION_LEVEL, &level, sizeof(level)) != SF_TRUE)
            return audio__fail(err, AUDIO_EINTERNAL, "cannot set MP3 bitrate %d: %s", bitrate_kbps,
                               sf_strerror(sf));
    }
    return 0;
}

int audio__sf_write(SNDFILE *sf, const float *buf, size_t frames, struct audio_error *err)
{
    if (frames == 0)
        return 0;
    sf_count_t n = sf_writef_float(sf, buf, (sf_count_t)frames);
    if (n != (sf_count_t)frames)
        return audio__fail(err, AUDIO_EIO, "encoder write failed: %s", sf_strerror(sf));
    return 0;
}

/* libsndfile as the first decoder of the input side (decoder.c). */

static const char *sf_major_name(int format)
{
    switch (audio__format_from_sf(format)) {
    case AUDIO_FMT_WAV:
        return "WAV";
    case AUDIO_FMT_FLAC:
        return "FLAC";
    case AUDIO_FMT_OGG:
        return "Ogg Vorbis";
    case AUDIO_FMT_OPUS:
        return "Opus";
    case AUDIO_FMT_MP3:
        return "MP3";
    case AUDIO_FMT_AUTO:
        break;
    }
    SF_FORMAT_INFO fi = {.format = format & SF_FORMAT_TYPEMASK};
    if (sf_command(NULL, SFC_GET_FORMAT_INFO, &fi, sizeof(fi)) == 0 && fi.name)
        return fi.name;
    return "audio";
}

struct sf_dec {
    SNDFILE *sf;
    int format;
    int64_t frames; /* decoded so far */
    int64_t claim;  /* the header's frame count, -1 unknown */
};

static int sf_dec_open(struct audio__vio *v, const struct audio__dec_hint *hint, void **st,
                       struct audio__dec_info *info, struct audio_error *err)
{
    (void)hint; /* libsndfile always decodes what the file holds */
    struct sf_dec *d = calloc(1, sizeof(*d));
    if (!d)
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    SF_INFO si;
    memset(&si, 0, sizeof(si));
    int rc = audio__sf_open(v, SFM_READ, &si, "input", &d->sf, err);
    if (rc) {
        free(d);
        return rc;
    }
    d->format = si.format;
    d->claim = si.frames == SF_COUNT_MAX ? -1 : si.frames;
    info->rate = si.samplerate;
    info->channels = si.channels;
    info->frames = si.frames == SF_COUNT_MAX ? -1 : si.frames;
    info->frames_slack = 0;
    info->sf_format = si.format;
    info->format = audio__format_from_sf(si.format);
    snprintf(info->container, sizeof(info->container), "%s", sf_major_name(si.format));
    SF_FORMAT_INFO fi = {.format = si.format & SF_FORMAT_SUBMASK};
    const char *codec = "?";
    if (sf_command(NULL, SFC_GET_FORMAT_INFO, &fi, sizeof(fi)) == 0 && fi.name)
        codec = fi.name;
    snprintf(info->codec, sizeof(info->codec), "%s", codec);
    *st = d;
    return 0;
}

static long sf_dec_read(void *st, float *buf, size_t frames, struct audio_error *err)
{
    struct sf_dec *d = st;
    sf_count_t n = sf_readf_float(d->sf, buf, (sf_count_t)frames);
    if (n > 0) {
        d->frames += n;
        return (long)n;
    }
    /* A stream that stops short of its header's count says so first: the
     * decoder's own complaint (lost sync) is only the symptom. */
    if (sf_error(d->sf) != SF_ERR_NO_ERROR && d->claim > 0 && d->frames < d->claim)
        return audio__fail(err, AUDIO_ECORRUPT, "truncated %s stream at frame %lld (of %lld)",
                           sf_major_name(d->format), (long long)d->frames, (long long)d->claim);
    if (sf_error(d->sf) != SF_ERR_NO_ERROR)
        return audio__fail(err, AUDIO_ECORRUPT, "corrupt %s stream at frame %lld: %s",
                           sf_major_name(d->format), (long long)d->frames, sf_strerror(d->sf));
    return 0;
}

static void sf_dec_close(void *st)
{
    struct sf_dec *d = st;
    if (!d)
        return;
    sf_close(d->sf);
    free(d);
}

const struct audio__decoder_ops audio__sf_decoder = {"libsndfile", sf_dec_open, sf_dec_read,
                                                     sf_dec_close};
