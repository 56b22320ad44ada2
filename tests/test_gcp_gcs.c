/* test_gcp_gcs.c: the GCS client against wiggly-gcs-emulator (one process
 * for the executable, found through STORAGE_EMULATOR_HOST like in
 * production). Every test uses its own bucket. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "gcp/crc32c.h"
#include "test_gcp_common.h"

static int setup(void **state)
{
    *state = ctx_new(emu_ok, NULL, 1, 0);
    return 0;
}

static void make_bucket(struct ctx *c, const char *b)
{
    struct res r = {0};

    assert_int_equal(gcp_gcs_bucket_create(c->g, "p", b, on_done, &r), 0);
    assert_int_equal(wait_res(c, &r), 0);
    assert_int_equal(r.code, 0);
}

static struct res put(struct ctx *c, const char *b, const char *name, const void *data, size_t n,
                      int64_t if_gen, size_t threshold)
{
    struct res r = {0};
    struct gcp_gcs_write_opts wo = {0};

    wo.if_generation_match = if_gen;
    wo.resumable_threshold = threshold;
    wo.chunk_size = 256 * 1024;
    wo.content_type = "application/x-test";
    assert_int_equal(gcp_gcs_upload_mem(c->g, b, name, data, n, &wo, on_obj, &r), 0);
    assert_int_equal(wait_res(c, &r), 0);
    return r;
}

static struct res get(struct ctx *c, const char *b, const char *name,
                      const struct gcp_gcs_read_opts *ro)
{
    struct res r = {0};

    assert_int_equal(gcp_gcs_download_mem(c->g, b, name, ro, on_data, &r), 0);
    assert_int_equal(wait_res(c, &r), 0);
    return r;
}

static void test_buckets(void **state)
{
    struct ctx *c = *state;
    struct res r1 = {0}, r2 = {0}, r3 = {0};

    NEED_EMULATOR(state, "wiggly-gcs-emulator is not available");
    make_bucket(c, "wiggly-b1");
    assert_int_equal(gcp_gcs_bucket_create(c->g, "p", "wiggly-b1", on_done, &r1), 0);
    assert_int_equal(wait_res(c, &r1), 0);
    assert_int_equal(r1.code, GCP_EEXISTS);
    assert_int_equal(gcp_gcs_bucket_get(c->g, "wiggly-b1", on_done, &r2), 0);
    assert_int_equal(wait_res(c, &r2), 0);
    assert_int_equal(r2.code, 0);
    assert_int_equal(gcp_gcs_bucket_get(c->g, "wiggly-nope", on_done, &r3), 0);
    assert_int_equal(wait_res(c, &r3), 0);
    assert_int_equal(r3.code, GCP_ENOBUCKET);
}

/* GCS answers 404 for a missing bucket and for a missing object alike; the
 * client tells them apart by the message, for metadata and media alike. */
static void test_missing_bucket_is_not_a_missing_object(void **state)
{
    struct ctx *c = *state;
    struct res st = {0}, dl, so = {0};

    NEED_EMULATOR(state, "wiggly-gcs-emulator is not available");
    make_bucket(c, "wiggly-there");
    assert_int_equal(gcp_gcs_stat(c->g, "wiggly-gone", "a/track.wav", on_obj, &st), 0);
    assert_int_equal(wait_res(c, &st), 0);
    assert_int_equal(st.code, GCP_ENOBUCKET);
    assert_non_null(strstr(st.msg, "404"));
    dl = get(c, "wiggly-gone", "a/track.wav", NULL);
    assert_int_equal(dl.code, GCP_ENOBUCKET);
    free(dl.data);
    /* The same object name in a bucket that exists is just missing. */
    assert_int_equal(gcp_gcs_stat(c->g, "wiggly-there", "a/track.wav", on_obj, &so), 0);
    assert_int_equal(wait_res(c, &so), 0);
    assert_int_equal(so.code, GCP_ENOTFOUND);
    dl = get(c, "wiggly-there", "a/track.wav", NULL);
    assert_int_equal(dl.code, GCP_ENOTFOUND);
    free(dl.data);
}

