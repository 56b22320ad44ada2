/* gcs.c: Cloud Storage JSON API client on the gcp_http engine.
 *
 * Object names are one path segment (every byte outside [A-Za-z0-9-._~]
 * percent-encoded, so '/' is %2F). int64 fields arrive as JSON strings.
 * Downloads stream into memory or a file while computing CRC32C; a full
 * download is checked against x-goog-hash. Uploads send the CRC32C in the
 * metadata so the server rejects corruption: multipart below the resumable
 * threshold, otherwise the resumable protocol in 256 KiB-multiple chunks.
 * A failed chunk is not re-sent blindly: after a backoff the upload status
 * is queried (PUT bytes * /TOTAL) and the upload resumes from what the
 * server persisted. Writes are retried by the engine only when they carry a
 * generation precondition (docs/gcp.md "Retries and idempotency"). All
 * requests of a client are in one group, and operations waiting on a backoff
 * timer are listed, so destroy cancels everything with exactly one callback
 * each.
 * Loop thread only. */
#include "gcp/gcs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>
#include <jansson.h>

#include "gcp/crc32c.h"
#include "gcp/gcp_int.h"

#define CHUNK_QUANTUM     (256u * 1024u)
#define DEFAULT_THRESHOLD (8u << 20)
#define DEFAULT_CHUNK     (8u << 20)
#define CHUNK_TIMEOUT_MS  300000L

struct up_op;

struct gcp_gcs {
    struct gcp_http *http;
    struct gcp_auth *auth;
    char *base;
    struct gcp__group group;
    struct up_op *waiting; /* uploads sleeping on a backoff timer */
    int closing;
};

struct gcp_gcs *gcp_gcs_create(struct gcp_http *http, struct gcp_auth *auth, const char *base_url,
                               struct gcp_error *err)
{
    struct gcp_gcs *g;
    const char *emu = getenv("STORAGE_EMULATOR_HOST");
    struct gcp__buf b = {0};
    size_t n;

    if (!http) {
        gcp__seterr(err, GCP_EINVAL, 0, "gcp_gcs_create: http is NULL");
        return NULL;
    }
    g = calloc(1, sizeof *g);
    if (!g)
        goto nomem;
    g->http = http;
    if (base_url && base_url[0]) {
        if (gcp__buf_printf(&b, "%s", base_url) < 0)
            goto nomem;
        g->auth = auth;
    } else if (emu && emu[0]) {
        if (gcp__buf_printf(&b, "%s%s", strstr(emu, "://") ? "" : "http://", emu) < 0)
            goto nomem;
    } else {
        if (!auth) {
            gcp__seterr(err, GCP_EAUTH, 0,
                        "gcp_gcs_create: the real endpoint needs credentials (auth is NULL and "
                        "STORAGE_EMULATOR_HOST is unset)");
            free(g);
            return NULL;
        }
        if (gcp__buf_printf(&b, "https://storage.googleapis.com") < 0)
            goto nomem;
        g->auth = auth;
    }
    g->base = b.p;
    n = strlen(g->base);
    while (n > 0 && g->base[n - 1] == '/')
        g->base[--n] = '\0';
    /* Accept a base that already ends in /storage/v1 (Node's convention). */
    if (n >= 11 && strcmp(g->base + n - 11, "/storage/v1") == 0)
        g->base[n - 11] = '\0';
    return g;
nomem:
    gcp__buf_free(&b);
    free(g);
    gcp__seterr(err, GCP_ENOMEM, 0, "gcp_gcs_create: out of memory");
    return NULL;
}

/* ---- helpers ---- */

/* snprintf for resource labels in messages; truncation is fine there. */
__attribute__((format(printf, 3, 4))) static void fmt_what(char *out, size_t n, const char *fmt,
                                                           ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

/* Bucket names: 1-222 of [a-z0-9-_.]; object names: 1-1024 bytes, no CR/LF. */
static int check_str(const char *s, size_t max, int is_bucket)
{
    size_t n;
    const char *p;

    if (!s)
        return -1;
    n = strlen(s);
    if (n < 1 || n > max)
        return -1;
    for (p = s; *p; p++) {
        int ok = is_bucket ? (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                                 strchr("-_.", *p) != NULL
                           : *p != '\r' && *p != '\n';

        if (!ok)
            return -1;
    }
    return 0;
}

static int check_bucket(const char *b)
{
    return check_str(b, 222, 1);
}

static int utf8_ok(const unsigned char *p)
{
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xE0) == 0xC0 ? 1
                : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3
                                      : -1;

        if (n < 0 || (n == 1 && *p < 0xC2))
            return 0;
        p++;
        while (n--) {
            if ((*p & 0xC0) != 0x80)
                return 0;
            p++;
        }
    }
    return 1;
}

/* GCS names are UTF-8 (jansson would refuse anything else anyway). */
static int check_object(const char *o)
{
    return check_str(o, 1024, 0) == 0 && utf8_ok((const unsigned char *)o) ? 0 : -1;
}

static int64_t int64_field(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);

    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    if (json_is_integer(v))
        return json_integer_value(v);
    return dflt;
}

static int crc_from_b64(const char *s, uint32_t *out)
{
    unsigned char *d = NULL;
    size_t n = 0;

    if (!s || gcp__b64_decode(s, strlen(s), &d, &n) < 0)
        return -1;
    if (n != 4) {
        free(d);
        return -1;
    }
    *out = ((uint32_t)d[0] << 24) | ((uint32_t)d[1] << 16) | ((uint32_t)d[2] << 8) | d[3];
    free(d);
    return 0;
}

/* Fills o from an object resource; strings borrowed from j. */
static int parse_object(json_t *j, struct gcp_gcs_object *o)
{
    const char *crc;

    memset(o, 0, sizeof *o);
    if (!json_is_object(j))
        return -1;
    o->bucket = json_string_value(json_object_get(j, "bucket"));
    o->name = json_string_value(json_object_get(j, "name"));
    if (!o->name)
        return -1;
    o->generation = int64_field(j, "generation", 0);
    o->metageneration = int64_field(j, "metageneration", 0);
    o->size = (uint64_t)int64_field(j, "size", 0);
    {
        json_t *sz = json_object_get(j, "size");

        if (json_is_string(sz))
            o->size = strtoull(json_string_value(sz), NULL, 10);
    }
    crc = json_string_value(json_object_get(j, "crc32c"));
    if (crc && crc_from_b64(crc, &o->crc32c) == 0)
        o->has_crc32c = 1;
    o->md5_base64 = json_string_value(json_object_get(j, "md5Hash"));
    o->content_type = json_string_value(json_object_get(j, "contentType"));
    o->updated = json_string_value(json_object_get(j, "updated"));
    return 0;
}

