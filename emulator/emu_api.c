/* emu_api.c: routing and GCS JSON API operations of the emulator.
 *
 * Routes (after /storage/v1, /download/storage/v1, /upload/storage/v1 or
 * /resumable/upload/storage/v1; object names are one %2F-encoded segment,
 * unencoded '/' is tolerated):
 *   GET|POST b                       bucket list / create
 *   GET|DELETE|PATCH b/B             bucket get / delete (patch = get)
 *   GET b/B/o                        object list
 *   POST b/B/o (upload)              uploadType=media|multipart|resumable
 *   PUT|DELETE b/B/o?upload_id= (upload)  resumable chunk or status / cancel
 *   GET|HEAD|DELETE|PATCH|PUT b/B/o/O     object get (alt=media) / delete / patch
 *   POST b/B/o/O/compose             compose
 *   POST b/B/o/O/{rewriteTo|copyTo}/b/DB/o/DO
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "emulator/emu_multipart.h"
#include "emulator/emu_server_int.h"

enum { API_NONE, API_JSON, API_DOWNLOAD, API_UPLOAD };

static int split_path(struct emu_req *r)
{
    const char *path = r->uri;
    size_t plen = strcspn(path, "?");
    static const struct {
        const char *prefix;
        int api;
    } PREFIXES[] = {
        {"/storage/v1/", API_JSON},
        {"/download/storage/v1/", API_DOWNLOAD},
        {"/upload/storage/v1/", API_UPLOAD},
        {"/resumable/upload/storage/v1/", API_UPLOAD},
    };
    const char *rest = NULL;
    size_t rlen;
    for (size_t i = 0; i < sizeof(PREFIXES) / sizeof(PREFIXES[0]); i++) {
        size_t n = strlen(PREFIXES[i].prefix);
        if (plen >= n - 1 && strncmp(path, PREFIXES[i].prefix, n - 1) == 0 &&
            (plen == n - 1 || path[n - 1] == '/')) {
            r->api = PREFIXES[i].api;
            rest = plen >= n ? path + n : path + plen;
            break;
        }
    }
    if (!rest)
        return 0;
    rlen = plen - (size_t)(rest - path);
    r->seg = calloc(rlen + 2, sizeof(char *));
    if (!r->seg)
        return -1;
    while (rlen > 0) {
        const char *sl = memchr(rest, '/', rlen);
        size_t n = sl ? (size_t)(sl - rest) : rlen;
        size_t dlen;
        char *d = emu_pct_decode(rest, n, &dlen);
        if (!d)
            return -1;
        if (dlen != strlen(d)) {
            /* %00 in a segment: keep it visible so name checks reject it. */
            free(d);
            return -1;
        }
        r->seg[r->nseg++] = d;
        rest += n;
        rlen -= n;
        if (rlen && *rest == '/') {
            rest++;
            rlen--;
            if (rlen == 0)
                r->seg[r->nseg++] = strdup("");
        }
    }
    return 0;
}

static void pending(struct emu_req *r, int status, const char *reason, const char *msg)
{
    if (r->pending_err)
        return;
    emu_err_set(&r->err, status, reason, "%s", msg);
    r->pending_err = 1;
}

static int is_method(const struct emu_req *r, const char *m)
{
    return strcmp(r->method, m) == 0;
}

/* Object name for b/B/o/<segments from i>: joins segments with '/' so an
 * unencoded '/' still works. */
static char *join_name(const struct emu_req *r, size_t from, size_t to)
{
    size_t len = 0;
    char *out;
    for (size_t i = from; i < to; i++)
        len += strlen(r->seg[i]) + 1;
    out = malloc(len + 1);
    if (!out)
        return NULL;
    out[0] = '\0';
    for (size_t i = from; i < to; i++) {
        if (i > from)
            strcat(out, "/");
        strcat(out, r->seg[i]);
    }
    return out;
}

/* ---- resumable chunk parameters ---- */

static int parse_i64(const char *p, const char **end, int64_t *out)
{
    int64_t v = 0;
    const char *s = p;
    while (*s >= '0' && *s <= '9') {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
        s++;
    }
    if (s == p)
        return -1;
    *end = s;
    *out = v;
    return 0;
}

/* Content-Range forms: bytes X-Y/T, bytes X-Y/(star), bytes (star)/T,
 * bytes (star)/(star); "bytes=" is accepted too. */
static int parse_content_range(struct emu_req *r, const char *h)
{
    const char *p = h;
    r->chunk_first = r->chunk_last = r->chunk_total = -1;
    if (strncasecmp(p, "bytes", 5) != 0)
        return -1;
    p += 5;
    if (*p != ' ' && *p != '=')
        return -1;
    while (*p == ' ' || *p == '=')
        p++;
    if (*p == '*') {
        r->chunk_status_query = 1;
        p++;
    } else {
        if (parse_i64(p, &p, &r->chunk_first) < 0 || *p++ != '-' ||
            parse_i64(p, &p, &r->chunk_last) < 0 || r->chunk_last < r->chunk_first)
            return -1;
    }
    if (*p++ != '/')
        return -1;
    if (*p == '*') {
        p++;
    } else if (parse_i64(p, &p, &r->chunk_total) < 0) {
        return -1;
    }
    if (*p)
        return -1;
    if (r->chunk_total >= 0 && r->chunk_last >= r->chunk_total)
        return -1;
    return 0;
}

static uint64_t jget_u64(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    uint64_t x = 0;
    if (json_is_integer(v))
        return (uint64_t)json_integer_value(v);
    if (json_is_string(v))
        emu_parse_u64(json_string_value(v), &x);
    return x;
}