static void test_small_object_round_trip(void **state)
{
    struct ctx *c = *state;
    const char *name = "dir/a b?#%+.txt";
    struct res up, st = {0}, dl, df = {0};
    char path[] = "/tmp/wiggly-dl-XXXXXX";
    char buf[64];
    int fd;
    ssize_t n;

    NEED_EMULATOR(state, "wiggly-gcs-emulator is not available");
    make_bucket(c, "wiggly-small");
    up = put(c, "wiggly-small", name, "hello world", 11, 0, 0);
    assert_int_equal(up.code, 0);
    assert_string_equal(up.name, name);
    assert_true(up.generation > 0);
    assert_int_equal(up.size, 11);
    assert_true(up.has_crc);
    assert_int_equal(up.crc, 0xC99465AAu);

    assert_int_equal(gcp_gcs_stat(c->g, "wiggly-small", name, on_obj, &st), 0);
    assert_int_equal(wait_res(c, &st), 0);
    assert_int_equal(st.code, 0);
    assert_string_equal(st.name, name);
    assert_true(st.generation == up.generation);

    dl = get(c, "wiggly-small", name, NULL);
    assert_int_equal(dl.code, 0);
    assert_int_equal(dl.len, 11);
    assert_memory_equal(dl.data, "hello world", 11);
    assert_true(dl.has_crc);
    free(dl.data);

    fd = mkstemp(path);
    assert_true(fd >= 0);
    /* Longer than the object: the download replaces it whole. */
    assert_int_equal(write(fd, "0123456789abcdefghijklmnopqrstuvwxyz", 36), 36);
    close(fd);
    assert_int_equal(gcp_gcs_download_file(c->g, "wiggly-small", name, path, NULL, on_obj, &df), 0);
    assert_int_equal(wait_res(c, &df), 0);
    assert_int_equal(df.code, 0);
    fd = open(path, O_RDONLY);
    n = read(fd, buf, sizeof buf);
    close(fd);
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "hello world", 11);
    unlink(path);

    /* Missing object: a precise not-found. */
    memset(&st, 0, sizeof st);
    assert_int_equal(gcp_gcs_stat(c->g, "wiggly-small", "no/such", on_obj, &st), 0);
    assert_int_equal(wait_res(c, &st), 0);
    assert_int_equal(st.code, GCP_ENOTFOUND);
    assert_non_null(strstr(st.msg, "gs://wiggly-small/no/such"));
    assert_non_null(strstr(st.msg, "404"));
}

static void test_preconditions(void **state)
{
    struct ctx *c = *state;
    struct res a, b, d, r1 = {0}, r2 = {0}, r3 = {0};

    NEED_EMULATOR(state, "wiggly-gcs-emulator is not available");
    make_bucket(c, "wiggly-pre");
    a = put(c, "wiggly-pre", "out/r.json", "one", 3, 0, 0);
    assert_int_equal(a.code, 0);
    b = put(c, "wiggly-pre", "out/r.json", "two", 3, 0, 0);
    assert_int_equal(b.code, GCP_EPRECONDITION);
    assert_int_equal(b.status, 412);
    /* Exactly two requests: the create and the one 412 (no retry). */
    assert_int_equal(log_settle(c, &emu, "name=out%2Fr.json", NULL, 1, 2), 2);
    /* Compare-and-swap on the generation read. */
    d = put(c, "wiggly-pre", "out/r.json", "three", 5, a.generation, 0);
    assert_int_equal(d.code, 0);
    assert_true(d.generation != a.generation);
    assert_int_equal(gcp_gcs_delete(c->g, "wiggly-pre", "out/r.json", a.generation, on_done, &r1),
                     0);
    assert_int_equal(wait_res(c, &r1), 0);
    assert_int_equal(r1.code, GCP_EPRECONDITION);
    assert_int_equal(gcp_gcs_delete(c->g, "wiggly-pre", "out/r.json", d.generation, on_done, &r2),
                     0);
    assert_int_equal(wait_res(c, &r2), 0);
    assert_int_equal(r2.code, 0);
    assert_int_equal(gcp_gcs_stat(c->g, "wiggly-pre", "out/r.json", on_obj, &r3), 0);
    assert_int_equal(wait_res(c, &r3), 0);
    assert_int_equal(r3.code, GCP_ENOTFOUND);
}

