/* test_emulator.c: the GCS emulator over real sockets. One emulator process
 * (tgcs) serves the whole executable; fault-injection and restart tests
 * start their own. Requests go through libcurl; results are checked against
 * what the emulator actually stored (bytes, hashes, listings). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "gcs_emulator.h"
#include "gcs_emulator_http.h"

static struct tgcs E;

static char *url(const struct tgcs *e, const char *fmt, ...)
{
    static char buf[8192];
    va_list ap;
    int n = snprintf(buf, sizeof(buf), "%s", e->url);
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    return buf;
}

static long req(struct thttp *r, const char *method, const char *u, const char *const *h,
                const void *body, size_t len)
{
    thttp_do(r, method, u, h, body, len, -1);
    return r->status;
}

/* One request whose only interesting outcome is its status. */
static void expect(const char *method, const char *u, const char *const *h, const void *body,
                   size_t len, long want)
{
    struct thttp r;
    req(&r, method, u, h, body, len);
    if (r.status != want)
        fprintf(stderr, "%s %s -> %ld (want %ld): %s\n", method, u, r.status, want, r.body);
    thttp_free(&r);
    assert_int_equal(r.status, want);
}

static json_t *req_json(const char *method, const char *u, const char *const *h, const void *body,
                        size_t len, long want_status)
{
    struct thttp r;
    json_t *j;
    req(&r, method, u, h, body, len);
    if (r.status != want_status)
        fprintf(stderr, "%s %s -> %ld: %s\n", method, u, r.status, r.body);
    assert_int_equal(r.status, want_status);
    j = thttp_json(&r);
    thttp_free(&r);
    assert_non_null(j);
    return j;
}

static const char *jstr(json_t *j, const char *k)
{
    const char *s = json_string_value(json_object_get(j, k));
    assert_non_null(s);
    return s;
}

static void make_bucket(const struct tgcs *e, const char *name)
{
    char body[256];
    static const char *const H[] = {"Content-Type: application/json", NULL};
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    json_decref(req_json("POST", url(e, "/storage/v1/b?project=p"), H, body, strlen(body), 200));
}

/* Media upload of data as bkt/NAME (name percent-encoded by the caller). */
static json_t *put_media(const struct tgcs *e, const char *bucket, const char *enc_name,
                         const char *data, size_t len, const char *extra, long want)
{
    static const char *const H[] = {"Content-Type: text/plain", NULL};
    return req_json("POST",
                    url(e, "/upload/storage/v1/b/%s/o?uploadType=media&name=%s%s", bucket, enc_name,
                        extra ? extra : ""),
                    H, data, len, want);
}

static char *get_media(const struct tgcs *e, const char *bucket, const char *enc_name, size_t *len)
{
    struct thttp r;
    req(&r, "GET", url(e, "/storage/v1/b/%s/o/%s?alt=media", bucket, enc_name), NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    *len = r.len;
    return r.body;
}

/* GETs an object's bytes and compares them with want[0..n). */
static void expect_media(const struct tgcs *e, const char *bucket, const char *enc_name,
                         const char *want, size_t n)
{
    size_t len;
    char *got = get_media(e, bucket, enc_name, &len);
    assert_int_equal(len, n);
    assert_memory_equal(got, want, n);
    free(got);
}

static size_t discard_cb(char *p, size_t sz, size_t n, void *ud)
{
    return sz * n;
}

static void fill_random(char *buf, size_t n, unsigned seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (char)(x >> 24);
    }
}

/* ---- buckets ---- */

static void test_buckets(void **state)
{
    json_t *j;
    static const char *const H[] = {"Content-Type: application/json", NULL};
    make_bucket(&E, "b-one");
    j = req_json("GET", url(&E, "/storage/v1/b/b-one?alt=json&prettyPrint=false"), NULL, NULL, 0,
                 200);
    assert_string_equal(jstr(j, "name"), "b-one");
    assert_string_equal(jstr(j, "kind"), "storage#bucket");
    json_decref(j);
    /* Duplicate → 409; bad names → 400; unknown → 404 in the JSON error shape. */
    expect("POST", url(&E, "/storage/v1/b?project=p"), H, "{\"name\":\"b-one\"}", 16, 409);
    expect("POST", url(&E, "/storage/v1/b"), H, "{\"name\":\"../x\"}", 15, 400);
    expect("POST", url(&E, "/storage/v1/b"), H, "{not json", 9, 400);
    j = req_json("GET", url(&E, "/storage/v1/b/nope-bucket"), NULL, NULL, 0, 404);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), 404);
    assert_string_equal(
        jstr(json_array_get(json_object_get(json_object_get(j, "error"), "errors"), 0), "reason"),
        "notFound");
    json_decref(j);
    /* List contains both buckets, sorted. */
    j = req_json("GET", url(&E, "/storage/v1/b?project=p&projection=full"), NULL, NULL, 0, 200);
    {
        json_t *items = json_object_get(j, "items");
        int seen_one = 0, seen_bkt = 0;
        for (size_t i = 0; i < json_array_size(items); i++) {
            const char *n = jstr(json_array_get(items, i), "name");
            seen_one |= strcmp(n, "b-one") == 0;
            seen_bkt |= strcmp(n, "bkt") == 0;
            if (i)
                assert_true(strcmp(jstr(json_array_get(items, i - 1), "name"), n) < 0);
        }
        assert_true(seen_one && seen_bkt);
    }
    json_decref(j);
    /* A non-empty bucket cannot be deleted; an empty one can. */
    json_decref(put_media(&E, "b-one", "x", "x", 1, NULL, 200));
    expect("DELETE", url(&E, "/storage/v1/b/b-one"), NULL, NULL, 0, 409);
    expect("DELETE", url(&E, "/storage/v1/b/b-one/o/x"), NULL, NULL, 0, 204);
    expect("DELETE", url(&E, "/storage/v1/b/b-one"), NULL, NULL, 0, 204);
    expect("GET", url(&E, "/storage/v1/b/b-one"), NULL, NULL, 0, 404);
}

/* ---- simple objects ---- */

