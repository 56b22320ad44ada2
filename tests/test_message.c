/* test_message.c: the wiggly message (service/message.h): wire format
 * round trips, plain IDs, malformed payloads, element rules, every decision
 * branch, the bottom-up scenario of docs/messages.md, the loop guard and the
 * audit bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "service/message.h"

static void decode_ok(const char *text, struct svc_message *m)
{
    char why[256] = "";
    if (svc_message_decode(text, strlen(text), m, why, sizeof(why)) != 0)
        fail_msg("decode of \"%s\" failed: %s", text, why);
    assert_non_null(m->element);
}

static void decode_bad_n(const void *data, size_t len, const char *needle)
{
    struct svc_message m;
    char why[256] = "";
    assert_int_equal(svc_message_decode(data, len, &m, why, sizeof(why)), -1);
    if (!strstr(why, needle))
        fail_msg("expected \"%s\" in \"%s\"", needle, why);
    /* A failed decode leaves nothing to free. */
    assert_null(m.element);
    assert_null(m.recipients);
    assert_null(m.audit);
    svc_message_cleanup(&m);
}

static void decode_bad(const char *text, const char *needle)
{
    decode_bad_n(text, strlen(text), needle);
}

/* Publishes m as the service would (encode) and receives it (decode). */
static void transmit(const struct svc_message *m, struct svc_message *out)
{
    size_t len = 0;
    char *text = svc_message_encode(m, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    char why[256];
    if (svc_message_decode(text, len, out, why, sizeof(why)) != 0)
        fail_msg("decode of own encoding failed: %s (%s)", why, text);
    free(text);
}

static struct svc_job_view job_view(const char *name)
{
    struct svc_job_view v = {.name = name, .force = 0, .ping = 0, .max_visits = 3};
    return v;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct svc_message m = {0}, back;
    char *recips[] = {"a", "b"};
    struct svc_audit_entry audit[] = {{"x", "2026-11-22T10:00:00Z"}, {"a", NULL}};
    m.element = "artist/album/track-001 \xc3\xa9";
    m.force = 1;
    m.ping = 0;
    m.limited = 1;
    m.recipients = recips;
    m.n_recipients = 2;
    m.trigger_children_of = "b";
    m.audit = audit;
    m.n_audit = 2;

    size_t len;
    char *text = svc_message_encode(&m, &len);
    assert_non_null(text);
    /* The wire format of docs/messages.md. */
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "v")), 1);
    assert_string_equal(json_string_value(json_object_get(root, "element")), m.element);
    assert_true(json_is_true(json_object_get(root, "force")));
    assert_true(json_is_false(json_object_get(root, "ping")));
    json_t *r = json_object_get(root, "recipients");
    assert_string_equal(json_string_value(json_object_get(r, "type")), "limited");
    assert_int_equal(json_array_size(json_object_get(r, "jobs")), 2);
    assert_string_equal(json_string_value(json_object_get(r, "trigger_children_of")), "b");
    json_t *a = json_object_get(root, "audit");
    assert_int_equal(json_array_size(a), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(a, 0), "time")),
                        "2026-11-22T10:00:00Z");
    assert_null(json_object_get(json_array_get(a, 1), "time"));
    json_decref(root);

    char why[128];
    assert_int_equal(svc_message_decode(text, len, &back, why, sizeof(why)), 0);
    free(text);
    assert_string_equal(back.element, m.element);
    assert_int_equal(back.force, 1);
    assert_int_equal(back.ping, 0);
    assert_int_equal(back.limited, 1);
    assert_int_equal(back.n_recipients, 2);
    assert_string_equal(back.recipients[0], "a");
    assert_string_equal(back.recipients[1], "b");
    assert_string_equal(back.trigger_children_of, "b");
    assert_int_equal(back.n_audit, 2);
    assert_string_equal(back.audit[0].job, "x");
    assert_string_equal(back.audit[0].time, "2026-11-22T10:00:00Z");
    assert_string_equal(back.audit[1].job, "a");
    assert_null(back.audit[1].time);

    /* Anyone, ping, no audit. */
    struct svc_message m2 = {0}, back2;
    m2.element = "t";
    m2.ping = 1;
    text = svc_message_encode(&m2, NULL);
    assert_non_null(text);
    assert_string_equal(text, "{\"v\":1,\"element\":\"t\",\"force\":false,\"ping\":true,"
                              "\"recipients\":{\"type\":\"anyone\"},\"audit\":[]}");
    decode_ok(text, &back2);
    free(text);
    assert_int_equal(back2.ping, 1);
    assert_int_equal(back2.limited, 0);
    assert_null(back2.trigger_children_of);
    assert_int_equal(back2.n_audit, 0);

    /* Deep copy: independent of the source. */
    struct svc_message cp;
    assert_int_equal(svc_message_copy(&cp, &back), 0);
    svc_message_cleanup(&back);
    assert_string_equal(cp.element, m.element);
    assert_string_equal(cp.recipients[1], "b");
    assert_string_equal(cp.trigger_children_of, "b");
    assert_string_equal(cp.audit[0].time, "2026-11-22T10:00:00Z");
    svc_message_cleanup(&cp);
    svc_message_cleanup(&back2);
    svc_message_cleanup(NULL);
    assert_null(svc_message_encode(NULL, NULL));
}

