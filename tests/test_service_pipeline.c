/* test_service_pipeline.c: the per-message pipeline (service/pipeline.h) on a
 * real libev loop, file:// storage and a real worker pool (issue 11):
 *  - time spent waiting for a free worker does not count against
 *    message_timeout_s: an item queued behind a busy worker for longer
 *    than its timeout is processed once the worker is free, not retried;
 *  - a DSP job still running when its message times out stops at its next
 *    chunk (AUDIO_ECANCELED), so the worker is free again at once, instead
 *    of decoding an hour of audio nobody wants. */
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
#include "service/pipeline_int.h"
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

static void block_done(struct svc_pool_job *j, int status)
{
    (void)status;
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

static void probe_done(struct svc_pool_job *j, int status)
{
    (void)status;
    ((struct probe *)j)->done = 1;
}

static int n_finished;
static enum svc_disp last_disp;
static enum svc_outcome last_outcome;
static char last_reason[32];
static char last_msg[1024];

/* Keeps the runner's reference: the test inspects the item afterwards. */
static void on_finish(void *ctx, struct svc_item *it)
{
    (void)ctx;
    n_finished++;
    last_disp = it->disp;
    last_outcome = it->outcome;
    snprintf(last_reason, sizeof(last_reason), "%s", it->reason ? it->reason : "");
    snprintf(last_msg, sizeof(last_msg), "%s", it->err.msg);
}

static void on_wait(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(int *)w->data = 1;
    ev_break(loop, EVBREAK_ONE);
}

/* Run the loop for seconds. */
static void run_for(struct ev_loop *loop, double seconds)
{
    int over = 0;
    ev_timer t;
    ev_timer_init(&t, on_wait, seconds, 0);
    t.data = &over;
    ev_timer_start(loop, &t);
    while (!over)
        ev_run(loop, EVRUN_ONCE);
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

struct fixture {
    struct cfg_job *cfg;
    struct ev_loop *loop;
    struct svc_storage *st;
    struct svc_pool *pool;
    struct svc_pipeline *pl;
};

/* in and out: the input and output locations; NULL for file:// under root. */
static void fixture_up_at(struct fixture *f, const char *in, const char *out)
{
    char text[2048], in_loc[600], out_loc[600];
    struct cfg_error cerr = {0};
    struct svc_error err = {0};
    snprintf(in_loc, sizeof(in_loc), in ? "%s" : "file://%s/in/", in ? in : root);
    snprintf(out_loc, sizeof(out_loc), out ? "%s" : "file://%s/out/", out ? out : root);
    snprintf(text, sizeof(text),
             "{\"job\":\"pl-test\",\"events\":{\"file\":\"%s/ids.txt\"},"
             "\"input\":{\"location\":\"%s\",\"suffix\":\".wav\"},"
             "\"output\":{\"location\":\"%s\",\"suffix\":\".flac\"},"
             "\"steps\":{\"channels\":\"mono\",\"rate\":16000,\"quality\":\"very-high\","
             "\"format\":\"flac\"},"
             "\"runtime\":{\"workers\":1,\"message_timeout_s\":1,\"temp_dir\":\"%s\"},"
             "\"listen\":\"\"}",
             root, in_loc, out_loc, root);
    memset(f, 0, sizeof(*f));
    if (cfg_load_string(text, "pl-test.json", &f->cfg, &cerr) != 0)
        fail_msg("config: %s", cerr.msg);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(f->loop);
    f->st = svc_storage_create(f->loop, NULL);
    f->pool = svc_pool_create(f->loop, 1);
    assert_non_null(f->st);
    assert_non_null(f->pool);
    {
        struct svc_pipeline_opts po = {.cfg = f->cfg,
                                       .loop = f->loop,
                                       .storage = f->st,
                                       .pool = f->pool,
                                       .hooks = {.finish = on_finish}};
        f->pl = svc_pipeline_create(&po, &err);
        if (!f->pl)
            fail_msg("pipeline: %s", err.msg);
    }
    n_finished = 0;
}

static void fixture_up(struct fixture *f)
{
    fixture_up_at(f, NULL, NULL);
}

static void fixture_down(struct fixture *f)
{
    svc_pool_destroy(f->pool);
    svc_pipeline_destroy(f->pl);
    svc_storage_destroy(f->st);
    cfg_job_destroy(f->cfg);
    ev_loop_destroy(f->loop);
}

static void test_queue_wait_does_not_count(void **state)
{
    struct fixture f;
    char p[512];
    struct svc_item *it;
    struct blocker b = {0};
    struct probe pr = {0};
    int gate[2];
    (void)state;
    fixture_up(&f);
    snprintf(p, sizeof(p), "%s/in/t0.wav", root);
    assert_int_equal(svc_test_write_wav(p, 44100, 2, 1.0, 440.0), 0);

    /* Occupy the only worker. */
    assert_int_equal(pipe(gate), 0);
    b.fd = gate[0];
    b.job.work = block_work;
    b.job.done = block_done;
    assert_int_equal(svc_pool_submit(f.pool, &b.job), 0);
    while (!atomic_load(&b.started))
        svc_test_sleep(0.01);

    it = svc_item_create("t0", 2);
    assert_non_null(it);
    svc_pipeline_start(f.pl, it);
    /* Three times message_timeout_s behind the busy worker: not timed out. */
    run_for(f.loop, 3.0);
    assert_int_equal(n_finished, 0);
    assert_int_equal(svc_pool_queued(f.pool), 1);

    pr.job.work = probe_work;
    pr.job.done = probe_done;
    assert_int_equal(svc_pool_submit(f.pool, &pr.job), 0);
    assert_int_equal(write(gate[1], "x", 1), 1);
    run_until(f.loop, &n_finished);
    assert_int_equal(n_finished, 1);
    assert_int_equal(last_disp, SVC_DISP_ACK);
    assert_int_equal(last_outcome, SVC_OUT_PROCESSED);
    run_until(f.loop, &pr.done);
    assert_true(b.done);
    snprintf(p, sizeof(p), "%s/out/t0.flac", root);
    {
        struct stat sb;
        assert_int_equal(stat(p, &sb), 0);
        assert_true(sb.st_size > 0);
    }
    svc_item_release(it);
    close(gate[0]);
    close(gate[1]);
    fixture_down(&f);
}

/* A sparse WAV of three hours of silence: 1.9 GB that take no disk space
 * and many seconds of DSP. */
static void write_hour_wav(const char *path)
{
    const uint32_t rate = 44100, frames = 3u * 3600u * 44100u, data = frames * 4u;
    unsigned char h[44] = "RIFF....WAVEfmt ....\x01\x00\x02\x00........\x04\x00\x10\x00"
                          "data....";
    FILE *fp;
    for (int i = 0; i < 4; i++) {
        h[4 + i] = (unsigned char)((36 + data) >> (8 * i));
        h[16 + i] = (unsigned char)(16u >> (8 * i));
        h[24 + i] = (unsigned char)(rate >> (8 * i));
        h[28 + i] = (unsigned char)((rate * 4u) >> (8 * i));
        h[40 + i] = (unsigned char)(data >> (8 * i));
    }
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(h, 1, 44, fp), 44);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(truncate(path, 44 + (off_t)data), 0);
}

static void test_timeout_cancels_running_dsp(void **state)
{
    struct fixture f;
    char p[512];
    struct svc_item *it;
    struct probe pr = {0};
    (void)state;
    fixture_up(&f);
    snprintf(p, sizeof(p), "%s/in/hour.wav", root);
    write_hour_wav(p);
    it = svc_item_create("hour", 4);
    assert_non_null(it);
    svc_pipeline_start(f.pl, it);
    run_until(f.loop, &n_finished);
    assert_int_equal(n_finished, 1);
    printf("# %s: %s\n", last_reason, it->err.msg);
    assert_int_equal(last_disp, SVC_DISP_RETRY);
    assert_string_equal(last_reason, "timeout");
    /* The worker is free again once the cancelled job has stopped. */
    pr.job.work = probe_work;
    pr.job.done = probe_done;
    assert_int_equal(svc_pool_submit(f.pool, &pr.job), 0);
    run_until(f.loop, &pr.done);
    assert_true(pr.done);
    {
        const struct svc_proc_result *r = svc__item_proc_result(it);
        assert_int_equal(r->code, SVC_ECANCELED);
        printf("# %s\n", r->msg);
        assert_non_null(strstr(r->msg, "canceled after "));
        /* Stopped early: not the whole three hours. */
        assert_true(strtoll(strstr(r->msg, "after ") + 6, NULL, 10) < 3ll * 3600 * 44100);
    }
    svc_item_release(it);
    unlink(p);
    fixture_down(&f);
}

/* Run one message through the pipeline; returns the item (released by the caller). */
static struct svc_item *run_one(struct fixture *f, const char *element)
{
    struct svc_item *it = svc_item_create(element, strlen(element));
    assert_non_null(it);
    n_finished = 0;
    svc_pipeline_start(f->pl, it);
    run_until(f->loop, &n_finished);
    assert_int_equal(n_finished, 1);
    printf("# %s: %s\n", last_reason, last_msg);
    return it;
}

/* Issue 11.6: on gs:// a valid element can make location + element +
 * suffix longer than GCS's 1024-byte object names. That is the element's
 * fault: dead-lettered as bad_element with the length, before any storage
 * call (this storage has no GCS client: any call would fail otherwise). */
static void test_gcs_name_too_long(void **state)
{
    struct fixture f;
    char element[1100];
    struct svc_item *it;
    (void)state;
    fixture_up_at(&f, "gs://wiggly-in/some/prefix/", "gs://wiggly-out/");
    memset(element, 'e', 1010);
    element[1010] = 0; /* some/prefix/ + 1010 + .wav = 1026 bytes */
    it = run_one(&f, element);
    assert_int_equal(last_disp, SVC_DISP_DEAD);
    assert_string_equal(last_reason, "bad_element");
    assert_non_null(strstr(last_msg, "is 1026 bytes, more than GCS allows (1024)"));
    assert_non_null(strstr(last_msg, "gs://wiggly-in/some/prefix/eee"));
    svc_item_release(it);
    fixture_down(&f);
}

/* Issue 11.6: file:// segments of 240 to 255 bytes are processed (the
 * temporary file beside the output takes a name that fits NAME_MAX); a
 * segment longer than NAME_MAX is bad_element, not a transient error that
 * redoes the DSP on every attempt. */
static void test_file_long_segments(void **state)
{
    struct fixture f;
    char element[400], p[900];
    struct svc_item *it;
    (void)state;
    fixture_up(&f);
    memcpy(element, "d/", 2);
    memset(element + 2, 's', 250);
    element[252] = 0; /* t.flac: 255 bytes */
    snprintf(p, sizeof(p), "%s/in/d", root);
    assert_int_equal(mkdir(p, 0777), 0);
    snprintf(p, sizeof(p), "%s/in/%s.wav", root, element);
    assert_int_equal(svc_test_write_wav(p, 44100, 1, 0.2, 440.0), 0);
    it = run_one(&f, element);
    assert_int_equal(last_disp, SVC_DISP_ACK);
    assert_int_equal(last_outcome, SVC_OUT_PROCESSED);
    svc_item_release(it);

    memset(element + 2, 'l', 256);
    element[258] = 0;
    it = run_one(&f, element);
    assert_int_equal(last_disp, SVC_DISP_DEAD);
    assert_string_equal(last_reason, "bad_element");
    assert_non_null(strstr(last_msg, "NAME_MAX"));
    svc_item_release(it);
    fixture_down(&f);
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
        cmocka_unit_test(test_queue_wait_does_not_count),
        cmocka_unit_test(test_timeout_cancels_running_dsp),
        cmocka_unit_test(test_gcs_name_too_long),
        cmocka_unit_test(test_file_long_segments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