static void test_resumable_and_ranges(void **state)
{
    struct ctx *c = *state;
    size_t n = 3 * 1024 * 1024 + 123;
    unsigned char *data = random_bytes(n, 42);
    struct res up, dl, rg, big, fup = {0}, fdl;
    struct gcp_gcs_read_opts ro = {0};
    struct gcp_gcs_write_opts wo = {0};
    char path[] = "/tmp/wiggly-up-XXXXXX";
    int fd;

    NEED_EMULATOR(state, "wiggly-gcs-emulator is not available");
    make_bucket(c, "wiggly-res");
    up = put(c, "wiggly-res", "big.bin", data, n, 0, 1024 * 1024);
    assert_int_equal(up.code, 0);
    assert_int_equal(up.size, n);
    assert_int_equal(up.crc, gcp_crc32c(0, data, n));
    assert_true(log_settle(c, &emu, "PUT", "upload_id", 0, 13) >= 13); /* 256 KiB chunks */
    dl = get(c, "wiggly-res", "big.bin", NULL);
    assert_int_equal(dl.code, 0);
    assert_int_equal(dl.len, n);
    assert_memory_equal(dl.data, data, n);
    free(dl.data);

    ro.offset = 1000000;
    ro.length = 4096;
    rg = get(c, "wiggly-res", "big.bin", &ro);
    assert_int_equal(rg.code, 0);
    assert_int_equal(rg.len, 4096);
    assert_memory_equal(rg.data, data + 1000000, 4096);
    free(rg.data);

    memset(&ro, 0, sizeof ro);
    ro.max_bytes = 1024 * 1024;
    big = get(c, "wiggly-res", "big.bin", &ro);
    assert_int_equal(big.code, GCP_ETOOBIG);
    free(big.data);

    /* From a file, resumable, with an 8 MiB-default-sized chunk. */
    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    wo.if_generation_match = 0;
    wo.resumable_threshold = 512 * 1024;
    wo.chunk_size = 1024 * 1024;
    assert_int_equal(
        gcp_gcs_upload_file(c->g, "wiggly-res", "from/file.bin", path, &wo, on_obj, &fup), 0);
    assert_int_equal(wait_res(c, &fup), 0);
    assert_int_equal(fup.code, 0);
    assert_int_equal(fup.crc, gcp_crc32c(0, data, n));
    fdl = get(c, "wiggly-res", "from/file.bin", NULL);
    assert_int_equal(fdl.len, n);
    assert_memory_equal(fdl.data, data, n);
    free(fdl.data);
    unlink(path);
    free(data);
}

struct lister {
    int pages, calls, code;
    size_t n;
    char **names;
    char **prefixes;
    size_t np;
    char token[512];
    int done;
};

static void on_list(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *o, size_t n,
                    const char *const *p, size_t np, const char *next)
{
    struct lister *l = ud;
    size_t i;

    l->calls++;
    l->code = err ? err->code : 0;
    if (err)
        return;
    l->pages++;
    l->names = realloc(l->names, (l->n + n + 1) * sizeof *l->names);
    for (i = 0; i < n; i++)
        l->names[l->n++] = strdup(o[i].name);
    l->prefixes = realloc(l->prefixes, (l->np + np + 1) * sizeof *l->prefixes);
    for (i = 0; i < np; i++)
        l->prefixes[l->np++] = strdup(p[i]);
    snprintf(l->token, sizeof l->token, "%s", next ? next : "");
    l->done = next == NULL;
}

static void list_all(struct ctx *c, const char *b, const char *prefix, const char *delim, int max,
                     struct lister *l)
{
    memset(l, 0, sizeof *l);
    while (!l->done) {
        int before = l->calls;

        assert_int_equal(
            gcp_gcs_list(c->g, b, prefix, delim, l->token[0] ? l->token : NULL, max, on_list, l),
            0);
        assert_int_equal(fake_loop_wait(c->loop, &l->calls, before + 1, 120), 0);
        assert_int_equal(l->code, 0);
        assert_true(l->pages < 100);
    }
}

