/* storage.c: gs:// through gcp_gcs, file:// through system calls, one
 * callback contract. Completed file:// operations (and argument errors) wait
 * in a ready list that an ev_idle watcher drains, so no callback runs
 * inside the call that started it. Loop thread only; no locks. */
#include "service/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "gcp/gcs.h"

enum op_kind { OP_STAT, OP_FETCH, OP_PUT };

struct op {
    struct op *next;
    struct svc_storage *st;
    enum op_kind kind;
    svc_storage_stat_cb stat_cb;
    svc_storage_fetch_cb fetch_cb;
    svc_storage_done_cb done_cb;
    void *ud;
    struct svc_error err;
    int failed;
    int exists;
    uint64_t size;
    int is_temp;
    char *path; /* fetch: local file */
};

struct svc_storage {
    struct ev_loop *loop;
    struct gcp_gcs *gcs;
    ev_idle idle;
    struct op *ready_head, *ready_tail;
    size_t pending;
};

enum svc_url_kind svc_url_kind(const char *url)
{
    if (!url)
        return SVC_URL_BAD;
    if (!strncmp(url, "file://", 7))
        return url[7] == '/' ? SVC_URL_FILE : SVC_URL_BAD;
    if (!strncmp(url, "gs://", 5)) {
        const char *slash = strchr(url + 5, '/');
        if (slash == url + 5 || url[5] == 0)
            return SVC_URL_BAD;
        return SVC_URL_GS;
    }
    return SVC_URL_BAD;
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

static void op_free(struct op *o)
{
    free(o->path);
    free(o);
}

static void deliver(struct op *o)
{
    const struct svc_error *e = o->failed ? &o->err : NULL;
    o->st->pending--;
    switch (o->kind) {
    case OP_STAT:
        o->stat_cb(o->ud, e, o->exists, o->size);
        break;
    case OP_FETCH:
        o->fetch_cb(o->ud, e, e ? NULL : o->path, o->is_temp, o->size);
        break;
    case OP_PUT:
        o->done_cb(o->ud, e);
        break;
    }
    op_free(o);
}

static void on_idle(struct ev_loop *loop, ev_idle *w, int revents)
{
    struct svc_storage *st = w->data;
    struct op *o = st->ready_head;
    (void)revents;
    st->ready_head = st->ready_tail = NULL;
    ev_idle_stop(loop, w);
    while (o) {
        struct op *next = o->next;
        deliver(o);
        o = next;
    }
}

static void ready(struct op *o)
{
    struct svc_storage *st = o->st;
    o->next = NULL;
    if (st->ready_tail)
        st->ready_tail->next = o;
    else
        st->ready_head = o;
    st->ready_tail = o;
    ev_idle_start(st->loop, &st->idle);
}

static struct op *op_new(struct svc_storage *st, enum op_kind kind, void *ud)
{
    struct op *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->st = st;
    o->kind = kind;
    o->ud = ud;
    st->pending++;
    return o;
}

__attribute__((format(printf, 3, 4))) static void op_fail(struct op *o, int code, const char *fmt,
                                                          ...)
{
    va_list ap;
    o->failed = 1;
    o->err.code = code;
    va_start(ap, fmt);
    vsnprintf(o->err.msg, sizeof(o->err.msg), fmt, ap);
    va_end(ap);
}

struct svc_storage *svc_storage_create(struct ev_loop *loop, struct gcp_gcs *gcs)
{
    struct svc_storage *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->loop = loop;
    st->gcs = gcs;
    ev_idle_init(&st->idle, on_idle);
    st->idle.data = st;
    return st;
}

void svc_storage_destroy(struct svc_storage *st)
{
    if (!st)
        return;
    ev_idle_stop(st->loop, &st->idle);
    for (struct op *o = st->ready_head; o;) { /* never delivered: caller is going away */
        struct op *next = o->next;
        op_free(o);
        o = next;
    }
    free(st);
}

size_t svc_storage_pending(const struct svc_storage *st)
{
    return st ? st->pending : 0;
}

/* ---- gs:// ---- */

static int from_gcp(const struct gcp_error *ge)
{
    switch (ge->code) {
    case GCP_ENOTFOUND:
        return SVC_ENOTFOUND;
    case GCP_ENOBUCKET:
        return SVC_ENOBUCKET;
    case GCP_EPRECONDITION:
    case GCP_EEXISTS:
        return SVC_EEXISTS;
    case GCP_ETOOBIG:
        return SVC_ETOOBIG;
    case GCP_ECANCELED:
        return SVC_ECANCELED;
    case GCP_EINVAL:
        return SVC_EREMOTE; /* a 400 for this object will be a 400 again */
    case GCP_EIO:
        return SVC_EIO;
    case GCP_ENOMEM:
        return SVC_ENOMEM;
    default:
        /* transport, 5xx, 429, checksum, and also 401/403: a permission
         * problem is fixed by an operator, so retry (and dead-letter after
         * max_attempts) rather than fail fast. */
        return SVC_ETRANSIENT;
    }
}

static void gs_fail(struct op *o, const struct gcp_error *ge)
{
    o->failed = 1;
    svc_error_set(&o->err, from_gcp(ge), "%s%s%s", gcp_strerror(ge->code), ge->msg[0] ? ": " : "",
                  ge->msg);
}

static void on_gs_stat(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *obj)
{
    struct op *o = ud;
    if (err && err->code == GCP_ENOTFOUND)
        o->exists = 0;
    else if (err)
        gs_fail(o, err);
    else {
        o->exists = 1;
        o->size = obj ? obj->size : 0;
    }
    deliver(o);
}

static void on_gs_root(void *ud, const struct gcp_error *err)
{
    struct op *o = ud;
    if (!err)
        o->exists = 1;
    else if (err->code == GCP_ENOBUCKET || err->code == GCP_ENOTFOUND)
        o->exists = 0;
    else
        gs_fail(o, err);
    deliver(o);
}

static void on_gs_fetch(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *obj)
{
    struct op *o = ud;
    if (err) {
        gs_fail(o, err);
        unlink(o->path);
    } else {
        o->size = obj ? obj->size : 0;
    }
    deliver(o);
}

static void on_gs_put(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *obj)
{
    struct op *o = ud;
    (void)obj;
    if (err)
        gs_fail(o, err);
    deliver(o);
}

/* ---- file:// ---- */

static int mkdirs_for(char *path)
{
    /* Create every directory above the file named by path (modified in
     * place and restored). */
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            *p = '/';
            return -e;
        }
        *p = '/';
    }
    return 0;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int copy_fd(int in, int out)
{
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return 0;
        int rc = write_all(out, buf, (size_t)n);
        if (rc)
            return rc;
    }
}

