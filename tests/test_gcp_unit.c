/* test_gcp_unit.c: CRC32C and base64, and the HTTP engine, GCS and Pub/Sub
 * clients against small in-test HTTP stand-ins that misbehave on purpose
 * (retries, non-retried 400/412, dropped connections, caps, timeouts,
 * cancel, CRC32C mismatch, batching), and the parsers of network answers
 * fed real and malformed bodies directly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <jansson.h>
#include <curl/curl.h>

#include "fake_http.h"
#include "gcp/crc32c.h"
#include "gcp/gcp_int.h"
#include "gcp/gcs.h"
#include "gcp/http.h"
#include "gcp/pubsub.h"

/* ---- CRC32C and base64 ---- */

static void test_crc32c_vectors(void **state)
{
    static const struct {
        const char *in;
        uint32_t crc;
        const char *b64;
    } v[] = {{"", 0x00000000u, "AAAAAA=="},
             {"123456789", 0xE3069283u, "4waSgw=="},
             {"hello", 0x9A71BB4Cu, "mnG7TA=="},
             {"hello world", 0xC99465AAu, "yZRlqg=="}};
    size_t i;
    char b64[9];

    (void)state;
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint32_t c = gcp_crc32c(0, v[i].in, strlen(v[i].in));

        assert_int_equal(c, v[i].crc);
        assert_int_equal(gcp__crc32c_sw(0, v[i].in, strlen(v[i].in)), v[i].crc);
        gcp_crc32c_base64(c, b64);
        assert_string_equal(b64, v[i].b64);
    }
    /* Fed in pieces = fed at once. */
    assert_int_equal(gcp_crc32c(gcp_crc32c(0, "hello ", 6), "world", 5), 0xC99465AAu);
}

static void test_crc32c_hw_matches_table(void **state)
{
    unsigned char buf[4096 + 16];
    size_t i, off, len;

    (void)state;
    srand(7);
    for (i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)rand();
    for (off = 0; off < 9; off++)
        for (len = 0; len < 300; len += 7)
            assert_int_equal(gcp_crc32c(0, buf + off, len), gcp__crc32c_sw(0, buf + off, len));
    assert_int_equal(gcp_crc32c(0x12345678u, buf, 4096), gcp__crc32c_sw(0x12345678u, buf, 4096));
}

static void test_base64(void **state)
{
    unsigned char raw[256], *out;
    size_t n, len;
    char *e;

    (void)state;
    for (n = 0; n < 256; n++)
        raw[n] = (unsigned char)n;
    for (len = 0; len < 10; len++) {
        e = gcp__b64_encode(raw + 250 - len, len, 0);
        assert_non_null(e);
        assert_int_equal(gcp__b64_decode(e, strlen(e), &out, &n), 0);
        assert_int_equal(n, len);
        assert_memory_equal(out, raw + 250 - len, len);
        free(out);
        free(e);
    }
    e = gcp__b64_encode("\xfb\xff", 2, 1);
    assert_string_equal(e, "-_8");
    free(e);
    assert_int_equal(gcp__b64_decode("-_8", 3, &out, &n), 0);
    assert_int_equal(n, 2);
    free(out);
    assert_int_equal(gcp__b64_decode("a*b=", 4, &out, &n), -1);
    assert_int_equal(gcp__b64_decode("aGVsbG8=x", 9, &out, &n), -1);
}

static void test_escape_segment(void **state)
{
    char *e = gcp__escape("dir/a%20b/small.txt");

    (void)state;
    assert_string_equal(e, "dir%2Fa%2520b%2Fsmall.txt");
    free(e);
    e = gcp__escape("foo??bar ~x");
    assert_string_equal(e, "foo%3F%3Fbar%20~x");
    free(e);
}

/* ---- parsers of network answers (gcp_int.h), fed the bytes directly ---- */

/* The body without its NUL: the parsers must never read past len. */
static char *unterminated(const char *s, size_t *len)
{
    char *p;

    *len = strlen(s);
    p = malloc(*len ? *len : 1);
    assert_non_null(p);
    memcpy(p, s, *len);
    return p;
}

static int pull_of(const char *s, struct gcp__pull *p, struct gcp_error *e)
{
    size_t len;
    char *b = unterminated(s, &len);
    int rc;

    memset(e, 0, sizeof *e);
    rc = gcp__pubsub_parse_pull(b, len, p, e);
    free(b);
    return rc;
}

static void test_parse_pull(void **state)
{
    /* docs/gcp.md "Pull", as the emulator sends it, plus a message without data
     * and deliveryAttempt (a subscription without a dead-letter policy). */
    static const char body[] =
        "{\n  \"receivedMessages\": [{\n"
        "    \"ackId\": \"projects/test-proj/subscriptions/jobs-sub:1\",\n"
        "    \"message\": {\"data\": \"aGVsbG8=\", \"attributes\": {\"k\": \"v\", \"n\": 3},\n"
        "      \"messageId\": \"1\", \"publishTime\": \"2026-11-22T10:18:53.215Z\",\n"
        "      \"orderingKey\": \"a\"},\n"
        "    \"deliveryAttempt\": 1\n  }, {\n"
        "    \"ackId\": \"projects/test-proj/subscriptions/jobs-sub:3\",\n"
        "    \"message\": {\"attributes\": {\"only\": \"attrs\"}, \"messageId\": \"2\"}\n"
        "  }]\n}";
    struct gcp__pull p;
    struct gcp_error e;
    const struct gcp_pubsub_received *m;

    (void)state;
    assert_int_equal(pull_of(body, &p, &e), 0);
    assert_int_equal(p.n, 2);
    m = &p.msgs[0];
    assert_string_equal(m->ack_id, "projects/test-proj/subscriptions/jobs-sub:1");
    assert_string_equal(m->message_id, "1");
    assert_string_equal(m->publish_time, "2026-11-22T10:18:53.215Z");
    assert_int_equal(m->data_len, 5);
    assert_memory_equal(m->data, "hello", 5);
    assert_int_equal(m->delivery_attempt, 1);
    assert_int_equal(m->n_attrs, 2);
    assert_string_equal(m->attrs[0].key, "k");
    assert_string_equal(m->attrs[0].value, "v");
    assert_string_equal(m->attrs[1].key, "n");
    assert_string_equal(m->attrs[1].value, ""); /* not a string: empty */
    m = &p.msgs[1];
    assert_string_equal(m->ack_id, "projects/test-proj/subscriptions/jobs-sub:3");
    assert_int_equal(m->data_len, 0);
    assert_null(m->publish_time);
    assert_int_equal(m->delivery_attempt, 0);
    assert_int_equal(m->n_attrs, 1);
    assert_string_equal(m->attrs[0].value, "attrs");
    gcp__pubsub_pull_cleanup(&p);
    assert_null(p.msgs);
    assert_int_equal(p.n, 0);
    gcp__pubsub_pull_cleanup(&p); /* twice is fine */
}

