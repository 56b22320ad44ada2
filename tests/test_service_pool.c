/* test_service_pool.c: the worker pool (service/pool.h) on a real libev
 * loop: every job runs once on a worker thread and completes once on the
 * loop thread, in any number; destroy completes what was queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sched.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "service/pool.h"
#include "service/svc_error.h"

struct tjob {
    struct svc_pool_job job;
    pthread_t loop_thread, work_thread;
    int worked, done;
    int expect_status;
    unsigned long value, result;
};

static int n_done, n_expected;
static pthread_t main_thread;

static void work(struct svc_pool_job *j)
{
    struct tjob *t = (struct tjob *)j;
    unsigned long x = t->value;
    t->work_thread = pthread_self();
    for (int i = 0; i < 1000; i++) /* some real work: a small hash */
        x = x * 6364136223846793005UL + 1442695040888963407UL;
    t->result = x;
    t->worked++;
}

static int last_status;

static void done(struct svc_pool_job *j, int status)
{
    struct tjob *t = (struct tjob *)j;
    last_status = status;
    assert_int_equal(status, t->expect_status);
    t->loop_thread = pthread_self();
    t->done++;
    if (++n_done == n_expected)
        ev_break(EV_DEFAULT, EVBREAK_ALL);
}

static unsigned long expect(unsigned long x)
{
    for (int i = 0; i < 1000; i++)
        x = x * 6364136223846793005UL + 1442695040888963407UL;
    return x;
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL); /* a hang fails on the counts below, not on time */
}

static void run_jobs(int threads, int n)
{
    struct ev_loop *loop = EV_DEFAULT;
    struct svc_pool *p = svc_pool_create(loop, threads);
    struct tjob *jobs = calloc((size_t)n, sizeof(*jobs));
    ev_timer guard;
    assert_non_null(p);
    assert_non_null(jobs);
    if (threads > 0)
        assert_int_equal(svc_pool_threads(p), threads);
    n_done = 0;
    n_expected = n;
    main_thread = pthread_self();
    for (int i = 0; i < n; i++) {
        jobs[i].job.work = work;
        jobs[i].job.done = done;
        jobs[i].value = (unsigned long)i;
        assert_int_equal(svc_pool_submit(p, &jobs[i].job), 0);
    }
    ev_timer_init(&guard, on_guard, 120, 0);
    ev_timer_start(loop, &guard);
    ev_run(loop, 0);
    ev_timer_stop(loop, &guard);
    assert_int_equal(n_done, n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(jobs[i].worked, 1);
        assert_int_equal(jobs[i].done, 1);
        assert_true(pthread_equal(jobs[i].loop_thread, main_thread));
        assert_false(pthread_equal(jobs[i].work_thread, main_thread));
        assert_true(jobs[i].result == expect((unsigned long)i));
    }
    assert_int_equal(svc_pool_queued(p), 0);
    svc_pool_destroy(p);
    free(jobs);
}

static void test_one_thread(void **state)
{
    (void)state;
    run_jobs(1, 50);
}

static void test_many_jobs_many_threads(void **state)
{
    (void)state;
    run_jobs(4, 5000);
}

static void test_default_threads(void **state)
{
    struct svc_pool *p = svc_pool_create(EV_DEFAULT, 0);
    (void)state;
    assert_non_null(p);
    assert_int_equal(svc_pool_threads(p), svc_pool_cores());
    svc_pool_destroy(p);
    svc_pool_destroy(NULL);
}

static void test_destroy_completes_queued(void **state)
{
    struct ev_loop *loop = EV_DEFAULT;
    struct svc_pool *p = svc_pool_create(loop, 2);
    struct tjob jobs[64] = {0};
    (void)state;
    n_done = 0;
    n_expected = -1; /* never break: destroy must deliver them */
    for (int i = 0; i < 64; i++) {
        jobs[i].job.work = work;
        jobs[i].job.done = done;
        jobs[i].value = 7;
        assert_int_equal(svc_pool_submit(p, &jobs[i].job), 0);
    }
    svc_pool_destroy(p);
    assert_int_equal(n_done, 64);
    for (int i = 0; i < 64; i++) {
        assert_int_equal(jobs[i].worked, 1);
        assert_int_equal(jobs[i].done, 1);
    }
}

