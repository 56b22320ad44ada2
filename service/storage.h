/* storage.h: object locations gs://bucket/name and file:///abs/path behind
 * one asynchronous interface on the loop, so the pipeline has one code path.
 *
 * Each scheme is one file behind a table of operations (storage_int.h):
 * gs:// (storage_gs.c) goes through gcp_gcs (curl multi on the loop);
 * file:// (storage_file.c) runs the system calls at once and delivers the
 * result from an ev_idle watcher. Every call invokes its callback exactly
 * once and never from inside the call itself (also on bad arguments).
 * Writes never leave a partial object under its final name: GCS uploads are
 * atomic; file:// writes go to a temporary file in the same directory, then
 * link() (create-only) or rename() (overwrite).
 * Threading: loop thread only, except the pure check functions (any
 * thread). Arguments are copied; data handed to a callback is borrowed. */
#ifndef WIGGLY_SERVICE_STORAGE_H
#define WIGGLY_SERVICE_STORAGE_H

#include <stddef.h>
#include <stdint.h>

#include "service/svc_error.h"

struct ev_loop;
struct gcp_gcs;
struct svc_storage;

/* SVC_URL_OTHER: a scheme of the table that callers need not tell apart. */
enum svc_url_kind { SVC_URL_BAD = 0, SVC_URL_FILE, SVC_URL_GS, SVC_URL_OTHER };
/* Classify a location or object URL by its scheme; file:// needs an
 * absolute path and gs:// a bucket. */
enum svc_url_kind svc_url_kind(const char *url);
/* Split gs://bucket/name; returns 0 or SVC_EINVAL. bucket gets at most 222
 * characters plus NUL; *name points into url. */
int svc_url_gs_split(const char *url, char bucket[256], const char **name);

/* Whether a job's location (as config/ normalised it: SCHEME://.../) is
 * one the storage serves: its scheme is in the table and the scheme's own
 * rules hold (GCS bucket names, file:// absolute paths and NAME_MAX). 0, or
 * SVC_EINVAL with the reason in err->msg, e.g. "bucket name must be 3 to
 * 63 characters". config/ checks only the syntax common to every scheme;
 * whoever starts a job checks its locations here (svc_roots_validate). */
int svc_storage_check_location(const char *location, struct svc_error *err);
/* Whether an object URL fits its scheme's limits: a GCS object name of at
 * most 1024 bytes; file:// path segments of at most NAME_MAX bytes and a
 * path shorter than PATH_MAX. 0, or SVC_EINVAL with the reason. A URL that
 * fails here fails every operation with SVC_EINVAL. */
int svc_storage_check_name(const char *url, struct svc_error *err);
/* The root of a location, what must exist before the job can work there:
 * gs://bucket/ for gs://bucket/prefix/, the directory itself for file://.
 * *made_by_put: 1 when writing an object creates it (file:// directories),
 * 0 when it must exist beforehand (a bucket). 0, or SVC_EINVAL. */
int svc_storage_root(const char *location, char *root, size_t n, int *made_by_put);

/* gcs may be NULL when only file:// is used (gs:// calls then fail with
 * SVC_EINVAL). */
struct svc_storage *svc_storage_create(struct ev_loop *loop, struct gcp_gcs *gcs);
/* Only when no call is outstanding. */
void svc_storage_destroy(struct svc_storage *st);

/* exists is 0 with err NULL when the object does not exist. A missing
 * bucket is not a missing object: err with SVC_ENOBUCKET. */
typedef void (*svc_storage_stat_cb)(void *ud, const struct svc_error *err, int exists,
                                    uint64_t size);
/* path: a local file holding the object. is_temp: the caller must unlink it
 * (gs:// downloads); file:// objects are handed over in place (is_temp 0). */
typedef void (*svc_storage_fetch_cb)(void *ud, const struct svc_error *err, const char *path,
                                     int is_temp, uint64_t size);
/* create_only writes fail with SVC_EEXISTS when the object exists. */
typedef void (*svc_storage_done_cb)(void *ud, const struct svc_error *err);

void svc_storage_stat(struct svc_storage *st, const char *url, svc_storage_stat_cb cb, void *ud);
/* Whether the root of a location exists: the bucket of gs://bucket/prefix/,
 * the directory of file:///abs/dir/ (exists 0 with err NULL when it does
 * not). err when it cannot be told (no permission to read the bucket's
 * metadata, a transient failure). */
void svc_storage_stat_root(struct svc_storage *st, const char *location, svc_storage_stat_cb cb,
                           void *ud);
/* Objects larger than max_bytes (0 = no cap) fail with SVC_ETOOBIG. */
void svc_storage_fetch(struct svc_storage *st, const char *url, const char *temp_dir,
                       uint64_t max_bytes, svc_storage_fetch_cb cb, void *ud);
void svc_storage_put_file(struct svc_storage *st, const char *url, const char *path,
                          const char *content_type, int create_only, svc_storage_done_cb cb,
                          void *ud);
void svc_storage_put_mem(struct svc_storage *st, const char *url, const void *data, size_t len,
                         const char *content_type, int create_only, svc_storage_done_cb cb,
                         void *ud);
/* Removes the object; err SVC_ENOTFOUND when there is none. */
void svc_storage_delete(struct svc_storage *st, const char *url, svc_storage_done_cb cb, void *ud);
/* Calls outstanding (for draining). */
size_t svc_storage_pending(const struct svc_storage *st);

#endif