static int64_t jget_i64(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

static void chunk_begin(struct emu_req *r)
{
    const char *id = emu_req_query(r, "upload_id");
    const char *cr = emu_req_header(r, "Content-Range");
    json_t *st = NULL;
    char path[4200];
    uint64_t persisted;
    r->mode = EMU_BODY_DISCARD;
    snprintf(r->upload_id, sizeof(r->upload_id), "%s", id ? id : "");
    if (emu_store_upload_load(r->store, r->upload_id, &st, &r->err) < 0) {
        r->pending_err = 1;
        return;
    }
    if (cr && *cr) {
        if (parse_content_range(r, cr) < 0) {
            json_decref(st);
            pending(r, 400, "invalid", "Malformed Content-Range header.");
            return;
        }
    } else {
        r->chunk_no_range = 1;
        r->chunk_first = 0;
    }
    persisted = jget_u64(st, "persisted");
    r->persisted_at_begin = persisted;
    if (json_is_true(json_object_get(st, "done")) || r->chunk_status_query) {
        json_decref(st);
        return;
    }
    json_decref(st);
    if ((uint64_t)r->chunk_first > persisted) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Chunk starts at byte %lld but only %llu bytes were persisted.",
                 (long long)r->chunk_first, (unsigned long long)persisted);
        pending(r, 400, "invalid", msg);
        return;
    }
    emu_store_upload_data_path(r->store, r->upload_id, path, sizeof(path));
    r->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (r->fd < 0) {
        pending(r, 404, "notFound", "No such upload.");
        return;
    }
    r->skip = persisted - (uint64_t)r->chunk_first;
    r->write_off = persisted;
    r->mode = EMU_BODY_CHUNK;
}

void emu_api_begin(struct emu_req *r)
{
    if (split_path(r) < 0) {
        pending(r, 400, "invalid", "Malformed percent-encoding in the request path.");
        return;
    }
    if (r->bad_query) {
        pending(r, 400, "invalid", "Query parameters must not contain %00.");
        return;
    }
    if (r->api == API_UPLOAD && is_method(r, "PUT") && emu_req_query(r, "upload_id")) {
        chunk_begin(r);
        return;
    }
    if (r->api == API_UPLOAD && is_method(r, "POST")) {
        const char *ut = emu_req_query(r, "uploadType");
        const char *ct = emu_req_header(r, "Content-Type");
        if (ut && strcmp(ut, "resumable") == 0) {
            r->mode = EMU_BODY_MEMORY;
            return;
        }
        r->fd = emu_store_tmpfile(r->store, r->tmp_path, sizeof(r->tmp_path), &r->err);
        if (r->fd < 0) {
            r->pending_err = 1;
            return;
        }
        r->mode = EMU_BODY_FILE;
        if (!(ut && strcmp(ut, "multipart") == 0) &&
            !(!ut && ct && strncasecmp(ct, "multipart/", 10) == 0)) {
            if (emu_hasher_init(&r->hasher) == 0)
                r->hashing = 1;
        }
        return;
    }
    if (is_method(r, "POST") || is_method(r, "PATCH") || is_method(r, "PUT"))
        r->mode = EMU_BODY_MEMORY;
}

/* ---- responses ---- */

static json_t *decorate_object(struct emu_req *r, json_t *o)
{
    char base[300], etag_src[64], etag[100];
    const char *b = json_string_value(json_object_get(o, "bucket"));
    const char *n = json_string_value(json_object_get(o, "name"));
    const char *g = json_string_value(json_object_get(o, "generation"));
    const char *mg = json_string_value(json_object_get(o, "metageneration"));
    char *en = n ? emu_pct_encode(n, strlen(n)) : NULL;
    char *buf;
    size_t cap;
    if (!b || !n || !g || !en) {
        free(en);
        return o;
    }
    emu_req_base(r, base, sizeof(base));
    cap = strlen(base) + strlen(b) * 2 + strlen(en) + strlen(n) + 200;
    buf = malloc(cap);
    if (buf) {
        json_object_set_new(o, "kind", json_string("storage#object"));
        snprintf(buf, cap, "%s/%s/%s", b, n, g);
        json_object_set_new(o, "id", json_string(buf));
        snprintf(buf, cap, "%s/storage/v1/b/%s/o/%s", base, b, en);
        json_object_set_new(o, "selfLink", json_string(buf));
        snprintf(buf, cap, "%s/download/storage/v1/b/%s/o/%s?generation=%s&alt=media", base, b, en,
                 g);
        json_object_set_new(o, "mediaLink", json_string(buf));
        snprintf(etag_src, sizeof(etag_src), "%s/%s", g, mg ? mg : "1");
        emu_base64((const unsigned char *)etag_src, strlen(etag_src), etag);
        json_object_set_new(o, "etag", json_string(etag));
    }
    free(buf);
    free(en);
    return o;
}

static json_t *decorate_bucket(struct emu_req *r, json_t *b)
{
    char base[300], link[600];
    const char *n = json_string_value(json_object_get(b, "name"));
    if (!n)
        return b;
    emu_req_base(r, base, sizeof(base));
    snprintf(link, sizeof(link), "%s/storage/v1/b/%s", base, n);
    json_object_set_new(b, "selfLink", json_string(link));
    return b;
}

static enum MHD_Result respond_object(struct emu_req *r, json_t *o)
{
    return emu_req_json(r, 200, decorate_object(r, o));
}

/* ---- preconditions ---- */

static int parse_pc(struct emu_req *r, const char *src, struct emu_precond *pc)
{
    static const char *const NAMES[] = {"GenerationMatch", "GenerationNotMatch",
                                        "MetagenerationMatch", "MetagenerationNotMatch"};
    int *has[] = {&pc->has_gen_match, &pc->has_gen_not_match, &pc->has_meta_match,
                  &pc->has_meta_not_match};
    uint64_t *val[] = {&pc->gen_match, &pc->gen_not_match, &pc->meta_match, &pc->meta_not_match};
    memset(pc, 0, sizeof(*pc));
    for (int i = 0; i < 4; i++) {
        char key[64];
        const char *v;
        snprintf(key, sizeof(key), "if%s%s", src, NAMES[i]);
        v = emu_req_query(r, key);
        if (!v)
            continue;
        if (emu_parse_u64(v, val[i]) < 0)
            return emu_err_set(&r->err, 400, "invalid", "Invalid value for %s: '%s'", key, v);
        *has[i] = 1;
    }
    return 0;
}