static void test_parse_pull_empty(void **state)
{
    /* An empty long poll is "{}" (docs/gcp.md "Pull"); curl may give no body. */
    static const char *const empty[] = {"{}", "{\"receivedMessages\":[]}",
                                        "{\"receivedMessages\":null}", " {} \n"};
    struct gcp__pull p;
    struct gcp_error e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof empty / sizeof empty[0]; i++) {
        assert_int_equal(pull_of(empty[i], &p, &e), 0);
        assert_int_equal(p.n, 0);
        assert_null(p.msgs);
        gcp__pubsub_pull_cleanup(&p);
    }
    assert_int_equal(gcp__pubsub_parse_pull(NULL, 0, &p, &e), 0);
    assert_int_equal(p.n, 0);
    assert_int_equal(gcp__pubsub_parse_pull("{}", 0, &p, &e), 0);
    assert_int_equal(p.n, 0);
    gcp__pubsub_pull_cleanup(&p);
}

static void test_parse_pull_malformed(void **state)
{
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"{\"receivedMessages\":[{\"ackId\":\"a\",\"message\":{}}", "not JSON"},
        {"<html>502 Bad Gateway</html>", "not JSON"},
        {"{\"receivedMessages\":{\"ackId\":\"a\"}}", "receivedMessages is not an array"},
        {"{\"receivedMessages\":\"x\"}", "receivedMessages is not an array"},
        {"{\"receivedMessages\":[{\"message\":{\"data\":\"aGk=\"}}]}",
         "receivedMessages[0] has no ackId"},
        {"{\"receivedMessages\":[{\"ackId\":\"a\",\"message\":{}},{\"ackId\":7,\"message\":{}}]}",
         "receivedMessages[1] has no ackId"},
        {"{\"receivedMessages\":[{\"ackId\":\"a\"}]}", "receivedMessages[0] has no message object"},
        {"{\"receivedMessages\":[{\"ackId\":\"a\",\"message\":\"aGk=\"}]}",
         "receivedMessages[0] has no message object"},
        {"{\"receivedMessages\":[1]}", "receivedMessages[0] has no ackId"},
        {"{\"receivedMessages\":[{\"ackId\":\"a\",\"message\":{\"data\":\"a*b=\"}}]}",
         "receivedMessages[0]: data is not base64"},
        {"{\"receivedMessages\":[{\"ackId\":\"a\",\"message\":{\"data\":\"aGVsbG8=x\"}}]}",
         "receivedMessages[0]: data is not base64"},
        {"{\"receivedMessages\":[{\"ackId\":\"a\",\"message\":{\"data\":\"A\"}}]}",
         "receivedMessages[0]: data is not base64"},
    };
    struct gcp__pull p;
    struct gcp_error e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pull_of(bad[i].body, &p, &e), GCP_EPROTO);
        assert_int_equal(e.code, GCP_EPROTO);
        assert_string_equal(e.msg, bad[i].why);
        assert_null(p.msgs);
        assert_int_equal(p.n, 0);
        assert_null(p.doc);
        gcp__pubsub_pull_cleanup(&p);
    }
}

static void test_parse_pull_delivery_attempt(void **state)
{
    static const struct {
        const char *da;
        int want;
    } c[] = {{"1", 1},          {"5", 5},   {"2147483647", 2147483647},
             {"2147483648", 0}, {"-1", 0},  {"-4294967295", 0},
             {"4294967297", 0}, {"0", 0},   {"\"3\"", 0},
             {"3.0", 0},        {"null", 0}};
    char body[200];
    struct gcp__pull p;
    struct gcp_error e;
    size_t i;

    (void)state;
    /* Out of range is unknown (0), never a wrapped or negative count. */
    for (i = 0; i < sizeof c / sizeof c[0]; i++) {
        snprintf(body, sizeof body,
                 "{\"receivedMessages\":[{\"ackId\":\"a\",\"message\":{\"data\":\"aGk=\"},"
                 "\"deliveryAttempt\":%s}]}",
                 c[i].da);
        assert_int_equal(pull_of(body, &p, &e), 0);
        assert_int_equal(p.n, 1);
        assert_int_equal(p.msgs[0].delivery_attempt, c[i].want);
        gcp__pubsub_pull_cleanup(&p);
    }
}

static int object_of(const char *s, struct gcp_gcs_object *o, struct json_t **doc,
                     struct gcp_error *e)
{
    size_t len;
    char *b = unterminated(s, &len);
    int rc;

    memset(e, 0, sizeof *e);
    rc = gcp__gcs_parse_object(b, len, o, doc, e);
    free(b);
    return rc;
}

static void test_parse_object(void **state)
{
    /* objects.get as documented (docs/gcp.md "The object resource and downloads"). */
    static const char body[] =
        "{\n \"kind\": \"storage#object\",\n"
        " \"id\": \"my-bucket/in/2024/file.csv/1700000000000001\",\n"
        " \"selfLink\": "
        "\"https://www.googleapis.com/storage/v1/b/my-bucket/o/in%2F2024%2Ffile.csv\",\n"
        " \"name\": \"in/2024/file.csv\",\n \"bucket\": \"my-bucket\",\n"
        " \"generation\": \"1700000000000001\",\n \"metageneration\": \"1\",\n"
        " \"contentType\": \"text/csv\",\n \"storageClass\": \"STANDARD\",\n"
        " \"size\": \"12345678901\",\n \"md5Hash\": \"XUFAKrxLKna5cZ2REBfFkg==\",\n"
        " \"crc32c\": \"mnG7TA==\",\n \"etag\": \"CIGA\",\n"
        " \"timeCreated\": \"2026-11-22T10:00:00.000Z\",\n"
        " \"updated\": \"2026-11-22T10:00:00.000Z\",\n \"metadata\": {\"k\": \"v\"}\n}";
    struct gcp_gcs_object o;
    struct json_t *doc;
    struct gcp_error e;

    (void)state;
    assert_int_equal(object_of(body, &o, &doc, &e), 0);
    assert_non_null(doc);
    assert_string_equal(o.name, "in/2024/file.csv");
    assert_string_equal(o.bucket, "my-bucket");
    assert_true(o.generation == 1700000000000001LL);
    assert_true(o.metageneration == 1);
    assert_true(o.size == 12345678901ULL);
    assert_true(o.has_crc32c);
    assert_int_equal(o.crc32c, 0x9A71BB4Cu);
    assert_string_equal(o.md5_base64, "XUFAKrxLKna5cZ2REBfFkg==");
    assert_string_equal(o.content_type, "text/csv");
    assert_string_equal(o.updated, "2026-11-22T10:00:00.000Z");
    gcp__json_free(doc);

    /* int64 fields as JSON numbers, absent optional fields, a composite
     * object without md5 and a crc32c that is not 4 bytes: no checksum. */
    assert_int_equal(
        object_of("{\"name\":\"o\",\"generation\":5,\"size\":7,\"crc32c\":\"AAAA\"}", &o, &doc, &e),
        0);
    assert_string_equal(o.name, "o");
    assert_null(o.bucket);
    assert_true(o.generation == 5);
    assert_true(o.metageneration == 0);
    assert_true(o.size == 7);
    assert_false(o.has_crc32c);
    assert_null(o.md5_base64);
    assert_null(o.content_type);
    gcp__json_free(doc);
    assert_int_equal(object_of("{\"name\":\"o\",\"crc32c\":\"not base64!\"}", &o, &doc, &e), 0);
    assert_false(o.has_crc32c);
    gcp__json_free(doc);
    gcp__json_free(NULL);
}