static void test_media_roundtrip(void **state)
{
    json_t *j;
    struct thttp r;
    char hv[256];
    size_t len;
    char *body;
    j = put_media(&E, "bkt", "in%2F2024%2Fhello.txt", "hello", 5, "&userProject=x&fields=name",
                  200);
    assert_string_equal(jstr(j, "name"), "in/2024/hello.txt");
    assert_string_equal(jstr(j, "bucket"), "bkt");
    assert_string_equal(jstr(j, "size"), "5");
    assert_string_equal(jstr(j, "crc32c"), "mnG7TA==");
    assert_string_equal(jstr(j, "md5Hash"), "XUFAKrxLKna5cZ2REBfFkg==");
    assert_string_equal(jstr(j, "contentType"), "text/plain");
    assert_string_equal(jstr(j, "metageneration"), "1");
    assert_string_equal(jstr(j, "storageClass"), "STANDARD");
    assert_string_equal(jstr(j, "kind"), "storage#object");
    assert_non_null(strstr(jstr(j, "selfLink"), "/storage/v1/b/bkt/o/in%2F2024%2Fhello.txt"));
    assert_non_null(strstr(jstr(j, "mediaLink"), "alt=media"));
    assert_true(strlen(jstr(j, "generation")) >= 16);
    jstr(j, "etag");
    jstr(j, "timeCreated");
    jstr(j, "updated");
    jstr(j, "id");
    json_decref(j);

    expect_media(&E, "bkt", "in%2F2024%2Fhello.txt", "hello", 5);
    /* Metadata GET, /download path, HEAD, x-goog-hash. */
    j = req_json("GET", url(&E, "/storage/v1/b/bkt/o/in%%2F2024%%2Fhello.txt?alt=json"), NULL, NULL,
                 0, 200);
    assert_string_equal(jstr(j, "size"), "5");
    json_decref(j);
    assert_int_equal(req(&r, "GET", url(&E, "/download/storage/v1/b/bkt/o/in%%2F2024%%2Fhello.txt"),
                         NULL, NULL, 0),
                     200);
    assert_string_equal(r.body, "hello");
    assert_int_equal(thttp_header(&r, "x-goog-hash", hv, sizeof(hv)), 0);
    assert_string_equal(hv, "crc32c=mnG7TA==,md5=XUFAKrxLKna5cZ2REBfFkg==");
    assert_int_equal(thttp_header(&r, "x-goog-generation", hv, sizeof(hv)), 0);
    thttp_free(&r);
    /* Unencoded '/' is tolerated outside rewrite. */
    assert_int_equal(
        req(&r, "GET", url(&E, "/storage/v1/b/bkt/o/in/2024/hello.txt?alt=media"), NULL, NULL, 0),
        200);
    assert_string_equal(r.body, "hello");
    thttp_free(&r);
    /* Missing object: 404 JSON, also for alt=media. */
    j = req_json("GET", url(&E, "/storage/v1/b/bkt/o/missing?alt=media"), NULL, NULL, 0, 404);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_object_get(j, "error"), "message")),
               "No such object"));
    json_decref(j);
    /* Delete → 204, then 404. */
    expect("DELETE", url(&E, "/storage/v1/b/bkt/o/in%%2F2024%%2Fhello.txt"), NULL, NULL, 0, 204);
    expect("DELETE", url(&E, "/storage/v1/b/bkt/o/in%%2F2024%%2Fhello.txt"), NULL, NULL, 0, 404);
    /* Query values are form-encoded: '+' is a space, %2B a plus. */
    json_decref(put_media(&E, "bkt", "plus%2Fa%2Bb", "+", 1, NULL, 200));
    json_decref(put_media(&E, "bkt", "plus%2Fa%20b", " ", 1, NULL, 200));
    j = req_json("GET", url(&E, "/storage/v1/b/bkt/o?prefix=plus%%2Fa+"), NULL, NULL, 0, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    assert_string_equal(jstr(json_array_get(json_object_get(j, "items"), 0), "name"), "plus/a b");
    json_decref(j);
    j = req_json("GET", url(&E, "/storage/v1/b/bkt/o?prefix=plus%%2Fa%%2B"), NULL, NULL, 0, 200);
    assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
    assert_string_equal(jstr(json_array_get(json_object_get(j, "items"), 0), "name"), "plus/a+b");
    json_decref(j);
    /* Empty object. */
    j = put_media(&E, "bkt", "empty", "", 0, NULL, 200);
    assert_string_equal(jstr(j, "size"), "0");
    assert_string_equal(jstr(j, "crc32c"), "AAAAAA==");
    json_decref(j);
    body = get_media(&E, "bkt", "empty", &len);
    assert_int_equal(len, 0);
    free(body);
}

static void test_range(void **state)
{
    struct thttp r;
    char hv[128];
    json_decref(put_media(&E, "bkt", "range.txt", "0123456789", 10, NULL, 200));
    static const char *const R1[] = {"Range: bytes=2-5", NULL};
    assert_int_equal(
        req(&r, "GET", url(&E, "/storage/v1/b/bkt/o/range.txt?alt=media"), R1, NULL, 0), 206);
    assert_string_equal(r.body, "2345");
    assert_int_equal(thttp_header(&r, "Content-Range", hv, sizeof(hv)), 0);
    assert_string_equal(hv, "bytes 2-5/10");
    thttp_free(&r);
    static const char *const R2[] = {"Range: bytes=7-", NULL};
    assert_int_equal(
        req(&r, "GET", url(&E, "/storage/v1/b/bkt/o/range.txt?alt=media"), R2, NULL, 0), 206);
    assert_string_equal(r.body, "789");
    thttp_free(&r);
    static const char *const R3[] = {"Range: bytes=-3", NULL};
    assert_int_equal(
        req(&r, "GET", url(&E, "/storage/v1/b/bkt/o/range.txt?alt=media"), R3, NULL, 0), 206);
    assert_string_equal(r.body, "789");
    thttp_free(&r);
    static const char *const R4[] = {"Range: bytes=10-20", NULL};
    expect("GET", url(&E, "/storage/v1/b/bkt/o/range.txt?alt=media"), R4, NULL, 0, 416);
}

static void test_multipart(void **state)
{
    /* python-storage style: CRLF, double-quoted boundary, declared crc32c. */
    static const char crlf[] = "--BOUND\r\n"
                               "Content-Type: application/json; charset=UTF-8\r\n\r\n"
                               "{\"name\":\"mp/crlf.txt\",\"contentType\":\"text/csv\","
                               "\"crc32c\":\"yZRlqg==\",\"metadata\":{\"job\":\"42\"}}\r\n"
                               "--BOUND\r\n"
                               "Content-Type: text/csv\r\n\r\n"
                               "hello world\r\n"
                               "--BOUND--\r\n";
    static const char *const H1[] = {"Content-Type: multipart/related; boundary=\"BOUND\"", NULL};
    /* gcloud style: LF, single-quoted boundary, MIME-Version headers. */
    static const char lf[] = "--===============1868314310481209754==\n"
                             "Content-Type: application/json\nMIME-Version: 1.0\n\n"
                             "{\"bucket\": \"bkt\", \"contentType\": \"text/plain\", \"name\": "
                             "\"mp/lf.txt\"}\n"
                             "--===============1868314310481209754==\n"
                             "Content-Type: text/plain\nMIME-Version: 1.0\n"
                             "Content-Transfer-Encoding: binary\n\nhello\n\n"
                             "--===============1868314310481209754==--\n";
    static const char *const H2[] = {
        "Content-Type: multipart/related; boundary='===============1868314310481209754=='", NULL};
    json_t *j;
    j = req_json("POST", url(&E, "/upload/storage/v1/b/bkt/o?uploadType=multipart"), H1, crlf,
                 sizeof(crlf) - 1, 200);
    assert_string_equal(jstr(j, "name"), "mp/crlf.txt");
    assert_string_equal(jstr(j, "size"), "11");
    assert_string_equal(jstr(j, "contentType"), "text/csv");
    assert_string_equal(jstr(json_object_get(j, "metadata"), "job"), "42");
    json_decref(j);
    expect_media(&E, "bkt", "mp%2Fcrlf.txt", "hello world", 11);

    j = req_json("POST", url(&E, "/upload/storage/v1/b/bkt/o?alt=json&uploadType=multipart"), H2,
                 lf, sizeof(lf) - 1, 200);
    assert_string_equal(jstr(j, "name"), "mp/lf.txt");
    assert_string_equal(jstr(j, "size"), "6");
    json_decref(j);
    expect_media(&E, "bkt", "mp%2Flf.txt", "hello\n", 6);
}

