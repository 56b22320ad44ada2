/* storage_gs.c: the gs:// scheme (see storage_int.h). gs://bucket/name
 * goes through gcp_gcs (curl multi on the loop); every operation ends from
 * gcp_gcs's callback, or from the ready list when it cannot start. GCS
 * errors become service errors through svc_error_from_gcp. The bucket
 * name rules and the 1024-byte object name limit live here, not in
 * config/: https://cloud.google.com/storage/docs/buckets#naming and
 * https://cloud.google.com/storage/docs/objects#naming. */
#include "service/storage_int.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gcp/gcs.h"

#define GCS_NAME_MAX 1024

static int gs_is_url(const char *url)
{
    const char *slash = strchr(url + 5, '/');
    return url[5] != 0 && slash != url + 5;
}

int svc_url_gs_split(const char *url, char bucket[256], const char **name)
{
    const char *b, *slash;
    size_t n;
    if (svc_url_kind(url) != SVC_URL_GS)
        return SVC_EINVAL;
    b = url + 5;
    slash = strchr(b, '/');
    n = slash ? (size_t)(slash - b) : strlen(b);
    if (n == 0 || n > 222)
        return SVC_EINVAL;
    memcpy(bucket, b, n);
    bucket[n] = 0;
    *name = slash ? slash + 1 : b + n;
    return 0;
}

/* Bucket names: 3..63 characters (up to 222 with dots, 63 per dot-separated
 * part), lowercase letters, digits, '-', '_' and '.', starting and ending
 * with a letter or digit, not starting with "goog". */
static int check_bucket(const char *b, size_t len, char *why, size_t n)
{
    int dots = memchr(b, '.', len) != NULL;
    size_t part = 0;
    if (len < 3 || len > (dots ? 222u : 63u)) {
        snprintf(why, n, "bucket name must be 3 to %d characters", dots ? 222 : 63);
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = b[i];
        if (!(islower((unsigned char)ch) || isdigit((unsigned char)ch) || ch == '-' || ch == '_' ||
              ch == '.')) {
            snprintf(why, n,
                     "bucket name may only contain lowercase letters, digits, '-', '_' "
                     "and '.'");
            return -1;
        }
    }
    if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[len - 1])) {
        snprintf(why, n, "bucket name must start and end with a letter or digit");
        return -1;
    }
    if (len >= 4 && memcmp(b, "goog", 4) == 0) {
        snprintf(why, n, "bucket name must not start with \"goog\"");
        return -1;
    }
    for (size_t i = 0; i <= len; i++) {
        if (i == len || b[i] == '.') {
            if (part == 0 || part > 63) {
                snprintf(why, n,
                         "each dot-separated part of a bucket name must be 1 to 63 "
                         "characters");
                return -1;
            }
            part = 0;
        } else {
            part++;
        }
    }
    return 0;
}

/* At most GCS_NAME_MAX bytes of object name. */
static int gs_check_name(const char *url, char *why, size_t n)
{
    const char *slash = strchr(url + 5, '/');
    size_t len = slash ? strlen(slash + 1) : 0;
    char buf[200];
    if (len > GCS_NAME_MAX) {
        snprintf(why, n, "object name %s is %zu bytes, more than GCS allows (%d)",
                 svc__storage_shorten(buf, sizeof(buf), url, 120), len, GCS_NAME_MAX);
        return -1;
    }
    return 0;
}

static int gs_check_location(const char *location, char *why, size_t n)
{
    const char *b = location + 5;
    const char *slash = strchr(b, '/');
    if (check_bucket(b, slash ? (size_t)(slash - b) : strlen(b), why, n) < 0)
        return -1;
    return gs_check_name(location, why, n);
}

/* The bucket; it must exist before anything is written to it. */
static int gs_root(const char *location, char *out, size_t n, int *made_by_put)
{
    char bucket[256];
    const char *name;
    if (svc_url_gs_split(location, bucket, &name) != 0 ||
        (size_t)snprintf(out, n, "gs://%s/", bucket) >= n)
        return -1;
    *made_by_put = 0;
    return 0;
}

/* The bucket and name of o's URL with a client to reach them, or NULL
 * when the URL is malformed or there is no client (o is then ended). */
static struct gcp_gcs *gs_target(struct svc__storage_op *o, const char *url, char bucket[256],
                                 const char **name, int need_name)
{
    struct gcp_gcs *gcs = svc__storage_gcs(o->st);
    if (!gcs || svc_url_gs_split(url, bucket, name) != 0 || (need_name && !(*name)[0])) {
        svc__storage_bad_url(o, url);
        return NULL;
    }
    return gcs;
}

/* Through the service's one gcp edge (svc_error.c). */
static void gs_fail(struct svc__storage_op *o, const struct gcp_error *ge)
{
    o->failed = 1;
    svc_error_from_gcp(&o->err, ge);
}