static void test_parse_object_malformed(void **state)
{
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"", "not JSON"},
        {"{\"name\":\"o\"", "not JSON"},
        {"Not Found", "not JSON"},
        {"[{\"name\":\"o\"}]", "not a JSON object"},
        {"{\"bucket\":\"b\",\"size\":\"3\"}", "object resource has no name"},
        {"{\"name\":42}", "object resource has no name"},
        {"{\"name\":null}", "object resource has no name"},
        /* A GCS error body is not an object resource. */
        {"{\"error\":{\"code\":404,\"message\":\"No such object: b/o\"}}",
         "object resource has no name"},
    };
    struct gcp_gcs_object o;
    struct json_t *doc = (struct json_t *)&o;
    struct gcp_error e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(object_of(bad[i].body, &o, &doc, &e), GCP_EPROTO);
        assert_int_equal(e.code, GCP_EPROTO);
        assert_string_equal(e.msg, bad[i].why);
        assert_null(doc);
    }
    assert_int_equal(gcp__gcs_parse_object(NULL, 0, &o, &doc, NULL), GCP_EPROTO);
    assert_null(doc);
}

struct errbody_case {
    const char *body, *msg, *rpc;
};

static void check_error_bodies(const struct errbody_case *c, size_t n)
{
    size_t i, len;

    for (i = 0; i < n; i++) {
        char msg[160], rpc[48];
        char *b = unterminated(c[i].body, &len);

        memset(msg, 'x', sizeof msg);
        memset(rpc, 'x', sizeof rpc);
        gcp__http_parse_error_body(b, len, msg, sizeof msg, rpc, sizeof rpc);
        free(b);
        assert_string_equal(msg, c[i].msg);
        assert_string_equal(rpc, c[i].rpc);
    }
}

static void test_parse_error_body(void **state)
{
    static const struct errbody_case c[] = {
        /* google.rpc.Status (docs/gcp.md "Error bodies"), with details. */
        {"{\"error\": {\"code\": 404, \"message\": \"Subscription does not exist\", \"status\": "
         "\"NOT_FOUND\"}}",
         "Subscription does not exist", "NOT_FOUND"},
        {"{\"error\":{\"code\":409,\"message\":\"Topic already exists\",\"status\":"
         "\"ALREADY_EXISTS\",\"details\":[{\"@type\":\"type.googleapis.com/"
         "google.rpc.ErrorInfo\",\"reason\":\"r\",\"domain\":\"d\",\"metadata\":{}}]}}",
         "Topic already exists", "ALREADY_EXISTS"},
        /* GCS (docs/gcp.md "Error bodies"): no status string. */
        {"{\"error\":{\"code\":412,\"message\":\"At least one of the pre-conditions you "
         "specified did not hold.\",\n  \"errors\":[{\"message\":\"At least one of the "
         "pre-conditions you specified did not hold.\",\n  \"domain\":\"global\",\"reason\":"
         "\"conditionNotMet\",\"locationType\":\"header\",\"location\":\"If-Match\"}]}}",
         "At least one of the pre-conditions you specified did not hold.", ""},
        {"{\"error\":{\"code\":404,\"message\":\"The specified bucket does not exist.\"}}",
         "The specified bucket does not exist.", ""},
        /* OAuth token endpoint (docs/gcp.md "Error bodies"). */
        {"{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}",
         "Invalid JWT Signature.", "invalid_grant"},
        {"{\"error\":\"server_error\"}", "", "server_error"},
        /* Text: the emulator's 404, a proxy's HTML page, a media download's
         * text error: the first line only. */
        {"Not Found", "Not Found", ""},
        {"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n</html>", "<html>", ""},
        {"No such object: b/in/x.wav\n", "No such object: b/in/x.wav", ""},
        /* JSON without an error member, or with an empty one: its text. */
        {"{\"foo\": 1}", "{\"foo\": 1}", ""},
        {"{\"error\":{\"code\":500}}", "{\"error\":{\"code\":500}}", ""},
        {"{\"error\":{\"message\":7,\"status\":[]}}", "{\"error\":{\"message\":7,\"status\":[]}}",
         ""},
        /* Non-printable bytes become '?'. */
        {"bad\x01\xff\tgateway", "bad???gateway", ""},
        {"", "", ""},
        {"\n", "", ""},
    };

    (void)state;
    check_error_bodies(c, sizeof c / sizeof c[0]);
}

static void test_parse_error_body_limits(void **state)
{
    char big[400], msg[160], rpc[48], small[8], tiny[1];
    char json[600];

    (void)state;
    /* A long text line stops at 120 bytes. */
    memset(big, 'a', sizeof big);
    gcp__http_parse_error_body(big, sizeof big, msg, sizeof msg, rpc, sizeof rpc);
    assert_int_equal(strlen(msg), 120);
    assert_string_equal(rpc, "");
    /* Small buffers truncate, always terminated. */
    gcp__http_parse_error_body(big, sizeof big, small, sizeof small, tiny, sizeof tiny);
    assert_string_equal(small, "aaaaaaa");
    assert_string_equal(tiny, "");
    snprintf(json, sizeof json, "{\"error\":{\"message\":\"%.300s\",\"status\":\"%.100s\"}}", big,
             big);
    gcp__http_parse_error_body(json, strlen(json), msg, sizeof msg, rpc, sizeof rpc);
    assert_int_equal(strlen(msg), sizeof msg - 1);
    assert_int_equal(strlen(rpc), sizeof rpc - 1);
    gcp__http_parse_error_body(json, strlen(json), small, sizeof small, tiny, sizeof tiny);
    assert_string_equal(small, "aaaaaaa");
    assert_string_equal(tiny, "");
    gcp__http_parse_error_body(NULL, 0, msg, sizeof msg, rpc, sizeof rpc);
    assert_string_equal(msg, "");
    assert_string_equal(rpc, "");
}

static int token_of(const char *s, struct gcp__token *t, struct gcp_error *e)
{
    size_t len;
    char *b = unterminated(s, &len);
    int rc;

    memset(e, 0, sizeof *e);
    rc = gcp__auth_parse_token(b, len, t, e);
    free(b);
    return rc;
}