static void test_checksum_mismatch(void **state)
{
    static const char bad[] = "--B\r\nContent-Type: application/json\r\n\r\n"
                              "{\"name\":\"bad.txt\",\"crc32c\":\"AAAAAA==\"}\r\n"
                              "--B\r\nContent-Type: text/plain\r\n\r\nhello world\r\n--B--\r\n";
    static const char *const H[] = {"Content-Type: multipart/related; boundary=B", NULL};
    static const char *const XH[] = {
        "x-goog-hash: md5=AAAAAAAAAAAAAAAAAAAAAA==", "Content-Type: text/plain", NULL};
    static const char *const XOK[] = {"x-goog-hash: crc32c=mnG7TA==,md5=XUFAKrxLKna5cZ2REBfFkg==",
                                      NULL};
    json_t *j = req_json("POST", url(&E, "/upload/storage/v1/b/bkt/o?uploadType=multipart"), H, bad,
                         sizeof(bad) - 1, 400);
    json_decref(j);
    expect("GET", url(&E, "/storage/v1/b/bkt/o/bad.txt"), NULL, NULL, 0, 404);
    expect("POST", url(&E, "/upload/storage/v1/b/bkt/o?uploadType=media&name=bad2.txt"), XH,
           "hello", 5, 400);
    expect("POST", url(&E, "/upload/storage/v1/b/bkt/o?uploadType=media&name=good.txt"), XOK,
           "hello", 5, 200);
}

static void test_malformed_multipart(void **state)
{
    static const char *const bodies[] = {
        "",
        "garbage without boundaries",
        "--B\r\nContent-Type: application/json\r\n\r\n{\"name\":\"m1\"}\r\n--B--\r\n",
        "--B\r\nContent-Type: application/json\r\n\r\n{\"name\":\"m2\"}\r\n--B\r\n\r\ndata",
        "--B\r\nContent-Type: application/json\r\n\r\n{not json}\r\n--B\r\n\r\ndata\r\n--B--",
        "--B\r\nContent-Type: application/json",
        "--B--",
        "--B\r\n\r\n{}\r\n--B\r\n\r\nno name\r\n--B--\r\n",
        "--Bxx\r\n\r\n--B",
    };
    static const char *const H[] = {"Content-Type: multipart/related; boundary=B", NULL};
    static const char *const NOB[] = {"Content-Type: multipart/related", NULL};
    struct thttp r;
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        req(&r, "POST", url(&E, "/upload/storage/v1/b/bkt/o?uploadType=multipart"), H, bodies[i],
            strlen(bodies[i]));
        if (r.status != 400)
            fprintf(stderr, "body %zu -> %ld %s\n", i, r.status, r.body);
        assert_int_equal(r.status, 400);
        thttp_free(&r);
    }
    expect("POST", url(&E, "/upload/storage/v1/b/bkt/o?uploadType=multipart"), NOB, "--B\r\n", 5,
           400);
    /* Still alive. */
    expect("GET", url(&E, "/storage/v1/b/bkt"), NULL, NULL, 0, 200);
}

/* ---- preconditions ---- */

static void test_preconditions(void **state)
{
    json_t *j;
    char gen[32], q[128];
    static const char *const JH[] = {"Content-Type: application/json", NULL};
    j = put_media(&E, "bkt", "pc.txt", "v1", 2, "&ifGenerationMatch=0", 200);
    snprintf(gen, sizeof(gen), "%s", jstr(j, "generation"));
    json_decref(j);
    /* Create-only again → 412 conditionNotMet; data unchanged. */
    j = put_media(&E, "bkt", "pc.txt", "v2", 2, "&ifGenerationMatch=0", 412);
    assert_string_equal(
        jstr(json_array_get(json_object_get(json_object_get(j, "error"), "errors"), 0), "reason"),
        "conditionNotMet");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "error"), "code")), 412);
    json_decref(j);
    j = put_media(&E, "bkt", "pc.txt", "v2", 2, "&ifGenerationMatch=1", 412);
    json_decref(j);
    /* Compare-and-swap with the right generation succeeds; generation grows. */
    snprintf(q, sizeof(q), "&ifGenerationMatch=%s", gen);
    j = put_media(&E, "bkt", "pc.txt", "v2", 2, q, 200);
    assert_true(strtoull(jstr(j, "generation"), NULL, 10) > strtoull(gen, NULL, 10));
    json_decref(j);
    j = put_media(&E, "bkt", "pc.txt", "v3", 2, q, 412); /* stale generation */
    json_decref(j);
    /* ifGenerationNotMatch on a read → 304; ifMetagenerationMatch on patch. */
    j = req_json("GET", url(&E, "/storage/v1/b/bkt/o/pc.txt"), NULL, NULL, 0, 200);
    snprintf(gen, sizeof(gen), "%s", jstr(j, "generation"));
    json_decref(j);
    expect("GET", url(&E, "/storage/v1/b/bkt/o/pc.txt?ifGenerationNotMatch=%s", gen), NULL, NULL, 0,
           304);
    expect("GET", url(&E, "/storage/v1/b/bkt/o/pc.txt?ifMetagenerationMatch=7"), NULL, NULL, 0,
           412);
    j = req_json("PATCH", url(&E, "/storage/v1/b/bkt/o/pc.txt?ifMetagenerationMatch=1"), JH,
                 "{\"metadata\":{\"k\":\"v\"}}", 22, 200);
    assert_string_equal(jstr(j, "metageneration"), "2");
    assert_string_equal(jstr(json_object_get(j, "metadata"), "k"), "v");
    json_decref(j);
    j = req_json("PATCH", url(&E, "/storage/v1/b/bkt/o/pc.txt?ifMetagenerationMatch=1"), JH,
                 "{\"metadata\":{\"k\":\"w\"}}", 22, 412);
    json_decref(j);
    expect("PATCH", url(&E, "/storage/v1/b/bkt/o/pc.txt?ifMetagenerationNotMatch=2"), JH, "{}", 2,
           412);
    /* Delete: wrong generation → 412; a stale ?generation= → 404; right → 204. */
    expect("DELETE", url(&E, "/storage/v1/b/bkt/o/pc.txt?ifGenerationMatch=5"), NULL, NULL, 0, 412);
    expect("DELETE", url(&E, "/storage/v1/b/bkt/o/pc.txt?generation=5"), NULL, NULL, 0, 404);
    expect("DELETE", url(&E, "/storage/v1/b/bkt/o/pc.txt?ifGenerationMatch=%s", gen), NULL, NULL, 0,
           204);
    /* Bad precondition value → 400. */
    j = put_media(&E, "bkt", "pc2.txt", "x", 1, "&ifGenerationMatch=abc", 400);
    json_decref(j);
}