/* Write src_path (or data/len) to dst atomically. */
static void file_put(struct op *o, const char *dst, const char *src_path, const void *data,
                     size_t len, int create_only)
{
    size_t n = strlen(dst);
    char *tmp = malloc(n + 32);
    const char *base;
    int fd = -1, rc = 0, in = -1;
    char *dcopy = strdup(dst);
    if (!tmp || !dcopy) {
        op_fail(o, SVC_ENOMEM, "out of memory");
        goto out;
    }
    if (dst[n - 1] == '/') {
        op_fail(o, SVC_EINVAL, "'%s' names a directory, not an object", dst);
        goto out;
    }
    if ((rc = mkdirs_for(dcopy)) != 0) {
        o->failed = 1;
        svc_error_set(&o->err, SVC_EIO, "cannot create directories for %s: %s", dst, strerror(-rc));
        goto out;
    }
    if (create_only && access(dst, F_OK) == 0) {
        op_fail(o, SVC_EEXISTS, "%s already exists", dst);
        goto out;
    }
    base = strrchr(dst, '/') + 1;
    snprintf(tmp, n + 32, "%.*s.%s.wiggly-XXXXXX", (int)(base - dst), dst, base);
    fd = mkstemp(tmp);
    if (fd < 0) {
        o->failed = 1;
        svc_error_set(&o->err, SVC_EIO, "cannot create a temporary file beside %s: %s", dst,
                      strerror(errno));
        goto out;
    }
    if (src_path) {
        in = open(src_path, O_RDONLY | O_CLOEXEC);
        rc = in < 0 ? -errno : copy_fd(in, fd);
    } else {
        rc = write_all(fd, data, len);
    }
    if (!rc && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && !rc)
        rc = -errno;
    fd = -1;
    if (rc) {
        o->failed = 1;
        svc_error_set(&o->err, SVC_EIO, "cannot write %s: %s", dst, strerror(-rc));
        unlink(tmp);
        goto out;
    }
    chmod(tmp, 0644);
    if (create_only) {
        /* link() fails with EEXIST when the name exists: create-only without
         * ever exposing a partial file. */
        if (link(tmp, dst) != 0) {
            int e = errno;
            if (e == EEXIST)
                op_fail(o, SVC_EEXISTS, "%s already exists", dst);
            else {
                o->failed = 1;
                svc_error_set(&o->err, SVC_EIO, "cannot create %s: %s", dst, strerror(e));
            }
        }
        unlink(tmp);
    } else if (rename(tmp, dst) != 0) {
        o->failed = 1;
        svc_error_set(&o->err, SVC_EIO, "cannot replace %s: %s", dst, strerror(errno));
        unlink(tmp);
    }
out:
    if (in >= 0)
        close(in);
    if (fd >= 0)
        close(fd);
    free(tmp);
    free(dcopy);
    ready(o);
}

