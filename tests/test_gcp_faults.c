/* test_gcp_faults.c: the GCS client against wiggly-gcs-emulator failing 20%
 * of requests (503, 429, dropped connections): 200 uploads (multipart and
 * resumable) and 200 downloads all complete with the right bytes; a 412
 * and a 400 are answered once and not retried. A second phase breaks only
 * the resumable chunk route so uploads are interrupted and resumed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "gcp/crc32c.h"
#include "gcs_emulator.h"
#include "test_gcp_common.h"

#define N_OBJ 200

static int setup(void **state)
{
    struct gcp_http_opts o = {0};

    o.max_retries = 12;
    o.backoff_initial_s = 0.005;
    o.backoff_max_s = 0.1;
    *state = ctx_new(emu_ok, &o, 1, 0);
    return 0;
}

static size_t obj_size(int i)
{
    /* Every 10th object goes through the resumable protocol (3 chunks). */
    return i % 10 == 0 ? 600 * 1024 + (size_t)i : 100 + (size_t)i * 37;
}

struct run {
    struct ctx *c;
    const char *bucket;
    unsigned char *data[N_OBJ];
    struct res r[N_OBJ];
    int next, inflight, done, downloading;
};

static void pump(struct run *w);

static void on_any_done(struct run *w)
{
    w->inflight--;
    w->done++;
    pump(w);
}

struct slot {
    struct run *w;
    int i;
};

static struct slot slots[N_OBJ];

static void on_up_slot(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *o)
{
    struct slot *s = ud;

    res_obj(&s->w->r[s->i], err, o);
    on_any_done(s->w);
}

static void on_dl_slot(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *o,
                       const void *data, size_t len)
{
    struct slot *s = ud;

    on_data(&s->w->r[s->i], err, o, data, len);
    on_any_done(s->w);
}

static void pump(struct run *w)
{
    while (w->inflight < 16 && w->next < N_OBJ) {
        int i = w->next++;
        char name[64];
        int rc;

        snprintf(name, sizeof name, "obj/%03d", i);
        slots[i].w = w;
        slots[i].i = i;
        memset(&w->r[i], 0, sizeof w->r[i]);
        w->inflight++;
        if (w->downloading) {
            rc = gcp_gcs_download_mem(w->c->g, w->bucket, name, NULL, on_dl_slot, &slots[i]);
        } else {
            struct gcp_gcs_write_opts wo = {0};

            wo.if_generation_match = 0;
            wo.resumable_threshold = 256 * 1024;
            wo.chunk_size = 256 * 1024;
            rc = gcp_gcs_upload_mem(w->c->g, w->bucket, name, w->data[i], obj_size(i), &wo,
                                    on_up_slot, &slots[i]);
        }
        assert_int_equal(rc, 0);
    }
}

static void run_all(struct ctx *c, const char *bucket, unsigned seed)
{
    struct run *w = calloc(1, sizeof *w);
    struct res mk = {0};
    int i;

    w->c = c;
    w->bucket = bucket;
    for (i = 0; i < N_OBJ; i++)
        w->data[i] = random_bytes(obj_size(i), seed + (unsigned)i);
    assert_int_equal(gcp_gcs_bucket_create(c->g, "p", bucket, on_done, &mk), 0);
    assert_int_equal(wait_res(c, &mk), 0);
    assert_int_equal(mk.code, 0);

    pump(w);
    assert_int_equal(fake_loop_wait(c->loop, &w->done, N_OBJ, 600), 0);
    for (i = 0; i < N_OBJ; i++) {
        if (w->r[i].code)
            fail_msg("upload %d: %s", i, w->r[i].msg);
        assert_int_equal(w->r[i].size, obj_size(i));
        assert_int_equal(w->r[i].crc, gcp_crc32c(0, w->data[i], obj_size(i)));
    }
    w->downloading = 1;
    w->next = w->done = 0;
    pump(w);
    assert_int_equal(fake_loop_wait(c->loop, &w->done, N_OBJ, 600), 0);
    for (i = 0; i < N_OBJ; i++) {
        if (w->r[i].code)
            fail_msg("download %d: %s", i, w->r[i].msg);
        assert_int_equal(w->r[i].len, obj_size(i));
        assert_memory_equal(w->r[i].data, w->data[i], obj_size(i));
        free(w->r[i].data);
        free(w->data[i]);
    }
    free(w);
}

static void test_200_uploads_downloads_under_faults(void **state)
{
    struct ctx *c = *state;

    NEED_EMULATOR(state, "wiggly-gcs-emulator did not start");
    run_all(c, "wiggly-faults", 1000);
    /* The faults really happened, of every kind. */
    assert_true(tgcs_log_count(&emu, "FAULT", NULL) > 40);
    assert_true(tgcs_log_count(&emu, " drop ", NULL) > 0);
    assert_true(tgcs_log_count(&emu, " 429 ", "FAULT") > 0);
    assert_true(tgcs_log_count(&emu, " 503 ", "FAULT") > 0);
}