static void test_parse_token(void **state)
{
    struct gcp__token t;
    struct gcp_error e;

    (void)state;
    /* Metadata server and OAuth token endpoint (docs/gcp.md "Tokens"). */
    assert_int_equal(
        token_of("{\"access_token\":\"ya29.c.b0Aaekm1K-x_y\",\"expires_in\":3599,\"token_type\":"
                 "\"Bearer\"}",
                 &t, &e),
        0);
    assert_string_equal(t.access_token, "ya29.c.b0Aaekm1K-x_y");
    assert_true(t.expires_in == 3599.0);
    gcp__auth_token_cleanup(&t);
    assert_null(t.access_token);
    gcp__auth_token_cleanup(&t);
    /* expires_in may be a string; a fraction is kept. */
    assert_int_equal(token_of("{\"token_type\":\"Bearer\",\"expires_in\":\"3599\",\"access_token\":"
                              "\"ya29.x\"}",
                              &t, &e),
                     0);
    assert_string_equal(t.access_token, "ya29.x");
    assert_true(t.expires_in == 3599.0);
    gcp__auth_token_cleanup(&t);
    assert_int_equal(token_of("{\"access_token\":\"t\",\"expires_in\":0.5}", &t, &e), 0);
    assert_true(t.expires_in == 0.5);
    gcp__auth_token_cleanup(&t);
    /* token_type in any case, or null; an absurd lifetime is capped. */
    assert_int_equal(token_of("{\"access_token\":\"t\",\"expires_in\":\"3599\",\"token_type\":"
                              "\"bearer\"}",
                              &t, &e),
                     0);
    gcp__auth_token_cleanup(&t);
    assert_int_equal(
        token_of("{\"access_token\":\"t\",\"expires_in\":1e300,\"token_type\":null}", &t, &e), 0);
    assert_true(t.expires_in == GCP__TOKEN_MAX_LIFE_S);
    gcp__auth_token_cleanup(&t);
}

/* What fuzz_gcp_token found (corpus/fuzz_gcp_token/regress-nan-expiry):
 * strtod reads "nan" out of a string expires_in, NaN passed "<= 0", and
 * the token got a NaN expiry, so every later gcp_auth_token started a
 * refresh ("inf" would have cached a token forever). Plus tokens that would
 * break the Authorization header line. */
static void test_parse_token_regressions(void **state)
{
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"{\"access_token\":\"ya29.x\",\"expires_in\":\"nanull0\"}",
         "response has no access_token/expires_in"},
        {"{\"access_token\":\"ya29.x\",\"expires_in\":\"nan\"}",
         "response has no access_token/expires_in"},
        {"{\"access_token\":\"ya29.x\",\"expires_in\":\"inf\"}",
         "response has no access_token/expires_in"},
        {"{\"access_token\":\"ya29.x\",\"expires_in\":\"1e400\"}",
         "response has no access_token/expires_in"},
        {"{\"access_token\":\"ya29.x\",\"expires_in\":\"3599s\"}",
         "response has no access_token/expires_in"},
        {"{\"access_token\":\"ya29.x\\r\\nX-Injected: 1\",\"expires_in\":3599}",
         "access_token has a byte that is not visible ASCII"},
        {"{\"access_token\":\"ya29 x\",\"expires_in\":3599}",
         "access_token has a byte that is not visible ASCII"},
        {"{\"access_token\":\"ya29.\\u00e9\",\"expires_in\":3599}",
         "access_token has a byte that is not visible ASCII"},
        {"{\"access_token\":\"ya29.x\",\"expires_in\":3599,\"token_type\":\"mac\"}",
         "token_type is not Bearer"},
        {"{\"access_token\":\"ya29.x\",\"expires_in\":3599,\"token_type\":\"Bearerx\"}",
         "token_type is not Bearer"},
        {"{\"access_token\":\"ya29.x\",\"expires_in\":3599,\"token_type\":1}",
         "token_type is not Bearer"},
    };
    static const char pre[] = "{\"expires_in\":1,\"access_token\":\"";
    struct gcp__token t;
    struct gcp_error e;
    char *big;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(token_of(bad[i].body, &t, &e), GCP_EPROTO);
        assert_string_equal(e.msg, bad[i].why);
        assert_null(t.access_token);
    }
    /* The longest token the engine's header line holds, and one more. */
    big = malloc(sizeof pre + GCP__TOKEN_MAX + 8);
    assert_non_null(big);
    memcpy(big, pre, sizeof pre - 1);
    memset(big + sizeof pre - 1, 'a', GCP__TOKEN_MAX);
    memcpy(big + sizeof pre - 1 + GCP__TOKEN_MAX, "\"}", 3);
    assert_int_equal(token_of(big, &t, &e), 0);
    assert_int_equal(strlen(t.access_token), GCP__TOKEN_MAX);
    gcp__auth_token_cleanup(&t);
    memcpy(big + sizeof pre - 1 + GCP__TOKEN_MAX, "a\"}", 4);
    assert_int_equal(token_of(big, &t, &e), GCP_EPROTO);
    assert_string_equal(e.msg, "access_token is longer than 4000 bytes");
    free(big);
}

static void test_parse_token_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "{",
        "{}",
        "[\"ya29.x\", 3599]",
        "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT Signature.\"}",
        "{\"expires_in\":3599,\"token_type\":\"Bearer\"}",
        "{\"access_token\":\"\",\"expires_in\":3599}",
        "{\"access_token\":42,\"expires_in\":3599}",
        "{\"access_token\":\"ya29.x\"}",
        "{\"access_token\":\"ya29.x\",\"expires_in\":0}",
        "{\"access_token\":\"ya29.x\",\"expires_in\":-5}",
        "{\"access_token\":\"ya29.x\",\"expires_in\":\"soon\"}",
        "{\"access_token\":\"ya29.x\",\"expires_in\":null}",
    };
    struct gcp__token t;
    struct gcp_error e;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(token_of(bad[i], &t, &e), GCP_EPROTO);
        assert_int_equal(e.code, GCP_EPROTO);
        assert_string_equal(e.msg, "response has no access_token/expires_in");
        assert_null(t.access_token);
    }
    assert_int_equal(gcp__auth_parse_token(NULL, 0, &t, NULL), GCP_EPROTO);
}

/* ---- stand-in server with a scripted behaviour ---- */

enum mode {
    M_OK_AFTER_503,
    M_OK_AFTER_DROPS,
    M_ALWAYS_412,
    M_ALWAYS_400,
    M_ALWAYS_503,
    M_SLOW,
    M_BIG,
    M_ECHO_CT,
    M_NOT_FOUND_RPC,
    M_GCS_OBJECT,
    M_UPLOAD_BADCRC,
    M_PUBSUB
};

struct script {
    enum mode mode;
    int hits, fail_first;
    char ctype[128];
    char last_method[16];
    char last_range[64];
    char *last_body;
    int lie_crc; /* M_GCS_OBJECT: x-goog-hash of other bytes */
    int publish_reqs, ack_reqs, max_batch, total_ids;
    int retry_after;
    char hash[64];
    int deletes;
    char delete_gen[32];
};