/* ---- resumable ---- */

static char *resumable_start(const struct tgcs *e, const char *name_json, const char *query)
{
    struct thttp r;
    char loc[2048];
    static const char *const H[] = {"Content-Type: application/json; charset=UTF-8",
                                    "X-Upload-Content-Type: application/octet-stream", NULL};
    req(&r, "POST",
        url(e, "/resumable/upload/storage/v1/b/bkt/o?alt=json&uploadType=resumable%s",
            query ? query : ""),
        H, name_json, strlen(name_json));
    assert_int_equal(r.status, 200);
    assert_int_equal(thttp_header(&r, "Location", loc, sizeof(loc)), 0);
    thttp_free(&r);
    assert_non_null(strstr(loc, "upload_id="));
    return strdup(loc);
}

static long put_chunk(struct thttp *r, const char *loc, const char *data, uint64_t first,
                      size_t len, const char *total, long abort_after)
{
    char cr[128];
    const char *h[3] = {cr, "Content-Type: application/octet-stream", NULL};
    if (len == 0)
        snprintf(cr, sizeof(cr), "Content-Range: bytes */%s", total);
    else
        snprintf(cr, sizeof(cr), "Content-Range: bytes %llu-%llu/%s", (unsigned long long)first,
                 (unsigned long long)(first + len - 1), total);
    thttp_do(r, "PUT", loc, h, len ? data + first : "", len, abort_after);
    return r->status;
}

/* Range header of a 308 → bytes persisted (0 when absent). */
static uint64_t persisted_of(const struct thttp *r)
{
    char hv[64];
    unsigned long long a, b;
    if (thttp_header(r, "Range", hv, sizeof(hv)) < 0)
        return 0;
    assert_int_equal(sscanf(hv, "bytes=%llu-%llu", &a, &b), 2);
    assert_int_equal(a, 0);
    return b + 1;
}

static void test_resumable_chunks(void **state)
{
    const size_t C = 262144, N = 3 * 262144 + 1000;
    char *data = malloc(N);
    char *loc, tot[32];
    struct thttp r;
    json_t *j;
    fill_random(data, N, 1);
    snprintf(tot, sizeof(tot), "%zu", N);
    loc = resumable_start(&E, "{\"name\":\"res/a.bin\",\"contentType\":\"audio/wav\"}",
                          "&ifGenerationMatch=0");
    /* Nothing yet: status query answers 308 without Range. */
    assert_int_equal(put_chunk(&r, loc, data, 0, 0, "*", -1), 308);
    assert_int_equal(persisted_of(&r), 0);
    thttp_free(&r);
    assert_int_equal(put_chunk(&r, loc, data, 0, C, "*", -1), 308);
    assert_int_equal(persisted_of(&r), C);
    thttp_free(&r);
    /* A non-final chunk that is not a multiple of 256 KiB → 400. */
    assert_int_equal(put_chunk(&r, loc, data, C, 1000, "*", -1), 400);
    thttp_free(&r);
    /* A gap → 400; a re-sent overlapping chunk is accepted. */
    assert_int_equal(put_chunk(&r, loc, data, 2 * C, C, "*", -1), 400);
    thttp_free(&r);
    assert_int_equal(put_chunk(&r, loc, data, 0, 2 * C, "*", -1), 308);
    assert_int_equal(persisted_of(&r), 2 * C);
    thttp_free(&r);
    assert_int_equal(put_chunk(&r, loc, data, 0, 0, tot, -1), 308);
    assert_int_equal(persisted_of(&r), 2 * C);
    thttp_free(&r);
    /* Final chunk → 200 with the object. */
    assert_int_equal(put_chunk(&r, loc, data, 2 * C, N - 2 * C, tot, -1), 200);
    j = thttp_json(&r);
    thttp_free(&r);
    assert_string_equal(jstr(j, "name"), "res/a.bin");
    assert_string_equal(jstr(j, "contentType"), "audio/wav");
    assert_int_equal(strtoull(jstr(j, "size"), NULL, 10), N);
    json_decref(j);
    /* Status query after completion → 200 again. */
    assert_int_equal(put_chunk(&r, loc, data, 0, 0, "*", -1), 200);
    thttp_free(&r);
    expect_media(&E, "bkt", "res%2Fa.bin", data, N);
    free(loc);

    /* The precondition is carried to finalize: same name again → 412. */
    loc = resumable_start(&E, "{\"name\":\"res/a.bin\"}", "&ifGenerationMatch=0");
    assert_int_equal(put_chunk(&r, loc, data, 0, 10, "10", -1), 412);
    thttp_free(&r);
    free(loc);

    /* Cancel → 499, then the upload URI is gone (404). */
    loc = resumable_start(&E, "{\"name\":\"res/c.bin\"}", NULL);
    expect("DELETE", loc, NULL, NULL, 0, 499);
    assert_int_equal(put_chunk(&r, loc, data, 0, 0, "*", -1), 404);
    thttp_free(&r);
    free(loc);

    /* Declared crc32c that does not match → 400 at finalize. */
    loc = resumable_start(&E, "{\"name\":\"res/bad.bin\",\"crc32c\":\"AAAAAA==\"}", NULL);
    assert_int_equal(put_chunk(&r, loc, data, 0, 10, "10", -1), 400);
    thttp_free(&r);
    free(loc);
    free(data);
}

/* Waits until at least want log lines contain a (and b, when not NULL): the
 * emulator logs a request after its response is sent, so a count read right
 * after the response may lag. Not a timing assertion: the bound only stops a
 * hung test. */
