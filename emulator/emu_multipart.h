/* emu_multipart.h: lenient multipart/related parser for GCS multipart
 * uploads (metadata part + data part). Accepts CRLF or LF line endings and a
 * boundary that is unquoted, "double" or 'single' quoted (gcloud sends the
 * latter with LF). The data part is located by offsets so a large body can
 * stay in a file. Pure functions, thread-safe. */
#ifndef WIGGLY_EMU_MULTIPART_H
#define WIGGLY_EMU_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#define EMU_MULTIPART_HEAD_MAX (1024 * 1024 + 16384)

struct emu_multipart {
    char *meta; /* the first part's body (JSON text), NUL-terminated, malloc'ed */
    size_t meta_len;
    char *data_type; /* Content-Type of the data part, or NULL */
    uint64_t data_off, data_len;
};

/* Copies the boundary parameter of a multipart Content-Type into out.
 * Returns 0, or -1 when ctype is not multipart or has no usable boundary. */
int emu_multipart_boundary(const char *ctype, char *out, size_t cap);

/* Parses a body whose first head_len bytes are in head and whose last
 * tail_len bytes (starting at offset total - tail_len) are in tail. Returns 0
 * or -1 with a message in errbuf. */
int emu_multipart_parse_parts(const char *boundary, const char *head, size_t head_len,
                              const char *tail, size_t tail_len, uint64_t total,
                              struct emu_multipart *mp, char *errbuf, size_t errcap);

/* Same on a whole in-memory body. */
int emu_multipart_parse_buf(const char *boundary, const char *body, size_t len,
                            struct emu_multipart *mp, char *errbuf, size_t errcap);

/* Same on a file of size bytes (reads only its head and tail). */
int emu_multipart_parse_fd(const char *boundary, int fd, uint64_t size, struct emu_multipart *mp,
                           char *errbuf, size_t errcap);

void emu_multipart_cleanup(struct emu_multipart *mp);

#endif
