/* it_faults_drain.c: graceful drain under load. 24 tracks of 30 s (44.1 kHz
 * stereo) flow through a two-job chain, one process per job, 4 messages in
 * flight each, 200 ms added to every request on both clouds (so downloads,
 * uploads and publishes are in flight too); once both jobs are busy, both
 * get SIGTERM. Each must exit 0
 * within its grace period: the time is measured and printed; the test
 * asserts the exit status, and that the process is gone after grace + 30 s
 * (a liveness bound, not a speed target). Nothing is lost: both processes
 * are started again and every output arrives, complete and decodable, and
 * every element reaches B-out; no temporary file is left behind. */
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

#include "support/e2e_group.h"
#include "support/e2e_harness.h"

#define N_TRACKS 24
#define SECONDS  30.0
#define GRACE_S  15
#define MARGIN_S 30.0
#define LIMIT    200.0

static struct e2e e;
static int skipped;

static const char *const gcs_latency[] = {"--latency-ms", "200", NULL};
static const char *const ps_latency[] = {"--latency-ms", "200", NULL};

static void stopped_cleanly(struct e2e_pod *p, int st, double took)
{
    printf("faults_drain: %s exited %s%d %.2f s after SIGTERM (grace %d s)\n", p->name,
           st >= 0 && WIFEXITED(st) ? "with status " : "by signal/kill ",
           st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : (st >= 0 ? WTERMSIG(st) : -1), took,
           GRACE_S);
    fflush(stdout);
    if (st < 0)
        fail_msg("%s still running %.0f s after SIGTERM (log %s)", p->name, GRACE_S + MARGIN_S,
                 p->log);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_sigterm_under_load(void **state)
{
    static int seen[N_TRACKS];
    struct e2e_pod a, b;
    char runtime[256];
    double took_a, took_b, t0;
    int st, distinct, other = 0, dups;
    double a_in_flight = 0, b_in_flight = 0;
    (void)state;
    if (skipped)
        skip();
    snprintf(runtime, sizeof(runtime),
             "{\"workers\":1,\"max_in_flight\":4,\"ack_deadline_s\":10,\"max_attempts\":10,"
             "\"shutdown_grace_s\":%d}",
             GRACE_S);
    assert_int_equal(
        e2e_chain_pod(&e, &a, "A", 0,
                      "{\"channels\":\"mono\",\"rate\":16000,\"quality\":\"very-high\"}", runtime),
        0);
    assert_int_equal(e2e_chain_pod(&e, &b, "B", 1, NULL, runtime), 0);
    assert_int_equal(e2e_faults_on(&e, gcs_latency, ps_latency), 0);
    assert_int_equal(e2e_pod_start(&e, &a), 0);
    assert_int_equal(e2e_pod_start(&e, &b), 0);
    assert_int_equal(e2e_publish_range(&e, e2e_topic("A-in"), 0, N_TRACKS), 0);

    /* A full pipeline: both jobs have work in flight. */
    t0 = e2e_now();
    while (e2e_now() - t0 < LIMIT) {
        a_in_flight = e2e_pod_metric(&a, "wiggly_in_flight");
        b_in_flight = e2e_pod_metric(&b, "wiggly_in_flight");
        if (a_in_flight >= 3 && b_in_flight >= 1)
            break;
        e2e_sleep(0.05);
    }
    printf("faults_drain: SIGTERM with %.0f (A) and %.0f (B) messages in flight\n", a_in_flight,
           b_in_flight);
    assert_true(a_in_flight >= 3 && b_in_flight >= 1);
    /* Both at once; times count from this moment. */
    t0 = e2e_now();
    kill(a.pid, SIGTERM);
    kill(b.pid, SIGTERM);
    st = e2e_pod_stop(&a, SIGTERM, GRACE_S + MARGIN_S, &took_a);
    stopped_cleanly(&a, st, e2e_now() - t0);
    st = e2e_pod_stop(&b, SIGTERM, GRACE_S + MARGIN_S - (e2e_now() - t0), &took_b);
    stopped_cleanly(&b, st, e2e_now() - t0);
    assert_int_equal(e2e_count_files(e2e_pod_tmp(&e, "A")), 0);
    assert_int_equal(e2e_count_files(e2e_pod_tmp(&e, "B")), 0);

    /* Nothing lost: new processes finish the rest. */
    assert_int_equal(e2e_pod_start(&e, &a), 0);
    assert_int_equal(e2e_pod_start(&e, &b), 0);
    distinct = e2e_collect(&e, e2e_sub("B-out-check"), N_TRACKS, LIMIT, seen, &other);
    dups = e2e_dups(seen, N_TRACKS);
    printf("faults_drain: %d/%d elements on B-out after the restart; %d duplicates\n", distinct,
           N_TRACKS, dups);
    for (int i = 0; i < N_TRACKS; i++) {
        char name[64];
        struct audio_info info;
        if (!seen[i]) {
            struct e2e_pod both[2] = {a, b};
            e2e_explain(both, 2, e2e_element(i));
            fail_msg("element %s never reached B-out (pod log lines above)", e2e_element(i));
        }
        snprintf(name, sizeof(name), "b/%s.wav", e2e_element(i));
        assert_int_equal(e2e_probe(&e, name, &info), 0);
        assert_int_equal(info.rate, 8000);
        assert_int_equal(info.channels, 1);
        assert_true(llabs((long long)info.frames - (long long)(8000 * SECONDS)) <= 2);
        snprintf(name, sizeof(name), "a/%s.flac", e2e_element(i));
        assert_int_equal(e2e_probe(&e, name, &info), 0);
        assert_int_equal(info.rate, 16000);
        assert_true(llabs((long long)info.frames - (long long)(16000 * SECONDS)) <= 2);
    }
    assert_int_equal(other, 0);
    st = e2e_pod_stop(&a, SIGTERM, GRACE_S + MARGIN_S, &took_a);
    stopped_cleanly(&a, st, took_a);
    st = e2e_pod_stop(&b, SIGTERM, GRACE_S + MARGIN_S, &took_b);
    stopped_cleanly(&b, st, took_b);
    assert_int_equal(e2e_drain_sub(&e, e2e_sub("A-dead-check"), 3), 0);
    assert_int_equal(e2e_drain_sub(&e, e2e_sub("B-dead-check"), 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigterm_under_load),
    };
    struct e2e_chain_group g = {&e, &skipped, 10, N_TRACKS, SECONDS};
    return E2E_CHAIN_GROUP_RUN(tests, &g);
}
