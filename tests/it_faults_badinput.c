/* it_faults_badinput.c: bad inputs in bulk. One `wiggly run` process (job A:
 * src/ID.flac -> a/ID.flac, 16 kHz mono, dead letters to A-dead) gets 40
 * good tracks mixed with a corpus of broken files (truncated FLAC, random
 * bytes, empty, wrong headers) and hostile messages (huge JSON, deep
 * nesting, invalid UTF-8, elements with "..", over-long elements and object
 * names in multi-byte UTF-8; with --largest also the largest message Pub/Sub
 * accepts from the project's client, 7.5 MB of non-audio bytes: the 10 MB
 * limit applies to the base64 JSON request).
 *
 * Asserts: every good track is processed (decoded output, element on A-out);
 * every bad one is dead-lettered with the original payload and attributes
 * wiggly_job, wiggly_reason (the expected code) and a non-empty wiggly_error;
 * the process never restarts (same PID throughout, /healthz 200 at the end)
 * and no output exists for a bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "support/e2e_harness.h"

#define N_GOOD 40
#define LIMIT  200.0

static struct e2e e;
static int skipped;
/* --largest: also the largest publishable message (ctest faults_badinput_largest). */
static int with_largest;

struct bad {
    const char *label;
    char *data; /* the message payload (NUL-terminated) */
    size_t len;
    const char *reason; /* expected wiggly_reason */
    int seen;
};

#define MAX_BAD 24
static struct bad bads[MAX_BAD];
static size_t n_bad;

static void add_bad(const char *label, char *data, const char *reason)
{
    assert_true(n_bad < MAX_BAD);
    bads[n_bad].label = label;
    bads[n_bad].data = data;
    bads[n_bad].len = strlen(data);
    bads[n_bad].reason = reason;
    n_bad++;
}

/* A file under src/ whose message is its plain element. */
static void bad_file(const char *element, const void *bytes, size_t len)
{
    char name[128];
    snprintf(name, sizeof(name), "src/%s.flac", element);
    assert_int_equal(e2e_upload_bytes(&e, name, bytes, len), 0);
    add_bad(element, strdup(element), "bad_audio");
}

static char *filled(size_t len, char c)
{
    char *p = malloc(len + 1);
    assert_non_null(p);
    memset(p, c, len);
    p[len] = 0;
    return p;
}

/* prefix followed by n times U+00E9 (two bytes each). */
static char *utf8_run(const char *prefix, size_t n)
{
    size_t lp = strlen(prefix);
    char *p = malloc(lp + 2 * n + 1);
    assert_non_null(p);
    memcpy(p, prefix, lp);
    for (size_t i = 0; i < n; i++)
        memcpy(p + lp + 2 * i, "\xc3\xa9", 2);
    p[lp + 2 * n] = 0;
    return p;
}

/* Copy prefix into p without its NUL. */
static void put(char *p, const char *prefix)
{
    memcpy(p, prefix, strlen(prefix));
}

static int group_setup(void **state)
{
    int rc;
    (void)state;
    rc = e2e_start(&e);
    skipped = rc == 1;
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    if (tcloud_topic(e.cloud, e2e_topic("A-in")) || tcloud_topic(e.cloud, e2e_topic("probe")) ||
        e2e_topic_observed(&e, "A-out") || e2e_topic_observed(&e, "A-dead") ||
        tcloud_sub(e.cloud, e2e_sub("A-sub"), e2e_topic("A-in"), 10, NULL, 0))
        return -1;
    return e2e_upload_tracks(&e, "src", ".flac", N_GOOD, 44100, 2, 1.0);
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < n_bad; i++)
        free(bads[i].data);
    if (!skipped)
        e2e_stop(&e);
    return 0;
}

/* The largest plain payload of 'x' bytes the client and emulator accept
 * (binary search over sizes up to 10 MB, published to a topic nobody reads). */
static size_t largest_publishable(void)
{
    size_t lo = 1 << 20, hi = 10 * 1000 * 1000 + 1;
    char *buf = filled(hi, 'x');
    const char *m[1] = {buf};
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        buf[mid] = 0;
        if (tcloud_publish(e.cloud, e2e_topic("probe"), m, 1) == 0)
            lo = mid;
        else
            hi = mid;
        buf[mid] = 'x';
    }
    free(buf);
    return lo;
}