int gcp__gcs_parse_object(const char *body, size_t len, struct gcp_gcs_object *o, json_t **doc,
                          struct gcp_error *err)
{
    json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, NULL);

    *doc = NULL;
    if (parse_object(root, o) < 0) {
        gcp__seterr(err, GCP_EPROTO, 0,
                    !root                   ? "not JSON"
                    : !json_is_object(root) ? "not a JSON object"
                                            : "object resource has no name");
        json_decref(root);
        return GCP_EPROTO;
    }
    *doc = root;
    return 0;
}

void gcp__json_free(json_t *doc)
{
    json_decref(doc);
}

static void proto_err(struct gcp_error *e, const char *method, const char *what, long status,
                      const char *why)
{
    gcp__seterr(e, GCP_EPROTO, (int)status, "%s %s: %s", method, what, why);
}

/* Appends "/b/BUCKET/o/NAME" (escaped) to u. */
static int add_path(struct gcp__buf *u, const char *bucket, const char *name)
{
    char *eb = gcp__escape(bucket);
    char *en = name ? gcp__escape(name) : NULL;
    int rc = -1;

    if (eb && (!name || en))
        rc = name ? gcp__buf_printf(u, "/b/%s/o/%s", eb, en) : gcp__buf_printf(u, "/b/%s", eb);
    free(eb);
    free(en);
    return rc;
}

static struct gcp__req *gcs_request(struct gcp_gcs *g, struct gcp__req_spec *s, gcp__req_cb cb,
                                    void *ud, struct gcp_error *err)
{
    if (g->closing) {
        gcp__seterr(err, GCP_ECANCELED, 0, "%s %s: client is shutting down", s->method,
                    s->what ? s->what : s->url);
        return NULL;
    }
    s->auth = g->auth;
    s->group = &g->group;
    return gcp__http_request(g->http, s, cb, ud, err);
}

static int precond_arg(struct gcp__buf *u, int64_t gen, char sep)
{
    if (gen == GCP_GCS_NO_PRECONDITION)
        return 0;
    return gcp__buf_printf(u, "%cifGenerationMatch=%" PRId64, sep, gen);
}

/* ---- stat, bucket get/create, delete: one request, simple answers ---- */

struct simple_op {
    gcp_gcs_object_cb obj_cb;
    gcp_gcs_done_cb done_cb;
    void *ud;
    char *body;
    const char *method;
    char what[300];
};

static void on_simple(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct simple_op *op = ud;

    if (op->done_cb) {
        op->done_cb(op->ud, err);
    } else if (err) {
        op->obj_cb(op->ud, err, NULL);
    } else {
        json_t *root;
        struct gcp_gcs_object o;

        if (gcp__gcs_parse_object(resp->body, resp->body_len, &o, &root, NULL) < 0) {
            struct gcp_error e;

            proto_err(&e, op->method, op->what, resp->status, "response is not an object");
            op->obj_cb(op->ud, &e, NULL);
        } else {
            op->obj_cb(op->ud, NULL, &o);
        }
        json_decref(root);
    }
    free(op->body);
    free(op);
}

static int simple_call(struct gcp_gcs *g, const char *method, struct gcp__buf *url,
                       const char *what, char *body, enum gcp__retry retry, gcp_gcs_object_cb ocb,
                       gcp_gcs_done_cb dcb, void *ud)
{
    struct simple_op *op = calloc(1, sizeof *op);
    struct gcp__req_spec s;
    struct gcp_error e = {0};

    if (!op || !url->p) {
        free(op);
        free(body);
        gcp__buf_free(url);
        return GCP_ENOMEM;
    }
    op->obj_cb = ocb;
    op->done_cb = dcb;
    op->ud = ud;
    op->body = body;
    op->method = method;
    snprintf(op->what, sizeof op->what, "%s", what);
    memset(&s, 0, sizeof s);
    s.method = method;
    s.url = url->p;
    s.what = op->what;
    s.body = body;
    s.body_len = body ? strlen(body) : 0;
    s.has_body = body != NULL;
    s.retry = retry;
    if (!gcs_request(g, &s, on_simple, op, &e)) {
        free(op->body);
        free(op);
        gcp__buf_free(url);
        return e.code ? e.code : GCP_ENOMEM;
    }
    gcp__buf_free(url);
    return 0;
}

int gcp_gcs_stat(struct gcp_gcs *g, const char *bucket, const char *name, gcp_gcs_object_cb cb,
                 void *ud)
{
    struct gcp__buf u = {0};
    char what[300];

    if (!g || !cb || check_bucket(bucket) < 0 || check_object(name) < 0)
        return GCP_EINVAL;
    fmt_what(what, sizeof what, "gs://%s/%s", bucket, name);
    if (gcp__buf_printf(&u, "%s/storage/v1", g->base) < 0 || add_path(&u, bucket, name) < 0) {
        gcp__buf_free(&u);
        return GCP_ENOMEM;
    }
    return simple_call(g, "GET", &u, what, NULL, GCP__RETRY_IDEMPOTENT, cb, NULL, ud);
}

int gcp_gcs_delete(struct gcp_gcs *g, const char *bucket, const char *name,
                   int64_t if_generation_match, gcp_gcs_done_cb cb, void *ud)
{
    struct gcp__buf u = {0};
    char what[300];

    if (!g || !cb || check_bucket(bucket) < 0 || check_object(name) < 0)
        return GCP_EINVAL;
    fmt_what(what, sizeof what, "gs://%s/%s", bucket, name);
    if (gcp__buf_printf(&u, "%s/storage/v1", g->base) < 0 || add_path(&u, bucket, name) < 0 ||
        precond_arg(&u, if_generation_match, '?') < 0) {
        gcp__buf_free(&u);
        return GCP_ENOMEM;
    }
    return simple_call(g, "DELETE", &u, what, NULL,
                       if_generation_match == GCP_GCS_NO_PRECONDITION ? GCP__RETRY_NEVER
                                                                      : GCP__RETRY_IDEMPOTENT,
                       NULL, cb, ud);
}

