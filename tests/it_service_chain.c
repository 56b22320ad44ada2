/* it_service_chain.c: integration of `wiggly run` with the official Pub/Sub
 * emulator and wiggly-gcs-emulator (real processes, real sockets). One
 * emulator pair and four jobs for the whole executable:
 *
 *   A-in -> A (src/NAME.wav -> a/NAME.flac, 44.1 kHz stereo) -> A-out
 *   A-out -> B (a/ -> b/NAME.flac, 16 kHz mono; parent A) -> B-out
 *   A-out -> C (a/ -> c/NAME.wav, 8 kHz mono)
 *   B-out -> D (b/ -> d/NAME.wav) -> D-out
 *   A dead-letters to A-dead.
 *
 * Tests run in order and build on each other: top-down chain, rerun skip
 * and force, ping without storage, dead letters, bottom-up, gcloud. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "support/svc_util.h"
#include "gcp/error.h"
#include "support/svc_it.h"

#define N_TRACKS 20
#define LIMIT    150.0 /* seconds any wait may take before the test gives up */

static struct svc_it it;
static struct svc_job_proc A, B, C, D;
static int skipped;

static const char *track(int i)
{
    static char buf[8][32];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof(buf[k]), "t%02d", i);
    return buf[k];
}

static const char *obj(const char *prefix, const char *element, const char *suffix)
{
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s%s", prefix, element, suffix);
    return buf[k];
}

static int job_json(char *out, size_t len, const char *name, const char *sub, const char *in,
                    const char *in_sfx, const char *outp, const char *out_sfx, const char *topics,
                    const char *steps, const char *extra)
{
    return snprintf(out, len,
                    "{\"job\":\"%s\",\"project\":\"p\","
                    "\"events\":{\"subscription\":\"projects/p/subscriptions/%s\"},"
                    "\"input\":{\"location\":\"gs://wbkt/%s/\",\"suffix\":\"%s\"},"
                    "\"output\":{\"location\":\"gs://wbkt/%s/\",\"suffix\":\"%s\","
                    "\"topics\":[%s]},\"steps\":%s,"
                    "\"runtime\":{\"workers\":1,\"max_in_flight\":4,\"max_attempts\":3,"
                    "\"ack_deadline_s\":20,\"shutdown_grace_s\":10,\"max_input_mb\":1}%s}",
                    name, sub, in, in_sfx, outp, out_sfx, topics, steps, extra);
}

static int group_setup(void **state)
{
    static const char *const topics[] = {"A-in", "A-out", "A-dead", "B-out", "D-out", NULL};
    static const struct svc_it_sub_spec subs[] = {
        {"A-sub", "A-in", 20},        {"B-sub", "A-out", 20},   {"C-sub", "A-out", 20},
        {"D-sub", "B-out", 20},       {"check-B", "B-out", 60}, {"check-D", "D-out", 60},
        {"check-dead", "A-dead", 60}, {NULL, NULL, 0}};
    char json[4096];
    int rc;
    (void)state;
    rc = svc_it_group_setup(&it, &skipped, topics, subs);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    for (int i = 0; i < N_TRACKS; i++)
        if (svc_it_upload_wav(&it, obj("src", track(i), ".wav"), 48000, 1, 1.0) != 0)
            return -1;
    job_json(json, sizeof(json), "A", "A-sub", "src", ".wav", "a", ".flac",
             "\"projects/p/topics/A-out\"", "{\"channels\":\"stereo\",\"rate\":44100}",
             ",\"dead_letter_topic\":\"projects/p/topics/A-dead\"");
    svc_it_job(&it, &A, "A", json);
    job_json(json, sizeof(json), "B", "B-sub", "a", ".flac", "b", ".flac",
             "\"projects/p/topics/B-out\"", "{\"channels\":\"mono\",\"rate\":16000}",
             ",\"parent\":{\"job\":\"A\",\"topic\":\"projects/p/topics/A-in\"}");
    svc_it_job(&it, &B, "B", json);
    job_json(json, sizeof(json), "C", "C-sub", "a", ".flac", "c", ".wav", "",
             "{\"channels\":\"mono\",\"rate\":8000,\"format\":\"wav\"}", "");
    svc_it_job(&it, &C, "C", json);
    job_json(json, sizeof(json), "D", "D-sub", "b", ".flac", "d", ".wav",
             "\"projects/p/topics/D-out\"", "{\"format\":\"wav\"}", "");
    svc_it_job(&it, &D, "D", json);
    if (svc_it_job_start(&it, &A) || svc_it_job_start(&it, &B) || svc_it_job_start(&it, &C) ||
        svc_it_job_start(&it, &D))
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    struct svc_job_proc *const jobs[] = {&A, &B, &C, &D, NULL};
    (void)state;
    return svc_it_group_teardown(&it, skipped, jobs, 60);
}