static void make_corpus(void)
{
    char path[600];
    struct audio_gen_spec g = {0};
    struct audio_error err = {0};
    size_t len = 0, big;
    unsigned char *flac, rnd[65536];
    char *p;
    /* Broken files. */
    g.signal = AUDIO_SIG_MUSIC;
    g.seconds = 1;
    g.rate = 44100;
    g.channels = 2;
    g.seed = 3;
    snprintf(path, sizeof(path), "%s/good.flac", e.dir);
    assert_int_equal(audio_gen_file(path, &g, &err), 0);
    flac = (unsigned char *)svc_test_read_file(path, &len);
    assert_non_null(flac);
    assert_true(len > 1000);
    bad_file("bad-trunc-half", flac, len / 2);
    bad_file("bad-trunc-header", flac, 60);
    bad_file("bad-trunc-magic", flac, 4);
    srand(7);
    for (size_t i = 0; i < sizeof(rnd); i++)
        rnd[i] = (unsigned char)(rand() & 0xff);
    bad_file("bad-random", rnd, sizeof(rnd));
    bad_file("bad-empty", "", 0);
    memcpy(rnd, "RIFF\xff\xff\xff\x7fWAVEfmt ", 16); /* WAV header, garbage after */
    bad_file("bad-wav-header", rnd, 4096);
    memcpy(flac, "OggS", 4); /* a FLAC body behind an Ogg magic */
    bad_file("bad-wrong-magic", flac, len);
    bad_file("bad-text", "this is not audio\n", 18);
    free(flac);

    /* Hostile messages. */
    p = filled(1 << 20, 'j'); /* 1 MiB of valid JSON */
    put(p, "{\"v\":1,\"element\":\"t000\",\"pad\":\"");
    memcpy(p + (1 << 20) - 2, "\"}", 2);
    add_bad("huge-json", p, "bad_message");
    p = filled(20000, '[');
    put(p, "{\"v\":1,\"element\":\"t001\",\"x\":");
    add_bad("deep-nesting", p, "bad_message");
    add_bad("invalid-utf8", strdup("t002\xff\xfe\xc3("), "bad_message");
    add_bad("invalid-utf8-json", strdup("{\"v\":1,\"element\":\"t0\xc3\x28\"}"), "bad_message");
    add_bad("dotdot-json", strdup("{\"v\":1,\"element\":\"src/../t003\"}"), "bad_element");
    add_bad("dotdot-plain", strdup("../../etc/passwd"), "bad_element");
    add_bad("long-element", filled(4000, 'e'), "bad_element");
    /* Valid UTF-8 whose dead-letter attributes are cut inside a character:
     * wiggly_element at 1024 bytes, wiggly_error (it names the URL) at 1023
     * bytes, once at each parity. The object names are longer than GCS
     * allows (1024 bytes): bad_element, found before any storage call
     * (issue 11; it used to be a `storage` error from the server). */
    add_bad("long-element-utf8", utf8_run("a", 600), "bad_element");
    add_bad("long-name-utf8", utf8_run("", 510), "bad_element");
    add_bad("long-name-utf8-odd", utf8_run("x", 509), "bad_element");
    if (with_largest) {
        big = largest_publishable();
        printf("faults_badinput: largest publishable message: %zu bytes\n", big);
        add_bad("10MB-element", filled(big, 'z'), "bad_message");
    }
}

/* The dead-letter message carries the original payload, or, for one too
 * large to republish, its head plus wiggly_payload_bytes = the full length. */
static struct bad *match(const struct tmsg *m)
{
    const char *full = tmsg_attr(m, "wiggly_payload_bytes");
    size_t want = full ? strtoull(full, NULL, 10) : m->len;
    for (size_t i = 0; i < n_bad; i++)
        if (want == bads[i].len && m->len <= bads[i].len && (full || m->len == bads[i].len) &&
            !memcmp(m->data, bads[i].data, m->len))
            return &bads[i];
    return NULL;
}

