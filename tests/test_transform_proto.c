/* test_transform_proto.c: the transform protocol codec (transform/proto.h):
 * every accept and reject rule of a reply line with its reason, the 1 MiB
 * line cap on both sides of the boundary, and request lines read back
 * through jansson. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "transform/proto.h"

static void parse_ok(const char *line, struct tf_msg *m)
{
    char why[256] = "";
    int rc = tf_msg_parse(line, strlen(line), m, why, sizeof(why));
    if (rc != 0)
        fail_msg("rejected %s: %s", line, why);
}

/* Rejected with exactly this reason, leaving m owning nothing. */
static void parse_fails(const char *line, size_t len, const char *reason)
{
    struct tf_msg m;
    char why[256] = "x";
    memset(&m, 0xab, sizeof(m));
    assert_int_equal(tf_msg_parse(line, len, &m, why, sizeof(why)), -1);
    assert_string_equal(why, reason);
    assert_null(m.message);
    assert_null(m.features_json);
    assert_int_equal(m.id[0], 0);
    for (const char *p = why; *p; p++)
        assert_true(*p >= 0x20 && *p <= 0x7e);
}

static void rejects(const char *line, const char *reason)
{
    parse_fails(line, strlen(line), reason);
}

static void test_hello(void **state)
{
    (void)state;
    struct tf_msg m;
    parse_ok("{\"type\":\"hello\",\"protocol\":1,\"name\":\"centroid\",\"version\":\"1.0\"}", &m);
    assert_int_equal(m.type, TF_MSG_HELLO);
    assert_int_equal(m.protocol, 1);
    assert_string_equal(m.name, "centroid");
    assert_string_equal(m.version, "1.0");
    assert_null(m.message);
    assert_null(m.features_json);
    tf_msg_cleanup(&m);
    /* Another protocol is the supervisor's to refuse; an empty version and
     * unknown keys are fine; whitespace around the object too. */
    parse_ok(" {\"version\":\"\",\"protocol\":2,\"name\":\"n\",\"type\":\"hello\",\"gpu\":[1]}\r",
             &m);
    assert_int_equal(m.protocol, 2);
    assert_string_equal(m.version, "");
    tf_msg_cleanup(&m);
    parse_ok("{\"type\":\"hello\",\"protocol\":-1,\"name\":\"\xc3\xa9\\n\",\"version\":\"x\"}", &m);
    assert_int_equal(m.protocol, -1);
    assert_string_equal(m.name, "\xc3\xa9\n");
    tf_msg_cleanup(&m);
}

static void test_hello_rejects(void **state)
{
    (void)state;
    rejects("{\"type\":\"hello\",\"name\":\"n\",\"version\":\"1\"}", "\"protocol\" is missing");
    rejects("{\"type\":\"hello\",\"protocol\":\"1\",\"name\":\"n\",\"version\":\"1\"}",
            "\"protocol\" must be an integer");
    rejects("{\"type\":\"hello\",\"protocol\":1.0,\"name\":\"n\",\"version\":\"1\"}",
            "\"protocol\" must be an integer");
    rejects("{\"type\":\"hello\",\"protocol\":null,\"name\":\"n\",\"version\":\"1\"}",
            "\"protocol\" must be an integer");
    rejects("{\"type\":\"hello\",\"protocol\":4294967297,\"name\":\"n\",\"version\":\"1\"}",
            "\"protocol\" 4294967297 is out of range");
    rejects("{\"type\":\"hello\",\"protocol\":1,\"version\":\"1\"}", "\"name\" is missing");
    rejects("{\"type\":\"hello\",\"protocol\":1,\"name\":\"\",\"version\":\"1\"}",
            "\"name\" must be a non-empty string");
    rejects("{\"type\":\"hello\",\"protocol\":1,\"name\":7,\"version\":\"1\"}",
            "\"name\" must be a non-empty string");
    rejects("{\"type\":\"hello\",\"protocol\":1,\"name\":\"n\"}", "\"version\" is missing");
    rejects("{\"type\":\"hello\",\"protocol\":1,\"name\":\"n\",\"version\":1}",
            "\"version\" must be a string");
}

/* A hello whose name or version has n bytes. */
static char *hello_with(const char *key, size_t n)
{
    char *fill = malloc(n + 1);
    assert_non_null(fill);
    memset(fill, 'a', n);
    fill[n] = '\0';
    char *line = malloc(n + 128);
    assert_non_null(line);
    snprintf(line, n + 128,
             "{\"type\":\"hello\",\"protocol\":1,\"name\":\"%s\",\"version\":\"%s\"}",
             strcmp(key, "name") == 0 ? fill : "n", strcmp(key, "version") == 0 ? fill : "v");
    free(fill);
    return line;
}

