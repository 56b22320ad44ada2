/* gcs.h: Cloud Storage JSON API client.
 *
 * Endpoint: base_url if given, else $STORAGE_EMULATOR_HOST (scheme optional,
 * default http://; no auth), else https://storage.googleapis.com.
 * Object names are encoded as one path segment. Full downloads are checked
 * against x-goog-hash crc32c; uploads send crc32c so the server rejects
 * corruption. Writes are retried only when idempotent (they carry a
 * generation precondition).
 * Loop thread only; callbacks fire exactly once unless the call returns an
 * error; arguments copied; callback data borrowed. */
#ifndef WIGGLY_GCP_GCS_H
#define WIGGLY_GCP_GCS_H

#include <stddef.h>
#include <stdint.h>
#include "gcp/error.h"

struct gcp_http;
struct gcp_auth;
struct gcp_gcs;

struct gcp_gcs *gcp_gcs_create(struct gcp_http *http, struct gcp_auth *auth, const char *base_url,
                               struct gcp_error *err);
void gcp_gcs_destroy(struct gcp_gcs *g);

struct gcp_gcs_object {
    const char *bucket;
    const char *name;
    int64_t generation;
    int64_t metageneration;
    uint64_t size;
    uint32_t crc32c;
    int has_crc32c;
    const char *md5_base64;   /* may be NULL */
    const char *content_type; /* may be NULL */
    const char *updated;      /* RFC 3339, may be NULL */
};

/* obj is NULL on error; a missing object is err->code == GCP_ENOTFOUND. */
typedef void (*gcp_gcs_object_cb)(void *ud, const struct gcp_error *err,
                                  const struct gcp_gcs_object *obj);
typedef void (*gcp_gcs_data_cb)(void *ud, const struct gcp_error *err,
                                const struct gcp_gcs_object *obj, const void *data, size_t len);
typedef void (*gcp_gcs_done_cb)(void *ud, const struct gcp_error *err);
/* One page; next_page_token NULL on the last page. */
typedef void (*gcp_gcs_list_cb)(void *ud, const struct gcp_error *err,
                                const struct gcp_gcs_object *objs, size_t n,
                                const char *const *prefixes, size_t n_prefixes,
                                const char *next_page_token);

#define GCP_GCS_NO_PRECONDITION INT64_MIN

struct gcp_gcs_read_opts {
    uint64_t max_bytes; /* 0 = no cap; larger objects fail with GCP_ETOOBIG */
    int64_t offset;     /* range read: first byte; 0 = start */
    int64_t length;     /* range read: bytes; 0 = to the end (no CRC check on ranges) */
};

struct gcp_gcs_write_opts {
    const char *content_type;    /* NULL = application/octet-stream */
    int64_t if_generation_match; /* GCP_GCS_NO_PRECONDITION, 0 = create only, or a generation */
    size_t resumable_threshold;  /* bytes; 0 = 8 MiB; above it the resumable protocol is used */
    size_t chunk_size;           /* resumable chunk, multiple of 256 KiB; 0 = 8 MiB */
};

int gcp_gcs_stat(struct gcp_gcs *g, const char *bucket, const char *name, gcp_gcs_object_cb cb,
                 void *ud);
/* Writes the object to path (created/truncated); CRC32C checked. Not
 * fsync'ed: the file is scratch space (a crash means downloading again);
 * a caller that keeps it syncs it. */
int gcp_gcs_download_file(struct gcp_gcs *g, const char *bucket, const char *name, const char *path,
                          const struct gcp_gcs_read_opts *opts, gcp_gcs_object_cb cb, void *ud);
int gcp_gcs_download_mem(struct gcp_gcs *g, const char *bucket, const char *name,
                         const struct gcp_gcs_read_opts *opts, gcp_gcs_data_cb cb, void *ud);
int gcp_gcs_upload_file(struct gcp_gcs *g, const char *bucket, const char *name, const char *path,
                        const struct gcp_gcs_write_opts *opts, gcp_gcs_object_cb cb, void *ud);
int gcp_gcs_upload_mem(struct gcp_gcs *g, const char *bucket, const char *name, const void *data,
                       size_t len, const struct gcp_gcs_write_opts *opts, gcp_gcs_object_cb cb,
                       void *ud);
int gcp_gcs_list(struct gcp_gcs *g, const char *bucket, const char *prefix, const char *delimiter,
                 const char *page_token, int max_results, gcp_gcs_list_cb cb, void *ud);
int gcp_gcs_delete(struct gcp_gcs *g, const char *bucket, const char *name,
                   int64_t if_generation_match, gcp_gcs_done_cb cb, void *ud);
/* Server-side copy by rewrite (loops on rewriteToken). */
int gcp_gcs_copy(struct gcp_gcs *g, const char *src_bucket, const char *src_name,
                 const char *dst_bucket, const char *dst_name, int64_t if_generation_match,
                 gcp_gcs_object_cb cb, void *ud);
int gcp_gcs_bucket_create(struct gcp_gcs *g, const char *project, const char *bucket,
                          gcp_gcs_done_cb cb, void *ud);
int gcp_gcs_bucket_get(struct gcp_gcs *g, const char *bucket, gcp_gcs_done_cb cb, void *ud);

#endif