static void wait_log2(const struct tgcs *e, const char *a, const char *b, int want)
{
    for (int i = 0; i < 3000 && tgcs_log_count(e, a, b) < want; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    assert_true(tgcs_log_count(e, a, b) >= want);
}

static void wait_log(const struct tgcs *e, const char *needle, int want)
{
    wait_log2(e, needle, NULL, want);
}

static void test_resumable_interrupted(void **state)
{
    const size_t C = 262144, N = 8 * 262144 + 12345;
    char *data = malloc(N), *loc, tot[32], id[80];
    struct thttp r;
    uint64_t p;
    const char *u;
    int puts_before;
    fill_random(data, N, 2);
    snprintf(tot, sizeof(tot), "%zu", N);
    loc = resumable_start(&E, "{\"name\":\"res/int.bin\"}", NULL);
    u = strstr(loc, "upload_id=");
    snprintf(id, sizeof(id), "%s", u);
    puts_before = tgcs_log_count(&E, id, NULL);
    /* Send one 4-chunk request but drop the connection after 3.5 chunks. */
    put_chunk(&r, loc, data, 0, 4 * C, "*", (long)(3 * C + C / 2));
    assert_int_not_equal(r.curl_code, 0);
    thttp_free(&r);
    wait_log(&E, id, puts_before + 1);
    /* Whole 256 KiB blocks that arrived are kept. */
    assert_int_equal(put_chunk(&r, loc, data, 0, 0, "*", -1), 308);
    p = persisted_of(&r);
    thttp_free(&r);
    assert_int_equal(p % C, 0);
    assert_true(p <= 3 * C);
    /* Resume from what the server has, to the end. */
    assert_int_equal(put_chunk(&r, loc, data, p, N - p, tot, -1), 200);
    thttp_free(&r);
    expect_media(&E, "bkt", "res%2Fint.bin", data, N);
    free(loc);
    free(data);
}

/* ---- list ---- */

static void test_list_paging(void **state)
{
    const int N = 2500;
    char name[64], *tok = NULL, prev[64] = "";
    int seen = 0, pages = 0;
    make_bucket(&E, "many");
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof(name), "d%d%%2Fobj-%05d", i % 3, i);
        expect("POST", url(&E, "/upload/storage/v1/b/many/o?uploadType=media&name=%s", name), NULL,
               "x", 1, 200);
    }
    do {
        char *esc = NULL;
        json_t *j, *items;
        if (tok) {
            CURL *c = curl_easy_init();
            char *e = curl_easy_escape(c, tok, 0);
            esc = strdup(e);
            curl_free(e);
            curl_easy_cleanup(c);
        }
        j = req_json("GET",
                     url(&E, "/storage/v1/b/many/o?maxResults=1000&projection=noAcl%s%s",
                         esc ? "&pageToken=" : "", esc ? esc : ""),
                     NULL, NULL, 0, 200);
        free(esc);
        items = json_object_get(j, "items");
        assert_true(json_array_size(items) <= 1000);
        for (size_t i = 0; i < json_array_size(items); i++) {
            const char *n = jstr(json_array_get(items, i), "name");
            assert_true(strcmp(prev, n) < 0);
            snprintf(prev, sizeof(prev), "%s", n);
            seen++;
        }
        free(tok);
        tok = json_object_get(j, "nextPageToken")
                  ? strdup(json_string_value(json_object_get(j, "nextPageToken")))
                  : NULL;
        json_decref(j);
        pages++;
    } while (tok);
    assert_int_equal(seen, N);
    assert_int_equal(pages, 3);

    /* delimiter → prefixes, no items; prefix + delimiter → the items. */
    {
        json_t *j =
            req_json("GET", url(&E, "/storage/v1/b/many/o?delimiter=%%2F"), NULL, NULL, 0, 200);
        json_t *pre = json_object_get(j, "prefixes");
        assert_null(json_object_get(j, "items"));
        assert_int_equal(json_array_size(pre), 3);
        assert_string_equal(json_string_value(json_array_get(pre, 0)), "d0/");
        assert_string_equal(json_string_value(json_array_get(pre, 2)), "d2/");
        json_decref(j);
        /* Paging over prefixes: one per page. */
        j = req_json("GET", url(&E, "/storage/v1/b/many/o?delimiter=%%2F&maxResults=2"), NULL, NULL,
                     0, 200);
        assert_int_equal(json_array_size(json_object_get(j, "prefixes")), 2);
        assert_non_null(json_object_get(j, "nextPageToken"));
        json_decref(j);
        j = req_json("GET",
                     url(&E, "/storage/v1/b/many/o?prefix=d1%%2Fobj-0000&delimiter=%%2F&"
                             "maxResults=1000&alt=json&fields=items%%2Fname"),
                     NULL, NULL, 0, 200);
        /* d1/obj-00001, 00004, 00007 */
        assert_int_equal(json_array_size(json_object_get(j, "items")), 3);
        assert_null(json_object_get(j, "prefixes"));
        json_decref(j);
        j = req_json("GET", url(&E, "/storage/v1/b/many/o?prefix=zzz"), NULL, NULL, 0, 200);
        assert_null(json_object_get(j, "items"));
        assert_string_equal(jstr(j, "kind"), "storage#objects");
        json_decref(j);
        j = req_json("GET", url(&E, "/storage/v1/b/many/o?matchGlob=d2%%2Fobj-0000%%3F"), NULL,
                     NULL, 0, 200);
        assert_int_equal(json_array_size(json_object_get(j, "items")), 3);
        json_decref(j);
        j = req_json("GET",
                     url(&E, "/storage/v1/b/many/o?startOffset=d0%%2Fobj-02490&endOffset=d1"), NULL,
                     NULL, 0, 200);
        /* d0/obj-02490, 02493, 02496, 02499 */
        assert_int_equal(json_array_size(json_object_get(j, "items")), 4);
        json_decref(j);
    }
    expect("GET", url(&E, "/storage/v1/b/many/o?pageToken=%%21%%21"), NULL, NULL, 0, 400);
}

/* ---- rewrite / copy / compose ---- */