static void on_stat(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *obj)
{
    struct svc__storage_op *o = ud;
    if (err && err->code == GCP_ENOTFOUND)
        o->exists = 0;
    else if (err)
        gs_fail(o, err);
    else {
        o->exists = 1;
        o->size = obj ? obj->size : 0;
    }
    svc__storage_deliver(o);
}

static void gs_stat(struct svc__storage_op *o, const char *url)
{
    char bucket[256];
    const char *name;
    struct gcp_gcs *gcs = gs_target(o, url, bucket, &name, 0);
    if (gcs && gcp_gcs_stat(gcs, bucket, name, on_stat, o) != 0)
        svc__storage_bad_url(o, url);
}

static void on_root(void *ud, const struct gcp_error *err)
{
    struct svc__storage_op *o = ud;
    if (!err)
        o->exists = 1;
    else if (err->code == GCP_ENOBUCKET || err->code == GCP_ENOTFOUND)
        o->exists = 0;
    else
        gs_fail(o, err);
    svc__storage_deliver(o);
}

static void gs_stat_root(struct svc__storage_op *o, const char *location)
{
    char bucket[256];
    const char *name;
    struct gcp_gcs *gcs = gs_target(o, location, bucket, &name, 0);
    if (gcs && gcp_gcs_bucket_get(gcs, bucket, on_root, o) != 0)
        svc__storage_bad_url(o, location);
}

static void on_fetch(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *obj)
{
    struct svc__storage_op *o = ud;
    if (err) {
        gs_fail(o, err);
        unlink(o->path);
    } else {
        o->size = obj ? obj->size : 0;
    }
    svc__storage_deliver(o);
}

/* Downloads to a temporary file in temp_dir, which the caller unlinks. */
static void gs_fetch(struct svc__storage_op *o, const char *url, const char *temp_dir,
                     uint64_t max_bytes)
{
    char bucket[256];
    const char *name;
    struct gcp_gcs *gcs = gs_target(o, url, bucket, &name, 0);
    struct gcp_gcs_read_opts ro = {.max_bytes = max_bytes};
    size_t n = strlen(temp_dir) + 32;
    int fd;
    if (!gcs)
        return;
    o->path = malloc(n);
    if (!o->path) {
        svc__storage_fail(o, SVC_ENOMEM, "out of memory");
        svc__storage_ready(o);
        return;
    }
    snprintf(o->path, n, "%s/wiggly-in-XXXXXX", temp_dir);
    fd = mkstemp(o->path);
    if (fd < 0) {
        svc__storage_fail(o, SVC_EIO, "cannot create a temporary file in %s: %s", temp_dir,
                          strerror(errno));
        svc__storage_ready(o);
        return;
    }
    close(fd);
    o->is_temp = 1;
    if (gcp_gcs_download_file(gcs, bucket, name, o->path, &ro, on_fetch, o) == 0)
        return;
    unlink(o->path);
    svc__storage_fail(o, SVC_ETRANSIENT, "cannot start the download of %s", url);
    svc__storage_ready(o);
}

static void on_put(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *obj)
{
    struct svc__storage_op *o = ud;
    (void)obj;
    if (err)
        gs_fail(o, err);
    svc__storage_deliver(o);
}

/* create_only is the precondition ifGenerationMatch=0. */
static void gs_put(struct svc__storage_op *o, const char *url, const struct svc__storage_put *p)
{
    char bucket[256];
    const char *name;
    struct gcp_gcs *gcs = gs_target(o, url, bucket, &name, 1);
    struct gcp_gcs_write_opts wo = {
        .content_type = p->content_type,
        .if_generation_match = p->create_only ? 0 : GCP_GCS_NO_PRECONDITION,
    };
    int rc;
    if (!gcs)
        return;
    rc = p->path ? gcp_gcs_upload_file(gcs, bucket, name, p->path, &wo, on_put, o)
                 : gcp_gcs_upload_mem(gcs, bucket, name, p->data, p->len, &wo, on_put, o);
    if (rc == 0)
        return;
    svc__storage_fail(o, SVC_ETRANSIENT, "cannot start the upload of %s", url);
    svc__storage_ready(o);
}

static void on_del(void *ud, const struct gcp_error *err)
{
    struct svc__storage_op *o = ud;
    if (err)
        gs_fail(o, err);
    svc__storage_deliver(o);
}

static void gs_del(struct svc__storage_op *o, const char *url)
{
    char bucket[256];
    const char *name;
    struct gcp_gcs *gcs = gs_target(o, url, bucket, &name, 1);
    if (gcs && gcp_gcs_delete(gcs, bucket, name, GCP_GCS_NO_PRECONDITION, on_del, o) != 0)
        svc__storage_bad_url(o, url);
}

const struct svc__storage_scheme svc__storage_gs = {
    .prefix = "gs://",
    .example = "gs://bucket/",
    .kind = SVC_URL_GS,
    .is_url = gs_is_url,
    .check_location = gs_check_location,
    .check_name = gs_check_name,
    .root = gs_root,
    .stat = gs_stat,
    .stat_root = gs_stat_root,
    .fetch = gs_fetch,
    .put = gs_put,
    .del = gs_del,
};