static int parse_generation(struct emu_req *r, const char *key, uint64_t *gen)
{
    const char *v = emu_req_query(r, key);
    *gen = 0;
    if (v && emu_parse_u64(v, gen) < 0)
        return emu_err_set(&r->err, 400, "invalid", "Invalid value for %s: '%s'", key, v);
    return 0;
}

/* ---- checksum validation ---- */

/* Finds "key=value" in an x-goog-hash header (comma separated, possibly
 * repeated); copies value into out. */
static int goog_hash_value(const char *h, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    const char *p = h;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t n = strcspn(p + kl + 1, ", ");
            if (n + 1 > cap)
                return -1;
            memcpy(out, p + kl + 1, n);
            out[n] = '\0';
            return 0;
        }
        p = strchr(p, ',');
    }
    return -1;
}

static int check_hashes(struct emu_req *r, json_t *attrs, const char *crc, const char *md5)
{
    const char *want_crc = json_string_value(json_object_get(attrs, "crc32c"));
    const char *want_md5 = json_string_value(json_object_get(attrs, "md5Hash"));
    const char *gh = emu_req_header(r, "x-goog-hash");
    char v[64];
    if (want_crc && strcmp(want_crc, crc) != 0)
        return emu_err_set(&r->err, 400, "invalid",
                           "Provided CRC32C \"%s\" doesn't match calculated CRC32C \"%s\".",
                           want_crc, crc);
    if (want_md5 && md5 && strcmp(want_md5, md5) != 0)
        return emu_err_set(&r->err, 400, "invalid",
                           "Provided MD5 hash \"%s\" doesn't match calculated MD5 hash \"%s\".",
                           want_md5, md5);
    if (gh && goog_hash_value(gh, "crc32c", v, sizeof(v)) == 0 && strcmp(v, crc) != 0)
        return emu_err_set(&r->err, 400, "invalid",
                           "Provided CRC32C \"%s\" doesn't match calculated CRC32C \"%s\".", v,
                           crc);
    if (gh && md5 && goog_hash_value(gh, "md5", v, sizeof(v)) == 0 && strcmp(v, md5) != 0)
        return emu_err_set(&r->err, 400, "invalid",
                           "Provided MD5 hash \"%s\" doesn't match calculated MD5 hash \"%s\".", v,
                           md5);
    return 0;
}

static json_t *parse_body_json(struct emu_req *r, int required)
{
    json_error_t je;
    json_t *j;
    if (r->body_too_big) {
        emu_err_set(&r->err, 413, "uploadTooLarge", "Request body larger than %d bytes.",
                    EMU_BODY_MAX);
        return NULL;
    }
    if (!r->body || r->body_len == 0) {
        if (required) {
            emu_err_set(&r->err, 400, "required", "A JSON request body is required.");
            return NULL;
        }
        return json_object();
    }
    j = json_loadb(r->body, r->body_len, 0, &je);
    if (!json_is_object(j)) {
        json_decref(j);
        emu_err_set(&r->err, 400, "parseError", "Invalid JSON body: %s", je.text);
        return NULL;
    }
    return j;
}

/* ---- buckets ---- */

static enum MHD_Result do_buckets(struct emu_req *r)
{
    json_t *out = NULL, *body;
    if (r->nseg == 1 && is_method(r, "GET")) {
        json_t *items;
        if (emu_store_bucket_list(r->store, &items, &r->err) < 0)
            return emu_req_error(r, &r->err);
        for (size_t i = 0; i < json_array_size(items); i++)
            decorate_bucket(r, json_array_get(items, i));
        out = json_pack("{s:s}", "kind", "storage#buckets");
        if (json_array_size(items))
            json_object_set(out, "items", items);
        json_decref(items);
        return emu_req_json(r, 200, out);
    }
    if (r->nseg == 1 && is_method(r, "POST")) {
        const char *name;
        body = parse_body_json(r, 1);
        if (!body)
            return emu_req_error(r, &r->err);
        name = json_string_value(json_object_get(body, "name"));
        if (!name) {
            json_decref(body);
            return emu_req_errorf(r, 400, "required", "Required bucket name is missing.");
        }
        if (emu_store_bucket_create(r->store, name, &out, &r->err) < 0) {
            json_decref(body);
            return emu_req_error(r, &r->err);
        }
        json_decref(body);
        return emu_req_json(r, 200, decorate_bucket(r, out));
    }
    if (r->nseg == 2 && (is_method(r, "GET") || is_method(r, "HEAD") || is_method(r, "PATCH"))) {
        if (emu_store_bucket_get(r->store, r->seg[1], &out, &r->err) < 0)
            return emu_req_error(r, &r->err);
        return emu_req_json(r, 200, decorate_bucket(r, out));
    }
    if (r->nseg == 2 && is_method(r, "DELETE")) {
        if (emu_store_bucket_delete(r->store, r->seg[1], &r->err) < 0)
            return emu_req_error(r, &r->err);
        return emu_req_empty(r, 204);
    }
    return emu_req_errorf(r, 405, "methodNotAllowed", "%s is not supported here.", r->method);
}

/* ---- object list ---- */

