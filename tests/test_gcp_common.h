/* test_gcp_common.h: helpers shared by the GCS test executables (header-only,
 * static functions; included by test_gcp_gcs.c and test_gcp_faults.c). */
#ifndef WIGGLY_TESTS_GCP_COMMON_H
#define WIGGLY_TESTS_GCP_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "fake_http.h"
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "gcs_emulator.h"
#include "gcp/gcs.h"
#include "gcp/http.h"
#include "gcp/pubsub.h"

/* The executable's one GCS emulator (GCS suites). */
__attribute__((unused)) static struct tgcs emu;
__attribute__((unused)) static int emu_ok;

/* Group setup body for GCS suites: start the emulator with args and point
 * STORAGE_EMULATOR_HOST at it. It is built with the tests, so not starting
 * is a failure, not a skip. */
static inline int gcs_group_up(const char *const *args)
{
    if (tgcs_start(&emu, args) == 0) {
        emu_ok = 1;
        setenv("STORAGE_EMULATOR_HOST", emu.url, 1);
        return 0;
    }
    fprintf(stderr, "wiggly-gcs-emulator did not start\n");
    return -1;
}

static inline int gcs_group_down(void **state)
{
    (void)state;
    tgcs_stop(&emu);
    return 0;
}

/* main() of a suite: global init once, optional GCP_TEST_FILTER. */
static inline int run_suite(const char *name, const struct CMUnitTest *tests, size_t n,
                            CMFixtureFunction up, CMFixtureFunction down)
{
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_object_seed(0);
    if (getenv("GCP_TEST_FILTER"))
        cmocka_set_test_filter(getenv("GCP_TEST_FILTER"));
    rc = _cmocka_run_group_tests(name, tests, n, up, down);
    curl_global_cleanup();
    return rc;
}

/* One test's loop, engine and clients (endpoints from the environment). */
struct ctx {
    struct ev_loop *loop;
    struct gcp_http *http;
    struct gcp_gcs *g;
    struct gcp_pubsub *ps;
};

/* cmocka setup body: NULL state when the emulator is not there (tests then
 * skip or fail as they see fit). */
static inline struct ctx *ctx_new(int available, const struct gcp_http_opts *o, int gcs, int pubsub)
{
    struct ctx *c;

    if (!available)
        return NULL;
    c = calloc(1, sizeof *c);
    c->loop = ev_loop_new(EVFLAG_AUTO);
    c->http = gcp_http_create(c->loop, o);
    if (gcs)
        c->g = gcp_gcs_create(c->http, NULL, NULL, NULL);
    if (pubsub)
        c->ps = gcp_pubsub_create(c->http, NULL, NULL, NULL);
    return c;
}

static inline int ctx_teardown(void **state)
{
    struct ctx *c = *state;

    if (!c)
        return 0;
    gcp_gcs_destroy(c->g);
    gcp_pubsub_destroy(c->ps);
    gcp_http_destroy(c->http);
    ev_loop_destroy(c->loop);
    free(c);
    return 0;
}

#define NEED_EMULATOR(state, why)                                                                  \
    do {                                                                                           \
        if (!*(state)) {                                                                           \
            print_message("skipped: %s\n", why);                                                   \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* The result of one GCS call, copied out of its callback. */
struct res {
    int calls, code, status;
    char msg[1024];
    int has_obj;
    char name[256];
    int64_t generation;
    uint64_t size;
    uint32_t crc;
    int has_crc;
    unsigned char *data;
    size_t len;
};

static inline void res_obj(struct res *r, const struct gcp_error *err,
                           const struct gcp_gcs_object *o)
{
    r->calls++;
    r->code = err ? err->code : 0;
    r->status = err ? err->http_status : 0;
    snprintf(r->msg, sizeof r->msg, "%s", err ? err->msg : "");
    r->has_obj = o != NULL;
    if (o) {
        snprintf(r->name, sizeof r->name, "%s", o->name ? o->name : "");
        r->generation = o->generation;
        r->size = o->size;
        r->crc = o->crc32c;
        r->has_crc = o->has_crc32c;
    }
}

static inline void on_obj(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *o)
{
    res_obj(ud, err, o);
}

static inline void on_data(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *o,
                           const void *data, size_t len)
{
    struct res *r = ud;

    res_obj(r, err, o);
    free(r->data);
    r->data = malloc(len + 1);
    if (len)
        memcpy(r->data, data, len);
    r->len = len;
}

static inline void on_done(void *ud, const struct gcp_error *err)
{
    res_obj(ud, err, NULL);
}

static inline int wait_res(struct ctx *c, struct res *r)
{
    return fake_loop_wait(c->loop, &r->calls, 1, 240);
}

static inline unsigned char *random_bytes(size_t n, unsigned seed)
{
    unsigned char *p = malloc(n ? n : 1);
    size_t i;

    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (unsigned char)(seed >> 16);
    }
    return p;
}

/* Lines of the emulator's log holding a (and b), non-fault ones only when
 * real is set. The emulator logs a request after its response has gone
 * out, so wait (bounded) until at least want lines are there, then pause
 * so that a retry, if any, would show up too. */
static inline int log_settle(struct ctx *c, const struct tgcs *e, const char *a, const char *b,
                             int real, int want)
{
    int i, n = 0;

    for (i = 0; i < 100; i++) {
        n = tgcs_log_count(e, a, b) - (real ? tgcs_log_count(e, a, "FAULT") : 0);
        if (n >= want)
            break;
        fake_loop_sleep(c->loop, 0.05);
    }
    fake_loop_sleep(c->loop, 0.3);
    return tgcs_log_count(e, a, b) - (real ? tgcs_log_count(e, a, "FAULT") : 0);
}

#endif