static void handler(void *ud, const struct fake_req *rq, struct fake_resp *rs)
{
    struct script *s = ud;
    const char *ct = fake_req_header(rq, "Content-Type");
    const char *range = fake_req_header(rq, "Range");

    s->hits++;
    snprintf(s->ctype, sizeof s->ctype, "%s", ct ? ct : "");
    snprintf(s->last_method, sizeof s->last_method, "%s", rq->method);
    snprintf(s->last_range, sizeof s->last_range, "%s", range ? range : "");
    free(s->last_body);
    s->last_body = strdup(rq->body);
    rs->content_type = "application/json";
    switch (s->mode) {
    case M_OK_AFTER_503:
        if (s->hits <= s->fail_first) {
            rs->status = s->hits % 2 ? 503 : 429;
            rs->body = strdup("{\"error\":{\"code\":503,\"message\":\"backend\"}}");
            if (s->retry_after) {
                rs->hdr_name[0] = "Retry-After";
                rs->hdr_value[0] = "0";
            }
            return;
        }
        rs->status = 200;
        rs->body = strdup("{\"ok\":true}");
        return;
    case M_OK_AFTER_DROPS:
        if (s->hits <= s->fail_first) {
            rs->status = 0;
            return;
        }
        rs->status = 200;
        rs->body = strdup("{\"ok\":true}");
        return;
    case M_ALWAYS_412:
        rs->status = 412;
        rs->body = strdup("{\"error\":{\"code\":412,\"message\":\"At least one of the "
                          "pre-conditions you specified did not hold.\",\"errors\":[{\"reason\":"
                          "\"conditionNotMet\"}]}}");
        return;
    case M_ALWAYS_400:
        rs->status = 400;
        rs->body = strdup("{\"error\":{\"code\":400,\"message\":\"Invalid argument\","
                          "\"status\":\"INVALID_ARGUMENT\"}}");
        return;
    case M_ALWAYS_503:
        rs->status = 503;
        rs->content_type = "text/html";
        rs->body = strdup("<html>Service Unavailable</html>");
        return;
    case M_SLOW: {
        struct timespec ts = {1, 500 * 1000 * 1000};

        nanosleep(&ts, NULL);
    }
        rs->status = 200;
        rs->body = strdup("{}");
        return;
    case M_BIG:
        rs->status = 200;
        rs->body = calloc(1, 100001);
        memset(rs->body, 'x', 100000);
        return;
    case M_ECHO_CT:
        rs->status = 200;
        rs->body = strdup("{}");
        return;
    case M_NOT_FOUND_RPC:
        rs->status = 404;
        rs->body = strdup("{\"error\":{\"code\":404,\"message\":\"Topic not found\","
                          "\"status\":\"NOT_FOUND\"}}");
        return;
    case M_GCS_OBJECT: {
        static const char data[] = "hello world";
        char b64[9];

        if (strstr(rq->path, "/o/") && fake_req_arg(rq, "alt")) {
            if (range && range[0]) {
                rs->status = 206;
                rs->body = strdup("world");
            } else {
                rs->status = 200;
                rs->body = strdup(data);
            }
            gcp_crc32c_base64(gcp_crc32c(0, s->lie_crc ? "hello wOrld" : data, 11), b64);
            snprintf(s->hash, sizeof s->hash, "crc32c=%s,md5=XrY7u+Ae7tCTyyK7j1rNww==", b64);
            rs->hdr_name[0] = "x-goog-hash";
            rs->hdr_value[0] = s->hash;
            rs->hdr_name[1] = "x-goog-generation";
            rs->hdr_value[1] = "1700000000000001";
            rs->content_type = "text/plain";
            return;
        }
        rs->status = 200;
        rs->body = strdup("{\"kind\":\"storage#object\",\"name\":\"in/2024/file.csv\","
                          "\"bucket\":\"bkt\",\"generation\":\"1700000000000001\","
                          "\"metageneration\":\"3\",\"size\":\"12345678901\","
                          "\"crc32c\":\"mnG7TA==\",\"contentType\":\"text/csv\"}");
        return;
    }
    case M_UPLOAD_BADCRC:
        if (strcmp(rq->method, "DELETE") == 0) {
            const char *gen = fake_req_arg(rq, "generation");

            snprintf(s->delete_gen, sizeof s->delete_gen, "%s", gen ? gen : "");
            s->deletes++;
            rs->status = 204;
            return;
        }
        rs->status = 200;
        rs->body = strdup("{\"name\":\"out/x\",\"bucket\":\"bkt\",\"generation\":\"77\","
                          "\"size\":\"5\",\"crc32c\":\"AAAAAA==\"}");
        return;
    case M_PUBSUB: {
        json_t *root = json_loads(rq->body, 0, NULL);

        rs->status = 200;
        if (strstr(rq->path, ":publish")) {
            json_t *msgs = json_object_get(root, "messages"), *ids = json_array();
            size_t i;

            s->publish_reqs++;
            if ((int)json_array_size(msgs) > s->max_batch)
                s->max_batch = (int)json_array_size(msgs);
            for (i = 0; i < json_array_size(msgs); i++) {
                char id[32];

                snprintf(id, sizeof id, "%d", s->total_ids++);
                json_array_append_new(ids, json_string(id));
            }
            {
                json_t *o = json_pack("{s:o}", "messageIds", ids);

                rs->body = json_dumps(o, 0);
                json_decref(o);
            }
        } else if (strstr(rq->path, ":acknowledge") || strstr(rq->path, ":modifyAckDeadline")) {
            size_t n = json_array_size(json_object_get(root, "ackIds"));

            s->ack_reqs++;
            s->total_ids += (int)n;
            if ((int)n > s->max_batch)
                s->max_batch = (int)n;
            rs->body = strdup("{}");
        } else {
            rs->body = strdup("{}");
        }
        json_decref(root);
        return;
    }
    }
}

struct env {
    struct ev_loop *loop;
    struct gcp_http *http;
    struct fake_http *fake;
    struct script sc;
};

static int env_setup(void **state)
{
    struct env *e = calloc(1, sizeof *e);
    struct gcp_http_opts o = {0};

    o.backoff_initial_s = 0.01;
    o.backoff_max_s = 0.05;
    o.max_retries = 6;
    o.timeout_ms = 120000; /* multi-MB bodies under ASan on a loaded machine */
    e->loop = ev_loop_new(EVFLAG_AUTO);
    e->http = gcp_http_create(e->loop, &o);
    e->fake = fake_http_start(handler, &e->sc);
    assert_non_null(e->fake);
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;

    gcp_http_destroy(e->http);
    fake_http_stop(e->fake);
    free(e->sc.last_body);
    ev_loop_destroy(e->loop);
    free(e);
    return 0;
}

struct result {
    int calls;
    struct gcp_error err;
    int has_err;
    long status;
    char body[256];
};