static void test_hello_lengths(void **state)
{
    (void)state;
    const struct {
        const char *key;
        size_t n;
        const char *reason; /* NULL: accepted */
    } cases[] = {
        {"name", 127, NULL},
        {"name", 128, "name longer than 127 bytes"},
        {"version", 63, NULL},
        {"version", 64, "version longer than 63 bytes"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char *line = hello_with(cases[k].key, cases[k].n);
        if (cases[k].reason) {
            rejects(line, cases[k].reason);
        } else {
            struct tf_msg m;
            parse_ok(line, &m);
            assert_int_equal(strlen(strcmp(cases[k].key, "name") == 0 ? m.name : m.version),
                             cases[k].n);
            tf_msg_cleanup(&m);
        }
        free(line);
    }
}

static void test_done(void **state)
{
    (void)state;
    struct tf_msg m;
    parse_ok("{\"type\":\"done\",\"id\":\"7\"}", &m);
    assert_int_equal(m.type, TF_MSG_DONE);
    assert_string_equal(m.id, "7");
    assert_null(m.features_json);
    assert_null(m.message);
    tf_msg_cleanup(&m);
    parse_ok("{\"type\":\"done\",\"id\":\"7\",\"features\":null}", &m);
    assert_null(m.features_json);
    tf_msg_cleanup(&m);
    /* Re-encoded compactly, in the child's key order. */
    parse_ok(
        "{\"type\":\"done\", \"id\":\"x y\", \"features\": {\"z\": 1.5, \"a\": [1, \"\\u00e9\"],"
        " \"n\": {}}, \"extra\": true}",
        &m);
    assert_string_equal(m.id, "x y");
    assert_string_equal(m.features_json, "{\"z\":1.5,\"a\":[1,\"\xc3\xa9\"],\"n\":{}}");
    tf_msg_cleanup(&m);
    parse_ok("{\"type\":\"done\",\"id\":\"7\",\"features\":{}}", &m);
    assert_string_equal(m.features_json, "{}");
    tf_msg_cleanup(&m);
    tf_msg_cleanup(&m); /* twice is fine */

    rejects("{\"type\":\"done\",\"id\":\"7\",\"features\":[]}", "\"features\" must be an object");
    rejects("{\"type\":\"done\",\"id\":\"7\",\"features\":\"{}\"}",
            "\"features\" must be an object");
    rejects("{\"type\":\"done\",\"id\":\"7\",\"features\":false}",
            "\"features\" must be an object");
}

/* The id rules, shared by done and error. */
static void test_id(void **state)
{
    (void)state;
    const char *tails[] = {"}", ",\"retryable\":false,\"message\":\"m\"}"};
    const char *types[] = {"done", "error"};
    const char *bad_ids[] = {
        "\"\"",    "7",    "null",
        "[\"7\"]", "true", "\"0123456789012345678901234567890123456789012345678901234567890123\""};
    char line[512];
    for (int t = 0; t < 2; t++) {
        snprintf(line, sizeof(line), "{\"type\":\"%s\"%s", types[t], tails[t]);
        rejects(line, "\"id\" is missing");
        for (size_t k = 0; k < sizeof(bad_ids) / sizeof(bad_ids[0]); k++) {
            snprintf(line, sizeof(line), "{\"type\":\"%s\",\"id\":%s%s", types[t], bad_ids[k],
                     tails[t]);
            rejects(line, "\"id\" must be a non-empty string of at most 63 bytes");
        }
        /* 63 bytes is the most. */
        snprintf(line, sizeof(line),
                 "{\"type\":\"%s\",\"id\":"
                 "\"012345678901234567890123456789012345678901234567890123456789012\"%s",
                 types[t], tails[t]);
        struct tf_msg m;
        parse_ok(line, &m);
        assert_int_equal(strlen(m.id), 63);
        tf_msg_cleanup(&m);
    }
}

static void test_error(void **state)
{
    (void)state;
    struct tf_msg m;
    parse_ok(
        "{\"type\":\"error\",\"id\":\"7\",\"retryable\":true,\"message\":\"GPU out of memory\"}",
        &m);
    assert_int_equal(m.type, TF_MSG_ERROR);
    assert_string_equal(m.id, "7");
    assert_int_equal(m.retryable, 1);
    assert_string_equal(m.message, "GPU out of memory");
    assert_null(m.features_json);
    tf_msg_cleanup(&m);
    assert_null(m.message);
    parse_ok(
        "{\"message\":\"\",\"retryable\":false,\"id\":\"8\",\"type\":\"error\",\"features\":{}}",
        &m);
    assert_int_equal(m.retryable, 0);
    assert_string_equal(m.message, "");
    assert_null(m.features_json); /* only a done carries features */
    tf_msg_cleanup(&m);
    parse_ok("{\"type\":\"error\",\"id\":\"9\",\"retryable\":false,"
             "\"message\":\"line1\\nline2 \\u2603 \\\"q\\\"\"}",
             &m);
    assert_string_equal(m.message, "line1\nline2 \xe2\x98\x83 \"q\"");
    tf_msg_cleanup(&m);

    rejects("{\"type\":\"error\",\"id\":\"7\",\"message\":\"m\"}", "\"retryable\" is missing");
    const char *bad[] = {"1", "0", "\"true\"", "null"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        char line[256];
        snprintf(line, sizeof(line),
                 "{\"type\":\"error\",\"id\":\"7\",\"retryable\":%s,\"message\":\"m\"}", bad[k]);
        rejects(line, "\"retryable\" must be true or false");
    }
    rejects("{\"type\":\"error\",\"id\":\"7\",\"retryable\":true}", "\"message\" is missing");
    rejects("{\"type\":\"error\",\"id\":\"7\",\"retryable\":true,\"message\":null}",
            "\"message\" must be a string");
    rejects("{\"type\":\"error\",\"id\":\"7\",\"retryable\":true,\"message\":{\"m\":1}}",
            "\"message\" must be a string");
}

static void test_framing_rejects(void **state)
{
    (void)state;
    rejects("", "not JSON: '[' or '{' expected near end of file at column 0");
    rejects("{\"type\":\"done\",",
            "not JSON: string or '}' expected near end of file at column 15");
    rejects("{\"type\":\"done\",\"id\":\"7\"} x",
            "not JSON: end of file expected near 'x' at column 26");
    rejects("{\"type\":\"done\",\"id\":\"7\",\"id\":\"8\"}",
            "not JSON: duplicate object key near '\\\"id\\\"' at column 28");
    rejects("{\"type\":\"done\",\"id\":\"\\u0000\"}",
            "not JSON: \\\\u0000 is not allowed without JSON_ALLOW_NUL near '\\\"\\\\u0000\\\"' at "
            "column 28");
    rejects("{\"type\":\"done\",\"id\":\"\xff\"}",
            "not JSON: unable to decode byte 0xff near '\\\"' at column 21");
    rejects("{\"type\":\"done\",\"id\":\"\xc3\"}",
            "not JSON: unable to decode byte 0xc3 near '\\\"' at column 21");
    rejects("{\"type\":\"done\",\"id\":\"a\tb\"}",
            "not JSON: control character 0x9 near '\\\"a' at column 22");
    parse_fails("{\"type\":\"done\",\"id\":\"7\"}\0", 25, "NUL byte at column 25");
    parse_fails("{\"type\":\"do\0ne\",\"id\":\"7\"}", 26, "NUL byte at column 12");
    rejects("{\"type\":\"done\",\n\"id\":\"7\"}", "newline at column 16 inside one line");
    rejects("[{\"type\":\"done\",\"id\":\"7\"}]", "not a JSON object");
    rejects("{}", "\"type\" is missing");
    rejects("{\"id\":\"7\"}", "\"type\" is missing");
    rejects("{\"type\":1,\"id\":\"7\"}", "\"type\" must be a string");
    rejects("{\"type\":null,\"id\":\"7\"}", "\"type\" must be a string");
    rejects("{\"type\":\"foo\",\"id\":\"7\"}", "unknown type \"foo\"");
    rejects("{\"type\":\"Done\",\"id\":\"7\"}", "unknown type \"Done\"");
    rejects("{\"type\":\"process\",\"id\":\"7\"}", "unknown type \"process\"");
    /* What the child wrote is escaped: the reason stays one printable line. */
    rejects("{\"type\":\"a\\n\\\"b\xc3\xa9\",\"id\":\"7\"}",
            "unknown type \"a\\x0a\\\"b\\xc3\\xa9\"");
    rejects("{\"type\":\"0123456789012345678901234567890123456789012345678901234567890123"
            "456789\"}",
            "unknown type "
            "\"0123456789012345678901234567890123456789012345678901234567890123...\"");
    /* A NULL line of length 0 is an empty line. */
    parse_fails(NULL, 0, "not JSON: '[' or '{' expected near end of file at column 0");
}

/* The line need not be NUL-terminated: only len bytes are read. */
static void test_not_terminated(void **state)
{
    (void)state;
    const char *text = "{\"type\":\"done\",\"id\":\"7\"}";
    size_t n = strlen(text);
    char *buf = malloc(n); /* no room for a NUL: ASan sees any overread */
    assert_non_null(buf);
    memcpy(buf, text, n);
    struct tf_msg m;
    char why[128];
    assert_int_equal(tf_msg_parse(buf, n, &m, why, sizeof(why)), 0);
    assert_string_equal(m.id, "7");
    tf_msg_cleanup(&m);
    /* A prefix is a line of its own. */
    assert_int_equal(tf_msg_parse(buf, n - 1, &m, why, sizeof(why)), -1);
    assert_string_equal(why, "not JSON: '}' expected near end of file at column 23");
    free(buf);
    /* A NULL or tiny why is fine. */
    assert_int_equal(tf_msg_parse("[]", 2, &m, NULL, 0), -1);
    char tiny[4];
    assert_int_equal(tf_msg_parse("[]", 2, &m, tiny, sizeof(tiny)), -1);
    assert_string_equal(tiny, "not");
}

/* A done line of exactly n bytes: its features hold one long string. */
static char *done_line(size_t n)
{
    const char *head = "{\"type\":\"done\",\"id\":\"1\",\"features\":{\"s\":\"";
    const char *tail = "\"}}";
    size_t h = strlen(head), t = strlen(tail);
    assert_true(n > h + t);
    char *line = malloc(n);
    assert_non_null(line);
    memcpy(line, head, h);
    memset(line + h, 'x', n - h - t);
    memcpy(line + n - t, tail, t);
    return line;
}

static void test_line_cap(void **state)
{
    (void)state;
    char *line = done_line(TF_LINE_MAX);
    struct tf_msg m;
    char why[128] = "";
    int rc = tf_msg_parse(line, TF_LINE_MAX, &m, why, sizeof(why));
    if (rc != 0)
        fail_msg("1 MiB line rejected: %s", why);
    assert_non_null(m.features_json);
    assert_int_equal(strlen(m.features_json),
                     TF_LINE_MAX - strlen("{\"type\":\"done\",\"id\":\"1\","
                                          "\"features\":}"));
    tf_msg_cleanup(&m);
    free(line);
    line = done_line(TF_LINE_MAX + 1);
    parse_fails(line, TF_LINE_MAX + 1, "line longer than 1048576 bytes");
    free(line);
}

static const char *const example_names[] = {"centroid", "summary"};
static const char *const example_paths[] = {"/tmp/a", "/tmp/b"};

/* The request of docs/transforms.md. */
static struct tf_request example(void)
{
    return (struct tf_request){.id = "7",
                               .element = "track-1",
                               .audio = "/scratch/x.npy",
                               .rate = 16000,
                               .channels = 1,
                               .frames = 441000,
                               .output_names = example_names,
                               .output_paths = example_paths,
                               .n_outputs = 2,
                               .params_json = "{\"hop\": 512}",
                               .attempt = 1};
}

static void test_request(void **state)
{
    (void)state;
    struct tf_request r = example();
    size_t len = 0;
    char *line = tf_request_encode(&r, &len);
    assert_non_null(line);
    /* docs/transforms.md's example, to the byte. */
    assert_string_equal(line, "{\"type\":\"process\",\"id\":\"7\",\"element\":\"track-1\","
                              "\"audio\":\"/scratch/x.npy\",\"rate\":16000,\"channels\":1,"
                              "\"frames\":441000,\"outputs\":{\"centroid\":\"/tmp/a\","
                              "\"summary\":\"/tmp/b\"},\"params\":{\"hop\":512},\"attempt\":1}\n");
    assert_int_equal(len, strlen(line));
    free(line);
    /* No params, no outputs, no len. */
    r.params_json = NULL;
    r.n_outputs = 0;
    line = tf_request_encode(&r, NULL);
    assert_non_null(line);
    assert_non_null(strstr(line, ",\"outputs\":{},\"params\":{},"));
    free(line);
}

static void test_request_round_trip(void **state)
{
    (void)state;
    /* Element strings may hold any UTF-8; escaping is jansson's. */
    const char *element = "a/\"b\"\\c\n\t\x01 \xc3\xa9\xe2\x98\x83\xf0\x9f\x8e\xb5 </script>";
    const char *names[] = {"out", "\xc3\xa9t\xc3\xa9", "z"};
    const char *paths[] = {"/s/1", "/s/\"2\"", "/s/3"};
    struct tf_request r = {.id = "123456789",
                           .element = element,
                           .audio = "/scratch/a b.npy",
                           .rate = 44100,
                           .channels = 2,
                           .frames = 9007199254740993LL,
                           .output_names = names,
                           .output_paths = paths,
                           .n_outputs = 3,
                           .params_json = " {\"model\": {\"layers\": [1, 2]}, \"s\": \"x\"} ",
                           .attempt = 5};
    size_t len = 0;
    char *line = tf_request_encode(&r, &len);
    assert_non_null(line);
    assert_int_equal(len, strlen(line));
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1)); /* one line */

    /* The reply codec's own framing accepts it as one line of JSON. */
    json_error_t jerr;
    json_t *o = json_loadb(line, len - 1, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        fail_msg("%s: %s", jerr.text, line);
    const char *keys[] = {"type",     "id",     "element", "audio",  "rate",
                          "channels", "frames", "outputs", "params", "attempt"};
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        assert_true(k < 10);
        assert_string_equal(key, keys[k]);
        k++;
    }
    assert_int_equal(k, 10);
    assert_string_equal(json_string_value(json_object_get(o, "type")), "process");
    assert_string_equal(json_string_value(json_object_get(o, "id")), "123456789");
    assert_string_equal(json_string_value(json_object_get(o, "element")), element);
    assert_string_equal(json_string_value(json_object_get(o, "audio")), "/scratch/a b.npy");
    assert_int_equal(json_integer_value(json_object_get(o, "rate")), 44100);
    assert_int_equal(json_integer_value(json_object_get(o, "channels")), 2);
    assert_true(json_integer_value(json_object_get(o, "frames")) == 9007199254740993LL);
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 5);
    json_t *outs = json_object_get(o, "outputs");
    assert_int_equal(json_object_size(outs), 3);
    k = 0;
    json_object_foreach(outs, key, v)
    {
        assert_string_equal(key, names[k]);
        assert_string_equal(json_string_value(v), paths[k]);
        k++;
    }
    json_t *want = json_loads(r.params_json, 0, NULL);
    assert_true(json_equal(json_object_get(o, "params"), want));
    json_decref(want);
    json_decref(o);
    free(line);
}