/* The audit trail's job names, comma-separated. */
static void audit_of(const char *data, char *out, size_t len, const char **element, int *ping,
                     int *force)
{
    json_error_t e;
    json_t *j = json_loads(data, 0, &e), *a;
    size_t i;
    json_t *v;
    out[0] = 0;
    if (!j)
        fail_msg("downstream message is not JSON: %s", data);
    a = json_object_get(j, "audit");
    json_array_foreach(a, i, v)
    {
        const char *job = json_string_value(json_object_get(v, "job"));
        size_t n = strlen(out);
        snprintf(out + n, len - n, "%s%s", n ? "," : "", job ? job : "?");
    }
    if (element) {
        static char el[64];
        snprintf(el, sizeof(el), "%s", json_string_value(json_object_get(j, "element")));
        *element = el;
    }
    if (ping)
        *ping = json_is_true(json_object_get(j, "ping"));
    if (force)
        *force = json_is_true(json_object_get(j, "force"));
    json_decref(j);
}

static void publish_ids(const char *topic, const char *pre, const char *post, int n)
{
    const char *msgs[64];
    char buf[64][160];
    for (int i = 0; i < n; i++) {
        snprintf(buf[i], sizeof(buf[i]), "%s%s%s", pre, track(i), post);
        msgs[i] = buf[i];
    }
    assert_int_equal(tcloud_publish(it.cloud, svc_it_topic(topic), msgs, (size_t)n), 0);
}

/* Pull n messages from check-B; every element t00..t19 exactly once; the
 * audit trail A,B. */
static void expect_b_out(int n, int want_ping, int want_force)
{
    static struct tmsg m[64];
    int seen[N_TRACKS] = {0};
    size_t got = tcloud_pull(it.cloud, svc_it_sub("check-B"), (size_t)n, LIMIT, m, 64);
    assert_int_equal(got, n);
    for (size_t i = 0; i < got; i++) {
        char audit[256];
        const char *el;
        int ping, force, k;
        audit_of(m[i].data, audit, sizeof(audit), &el, &ping, &force);
        assert_string_equal(audit, "A,B");
        assert_int_equal(ping, want_ping);
        assert_int_equal(force, want_force);
        assert_int_equal(sscanf(el, "t%d", &k), 1);
        assert_true(k >= 0 && k < n);
        seen[k]++;
    }
    for (int k = 0; k < n; k++)
        assert_int_equal(seen[k], 1);
    tmsg_cleanup(m, got);
}

static void test_topdown_chain(void **state)
{
    (void)state;
    if (skipped)
        skip();
    publish_ids("A-in", "", "", N_TRACKS); /* plain IDs */
    expect_b_out(N_TRACKS, 0, 0);
    for (int i = 0; i < N_TRACKS; i++) {
        struct audio_info a, b;
        assert_int_equal(svc_it_probe(&it, obj("a", track(i), ".flac"), &a), 0);
        assert_int_equal(a.rate, 44100);
        assert_int_equal(a.channels, 2);
        assert_int_equal(a.format, AUDIO_FMT_FLAC);
        assert_true(a.frames > 44100 * 99 / 100 && a.frames < 44100 * 101 / 100);
        assert_int_equal(svc_it_probe(&it, obj("b", track(i), ".flac"), &b), 0);
        assert_int_equal(b.rate, 16000);
        assert_int_equal(b.channels, 1);
        assert_true(b.frames > 16000 * 99 / 100 && b.frames < 16000 * 101 / 100);
    }
    assert_true(svc_it_metric(&A, "wiggly_messages_total{outcome=\"processed\"}") >= N_TRACKS);
    assert_true(svc_it_metric(&A, "wiggly_audio_seconds_total") >= N_TRACKS * 0.99);
}