static void test_plain_ids(void **state)
{
    (void)state;
    struct svc_message m;
    decode_ok("track-123", &m);
    assert_string_equal(m.element, "track-123");
    assert_int_equal(m.limited, 0);
    assert_int_equal(m.force, 0);
    assert_int_equal(m.ping, 0);
    assert_int_equal(m.n_audit, 0);
    svc_message_cleanup(&m);

    decode_ok("artist/album/track-001\n", &m); /* echo | gcloud ... adds a newline */
    assert_string_equal(m.element, "artist/album/track-001");
    svc_message_cleanup(&m);

    decode_ok("  \tmy artist/my track 1 \r\n", &m); /* inner spaces are kept */
    assert_string_equal(m.element, "my artist/my track 1");
    svc_message_cleanup(&m);

    decode_ok("[\"not\", \"a message\"]", &m); /* only '{' starts a JSON message */
    assert_string_equal(m.element, "[\"not\", \"a message\"]");
    svc_message_cleanup(&m);

    decode_ok("\"quoted\"", &m);
    assert_string_equal(m.element, "\"quoted\"");
    svc_message_cleanup(&m);

    /* Empty and blank payloads decode; the element check rejects them. */
    char why[128];
    assert_int_equal(svc_message_decode("", 0, &m, why, sizeof(why)), 0);
    assert_string_equal(m.element, "");
    assert_int_equal(svc_element_check(m.element, why, sizeof(why)), -1);
    assert_string_equal(why, "element is empty");
    svc_message_cleanup(&m);
    decode_ok(" \n ", &m);
    assert_string_equal(m.element, "");
    svc_message_cleanup(&m);
    assert_int_equal(svc_message_decode(NULL, 0, &m, why, sizeof(why)), 0);
    assert_string_equal(m.element, "");
    svc_message_cleanup(&m);

    /* A JSON message with surrounding whitespace is still JSON. */
    decode_ok("\n  {\"element\": \"a/b\", \"force\": true}\n", &m);
    assert_string_equal(m.element, "a/b");
    assert_int_equal(m.force, 1);
    assert_int_equal(m.limited, 0);
    svc_message_cleanup(&m);

    /* Unknown members and null optional members are accepted. */
    decode_ok("{\"element\": \"a\", \"future\": {\"x\": [1]}, \"recipients\": null, "
              "\"audit\": null, \"force\": null}",
              &m);
    assert_string_equal(m.element, "a");
    svc_message_cleanup(&m);

    /* A plain ID of exactly the size cap decodes. */
    char *big = malloc(SVC_MESSAGE_MAX);
    assert_non_null(big);
    memset(big, 'x', SVC_MESSAGE_MAX);
    assert_int_equal(svc_message_decode(big, SVC_MESSAGE_MAX, &m, why, sizeof(why)), 0);
    assert_int_equal(strlen(m.element), SVC_MESSAGE_MAX);
    svc_message_cleanup(&m);
    free(big);
}

