/* npy.c: NumPy .npy files, format 1.0, dtype '<f4', shape (frames,
 * channels), C order, written in chunks: the header is written first with a
 * provisional frame count and rewritten with the real one at the end, so a
 * track of any length costs one buffer (NumPy's format description:
 * numpy/lib/format.py, "Format Version 1.0"). The header is padded to
 * AUDIO__NPY_HEADER bytes, a multiple of 64, with room for any int64 count. */
#include "audio/audio_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.c writes the host's floats as '<f4': little-endian hosts only"
#endif

#define NPY_BUF (256 * 1024)

int audio__npy_header(char out[AUDIO__NPY_HEADER], int64_t frames, int channels)
{
    char dict[AUDIO__NPY_HEADER];
    int n = snprintf(dict, sizeof(dict),
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %d), }",
                     (long long)frames, channels);
    size_t hlen = AUDIO__NPY_HEADER - 10; /* magic 6, version 2, length 2 */
    if (n < 0 || (size_t)n + 1 > hlen)
        return -1;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (char)(hlen & 0xff);
    out[9] = (char)(hlen >> 8);
    memset(out + 10, ' ', hlen);
    memcpy(out + 10, dict, (size_t)n);
    out[AUDIO__NPY_HEADER - 1] = '\n';
    return 0;
}

static int npy_fail(struct audio_error *err, const char *path, int e)
{
    return audio__fail(err, AUDIO_EIO, "cannot write %s: %s", path, strerror(e));
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

int audio__npy_open(struct audio__npy *w, const char *path, int channels, struct audio_error *err)
{
    char hdr[AUDIO__NPY_HEADER];
    memset(w, 0, sizeof(*w));
    w->fd = -1;
    w->path = path;
    w->channels = channels;
    if (!(w->buf = malloc(NPY_BUF)))
        return audio__fail(err, AUDIO_ENOMEM, "out of memory");
    w->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0)
        return audio__fail(err, AUDIO_EIO, "cannot create %s: %s", path, strerror(errno));
    if (audio__npy_header(hdr, 0, channels) != 0 || write_all(w->fd, hdr, sizeof(hdr)) != 0)
        return npy_fail(err, path, errno ? errno : EIO);
    return 0;
}

static int npy_flush(struct audio__npy *w)
{
    if (w->used && write_all(w->fd, w->buf, w->used) != 0)
        return -1;
    w->used = 0;
    return 0;
}

int audio__npy_write(struct audio__npy *w, const float *x, size_t frames, struct audio_error *err)
{
    size_t bytes = frames * (size_t)w->channels * sizeof(float);
    const char *p = (const char *)x;
    w->frames += (int64_t)frames;
    while (bytes > 0) {
        size_t k = NPY_BUF - w->used;
        if (k > bytes)
            k = bytes;
        memcpy(w->buf + w->used, p, k);
        w->used += k;
        p += k;
        bytes -= k;
        if (w->used == NPY_BUF && npy_flush(w) != 0)
            return npy_fail(err, w->path, errno);
    }
    return 0;
}

int audio__npy_finish(struct audio__npy *w, struct audio_error *err)
{
    char hdr[AUDIO__NPY_HEADER];
    if (npy_flush(w) != 0)
        return npy_fail(err, w->path, errno);
    if (audio__npy_header(hdr, w->frames, w->channels) != 0 ||
        pwrite(w->fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
        return npy_fail(err, w->path, errno ? errno : EIO);
    int rc = close(w->fd);
    w->fd = -1;
    if (rc != 0)
        return npy_fail(err, w->path, errno);
    return 0;
}

int audio__npy_map(const char *path, int64_t rows, int in_cols, int out_cols, audio__npy_map_fn fn,
                   void *ud, const atomic_int *cancel, struct audio_error *err)
{
    char hdr[AUDIO__NPY_HEADER];
    size_t in_row = (size_t)in_cols * sizeof(float), out_row = (size_t)out_cols * sizeof(float);
    size_t chunk = NPY_BUF / in_row ? NPY_BUF / in_row : 1;
    float *in = malloc(chunk * in_row), *out = malloc(chunk * out_row);
    int fd = -1, rc = 0;
    if (out_cols > in_cols || !in || !out) {
        rc = audio__fail(err, AUDIO_ENOMEM, "out of memory");
        goto out;
    }
    if ((fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
        rc = npy_fail(err, path, errno);
        goto out;
    }
    for (int64_t r = 0; r < rows; r += (int64_t)chunk) {
        if (cancel && atomic_load_explicit(cancel, memory_order_relaxed)) {
            rc = audio__fail(err, AUDIO_ECANCELED, "canceled rewriting %s at row %lld of %lld",
                             path, (long long)r, (long long)rows);
            goto out;
        }
        size_t n = rows - r < (int64_t)chunk ? (size_t)(rows - r) : chunk;
        off_t rd = AUDIO__NPY_HEADER + (off_t)r * (off_t)in_row;
        off_t wr = AUDIO__NPY_HEADER + (off_t)r * (off_t)out_row;
        if (pread(fd, in, n * in_row, rd) != (ssize_t)(n * in_row)) {
            rc = audio__fail(err, AUDIO_EIO, "cannot read back %s", path);
            goto out;
        }
        fn(ud, in, out, n);
        if (pwrite(fd, out, n * out_row, wr) != (ssize_t)(n * out_row)) {
            rc = npy_fail(err, path, errno ? errno : EIO);
            goto out;
        }
    }
    if (audio__npy_header(hdr, rows, out_cols) != 0 ||
        pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
        ftruncate(fd, AUDIO__NPY_HEADER + (off_t)rows * (off_t)out_row) != 0) {
        rc = npy_fail(err, path, errno ? errno : EIO);
        goto out;
    }
    rc = close(fd);
    fd = -1;
    if (rc != 0)
        rc = npy_fail(err, path, errno);
out:
    if (fd >= 0)
        close(fd);
    free(in);
    free(out);
    return rc;
}

void audio__npy_close(struct audio__npy *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
    free(w->buf);
    w->buf = NULL;
}
