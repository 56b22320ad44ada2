/* test_service_storage.c: file:// storage (service/storage.h) on a real
 * libev loop and a real temporary directory: stat, fetch with a size cap,
 * create-only and overwriting writes, nested directories, no partial or
 * temporary files left behind, callbacks never from inside the call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>

#include "config/config.h"
#include "service/roots.h"
#include "service/storage.h"
#include "support/svc_util.h"
#ifdef WIGGLY_TEST_GCS
#include "gcp/gcs.h"
#include "gcp/http.h"
#include "gcs_emulator.h"

struct gcs_wait {
    int called, code;
};

static void on_gcs_done(void *ud, const struct gcp_error *err)
{
    struct gcs_wait *w = ud;
    w->called = 1;
    w->code = err ? err->code : 0;
}
#endif

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
    static char buf[4][1600];
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

/* rel made of segments of the given lengths ('a'..), then suffix. */
static const char *long_rel(const int *lens, int n, const char *suffix)
{
    static char buf[1200];
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        if (i)
            buf[o++] = '/';
        memset(buf + o, 'a' + i, (size_t)lens[i]);
        o += (size_t)lens[i];
    }
    snprintf(buf + o, sizeof(buf) - o, "%s", suffix);
    return buf;
}

/* Issue 11.6: a final name of up to NAME_MAX bytes is written although
 * ".NAME.wiggly-XXXXXX" would not fit NAME_MAX (the temporary file takes
 * a shorter name), and nothing is left beside it. */
static void test_long_segment_fits(void **state)
{
    struct res a = {0}, b = {0}, c = {0};
    const int lens[] = {3, 250};
    char dir[600];
    (void)state;
    svc_storage_put_mem(st, url(long_rel(lens, 2, ".flac")), "x", 1, NULL, 1, on_done, &a);
    wait_for(1);
    assert_int_equal(a.code, 0);
    svc_storage_put_mem(st, url(long_rel(lens, 2, ".flac")), "yz", 2, NULL, 0, on_done, &b);
    svc_storage_stat(st, url(long_rel(lens, 2, ".flac")), on_stat, &c);
    wait_for(2);
    assert_int_equal(b.code, 0);
    assert_int_equal(c.exists, 1);
    assert_int_equal(c.size, 2);
    snprintf(dir, sizeof(dir), "%s/aaa", root);
    assert_int_equal(svc_test_count_files(dir), 1);
}

/* Issue 11.6: a segment longer than NAME_MAX can never be written: a
 * permanent error (SVC_EINVAL) that says so, not a transient local i/o
 * error that redoes the work on every attempt. */
static void test_segment_over_name_max(void **state)
{
    struct res a = {0}, b = {0}, c = {0};
    const int lens[] = {3, 256};
    (void)state;
    svc_storage_put_mem(st, url(long_rel(lens, 2, "")), "x", 1, NULL, 1, on_done, &a);
    svc_storage_stat(st, url(long_rel(lens, 2, "")), on_stat, &b);
    svc_storage_fetch(st, url(long_rel(lens, 2, "")), "/tmp", 0, on_fetch, &c);
    wait_for(3);
    printf("# %s\n", a.msg);
    assert_int_equal(a.code, SVC_EINVAL);
    assert_non_null(strstr(a.msg, "256 bytes"));
    assert_non_null(strstr(a.msg, "NAME_MAX"));
    assert_int_equal(b.code, SVC_EINVAL);
    assert_int_equal(c.code, SVC_EINVAL);
}

/* Issue 11.6: error text is no longer cut at 255 bytes: the cause at the
 * end of a message about a long path survives. */
static void test_long_path_keeps_cause(void **state)
{
    struct res a = {0};
    const int lens[] = {200, 200, 200};
    char rel[1300];
    (void)state;
    snprintf(rel, sizeof(rel), "plain/%s", long_rel(lens, 3, ".json"));
    svc_storage_put_mem(st, url("plain"), "x", 1, NULL, 1, on_done, &a); /* a file, not a dir */
    wait_for(1);
    assert_int_equal(a.code, 0);
    memset(&a, 0, sizeof(a));
    svc_storage_put_mem(st, url(rel), "x", 1, NULL, 1, on_done, &a);
    wait_for(1);
    printf("# %s\n", a.msg);
    assert_int_equal(a.code, SVC_EIO);
    assert_true(strlen(a.msg) > 600);
    assert_non_null(strstr(a.msg, strerror(ENOTDIR)));
}

