/* test_service_runner.c: the runner (service/runner.c) through a fake event
 * source defined here, as a new source would be (docs/architecture.md
 * "Seams" → "Event sources"): a `const struct svc_source` that hands out
 * IDs from an array and records what the runner asks of it. Real pipeline,
 * pool and file:// storage; no emulators. Checks the runner's decisions
 * (ack with the outcome, dead letter at once for a permanent failure, nack
 * with the source's backoff then dead letter when the attempts run out),
 * its summary counts, flow control (never more than max_in_flight asked
 * for or in flight) and the end of a run once the source is exhausted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <ev.h>
#include <jansson.h>

#include "config/config.h"
#include "service/log.h"
#include "service/source.h"
#include "support/svc_util.h"

#define MAX_CALLS 32

struct call {
    char what[8]; /* "ack", "nack", "dead" */
    char id[64];
    int attempt;  /* the item's */
    int attempts; /* dead: the op's argument */
    double delay; /* nack */
    enum svc_outcome outcome;
    char reason[32];
};

struct fake {
    const struct svc_source_env *env;
    const char *const *ids;
    size_t n_ids, next;
    int waiting; /* redeliveries scheduled */
    int max_asked, max_in_flight_seen, started, ended;
    struct call calls[MAX_CALLS];
    size_t n_calls;
};

static struct fake fake;
static char root[256];

static struct call *record(const char *what, const struct svc_item *it)
{
    struct call *c;
    assert_true(fake.n_calls < MAX_CALLS);
    c = &fake.calls[fake.n_calls++];
    snprintf(c->what, sizeof(c->what), "%s", what);
    snprintf(c->id, sizeof(c->id), "%s", (const char *)it->data);
    c->attempt = it->attempt;
    c->outcome = it->outcome;
    snprintf(c->reason, sizeof(c->reason), "%s", it->reason ? it->reason : "");
    return c;
}

static void deliver(const char *id, int attempt)
{
    struct svc_item *it = svc_item_create(id, strlen(id));
    size_t n;
    assert_non_null(it);
    it->attempt = attempt;
    svc__runner_deliver(fake.env->runner, &it, 1);
    svc__runner_in_flight(fake.env->runner, &n);
    if ((int)n > fake.max_in_flight_seen)
        fake.max_in_flight_seen = (int)n;
}

static int f_create(const struct svc_source_env *env, void **state)
{
    fake.env = env;
    *state = &fake;
    return 0;
}

static int f_start(void *state)
{
    (void)state;
    fake.started = 1;
    return 0;
}

static int f_end(void *state)
{
    (void)state;
    fake.ended = 1;
    return 0;
}

static void f_destroy(void *state)
{
    (void)state;
}

static int f_pull(void *state, int n)
{
    int k = 0;
    (void)state;
    if (n > fake.max_asked)
        fake.max_asked = n;
    for (; k < n && fake.next < fake.n_ids; k++)
        deliver(fake.ids[fake.next++], 1);
    return k;
}

static void f_ack(void *state, struct svc_item *it)
{
    (void)state;
    record("ack", it);
    svc_item_release(it);
}

struct again {
    char id[64];
    int attempt;
};

static void on_again(int revents, void *arg)
{
    struct again *a = arg;
    (void)revents;
    fake.waiting--;
    deliver(a->id, a->attempt);
    free(a);
}

static void f_nack(void *state, struct svc_item *it, double delay_s)
{
    struct again *a = calloc(1, sizeof(*a));
    (void)state;
    assert_non_null(a);
    record("nack", it)->delay = delay_s;
    snprintf(a->id, sizeof(a->id), "%s", (const char *)it->data);
    a->attempt = it->attempt + 1;
    fake.waiting++;
    ev_once(fake.env->loop, -1, 0, delay_s, on_again, a);
    svc_item_release(it);
}

static void f_dead_letter(void *state, struct svc_item *it, int attempts)
{
    (void)state;
    record("dead", it)->attempts = attempts;
    svc__runner_summary(fake.env->runner)->failed++;
    svc_item_release(it);
}

static int f_exhausted(void *state)
{
    (void)state;
    return fake.next == fake.n_ids && fake.waiting == 0;
}

static const struct svc_source fake_source = {
    .name = "fake",
    .backoff_base_s = 0.01,
    .backoff_cap_s = 0.015,
    .create = f_create,
    .start = f_start,
    .end = f_end,
    .destroy = f_destroy,
    .pull = f_pull,
    .ack = f_ack,
    .nack = f_nack,
    .dead_letter = f_dead_letter,
    .exhausted = f_exhausted,
};

static struct cfg_job *load(const char *output, const char *runtime)
{
    char text[4096];
    struct cfg_job *cfg = NULL;
    struct cfg_error err = {0};
    snprintf(text, sizeof(text),
             "{\"job\":\"runner-test\",\"events\":{\"file\":\"-\"},"
             "\"input\":{\"location\":\"file://%s/in/\",\"suffix\":\".wav\"},"
             "\"output\":{\"location\":\"file://%s/%s/\",\"suffix\":\".wav\"},"
             "\"steps\":{\"channels\":\"mono\",\"rate\":8000,\"format\":\"wav\"},"
             "\"runtime\":{\"workers\":1,\"temp_dir\":\"%s\"%s},\"listen\":\"\"}",
             root, root, output, root, runtime);
    if (cfg_load_string(text, "runner-test.json", &cfg, &err) != 0)
        fail_msg("config: %s", err.msg);
    return cfg;
}