static void file_stat(struct op *o, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            o->exists = 0;
        else {
            o->failed = 1;
            svc_error_set(&o->err, SVC_EIO, "cannot stat %s: %s", path, strerror(errno));
        }
    } else if (!S_ISREG(sb.st_mode)) {
        op_fail(o, SVC_EINVAL, "%s is not a regular file", path);
    } else {
        o->exists = 1;
        o->size = (uint64_t)sb.st_size;
    }
    ready(o);
}

/* ---- the interface ---- */

static const char *file_path(const char *url)
{
    return url + 7;
}

void svc_storage_stat(struct svc_storage *st, const char *url, svc_storage_stat_cb cb, void *ud)
{
    struct op *o = op_new(st, OP_STAT, ud);
    char bucket[256];
    const char *name;
    if (!o) {
        struct svc_error e = {SVC_ENOMEM, "out of memory"};
        cb(ud, &e, 0, 0); /* the one case that cannot be deferred */
        return;
    }
    o->stat_cb = cb;
    switch (svc_url_kind(url)) {
    case SVC_URL_FILE:
        file_stat(o, file_path(url));
        return;
    case SVC_URL_GS:
        if (st->gcs && svc_url_gs_split(url, bucket, &name) == 0 &&
            gcp_gcs_stat(st->gcs, bucket, name, on_gs_stat, o) == 0)
            return;
        break;
    case SVC_URL_BAD:
        break;
    }
    op_fail(o, SVC_EINVAL, "cannot stat '%s': unsupported or malformed location", url);
    ready(o);
}

void svc_storage_stat_root(struct svc_storage *st, const char *location, svc_storage_stat_cb cb,
                           void *ud)
{
    struct op *o = op_new(st, OP_STAT, ud);
    char bucket[256];
    const char *name;
    if (!o) {
        struct svc_error e = {SVC_ENOMEM, "out of memory"};
        cb(ud, &e, 0, 0);
        return;
    }
    o->stat_cb = cb;
    switch (svc_url_kind(location)) {
    case SVC_URL_FILE: {
        struct stat sb;
        const char *p = file_path(location);
        if (stat(p, &sb) == 0)
            o->exists = S_ISDIR(sb.st_mode);
        else if (errno == ENOENT || errno == ENOTDIR)
            o->exists = 0;
        else
            op_fail(o, SVC_EIO, "cannot stat %s: %s", p, strerror(errno));
        ready(o);
        return;
    }
    case SVC_URL_GS:
        if (st->gcs && svc_url_gs_split(location, bucket, &name) == 0 &&
            gcp_gcs_bucket_get(st->gcs, bucket, on_gs_root, o) == 0)
            return;
        break;
    case SVC_URL_BAD:
        break;
    }
    op_fail(o, SVC_EINVAL, "cannot check '%s': unsupported or malformed location", location);
    ready(o);
}