static int run_cmd(const char *cmd, char *out, size_t len)
{
    FILE *f = popen(cmd, "r");
    size_t n = 0;
    int st;
    assert_non_null(f);
    while (n + 1 < len && fgets(out + n, (int)(len - n), f))
        n += strlen(out + n);
    out[n] = 0;
    st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* wiggly verify (--create) and wiggly publish (IDs, bottom-up, storage
 * listing) against the emulators. Runs right after the first test, when
 * src/ holds exactly the N_TRACKS inputs. */
static void test_verify_and_publish_cli(void **state)
{
    struct svc_job_proc x, y;
    char json[2048], cmd[2048], out[8192];
    static struct tmsg m[64];
    size_t got;
    int seen[N_TRACKS] = {0};
    (void)state;
    if (skipped)
        skip();
    job_json(json, sizeof(json), "X", "X-in", "src", ".wav", "x", ".flac", "", "{}",
             ",\"dead_letter_topic\":\"projects/p/topics/X-dead\"");
    /* a bucket that does not exist yet */
    for (char *p = strstr(json, "gs://wbkt/x/"); p; p = NULL)
        memcpy(p, "gs://xbkt/x/", 12);
    assert_int_equal(svc_it_job(&it, &x, "X", json), 0);
    snprintf(cmd, sizeof(cmd), "%s verify -c %s 2>&1", WIGGLY_BIN, x.cfg);
    assert_int_equal(run_cmd(cmd, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "MISSING  subscription  projects/p/subscriptions/X-in"));
    assert_non_null(strstr(out, "MISSING  bucket        xbkt"));
    snprintf(cmd, sizeof(cmd), "%s verify -c %s --create 2>&1", WIGGLY_BIN, x.cfg);
    assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "projects/p/topics/X-in (created)"));
    snprintf(cmd, sizeof(cmd), "%s verify -c %s 2>&1", WIGGLY_BIN, x.cfg);
    assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
    assert_null(strstr(out, "MISSING"));
    assert_non_null(strstr(out,
                           "ok       subscription  projects/p/subscriptions/X-in (topic "
                           "projects/p/topics/X-in, dead letters to projects/p/topics/X-dead)"));

    /* An existing subscription without the config's dead-letter policy:
     * a mismatch with the gcloud fix; --create cannot change it. */
    assert_int_equal(tcloud_topic(it.cloud, svc_it_topic("Y-in")), 0);
    assert_int_equal(tcloud_sub(it.cloud, svc_it_sub("Y-in"), svc_it_topic("Y-in"), 20, NULL, 0),
                     0);
    job_json(json, sizeof(json), "Y", "Y-in", "src", ".wav", "y", ".flac", "", "{}",
             ",\"dead_letter_topic\":\"projects/p/topics/X-dead\"");
    assert_int_equal(svc_it_job(&it, &y, "Y", json), 0);
    for (int create = 0; create < 2; create++) {
        snprintf(cmd, sizeof(cmd), "%s verify -c %s%s 2>&1", WIGGLY_BIN, y.cfg,
                 create ? " --create" : "");
        assert_int_equal(run_cmd(cmd, out, sizeof(out)), 1);
        assert_non_null(strstr(out, "MISMATCH subscription  projects/p/subscriptions/Y-in: its "
                                    "dead-letter topic is none, the config says "
                                    "projects/p/topics/X-dead"));
        assert_non_null(strstr(out, "wiggly verify --create cannot change an existing "
                                    "subscription; update it with gcloud pubsub subscriptions "
                                    "update projects/p/subscriptions/Y-in "
                                    "--dead-letter-topic=projects/p/topics/X-dead "
                                    "--max-delivery-attempts=5"));
        assert_null(strstr(out, "MISSING"));
        assert_null(strstr(out, "(created)"));
        /* input and output share the bucket: reported once */
        char *b = strstr(out, "bucket        wbkt");
        assert_non_null(b);
        assert_null(strstr(b + 1, "bucket        wbkt"));
    }
    /* With --topic the subscription's topic is known and checked too. */
    snprintf(cmd, sizeof(cmd), "%s verify -c %s --topic projects/p/topics/X-in 2>&1", WIGGLY_BIN,
             y.cfg);
    assert_int_equal(run_cmd(cmd, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "its topic is projects/p/topics/Y-in, the config implies "
                                "projects/p/topics/X-in"));

    /* publish: the topic comes from the subscription X-in. */
    snprintf(cmd, sizeof(cmd), "%s publish -c %s one two/three --bottom-up 2>&1", WIGGLY_BIN,
             x.cfg);
    assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
    got = tcloud_pull(it.cloud, svc_it_sub("X-in"), 2, LIMIT, m, 64);
    assert_int_equal(got, 2);
    for (size_t i = 0; i < got; i++) {
        json_t *j = json_loads(m[i].data, 0, NULL);
        json_t *r = json_object_get(j, "recipients");
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(r, "type")), "limited");
        assert_string_equal(json_string_value(json_array_get(json_object_get(r, "jobs"), 0)), "X");
        json_decref(j);
    }
    tmsg_cleanup(m, got);
    snprintf(cmd, sizeof(cmd), "%s publish -c %s --from-storage gs://wbkt/src/ 2>&1", WIGGLY_BIN,
             x.cfg);
    assert_int_equal(run_cmd(cmd, out, sizeof(out)), 0);
    got = tcloud_pull(it.cloud, svc_it_sub("X-in"), N_TRACKS, LIMIT, m, 64);
    assert_int_equal(got, N_TRACKS);
    for (size_t i = 0; i < got; i++) {
        const char *el;
        int k;
        char audit[64];
        audit_of(m[i].data, audit, sizeof(audit), &el, NULL, NULL);
        assert_int_equal(sscanf(el, "t%d", &k), 1);
        assert_true(k >= 0 && k < N_TRACKS);
        seen[k]++;
    }
    for (int k = 0; k < N_TRACKS; k++)
        assert_int_equal(seen[k], 1);
    tmsg_cleanup(m, got);
    snprintf(cmd, sizeof(cmd), "%s publish -c %s 2>&1", WIGGLY_BIN, x.cfg);
    assert_int_equal(run_cmd(cmd, out, sizeof(out)), 2); /* usage */
}