static void test_request_rejects(void **state)
{
    (void)state;
    struct tf_request r = example();
    const char *bad_params[] = {"[]", "1", "\"s\"", "null", "{", "{\"a\":1,\"a\":2}", "{} {}"};
    for (size_t k = 0; k < sizeof(bad_params) / sizeof(bad_params[0]); k++) {
        r.params_json = bad_params[k];
        assert_null(tf_request_encode(&r, NULL));
    }
    const char *twice[] = {"a", "a"};
    r = example();
    r.output_names = twice;
    assert_null(tf_request_encode(&r, NULL));
    const char *bad_name[] = {"a", "\xc3"};
    r.output_names = bad_name;
    assert_null(tf_request_encode(&r, NULL));
    r = example();
    r.element = "bad \xff utf-8";
    assert_null(tf_request_encode(&r, NULL));
    r = example();
    r.element = NULL;
    assert_null(tf_request_encode(&r, NULL));
    assert_null(tf_request_encode(NULL, NULL));

    /* The cap: a line of exactly TF_LINE_MAX bytes before the '\n' passes,
     * one more does not. */
    r = example();
    size_t base;
    char *line = tf_request_encode(&r, &base);
    assert_non_null(line);
    free(line);
    base -= 1 + strlen(r.element); /* without the '\n' and the element */
    char *el = malloc(TF_LINE_MAX);
    assert_non_null(el);
    memset(el, 'e', TF_LINE_MAX - base);
    el[TF_LINE_MAX - base] = '\0';
    r.element = el;
    size_t len = 0;
    line = tf_request_encode(&r, &len);
    assert_non_null(line);
    assert_int_equal(len, TF_LINE_MAX + 1);
    free(line);
    el[TF_LINE_MAX - base] = 'e';
    el[TF_LINE_MAX - base + 1] = '\0';
    assert_null(tf_request_encode(&r, NULL));
    free(el);
}

int main(void)
{
    json_object_seed(0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello),
        cmocka_unit_test(test_hello_rejects),
        cmocka_unit_test(test_hello_lengths),
        cmocka_unit_test(test_done),
        cmocka_unit_test(test_id),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_framing_rejects),
        cmocka_unit_test(test_not_terminated),
        cmocka_unit_test(test_line_cap),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_request_round_trip),
        cmocka_unit_test(test_request_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