static enum MHD_Result do_list(struct emu_req *r)
{
    struct emu_list_query q = {0};
    const char *mr = emu_req_query(r, "maxResults");
    const char *itd = emu_req_query(r, "includeTrailingDelimiter");
    json_t *res, *items;
    q.prefix = emu_req_query(r, "prefix");
    q.delimiter = emu_req_query(r, "delimiter");
    q.page_token = emu_req_query(r, "pageToken");
    q.start_offset = emu_req_query(r, "startOffset");
    q.end_offset = emu_req_query(r, "endOffset");
    q.match_glob = emu_req_query(r, "matchGlob");
    q.include_trailing_delimiter = itd && strcasecmp(itd, "true") == 0;
    if (mr) {
        uint64_t v;
        if (emu_parse_u64(mr, &v) < 0)
            return emu_req_errorf(r, 400, "invalid", "Invalid value for maxResults: '%s'", mr);
        q.max_results = v > 1000 ? 1000 : (unsigned)v;
    }
    if (emu_store_object_list(r->store, r->seg[1], &q, &res, &r->err) < 0)
        return emu_req_error(r, &r->err);
    json_object_set_new(res, "kind", json_string("storage#objects"));
    items = json_object_get(res, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        decorate_object(r, json_array_get(items, i));
    return emu_req_json(r, 200, res);
}

/* ---- object get / media ---- */

/* The "corrupt" fault: the bytes with one bit flipped in the middle, while
 * the headers (x-goog-hash) still describe the stored object. Closes fd. */
static struct MHD_Response *corrupted_response(struct emu_req *r, int fd, uint64_t off,
                                               uint64_t len)
{
    char *buf = malloc((size_t)len);
    size_t got = 0;
    struct MHD_Response *resp = NULL;
    while (buf && got < len) {
        ssize_t n = pread(fd, buf + got, (size_t)len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (buf && got == len) {
        buf[len / 2] ^= 0x01;
        resp = MHD_create_response_from_buffer((size_t)len, buf, MHD_RESPMEM_MUST_FREE);
    }
    if (!resp) {
        free(buf);
        return NULL;
    }
    r->bytes = len;
    r->corrupted = 1;
    return resp;
}

static enum MHD_Result do_media(struct emu_req *r, json_t *o, int fd)
{
    uint64_t size = jget_u64(o, "size"), first = 0, last = size ? size - 1 : 0;
    const char *range = emu_req_header(r, "Range");
    int status = 200, partial = 0;
    struct MHD_Response *resp;
    char hv[200];
    const char *ct = json_string_value(json_object_get(o, "contentType"));
    const char *crc = json_string_value(json_object_get(o, "crc32c"));
    const char *md5 = json_string_value(json_object_get(o, "md5Hash"));
    if (range && strncasecmp(range, "bytes=", 6) == 0 && !strchr(range, ',')) {
        const char *p = range + 6;
        int64_t a = -1, b = -1;
        const char *e;
        int ok = 1;
        if (*p == '-') {
            if (parse_i64(p + 1, &e, &b) < 0 || *e)
                ok = 0;
            else if (b == 0) {
                ok = -1;
            } else {
                first = (uint64_t)b >= size ? 0 : size - (uint64_t)b;
                last = size ? size - 1 : 0;
            }
        } else if (parse_i64(p, &e, &a) == 0 && *e == '-') {
            p = e + 1;
            if (*p && (parse_i64(p, &e, &b) < 0 || *e || b < a))
                ok = 0;
            if (ok) {
                if ((uint64_t)a >= size)
                    ok = -1;
                first = (uint64_t)a;
                last = b >= 0 && (uint64_t)b < size ? (uint64_t)b : size - 1;
            }
        } else {
            ok = 0;
        }
        if (ok < 0 || (ok && size == 0)) {
            close(fd);
            json_decref(o);
            resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
            snprintf(hv, sizeof(hv), "bytes */%llu", (unsigned long long)size);
            MHD_add_response_header(resp, "Content-Range", hv);
            r->bytes = 0;
            return emu_req_queue(r, 416, resp);
        }
        if (ok) {
            partial = 1;
            status = 206;
        }
    }
    if (size == 0) {
        close(fd);
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        r->bytes = 0;
    } else if (r->corrupt && last - first + 1 <= 64u * 1024 * 1024) {
        resp = corrupted_response(r, fd, first, last - first + 1);
    } else {
        resp = MHD_create_response_from_fd_at_offset64(last - first + 1, fd, first);
        r->bytes = last - first + 1;
        if (!resp)
            close(fd);
    }
    if (!resp) {
        json_decref(o);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ct ? ct : "application/octet-stream");
    if (md5)
        snprintf(hv, sizeof(hv), "crc32c=%s,md5=%s", crc ? crc : "", md5);
    else
        snprintf(hv, sizeof(hv), "crc32c=%s", crc ? crc : "");
    MHD_add_response_header(resp, "x-goog-hash", hv);
    MHD_add_response_header(resp, "x-goog-generation",
                            json_string_value(json_object_get(o, "generation")));
    MHD_add_response_header(resp, "x-goog-metageneration",
                            json_string_value(json_object_get(o, "metageneration")));
    snprintf(hv, sizeof(hv), "%llu", (unsigned long long)size);
    MHD_add_response_header(resp, "x-goog-stored-content-length", hv);
    MHD_add_response_header(resp, "x-goog-stored-content-encoding", "identity");
    MHD_add_response_header(resp, "x-goog-storage-class", "STANDARD");
    MHD_add_response_header(resp, "Accept-Ranges", "bytes");
    if (json_is_string(json_object_get(o, "contentEncoding")))
        MHD_add_response_header(resp, "Content-Encoding",
                                json_string_value(json_object_get(o, "contentEncoding")));
    if (json_is_string(json_object_get(o, "contentDisposition")))
        MHD_add_response_header(resp, "Content-Disposition",
                                json_string_value(json_object_get(o, "contentDisposition")));
    if (partial) {
        snprintf(hv, sizeof(hv), "bytes %llu-%llu/%llu", (unsigned long long)first,
                 (unsigned long long)last, (unsigned long long)size);
        MHD_add_response_header(resp, "Content-Range", hv);
    }
    json_decref(o);
    return emu_req_queue(r, status, resp);
}

static enum MHD_Result do_object(struct emu_req *r, const char *name)
{
    struct emu_precond pc;
    uint64_t gen;
    json_t *o = NULL;
    const char *alt = emu_req_query(r, "alt");
    if (parse_pc(r, "", &pc) < 0 || parse_generation(r, "generation", &gen) < 0)
        return emu_req_error(r, &r->err);
    if (is_method(r, "GET") || is_method(r, "HEAD")) {
        int media = r->api == API_DOWNLOAD || (alt && strcmp(alt, "media") == 0);
        int fd = -1;
        if (emu_store_object_get(r->store, r->seg[1], name, gen, &pc, &o, media ? &fd : NULL,
                                 &r->err) < 0)
            return emu_req_error(r, &r->err);
        if (media)
            return do_media(r, o, fd);
        return respond_object(r, o);
    }
    if (is_method(r, "DELETE")) {
        if (emu_store_object_delete(r->store, r->seg[1], name, gen, &pc, &r->err) < 0)
            return emu_req_error(r, &r->err);
        return emu_req_empty(r, 204);
    }
    if (is_method(r, "PATCH") || is_method(r, "PUT")) {
        json_t *patch = parse_body_json(r, 0);
        int rc;
        if (!patch)
            return emu_req_error(r, &r->err);
        rc = emu_store_object_patch(r->store, r->seg[1], name, patch, &pc, &o, &r->err);
        json_decref(patch);
        if (rc < 0)
            return emu_req_error(r, &r->err);
        return respond_object(r, o);
    }
    return emu_req_errorf(r, 405, "methodNotAllowed", "%s is not supported here.", r->method);
}

/* Multi-call rewrite: with maxBytesRewrittenPerCall smaller than the
 * object, answer done:false and a rewriteToken ("GENERATION-BYTESDONE")
 * until the last call, which copies (pinned to that source generation).
 * Returns 0 to go on with the copy (r->status set if already answered), or
 * -1 with r->err. */
static int step_rewrite(struct emu_req *r, const char *src, uint64_t *sgen,
                        const struct emu_precond *spc)
{
    const char *mb = emu_req_query(r, "maxBytesRewrittenPerCall");
    const char *tok = emu_req_query(r, "rewriteToken");
    uint64_t per = 0, done = 0, tgen = 0, size, gen;
    json_t *o = NULL, *res;
    char tbuf[64], sz[32], nb[32];
    if (!mb && !tok)
        return 0;
    if (mb && emu_parse_u64(mb, &per) < 0)
        return emu_err_set(&r->err, 400, "invalid", "Invalid maxBytesRewrittenPerCall.");
    if (tok) {
        const char *dash = strchr(tok, '-');
        char g[32];
        if (!dash || (size_t)(dash - tok) >= sizeof(g))
            return emu_err_set(&r->err, 400, "invalid", "Invalid rewriteToken.");
        memcpy(g, tok, (size_t)(dash - tok));
        g[dash - tok] = '\0';
        if (emu_parse_u64(g, &tgen) < 0 || emu_parse_u64(dash + 1, &done) < 0)
            return emu_err_set(&r->err, 400, "invalid", "Invalid rewriteToken.");
    }
    if (emu_store_object_get(r->store, r->seg[1], src, tok ? tgen : *sgen, spc, &o, NULL, &r->err) <
        0) {
        if (tok && r->err.status == 404)
            emu_err_set(&r->err, 410, "gone", "The rewrite token is no longer valid.");
        return -1;
    }
    size = jget_u64(o, "size");
    gen = jget_u64(o, "generation");
    json_decref(o);
    *sgen = gen; /* the final copy reads exactly this generation */
    if (per == 0 || done + per >= size)
        return 0;
    snprintf(tbuf, sizeof(tbuf), "%llu-%llu", (unsigned long long)gen,
             (unsigned long long)(done + per));
    snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
    snprintf(nb, sizeof(nb), "%llu", (unsigned long long)(done + per));
    res = json_pack("{s:s, s:s, s:s, s:b, s:s}", "kind", "storage#rewriteResponse",
                    "totalBytesRewritten", nb, "objectSize", sz, "done", 0, "rewriteToken", tbuf);
    emu_req_json(r, 200, res);
    return 0;
}

static enum MHD_Result do_rewrite(struct emu_req *r, const char *src, int rewrite)
{
    struct emu_precond spc, dpc;
    uint64_t sgen;
    json_t *body, *o = NULL, *res;
    char *dst;
    int rc;
    if (parse_pc(r, "", &dpc) < 0 || parse_pc(r, "Source", &spc) < 0 ||
        parse_generation(r, "sourceGeneration", &sgen) < 0)
        return emu_req_error(r, &r->err);
    if (rewrite && step_rewrite(r, src, &sgen, &spc) < 0)
        return r->status ? MHD_YES : emu_req_error(r, &r->err);
    if (r->status)
        return MHD_YES; /* step_rewrite answered done:false */
    body = parse_body_json(r, 0);
    if (!body)
        return emu_req_error(r, &r->err);
    dst = join_name(r, 8, r->nseg);
    if (!dst) {
        json_decref(body);
        return MHD_NO;
    }
    rc = emu_store_object_copy(r->store, r->seg[1], src, sgen, &spc, r->seg[6], dst, body, &dpc, &o,
                               &r->err);
    free(dst);
    json_decref(body);
    if (rc < 0)
        return emu_req_error(r, &r->err);
    decorate_object(r, o);
    if (!rewrite)
        return emu_req_json(r, 200, o);
    res = json_pack("{s:s, s:O, s:O, s:b, s:o}", "kind", "storage#rewriteResponse",
                    "totalBytesRewritten", json_object_get(o, "size"), "objectSize",
                    json_object_get(o, "size"), "done", 1, "resource", o);
    return emu_req_json(r, 200, res);
}

static enum MHD_Result do_compose(struct emu_req *r, const char *name)
{
    struct emu_precond pc;
    json_t *body, *o = NULL;
    int rc;
    if (parse_pc(r, "", &pc) < 0)
        return emu_req_error(r, &r->err);
    body = parse_body_json(r, 1);
    if (!body)
        return emu_req_error(r, &r->err);
    rc = emu_store_object_compose(r->store, r->seg[1], name, json_object_get(body, "sourceObjects"),
                                  json_object_get(body, "destination"), &pc, &o, &r->err);
    json_decref(body);
    if (rc < 0)
        return emu_req_error(r, &r->err);
    return respond_object(r, o);
}

/* ---- uploads ---- */

static enum MHD_Result finish_put(struct emu_req *r, const char *name, const char *path,
                                  uint64_t size, const char *crc, const char *md5, json_t *attrs,
                                  const struct emu_precond *pc)
{
    json_t *o = NULL;
    if (check_hashes(r, attrs, crc, md5) < 0)
        return emu_req_error(r, &r->err);
    if (emu_store_object_put(r->store, r->seg[1], name, path, size, crc, md5, attrs, pc, &o,
                             &r->err) < 0)
        return emu_req_error(r, &r->err);
    return respond_object(r, o);
}

static enum MHD_Result do_media_upload(struct emu_req *r)
{
    struct emu_precond pc;
    const char *name = emu_req_query(r, "name");
    const char *ct = emu_req_header(r, "Content-Type");
    char crc[32], md5[32];
    json_t *attrs;
    enum MHD_Result ret;
    if (parse_pc(r, "", &pc) < 0)
        return emu_req_error(r, &r->err);
    if (!name)
        return emu_req_errorf(r, 400, "required", "Required object name is missing.");
    if (r->write_failed)
        return emu_req_errorf(r, 500, "internalError", "Cannot store the upload.");
    emu_hasher_final(&r->hasher, crc, md5);
    r->hashing = 0;
    close(r->fd);
    r->fd = -1;
    attrs = json_pack("{s:s}", "contentType", ct && *ct ? ct : "application/octet-stream");
    ret = finish_put(r, name, r->tmp_path, r->received, crc, md5, attrs, &pc);
    json_decref(attrs);
    return ret;
}

/* Copies len bytes at off of fd into a new temporary file, hashing them. */
static int extract_range(struct emu_req *r, int fd, uint64_t off, uint64_t len, char *out_path,
                         size_t cap, char *crc, char *md5)
{
    struct emu_hasher h;
    char *buf = malloc(65536);
    int out = emu_store_tmpfile(r->store, out_path, cap, &r->err);
    if (out < 0 || !buf || emu_hasher_init(&h) < 0) {
        free(buf);
        if (out >= 0) {
            close(out);
            unlink(out_path);
        }
        return out < 0 ? -1 : emu_err_set(&r->err, 500, "internalError", "out of memory");
    }
    while (len > 0) {
        size_t want = len < 65536 ? (size_t)len : 65536;
        ssize_t n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || write(out, buf, (size_t)n) != n) {
            emu_hasher_cleanup(&h);
            free(buf);
            close(out);
            unlink(out_path);
            return emu_err_set(&r->err, 500, "internalError", "Cannot copy multipart data.");
        }
        emu_hasher_update(&h, buf, (size_t)n);
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    free(buf);
    close(out);
    emu_hasher_final(&h, crc, md5);
    return 0;
}

static enum MHD_Result do_multipart_upload(struct emu_req *r)
{
    struct emu_precond pc;
    struct emu_multipart mp;
    char boundary[256], errbuf[200], data_path[4200], crc[32], md5[32];
    const char *ct = emu_req_header(r, "Content-Type");
    const char *name;
    json_t *meta;
    json_error_t je;
    enum MHD_Result ret;
    if (parse_pc(r, "", &pc) < 0)
        return emu_req_error(r, &r->err);
    if (r->write_failed)
        return emu_req_errorf(r, 500, "internalError", "Cannot store the upload.");
    if (emu_multipart_boundary(ct, boundary, sizeof(boundary)) < 0)
        return emu_req_errorf(r, 400, "invalid",
                              "Multipart upload needs Content-Type multipart/related with a "
                              "boundary.");
    if (emu_multipart_parse_fd(boundary, r->fd, r->received, &mp, errbuf, sizeof(errbuf)) < 0)
        return emu_req_errorf(r, 400, "invalid", "Malformed multipart body: %s", errbuf);
    meta = mp.meta_len ? json_loadb(mp.meta, mp.meta_len, 0, &je) : json_object();
    if (!json_is_object(meta)) {
        emu_multipart_cleanup(&mp);
        json_decref(meta);
        return emu_req_errorf(r, 400, "parseError", "Invalid JSON in the metadata part.");
    }
    name = json_string_value(json_object_get(meta, "name"));
    if (!name)
        name = emu_req_query(r, "name");
    if (!name) {
        emu_multipart_cleanup(&mp);
        json_decref(meta);
        return emu_req_errorf(r, 400, "required", "Required object name is missing.");
    }
    if (!json_is_string(json_object_get(meta, "contentType")))
        json_object_set_new(meta, "contentType",
                            json_string(mp.data_type ? mp.data_type : "application/octet-stream"));
    if (extract_range(r, r->fd, mp.data_off, mp.data_len, data_path, sizeof(data_path), crc, md5) <
        0) {
        emu_multipart_cleanup(&mp);
        json_decref(meta);
        return emu_req_error(r, &r->err);
    }
    ret = finish_put(r, name, data_path, mp.data_len, crc, md5, meta, &pc);
    unlink(data_path); /* no-op after a successful rename */
    emu_multipart_cleanup(&mp);
    json_decref(meta);
    return ret;
}

static enum MHD_Result do_resumable_init(struct emu_req *r)
{
    struct emu_precond pc;
    json_t *meta, *state;
    const char *name, *xct = emu_req_header(r, "X-Upload-Content-Type");
    const char *xlen = emu_req_header(r, "X-Upload-Content-Length");
    char id[72], base[300], *loc, *en, *eb;
    struct MHD_Response *resp;
    uint64_t total;
    size_t cap;
    if (parse_pc(r, "", &pc) < 0)
        return emu_req_error(r, &r->err);
    meta = parse_body_json(r, 0);
    if (!meta)
        return emu_req_error(r, &r->err);
    name = json_string_value(json_object_get(meta, "name"));
    if (!name)
        name = emu_req_query(r, "name");
    if (!name || emu_store_name_check(name, strlen(name), &r->err) < 0) {
        json_decref(meta);
        if (!name)
            return emu_req_errorf(r, 400, "required", "Required object name is missing.");
        return emu_req_error(r, &r->err);
    }
    {
        json_t *dummy = NULL;
        if (emu_store_bucket_get(r->store, r->seg[1], &dummy, &r->err) < 0) {
            json_decref(meta);
            return emu_req_error(r, &r->err);
        }
        json_decref(dummy);
    }
    if (!json_is_string(json_object_get(meta, "contentType")))
        json_object_set_new(meta, "contentType",
                            json_string(xct && *xct ? xct : "application/octet-stream"));
    state = json_pack(
        "{s:s, s:s, s:O, s:o, s:I, s:I, s:b}", "bucket", r->seg[1], "name", name, "attrs", meta,
        "precond", emu_precond_to_json(&pc), "persisted", (json_int_t)0, "total",
        (json_int_t)(xlen && emu_parse_u64(xlen, &total) == 0 ? (int64_t)total : -1), "done", 0);
    json_decref(meta);
    if (!state || emu_store_upload_create(r->store, state, id, sizeof(id), &r->err) < 0) {
        json_decref(state);
        return emu_req_error(r, &r->err);
    }
    en = emu_pct_encode(json_string_value(json_object_get(state, "name")),
                        strlen(json_string_value(json_object_get(state, "name"))));
    eb = emu_pct_encode(r->seg[1], strlen(r->seg[1]));
    json_decref(state);
    emu_req_base(r, base, sizeof(base));
    cap = strlen(base) + (en ? strlen(en) : 0) + (eb ? strlen(eb) : 0) + 200;
    loc = malloc(cap);
    if (!loc || !en || !eb) {
        free(loc);
        free(en);
        free(eb);
        return MHD_NO;
    }
    snprintf(loc, cap, "%s/upload/storage/v1/b/%s/o?uploadType=resumable&name=%s&upload_id=%s",
             base, eb, en, id);
    resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Location", loc);
    MHD_add_response_header(resp, "X-GUploader-UploadID", id);
    free(loc);
    free(en);
    free(eb);
    r->bytes = 0;
    return emu_req_queue(r, 200, resp);
}

static enum MHD_Result respond_308(struct emu_req *r, uint64_t persisted)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    char hv[64];
    if (persisted > 0) {
        snprintf(hv, sizeof(hv), "bytes=0-%llu", (unsigned long long)(persisted - 1));
        MHD_add_response_header(resp, "Range", hv);
    }
    MHD_add_response_header(resp, "X-GUploader-UploadID", r->upload_id);
    r->bytes = 0;
    return emu_req_queue(r, 308, resp);
}

/* Publishes a complete upload; upload lock held. */
static enum MHD_Result finalize_upload(struct emu_req *r, json_t *st, uint64_t total)
{
    char path[4200], crc[32], md5[32];
    struct emu_precond pc;
    json_t *attrs = json_object_get(st, "attrs"), *o = NULL;
    int fd;
    emu_store_upload_data_path(r->store, r->upload_id, path, sizeof(path));
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, (off_t)total) < 0 || emu_hash_fd(fd, 0, total, crc, md5) < 0) {
        if (fd >= 0)
            close(fd);
        return emu_req_errorf(r, 500, "internalError", "Cannot read the upload's data.");
    }
    close(fd);
    if (check_hashes(r, attrs, crc, md5) < 0) {
        emu_store_upload_remove(r->store, r->upload_id);
        return emu_req_error(r, &r->err);
    }
    emu_precond_from_json(&pc, json_object_get(st, "precond"));
    if (emu_store_object_put(r->store, json_string_value(json_object_get(st, "bucket")),
                             json_string_value(json_object_get(st, "name")), path, total, crc, md5,
                             attrs, &pc, &o, &r->err) < 0) {
        if (r->err.status == 412 || r->err.status == 404)
            emu_store_upload_remove(r->store, r->upload_id);
        return emu_req_error(r, &r->err);
    }
    json_object_set_new(st, "done", json_true());
    json_object_set_new(st, "persisted", json_integer((json_int_t)total));
    json_object_set(st, "resource", o);
    emu_store_upload_save(r->store, r->upload_id, st, &r->err);
    return respond_object(r, o);
}

