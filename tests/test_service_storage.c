/* test_service_storage.c: file:// storage (service/storage.h) on a real
 * libev loop and a real temporary directory: stat, fetch with a size cap,
 * create-only and overwriting writes, nested directories, no partial or
 * temporary files left behind, callbacks never from inside the call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "service/storage.h"
#include "support/svc_util.h"

static struct ev_loop *loop;
static struct svc_storage *st;
static char root[256];
static int in_call, n_cb;

struct res {
    int called, code, exists, is_temp;
    uint64_t size;
    char path[512];
    char msg[1024];
};

static void note(struct res *r, const struct svc_error *e)
{
    assert_false(in_call); /* never from inside the call */
    r->called++;
    r->code = e ? e->code : 0;
    snprintf(r->msg, sizeof(r->msg), "%s", e ? e->msg : "");
    n_cb++;
}

static void on_stat(void *ud, const struct svc_error *e, int exists, uint64_t size)
{
    struct res *r = ud;
    note(r, e);
    r->exists = exists;
    r->size = size;
}

static void on_fetch(void *ud, const struct svc_error *e, const char *path, int is_temp,
                     uint64_t size)
{
    struct res *r = ud;
    note(r, e);
    r->is_temp = is_temp;
    r->size = size;
    snprintf(r->path, sizeof(r->path), "%s", path ? path : "");
}

static void on_done(void *ud, const struct svc_error *e)
{
    note(ud, e);
}

static void wait_for(int n)
{
    for (int i = 0; i < 100000 && n_cb < n; i++)
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
    assert_int_equal(n_cb, n);
    n_cb = 0;
}

static char *url(const char *rel)
{
    static char buf[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof(buf[k]), "file://%s/%s", root, rel);
    return buf[k];
}

static int setup(void **state)
{
    (void)state;
    loop = ev_loop_new(EVFLAG_AUTO);
    assert_int_equal(svc_test_tmpdir(root, sizeof(root), "storage"), 0);
    st = svc_storage_create(loop, NULL);
    return st ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(svc_storage_pending(st), 0);
    svc_storage_destroy(st);
    ev_loop_destroy(loop);
    svc_test_rmtree(root);
    return 0;
}

static void test_kinds(void **state)
{
    char bucket[256];
    const char *name;
    (void)state;
    assert_int_equal(svc_url_kind("file:///a/b"), SVC_URL_FILE);
    assert_int_equal(svc_url_kind("file://rel/b"), SVC_URL_BAD);
    assert_int_equal(svc_url_kind("gs://bkt/x/y"), SVC_URL_GS);
    assert_int_equal(svc_url_kind("gs:///x"), SVC_URL_BAD);
    assert_int_equal(svc_url_kind("s3://x/y"), SVC_URL_BAD);
    assert_int_equal(svc_url_kind(NULL), SVC_URL_BAD);
    assert_int_equal(svc_url_gs_split("gs://bkt/a/b.flac", bucket, &name), 0);
    assert_string_equal(bucket, "bkt");
    assert_string_equal(name, "a/b.flac");
}

static void test_put_stat_fetch(void **state)
{
    struct res a = {0}, b = {0}, c = {0};
    (void)state;
    in_call = 1;
    svc_storage_stat(st, url("x/missing.flac"), on_stat, &a);
    svc_storage_put_mem(st, url("artist/album/t1.json"), "{\"a\":1}", 7, "application/json", 1,
                        on_done, &b);
    in_call = 0;
    wait_for(2);
    assert_int_equal(a.code, 0);
    assert_int_equal(a.exists, 0);
    assert_int_equal(b.code, 0);

    memset(&a, 0, sizeof(a));
    in_call = 1;
    svc_storage_stat(st, url("artist/album/t1.json"), on_stat, &a);
    svc_storage_fetch(st, url("artist/album/t1.json"), "/tmp", 0, on_fetch, &c);
    in_call = 0;
    wait_for(2);
    assert_int_equal(a.exists, 1);
    assert_int_equal(a.size, 7);
    assert_int_equal(c.code, 0);
    assert_int_equal(c.is_temp, 0);
    assert_int_equal(c.size, 7);
    assert_string_equal(c.path, url("artist/album/t1.json") + 7);
    {
        char *text = svc_test_read_file(c.path, NULL);
        assert_string_equal(text, "{\"a\":1}");
        free(text);
    }
}

static void test_create_only_and_force(void **state)
{
    struct res a = {0}, b = {0}, c = {0};
    char src[600];
    char *text;
    (void)state;
    snprintf(src, sizeof(src), "%s/src.bin", root);
    assert_int_equal(svc_test_write_file(src, "first", 5), 0);
    svc_storage_put_file(st, url("o/t.flac"), src, "audio/flac", 1, on_done, &a);
    wait_for(1);
    assert_int_equal(a.code, 0);
    /* A second create-only write fails and leaves the object alone. */
    assert_int_equal(svc_test_write_file(src, "second", 6), 0);
    svc_storage_put_file(st, url("o/t.flac"), src, "audio/flac", 1, on_done, &b);
    wait_for(1);
    assert_int_equal(b.code, SVC_EEXISTS);
    text = svc_test_read_file(url("o/t.flac") + 7, NULL);
    assert_string_equal(text, "first");
    free(text);
    /* force overwrites. */
    svc_storage_put_file(st, url("o/t.flac"), src, "audio/flac", 0, on_done, &c);
    wait_for(1);
    assert_int_equal(c.code, 0);
    text = svc_test_read_file(url("o/t.flac") + 7, NULL);
    assert_string_equal(text, "second");
    free(text);
    /* No temporary file is left beside the object. */
    {
        char dir[600];
        snprintf(dir, sizeof(dir), "%s/o", root);
        assert_int_equal(svc_test_count_files(dir), 1);
    }
}

static void test_fetch_cap_and_errors(void **state)
{
    struct res a = {0}, b = {0}, c = {0}, d = {0}, e = {0};
    char big[4096];
    (void)state;
    memset(big, 'x', sizeof(big));
    svc_storage_put_mem(st, url("big.wav"), big, sizeof(big), NULL, 1, on_done, &a);
    wait_for(1);
    assert_int_equal(a.code, 0);
    svc_storage_fetch(st, url("big.wav"), "/tmp", 1000, on_fetch, &b);
    svc_storage_fetch(st, url("nothing.wav"), "/tmp", 0, on_fetch, &c);
    svc_storage_stat(st, "s3://bucket/x", on_stat, &d);
    svc_storage_put_mem(st, "gs://bucket/x", "x", 1, NULL, 1, on_done, &e); /* no GCS client */
    wait_for(4);
    assert_int_equal(b.code, SVC_ETOOBIG);
    assert_non_null(strstr(b.msg, "4096 bytes"));
    assert_int_equal(c.code, SVC_ENOTFOUND);
    assert_int_equal(d.code, SVC_EINVAL);
    assert_int_equal(e.code, SVC_EINVAL);
}

static void test_put_into_unwritable(void **state)
{
    struct res a = {0};
    (void)state;
    if (geteuid() == 0)
        skip(); /* root writes anywhere */
    svc_storage_put_mem(st, "file:///proc/wiggly-test/x.json", "x", 1, NULL, 1, on_done, &a);
    wait_for(1);
    assert_int_equal(a.code, SVC_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_put_stat_fetch),
        cmocka_unit_test(test_create_only_and_force),
        cmocka_unit_test(test_fetch_cap_and_errors),
        cmocka_unit_test(test_put_into_unwritable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