static void lister_free(struct lister *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->names[i]);
    for (i = 0; i < l->np; i++)
        free(l->prefixes[i]);
    free(l->names);
    free(l->prefixes);
}

struct window {
    struct ctx *c;
    int next, total, done, failed, inflight;
};

static void upload_next(struct window *w);

static void on_win(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *o)
{
    struct window *w = ud;

    (void)o;
    w->done++;
    w->inflight--;
    if (err)
        w->failed++;
    upload_next(w);
}

static void upload_next(struct window *w)
{
    while (w->inflight < 32 && w->next < w->total) {
        char name[64], body[32];
        struct gcp_gcs_write_opts wo = {0};

        wo.if_generation_match = 0;
        snprintf(name, sizeof name, "page/obj-%05d", w->next);
        snprintf(body, sizeof body, "%d", w->next);
        w->next++;
        w->inflight++;
        if (gcp_gcs_upload_mem(w->c->g, "wiggly-list", name, body, strlen(body), &wo, on_win, w) <
            0) {
            w->inflight--;
            w->failed++;
            w->done++;
        }
    }
}

static void test_list_paging_2500(void **state)
{
    struct ctx *c = *state;
    struct window w = {0};
    struct lister l;
    size_t i;
    const char *extra[] = {"d/a/1", "d/a/2", "d/b/1", "d/c"};

    NEED_EMULATOR(state, "wiggly-gcs-emulator is not available");
    make_bucket(c, "wiggly-list");
    w.c = c;
    w.total = 2500;
    upload_next(&w);
    assert_int_equal(fake_loop_wait(c->loop, &w.done, 2500, 240), 0);
    assert_int_equal(w.failed, 0);

    list_all(c, "wiggly-list", "page/", NULL, 1000, &l);
    assert_int_equal(l.n, 2500);
    assert_int_equal(l.pages, 3);
    for (i = 0; i < l.n; i++) {
        char want[64];

        snprintf(want, sizeof want, "page/obj-%05zu", i);
        assert_string_equal(l.names[i], want); /* lexicographic, no gaps, no repeats */
    }
    lister_free(&l);

    for (i = 0; i < 4; i++) {
        struct res r = put(c, "wiggly-list", extra[i], "x", 1, 0, 0);

        assert_int_equal(r.code, 0);
    }
    list_all(c, "wiggly-list", "d/", "/", 0, &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.names[0], "d/c");
    assert_int_equal(l.np, 2);
    assert_string_equal(l.prefixes[0], "d/a/");
    assert_string_equal(l.prefixes[1], "d/b/");
    lister_free(&l);
}

static void test_copy(void **state)
{
    struct ctx *c = *state;
    size_t n = 2 * 1024 * 1024 + 7;
    unsigned char *data = random_bytes(n, 9);
    struct res up, cp = {0}, cp2 = {0}, dl;

    NEED_EMULATOR(state, "wiggly-gcs-emulator is not available");
    make_bucket(c, "wiggly-copy");
    make_bucket(c, "wiggly-copy2");
    up = put(c, "wiggly-copy", "in/a.bin", data, n, 0, 0);
    assert_int_equal(up.code, 0);
    assert_int_equal(
        gcp_gcs_copy(c->g, "wiggly-copy", "in/a.bin", "wiggly-copy2", "done/a.bin", 0, on_obj, &cp),
        0);
    assert_int_equal(wait_res(c, &cp), 0);
    assert_int_equal(cp.code, 0);
    assert_string_equal(cp.name, "done/a.bin");
    assert_int_equal(cp.size, n);
    dl = get(c, "wiggly-copy2", "done/a.bin", NULL);
    assert_int_equal(dl.len, n);
    assert_memory_equal(dl.data, data, n);
    free(dl.data);
    assert_int_equal(gcp_gcs_copy(c->g, "wiggly-copy", "in/a.bin", "wiggly-copy2", "done/a.bin", 0,
                                  on_obj, &cp2),
                     0);
    assert_int_equal(wait_res(c, &cp2), 0);
    assert_int_equal(cp2.code, GCP_EPRECONDITION);
    free(data);
}

