/* emu_multipart.c: see emu_multipart.h. The parser never trusts lengths
 * from the body: every scan is bounded by the buffer it was given. */
#include "emulator/emu_multipart.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int fail(char *errbuf, size_t cap, const char *msg)
{
    if (errbuf && cap)
        snprintf(errbuf, cap, "%s", msg);
    return -1;
}

int emu_multipart_boundary(const char *ctype, char *out, size_t cap)
{
    const char *p;
    size_t n = 0;
    if (!ctype || strncasecmp(ctype, "multipart/", 10) != 0)
        return -1;
    for (p = ctype; *p; p++) {
        if (strncasecmp(p, "boundary=", 9) == 0 &&
            (p == ctype || p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t'))
            break;
    }
    if (!*p)
        return -1;
    p += 9;
    if (*p == '"' || *p == '\'') {
        char q = *p++;
        while (*p && *p != q) {
            if (n + 1 >= cap)
                return -1;
            out[n++] = *p++;
        }
        if (*p != q)
            return -1;
    } else {
        while (*p && *p != ';' && *p != ' ' && *p != '\t') {
            if (n + 1 >= cap)
                return -1;
            out[n++] = *p++;
        }
    }
    if (n == 0 || n > 200)
        return -1;
    out[n] = '\0';
    return 0;
}

/* Finds "--boundary" at the start of a line in buf[from, len); returns its
 * offset or -1. */
static long find_delim(const char *buf, size_t len, size_t from, const char *b, size_t blen)
{
    for (size_t i = from; i + 2 + blen <= len; i++) {
        if ((i == 0 || buf[i - 1] == '\n') && buf[i] == '-' && buf[i + 1] == '-' &&
            memcmp(buf + i + 2, b, blen) == 0)
            return (long)i;
    }
    return -1;
}

/* Skips the rest of a delimiter line (padding) and its line end; returns the
 * offset after it or -1. */
static long skip_line(const char *buf, size_t len, size_t i)
{
    while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
        i++;
    if (i < len && buf[i] == '\r')
        i++;
    if (i < len && buf[i] == '\n')
        return (long)(i + 1);
    return -1;
}

/* Parses part headers from i until the blank line; stores a malloc'ed
 * Content-Type into *ctype when ctype != NULL. Returns the body offset. */
static long parse_headers(const char *buf, size_t len, size_t i, char **ctype)
{
    for (;;) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end, line_end;
        if (!nl)
            return -1;
        line_end = (size_t)(nl - buf);
        end = line_end;
        if (end > i && buf[end - 1] == '\r')
            end--;
        if (end == i)
            return (long)(line_end + 1);
        if (ctype && end - i > 13 && strncasecmp(buf + i, "content-type:", 13) == 0) {
            size_t v = i + 13;
            while (v < end && (buf[v] == ' ' || buf[v] == '\t'))
                v++;
            free(*ctype);
            *ctype = strndup(buf + v, end - v);
        }
        i = line_end + 1;
    }
}

int emu_multipart_parse_parts(const char *boundary, const char *head, size_t head_len,
                              const char *tail, size_t tail_len, uint64_t total,
                              struct emu_multipart *mp, char *errbuf, size_t errcap)
{
    size_t blen = strlen(boundary);
    long d1, h1, b1, d2, h2, m_end;
    uint64_t tail_off = total - tail_len;
    memset(mp, 0, sizeof(*mp));
    if (blen == 0 || tail_len > total || head_len > total)
        return fail(errbuf, errcap, "bad multipart boundary");
    d1 = find_delim(head, head_len, 0, boundary, blen);
    if (d1 < 0)
        return fail(errbuf, errcap, "multipart body has no opening boundary");
    h1 = skip_line(head, head_len, (size_t)d1 + 2 + blen);
    if (h1 < 0)
        return fail(errbuf, errcap, "malformed multipart boundary line");
    b1 = parse_headers(head, head_len, (size_t)h1, NULL);
    if (b1 < 0)
        return fail(errbuf, errcap, "malformed headers in multipart metadata part");
    d2 = find_delim(head, head_len, (size_t)b1, boundary, blen);
    if (d2 < 0 || d2 == 0)
        return fail(errbuf, errcap, "multipart body has no data part");
    m_end = d2 - 1; /* the '\n' before "--" belongs to the delimiter */
    if (m_end > b1 && head[m_end - 1] == '\r')
        m_end--;
    if (m_end < b1)
        m_end = b1;
    if ((size_t)d2 + 2 + blen + 2 <= head_len && head[d2 + 2 + (long)blen] == '-' &&
        head[d2 + 3 + (long)blen] == '-')
        return fail(errbuf, errcap, "multipart body has no data part");
    h2 = skip_line(head, head_len, (size_t)d2 + 2 + blen);
    if (h2 < 0)
        return fail(errbuf, errcap, "malformed multipart boundary line");
    {
        long b2 = parse_headers(head, head_len, (size_t)h2, &mp->data_type);
        long close_at = -1;
        uint64_t data_end;
        if (b2 < 0) {
            emu_multipart_cleanup(mp);
            return fail(errbuf, errcap, "malformed headers in multipart data part");
        }
        /* The closing "--boundary--" is the last one in the body. */
        for (long i = (long)tail_len - (long)(4 + blen); i >= 0; i--) {
            if (tail[i] == '-' && tail[i + 1] == '-' && memcmp(tail + i + 2, boundary, blen) == 0 &&
                tail[i + 2 + (long)blen] == '-' && tail[i + 3 + (long)blen] == '-' &&
                (tail_off + (uint64_t)i == 0 || (i > 0 && tail[i - 1] == '\n'))) {
                close_at = i;
                break;
            }
        }
        if (close_at < 0 || tail_off + (uint64_t)close_at < (uint64_t)b2) {
            emu_multipart_cleanup(mp);
            return fail(errbuf, errcap, "multipart body has no closing boundary");
        }
        data_end = tail_off + (uint64_t)close_at;
        if (data_end > (uint64_t)b2) {
            data_end--; /* the '\n' before "--" belongs to the delimiter */
            if (data_end > (uint64_t)b2 && close_at >= 2 && tail[close_at - 2] == '\r')
                data_end--;
        }
        mp->data_off = (uint64_t)b2;
        mp->data_len = data_end - (uint64_t)b2;
    }
    mp->meta_len = (size_t)(m_end - b1);
    mp->meta = malloc(mp->meta_len + 1);
    if (!mp->meta) {
        emu_multipart_cleanup(mp);
        return fail(errbuf, errcap, "out of memory");
    }
    memcpy(mp->meta, head + b1, mp->meta_len);
    mp->meta[mp->meta_len] = '\0';
    return 0;
}

int emu_multipart_parse_buf(const char *boundary, const char *body, size_t len,
                            struct emu_multipart *mp, char *errbuf, size_t errcap)
{
    return emu_multipart_parse_parts(boundary, body, len, body, len, len, mp, errbuf, errcap);
}

static int read_at(int fd, char *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

int emu_multipart_parse_fd(const char *boundary, int fd, uint64_t size, struct emu_multipart *mp,
                           char *errbuf, size_t errcap)
{
    size_t head_len = size < EMU_MULTIPART_HEAD_MAX ? (size_t)size : EMU_MULTIPART_HEAD_MAX;
    size_t tail_len = size < 65536 ? (size_t)size : 65536;
    char *head = malloc(head_len + 1), *tail = malloc(tail_len + 1);
    int r = -1;
    memset(mp, 0, sizeof(*mp));
    if (!head || !tail)
        fail(errbuf, errcap, "out of memory");
    else if (read_at(fd, head, head_len, 0) < 0 || read_at(fd, tail, tail_len, size - tail_len) < 0)
        fail(errbuf, errcap, "cannot read multipart body");
    else
        r = emu_multipart_parse_parts(boundary, head, head_len, tail, tail_len, size, mp, errbuf,
                                      errcap);
    free(head);
    free(tail);
    return r;
}

void emu_multipart_cleanup(struct emu_multipart *mp)
{
    if (!mp)
        return;
    free(mp->meta);
    free(mp->data_type);
    mp->meta = NULL;
    mp->data_type = NULL;
}