/* A job's locations are checked through their scheme (issue 10.3): the
 * rules config/ used to hard-code, with the same text. Moved here from
 * tests/test_config.c (test_bad_values, test_load_file). */
static void test_check_location(void **state)
{
    static const struct {
        const char *loc, *needle;
    } bad[] = {
        {"s3://bucket/x/", "must start with gs://bucket/ or file:///"},
        {"gs://Bucket/x/", "lowercase letters"},
        {"gs://ab/x/", "bucket name must be 3 to 63"},
        {"gs://-abc/x/", "start and end with a letter"},
        {"gs://google-x/x/", "not start with \"goog\""},
        {"gs://a..b/x/", "each dot-separated part"},
        {"gs:///x/", "bucket name must be 3 to 63"},
        {"file://rel/dir/", "absolute path"},
    };
    struct svc_error e;
    struct cfg_job *cfg = NULL;
    struct cfg_error cerr;
    char seg[300];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&e, 0, sizeof(e));
        assert_int_equal(svc_storage_check_location(bad[i].loc, &e), SVC_EINVAL);
        assert_int_equal(e.code, SVC_EINVAL);
        if (!strstr(e.msg, bad[i].needle))
            fail_msg("%s: expected \"%s\" in \"%s\"", bad[i].loc, bad[i].needle, e.msg);
    }
    assert_int_equal(svc_storage_check_location("gs://my.bucket.example/out/", &e), 0);
    assert_int_equal(svc_storage_check_location("gs://my-bucket/", &e), 0);
    assert_int_equal(svc_storage_check_location("file:///data/in/", &e), 0);
    /* file:// segments beyond NAME_MAX can never be written. */
    memset(seg, 'x', 256);
    seg[256] = 0;
    assert_int_equal(svc_storage_check_location(url(seg), &e), SVC_EINVAL);
    assert_non_null(strstr(e.msg, "NAME_MAX"));

    /* The whole job, as `wiggly run` and `wiggly verify` report it. */
    assert_int_equal(cfg_load_string("{\"job\": \"a\", \"events\": {\"file\": \"-\"},\n"
                                     " \"input\": {\"location\": \"gs://x/\"},\n"
                                     " \"output\": {\"location\": \"file:///out/\"}}",
                                     "t.json", &cfg, &cerr),
                     0);
    assert_int_equal(svc_roots_validate(cfg, &e), SVC_EINVAL);
    assert_string_equal(e.msg,
                        "\"input.location\": \"gs://x/\" bucket name must be 3 to 63 characters");
    cfg_job_destroy(cfg);
}

/* Object names within each scheme's limits (issue 11.6). */
static void test_check_name(void **state)
{
    char u[1400];
    struct svc_error e = {0};
    (void)state;
    snprintf(u, sizeof(u), "gs://bkt/");
    memset(u + 9, 'n', 1024);
    u[9 + 1024] = 0;
    assert_int_equal(svc_storage_check_name(u, &e), 0); /* exactly 1024 */
    u[9 + 1024] = 'n';
    u[9 + 1025] = 0;
    assert_int_equal(svc_storage_check_name(u, &e), SVC_EINVAL);
    assert_non_null(strstr(e.msg, "is 1025 bytes, more than GCS allows (1024)"));
    assert_true(strlen(e.msg) < 300); /* the name is shortened in the middle */
    assert_int_equal(svc_storage_check_name("s3://b/x", &e), SVC_EINVAL);
    assert_int_equal(svc_storage_check_name(url("a/b.flac"), &e), 0);
}

static void test_delete(void **state)
{
    struct res a = {0}, b = {0}, c = {0}, d = {0};
    (void)state;
    svc_storage_put_mem(st, url("del/x.json"), "{}", 2, NULL, 1, on_done, &a);
    wait_for(1);
    assert_int_equal(a.code, 0);
    in_call = 1;
    svc_storage_delete(st, url("del/x.json"), on_done, &b);
    in_call = 0;
    wait_for(1);
    assert_int_equal(b.code, 0);
    svc_storage_stat(st, url("del/x.json"), on_stat, &c);
    svc_storage_delete(st, url("del/x.json"), on_done, &d);
    wait_for(2);
    assert_int_equal(c.exists, 0);
    assert_int_equal(d.code, SVC_ENOTFOUND);
    memset(&d, 0, sizeof(d));
    svc_storage_delete(st, "gs://bucket/x", on_done, &d); /* no GCS client */
    wait_for(1);
    assert_int_equal(d.code, SVC_EINVAL);
}