static void test_download_detects_corruption(void **state)
{
    struct ctx *c = *state;
    struct res up, dl, df = {0};
    char dir[512], victim[1024] = "", path[] = "/tmp/wiggly-crc-XXXXXX";
    DIR *d;
    struct dirent *de;
    int fd;
    char ch;

    NEED_EMULATOR(state, "wiggly-gcs-emulator is not available");
    make_bucket(c, "wiggly-crc");
    up = put(c, "wiggly-crc", "victim.txt", "the quick brown fox", 19, 0, 0);
    assert_int_equal(up.code, 0);
    snprintf(dir, sizeof dir, "%s/b/wiggly-crc/data", emu.root);
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            snprintf(victim, sizeof victim, "%s/%s", dir, de->d_name);
    closedir(d);
    assert_true(victim[0]);
    /* Flip one byte of the stored data behind the emulator's back. */
    fd = open(victim, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &ch, 1, 4), 1);
    ch ^= 0x20;
    assert_int_equal(pwrite(fd, &ch, 1, 4), 1);
    close(fd);

    dl = get(c, "wiggly-crc", "victim.txt", NULL);
    assert_int_equal(dl.code, GCP_ECHECKSUM);
    assert_non_null(strstr(dl.msg, "crc32c mismatch"));
    free(dl.data);
    fd = mkstemp(path);
    close(fd);
    assert_int_equal(
        gcp_gcs_download_file(c->g, "wiggly-crc", "victim.txt", path, NULL, on_obj, &df), 0);
    assert_int_equal(wait_res(c, &df), 0);
    assert_int_equal(df.code, GCP_ECHECKSUM);
    assert_int_equal(access(path, F_OK), -1); /* no corrupt file left behind */
}

/* One call of a burst: its result, and the burst's count of callbacks. */
struct burst_item {
    struct res r;
    int *done;
};

static void on_burst_obj(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *o)
{
    struct burst_item *it = ud;

    res_obj(&it->r, err, o);
    (*it->done)++;
}

static void on_burst_data(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *o,
                          const void *data, size_t len)
{
    struct burst_item *it = ud;

    on_data(&it->r, err, o, data, len);
    (*it->done)++;
}

/* 600 uploads, then 600 downloads, all started at once against an emulator
 * that takes at most 300 connections: the engine's bound of 256 connections
 * per host queues the rest inside curl. Uploads without a precondition are
 * never retried, so one refused connection fails one upload (issue 11,
 * finding 5: without the bound, about half of them failed). */