/* A job held on the only worker until the test writes to gate[1]. */
struct gated {
    struct svc_pool_job job;
    int fd;
    atomic_int started;
    int done;
};

static void gated_work(struct svc_pool_job *j)
{
    struct gated *g = (struct gated *)j;
    char c;
    atomic_store(&g->started, 1);
    while (read(g->fd, &c, 1) < 0 && errno == EINTR)
        ;
}

static void gated_done(struct svc_pool_job *j, int status)
{
    assert_int_equal(status, 0);
    ((struct gated *)j)->done = 1;
    if (++n_done == n_expected)
        ev_break(EV_DEFAULT, EVBREAK_ALL);
}

/* libuv's uv_cancel: a queued job is taken back and completes with
 * SVC_ECANCELED without ever running; a running one cannot be (EBUSY) and
 * completes normally; busy counts the worker while it runs. */
static void test_cancel(void **state)
{
    struct ev_loop *loop = EV_DEFAULT;
    struct svc_pool *p = svc_pool_create(loop, 1);
    struct gated g = {0};
    struct tjob q[3] = {0};
    int gate[2];
    ev_timer guard;
    (void)state;
    assert_non_null(p);
    assert_int_equal(pipe(gate), 0);
    g.fd = gate[0];
    g.job.work = gated_work;
    g.job.done = gated_done;
    n_done = 0;
    n_expected = 4;
    assert_int_equal(svc_pool_submit(p, &g.job), 0);
    while (!atomic_load(&g.started))
        sched_yield();
    assert_true(atomic_load(&g.job.started_us) > 0);
    assert_int_equal(svc_pool_busy(p), 1);
    for (int i = 0; i < 3; i++) {
        q[i].job.work = work;
        q[i].job.done = done;
        q[i].expect_status = i == 1 ? SVC_ECANCELED : 0;
        assert_int_equal(svc_pool_submit(p, &q[i].job), 0);
    }
    assert_int_equal(svc_pool_queued(p), 3);
    assert_int_equal(atomic_load(&q[1].job.started_us), 0);
    assert_int_equal(svc_pool_cancel(p, &q[1].job), 0); /* the middle one */
    assert_int_equal(svc_pool_queued(p), 2);
    assert_int_equal(svc_pool_cancel(p, &g.job), SVC_EBUSY);
    assert_int_equal(q[1].done, 0); /* never inside the call */
    assert_int_equal(write(gate[1], "x", 1), 1);
    ev_timer_init(&guard, on_guard, 60, 0);
    ev_timer_start(loop, &guard);
    ev_run(loop, 0);
    ev_timer_stop(loop, &guard);
    assert_int_equal(n_done, 4);
    assert_true(g.done);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(q[i].done, 1);
        assert_int_equal(q[i].worked, i == 1 ? 0 : 1);
    }
    assert_int_equal(svc_pool_cancel(p, &q[0].job), SVC_EBUSY); /* already finished */
    assert_int_equal(svc_pool_busy(p), 0);
    svc_pool_destroy(p);
    close(gate[0]);
    close(gate[1]);
}

static void test_bad_submit(void **state)
{
    struct svc_pool *p = svc_pool_create(EV_DEFAULT, 1);
    struct tjob j = {0};
    (void)state;
    assert_true(svc_pool_submit(p, &j.job) < 0); /* no callbacks */
    assert_true(svc_pool_submit(p, NULL) < 0);
    svc_pool_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_thread),      cmocka_unit_test(test_many_jobs_many_threads),
        cmocka_unit_test(test_default_threads), cmocka_unit_test(test_destroy_completes_queued),
        cmocka_unit_test(test_bad_submit),      cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