int gcp_gcs_bucket_create(struct gcp_gcs *g, const char *project, const char *bucket,
                          gcp_gcs_done_cb cb, void *ud)
{
    struct gcp__buf u = {0};
    char *ep, what[300];
    json_t *o;
    char *body;

    if (!g || !cb || !project || !project[0] || check_bucket(bucket) < 0)
        return GCP_EINVAL;
    fmt_what(what, sizeof what, "gs://%s", bucket);
    ep = gcp__escape(project);
    o = json_pack("{s:s}", "name", bucket);
    body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!ep || !body || gcp__buf_printf(&u, "%s/storage/v1/b?project=%s", g->base, ep) < 0) {
        free(ep);
        free(body);
        gcp__buf_free(&u);
        return GCP_ENOMEM;
    }
    free(ep);
    /* Bucket insert is idempotent (docs/gcp.md "Retries and idempotency"):
     * a retried create that already happened answers 409. */
    return simple_call(g, "POST", &u, what, body, GCP__RETRY_IDEMPOTENT, NULL, cb, ud);
}

int gcp_gcs_bucket_get(struct gcp_gcs *g, const char *bucket, gcp_gcs_done_cb cb, void *ud)
{
    struct gcp__buf u = {0};
    char what[300];

    if (!g || !cb || check_bucket(bucket) < 0)
        return GCP_EINVAL;
    fmt_what(what, sizeof what, "gs://%s", bucket);
    if (gcp__buf_printf(&u, "%s/storage/v1", g->base) < 0 || add_path(&u, bucket, NULL) < 0) {
        gcp__buf_free(&u);
        return GCP_ENOMEM;
    }
    return simple_call(g, "GET", &u, what, NULL, GCP__RETRY_IDEMPOTENT, NULL, cb, ud);
}

/* ---- list ---- */

struct list_op {
    gcp_gcs_list_cb cb;
    void *ud;
};

static void on_list(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct list_op *op = ud;
    json_t *root = NULL, *items, *prefixes;
    struct gcp_gcs_object *objs = NULL;
    const char **pfx = NULL;
    size_t n = 0, np = 0, i;
    struct gcp_error e;

    if (err) {
        op->cb(op->ud, err, NULL, 0, NULL, 0, NULL);
        goto out;
    }
    root = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, NULL);
    if (!json_is_object(root))
        goto bad;
    items = json_object_get(root, "items");
    prefixes = json_object_get(root, "prefixes");
    if (json_is_array(items) && json_array_size(items)) {
        n = json_array_size(items);
        objs = calloc(n, sizeof *objs);
        if (!objs)
            goto bad;
        for (i = 0; i < n; i++)
            if (parse_object(json_array_get(items, i), &objs[i]) < 0)
                goto bad;
    }
    if (json_is_array(prefixes) && json_array_size(prefixes)) {
        np = json_array_size(prefixes);
        pfx = calloc(np, sizeof *pfx);
        if (!pfx)
            goto bad;
        for (i = 0; i < np; i++)
            if (!(pfx[i] = json_string_value(json_array_get(prefixes, i))))
                goto bad;
    }
    op->cb(op->ud, NULL, objs, n, pfx, np,
           json_string_value(json_object_get(root, "nextPageToken")));
    goto out;
bad:
    proto_err(&e, "GET", "list", resp->status, "malformed list response");
    op->cb(op->ud, &e, NULL, 0, NULL, 0, NULL);
out:
    free(objs);
    free(pfx);
    json_decref(root);
    free(op);
}

int gcp_gcs_list(struct gcp_gcs *g, const char *bucket, const char *prefix, const char *delimiter,
                 const char *page_token, int max_results, gcp_gcs_list_cb cb, void *ud)
{
    struct gcp__buf u = {0};
    struct list_op *op;
    struct gcp__req_spec s;
    struct gcp_error e = {0};
    char what[300], sep = '?';
    const char *keys[3] = {"prefix", "delimiter", "pageToken"};
    const char *vals[3] = {prefix, delimiter, page_token};
    int i, ok;

    if (!g || !cb || check_bucket(bucket) < 0 || max_results < 0)
        return GCP_EINVAL;
    fmt_what(what, sizeof what, "gs://%s/%s*", bucket, prefix ? prefix : "");
    ok = gcp__buf_printf(&u, "%s/storage/v1", g->base) == 0 && add_path(&u, bucket, NULL) == 0 &&
         gcp__buf_add(&u, "/o", 2) == 0;
    for (i = 0; ok && i < 3; i++) {
        char *ev;

        if (!vals[i] || !vals[i][0])
            continue;
        ev = gcp__escape(vals[i]);
        ok = ev && gcp__buf_printf(&u, "%c%s=%s", sep, keys[i], ev) == 0;
        sep = '&';
        free(ev);
    }
    if (ok && max_results > 0)
        ok = gcp__buf_printf(&u, "%cmaxResults=%d", sep, max_results) == 0;
    op = ok ? calloc(1, sizeof *op) : NULL;
    if (!op) {
        gcp__buf_free(&u);
        return GCP_ENOMEM;
    }
    op->cb = cb;
    op->ud = ud;
    memset(&s, 0, sizeof s);
    s.method = "GET";
    s.url = u.p;
    s.what = what;
    s.retry = GCP__RETRY_IDEMPOTENT;
    if (!gcs_request(g, &s, on_list, op, &e)) {
        free(op);
        gcp__buf_free(&u);
        return e.code ? e.code : GCP_ENOMEM;
    }
    gcp__buf_free(&u);
    return 0;
}

/* ---- copy (rewrite loop) ---- */

struct copy_op {
    struct gcp_gcs *g;
    gcp_gcs_object_cb cb;
    void *ud;
    char *url; /* without rewriteToken */
    char what[300];
    int64_t if_gen;
    int rounds;
};

static int copy_step(struct copy_op *op, const char *token, struct gcp_error *err);