static void test_malformed(void **state)
{
    (void)state;
    char *big = malloc(SVC_MESSAGE_MAX + 1);
    assert_non_null(big);
    memset(big, 'x', SVC_MESSAGE_MAX + 1);
    decode_bad_n(big, SVC_MESSAGE_MAX + 1, "message larger than 65536 bytes");
    free(big);

    char deep[200] = "{\"element\":\"a\",\"x\":";
    for (int k = 0; k < 16; k++)
        strcat(deep, "[");
    for (int k = 0; k < 16; k++)
        strcat(deep, "]");
    strcat(deep, "}");
    decode_bad(deep, "message nested deeper than 16 levels");
    /* Brackets inside strings do not count. */
    struct svc_message m;
    decode_ok("{\"element\":\"[[[[[[[[[[[[[[[[[[[[\\\"{{{{{{{{{{{{{{{{{\"}", &m);
    assert_string_equal(m.element, "[[[[[[[[[[[[[[[[[[[[\"{{{{{{{{{{{{{{{{{");
    svc_message_cleanup(&m);

    decode_bad("track\xff", "message is not valid UTF-8 (byte 5)");
    decode_bad("\xc0\xaf", "not valid UTF-8 (byte 0)");      /* overlong '/' */
    decode_bad("a\xed\xa0\x80", "not valid UTF-8 (byte 1)"); /* surrogate */
    decode_bad("ab\xe2\x82", "not valid UTF-8 (byte 2)");    /* truncated */
    decode_bad("{\"element\": \"\xf8\x88\x80\x80\x80\"}", "not valid UTF-8");
    decode_bad_n("a\0b", 3, "message contains a NUL byte");

    decode_bad("{", "message is not valid JSON");
    decode_bad("{\"element\": \"a\",}", "message is not valid JSON");
    decode_bad("{\"element\": \"a\", \"element\": \"b\"}", "duplicate object key");
    decode_bad("{\"element\": \"a\\u0000b\"}", "message is not valid JSON");
    decode_bad("{\"track\": \"a\"}", "JSON message has no \"element\"");
    decode_bad("{}", "JSON message has no \"element\"");
    decode_bad("{\"element\": 5}", "\"element\" must be a string");
    decode_bad("{\"element\": null}", "\"element\" must be a string");
    decode_bad("{\"v\": 2, \"element\": \"a\"}", "unsupported message version");
    decode_bad("{\"v\": \"1\", \"element\": \"a\"}", "unsupported message version");
    decode_bad("{\"element\": \"a\", \"force\": \"yes\"}", "\"force\" must be true or false");
    decode_bad("{\"element\": \"a\", \"ping\": 1}", "\"ping\" must be true or false");
    decode_bad("{\"element\": \"a\", \"recipients\": []}", "\"recipients\" must be an object");
    decode_bad("{\"element\": \"a\", \"recipients\": {}}", "\"recipients.type\" must be");
    decode_bad("{\"element\": \"a\", \"recipients\": {\"type\": \"some\"}}",
               "must be \"anyone\" or \"limited\", got \"some\"");
    decode_bad("{\"element\": \"a\", \"recipients\": {\"type\": \"limited\"}}",
               "limited \"recipients\" need a non-empty \"jobs\" array");
    decode_bad("{\"element\": \"a\", \"recipients\": {\"type\": \"limited\", \"jobs\": []}}",
               "non-empty \"jobs\" array");
    decode_bad(
        "{\"element\": \"a\", \"recipients\": {\"type\": \"limited\", \"jobs\": [\"x\", 3]}}",
        "\"recipients.jobs[1]\" must be a non-empty string");
    decode_bad("{\"element\": \"a\", \"recipients\": {\"type\": \"limited\", \"jobs\": [\"x\"], "
               "\"trigger_children_of\": 1}}",
               "\"recipients.trigger_children_of\" must be a job name or null");
    decode_bad("{\"element\": \"a\", \"audit\": {}}", "\"audit\" must be an array");
    decode_bad("{\"element\": \"a\", \"audit\": [{\"time\": \"t\"}]}",
               "\"audit[0]\" must be {\"job\": string, \"time\": string}");
    decode_bad("{\"element\": \"a\", \"audit\": [{\"job\": \"j\"}, \"j\"]}",
               "\"audit[1]\" must be");

    /* Recipients and audit caps. */
    char *text = malloc(SVC_MESSAGE_MAX);
    assert_non_null(text);
    strcpy(text, "{\"element\": \"a\", \"audit\": [");
    for (int k = 0; k <= SVC_AUDIT_DECODE_MAX; k++)
        strcat(text, k ? ",{\"job\":\"j\"}" : "{\"job\":\"j\"}");
    strcat(text, "]}");
    decode_bad(text, "audit trail longer than 256 entries");
    strcpy(text, "{\"element\": \"a\", \"recipients\": {\"type\": \"limited\", \"jobs\": [");
    for (int k = 0; k <= SVC_RECIPIENTS_MAX; k++)
        strcat(text, k ? ",\"j\"" : "\"j\"");
    strcat(text, "]}}");
    decode_bad(text, "more than 64 recipients");
    free(text);

    /* Duplicate recipients collapse to one. */
    decode_ok("{\"element\": \"a\", \"recipients\": {\"type\": \"limited\", \"jobs\": [\"x\", "
              "\"y\", \"x\"]}}",
              &m);
    assert_int_equal(m.n_recipients, 2);
    svc_message_cleanup(&m);

    /* A NULL why buffer is fine. */
    assert_int_equal(svc_message_decode("{", 1, &m, NULL, 0), -1);
}