static void on_req(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct result *r = ud;

    r->calls++;
    r->has_err = err != NULL;
    if (err)
        r->err = *err;
    r->status = resp->status;
    snprintf(r->body, sizeof r->body, "%s", resp->body ? resp->body : "");
}

static struct gcp__req *start(struct env *e, const char *method, const char *body,
                              enum gcp__retry retry, struct result *r)
{
    struct gcp__req_spec s;
    char url[128];
    struct gcp_error err;

    snprintf(url, sizeof url, "%s/v1/thing", fake_http_url(e->fake));
    memset(&s, 0, sizeof s);
    s.method = method;
    s.url = url;
    s.body = body;
    s.body_len = body ? strlen(body) : 0;
    s.retry = retry;
    return gcp__http_request(e->http, &s, on_req, r, &err);
}

static void test_retry_5xx_then_ok(void **state)
{
    struct env *e = *state;
    struct result r = {0};

    e->sc.mode = M_OK_AFTER_503;
    e->sc.fail_first = 4;
    e->sc.retry_after = 1;
    assert_non_null(start(e, "GET", NULL, GCP__RETRY_IDEMPOTENT, &r));
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_int_equal(r.calls, 1);
    assert_false(r.has_err);
    assert_int_equal(r.status, 200);
    assert_int_equal(e->sc.hits, 5);
    assert_int_equal(gcp_http_pending(e->http), 0);
}

static void test_retry_dropped_connections(void **state)
{
    struct env *e = *state;
    struct result r = {0};

    e->sc.mode = M_OK_AFTER_DROPS;
    e->sc.fail_first = 3;
    assert_non_null(start(e, "GET", NULL, GCP__RETRY_IDEMPOTENT, &r));
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_false(r.has_err);
    assert_int_equal(e->sc.hits, 4);
}

static void test_retries_exhausted(void **state)
{
    struct env *e = *state;
    struct result r = {0};

    e->sc.mode = M_ALWAYS_503;
    assert_non_null(start(e, "GET", NULL, GCP__RETRY_IDEMPOTENT, &r));
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_true(r.has_err);
    assert_int_equal(r.err.code, GCP_EUNAVAILABLE);
    assert_int_equal(r.err.http_status, 503);
    assert_int_equal(e->sc.hits, 7); /* 1 + max_retries */
    assert_non_null(strstr(r.err.msg, "503"));
    assert_non_null(strstr(r.err.msg, "Service Unavailable"));
}

static void test_never_retry_policy(void **state)
{
    struct env *e = *state;
    struct result r = {0};

    e->sc.mode = M_ALWAYS_503;
    assert_non_null(start(e, "POST", "{}", GCP__RETRY_NEVER, &r));
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_int_equal(r.err.code, GCP_EUNAVAILABLE);
    assert_int_equal(e->sc.hits, 1);
}

static void test_400_not_retried(void **state)
{
    struct env *e = *state;
    struct result r = {0};

    e->sc.mode = M_ALWAYS_400;
    assert_non_null(start(e, "GET", NULL, GCP__RETRY_IDEMPOTENT, &r));
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_int_equal(r.err.code, GCP_EINVAL);
    assert_int_equal(e->sc.hits, 1);
    assert_non_null(
        strstr(r.err.msg, "GET /v1/thing: HTTP 400 INVALID_ARGUMENT: Invalid argument"));
}

static void test_error_message_has_everything(void **state)
{
    struct env *e = *state;
    struct result r = {0};

    e->sc.mode = M_NOT_FOUND_RPC;
    assert_non_null(start(e, "POST", "{}", GCP__RETRY_PS_PUBLISH, &r));
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_int_equal(r.err.code, GCP_ENOTFOUND);
    assert_int_equal(r.err.http_status, 404);
    assert_string_equal(r.err.msg, "POST /v1/thing: HTTP 404 NOT_FOUND: Topic not found");
    assert_int_equal(e->sc.hits, 1);
}

static void test_json_content_type(void **state)
{
    struct env *e = *state;
    struct result r = {0};

    e->sc.mode = M_ECHO_CT;
    assert_non_null(start(e, "POST", "{\"a\":1}", GCP__RETRY_NEVER, &r));
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_false(r.has_err);
    assert_string_equal(e->sc.ctype, "application/json");
    assert_string_equal(e->sc.last_body, "{\"a\":1}");
}

static void test_body_cap(void **state)
{
    struct env *e = *state;
    struct result r = {0};
    struct gcp__req_spec s;
    struct gcp_error err;

    e->sc.mode = M_BIG;
    memset(&s, 0, sizeof s);
    s.method = "GET";
    s.url = fake_http_url(e->fake);
    s.max_body = 1000;
    s.retry = GCP__RETRY_IDEMPOTENT;
    assert_non_null(gcp__http_request(e->http, &s, on_req, &r, &err));
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_int_equal(r.err.code, GCP_ETOOBIG);
    assert_int_equal(e->sc.hits, 1);
}

static void test_timeout(void **state)
{
    struct env *e = *state;
    struct result r = {0};
    struct gcp__req_spec s;
    struct gcp_error err;

    e->sc.mode = M_SLOW;
    memset(&s, 0, sizeof s);
    s.method = "GET";
    s.url = fake_http_url(e->fake);
    s.timeout_ms = 200;
    s.retry = GCP__RETRY_NEVER;
    assert_non_null(gcp__http_request(e->http, &s, on_req, &r, &err));
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_int_equal(r.err.code, GCP_ETIMEOUT);
    fake_loop_sleep(e->loop, 1.5); /* let the stand-in finish its sleep */
}

static void test_cancel_fires_once(void **state)
{
    struct env *e = *state;
    struct result r = {0};
    struct gcp__req *q;

    e->sc.mode = M_SLOW;
    q = start(e, "GET", NULL, GCP__RETRY_NEVER, &r);
    assert_non_null(q);
    fake_loop_sleep(e->loop, 0.2);
    assert_int_equal(r.calls, 0);
    gcp__req_cancel(q);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.err.code, GCP_ECANCELED);
    fake_loop_sleep(e->loop, 1.6);
    assert_int_equal(r.calls, 1);
    assert_int_equal(gcp_http_pending(e->http), 0);
}

static void test_destroy_cancels(void **state)
{
    struct env *e = *state;
    struct result r1 = {0}, r2 = {0};

    e->sc.mode = M_SLOW;
    assert_non_null(start(e, "GET", NULL, GCP__RETRY_NEVER, &r1));
    assert_non_null(start(e, "GET", NULL, GCP__RETRY_IDEMPOTENT, &r2));
    fake_loop_sleep(e->loop, 0.1);
    assert_int_equal(gcp_http_pending(e->http), 2);
    gcp_http_destroy(e->http);
    e->http = NULL;
    assert_int_equal(r1.calls, 1);
    assert_int_equal(r2.calls, 1);
    assert_int_equal(r1.err.code, GCP_ECANCELED);
    assert_int_equal(r2.err.code, GCP_ECANCELED);
    fake_loop_sleep(e->loop, 3.2);
}