static void test_burst_queues_for_connections(void **state)
{
    enum { N = 600 };
    static const char *const args[] = {"--max-connections", "300", NULL};
    struct ctx *c = *state;
    struct burst_item *it = calloc(N, sizeof *it);
    struct gcp_gcs_write_opts wo = {0};
    struct gcp_gcs *g;
    struct tgcs e;
    struct rlimit rl;
    struct res mk = {0};
    char name[64], want[64];
    int done = 0, ok = 0;

    NEED_EMULATOR(state, "wiggly-gcs-emulator is not available");
    /* The emulator raises its own soft limit; 300 connections need 664. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 1024) {
        print_message("skipped: RLIMIT_NOFILE hard limit %lu is below 1024\n",
                      (unsigned long)rl.rlim_max);
        free(it);
        skip();
    }
    assert_non_null(it);
    assert_int_equal(tgcs_start(&e, args), 0);
    g = gcp_gcs_create(c->http, NULL, e.url, NULL);
    assert_non_null(g);
    assert_int_equal(gcp_gcs_bucket_create(g, "p", "wiggly-burst", on_done, &mk), 0);
    assert_int_equal(wait_res(c, &mk), 0);
    assert_int_equal(mk.code, 0);

    wo.if_generation_match = GCP_GCS_NO_PRECONDITION;
    for (int i = 0; i < N; i++) {
        static char data[N][16];
        snprintf(name, sizeof name, "burst/%03d", i);
        snprintf(data[i], sizeof data[i], "object %03d", i);
        it[i].done = &done;
        assert_int_equal(gcp_gcs_upload_mem(g, "wiggly-burst", name, data[i], strlen(data[i]), &wo,
                                            on_burst_obj, &it[i]),
                         0);
    }
    assert_int_equal(fake_loop_wait(c->loop, &done, N, 240), 0);
    for (int i = 0; i < N; i++) {
        if (it[i].r.code != 0 && ok == i)
            print_message("upload %d: %s\n", i, it[i].r.msg);
        ok += it[i].r.code == 0;
    }
    print_message("%d of %d concurrent uploads succeeded\n", ok, N);
    assert_int_equal(ok, N);

    done = ok = 0;
    for (int i = 0; i < N; i++) {
        memset(&it[i].r, 0, sizeof it[i].r);
        snprintf(name, sizeof name, "burst/%03d", i);
        assert_int_equal(gcp_gcs_download_mem(g, "wiggly-burst", name, NULL, on_burst_data, &it[i]),
                         0);
    }
    assert_int_equal(fake_loop_wait(c->loop, &done, N, 240), 0);
    for (int i = 0; i < N; i++) {
        snprintf(want, sizeof want, "object %03d", i);
        ok += it[i].r.code == 0 && it[i].r.len == strlen(want) &&
              memcmp(it[i].r.data, want, it[i].r.len) == 0;
        free(it[i].r.data);
    }
    print_message("%d of %d concurrent downloads read back\n", ok, N);
    assert_int_equal(ok, N);
    assert_int_equal(tgcs_log_count(&e, "refused", NULL), 0);
    gcp_gcs_destroy(g);
    free(it);
    assert_int_equal(tgcs_stop_status(&e), 0);
}

/* Issue 11.6: a download that cannot be written (disk full) says why, not
 * only "local i/o error". RLIMIT_FSIZE makes write() fail with EFBIG the way
 * a full disk makes it fail with ENOSPC; the emulator, another process,
 * is not affected. */
static void test_download_write_error_says_why(void **state)
{
    struct ctx *c = *state;
    unsigned char *data = random_bytes(64 * 1024, 7);
    char path[] = "/tmp/wiggly-dl-XXXXXX";
    struct res up, df = {0};
    struct rlimit old, low;
    void (*old_sig)(int);
    int fd;

    NEED_EMULATOR(state, "wiggly-gcs-emulator is not available");
    make_bucket(c, "wiggly-full");
    up = put(c, "wiggly-full", "big.bin", data, 64 * 1024, 0, 0);
    assert_int_equal(up.code, 0);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    low = old;
    low.rlim_cur = 4096;
    old_sig = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &low), 0);
    assert_int_equal(gcp_gcs_download_file(c->g, "wiggly-full", "big.bin", path, NULL, on_obj, &df),
                     0);
    assert_int_equal(wait_res(c, &df), 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_sig);
    printf("# %s\n", df.msg);
    assert_int_equal(df.code, GCP_EIO);
    assert_non_null(strstr(df.msg, path));
    assert_non_null(strstr(df.msg, strerror(EFBIG)));
    unlink(path);
    free(data);
}

static int group_setup(void **state)
{
    (void)state;
    return gcs_group_up(NULL);
}

#define group_teardown gcs_group_down

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_bucket_is_not_a_missing_object, setup,
                                        ctx_teardown),
        cmocka_unit_test_setup_teardown(test_buckets, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_small_object_round_trip, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_preconditions, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_resumable_and_ranges, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_list_paging_2500, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_copy, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_download_detects_corruption, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_burst_queues_for_connections, setup, ctx_teardown),
        cmocka_unit_test_setup_teardown(test_download_write_error_says_why, setup, ctx_teardown),
    };
    return run_suite("gcp_gcs", tests, sizeof tests / sizeof tests[0], group_setup, group_teardown);
}
