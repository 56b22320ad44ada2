/* test_service_pipeline.c: the per-message pipeline (service/pipeline.h) on a
 * real libev loop, file:// storage and a real worker pool: an item that
 * times out while its DSP job still waits in the pool's queue is finished
 * once (RETRY, "timeout"), and its queued job is then not run: the worker
 * never opens the input (watched with inotify), so timed-out items cannot
 * pile up work and temporary files behind the in-flight limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "config/config.h"
#include "service/pipeline.h"
#include "service/pool.h"
#include "service/storage.h"
#include "support/svc_util.h"

static char root[256];

/* A job that holds the pool's only thread until the test writes to gate[1]. */
struct blocker {
    struct svc_pool_job job;
    int fd;
    atomic_int started;
    int done;
};

static void block_work(struct svc_pool_job *j)
{
    struct blocker *b = (struct blocker *)j;
    char c;
    atomic_store(&b->started, 1);
    while (read(b->fd, &c, 1) < 0 && errno == EINTR)
        ;
}

static void block_done(struct svc_pool_job *j)
{
    ((struct blocker *)j)->done = 1;
}

/* Queued behind the item's job: when it is done, that job is done too. */
struct probe {
    struct svc_pool_job job;
    int done;
};

static void probe_work(struct svc_pool_job *j)
{
    (void)j;
}

static void probe_done(struct svc_pool_job *j)
{
    ((struct probe *)j)->done = 1;
}

static int n_finished;
static enum svc_disp last_disp;
static char last_reason[32];

static void on_finish(void *ctx, struct svc_item *it)
{
    (void)ctx;
    n_finished++;
    last_disp = it->disp;
    snprintf(last_reason, sizeof(last_reason), "%s", it->reason ? it->reason : "");
    svc_item_release(it); /* the runner's reference */
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL); /* a hang fails on the asserts, not on time */
}

/* Run the loop until *flag is set (or the guard fires). */
static void run_until(struct ev_loop *loop, const int *flag)
{
    ev_timer guard;
    ev_timer_init(&guard, on_guard, 60, 0);
    ev_timer_start(loop, &guard);
    while (!*flag && ev_is_active(&guard))
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &guard);
}

static void test_timeout_while_queued(void **state)
{
    char text[2048], p[512];
    struct cfg_job *cfg = NULL;
    struct cfg_error cerr = {0};
    struct svc_error err = {0};
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct svc_storage *st;
    struct svc_pool *pool;
    struct svc_pipeline *pl;
    struct svc_item *it;
    struct blocker b = {0};
    struct probe pr = {0};
    int gate[2], ino, wd;
    char evbuf[4096];
    ssize_t n;
    (void)state;

    snprintf(text, sizeof(text),
             "{\"job\":\"pl-test\",\"events\":{\"file\":\"%s/ids.txt\"},"
             "\"input\":{\"location\":\"file://%s/in/\",\"suffix\":\".wav\"},"
             "\"output\":{\"location\":\"file://%s/out/\",\"suffix\":\".flac\"},"
             "\"steps\":{\"channels\":\"mono\",\"rate\":16000,\"format\":\"flac\"},"
             "\"runtime\":{\"workers\":1,\"message_timeout_s\":1,\"temp_dir\":\"%s\"},"
             "\"listen\":\"\"}",
             root, root, root, root);
    if (cfg_load_string(text, "pl-test.json", &cfg, &cerr) != 0)
        fail_msg("config: %s", cerr.msg);
    snprintf(p, sizeof(p), "%s/in/t0.wav", root);
    assert_int_equal(svc_test_write_wav(p, 44100, 2, 1.0, 440.0), 0);

    assert_non_null(loop);
    st = svc_storage_create(loop, NULL);
    pool = svc_pool_create(loop, 1);
    assert_non_null(st);
    assert_non_null(pool);
    {
        struct svc_pipeline_opts po = {
            .cfg = cfg, .loop = loop, .storage = st, .pool = pool, .hooks = {.finish = on_finish}};
        pl = svc_pipeline_create(&po, &err);
        if (!pl)
            fail_msg("pipeline: %s", err.msg);
    }

    /* Occupy the only worker. */
    assert_int_equal(pipe(gate), 0);
    b.fd = gate[0];
    b.job.work = block_work;
    b.job.done = block_done;
    assert_int_equal(svc_pool_submit(pool, &b.job), 0);
    while (!atomic_load(&b.started))
        svc_test_sleep(0.01);

    it = svc_item_create("t0", 2);
    assert_non_null(it);
    svc_pipeline_start(pl, it);
    run_until(loop, &n_finished);
    assert_int_equal(n_finished, 1);
    assert_int_equal(last_disp, SVC_DISP_RETRY);
    assert_string_equal(last_reason, "timeout");
    /* The item's DSP job is waiting behind the blocker. */
    assert_int_equal(svc_pool_queued(pool), 1);

    ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(ino >= 0);
    wd = inotify_add_watch(ino, p, IN_OPEN | IN_ACCESS);
    assert_true(wd >= 0);
    pr.job.work = probe_work;
    pr.job.done = probe_done;
    assert_int_equal(svc_pool_submit(pool, &pr.job), 0);
    assert_int_equal(write(gate[1], "x", 1), 1);
    run_until(loop, &pr.done);
    assert_true(b.done);
    assert_true(pr.done);

    /* Nobody opened the input: the abandoned job was not run. */
    n = read(ino, evbuf, sizeof(evbuf));
    if (n > 0)
        fail_msg("the DSP job of a timed-out item still ran (it opened %s)", p);
    assert_int_equal(errno, EAGAIN);
    /* Its temporary output went with the item. */
    assert_int_equal(svc_test_count_files(root), 1); /* in/ */
    assert_int_equal(n_finished, 1);

    close(ino);
    close(gate[0]);
    close(gate[1]);
    svc_pool_destroy(pool);
    svc_pipeline_destroy(pl);
    svc_storage_destroy(st);
    cfg_job_destroy(cfg);
    ev_loop_destroy(loop);
}

static int setup(void **state)
{
    char p[512];
    (void)state;
    if (svc_test_tmpdir(root, sizeof(root), "pipeline") != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/in", root);
    return mkdir(p, 0777);
}

static int teardown(void **state)
{
    (void)state;
    svc_test_rmtree(root);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeout_while_queued),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