static void on_copy(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct copy_op *op = ud;
    json_t *root = NULL;
    struct gcp_error e;

    if (err) {
        op->cb(op->ud, err, NULL);
        goto done;
    }
    root = json_loadb(resp->body ? resp->body : "", resp->body_len, 0, NULL);
    if (json_is_true(json_object_get(root, "done"))) {
        struct gcp_gcs_object o;

        if (parse_object(json_object_get(root, "resource"), &o) < 0) {
            proto_err(&e, "POST", op->what, resp->status, "rewrite done without resource");
            op->cb(op->ud, &e, NULL);
        } else {
            op->cb(op->ud, NULL, &o);
        }
        goto done;
    }
    {
        const char *tok = json_string_value(json_object_get(root, "rewriteToken"));

        if (!tok || ++op->rounds > 10000) {
            proto_err(&e, "POST", op->what, resp->status,
                      tok ? "rewrite does not finish" : "rewrite not done and no rewriteToken");
            op->cb(op->ud, &e, NULL);
            goto done;
        }
        if (copy_step(op, tok, &e) < 0) {
            op->cb(op->ud, &e, NULL);
            goto done;
        }
    }
    json_decref(root);
    return;
done:
    json_decref(root);
    free(op->url);
    free(op);
}

static int copy_step(struct copy_op *op, const char *token, struct gcp_error *err)
{
    struct gcp__buf u = {0};
    struct gcp__req_spec s;
    int ok = gcp__buf_printf(&u, "%s", op->url) == 0;
    static const char empty[] = "{}";

    if (ok && token) {
        char *et = gcp__escape(token);

        ok = et &&
             gcp__buf_printf(&u, "%crewriteToken=%s", strchr(op->url, '?') ? '&' : '?', et) == 0;
        free(et);
    }
    if (!ok) {
        gcp__buf_free(&u);
        gcp__seterr(err, GCP_ENOMEM, 0, "POST %s: out of memory", op->what);
        return -1;
    }
    memset(&s, 0, sizeof s);
    s.method = "POST";
    s.url = u.p;
    s.what = op->what;
    s.body = empty;
    s.body_len = 2;
    s.has_body = 1;
    s.retry = op->if_gen == GCP_GCS_NO_PRECONDITION ? GCP__RETRY_NEVER : GCP__RETRY_IDEMPOTENT;
    if (!gcs_request(op->g, &s, on_copy, op, err)) {
        gcp__buf_free(&u);
        return -1;
    }
    gcp__buf_free(&u);
    return 0;
}

int gcp_gcs_copy(struct gcp_gcs *g, const char *src_bucket, const char *src_name,
                 const char *dst_bucket, const char *dst_name, int64_t if_generation_match,
                 gcp_gcs_object_cb cb, void *ud)
{
    struct copy_op *op;
    struct gcp__buf u = {0};
    struct gcp_error e = {0};

    if (!g || !cb || check_bucket(src_bucket) < 0 || check_object(src_name) < 0 ||
        check_bucket(dst_bucket) < 0 || check_object(dst_name) < 0)
        return GCP_EINVAL;
    op = calloc(1, sizeof *op);
    if (!op)
        return GCP_ENOMEM;
    op->g = g;
    op->cb = cb;
    op->ud = ud;
    op->if_gen = if_generation_match;
    fmt_what(op->what, sizeof op->what, "gs://%s/%s -> gs://%s/%s", src_bucket, src_name,
             dst_bucket, dst_name);
    if (gcp__buf_printf(&u, "%s/storage/v1", g->base) < 0 ||
        add_path(&u, src_bucket, src_name) < 0 || gcp__buf_add(&u, "/rewriteTo", 10) < 0 ||
        add_path(&u, dst_bucket, dst_name) < 0 || precond_arg(&u, if_generation_match, '?') < 0) {
        gcp__buf_free(&u);
        free(op);
        return GCP_ENOMEM;
    }
    op->url = u.p;
    if (copy_step(op, NULL, &e) < 0) {
        free(op->url);
        free(op);
        return e.code ? e.code : GCP_ENOMEM;
    }
    return 0;
}

/* ---- downloads ---- */

struct dl_op {
    gcp_gcs_object_cb obj_cb;
    gcp_gcs_data_cb data_cb;
    void *ud;
    char *bucket, *name, *path;
    char what[300];
    int fd;
    struct gcp__buf mem;
    uint64_t got, max_bytes;
    uint32_t crc;
    int ranged;
    int write_errno; /* why the file sink failed (ENOSPC, EFBIG, EIO) */
};

static int dl_sink(void *ud, const void *data, size_t len)
{
    struct dl_op *op = ud;

    if (op->max_bytes && op->got + len > op->max_bytes)
        return GCP_ETOOBIG;
    if (op->fd >= 0) {
        const char *p = data;
        size_t left = len;

        while (left) {
            ssize_t w = write(op->fd, p, left);

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                op->write_errno = w < 0 ? errno : EIO;
                return GCP_EIO;
            }
            p += w;
            left -= (size_t)w;
        }
    } else if (gcp__buf_add(&op->mem, data, len) < 0) {
        return GCP_ENOMEM;
    }
    op->crc = gcp_crc32c(op->crc, data, len);
    op->got += len;
    return 0;
}

/* Empties fd and rewinds it; truncates only a file that has bytes: ext4
 * (auto_da_alloc) writes a truncated file back to disk on close, which for
 * a fresh scratch file costs block allocation, I/O and a dearer unlink. */
static int make_empty(int fd)
{
    struct stat st;

    if (fstat(fd, &st) != 0 || (st.st_size > 0 && ftruncate(fd, 0) != 0))
        return -1;
    return lseek(fd, 0, SEEK_SET) < 0 ? -1 : 0;
}

/* open(O_CREAT | O_TRUNC), through make_empty. */
static int open_empty(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

    if (fd >= 0 && make_empty(fd) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void dl_reset(void *ud)
{
    struct dl_op *op = ud;

    op->got = 0;
    op->crc = 0;
    op->mem.len = 0;
    op->write_errno = 0;
    if (op->fd >= 0)
        make_empty(op->fd);
}

struct hash_find {
    uint32_t crc;
    int found;
};

static void find_crc(void *ud, const char *value)
{
    struct hash_find *hf = ud;
    const char *p = value;

    /* x-goog-hash: crc32c=...,md5=... (possibly as separate headers). */
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncmp(p, "crc32c=", 7) == 0) {
            char b[16];
            size_t n = strcspn(p + 7, ", ");

            if (n < sizeof b) {
                memcpy(b, p + 7, n);
                b[n] = '\0';
                if (crc_from_b64(b, &hf->crc) == 0)
                    hf->found = 1;
            }
        }
        p = strchr(p, ',');
    }
}