void svc_storage_fetch(struct svc_storage *st, const char *url, const char *temp_dir,
                       uint64_t max_bytes, svc_storage_fetch_cb cb, void *ud)
{
    struct op *o = op_new(st, OP_FETCH, ud);
    char bucket[256];
    const char *name;
    if (!o) {
        struct svc_error e = {SVC_ENOMEM, "out of memory"};
        cb(ud, &e, NULL, 0, 0);
        return;
    }
    o->fetch_cb = cb;
    if (svc_url_kind(url) == SVC_URL_FILE) {
        struct stat sb;
        const char *p = file_path(url);
        if (stat(p, &sb) != 0) {
            o->failed = 1;
            svc_error_set(&o->err, errno == ENOENT ? SVC_ENOTFOUND : SVC_EIO, "cannot read %s: %s",
                          p, strerror(errno));
        } else if (!S_ISREG(sb.st_mode)) {
            op_fail(o, SVC_EINVAL, "%s is not a regular file", p);
        } else if (max_bytes && (uint64_t)sb.st_size > max_bytes) {
            o->failed = 1;
            svc_error_set(&o->err, SVC_ETOOBIG, "%s is %llu bytes, more than the %llu allowed", p,
                          (unsigned long long)sb.st_size, (unsigned long long)max_bytes);
        } else if (!(o->path = strdup(p))) {
            op_fail(o, SVC_ENOMEM, "out of memory");
        } else {
            o->size = (uint64_t)sb.st_size;
        }
        ready(o);
        return;
    }
    if (svc_url_kind(url) == SVC_URL_GS && st->gcs && svc_url_gs_split(url, bucket, &name) == 0) {
        size_t n = strlen(temp_dir) + 32;
        int fd;
        o->path = malloc(n);
        if (!o->path) {
            op_fail(o, SVC_ENOMEM, "out of memory");
            ready(o);
            return;
        }
        snprintf(o->path, n, "%s/wiggly-in-XXXXXX", temp_dir);
        fd = mkstemp(o->path);
        if (fd < 0) {
            o->failed = 1;
            svc_error_set(&o->err, SVC_EIO, "cannot create a temporary file in %s: %s", temp_dir,
                          strerror(errno));
            ready(o);
            return;
        }
        close(fd);
        o->is_temp = 1;
        struct gcp_gcs_read_opts ro = {.max_bytes = max_bytes};
        if (gcp_gcs_download_file(st->gcs, bucket, name, o->path, &ro, on_gs_fetch, o) == 0)
            return;
        unlink(o->path);
        op_fail(o, SVC_ETRANSIENT, "cannot start the download of %s", url);
        ready(o);
        return;
    }
    op_fail(o, SVC_EINVAL, "cannot read '%s': unsupported or malformed location", url);
    ready(o);
}

static void put(struct svc_storage *st, const char *url, const char *path, const void *data,
                size_t len, const char *content_type, int create_only, svc_storage_done_cb cb,
                void *ud)
{
    struct op *o = op_new(st, OP_PUT, ud);
    char bucket[256];
    const char *name;
    if (!o) {
        struct svc_error e = {SVC_ENOMEM, "out of memory"};
        cb(ud, &e);
        return;
    }
    o->done_cb = cb;
    if (svc_url_kind(url) == SVC_URL_FILE) {
        file_put(o, file_path(url), path, data, len, create_only);
        return;
    }
    if (svc_url_kind(url) == SVC_URL_GS && st->gcs && svc_url_gs_split(url, bucket, &name) == 0 &&
        name[0]) {
        struct gcp_gcs_write_opts wo = {
            .content_type = content_type,
            .if_generation_match = create_only ? 0 : GCP_GCS_NO_PRECONDITION,
        };
        int rc = path ? gcp_gcs_upload_file(st->gcs, bucket, name, path, &wo, on_gs_put, o)
                      : gcp_gcs_upload_mem(st->gcs, bucket, name, data, len, &wo, on_gs_put, o);
        if (rc == 0)
            return;
        op_fail(o, SVC_ETRANSIENT, "cannot start the upload of %s", url);
        ready(o);
        return;
    }
    op_fail(o, SVC_EINVAL, "cannot write '%s': unsupported or malformed location", url);
    ready(o);
}

void svc_storage_put_file(struct svc_storage *st, const char *url, const char *path,
                          const char *content_type, int create_only, svc_storage_done_cb cb,
                          void *ud)
{
    put(st, url, path, NULL, 0, content_type, create_only, cb, ud);
}

void svc_storage_put_mem(struct svc_storage *st, const char *url, const void *data, size_t len,
                         const char *content_type, int create_only, svc_storage_done_cb cb,
                         void *ud)
{
    put(st, url, NULL, data, len, content_type, create_only, cb, ud);
}