static void test_412_and_400_not_retried(void **state)
{
    struct ctx *c = *state;
    struct gcp_gcs_write_opts wo = {0};
    struct res a = {0}, b = {0}, d = {0}, mk = {0};

    NEED_EMULATOR(state, "wiggly-gcs-emulator did not start");
    assert_int_equal(gcp_gcs_bucket_create(c->g, "p", "wiggly-nr", on_done, &mk), 0);
    assert_int_equal(wait_res(c, &mk), 0);
    wo.if_generation_match = 0;
    assert_int_equal(gcp_gcs_upload_mem(c->g, "wiggly-nr", "f412", "x", 1, &wo, on_obj, &a), 0);
    assert_int_equal(wait_res(c, &a), 0);
    assert_int_equal(a.code, 0);
    assert_int_equal(gcp_gcs_upload_mem(c->g, "wiggly-nr", "f412", "y", 1, &wo, on_obj, &b), 0);
    assert_int_equal(wait_res(c, &b), 0);
    assert_int_equal(b.code, GCP_EPRECONDITION);
    /* Two requests reached the handler: the create and the single 412. */
    assert_int_equal(log_settle(c, &emu, "name=f412", NULL, 1, 2), 2);
    assert_int_equal(tgcs_log_count(&emu, "name=f412", " 412 "), 1);

    /* Not UTF-8: refused locally, precisely. */
    assert_int_equal(
        gcp_gcs_upload_mem(c->g, "wiggly-nr", "bad-\xff-name", "x", 1, &wo, on_obj, &d),
        GCP_EINVAL);
    /* ".." passes the client but the server answers 400: not retried. */
    assert_int_equal(gcp_gcs_upload_mem(c->g, "wiggly-nr", "..", "x", 1, &wo, on_obj, &d), 0);
    assert_int_equal(wait_res(c, &d), 0);
    assert_int_equal(d.code, GCP_EINVAL);
    assert_int_equal(d.status, 400);
    assert_int_equal(log_settle(c, &emu, "name=..", NULL, 1, 1), 1);
}

static void test_resumable_interrupted_and_resumed(void **state)
{
    struct ctx *c = *state;
    const char *const args[] = {
        "--fault-rate", "0.4", "--fault-statuses", "503,drop", "--fault-route", "upload_id", NULL};
    size_t n = 4 * 1024 * 1024 + 99; /* 17 chunks */
    unsigned char *data = random_bytes(n, 77);
    struct gcp_gcs_write_opts wo = {0};
    struct res up = {0}, dl = {0}, mk = {0};

    NEED_EMULATOR(state, "wiggly-gcs-emulator did not start");
    /* Only the chunk PUTs and status queries fail now. */
    assert_int_equal(tgcs_restart(&emu, args), 0);
    setenv("STORAGE_EMULATOR_HOST", emu.url, 1);
    gcp_gcs_destroy(c->g);
    c->g = gcp_gcs_create(c->http, NULL, NULL, NULL);
    assert_int_equal(gcp_gcs_bucket_create(c->g, "p", "wiggly-resume", on_done, &mk), 0);
    assert_int_equal(wait_res(c, &mk), 0);
    wo.if_generation_match = 0;
    wo.resumable_threshold = 256 * 1024;
    wo.chunk_size = 256 * 1024;
    assert_int_equal(
        gcp_gcs_upload_mem(c->g, "wiggly-resume", "big.bin", data, n, &wo, on_obj, &up), 0);
    assert_int_equal(wait_res(c, &up), 0);
    if (up.code)
        fail_msg("upload: %s", up.msg);
    assert_int_equal(up.size, n);
    assert_int_equal(gcp_gcs_download_mem(c->g, "wiggly-resume", "big.bin", NULL, on_data, &dl), 0);
    assert_int_equal(wait_res(c, &dl), 0);
    assert_int_equal(dl.code, 0);
    assert_int_equal(dl.len, n);
    assert_memory_equal(dl.data, data, n);
    /* Chunks failed, and the client asked for the upload status to resume. */
    assert_true(log_settle(c, &emu, "upload_id", "FAULT", 0, 1) > 0);
    assert_true(log_settle(c, &emu, "PUT", " 308 ", 0, 17) > 16);
    free(dl.data);
    free(data);
}

static int group_setup(void **state)
{
    const char *const args[] = {"--fault-rate", "0.2", "--fault-statuses", "503,429,drop", NULL};

    (void)state;
    return gcs_group_up(args);
}

#define group_teardown gcs_group_down

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_200_uploads_downloads_under_faults, setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_412_and_400_not_retried, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_resumable_interrupted_and_resumed, setup,
                                        ctx_teardown),
    };
    return run_suite("gcp_faults", tests, sizeof tests / sizeof tests[0], group_setup,
                     group_teardown);
}