/* ---- GCS against the stand-in ---- */

struct gres {
    int calls;
    struct gcp_error err;
    int has_err;
    struct gcp_gcs_object obj;
    char name[128], bucket[64], ctype[64];
    char data[64];
    size_t len;
};

static void on_obj(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *o)
{
    struct gres *r = ud;

    r->calls++;
    r->has_err = err != NULL;
    if (err)
        r->err = *err;
    if (o) {
        r->obj = *o;
        snprintf(r->name, sizeof r->name, "%s", o->name ? o->name : "");
        snprintf(r->bucket, sizeof r->bucket, "%s", o->bucket ? o->bucket : "");
        snprintf(r->ctype, sizeof r->ctype, "%s", o->content_type ? o->content_type : "");
    }
}

static void on_data(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *o,
                    const void *data, size_t len)
{
    struct gres *r = ud;

    on_obj(ud, err, o);
    if (data && len < sizeof r->data) {
        memcpy(r->data, data, len);
        r->data[len] = '\0';
        r->len = len;
    }
}

static void on_gdone(void *ud, const struct gcp_error *err)
{
    on_obj(ud, err, NULL);
}

static void test_gcs_stat_int64(void **state)
{
    struct env *e = *state;
    struct gcp_gcs *g = gcp_gcs_create(e->http, NULL, fake_http_url(e->fake), NULL);
    struct gres r = {0};

    e->sc.mode = M_GCS_OBJECT;
    assert_int_equal(gcp_gcs_stat(g, "bkt", "in/2024/file.csv", on_obj, &r), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_false(r.has_err);
    assert_string_equal(r.name, "in/2024/file.csv");
    assert_true(r.obj.generation == 1700000000000001LL);
    assert_true(r.obj.metageneration == 3);
    assert_true(r.obj.size == 12345678901ULL);
    assert_true(r.obj.has_crc32c);
    assert_int_equal(r.obj.crc32c, 0x9A71BB4Cu);
    assert_string_equal(r.ctype, "text/csv");
    /* Bad input gets a precise error, not a request. */
    assert_int_equal(gcp_gcs_stat(g, "Bad Bucket", "x", on_obj, &r), GCP_EINVAL);
    assert_int_equal(gcp_gcs_stat(g, "bkt", "", on_obj, &r), GCP_EINVAL);
    assert_int_equal(e->sc.hits, 1);
    gcp_gcs_destroy(g);
}

static void test_gcs_download_crc(void **state)
{
    struct env *e = *state;
    struct gcp_gcs *g = gcp_gcs_create(e->http, NULL, fake_http_url(e->fake), NULL);
    struct gres r = {0}, r2 = {0}, r3 = {0}, r4 = {0};
    struct gcp_gcs_read_opts ro = {0};

    e->sc.mode = M_GCS_OBJECT;
    assert_int_equal(gcp_gcs_download_mem(g, "bkt", "a/b", NULL, on_data, &r), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_false(r.has_err);
    assert_string_equal(r.data, "hello world");
    assert_true(r.obj.generation == 1700000000000001LL);

    e->sc.lie_crc = 1;
    assert_int_equal(gcp_gcs_download_mem(g, "bkt", "a/b", NULL, on_data, &r2), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r2.calls, 1, 60), 0);
    assert_true(r2.has_err);
    assert_int_equal(r2.err.code, GCP_ECHECKSUM);
    assert_non_null(strstr(r2.err.msg, "crc32c mismatch"));

    /* A range read is not checked against the whole-object hash. */
    ro.offset = 6;
    ro.length = 5;
    assert_int_equal(gcp_gcs_download_mem(g, "bkt", "a/b", &ro, on_data, &r3), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r3.calls, 1, 60), 0);
    assert_false(r3.has_err);
    assert_string_equal(r3.data, "world");
    assert_string_equal(e->sc.last_range, "bytes=6-10");

    /* max_bytes below the object size. */
    memset(&ro, 0, sizeof ro);
    ro.max_bytes = 4;
    e->sc.lie_crc = 0;
    assert_int_equal(gcp_gcs_download_mem(g, "bkt", "a/b", &ro, on_data, &r4), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r4.calls, 1, 60), 0);
    assert_int_equal(r4.err.code, GCP_ETOOBIG);
    gcp_gcs_destroy(g);
}

static void test_gcs_412_and_400_not_retried(void **state)
{
    struct env *e = *state;
    struct gcp_gcs *g = gcp_gcs_create(e->http, NULL, fake_http_url(e->fake), NULL);
    struct gres r = {0}, r2 = {0};
    struct gcp_gcs_write_opts wo = {0};

    wo.if_generation_match = 0;
    e->sc.mode = M_ALWAYS_412;
    assert_int_equal(gcp_gcs_upload_mem(g, "bkt", "out/r.json", "hello world", 11, &wo, on_obj, &r),
                     0);
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_int_equal(r.err.code, GCP_EPRECONDITION);
    assert_int_equal(r.err.http_status, 412);
    assert_int_equal(e->sc.hits, 1);
    assert_non_null(strstr(r.err.msg, "pre-conditions"));
    assert_non_null(strstr(r.err.msg, "gs://bkt/out/r.json"));
    /* The multipart body carries the CRC32C for a server-side check. */
    assert_non_null(strstr(e->sc.last_body, "\"crc32c\":\"yZRlqg==\""));
    assert_non_null(strstr(e->sc.ctype, "multipart/related; boundary="));

    e->sc.mode = M_ALWAYS_400;
    e->sc.hits = 0;
    assert_int_equal(gcp_gcs_upload_mem(g, "bkt", "out/r.json", "x", 1, &wo, on_obj, &r2), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r2.calls, 1, 60), 0);
    assert_int_equal(r2.err.code, GCP_EINVAL);
    assert_int_equal(e->sc.hits, 1);
    gcp_gcs_destroy(g);
}

static void test_gcs_write_retried_only_with_precondition(void **state)
{
    struct env *e = *state;
    struct gcp_gcs *g = gcp_gcs_create(e->http, NULL, fake_http_url(e->fake), NULL);
    struct gres r = {0}, r2 = {0};

    e->sc.mode = M_ALWAYS_503;
    assert_int_equal(gcp_gcs_delete(g, "bkt", "x", GCP_GCS_NO_PRECONDITION, on_gdone, &r), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_int_equal(r.err.code, GCP_EUNAVAILABLE);
    assert_int_equal(e->sc.hits, 1);
    e->sc.hits = 0;
    assert_int_equal(gcp_gcs_delete(g, "bkt", "x", 42, on_gdone, &r2), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r2.calls, 1, 60), 0);
    assert_int_equal(r2.err.code, GCP_EUNAVAILABLE);
    assert_int_equal(e->sc.hits, 7);
    gcp_gcs_destroy(g);
}

