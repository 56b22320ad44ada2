/* it_faults_crash.c: worker crashes. 200 tracks flow through a two-job chain
 * (two `wiggly run` processes per job on one subscription each; 100 ms added
 * latency on both clouds so the flow lasts long enough to be hit) while a
 * random process is SIGKILLed every 2 s and started again at once, for at
 * most KILL_PHASE seconds; then the pods are left to finish. Afterwards
 * nothing is missing: every element reaches B-out (duplicates counted and
 * printed), the bucket holds exactly the inputs and complete, decodable
 * outputs, and nothing was dead-lettered.
 *
 * Why the kills stop (issue 11, finding 7): a process killed with a long
 * poll outstanding leaves that pull in the Pub/Sub emulator for about 90 s,
 * and the emulator hands it messages that nobody will ever process or nack;
 * they come back only when their 10 s lease lapses. With a kill every 2 s
 * the emulator holds ~40 such dead pulls against 4 live ones, so a message
 * redelivered after its lease goes to a dead pull about 9 times in 10, and
 * the last few messages can circle among dead pulls for as long as the
 * kills go on (seen: 199/200 after 200 s and 85 kills, the last element
 * never logged by any pod). Progress while faults never stop is not a
 * property any Pub/Sub consumer has; losing nothing is, and that is what
 * is checked, after the faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "support/e2e_group.h"
#include "support/e2e_harness.h"

#define N_TRACKS   200
#define SECONDS    1.0
#define LIMIT      300.0 /* kills and then the quiet finish, in all */
#define KILL_PHASE 60.0  /* seconds of SIGKILLs at most */
#define N_PODS     4

static struct e2e e;
static int skipped;

static const char *const gcs_latency[] = {"--latency-ms", "100", NULL};
static const char *const ps_latency[] = {"--latency-ms", "100", NULL};

static void test_sigkill_random_pods(void **state)
{
    static int seen[N_TRACKS];
    struct e2e_pod pods[N_PODS];
    const char *runtime = "{\"workers\":1,\"max_in_flight\":8,\"ack_deadline_s\":10,"
                          "\"max_attempts\":10,\"shutdown_grace_s\":20}";
    unsigned seed = (unsigned)time(NULL);
    int distinct = 0, kills = 0, dups, other = 0;
    char **names = NULL;
    size_t n_names = 0, n_out = 0;
    double t0;
    (void)state;
    if (skipped)
        skip();
    for (int i = 0; i < N_PODS; i++) {
        char pod[8];
        int is_b = i >= N_PODS / 2;
        snprintf(pod, sizeof(pod), "%s%d", is_b ? "B" : "A", i % (N_PODS / 2));
        assert_int_equal(e2e_chain_pod(&e, &pods[i], pod, is_b,
                                       "{\"channels\":\"mono\",\"rate\":16000}", runtime),
                         0);
    }
    assert_int_equal(e2e_faults_on(&e, gcs_latency, ps_latency), 0);
    for (int i = 0; i < N_PODS; i++)
        assert_int_equal(e2e_pod_start(&e, &pods[i]), 0);
    printf("faults_crash: kill seed %u\n", seed);
    srand(seed);
    t0 = e2e_now();
    assert_int_equal(e2e_publish_range(&e, e2e_topic("A-in"), 0, N_TRACKS), 0);
    while (distinct < N_TRACKS && e2e_now() - t0 < KILL_PHASE) {
        int k = rand() % N_PODS, st;
        distinct = e2e_collect(&e, e2e_sub("B-out-check"), N_TRACKS, 2.0, seen, &other);
        if (distinct >= N_TRACKS)
            break;
        st = e2e_pod_stop(&pods[k], SIGKILL, 30, NULL);
        assert_true(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
        kills++;
        printf("faults_crash: t=%.1f s killed %s (%d/%d on B-out)\n", e2e_now() - t0, pods[k].name,
               distinct, N_TRACKS);
        fflush(stdout);
        assert_int_equal(e2e_pod_start(&e, &pods[k]), 0);
    }
    if (distinct < N_TRACKS)
        printf("faults_crash: t=%.1f s kills over (%d/%d on B-out), the pods finish\n",
               e2e_now() - t0, distinct, N_TRACKS);
    while (distinct < N_TRACKS && e2e_now() - t0 < LIMIT)
        distinct = e2e_collect(&e, e2e_sub("B-out-check"), N_TRACKS, 2.0, seen, &other);
    dups = e2e_dups(seen, N_TRACKS);
    printf("faults_crash: %d/%d elements on B-out in %.1f s with %d SIGKILLs; %d duplicates\n",
           distinct, N_TRACKS, e2e_now() - t0, kills, dups);
    for (int i = 0; i < N_TRACKS; i++)
        if (!seen[i]) {
            e2e_explain(pods, N_PODS, e2e_element(i));
            fail_msg("element %s never reached B-out (pod log lines above)", e2e_element(i));
        }
    assert_true(kills >= 1);
    assert_int_equal(other, 0);
    for (int i = 0; i < N_PODS; i++)
        assert_int_equal(e2e_pod_stop_clean(&pods[i], 60), 0);
    assert_int_equal(e2e_faults_off(&e), 0);
    /* Nothing partial: exactly the expected objects, each decodable. */
    assert_int_equal(e2e_list(&e, "", &names, &n_names), 0);
    for (size_t i = 0; i < n_names; i++) {
        int k;
        char tail[16];
        struct audio_info info;
        if (sscanf(names[i], "src/t%d%15s", &k, tail) == 2 && !strcmp(tail, ".flac"))
            continue;
        if (!(sscanf(names[i], "a/t%d%15s", &k, tail) == 2 && !strcmp(tail, ".flac")) &&
            !(sscanf(names[i], "b/t%d%15s", &k, tail) == 2 && !strcmp(tail, ".wav")))
            fail_msg("unexpected object in the bucket: %s", names[i]);
        n_out++;
        if (e2e_probe(&e, names[i], &info) != 0)
            fail_msg("%s is not decodable", names[i]);
        assert_int_equal(info.channels, 1);
        assert_int_equal(info.rate, names[i][0] == 'a' ? 16000 : 8000);
        assert_true(llabs((long long)info.frames - (long long)(info.rate * SECONDS)) <= 2);
    }
    e2e_names_free(names, n_names);
    assert_int_equal(n_out, 2 * N_TRACKS);
    assert_int_equal(e2e_drain_sub(&e, e2e_sub("A-dead-check"), 3), 0);
    assert_int_equal(e2e_drain_sub(&e, e2e_sub("B-dead-check"), 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_random_pods),
    };
    struct e2e_chain_group g = {&e, &skipped, 10, N_TRACKS, SECONDS};
    return E2E_CHAIN_GROUP_RUN(tests, &g);
}