static void element_bad(const char *el, const char *want)
{
    char why[128] = "";
    assert_int_equal(svc_element_check(el, why, sizeof(why)), -1);
    if (strcmp(why, want) != 0)
        fail_msg("element \"%s\": expected \"%s\", got \"%s\"", el ? el : "(null)", want, why);
}

static void test_element_rules(void **state)
{
    (void)state;
    char why[128];
    const char *good[] = {
        "track-001", "artist/album/track-001", "a", "Ä/ö/ü ß 日本", "a..b/c", "..a/b..",
        ".hidden/x", "a b/c+d=e&f@g%20"};
    for (size_t k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
        if (svc_element_check(good[k], why, sizeof(why)) != 0)
            fail_msg("\"%s\" rejected: %s", good[k], why);
    }
    char max[SVC_ELEMENT_MAX + 2];
    memset(max, 'a', SVC_ELEMENT_MAX);
    max[SVC_ELEMENT_MAX] = '\0';
    assert_int_equal(svc_element_check(max, why, sizeof(why)), 0);
    max[SVC_ELEMENT_MAX] = 'a';
    max[SVC_ELEMENT_MAX + 1] = '\0';
    element_bad(max, "element is longer than 1024 bytes (1025)");

    element_bad(NULL, "element is empty");
    element_bad("", "element is empty");
    element_bad("..", "element has a \"..\" segment at byte 0");
    element_bad("a/../b", "element has a \"..\" segment at byte 2");
    element_bad("a/..", "element has a \"..\" segment at byte 2");
    element_bad("a/./b", "element has a \".\" segment at byte 2");
    element_bad("a//b", "element has an empty segment (\"//\") at byte 2");
    element_bad("/abs/path", "element starts with '/' (it must be a relative name)");
    element_bad("dir/", "element ends with '/' (it must name an object, not a folder)");
    element_bad("a\nb", "element contains a control character at byte 1");
    element_bad("a\tb", "element contains a control character at byte 1");
    element_bad("ab\x7f", "element contains a control character at byte 2");
    element_bad("a\xc2\x85", "element contains a control character at byte 1"); /* U+0085 */
    element_bad("a?b=1", "element contains '?' at byte 1");
    element_bad("a#frag", "element contains '#' at byte 1");
    element_bad("a\xff", "element is not valid UTF-8 (byte 1)");
    element_bad("a\xc3", "element is not valid UTF-8 (byte 1)");
}