static void dl_finish(struct dl_op *op, const struct gcp_error *err, const struct gcp_gcs_object *o)
{
    if (err && op->fd >= 0 && op->path)
        unlink(op->path);
    if (op->fd >= 0)
        close(op->fd);
    if (op->data_cb)
        op->data_cb(op->ud, err, err ? NULL : o, err ? NULL : op->mem.p, err ? 0 : op->mem.len);
    else
        op->obj_cb(op->ud, err, err ? NULL : o);
    gcp__buf_free(&op->mem);
    free(op->bucket);
    free(op->name);
    free(op->path);
    free(op);
}

static void on_download(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct dl_op *op = ud;
    struct gcp_gcs_object o;
    struct hash_find hf = {0, 0};
    char gen[32], mgen[32], ctype[128], slen[32];
    struct gcp_error e;

    if (err && err->code == GCP_EIO && op->write_errno) { /* say why, not just "local i/o" */
        gcp__seterr(&e, GCP_EIO, err->http_status, "GET %s: cannot write %s: %s", op->what,
                    op->path, strerror(op->write_errno));
        dl_finish(op, &e, NULL);
        return;
    }
    if (err) {
        dl_finish(op, err, NULL);
        return;
    }
    memset(&o, 0, sizeof o);
    o.bucket = op->bucket;
    o.name = op->name;
    if (gcp__resp_header(resp, "x-goog-generation", gen, sizeof gen) == 0)
        o.generation = strtoll(gen, NULL, 10);
    if (gcp__resp_header(resp, "x-goog-metageneration", mgen, sizeof mgen) == 0)
        o.metageneration = strtoll(mgen, NULL, 10);
    if (gcp__resp_header(resp, "Content-Type", ctype, sizeof ctype) == 0)
        o.content_type = ctype;
    o.size = op->got;
    if (gcp__resp_header(resp, "x-goog-stored-content-length", slen, sizeof slen) == 0)
        o.size = strtoull(slen, NULL, 10);
    gcp__resp_headers_each(resp, "x-goog-hash", find_crc, &hf);
    /* The hash covers the whole object: check only what is the whole object. */
    if (hf.found && (!op->ranged || resp->status == 200)) {
        o.crc32c = hf.crc;
        o.has_crc32c = 1;
        if (hf.crc != op->crc) {
            char want[9], got[9];

            gcp_crc32c_base64(hf.crc, want);
            gcp_crc32c_base64(op->crc, got);
            gcp__seterr(&e, GCP_ECHECKSUM, (int)resp->status,
                        "GET %s: crc32c mismatch: x-goog-hash says %s, received bytes give %s "
                        "(%" PRIu64 " bytes)",
                        op->what, want, got, op->got);
            dl_finish(op, &e, NULL);
            return;
        }
    }
    dl_finish(op, NULL, &o);
}

static int download(struct gcp_gcs *g, const char *bucket, const char *name, const char *path,
                    const struct gcp_gcs_read_opts *opts, gcp_gcs_object_cb ocb,
                    gcp_gcs_data_cb dcb, void *ud)
{
    struct dl_op *op;
    struct gcp__buf u = {0};
    struct gcp__req_spec s;
    struct gcp_error e = {0};
    char range[80];
    const char *hdrs[2] = {NULL, NULL};

    if (!g || (!ocb && !dcb) || check_bucket(bucket) < 0 || check_object(name) < 0)
        return GCP_EINVAL;
    if (opts && (opts->offset < 0 || opts->length < 0))
        return GCP_EINVAL;
    op = calloc(1, sizeof *op);
    if (!op)
        return GCP_ENOMEM;
    op->fd = -1;
    op->obj_cb = ocb;
    op->data_cb = dcb;
    op->ud = ud;
    op->bucket = strdup(bucket);
    op->name = strdup(name);
    op->path = path ? strdup(path) : NULL;
    op->max_bytes = opts ? opts->max_bytes : 0;
    fmt_what(op->what, sizeof op->what, "gs://%s/%s", bucket, name);
    if (!op->bucket || !op->name || (path && !op->path) ||
        gcp__buf_printf(&u, "%s/storage/v1", g->base) < 0 || add_path(&u, bucket, name) < 0 ||
        gcp__buf_add(&u, "?alt=media", 10) < 0) {
        e.code = GCP_ENOMEM;
        goto fail;
    }
    if (opts && (opts->offset > 0 || opts->length > 0)) {
        op->ranged = 1;
        if (opts->length > 0)
            snprintf(range, sizeof range, "Range: bytes=%" PRId64 "-%" PRId64, opts->offset,
                     opts->offset + opts->length - 1);
        else
            snprintf(range, sizeof range, "Range: bytes=%" PRId64 "-", opts->offset);
        hdrs[0] = range;
    }
    if (path) {
        op->fd = open_empty(path);
        if (op->fd < 0) {
            e.code = GCP_EIO;
            goto fail;
        }
    }
    memset(&s, 0, sizeof s);
    s.method = "GET";
    s.url = u.p;
    s.what = op->what;
    s.headers = hdrs;
    s.retry = GCP__RETRY_IDEMPOTENT;
    s.sink = dl_sink;
    s.sink_reset = dl_reset;
    s.sink_ud = op;
    s.timeout_ms = CHUNK_TIMEOUT_MS;
    if (!gcs_request(g, &s, on_download, op, &e))
        goto fail;
    gcp__buf_free(&u);
    return 0;
fail:
    gcp__buf_free(&u);
    if (op->fd >= 0) {
        close(op->fd);
        unlink(path);
    }
    free(op->bucket);
    free(op->name);
    free(op->path);
    free(op);
    return e.code ? e.code : GCP_ENOMEM;
}

int gcp_gcs_download_file(struct gcp_gcs *g, const char *bucket, const char *name, const char *path,
                          const struct gcp_gcs_read_opts *opts, gcp_gcs_object_cb cb, void *ud)
{
    if (!path || !cb)
        return GCP_EINVAL;
    return download(g, bucket, name, path, opts, cb, NULL, ud);
}

int gcp_gcs_download_mem(struct gcp_gcs *g, const char *bucket, const char *name,
                         const struct gcp_gcs_read_opts *opts, gcp_gcs_data_cb cb, void *ud)
{
    if (!cb)
        return GCP_EINVAL;
    return download(g, bucket, name, NULL, opts, NULL, cb, ud);
}