static void test_gcs_upload_crc_mismatch_deletes(void **state)
{
    struct env *e = *state;
    struct gcp_gcs *g = gcp_gcs_create(e->http, NULL, fake_http_url(e->fake), NULL);
    struct gres r = {0};
    struct gcp_gcs_write_opts wo = {0};
    int i;

    wo.if_generation_match = 0;
    e->sc.mode = M_UPLOAD_BADCRC;
    assert_int_equal(gcp_gcs_upload_mem(g, "bkt", "out/x", "hello", 5, &wo, on_obj, &r), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_int_equal(r.err.code, GCP_ECHECKSUM);
    for (i = 0; i < 200; i++) {
        int n;

        fake_http_lock(e->fake);
        n = e->sc.deletes;
        fake_http_unlock(e->fake);
        if (n)
            break;
        fake_loop_sleep(e->loop, 0.05);
    }
    fake_http_lock(e->fake);
    assert_int_equal(e->sc.deletes, 1);
    assert_string_equal(e->sc.delete_gen, "77");
    fake_http_unlock(e->fake);
    gcp_gcs_destroy(g);
}

/* ---- Pub/Sub batching against the stand-in ---- */

struct pres {
    int calls;
    int has_err;
    struct gcp_error err;
    size_t n;
    char first[16], last[16];
};

static void on_pub(void *ud, const struct gcp_error *err, const char *const *ids, size_t n)
{
    struct pres *r = ud;

    r->calls++;
    r->has_err = err != NULL;
    if (err)
        r->err = *err;
    r->n = n;
    if (n) {
        snprintf(r->first, sizeof r->first, "%s", ids[0]);
        snprintf(r->last, sizeof r->last, "%s", ids[n - 1]);
    }
}

static void on_pdone(void *ud, const struct gcp_error *err)
{
    on_pub(ud, err, NULL, 0);
}

static void test_pubsub_batching(void **state)
{
    struct env *e = *state;
    struct gcp_pubsub *ps = gcp_pubsub_create(e->http, NULL, fake_http_url(e->fake), NULL);
    struct gcp_pubsub_message *m = calloc(2500, sizeof *m);
    const char **ids = calloc(2500, sizeof *ids);
    struct pres r = {0}, r2 = {0};
    size_t i;

    e->sc.mode = M_PUBSUB;
    for (i = 0; i < 2500; i++) {
        m[i].data = "x";
        m[i].len = 1;
        ids[i] = "projects/p/subscriptions/s:1";
    }
    assert_int_equal(gcp_pubsub_publish(ps, "projects/p/topics/t", m, 2001, on_pub, &r), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r.calls, 1, 60), 0);
    assert_false(r.has_err);
    assert_int_equal(r.n, 2001);
    assert_int_equal(e->sc.publish_reqs, 3);
    assert_int_equal(e->sc.max_batch, 1000);

    e->sc.max_batch = 0;
    e->sc.total_ids = 0;
    assert_int_equal(gcp_pubsub_ack(ps, "projects/p/subscriptions/s", ids, 2500, on_pdone, &r2), 0);
    assert_int_equal(fake_loop_wait(e->loop, &r2.calls, 1, 60), 0);
    assert_false(r2.has_err);
    assert_int_equal(e->sc.ack_reqs, 3);
    assert_int_equal(e->sc.max_batch, 1000);
    assert_int_equal(e->sc.total_ids, 2500);

    /* Limits are enforced locally with precise codes. */
    m[0].data = NULL;
    m[0].len = 0;
    assert_int_equal(gcp_pubsub_publish(ps, "projects/p/topics/t", m, 1, on_pub, &r), GCP_EINVAL);
    assert_int_equal(gcp_pubsub_publish(ps, "topics/t", m + 1, 1, on_pub, &r), GCP_EINVAL);
    assert_int_equal(gcp_pubsub_pull(ps, "projects/p/subscriptions/s", 0, NULL, NULL), GCP_EINVAL);
    {
        struct gcp_pubsub_message big = {0};
        char *blob = malloc(8 * 1000 * 1000);

        memset(blob, 'a', 8 * 1000 * 1000);
        big.data = blob;
        big.len = 8 * 1000 * 1000; /* 10.7 MB in base64 */
        assert_int_equal(gcp_pubsub_publish(ps, "projects/p/topics/t", &big, 1, on_pub, &r),
                         GCP_ETOOBIG);
        free(blob);
    }
    assert_int_equal(r.calls, 1);

    /* The 10 MB request limit splits too: 3 x 4 MB (5.3 MB in base64). */
    {
        struct gcp_pubsub_message mb[3];
        char *blob = malloc(4 * 1000 * 1000);
        struct pres r3 = {0};

        memset(blob, 'b', 4 * 1000 * 1000);
        for (i = 0; i < 3; i++) {
            mb[i].data = blob;
            mb[i].len = 4 * 1000 * 1000;
            mb[i].attrs = NULL;
            mb[i].n_attrs = 0;
        }
        e->sc.publish_reqs = 0;
        assert_int_equal(gcp_pubsub_publish(ps, "projects/p/topics/t", mb, 3, on_pub, &r3), 0);
        assert_int_equal(fake_loop_wait(e->loop, &r3.calls, 1, 60), 0);
        assert_false(r3.has_err);
        assert_int_equal(r3.n, 3);
        assert_int_equal(e->sc.publish_reqs, 3);
        free(blob);
    }
    gcp_pubsub_destroy(ps);
    free(m);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_crc32c_hw_matches_table),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_escape_segment),
        cmocka_unit_test(test_parse_pull),
        cmocka_unit_test(test_parse_pull_empty),
        cmocka_unit_test(test_parse_pull_malformed),
        cmocka_unit_test(test_parse_pull_delivery_attempt),
        cmocka_unit_test(test_parse_object),
        cmocka_unit_test(test_parse_object_malformed),
        cmocka_unit_test(test_parse_error_body),
        cmocka_unit_test(test_parse_error_body_limits),
        cmocka_unit_test(test_parse_token),
        cmocka_unit_test(test_parse_token_malformed),
        cmocka_unit_test(test_parse_token_regressions),
        cmocka_unit_test_setup_teardown(test_retry_5xx_then_ok, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_retry_dropped_connections, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_retries_exhausted, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_never_retry_policy, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_400_not_retried, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_error_message_has_everything, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_json_content_type, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_body_cap, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_timeout, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_fires_once, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_cancels, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_gcs_stat_int64, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_gcs_download_crc, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_gcs_412_and_400_not_retried, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_gcs_write_retried_only_with_precondition, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_gcs_upload_crc_mismatch_deletes, env_setup,
                                        env_teardown),
        cmocka_unit_test_setup_teardown(test_pubsub_batching, env_setup, env_teardown),
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_object_seed(0);
    unsetenv("PUBSUB_EMULATOR_HOST");
    unsetenv("STORAGE_EMULATOR_HOST");
    {
        int rc = cmocka_run_group_tests(tests, NULL, NULL);

        curl_global_cleanup();
        return rc;
    }
}