static void test_rewrite_copy_compose(void **state)
{
    json_t *j, *res;
    static const char *const JH[] = {"Content-Type: application/json", NULL};
    char gen[32], body[512];
    size_t len;
    char *got;
    make_bucket(&E, "dst");
    j = put_media(&E, "bkt", "src%2Fa.csv", "a,b\n1,2\n", 8, NULL, 200);
    snprintf(gen, sizeof(gen), "%s", jstr(j, "generation"));
    json_decref(j);
    j = req_json("POST",
                 url(&E,
                     "/storage/v1/b/bkt/o/src%%2Fa.csv/rewriteTo/b/dst/o/done%%2Fa.csv?"
                     "ifGenerationMatch=0&ifSourceGenerationMatch=%s",
                     gen),
                 JH, "{}", 2, 200);
    assert_string_equal(jstr(j, "kind"), "storage#rewriteResponse");
    assert_true(json_is_true(json_object_get(j, "done")));
    assert_string_equal(jstr(j, "totalBytesRewritten"), "8");
    assert_string_equal(jstr(j, "objectSize"), "8");
    res = json_object_get(j, "resource");
    assert_string_equal(jstr(res, "name"), "done/a.csv");
    assert_string_equal(jstr(res, "bucket"), "dst");
    json_decref(j);
    expect_media(&E, "dst", "done%2Fa.csv", "a,b\n1,2\n", 8);
    /* Again with ifGenerationMatch=0 → 412; wrong source generation → 412. */
    expect("POST",
           url(&E, "/storage/v1/b/bkt/o/src%%2Fa.csv/rewriteTo/b/dst/o/"
                   "done%%2Fa.csv?ifGenerationMatch=0"),
           JH, "{}", 2, 412);
    expect("POST",
           url(&E, "/storage/v1/b/bkt/o/src%%2Fa.csv/rewriteTo/b/dst/o/"
                   "x?ifSourceGenerationMatch=1"),
           JH, "{}", 2, 412);
    expect("POST", url(&E, "/storage/v1/b/bkt/o/nope/rewriteTo/b/dst/o/x"), JH, "{}", 2, 404);
    /* Multi-call rewrite: done:false + rewriteToken until the last call. */
    {
        const size_t M = 3 * 1048576 + 10;
        char *big = malloc(M), tokq[128] = "";
        int calls = 0;
        fill_random(big, M, 5);
        json_decref(put_media(&E, "bkt", "src%2Fbig", big, M, NULL, 200));
        for (;;) {
            j = req_json("POST",
                         url(&E,
                             "/storage/v1/b/bkt/o/src%%2Fbig/rewriteTo/b/dst/o/big?"
                             "maxBytesRewrittenPerCall=1048576%s",
                             tokq),
                         JH, "{}", 2, 200);
            calls++;
            assert_int_equal(strtoull(jstr(j, "objectSize"), NULL, 10), M);
            if (json_is_true(json_object_get(j, "done"))) {
                assert_string_equal(jstr(json_object_get(j, "resource"), "name"), "big");
                json_decref(j);
                break;
            }
            assert_int_equal(strtoull(jstr(j, "totalBytesRewritten"), NULL, 10),
                             (unsigned long long)calls * 1048576);
            snprintf(tokq, sizeof(tokq), "&rewriteToken=%s", jstr(j, "rewriteToken"));
            json_decref(j);
            assert_true(calls < 10);
        }
        assert_int_equal(calls, 4);
        expect_media(&E, "dst", "big", big, M);
        expect("POST",
               url(&E, "/storage/v1/b/bkt/o/src%%2Fbig/rewriteTo/b/dst/o/big?rewriteToken=junk"),
               JH, "{}", 2, 400);
        free(big);
    }
    /* copyTo returns the object itself, with metadata overrides. */
    j = req_json("POST", url(&E, "/storage/v1/b/bkt/o/src%%2Fa.csv/copyTo/b/bkt/o/copy.csv"), JH,
                 "{\"contentType\":\"text/csv\"}", 26, 200);
    assert_string_equal(jstr(j, "kind"), "storage#object");
    assert_string_equal(jstr(j, "contentType"), "text/csv");
    assert_string_equal(jstr(j, "size"), "8");
    json_decref(j);
    /* The source is untouched by deleting the copy (shared bytes). */
    expect("DELETE", url(&E, "/storage/v1/b/bkt/o/copy.csv"), NULL, NULL, 0, 204);
    got = get_media(&E, "bkt", "src%2Fa.csv", &len);
    assert_int_equal(len, 8);
    free(got);
    /* compose: concatenation, crc32c of the whole ("hello world" = yZRlqg==). */
    json_decref(put_media(&E, "bkt", "p1", "hello ", 6, NULL, 200));
    json_decref(put_media(&E, "bkt", "p2", "world", 5, NULL, 200));
    snprintf(body, sizeof(body),
             "{\"sourceObjects\":[{\"name\":\"p1\"},{\"name\":\"p2\"}],"
             "\"destination\":{\"contentType\":\"text/plain\"}}");
    j = req_json("POST", url(&E, "/storage/v1/b/bkt/o/joined/compose"), JH, body, strlen(body),
                 200);
    assert_string_equal(jstr(j, "crc32c"), "yZRlqg==");
    assert_string_equal(jstr(j, "size"), "11");
    assert_null(json_object_get(j, "md5Hash"));
    json_decref(j);
    expect_media(&E, "bkt", "joined", "hello world", 11);
}

/* ---- names that try to escape the root ---- */

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static void test_path_traversal(void **state)
{
    static const char *const names[] = {
        "..%2F..%2F..%2Fescape.txt",
        "%2E%2E%2F%2E%2E%2Fescape2.txt",
        "a%2F..%2F..%2Fb",
        "%2Fabs%2Fpath",
        "%2E",
        "with%20space%3F%23",
    };
    char base[300], esc[400], longname[3200];
    size_t len;
    char *got;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(names[i], "%2E") == 0)
            continue;
        json_decref(put_media(&E, "bkt", names[i], "trap", 4, NULL, 200));
        got = get_media(&E, "bkt", names[i], &len);
        assert_int_equal(len, 4);
        free(got);
    }
    /* Nothing was written outside the state directory. */
    snprintf(base, sizeof(base), "%s", E.root);
    *strrchr(base, '/') = '\0';
    snprintf(esc, sizeof(esc), "%s/escape.txt", base);
    assert_false(file_exists(esc));
    snprintf(esc, sizeof(esc), "%s/b/escape.txt", E.root);
    assert_false(file_exists(esc));
    /* "." and ".." and names with CR/LF/NUL are rejected. */
    json_decref(put_media(&E, "bkt", "%2E", "x", 1, NULL, 400));
    json_decref(put_media(&E, "bkt", "%2E%2E", "x", 1, NULL, 400));
    json_decref(put_media(&E, "bkt", "a%0Ab", "x", 1, NULL, 400));
    expect("POST", url(&E, "/upload/storage/v1/b/bkt/o?uploadType=media&name=a%%00b"), NULL, "x", 1,
           400);
    expect("GET", url(&E, "/storage/v1/b/..%%2F..%%2Fetc/o"), NULL, NULL, 0, 404);
    /* A 1024-byte name works (hashed file name); 1025 is rejected. */
    memset(longname, 'n', 1024);
    longname[1024] = '\0';
    json_decref(put_media(&E, "bkt", longname, "long", 4, NULL, 200));
    got = get_media(&E, "bkt", longname, &len);
    assert_int_equal(len, 4);
    free(got);
    {
        json_t *j =
            req_json("GET", url(&E, "/storage/v1/b/bkt/o?prefix=nnnnnnnn"), NULL, NULL, 0, 200);
        assert_int_equal(json_array_size(json_object_get(j, "items")), 1);
        assert_int_equal(strlen(jstr(json_array_get(json_object_get(j, "items"), 0), "name")),
                         1024);
        json_decref(j);
    }
    longname[1024] = 'n';
    longname[1025] = '\0';
    json_decref(put_media(&E, "bkt", longname, "long", 4, NULL, 400));
}