/* ---- uploads ---- */

enum up_state { UP_SIMPLE, UP_INIT, UP_CHUNK, UP_QUERY };

struct up_op {
    struct gcp_gcs *g;
    struct up_op *prev, *next; /* in g->waiting while the timer runs */
    gcp_gcs_object_cb cb;
    void *ud;
    char *bucket, *name, *content_type;
    char what[300];
    int64_t if_gen;
    unsigned char *data; /* whole object (memory uploads, small files) */
    int fd;              /* large file uploads read chunks from here */
    uint64_t total, offset, chunk;
    uint32_t crc;
    char *session;        /* resumable upload URI */
    struct gcp__buf body; /* multipart body, metadata, or the current chunk */
    enum up_state state;
    int failures, restarts;
    ev_timer timer;
};

static void up_free(struct up_op *op)
{
    if (op->fd >= 0)
        close(op->fd);
    free(op->data);
    free(op->bucket);
    free(op->name);
    free(op->content_type);
    free(op->session);
    gcp__buf_free(&op->body);
    free(op);
}

static void up_finish(struct up_op *op, const struct gcp_error *err, const struct gcp_gcs_object *o)
{
    op->cb(op->ud, err, o);
    up_free(op);
}

static void up_fail_code(struct up_op *op, int code, const char *why)
{
    struct gcp_error e;

    gcp__seterr(&e, code, 0, "upload %s: %s", op->what, why);
    up_finish(op, &e, NULL);
}

static void on_cleanup(void *ud, const struct gcp_error *err)
{
    (void)ud;
    (void)err; /* best effort: the caller already has GCP_ECHECKSUM */
}

/* Deletes exactly one generation (the corrupt result of an upload). */
static void delete_generation(struct gcp_gcs *g, const char *bucket, const char *name, int64_t gen)
{
    struct gcp__buf u = {0};
    char what[300];

    fmt_what(what, sizeof what, "gs://%s/%s#%" PRId64, bucket, name, gen);
    if (gcp__buf_printf(&u, "%s/storage/v1", g->base) < 0 || add_path(&u, bucket, name) < 0 ||
        gcp__buf_printf(&u, "?generation=%" PRId64 "&ifGenerationMatch=%" PRId64, gen, gen) < 0) {
        gcp__buf_free(&u);
        return;
    }
    simple_call(g, "DELETE", &u, what, NULL, GCP__RETRY_IDEMPOTENT, NULL, on_cleanup, NULL);
}

/* The final answer of an upload: the object resource, CRC32C compared. A
 * stored object whose CRC32C differs from what was sent is deleted (that
 * generation only) and reported as GCP_ECHECKSUM (docs/gcp.md "Uploads and
 * integrity"). */
static void up_done(struct up_op *op, struct gcp__resp *resp)
{
    json_t *root;
    struct gcp_gcs_object o;
    struct gcp_error e;

    if (gcp__gcs_parse_object(resp->body, resp->body_len, &o, &root, NULL) < 0) {
        proto_err(&e, "upload", op->what, resp->status, "response is not an object resource");
        up_finish(op, &e, NULL);
    } else if (o.has_crc32c && o.crc32c != op->crc) {
        gcp__seterr(&e, GCP_ECHECKSUM, (int)resp->status,
                    "upload %s: stored crc32c %08" PRIx32 " differs from the sent %08" PRIx32,
                    op->what, o.crc32c, op->crc);
        if (o.generation > 0)
            delete_generation(op->g, op->bucket, op->name, o.generation);
        up_finish(op, &e, NULL);
    } else {
        up_finish(op, NULL, &o);
    }
    json_decref(root);
}

static void on_upload(void *ud, const struct gcp_error *err, struct gcp__resp *resp);

static int up_send(struct up_op *op, const char *method, const char *url, const char *ctype,
                   const char *const *hdrs, enum gcp__retry retry, int accept_308, long timeout_ms,
                   struct gcp_error *err)
{
    struct gcp__req_spec s;

    memset(&s, 0, sizeof s);
    s.method = method;
    s.url = url;
    s.what = op->what;
    s.headers = hdrs;
    s.body = op->body.p;
    s.body_len = op->body.len;
    s.has_body = 1;
    s.content_type = ctype;
    s.retry = retry;
    s.accept_308 = accept_308;
    s.timeout_ms = timeout_ms;
    s.max_body = 1u << 20;
    return gcs_request(op->g, &s, on_upload, op, err) ? 0 : -1;
}

static int up_start_init(struct up_op *op, struct gcp_error *err);
static int up_send_chunk(struct up_op *op, struct gcp_error *err);
static int up_query(struct up_op *op, struct gcp_error *err);

static char *metadata_json(struct up_op *op)
{
    char crc[9];
    json_t *m;
    char *s;

    gcp_crc32c_base64(op->crc, crc);
    m = json_pack("{s:s, s:s, s:s}", "name", op->name, "contentType", op->content_type, "crc32c",
                  crc);
    s = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    return s;
}

static int up_upload_url(struct up_op *op, struct gcp__buf *u, const char *type)
{
    char *en = gcp__escape(op->name);
    int ok;

    ok = en && gcp__buf_printf(u, "%s/upload/storage/v1", op->g->base) == 0 &&
         add_path(u, op->bucket, NULL) == 0 &&
         gcp__buf_printf(u, "/o?uploadType=%s&name=%s", type, en) == 0 &&
         precond_arg(u, op->if_gen, '&') == 0;
    free(en);
    return ok ? 0 : -1;
}

static int up_start_simple(struct up_op *op, struct gcp_error *err)
{
    struct gcp__buf u = {0};
    char *meta = metadata_json(op);
    char boundary[48], ctype[96];
    int rc = -1;

    snprintf(boundary, sizeof boundary, "wiggly-%08" PRIx32 "%08lx", op->crc,
             (unsigned long)(uintptr_t)op ^ (unsigned long)op->total);
    snprintf(ctype, sizeof ctype, "multipart/related; boundary=%s", boundary);
    op->body.len = 0;
    if (meta && up_upload_url(op, &u, "multipart") == 0 &&
        gcp__buf_printf(&op->body,
                        "--%s\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n%s\r\n"
                        "--%s\r\nContent-Type: %s\r\n\r\n",
                        boundary, meta, boundary, op->content_type) == 0 &&
        gcp__buf_add(&op->body, op->data, (size_t)op->total) == 0 &&
        gcp__buf_printf(&op->body, "\r\n--%s--\r\n", boundary) == 0) {
        op->state = UP_SIMPLE;
        rc = up_send(op, "POST", u.p, ctype, NULL,
                     op->if_gen == GCP_GCS_NO_PRECONDITION ? GCP__RETRY_NEVER
                                                           : GCP__RETRY_IDEMPOTENT,
                     0, CHUNK_TIMEOUT_MS, err);
    } else {
        gcp__seterr(err, GCP_ENOMEM, 0, "upload %s: out of memory", op->what);
    }
    free(meta);
    gcp__buf_free(&u);
    /* The multipart copy is what is sent; the plain copy is not needed. */
    if (rc == 0) {
        free(op->data);
        op->data = NULL;
    }
    return rc;
}