static int run_fake(struct cfg_job *cfg, const char *const *ids, size_t n,
                    struct svc_batch_summary *sum)
{
    struct svc_run_opts o = {.cfg = cfg};
    memset(&fake, 0, sizeof(fake));
    fake.ids = ids;
    fake.n_ids = n;
    return svc__run(&fake_source, &o, sum);
}

static int setup(void **state)
{
    char p[512];
    (void)state;
    if (svc_test_tmpdir(root, sizeof(root), "runner") != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/in", root);
    mkdir(p, 0777);
    snprintf(p, sizeof(p), "%s/in/artist", root);
    mkdir(p, 0777);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/in/artist/t%d.wav", root, i);
        if (svc_test_write_wav(p, 16000, 1, 0.5, 440.0) != 0)
            return -1;
    }
    snprintf(p, sizeof(p), "%s/blocker", root); /* a file where a directory should be */
    return svc_test_write_file(p, "x", 1);
}

static int teardown(void **state)
{
    (void)state;
    svc_test_rmtree(root);
    return 0;
}

static const struct call *call_for(const char *id)
{
    for (size_t i = 0; i < fake.n_calls; i++)
        if (!strcmp(fake.calls[i].id, id))
            return &fake.calls[i];
    fail_msg("no call for %s", id);
    return NULL;
}

/* Processed and missing are acked with their outcome and counted; a bad
 * element is dead-lettered at once (attempts 0), never nacked. */
static void test_decisions(void **state)
{
    static const char *const ids[] = {"artist/t0", "../bad", "artist/none"};
    struct cfg_job *cfg = load("out", "");
    struct svc_batch_summary sum = {0};
    const struct call *c;
    (void)state;
    assert_int_equal(run_fake(cfg, ids, 3, &sum), 0);
    assert_true(fake.started && fake.ended);
    assert_int_equal(fake.n_calls, 3);
    c = call_for("artist/t0");
    assert_string_equal(c->what, "ack");
    assert_int_equal(c->outcome, SVC_OUT_PROCESSED);
    c = call_for("../bad");
    assert_string_equal(c->what, "dead");
    assert_int_equal(c->attempts, 0);
    assert_string_equal(c->reason, "bad_element");
    c = call_for("artist/none");
    assert_string_equal(c->what, "ack");
    assert_int_equal(c->outcome, SVC_OUT_MISSING);
    assert_int_equal(sum.processed, 1);
    assert_int_equal(sum.missing, 1);
    assert_int_equal(sum.failed, 1); /* the fake's own count */
    assert_true(sum.audio_seconds > 0.4);
    cfg_job_destroy(cfg);
}

/* A transient failure (the output directory cannot be made) is nacked with
 * the source's backoff, min(cap, base * 2^(attempt - 1)), and handed to
 * dead_letter with the attempt count when runtime.max_attempts is
 * reached. */
static void test_retries_then_dead_letter(void **state)
{
    static const char *const ids[] = {"artist/t1"};
    struct cfg_job *cfg = load("blocker/out", ",\"max_attempts\":3");
    struct svc_batch_summary sum = {0};
    (void)state;
    assert_int_equal(run_fake(cfg, ids, 1, &sum), 0);
    assert_int_equal(fake.n_calls, 3);
    assert_string_equal(fake.calls[0].what, "nack");
    assert_int_equal(fake.calls[0].attempt, 1);
    assert_true(fake.calls[0].delay > 0.0099 && fake.calls[0].delay < 0.0101);
    assert_string_equal(fake.calls[0].reason, "storage");
    assert_string_equal(fake.calls[1].what, "nack");
    assert_int_equal(fake.calls[1].attempt, 2);
    assert_true(fake.calls[1].delay > 0.0149 && fake.calls[1].delay < 0.0151); /* capped */
    assert_string_equal(fake.calls[2].what, "dead");
    assert_int_equal(fake.calls[2].attempt, 3);
    assert_int_equal(fake.calls[2].attempts, 3);
    assert_string_equal(fake.calls[2].reason, "storage");
    assert_int_equal(sum.processed, 0);
    cfg_job_destroy(cfg);
}

/* The runner asks for no more than its free capacity and never has more
 * than max_in_flight items in flight. */
static void test_flow_control(void **state)
{
    static const char *const ids[] = {"artist/t0", "artist/t1", "artist/t2",
                                      "artist/t0", "artist/t1", "artist/t2"};
    struct cfg_job *cfg = load("out-flow", ",\"max_in_flight\":2");
    struct svc_batch_summary sum = {0};
    (void)state;
    assert_int_equal(run_fake(cfg, ids, 6, &sum), 0);
    assert_int_equal(fake.max_asked, 2);
    assert_int_equal(fake.max_in_flight_seen, 2);
    assert_int_equal(sum.processed + sum.skipped, 6);
    assert_true(sum.processed >= 3);
    cfg_job_destroy(cfg);
}

/* Exhausted before it starts: the run ends without waiting. */
static void test_nothing_to_do(void **state)
{
    struct cfg_job *cfg = load("out-none", "");
    struct svc_batch_summary sum = {0};
    (void)state;
    assert_int_equal(run_fake(cfg, NULL, 0, &sum), 0);
    assert_true(fake.started && fake.ended);
    assert_int_equal(fake.n_calls, 0);
    cfg_job_destroy(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions),
        cmocka_unit_test(test_retries_then_dead_letter),
        cmocka_unit_test(test_flow_control),
        cmocka_unit_test(test_nothing_to_do),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_object_seed(0);
    svc_log_init(SVC_LOG_TEXT, stderr, SVC_WARNING);
    rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