static void test_bad_inputs_in_bulk(void **state)
{
    static int seen[N_GOOD];
    static struct tmsg m[16];
    struct e2e_pod a;
    char json[4096];
    pid_t pid;
    int other = 0, distinct;
    size_t found = 0;
    char **names = NULL;
    size_t n_names = 0;
    double t0;
    (void)state;
    if (skipped)
        skip();
    make_corpus();
    assert_int_equal(e2e_job_json(&e, json, sizeof(json), "A", "A-sub", "src", ".flac", "a",
                                  ".flac", "A-out", "{\"channels\":\"mono\",\"rate\":16000}",
                                  "{\"workers\":1,\"max_in_flight\":8,\"ack_deadline_s\":10,"
                                  "\"max_attempts\":5,\"max_input_mb\":64}",
                                  ",\"dead_letter_topic\":\"projects/p/topics/A-dead\""),
                     0);
    assert_int_equal(e2e_pod_init(&e, &a, "A", json), 0);
    assert_int_equal(e2e_pod_start(&e, &a), 0);
    pid = a.pid;

    /* Mixed: a bad one after every few good ones. */
    t0 = e2e_now();
    for (int i = 0, k = 0; i < N_GOOD || (size_t)k < n_bad; i++) {
        if (i < N_GOOD)
            assert_int_equal(e2e_publish_range(&e, e2e_topic("A-in"), i, i + 1), 0);
        if (i % 2 == 1 && (size_t)k < n_bad) {
            const char *msg[1] = {bads[k].data};
            assert_int_equal(tcloud_publish(e.cloud, e2e_topic("A-in"), msg, 1), 0);
            k++;
        }
    }
    distinct = e2e_collect(&e, e2e_sub("A-out-check"), N_GOOD, LIMIT, seen, &other);
    printf("faults_badinput: %d/%d good tracks on A-out in %.1f s\n", distinct, N_GOOD,
           e2e_now() - t0);
    for (int i = 0; i < N_GOOD; i++)
        if (!seen[i])
            fail_msg("good track %s never reached A-out (log %s)", e2e_element(i), a.log);
    assert_int_equal(other, 0);

    while (found < n_bad && e2e_now() - t0 < LIMIT) {
        size_t got = tcloud_pull(e.cloud, e2e_sub("A-dead-check"), 16, 2.0, m, 16);
        for (size_t i = 0; i < got; i++) {
            struct bad *b = match(&m[i]);
            const char *reason = tmsg_attr(&m[i], "wiggly_reason");
            const char *error = tmsg_attr(&m[i], "wiggly_error");
            if (!b)
                fail_msg("unexpected dead letter (%zu bytes): %.60s", m[i].len, m[i].data);
            printf("faults_badinput: dead letter %-18s reason %-12s error: %.100s\n", b->label,
                   reason ? reason : "(none)", error ? error : "(none)");
            assert_non_null(reason);
            assert_string_equal(reason, b->reason);
            assert_non_null(error);
            assert_true(strlen(error) > 0);
            assert_string_equal(tmsg_attr(&m[i], "wiggly_job"), "A");
            if (b->seen++ == 0)
                found++;
        }
        tmsg_cleanup(m, got);
    }
    for (size_t i = 0; i < n_bad; i++)
        if (!bads[i].seen)
            fail_msg("%s was never dead-lettered (log %s)", bads[i].label, a.log);

    /* Never restarted, still healthy. */
    assert_true(e2e_pod_alive(&a));
    assert_int_equal(a.pid, pid);
    assert_int_equal(e2e_pod_http(&a, "/healthz"), 200);
    printf("faults_badinput: pid %d alive and healthy; dead_lettered %.0f, processed %.0f\n",
           (int)pid, e2e_pod_metric(&a, "wiggly_messages_total{outcome=\"dead_lettered\"}"),
           e2e_pod_metric(&a, "wiggly_messages_total{outcome=\"processed\"}"));

    /* Outputs: exactly the good ones, decodable. */
    assert_int_equal(e2e_list(&e, "a/", &names, &n_names), 0);
    assert_int_equal(n_names, N_GOOD);
    for (size_t i = 0; i < n_names; i++) {
        struct audio_info info;
        int k;
        assert_int_equal(sscanf(names[i], "a/t%d", &k), 1);
        assert_int_equal(e2e_probe(&e, names[i], &info), 0);
        assert_int_equal(info.rate, 16000);
        assert_int_equal(info.channels, 1);
    }
    e2e_names_free(names, n_names);
    assert_int_equal(e2e_pod_stop_clean(&a, 60), 0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_inputs_in_bulk),
    };
    int rc;
    with_largest = argc > 1 && !strcmp(argv[1], "--largest");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