static int up_start_init(struct up_op *op, struct gcp_error *err)
{
    struct gcp__buf u = {0};
    char *meta = metadata_json(op);
    char h1[160], h2[64];
    const char *hdrs[3] = {h1, h2, NULL};
    int rc = -1;

    snprintf(h1, sizeof h1, "X-Upload-Content-Type: %s", op->content_type);
    snprintf(h2, sizeof h2, "X-Upload-Content-Length: %" PRIu64, op->total);
    op->body.len = 0;
    free(op->session);
    op->session = NULL;
    op->offset = 0;
    if (meta && up_upload_url(op, &u, "resumable") == 0 &&
        gcp__buf_add(&op->body, meta, strlen(meta)) == 0) {
        op->state = UP_INIT;
        /* Starting a session changes nothing until it is finalized, so it
         * is safe to retry whatever the precondition. */
        rc = up_send(op, "POST", u.p, "application/json; charset=UTF-8", hdrs,
                     GCP__RETRY_IDEMPOTENT, 0, 0, err);
    } else {
        gcp__seterr(err, GCP_ENOMEM, 0, "upload %s: out of memory", op->what);
    }
    free(meta);
    gcp__buf_free(&u);
    return rc;
}

static int up_send_chunk(struct up_op *op, struct gcp_error *err)
{
    uint64_t len = op->total - op->offset;
    char cr[96];
    const char *hdrs[2] = {cr, NULL};

    if (len > op->chunk)
        len = op->chunk;
    op->body.len = 0;
    if (len == 0) {
        snprintf(cr, sizeof cr, "Content-Range: bytes */%" PRIu64, op->total);
    } else {
        snprintf(cr, sizeof cr, "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, op->offset,
                 op->offset + len - 1, op->total);
        if (op->data) {
            if (gcp__buf_add(&op->body, op->data + op->offset, (size_t)len) < 0)
                goto nomem;
        } else {
            size_t got = 0;

            if (gcp__buf_add(&op->body, NULL, 0) < 0)
                goto nomem;
            if (op->body.cap < len + 1) {
                char *p = realloc(op->body.p, (size_t)len + 1);

                if (!p)
                    goto nomem;
                op->body.p = p;
                op->body.cap = (size_t)len + 1;
            }
            while (got < len) {
                ssize_t r =
                    pread(op->fd, op->body.p + got, (size_t)(len - got), (off_t)(op->offset + got));

                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0) {
                    gcp__seterr(err, GCP_EIO, 0, "upload %s: reading the file: %s", op->what,
                                r < 0 ? strerror(errno) : "file shrank");
                    return -1;
                }
                got += (size_t)r;
            }
            op->body.len = got;
        }
    }
    op->state = UP_CHUNK;
    /* A chunk failure is handled here (status query + resume), not by a
     * blind engine retry. */
    return up_send(op, "PUT", op->session, "application/octet-stream", hdrs, GCP__RETRY_NEVER, 1,
                   CHUNK_TIMEOUT_MS, err);
nomem:
    gcp__seterr(err, GCP_ENOMEM, 0, "upload %s: out of memory", op->what);
    return -1;
}

static int up_query(struct up_op *op, struct gcp_error *err)
{
    char cr[64];
    const char *hdrs[2] = {cr, NULL};

    snprintf(cr, sizeof cr, "Content-Range: bytes */%" PRIu64, op->total);
    op->body.len = 0;
    op->state = UP_QUERY;
    return up_send(op, "PUT", op->session, "application/octet-stream", hdrs, GCP__RETRY_IDEMPOTENT,
                   1, 0, err);
}

static void up_unwait(struct up_op *op)
{
    struct gcp_gcs *g = op->g;

    if (op->prev)
        op->prev->next = op->next;
    else
        g->waiting = op->next;
    if (op->next)
        op->next->prev = op->prev;
    op->prev = op->next = NULL;
}

static void on_up_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct up_op *op = w->data;
    struct gcp_error e = {0};
    int rc;

    (void)loop;
    (void)revents;
    up_unwait(op);
    rc = op->session ? up_query(op, &e) : up_start_init(op, &e);
    if (rc < 0)
        up_finish(op, &e, NULL);
}

/* Sleeps, then asks the server how much it has (or starts a new session). */
static void up_backoff(struct up_op *op)
{
    struct gcp_gcs *g = op->g;
    double d = gcp__http_backoff(g->http, op->failures);

    op->failures++;
    ev_timer_init(&op->timer, on_up_timer, d, 0.);
    op->timer.data = op;
    op->next = g->waiting;
    if (g->waiting)
        g->waiting->prev = op;
    g->waiting = op;
    ev_timer_start(gcp__http_loop(g->http), &op->timer);
}

/* 308: Range: bytes=0-N says what the server has. */
static int persisted_from(struct gcp__resp *resp, uint64_t *next)
{
    char r[64];
    const char *dash;

    if (gcp__resp_header(resp, "Range", r, sizeof r) < 0) {
        *next = 0;
        return 0;
    }
    dash = strchr(r, '-');
    if (!dash)
        return -1;
    *next = strtoull(dash + 1, NULL, 10) + 1;
    return 0;
}