static void test_decide_pre(void **state)
{
    (void)state;
    struct svc_job_view a = job_view("a");
    struct svc_message m;
    char why[200];

    /* Anyone, good element -> check output. */
    decode_ok("t1", &m);
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_CHECK_OUTPUT);
    svc_message_cleanup(&m);

    /* 1. Limited, not a recipient -> drop (before any other check). */
    decode_ok("{\"element\": \"../bad\", \"ping\": true, \"recipients\": {\"type\": \"limited\", "
              "\"jobs\": [\"b\", \"c\"]}, \"audit\": [{\"job\":\"a\"},{\"job\":\"a\"},"
              "{\"job\":\"a\"}]}",
              &m);
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_DROP);
    assert_string_equal(why, "job \"a\" is not among the limited recipients");
    svc_message_cleanup(&m);

    /* Limited, a recipient, not trigger_children_of -> stays limited. */
    decode_ok("{\"element\": \"t\", \"recipients\": {\"type\": \"limited\", \"jobs\": [\"a\", "
              "\"b\"], \"trigger_children_of\": \"b\"}}",
              &m);
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_CHECK_OUTPUT);
    assert_int_equal(m.limited, 1);
    assert_int_equal(m.n_recipients, 2);
    assert_string_equal(m.trigger_children_of, "b");
    svc_message_cleanup(&m);

    /* This job is trigger_children_of -> switched to anyone, goes on. */
    decode_ok("{\"element\": \"t\", \"recipients\": {\"type\": \"limited\", \"jobs\": [\"b\", "
              "\"a\"], \"trigger_children_of\": \"a\"}}",
              &m);
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_CHECK_OUTPUT);
    assert_int_equal(m.limited, 0);
    assert_int_equal(m.n_recipients, 0);
    assert_null(m.trigger_children_of);
    svc_message_cleanup(&m);

    /* trigger_children_of but not among the jobs -> still dropped. */
    decode_ok("{\"element\": \"t\", \"recipients\": {\"type\": \"limited\", \"jobs\": [\"b\"], "
              "\"trigger_children_of\": \"a\"}}",
              &m);
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_DROP);
    svc_message_cleanup(&m);

    /* 2. Loop guard: max_visits - 1 visits pass, max_visits trip it; other
     * jobs' entries do not count; it comes before the element check. */
    decode_ok("{\"element\": \"t\", \"audit\": [{\"job\":\"a\"},{\"job\":\"b\"},{\"job\":\"a\"},"
              "{\"job\":\"b\"},{\"job\":\"b\"}]}",
              &m);
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_CHECK_OUTPUT);
    assert_int_equal(svc_message_audit_add(&m, "a", 32), 0);
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_DEAD_LOOP);
    assert_string_equal(why, "loop guard: job \"a\" already handled this message 3 times "
                             "(max_visits 3)");
    a.max_visits = 4;
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_CHECK_OUTPUT);
    a.max_visits = 0; /* 0 = guard off */
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_CHECK_OUTPUT);
    a.max_visits = 3;
    free(m.element);
    m.element = strdup("../x");
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_DEAD_LOOP);
    svc_message_cleanup(&m);

    /* Bad element -> dead-letter with the reason, even for a ping. */
    decode_ok("{\"element\": \"a/../../etc/passwd\", \"ping\": true}", &m);
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_DEAD_BAD);
    assert_string_equal(why, "element has a \"..\" segment at byte 2");
    svc_message_cleanup(&m);

    /* 3. Ping, from the message or from the config. */
    decode_ok("{\"element\": \"t\", \"ping\": true}", &m);
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_PING);
    svc_message_cleanup(&m);
    decode_ok("t", &m);
    a.ping = 1;
    assert_int_equal(svc_decide_pre(&m, &a, why, sizeof(why)), SVC_PRE_PING);
    a.ping = 0;

    /* No job name: refused, not a crash. */
    struct svc_job_view anon = {0};
    assert_int_equal(svc_decide_pre(&m, &anon, why, sizeof(why)), SVC_PRE_DEAD_BAD);
    svc_message_cleanup(&m);

    /* encode refuses what it cannot represent. */
    struct svc_message raw = {.element = "bad\xff"};
    assert_null(svc_message_encode(&raw, NULL));
}

static void test_decide_post(void **state)
{
    (void)state;
    struct svc_job_view a = job_view("a");
    struct svc_message m;
    decode_ok("t", &m);
    /* output_exists, input_exists, has_parent */
    assert_int_equal(svc_decide_post(&m, &a, 1, 1, 1), SVC_POST_SKIP);
    assert_int_equal(svc_decide_post(&m, &a, 1, 0, 0), SVC_POST_SKIP);
    assert_int_equal(svc_decide_post(&m, &a, 0, 1, 1), SVC_POST_PROCESS);
    assert_int_equal(svc_decide_post(&m, &a, 0, 1, 0), SVC_POST_PROCESS);
    assert_int_equal(svc_decide_post(&m, &a, 0, 0, 1), SVC_POST_TRIGGER_PARENT);
    assert_int_equal(svc_decide_post(&m, &a, 0, 0, 0), SVC_POST_MISSING);
    /* Force from the message... */
    m.force = 1;
    assert_int_equal(svc_decide_post(&m, &a, 1, 1, 0), SVC_POST_PROCESS);
    assert_int_equal(svc_decide_post(&m, &a, 1, 0, 1), SVC_POST_TRIGGER_PARENT);
    assert_int_equal(svc_decide_post(&m, &a, 1, 0, 0), SVC_POST_MISSING);
    m.force = 0;
    /* ...or from the config. */
    a.force = 1;
    assert_int_equal(svc_decide_post(&m, &a, 1, 1, 0), SVC_POST_PROCESS);
    svc_message_cleanup(&m);
}