static void test_misc_errors(void **state)
{
    struct thttp r;
    expect("GET", url(&E, "/nothing/here"), NULL, NULL, 0, 404);
    expect("GET", url(&E, "/storage/v1/b/bkt/o/%%zz"), NULL, NULL, 0, 400);
    assert_int_equal(
        req(&r, "POST", url(&E, "/upload/storage/v1/b/bkt/o?uploadType=media"), NULL, "x", 1),
        400); /* no name */
    thttp_free(&r);
    expect("POST", url(&E, "/upload/storage/v1/b/nobucket/o?uploadType=media&name=x"), NULL, "x", 1,
           404);
    expect("PUT",
           url(&E, "/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id="
                   "0123456789abcdef"),
           NULL, "", 0, 404);
    expect("PUT",
           url(&E, "/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id="
                   "..%%2F..%%2Fx"),
           NULL, "", 0, 404);
}

/* ---- restart ---- */

static void test_restart_keeps_state(void **state)
{
    struct tgcs e2;
    struct thttp r;
    char *loc, tot[32];
    const size_t C = 262144, N = 2 * 262144 + 7;
    char *data = malloc(N);
    fill_random(data, N, 3);
    snprintf(tot, sizeof(tot), "%zu", N);
    assert_int_equal(tgcs_start(&e2, NULL), 0);
    make_bucket(&e2, "keep");
    json_decref(put_media(&e2, "keep", "k%2Fv.txt", "kept", 4, NULL, 200));
    {
        struct thttp rr;
        char locbuf[2048];
        static const char *const H[] = {"Content-Type: application/json", NULL};
        req(&rr, "POST", url(&e2, "/upload/storage/v1/b/keep/o?uploadType=resumable&name=big.bin"),
            H, "{}", 2);
        assert_int_equal(rr.status, 200);
        assert_int_equal(thttp_header(&rr, "Location", locbuf, sizeof(locbuf)), 0);
        thttp_free(&rr);
        loc = strdup(locbuf);
    }
    assert_int_equal(put_chunk(&r, loc, data, 0, C, "*", -1), 308);
    thttp_free(&r);
    assert_int_equal(tgcs_restart(&e2, NULL), 0);
    expect_media(&e2, "keep", "k%2Fv.txt", "kept", 4);
    /* The upload survives too; the restart reuses the port, so the upload
     * URI is still valid. */
    assert_non_null(strstr(loc, e2.url));
    assert_int_equal(put_chunk(&r, loc, data, 0, 0, "*", -1), 308);
    assert_int_equal(persisted_of(&r), C);
    thttp_free(&r);
    assert_int_equal(put_chunk(&r, loc, data, C, N - C, tot, -1), 200);
    thttp_free(&r);
    expect_media(&e2, "keep", "big.bin", data, N);
    free(loc);
    free(data);
    assert_int_equal(tgcs_stop_status(&e2), 0);
}

/* ---- fault injection ---- */

static void test_faults(void **state)
{
    static const char *const args[] = {"--fault-rate",
                                       "0.3",
                                       "--fault-statuses",
                                       "503,429,drop",
                                       "--fault-route",
                                       "/b/faulty",
                                       "--seed",
                                       "42",
                                       NULL};
    struct tgcs e2;
    struct thttp r;
    int n503 = 0, n429 = 0, ndrop = 0, nok = 0, other = 0;
    const int N = 300;
    assert_int_equal(tgcs_start(&e2, args), 0);
    make_bucket(&e2, "faulty"); /* POST /storage/v1/b is outside the route */
    make_bucket(&e2, "clean");
    for (int i = 0; i < N; i++) {
        req(&r, "GET", url(&e2, "/storage/v1/b/faulty?i=%d", i), NULL, NULL, 0);
        if (r.curl_code != 0)
            ndrop++;
        else if (r.status == 503)
            n503++;
        else if (r.status == 429)
            n429++;
        else if (r.status == 200)
            nok++;
        else
            other++;
        thttp_free(&r);
    }
    for (int i = 0; i < 50; i++) {
        expect("GET", url(&e2, "/storage/v1/b/clean"), NULL, NULL, 0, 200);
    }
    fprintf(stderr, "faults: 503=%d 429=%d drop=%d ok=%d other=%d of %d\n", n503, n429, ndrop, nok,
            other, N);
    assert_int_equal(other, 0);
    /* Expected 90 faults (30 each); wide bounds, never on time. */
    assert_in_range(n503 + n429 + ndrop, 45, 135);
    assert_true(n503 > 0 && n429 > 0 && ndrop > 0);
    /* The log marks each injected fault. */
    wait_log2(&e2, "/b/faulty?", " FAULT", n503 + n429 + ndrop);
    assert_int_equal(tgcs_log_count(&e2, "/b/faulty?", " FAULT"), n503 + n429 + ndrop);
    assert_int_equal(tgcs_log_count(&e2, "/b/clean", " FAULT"), 0);
    {
        /* A 503 body is the GCS error shape. */
        int found = 0;
        for (int i = 0; i < 100 && !found; i++) {
            req(&r, "GET", url(&e2, "/storage/v1/b/faulty"), NULL, NULL, 0);
            if (r.status == 503) {
                json_t *j = thttp_json(&r);
                assert_non_null(j);
                assert_int_equal(
                    json_integer_value(json_object_get(json_object_get(j, "error"), "code")), 503);
                json_decref(j);
                found = 1;
            }
            thttp_free(&r);
        }
        assert_true(found);
    }
    assert_int_equal(tgcs_stop_status(&e2), 0);
}

/* Same seed, same request sequence → same decisions; rate 1 faults every
 * matching request and none outside the route; latency does not break
 * anything (its duration is never asserted). */
static int fault_sequence(const char *const *args, int n, char *out)
{
    struct tgcs e2;
    struct thttp r;
    if (tgcs_start(&e2, args) < 0)
        return -1;
    make_bucket(&e2, "faulty");
    for (int i = 0; i < n; i++) {
        req(&r, "GET", url(&e2, "/storage/v1/b/faulty"), NULL, NULL, 0);
        out[i] = r.curl_code ? 'd' : r.status == 200 ? '.' : r.status == 503 ? '5' : '?';
        thttp_free(&r);
    }
    out[n] = '\0';
    return tgcs_stop_status(&e2);
}