static void on_upload(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct up_op *op = ud;
    struct gcp_error e = {0};
    int max_failures = gcp__http_opts(op->g->http)->max_retries;

    if (err) {
        int transient = gcp_error_is_transient(err->code) || resp->status == 408;
        int gone = resp->status == 404 || resp->status == 410;

        if (err->code == GCP_ECANCELED || op->state == UP_SIMPLE || op->state == UP_INIT) {
            up_finish(op, err, NULL);
            return;
        }
        if (gone && op->restarts < 2) {
            /* The session expired: start over with a new one. */
            op->restarts++;
            free(op->session);
            op->session = NULL;
            if (up_start_init(op, &e) < 0)
                up_finish(op, &e, NULL);
            return;
        }
        if (op->state == UP_CHUNK && transient && op->failures < max_failures) {
            up_backoff(op);
            return;
        }
        up_finish(op, err, NULL);
        return;
    }
    switch (op->state) {
    case UP_SIMPLE:
        up_done(op, resp);
        return;
    case UP_INIT: {
        char loc[2048];

        if (gcp__resp_header(resp, "Location", loc, sizeof loc) < 0) {
            proto_err(&e, "POST", op->what, resp->status, "resumable upload without Location");
            up_finish(op, &e, NULL);
            return;
        }
        op->session = strdup(loc);
        if (!op->session) {
            up_fail_code(op, GCP_ENOMEM, "out of memory");
            return;
        }
        op->offset = 0;
        if (up_send_chunk(op, &e) < 0)
            up_finish(op, &e, NULL);
        return;
    }
    case UP_CHUNK:
    case UP_QUERY:
        if (resp->status == 308) {
            uint64_t next;

            if (persisted_from(resp, &next) < 0 || next > op->total) {
                proto_err(&e, "PUT", op->what, resp->status, "bad Range in 308");
                up_finish(op, &e, NULL);
                return;
            }
            if (op->state == UP_CHUNK) {
                if (next > op->offset) {
                    op->failures = 0;
                } else if (op->total > 0 && ++op->failures > max_failures) {
                    up_fail_code(op, GCP_EUNAVAILABLE, "the server persists none of the chunk");
                    return;
                }
            }
            op->offset = next;
            if (up_send_chunk(op, &e) < 0)
                up_finish(op, &e, NULL);
            return;
        }
        up_done(op, resp);
        return;
    }
}

static int upload(struct gcp_gcs *g, const char *bucket, const char *name, const char *path,
                  const void *data, size_t len, const struct gcp_gcs_write_opts *opts,
                  gcp_gcs_object_cb cb, void *ud)
{
    struct up_op *op;
    struct gcp_error e = {0};
    size_t threshold =
        opts && opts->resumable_threshold ? opts->resumable_threshold : DEFAULT_THRESHOLD;
    size_t chunk = opts && opts->chunk_size ? opts->chunk_size : DEFAULT_CHUNK;
    int rc;

    if (!g || !cb || check_bucket(bucket) < 0 || check_object(name) < 0 || (!path && len && !data))
        return GCP_EINVAL;
    if (chunk % CHUNK_QUANTUM != 0)
        return GCP_EINVAL;
    if (opts && opts->content_type) {
        const char *p;

        for (p = opts->content_type; *p; p++)
            if (*p < 0x20 || *p > 0x7e)
                return GCP_EINVAL;
    }
    if (g->closing)
        return GCP_ECANCELED;
    op = calloc(1, sizeof *op);
    if (!op)
        return GCP_ENOMEM;
    op->g = g;
    op->cb = cb;
    op->ud = ud;
    op->fd = -1;
    op->chunk = chunk;
    op->if_gen = opts ? opts->if_generation_match : GCP_GCS_NO_PRECONDITION;
    op->bucket = strdup(bucket);
    op->name = strdup(name);
    op->content_type =
        strdup(opts && opts->content_type ? opts->content_type : "application/octet-stream");
    fmt_what(op->what, sizeof op->what, "gs://%s/%s", bucket, name);
    rc = GCP_ENOMEM;
    if (!op->bucket || !op->name || !op->content_type)
        goto fail;
    if (path) {
        struct stat st;
        unsigned char *buf;
        uint64_t off = 0;

        rc = GCP_EIO;
        op->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (op->fd < 0 || fstat(op->fd, &st) < 0 || !S_ISREG(st.st_mode))
            goto fail;
        op->total = (uint64_t)st.st_size;
        buf = malloc(1u << 20);
        if (!buf) {
            rc = GCP_ENOMEM;
            goto fail;
        }
        while (off < op->total) {
            ssize_t r = pread(op->fd, buf, 1u << 20, (off_t)off);

            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            op->crc = gcp_crc32c(op->crc, buf, (size_t)r);
            off += (uint64_t)r;
        }
        free(buf);
        if (off != op->total)
            goto fail;
        if (op->total <= threshold) {
            op->data = malloc(op->total ? (size_t)op->total : 1);
            if (!op->data || pread(op->fd, op->data, (size_t)op->total, 0) != (ssize_t)op->total)
                goto fail;
            close(op->fd);
            op->fd = -1;
        }
    } else {
        op->total = len;
        op->data = malloc(len ? len : 1);
        if (!op->data)
            goto fail;
        if (len)
            memcpy(op->data, data, len);
        op->crc = gcp_crc32c(0, data, len);
    }
    rc = op->total <= threshold ? up_start_simple(op, &e) : up_start_init(op, &e);
    if (rc < 0) {
        rc = e.code ? e.code : GCP_ENOMEM;
        goto fail;
    }
    return 0;
fail:
    up_free(op);
    return rc;
}

int gcp_gcs_upload_file(struct gcp_gcs *g, const char *bucket, const char *name, const char *path,
                        const struct gcp_gcs_write_opts *opts, gcp_gcs_object_cb cb, void *ud)
{
    if (!path)
        return GCP_EINVAL;
    return upload(g, bucket, name, path, NULL, 0, opts, cb, ud);
}

int gcp_gcs_upload_mem(struct gcp_gcs *g, const char *bucket, const char *name, const void *data,
                       size_t len, const struct gcp_gcs_write_opts *opts, gcp_gcs_object_cb cb,
                       void *ud)
{
    return upload(g, bucket, name, NULL, data, len, opts, cb, ud);
}

void gcp_gcs_destroy(struct gcp_gcs *g)
{
    if (!g)
        return;
    g->closing = 1;
    gcp__group_cancel(&g->group, -1);
    while (g->waiting) {
        struct up_op *op = g->waiting;

        ev_timer_stop(gcp__http_loop(g->http), &op->timer);
        up_unwait(op);
        up_fail_code(op, GCP_ECANCELED, "canceled");
    }
    free(g->base);
    free(g);
}