static void test_make_trigger(void **state)
{
    (void)state;
    struct svc_message in, t;
    decode_ok("{\"element\": \"x/y\", \"force\": true, \"audit\": [{\"job\": \"z\", \"time\": "
              "\"2026-01-01T00:00:00Z\"}]}",
              &in);
    assert_int_equal(svc_message_make_trigger(&t, &in, "parent", "me"), 0);
    assert_string_equal(t.element, "x/y");
    assert_int_equal(t.force, 1);
    assert_int_equal(t.limited, 1);
    assert_int_equal(t.n_recipients, 2);
    assert_string_equal(t.recipients[0], "parent");
    assert_string_equal(t.recipients[1], "me");
    assert_string_equal(t.trigger_children_of, "me");
    assert_int_equal(t.n_audit, 1);
    assert_string_equal(t.audit[0].job, "z");
    assert_int_equal(in.limited, 0); /* the input is untouched */
    svc_message_cleanup(&in);

    /* From a limited message: existing recipients kept, deduplicated. */
    struct svc_message t2;
    assert_int_equal(svc_message_make_trigger(&t2, &t, "grandparent", "parent"), 0);
    assert_int_equal(t2.n_recipients, 3);
    assert_string_equal(t2.recipients[0], "parent");
    assert_string_equal(t2.recipients[1], "me");
    assert_string_equal(t2.recipients[2], "grandparent");
    assert_string_equal(t2.trigger_children_of, "parent");
    assert_string_equal(t.trigger_children_of, "me");
    svc_message_cleanup(&t2);
    svc_message_cleanup(&t);
    assert_int_equal(svc_message_make_trigger(&t, NULL, "p", "j"), -1);
}

/* One hop of a job: what it does with a message from its input topic.
 * Returns the decision; *out is what it publishes (downstream or trigger). */
enum hop { HOP_DROP, HOP_PROCESS, HOP_TRIGGER, HOP_SKIP, HOP_DEAD, HOP_MISSING };

static enum hop run_job(const char *name, const char *parent, int output_exists, int input_exists,
                        const struct svc_message *received, struct svc_message *out)
{
    struct svc_job_view v = job_view(name);
    struct svc_message m;
    char why[200];
    enum hop h;
    transmit(received, &m);
    memset(out, 0, sizeof(*out));
    switch (svc_decide_pre(&m, &v, why, sizeof(why))) {
    case SVC_PRE_DROP:
        svc_message_cleanup(&m);
        return HOP_DROP;
    case SVC_PRE_DEAD_LOOP:
    case SVC_PRE_DEAD_BAD:
        svc_message_cleanup(&m);
        return HOP_DEAD;
    case SVC_PRE_PING:
    case SVC_PRE_CHECK_OUTPUT:
        break;
    }
    switch (svc_decide_post(&m, &v, output_exists, input_exists, parent != NULL)) {
    case SVC_POST_TRIGGER_PARENT:
        assert_int_equal(svc_message_make_trigger(out, &m, parent, name), 0);
        assert_int_equal(svc_message_audit_add(out, name, 32), 0);
        svc_message_cleanup(&m);
        return HOP_TRIGGER;
    case SVC_POST_MISSING:
        svc_message_cleanup(&m);
        return HOP_MISSING;
    case SVC_POST_SKIP:
        h = HOP_SKIP;
        break;
    case SVC_POST_PROCESS:
    default:
        h = HOP_PROCESS;
        break;
    }
    assert_int_equal(svc_message_audit_add(&m, name, 32), 0);
    *out = m;
    return h;
}

/* docs/messages.md "Bottom-up, step by step" (step 6, input missing), the
 * whole way round. Graph:
 *   A -> B -> D,  A -> C  (B's parent is A). */