static enum MHD_Result do_chunk_locked(struct emu_req *r, json_t *st)
{
    uint64_t persisted = jget_u64(st, "persisted");
    int64_t total = r->chunk_total >= 0 ? r->chunk_total : jget_i64(st, "total");
    uint64_t end;
    if (json_is_true(json_object_get(st, "done")))
        return respond_object(r, json_deep_copy(json_object_get(st, "resource")));
    if (r->pending_err)
        return emu_req_error(r, &r->err);
    if (r->chunk_status_query) {
        if (r->chunk_total >= 0 && (uint64_t)r->chunk_total == persisted)
            return finalize_upload(r, st, persisted);
        return respond_308(r, persisted);
    }
    if (r->chunk_no_range) {
        total = (int64_t)r->received;
        r->chunk_last = r->received ? (int64_t)r->received - 1 : -1;
    } else if ((uint64_t)(r->chunk_last - r->chunk_first + 1) != r->received) {
        return emu_req_errorf(
            r, 400, "invalid", "Content-Range covers %lld bytes but the body has %llu.",
            (long long)(r->chunk_last - r->chunk_first + 1), (unsigned long long)r->received);
    }
    if (r->write_failed)
        return emu_req_errorf(r, 503, "backendError", "Cannot store the chunk.");
    end = (uint64_t)r->chunk_first + r->received;
    if (total >= 0 && end > (uint64_t)total)
        return emu_req_errorf(r, 400, "invalid", "Chunk ends after the declared total size.");
    if (!(total >= 0 && end == (uint64_t)total) && r->received % EMU_CHUNK != 0)
        return emu_req_errorf(r, 400, "invalid",
                              "Non-final chunk size %llu is not a multiple of 262144 bytes.",
                              (unsigned long long)r->received);
    /* --chunk-persist-max: keep only part of the chunk, as GCS may. */
    if (emu_req_chunk_persist_max(r) && end > persisted &&
        end - persisted > emu_req_chunk_persist_max(r))
        end = persisted + emu_req_chunk_persist_max(r);
    if (end > persisted)
        persisted = end;
    json_object_set_new(st, "persisted", json_integer((json_int_t)persisted));
    if (total >= 0)
        json_object_set_new(st, "total", json_integer((json_int_t)total));
    if (total >= 0 && persisted == (uint64_t)total)
        return finalize_upload(r, st, persisted);
    if (emu_store_upload_save(r->store, r->upload_id, st, &r->err) < 0)
        return emu_req_error(r, &r->err);
    return respond_308(r, persisted);
}