#ifdef WIGGLY_TEST_GCS
/* The gs:// scheme against wiggly-gcs-emulator: every operation of the
 * table, through the same interface as file://. */
static void test_gs_scheme(void **state)
{
    struct tgcs emu = {0};
    struct gcp_http *http;
    struct gcp_gcs *gcs;
    struct svc_storage *gst;
    struct res a = {0}, b = {0}, c = {0}, d = {0}, f = {0}, g = {0}, h = {0};
    char root_url[64];
    int made;
    (void)state;
    if (tgcs_start(&emu, NULL) != 0)
        skip();
    setenv("STORAGE_EMULATOR_HOST", emu.url, 1);
    http = gcp_http_create(loop, NULL);
    gcs = gcp_gcs_create(http, NULL, NULL, NULL);
    assert_non_null(gcs);
    gst = svc_storage_create(loop, gcs);
    assert_non_null(gst);
    {
        struct gcs_wait w = {0};
        assert_int_equal(gcp_gcs_bucket_create(gcs, "p", "wiggly-st", on_gcs_done, &w), 0);
        while (!w.called)
            ev_run(loop, EVRUN_ONCE);
        assert_int_equal(w.code, 0);
    }
    assert_int_equal(svc_storage_root("gs://wiggly-st/a/b/", root_url, sizeof(root_url), &made), 0);
    assert_string_equal(root_url, "gs://wiggly-st/");
    assert_int_equal(made, 0);
    in_call = 1;
    svc_storage_put_mem(gst, "gs://wiggly-st/a/t.json", "{\"a\":1}", 7, "application/json", 1,
                        on_done, &a);
    svc_storage_stat_root(gst, "gs://wiggly-st/a/", on_stat, &b);
    svc_storage_stat_root(gst, "gs://wiggly-nope/a/", on_stat, &c);
    in_call = 0;
    wait_for(3);
    assert_int_equal(a.code, 0);
    assert_int_equal(b.code, 0);
    assert_int_equal(b.exists, 1);
    assert_int_equal(c.code, 0);
    assert_int_equal(c.exists, 0);
    svc_storage_put_mem(gst, "gs://wiggly-st/a/t.json", "x", 1, NULL, 1, on_done, &d);
    svc_storage_fetch(gst, "gs://wiggly-st/a/t.json", root, 0, on_fetch, &f);
    wait_for(2);
    assert_int_equal(d.code, SVC_EEXISTS);
    assert_int_equal(f.code, 0);
    assert_int_equal(f.is_temp, 1);
    assert_int_equal(f.size, 7);
    {
        char *text = svc_test_read_file(f.path, NULL);
        assert_string_equal(text, "{\"a\":1}");
        free(text);
        unlink(f.path);
    }
    svc_storage_delete(gst, "gs://wiggly-st/a/t.json", on_done, &g);
    wait_for(1);
    assert_int_equal(g.code, 0);
    memset(&g, 0, sizeof(g));
    svc_storage_stat(gst, "gs://wiggly-st/a/t.json", on_stat, &g);
    svc_storage_delete(gst, "gs://wiggly-st/a/t.json", on_done, &h);
    wait_for(2);
    assert_int_equal(g.code, 0);
    assert_int_equal(g.exists, 0);
    assert_int_equal(h.code, SVC_ENOTFOUND);
    assert_int_equal(svc_storage_pending(gst), 0);
    svc_storage_destroy(gst);
    gcp_gcs_destroy(gcs);
    gcp_http_destroy(http);
    unsetenv("STORAGE_EMULATOR_HOST");
    tgcs_stop(&emu);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_put_stat_fetch),
        cmocka_unit_test(test_create_only_and_force),
        cmocka_unit_test(test_fetch_cap_and_errors),
        cmocka_unit_test(test_put_into_unwritable),
        cmocka_unit_test(test_long_segment_fits),
        cmocka_unit_test(test_segment_over_name_max),
        cmocka_unit_test(test_long_path_keeps_cause),
        cmocka_unit_test(test_check_location),
        cmocka_unit_test(test_check_name),
        cmocka_unit_test(test_delete),
#ifdef WIGGLY_TEST_GCS
        cmocka_unit_test(test_gs_scheme),
#endif
    };
    int rc;
#ifdef WIGGLY_TEST_GCS
    gcp_http_global_init();
#endif
    rc = cmocka_run_group_tests(tests, setup, teardown);
#ifdef WIGGLY_TEST_GCS
    gcp_http_global_cleanup();
#endif
    return rc;
}