static void test_bottom_up_scenario(void **state)
{
    (void)state;
    struct svc_message start, to_a, from_a, from_b, none;
    decode_ok("artist/track-9", &start);

    /* B gets a top-down ID; its input is missing: trigger A. */
    assert_int_equal(run_job("B", "A", 0, 0, &start, &to_a), HOP_TRIGGER);
    assert_int_equal(to_a.limited, 1);
    assert_int_equal(to_a.n_recipients, 2);
    assert_string_equal(to_a.recipients[0], "A");
    assert_string_equal(to_a.recipients[1], "B");
    assert_string_equal(to_a.trigger_children_of, "B");

    /* A is a recipient: it processes and publishes downstream, still limited. */
    assert_int_equal(run_job("A", NULL, 0, 1, &to_a, &from_a), HOP_PROCESS);
    assert_int_equal(from_a.limited, 1);
    assert_string_equal(from_a.trigger_children_of, "B");

    /* A's other child C is not a recipient: drop. */
    assert_int_equal(run_job("C", "A", 0, 1, &from_a, &none), HOP_DROP);

    /* Back at B: it switches to anyone and processes (its input now exists). */
    assert_int_equal(run_job("B", "A", 0, 1, &from_a, &from_b), HOP_PROCESS);
    assert_int_equal(from_b.limited, 0);
    assert_null(from_b.trigger_children_of);

    /* B's child D gets an anyone message and runs top-down. */
    struct svc_message d;
    transmit(&from_b, &d);
    assert_int_equal(d.limited, 0);
    assert_string_equal(d.element, "artist/track-9");
    assert_int_equal(d.n_audit, 3); /* B (trigger), A, B */
    assert_string_equal(d.audit[0].job, "B");
    assert_string_equal(d.audit[1].job, "A");
    assert_string_equal(d.audit[2].job, "B");
    assert_int_equal(run_job("D", "B", 0, 1, &from_b, &none), HOP_PROCESS);
    svc_message_cleanup(&none);

    svc_message_cleanup(&d);
    svc_message_cleanup(&from_b);
    svc_message_cleanup(&from_a);
    svc_message_cleanup(&to_a);
    svc_message_cleanup(&start);
}

/* A misconfigured pair whose trigger never produces B's input: A's output
 * exists (skip) but B keeps missing it. The loop guard stops the cycle. */
static void test_loop_guard_scenario(void **state)
{
    (void)state;
    struct svc_message msg, next;
    decode_ok("t", &msg);
    int hops = 0;
    enum hop h = HOP_PROCESS;
    for (; hops < 100; hops++) {
        const char *who = hops % 2 == 0 ? "B" : "A";
        h = run_job(who, hops % 2 == 0 ? "A" : NULL, hops % 2 == 1, 0, &msg, &next);
        svc_message_cleanup(&msg);
        if (h == HOP_DEAD)
            break;
        assert_int_equal(h, hops % 2 == 0 ? HOP_TRIGGER : HOP_SKIP);
        msg = next;
    }
    assert_int_equal(h, HOP_DEAD);
    /* B triggers three times, A skips three times, B's fourth visit stops. */
    assert_int_equal(hops, 6);
}

static void test_audit_bound(void **state)
{
    (void)state;
    struct svc_message m;
    decode_ok("t", &m);
    const char *jobs[] = {"j1", "j2", "j3", "j4", "j5"};
    for (size_t k = 0; k < 5; k++)
        assert_int_equal(svc_message_audit_add(&m, jobs[k], 3), 0);
    assert_int_equal(m.n_audit, 3);
    assert_string_equal(m.audit[0].job, "j3");
    assert_string_equal(m.audit[1].job, "j4");
    assert_string_equal(m.audit[2].job, "j5");
    /* RFC 3339 UTC: 2026-11-22T10:00:00Z */
    const char *t = m.audit[2].time;
    assert_int_equal(strlen(t), 20);
    assert_int_equal(t[4], '-');
    assert_int_equal(t[10], 'T');
    assert_int_equal(t[19], 'Z');
    assert_true(strncmp(t, "20", 2) == 0);

    /* A decoded trail longer than the bound shrinks on the next add. */
    assert_int_equal(svc_message_audit_add(&m, "j6", 2), 0);
    assert_int_equal(m.n_audit, 2);
    assert_string_equal(m.audit[0].job, "j5");
    assert_string_equal(m.audit[1].job, "j6");
    assert_int_equal(svc_message_audit_add(&m, "j7", 0), 0); /* 0 keeps the newest */
    assert_int_equal(m.n_audit, 1);
    assert_string_equal(m.audit[0].job, "j7");
    assert_int_equal(svc_message_audit_add(&m, NULL, 3), -1);

    /* The bounded trail survives the wire. */
    struct svc_message back;
    transmit(&m, &back);
    assert_int_equal(back.n_audit, 1);
    assert_string_equal(back.audit[0].job, "j7");
    svc_message_cleanup(&back);
    svc_message_cleanup(&m);
}