static enum MHD_Result do_chunk(struct emu_req *r)
{
    json_t *st = NULL;
    enum MHD_Result ret;
    if (r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    emu_store_upload_lock(r->store);
    if (emu_store_upload_load(r->store, r->upload_id, &st, &r->err) < 0) {
        emu_store_upload_unlock(r->store);
        return emu_req_error(r, &r->err);
    }
    ret = do_chunk_locked(r, st);
    r->finished = 1;
    emu_store_upload_unlock(r->store);
    json_decref(st);
    return ret;
}

static enum MHD_Result do_upload(struct emu_req *r)
{
    const char *ut = emu_req_query(r, "uploadType");
    const char *ct = emu_req_header(r, "Content-Type");
    if (r->nseg != 3 || strcmp(r->seg[0], "b") != 0 || strcmp(r->seg[2], "o") != 0)
        return emu_req_errorf(r, 404, "notFound", "Unknown upload URL.");
    if (is_method(r, "PUT") && emu_req_query(r, "upload_id"))
        return do_chunk(r);
    if (is_method(r, "DELETE") && emu_req_query(r, "upload_id")) {
        json_t *st = NULL;
        const char *id = emu_req_query(r, "upload_id");
        emu_store_upload_lock(r->store);
        if (emu_store_upload_load(r->store, id, &st, &r->err) < 0) {
            emu_store_upload_unlock(r->store);
            return emu_req_error(r, &r->err);
        }
        json_decref(st);
        emu_store_upload_remove(r->store, id);
        emu_store_upload_unlock(r->store);
        return emu_req_empty(r, 499);
    }
    if (!is_method(r, "POST"))
        return emu_req_errorf(r, 405, "methodNotAllowed", "%s is not supported here.", r->method);
    if (ut && strcmp(ut, "resumable") == 0)
        return do_resumable_init(r);
    if ((ut && strcmp(ut, "multipart") == 0) ||
        (!ut && ct && strncasecmp(ct, "multipart/", 10) == 0))
        return do_multipart_upload(r);
    if (ut && strcmp(ut, "media") != 0)
        return emu_req_errorf(r, 400, "invalid", "Unsupported uploadType '%s'.", ut);
    return do_media_upload(r);
}

enum MHD_Result emu_api_finish(struct emu_req *r)
{
    size_t n = r->nseg;
    if (r->api == API_UPLOAD && !r->pending_err)
        return do_upload(r);
    if (r->api == API_UPLOAD && is_method(r, "PUT") && emu_req_query(r, "upload_id"))
        return do_chunk(r);
    if (r->pending_err)
        return emu_req_error(r, &r->err);
    if (r->api == API_NONE || n == 0 || strcmp(r->seg[0], "b") != 0)
        return emu_req_errorf(r, 404, "notFound", "Not Found: %s", r->uri);
    if (n <= 2)
        return do_buckets(r);
    if (strcmp(r->seg[2], "o") != 0)
        return emu_req_errorf(r, 404, "notFound", "Not Found: %s", r->uri);
    if (n == 3) {
        if (is_method(r, "GET") || is_method(r, "HEAD"))
            return do_list(r);
        return emu_req_errorf(r, 405, "methodNotAllowed", "%s is not supported here.", r->method);
    }
    if (is_method(r, "POST")) {
        if (n >= 9 && (strcmp(r->seg[4], "rewriteTo") == 0 || strcmp(r->seg[4], "copyTo") == 0) &&
            strcmp(r->seg[5], "b") == 0 && strcmp(r->seg[7], "o") == 0)
            return do_rewrite(r, r->seg[3], strcmp(r->seg[4], "rewriteTo") == 0);
        if (n == 5 && strcmp(r->seg[4], "compose") == 0)
            return do_compose(r, r->seg[3]);
        return emu_req_errorf(r, 404, "notFound", "Not Found: %s", r->uri);
    }
    {
        char *name = join_name(r, 3, n);
        enum MHD_Result ret;
        if (!name)
            return MHD_NO;
        ret = do_object(r, name);
        free(name);
        return ret;
    }
}

void emu_api_complete(struct emu_req *r, int completed_ok)
{
    json_t *st = NULL;
    uint64_t got, end;
    int64_t total;
    if (completed_ok || r->mode != EMU_BODY_CHUNK || r->finished)
        return;
    /* An interrupted chunk keeps its whole 256 KiB blocks, as GCS may. */
    got = r->received;
    end = (uint64_t)r->chunk_first + (got / EMU_CHUNK) * EMU_CHUNK;
    if (end > r->write_off)
        end = r->write_off - (r->write_off - (uint64_t)r->chunk_first) % EMU_CHUNK;
    emu_store_upload_lock(r->store);
    if (emu_store_upload_load(r->store, r->upload_id, &st, &r->err) == 0 &&
        !json_is_true(json_object_get(st, "done"))) {
        total = r->chunk_total >= 0 ? r->chunk_total : jget_i64(st, "total");
        if (end > jget_u64(st, "persisted") && (total < 0 || end < (uint64_t)total)) {
            json_object_set_new(st, "persisted", json_integer((json_int_t)end));
            emu_store_upload_save(r->store, r->upload_id, st, &r->err);
        }
    }
    emu_store_upload_unlock(r->store);
    json_decref(st);
}
