/* it_faults_chain.c: 300 tracks through a two-job chain with faults on
 * both clouds (real processes, real sockets):
 *
 *   A-in -> A (src/ID.flac 44.1 kHz stereo -> a/ID.flac 16 kHz mono) -> A-out
 *   A-out -> B (a/ID.flac -> b/ID.wav 8 kHz mono) -> B-out
 *   A and B dead-letter to A-dead / B-dead.
 *
 * Faults: wiggly-gcs-emulator answers 5% each 503, 429 and 500 and drops 5%
 * of connections, every request 200 ms late; wiggly-fault-proxy in front of
 * the Pub/Sub emulator answers 15% 500/503/429, drops 5% and adds 200 ms.
 * The tracks are 1 s long to keep CI time sane: the faults hit requests, and
 * a request costs the same for a 1 s or a 3.5 min track.
 *
 * Asserts: every element reaches B-out at least once (duplicates counted and
 * printed); the bucket holds exactly the inputs and the 600 outputs, each a
 * complete, decodable file with the right rate, channels and duration; no
 * temporary file left by the emulator or the pods; both dead-letter topics
 * empty; both pods exit 0 on SIGTERM. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "support/e2e_group.h"
#include "support/e2e_harness.h"

#define N_TRACKS 300
#define SECONDS  1.0
#define LIMIT    220.0 /* seconds the whole flow may take before the test gives up */

static struct e2e e;
static int skipped;

static const char *const gcs_faults[] = {
    "--fault-rate", "0.20", "--fault-statuses", "503,429,500,drop", "--latency-ms", "200", NULL};
static const char *const ps_faults[] = {"--error-rate", "0.15",        "--error-statuses",
                                        "500,503,429",  "--drop-rate", "0.05",
                                        "--latency-ms", "200",         NULL};

static void expect_output(const char *name, int rate)
{
    struct audio_info info;
    if (e2e_probe(&e, name, &info) != 0)
        fail_msg("%s: missing or not decodable", name);
    if (info.rate != rate || info.channels != 1 || info.frames < (int64_t)(rate * SECONDS) - 2 ||
        info.frames > (int64_t)(rate * SECONDS) + 2)
        fail_msg("%s: %d Hz, %d channels, %lld frames (want %d Hz mono, %d frames)", name,
                 info.rate, info.channels, (long long)info.frames, rate, (int)(rate * SECONDS));
}

static void test_chain_under_faults(void **state)
{
    static int seen[N_TRACKS];
    struct e2e_pod a, b;
    const char *runtime = "{\"workers\":1,\"max_in_flight\":16,\"ack_deadline_s\":20,"
                          "\"max_attempts\":10,\"shutdown_grace_s\":30}";
    int other = 0, distinct, dups;
    char **names = NULL;
    size_t n_names = 0, n_src = 0, n_a = 0, n_b = 0;
    char tmpdir[600];
    double t0;
    (void)state;
    if (skipped)
        skip();
    assert_int_equal(
        e2e_chain_pod(&e, &a, "A", 0, "{\"channels\":\"mono\",\"rate\":16000}", runtime), 0);
    assert_int_equal(e2e_chain_pod(&e, &b, "B", 1, NULL, runtime), 0);

    assert_int_equal(e2e_faults_on(&e, gcs_faults, ps_faults), 0);
    assert_int_equal(e2e_pod_start(&e, &a), 0);
    assert_int_equal(e2e_pod_start(&e, &b), 0);
    t0 = e2e_now();
    assert_int_equal(e2e_publish_range(&e, e2e_topic("A-in"), 0, N_TRACKS), 0);
    distinct = e2e_collect(&e, e2e_sub("B-out-check"), N_TRACKS, LIMIT, seen, &other);
    dups = e2e_dups(seen, N_TRACKS);
    printf("faults_chain: %d/%d elements on B-out in %.1f s under faults; %d duplicates, "
           "%d other messages\n",
           distinct, N_TRACKS, e2e_now() - t0, dups, other);
    printf("faults_chain: A processed %.0f retried %.0f skipped %.0f; B processed %.0f retried "
           "%.0f skipped %.0f\n",
           e2e_pod_metric(&a, "wiggly_messages_total{outcome=\"processed\"}"),
           e2e_pod_metric(&a, "wiggly_messages_total{outcome=\"retried\"}"),
           e2e_pod_metric(&a, "wiggly_messages_total{outcome=\"skipped\"}"),
           e2e_pod_metric(&b, "wiggly_messages_total{outcome=\"processed\"}"),
           e2e_pod_metric(&b, "wiggly_messages_total{outcome=\"retried\"}"),
           e2e_pod_metric(&b, "wiggly_messages_total{outcome=\"skipped\"}"));
    fflush(stdout);
    for (int i = 0; i < N_TRACKS; i++)
        if (!seen[i]) {
            struct e2e_pod both[2] = {a, b};
            e2e_explain(both, 2, e2e_element(i));
            fail_msg("element %s never reached B-out (pod log lines above)", e2e_element(i));
        }
    assert_int_equal(other, 0);

    /* Let the pods settle what is in flight (acks), then stop them. */
    for (int k = 0; k < 600; k++) {
        if (e2e_pod_metric(&a, "wiggly_in_flight") == 0 &&
            e2e_pod_metric(&b, "wiggly_in_flight") == 0)
            break;
        e2e_sleep(0.1);
    }
    assert_int_equal(e2e_pod_stop_clean(&a, 90), 0);
    assert_int_equal(e2e_pod_stop_clean(&b, 90), 0);

    /* No temporary leftovers: the pods' temp dirs and the emulator's. */
    assert_int_equal(e2e_count_files(e2e_pod_tmp(&e, "A")), 0);
    assert_int_equal(e2e_count_files(e2e_pod_tmp(&e, "B")), 0);
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", e.gcs.root);
    assert_int_equal(e2e_count_files(tmpdir), 0);

    /* Verification without faults. */
    assert_int_equal(e2e_faults_off(&e), 0);
    assert_int_equal(e2e_list(&e, "", &names, &n_names), 0);
    for (size_t i = 0; i < n_names; i++) {
        int k;
        char tail[16];
        if (sscanf(names[i], "src/t%d%15s", &k, tail) == 2 && !strcmp(tail, ".flac"))
            n_src++;
        else if (sscanf(names[i], "a/t%d%15s", &k, tail) == 2 && !strcmp(tail, ".flac"))
            n_a++;
        else if (sscanf(names[i], "b/t%d%15s", &k, tail) == 2 && !strcmp(tail, ".wav"))
            n_b++;
        else
            fail_msg("unexpected object in the bucket: %s", names[i]);
    }
    e2e_names_free(names, n_names);
    assert_int_equal(n_src, N_TRACKS);
    assert_int_equal(n_a, N_TRACKS);
    assert_int_equal(n_b, N_TRACKS);
    for (int i = 0; i < N_TRACKS; i++) {
        char name[64];
        snprintf(name, sizeof(name), "a/%s.flac", e2e_element(i));
        expect_output(name, 16000);
        snprintf(name, sizeof(name), "b/%s.wav", e2e_element(i));
        expect_output(name, 8000);
    }
    /* Nothing was dead-lettered. */
    assert_int_equal(e2e_drain_sub(&e, e2e_sub("A-dead-check"), 3), 0);
    assert_int_equal(e2e_drain_sub(&e, e2e_sub("B-dead-check"), 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chain_under_faults),
    };
    struct e2e_chain_group g = {&e, &skipped, 20, N_TRACKS, SECONDS};
    return E2E_CHAIN_GROUP_RUN(tests, &g);
}