/* Deterministic mutation of valid messages: every outcome is either a clear
 * reason or a message that survives its own encode/decode unchanged. */
static uint32_t rng_next(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void assert_same(const struct svc_message *a, const struct svc_message *b)
{
    assert_string_equal(a->element, b->element);
    assert_int_equal(a->force, b->force);
    assert_int_equal(a->ping, b->ping);
    assert_int_equal(a->limited, b->limited);
    assert_int_equal(a->n_recipients, b->n_recipients);
    for (size_t k = 0; k < a->n_recipients; k++)
        assert_string_equal(a->recipients[k], b->recipients[k]);
    assert_true((a->trigger_children_of == NULL) == (b->trigger_children_of == NULL));
    if (a->trigger_children_of)
        assert_string_equal(a->trigger_children_of, b->trigger_children_of);
    assert_int_equal(a->n_audit, b->n_audit);
    for (size_t k = 0; k < a->n_audit; k++) {
        assert_string_equal(a->audit[k].job, b->audit[k].job);
        assert_true((a->audit[k].time == NULL) == (b->audit[k].time == NULL));
    }
}

static void test_mutations(void **state)
{
    (void)state;
    static const char *const seeds[] = {
        "{\"v\":1,\"element\":\"artist/album/track-001\",\"force\":false,\"ping\":false,"
        "\"recipients\":{\"type\":\"limited\",\"jobs\":[\"a\",\"b\"],\"trigger_children_of\":"
        "\"b\"},\"audit\":[{\"job\":\"a\",\"time\":\"2026-11-22T10:00:00Z\"}]}",
        "{\"element\":\"t\\u00e9/\\ud83c\\udfb5\",\"recipients\":{\"type\":\"anyone\"}}",
        "  track-42\n",
    };
    static const char noise[] = "{}[]\":,\\0an \x80\xff";
    uint32_t rng = 0x9e3779b9u;
    size_t decoded = 0, rejected = 0;
    struct svc_job_view v = job_view("a");
    for (int iter = 0; iter < 20000; iter++) {
        const char *seed = seeds[iter % 3];
        char buf[512];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        int edits = 1 + (int)(rng_next(&rng) % 4);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = rng_next(&rng) % len;
            switch (rng_next(&rng) % 4) {
            case 0: /* replace with a JSON-ish or random byte */
                buf[at] = noise[rng_next(&rng) % (sizeof(noise) - 1)];
                break;
            case 1: /* delete */
                memmove(buf + at, buf + at + 1, len - at - 1);
                len--;
                break;
            case 2: /* insert */
                if (len < sizeof(buf) - 1) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = (char)(rng_next(&rng) & 0xFF);
                    len++;
                }
                break;
            default: /* truncate */
                len = at;
                break;
            }
        }
        struct svc_message m, again;
        char why[256] = "";
        if (svc_message_decode(buf, len, &m, why, sizeof(why)) != 0) {
            assert_true(why[0] != '\0');
            rejected++;
            continue;
        }
        decoded++;
        transmit(&m, &again);
        assert_same(&m, &again);
        (void)svc_decide_pre(&again, &v, why, sizeof(why));
        svc_message_cleanup(&again);
        svc_message_cleanup(&m);
    }
    /* Both outcomes were exercised. */
    assert_true(decoded > 1000);
    assert_true(rejected > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),          cmocka_unit_test(test_plain_ids),
        cmocka_unit_test(test_malformed),           cmocka_unit_test(test_element_rules),
        cmocka_unit_test(test_decide_pre),          cmocka_unit_test(test_decide_post),
        cmocka_unit_test(test_make_trigger),        cmocka_unit_test(test_bottom_up_scenario),
        cmocka_unit_test(test_loop_guard_scenario), cmocka_unit_test(test_audit_bound),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