static void test_fault_seed_and_latency(void **state)
{
    static const char *const seeded[] = {"--fault-rate",
                                         "0.5",
                                         "--fault-statuses",
                                         "503,drop",
                                         "--fault-route",
                                         "/b/faulty",
                                         "--seed",
                                         "7",
                                         NULL};
    static const char *const always[] = {
        "--fault-rate", "1", "--fault-statuses", "500", "--latency-ms", "5", "--fault-route",
        "/b/slow/",     NULL};
    char a[64], b[64];
    struct tgcs e2;
    assert_int_equal(fault_sequence(seeded, 40, a), 0);
    assert_int_equal(fault_sequence(seeded, 40, b), 0);
    fprintf(stderr, "seeded sequence: %s\n", a);
    assert_string_equal(a, b);
    assert_non_null(strchr(a, '5'));
    assert_non_null(strchr(a, '.'));
    assert_null(strchr(a, '?'));

    assert_int_equal(tgcs_start(&e2, always), 0);
    make_bucket(&e2, "slow");
    for (int i = 0; i < 5; i++)
        expect("GET", url(&e2, "/storage/v1/b/slow/o"), NULL, NULL, 0, 500);
    expect("GET", url(&e2, "/storage/v1/b/slow"), NULL, NULL, 0, 200);
    wait_log2(&e2, "/b/slow/o 500", " FAULT", 5);
    assert_int_equal(tgcs_log_count(&e2, "/b/slow/o 500", " FAULT"), 5);
    assert_int_equal(tgcs_stop_status(&e2), 0);
}

/* --chunk-persist-max makes the server keep less than each chunk (the
 * client must resume from Range); the "corrupt" fault flips a byte of media
 * while x-goog-hash still describes the stored object. */
static void test_partial_persist_and_corrupt(void **state)
{
    static const char *const args[] = {"--chunk-persist-max",
                                       "262144",
                                       "--fault-rate",
                                       "1",
                                       "--fault-statuses",
                                       "corrupt",
                                       "--fault-route",
                                       "alt=media",
                                       NULL};
    const size_t C = 262144, N = 3 * 262144 + 5;
    char *data = malloc(N), *loc, tot[32], hv[256];
    struct tgcs e2;
    struct thttp r;
    uint64_t p = 0;
    int puts = 0, diff = 0;
    fill_random(data, N, 4);
    snprintf(tot, sizeof(tot), "%zu", N);
    assert_int_equal(tgcs_start(&e2, args), 0);
    make_bucket(&e2, "bkt");
    loc = resumable_start(&e2, "{\"name\":\"partial.bin\"}", NULL);
    for (;;) {
        long st = put_chunk(&r, loc, data, p, N - p, tot, -1);
        puts++;
        if (st == 200) {
            thttp_free(&r);
            break;
        }
        assert_int_equal(st, 308);
        assert_int_equal(persisted_of(&r), p + C); /* one 256 KiB block per PUT */
        p = persisted_of(&r);
        thttp_free(&r);
        assert_true(puts < 10);
    }
    assert_int_equal(puts, 4);
    /* The /download path does not match the route: intact bytes. */
    req(&r, "GET", url(&e2, "/download/storage/v1/b/bkt/o/partial.bin"), NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, N);
    assert_memory_equal(r.body, data, N);
    thttp_free(&r);
    /* alt=media: same length, exactly one byte differs, hash of the original. */
    req(&r, "GET", url(&e2, "/storage/v1/b/bkt/o/partial.bin?alt=media"), NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, N);
    for (size_t i = 0; i < N; i++)
        diff += r.body[i] != data[i];
    assert_int_equal(diff, 1);
    assert_int_equal(thttp_header(&r, "x-goog-hash", hv, sizeof(hv)), 0);
    thttp_free(&r);
    {
        json_t *j =
            req_json("GET", url(&e2, "/storage/v1/b/bkt/o/partial.bin"), NULL, NULL, 0, 200);
        char want[128];
        snprintf(want, sizeof(want), "crc32c=%s,", jstr(j, "crc32c"));
        assert_non_null(strstr(hv, want));
        json_decref(j);
    }
    wait_log2(&e2, "alt=media", " FAULT", 1);
    assert_int_equal(tgcs_log_count(&e2, "alt=media", " FAULT"), 1);
    free(loc);
    free(data);
    assert_int_equal(tgcs_stop_status(&e2), 0);
}

/* Concurrent create-only writers of one name: exactly one wins, the others
 * get 412 (the check and the write are atomic). */
static void test_concurrent_create_only(void **state)
{
    enum { W = 16 };
    CURLM *m = curl_multi_init();
    CURL *h[W];
    char bodies[W][16];
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: text/plain");
    int running = 0, ok = 0, pre = 0;
    size_t len;
    char *got;
    for (int i = 0; i < W; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "writer-%02d", i);
        h[i] = curl_easy_init();
        curl_easy_setopt(h[i], CURLOPT_URL,
                         url(&E, "/upload/storage/v1/b/bkt/o?uploadType=media&name=race&"
                                 "ifGenerationMatch=0"));
        curl_easy_setopt(h[i], CURLOPT_POSTFIELDS, bodies[i]);
        curl_easy_setopt(h[i], CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h[i], CURLOPT_TIMEOUT, 60L);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, discard_cb);
        curl_multi_add_handle(m, h[i]);
    }
    do {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 1000, NULL);
    } while (running);
    for (int i = 0; i < W; i++) {
        long st = 0;
        curl_easy_getinfo(h[i], CURLINFO_RESPONSE_CODE, &st);
        ok += st == 200;
        pre += st == 412;
        curl_multi_remove_handle(m, h[i]);
        curl_easy_cleanup(h[i]);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(hl);
    assert_int_equal(ok, 1);
    assert_int_equal(pre, W - 1);
    got = get_media(&E, "bkt", "race", &len);
    assert_int_equal(len, 9);
    assert_memory_equal(got, "writer-", 7);
    free(got);
}

static int setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (tgcs_start(&E, NULL) < 0)
        return -1;
    make_bucket(&E, "bkt");
    return 0;
}

static int teardown(void **state)
{
    int st = tgcs_stop_status(&E);
    curl_global_cleanup();
    return st == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_media_roundtrip),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_checksum_mismatch),
        cmocka_unit_test(test_malformed_multipart),
        cmocka_unit_test(test_preconditions),
        cmocka_unit_test(test_concurrent_create_only),
        cmocka_unit_test(test_resumable_chunks),
        cmocka_unit_test(test_resumable_interrupted),
        cmocka_unit_test(test_list_paging),
        cmocka_unit_test(test_rewrite_copy_compose),
        cmocka_unit_test(test_path_traversal),
        cmocka_unit_test(test_misc_errors),
        cmocka_unit_test(test_restart_keeps_state),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_fault_seed_and_latency),
        cmocka_unit_test(test_partial_persist_and_corrupt),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