/* Batch mode on gs:// storage (IDs on stdin, no Pub/Sub): the same
 * pipeline, against the GCS emulator. */
static void test_batch_on_gcs(void **state)
{
    struct svc_job_proc bg;
    char cmd[2048], out[8192];
    (void)state;
    if (skipped)
        skip();
    assert_int_equal(
        svc_it_job(&it, &bg, "BG",
                   "{\"job\":\"BG\",\"events\":{\"file\":\"-\"},"
                   "\"input\":{\"location\":\"gs://wbkt/src/\",\"suffix\":\".wav\"},"
                   "\"output\":{\"location\":\"gs://wbkt/bg/\",\"suffix\":\".wav\"},"
                   "\"steps\":{\"channels\":\"mono\",\"rate\":8000,\"format\":\"wav\"},"
                   "\"runtime\":{\"workers\":1},\"listen\":\"\"}"),
        0);
    snprintf(cmd, sizeof(cmd), "printf 't00\\nt01\\nt02\\nnope\\n' | %s run -c %s 2>/dev/null",
             WIGGLY_BIN, bg.cfg);
    assert_int_equal(run_cmd(cmd, out, sizeof(out)), 1); /* "nope" is missing */
    assert_non_null(strstr(out, "3 processed"));
    assert_non_null(strstr(out, "1 failed"));
    for (int i = 0; i < 3; i++) {
        struct audio_info info;
        assert_int_equal(svc_it_probe(&it, obj("bg", track(i), ".wav"), &info), 0);
        assert_int_equal(info.rate, 8000);
        assert_int_equal(info.channels, 1);
    }
}

static int64_t gens_a[N_TRACKS], gens_b[N_TRACKS];

static void read_gens(int64_t *ga, int64_t *gb)
{
    for (int i = 0; i < N_TRACKS; i++) {
        assert_int_equal(
            tcloud_stat(it.cloud, SVC_IT_BUCKET, obj("a", track(i), ".flac"), &ga[i], NULL), 0);
        assert_int_equal(
            tcloud_stat(it.cloud, SVC_IT_BUCKET, obj("b", track(i), ".flac"), &gb[i], NULL), 0);
    }
}

static void test_rerun_skips_then_force(void **state)
{
    int64_t ga[N_TRACKS], gb[N_TRACKS];
    double skipped_before = svc_it_metric(&B, "wiggly_messages_total{outcome=\"skipped\"}");
    (void)state;
    if (skipped)
        skip();
    read_gens(gens_a, gens_b);
    publish_ids("A-in", "{\"v\":1,\"element\":\"", "\"}", N_TRACKS);
    expect_b_out(N_TRACKS, 0, 0);
    read_gens(ga, gb);
    for (int i = 0; i < N_TRACKS; i++) {
        assert_true(ga[i] == gens_a[i]);
        assert_true(gb[i] == gens_b[i]);
    }
    assert_true(svc_it_metric(&B, "wiggly_messages_total{outcome=\"skipped\"}") >=
                skipped_before + N_TRACKS);

    publish_ids("A-in", "{\"v\":1,\"element\":\"", "\",\"force\":true}", N_TRACKS);
    expect_b_out(N_TRACKS, 0, 1);
    read_gens(ga, gb);
    for (int i = 0; i < N_TRACKS; i++) {
        assert_true(ga[i] != gens_a[i]);
        assert_true(gb[i] != gens_b[i]);
    }
}

/* Every job idle and the GCS log quiet for a while. */
static void settle(void)
{
    for (int round = 0; round < 3; round++) {
        for (int k = 0; k < 1500; k++) {
            if (svc_it_metric(&A, "wiggly_in_flight") == 0 &&
                svc_it_metric(&B, "wiggly_in_flight") == 0 &&
                svc_it_metric(&C, "wiggly_in_flight") == 0 &&
                svc_it_metric(&D, "wiggly_in_flight") == 0)
                break;
            svc_test_sleep(0.1);
        }
        svc_it_gcs_quiet(&it, 2.0, LIMIT);
    }
}

static void test_ping_touches_no_storage(void **state)
{
    long before, after;
    (void)state;
    if (skipped)
        skip();
    /* Let C and D finish what earlier tests gave them. */
    settle();
    before = svc_it_gcs_log_lines(&it);
    publish_ids("A-in", "{\"v\":1,\"element\":\"", "\",\"ping\":true}", 3);
    expect_b_out(3, 1, 0);
    /* C and D get them too; let everything settle, then count. */
    settle();
    after = svc_it_gcs_log_lines(&it);
    assert_true(before >= 0);
    assert_int_equal(after, before);
    assert_true(svc_it_metric(&A, "wiggly_messages_total{outcome=\"pinged\"}") >= 3);
}

static void test_dead_letters(void **state)
{
    static struct tmsg m[8];
    static char big[2 * 1024 * 1024];
    const char *msgs[4] = {"corrupt", "../bad", "big", "\xff\xfe not utf-8"};
    int found = 0;
    size_t got;
    (void)state;
    if (skipped)
        skip();
    assert_int_equal(svc_it_upload_bytes(&it, "src/corrupt.wav", "RIFF\x10\0\0\0WAVEjunkjunk", 20),
                     0);
    memset(big, 0x11, sizeof(big)); /* over A's max_input_mb = 1 */
    assert_int_equal(svc_it_upload_bytes(&it, "src/big.wav", big, sizeof(big)), 0);
    assert_int_equal(tcloud_publish(it.cloud, svc_it_topic("A-in"), msgs, 4), 0);
    got = tcloud_pull(it.cloud, svc_it_sub("check-dead"), 4, LIMIT, m, 8);
    assert_int_equal(got, 4);
    for (size_t i = 0; i < got; i++) {
        const char *reason = tmsg_attr(&m[i], "wiggly_reason");
        const char *err = tmsg_attr(&m[i], "wiggly_error");
        assert_non_null(reason);
        assert_non_null(err);
        assert_true(strlen(err) > 0);
        assert_string_equal(tmsg_attr(&m[i], "wiggly_job"), "A");
        if (!strcmp(m[i].data, "corrupt")) {
            assert_string_equal(reason, "bad_audio");
            assert_string_equal(tmsg_attr(&m[i], "wiggly_element"), "corrupt");
            found |= 1;
        } else if (!strcmp(m[i].data, "../bad")) {
            assert_string_equal(reason, "bad_element");
            found |= 2;
        } else if (!strcmp(m[i].data, "big")) {
            assert_string_equal(reason, "too_big");
            found |= 4;
        } else if (!strcmp(m[i].data, msgs[3])) { /* the original bytes */
            assert_string_equal(reason, "bad_message");
            found |= 8;
        } else {
            fail_msg("unexpected dead letter: %s", m[i].data);
        }
    }
    assert_int_equal(found, 15);
    tmsg_cleanup(m, got);
    /* The service keeps going. */
    assert_int_equal(svc_it_upload_wav(&it, "src/after.wav", 48000, 1, 0.5), 0);
    {
        const char *after[1] = {"after"};
        assert_int_equal(tcloud_publish(it.cloud, svc_it_topic("A-in"), after, 1), 0);
    }
    assert_int_equal(tcloud_wait_object(it.cloud, SVC_IT_BUCKET, "b/after.flac", LIMIT), 0);
    assert_true(svc_it_metric(&A, "wiggly_messages_total{outcome=\"dead_lettered\"}") >= 4);
}

static void test_bottom_up(void **state)
{
    double c_dropped = svc_it_metric(&C, "wiggly_messages_total{outcome=\"dropped\"}");
    char buf[5][160];
    const char *msgs[5];
    (void)state;
    if (skipped)
        skip();
    for (int i = 0; i < 5; i++) {
        char name[64];
        snprintf(name, sizeof(name), "src/bu%d.wav", i);
        assert_int_equal(svc_it_upload_wav(&it, name, 48000, 1, 0.5), 0);
        snprintf(buf[i], sizeof(buf[i]),
                 "{\"v\":1,\"element\":\"bu%d\",\"recipients\":{\"type\":\"limited\","
                 "\"jobs\":[\"B\"]}}",
                 i);
        msgs[i] = buf[i];
    }
    /* Published bottom-up to B's input topic; A's outputs do not exist. */
    assert_int_equal(tcloud_publish(it.cloud, svc_it_topic("A-out"), msgs, 5), 0);
    for (int i = 0; i < 5; i++) {
        char name[64];
        struct audio_info info;
        snprintf(name, sizeof(name), "d/bu%d.wav", i); /* D ran top-down after B */
        assert_int_equal(tcloud_wait_object(it.cloud, SVC_IT_BUCKET, name, LIMIT), 0);
        snprintf(name, sizeof(name), "a/bu%d.flac", i); /* B triggered A */
        assert_int_equal(tcloud_stat(it.cloud, SVC_IT_BUCKET, name, NULL, NULL), 0);
        snprintf(name, sizeof(name), "b/bu%d.flac", i);
        assert_int_equal(svc_it_probe(&it, name, &info), 0);
        assert_int_equal(info.rate, 16000);
        snprintf(name, sizeof(name), "c/bu%d.wav", i); /* C is not a recipient */
        assert_int_equal(tcloud_stat(it.cloud, SVC_IT_BUCKET, name, NULL, NULL), GCP_ENOTFOUND);
    }
    assert_true(svc_it_metric(&B, "wiggly_messages_total{outcome=\"triggered_parent\"}") >= 5);
    /* C dropped the original 5 and A's 5 outputs for B. */
    for (int k = 0; k < 100 && svc_it_metric(&C, "wiggly_messages_total{outcome=\"dropped\"}") <
                                   c_dropped + 10;
         k++)
        svc_test_sleep(0.1);
    assert_true(svc_it_metric(&C, "wiggly_messages_total{outcome=\"dropped\"}") >= c_dropped + 10);
}

static void test_gcloud_plain_id(void **state)
{
    char cmd[2048], cfgdir[300];
    (void)state;
    if (skipped)
        skip();
    if (system("command -v gcloud >/dev/null 2>&1") != 0)
        skip();
    assert_int_equal(svc_it_upload_wav(&it, "src/gcloud-1.wav", 48000, 1, 0.5), 0);
    snprintf(cfgdir, sizeof(cfgdir), "%s/gcloud", it.dir);
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s && CLOUDSDK_CONFIG=%s CLOUDSDK_AUTH_DISABLE_CREDENTIALS=True "
             "CLOUDSDK_CORE_PROJECT=p CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB=http://%s/ "
             "gcloud pubsub topics publish A-in --message=gcloud-1 >%s/gcloud.log 2>&1",
             cfgdir, cfgdir, it.ps.host, it.dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(tcloud_wait_object(it.cloud, SVC_IT_BUCKET, "b/gcloud-1.flac", LIMIT), 0);
}

static void test_sigterm_exits_zero(void **state)
{
    int st;
    (void)state;
    if (skipped)
        skip();
    st = svc_it_job_stop(&C, 60);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topdown_chain),
        cmocka_unit_test(test_verify_and_publish_cli),
        cmocka_unit_test(test_batch_on_gcs),
        cmocka_unit_test(test_rerun_skips_then_force),
        cmocka_unit_test(test_ping_touches_no_storage),
        cmocka_unit_test(test_dead_letters),
        cmocka_unit_test(test_bottom_up),
        cmocka_unit_test(test_gcloud_plain_id),
        cmocka_unit_test(test_sigterm_exits_zero),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
