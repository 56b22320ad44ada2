/* test_gcp_auth.c: credentials against local stand-ins for the OAuth token
 * endpoint, the metadata server and an API. The service-account key is an
 * RSA key generated here; the stand-in verifies each JWT with its public
 * half and records the claims. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <ev.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "fake_http.h"
#include "gcp/auth.h"
#include "gcp/gcp_int.h"
#include "gcp/http.h"
#include "gcp/pubsub.h"

#define EMAIL "wiggly-test@p.iam.gserviceaccount.com"

struct server {
    EVP_PKEY *pub;
    int token_reqs, md_reqs, api_reqs;
    int jwt_ok;
    json_t *claims, *header;
    char grant[128];
    int md_flavor_in;  /* the request carried Metadata-Flavor: Google */
    int md_flavor_out; /* answer with it */
    int expires_in;
    int expires_as_string;
    int reject_below; /* API: tokens tok-N with N < reject_below get 401 */
    char bearer[64];
};

static struct server srv;
static struct fake_http *fake;
static EVP_PKEY *key;
static char keyfile[256];

static int verify_jwt(const char *jwt)
{
    const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    unsigned char *h = NULL, *c = NULL, *sig = NULL;
    size_t hl, cl, sl;
    EVP_MD_CTX *ctx;
    int ok = 0;

    if (!d2)
        return 0;
    if (gcp__b64_decode(jwt, (size_t)(d1 - jwt), &h, &hl) < 0 ||
        gcp__b64_decode(d1 + 1, (size_t)(d2 - d1 - 1), &c, &cl) < 0 ||
        gcp__b64_decode(d2 + 1, strlen(d2 + 1), &sig, &sl) < 0)
        goto out;
    json_decref(srv.header);
    json_decref(srv.claims);
    srv.header = json_loadb((char *)h, hl, 0, NULL);
    srv.claims = json_loadb((char *)c, cl, 0, NULL);
    ctx = EVP_MD_CTX_new();
    ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, srv.pub) == 1 &&
         EVP_DigestVerify(ctx, sig, sl, (const unsigned char *)jwt, (size_t)(d2 - jwt)) == 1;
    EVP_MD_CTX_free(ctx);
    /* Segments are base64url without padding. */
    if (strchr(jwt, '=') || strchr(jwt, '+') || strchr(jwt, '/'))
        ok = 0;
out:
    free(h);
    free(c);
    free(sig);
    return ok;
}

static char *token_json(int n)
{
    char buf[256];

    if (srv.expires_as_string)
        snprintf(buf, sizeof buf,
                 "{\"access_token\":\"tok-%d\",\"expires_in\":\"%d\",\"token_type\":\"Bearer\"}", n,
                 srv.expires_in);
    else
        snprintf(buf, sizeof buf,
                 "{\"access_token\":\"tok-%d\",\"expires_in\":%d,\"token_type\":\"Bearer\"}", n,
                 srv.expires_in);
    return strdup(buf);
}

static void handler(void *ud, const struct fake_req *rq, struct fake_resp *rs)
{
    (void)ud;
    rs->content_type = "application/json";
    if (strcmp(rq->path, "/token") == 0 && strcmp(rq->method, "POST") == 0) {
        const char *a = strstr(rq->body, "assertion=");
        const char *ct = fake_req_header(rq, "Content-Type");

        srv.token_reqs++;
        snprintf(srv.grant, sizeof srv.grant, "%.*s", (int)strcspn(rq->body, "&"), rq->body);
        srv.jwt_ok =
            a && ct && strcmp(ct, "application/x-www-form-urlencoded") == 0 && verify_jwt(a + 10);
        if (!srv.jwt_ok) {
            rs->status = 400;
            rs->body = strdup("{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT "
                              "Signature.\"}");
            return;
        }
        rs->status = 200;
        rs->body = token_json(srv.token_reqs);
        return;
    }
    if (strncmp(rq->path, "/computeMetadata/v1/instance/service-accounts/default/token", 59) == 0) {
        const char *f = fake_req_header(rq, "Metadata-Flavor");

        srv.md_reqs++;
        srv.md_flavor_in = f && strcmp(f, "Google") == 0;
        rs->status = srv.md_flavor_in ? 200 : 403;
        rs->body = token_json(srv.md_reqs);
        if (srv.md_flavor_out) {
            rs->hdr_name[0] = "Metadata-Flavor";
            rs->hdr_value[0] = "Google";
        }
        return;
    }
    if (strncmp(rq->path, "/v1/projects/", 13) == 0) {
        const char *auth = fake_req_header(rq, "Authorization");
        int n = -1;

        srv.api_reqs++;
        snprintf(srv.bearer, sizeof srv.bearer, "%s", auth ? auth : "");
        if (auth && sscanf(auth, "Bearer tok-%d", &n) == 1 && n >= srv.reject_below) {
            rs->status = 200;
            rs->body = strdup("{}");
        } else {
            rs->status = 401;
            rs->body = strdup("{\"error\":{\"code\":401,\"message\":\"Request had invalid "
                              "authentication credentials.\",\"status\":\"UNAUTHENTICATED\"}}");
        }
        return;
    }
    rs->status = 404;
    rs->body = strdup("{}");
}

struct ctx {
    struct ev_loop *loop;
    struct gcp_http *http;
    struct gcp_auth *auth;
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof *c);
    struct gcp_error err = {0};

    fake_http_lock(fake);
    json_decref(srv.claims);
    json_decref(srv.header);
    memset(&srv.token_reqs, 0, sizeof srv - offsetof(struct server, token_reqs));
    srv.expires_in = 3599;
    srv.md_flavor_out = 1;
    fake_http_unlock(fake);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", keyfile, 1);
    unsetenv("GCE_METADATA_HOST");
    c->loop = ev_loop_new(EVFLAG_AUTO);
    c->http = gcp_http_create(c->loop, NULL);
    c->auth = gcp_auth_create(c->http, NULL, &err);
    assert_non_null(c->auth);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;

    gcp_auth_destroy(c->auth);
    gcp_http_destroy(c->http);
    ev_loop_destroy(c->loop);
    free(c);
    return 0;
}

struct tok {
    int calls, code;
    char token[64];
    char msg[1024];
};

static void on_tok(void *ud, const struct gcp_error *err, const char *token)
{
    struct tok *t = ud;

    t->calls++;
    t->code = err ? err->code : 0;
    snprintf(t->token, sizeof t->token, "%s", token ? token : "");
    snprintf(t->msg, sizeof t->msg, "%s", err ? err->msg : "");
}

static void get_token(struct ctx *c, struct tok *t)
{
    int before = t->calls;

    assert_int_equal(gcp_auth_token(c->auth, 0, on_tok, t), 0);
    assert_int_equal(fake_loop_wait(c->loop, &t->calls, before + 1, 60), 0);
}

static int locked_int(const int *p)
{
    int v;

    fake_http_lock(fake);
    v = *p;
    fake_http_unlock(fake);
    return v;
}

static void test_key_jwt_claims(void **state)
{
    struct ctx *c = *state;
    struct tok t = {0};
    time_t now = time(NULL);
    json_int_t iat, exp;

    assert_false(gcp_auth_ready(c->auth));
    get_token(c, &t);
    assert_int_equal(t.code, 0);
    assert_string_equal(t.token, "tok-1");
    assert_true(gcp_auth_ready(c->auth));
    fake_http_lock(fake);
    assert_int_equal(srv.token_reqs, 1);
    assert_true(srv.jwt_ok);
    assert_string_equal(srv.grant,
                        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");
    assert_string_equal(json_string_value(json_object_get(srv.header, "alg")), "RS256");
    assert_string_equal(json_string_value(json_object_get(srv.header, "typ")), "JWT");
    assert_string_equal(json_string_value(json_object_get(srv.header, "kid")), "key-1");
    assert_string_equal(json_string_value(json_object_get(srv.claims, "iss")), EMAIL);
    assert_string_equal(json_string_value(json_object_get(srv.claims, "scope")),
                        "https://www.googleapis.com/auth/cloud-platform");
    {
        char aud[128];

        snprintf(aud, sizeof aud, "%s/token", fake_http_url(fake));
        assert_string_equal(json_string_value(json_object_get(srv.claims, "aud")), aud);
    }
    iat = json_integer_value(json_object_get(srv.claims, "iat"));
    exp = json_integer_value(json_object_get(srv.claims, "exp"));
    assert_int_equal(exp - iat, 3600);
    assert_true(iat >= now - 5 && iat <= now + 5);
    assert_null(json_object_get(srv.claims, "sub"));
    fake_http_unlock(fake);

    /* Cached: no second exchange. */
    get_token(c, &t);
    assert_string_equal(t.token, "tok-1");
    assert_int_equal(locked_int(&srv.token_reqs), 1);
}

struct done {
    int calls, code;
    char msg[1024];
};

static void on_done(void *ud, const struct gcp_error *err)
{
    struct done *d = ud;

    d->calls++;
    d->code = err ? err->code : 0;
    snprintf(d->msg, sizeof d->msg, "%s", err ? err->msg : "");
}

static void test_single_flight_50(void **state)
{
    struct ctx *c = *state;
    struct gcp_pubsub *ps = gcp_pubsub_create(c->http, c->auth, fake_http_url(fake), NULL);
    struct done d[50];
    int i, total = 0, guard = 0;

    memset(d, 0, sizeof d);
    for (i = 0; i < 50; i++)
        assert_int_equal(gcp_pubsub_topic_get(ps, "projects/p/topics/t", on_done, &d[i]), 0);
    while (total < 50) {
        fake_loop_sleep(c->loop, 0.05);
        for (total = 0, i = 0; i < 50; i++)
            total += d[i].calls;
        assert_true(++guard < 2000);
    }
    for (i = 0; i < 50; i++) {
        assert_int_equal(d[i].calls, 1);
        assert_int_equal(d[i].code, 0);
    }
    assert_int_equal(locked_int(&srv.token_reqs), 1);
    assert_int_equal(locked_int(&srv.api_reqs), 50);
    fake_http_lock(fake);
    assert_string_equal(srv.bearer, "Bearer tok-1");
    fake_http_unlock(fake);
    gcp_pubsub_destroy(ps);
}

static void test_refresh_before_expiry(void **state)
{
    struct ctx *c = *state;
    struct tok t1 = {0}, t2 = {0}, t3 = {0};
    int i;

    fake_http_lock(fake);
    srv.expires_in = 302; /* refresh due after 1-2 s, valid for ~290 s */
    srv.expires_as_string = 1;
    fake_http_unlock(fake);
    get_token(c, &t1);
    assert_string_equal(t1.token, "tok-1");
    fake_loop_sleep(c->loop, 2.5);
    /* Still valid: answered from the cache while one refresh starts. */
    get_token(c, &t2);
    assert_string_equal(t2.token, "tok-1");
    for (i = 0; i < 600 && locked_int(&srv.token_reqs) < 2; i++)
        fake_loop_sleep(c->loop, 0.05);
    fake_loop_sleep(c->loop, 0.2);
    get_token(c, &t3);
    assert_string_equal(t3.token, "tok-2");
    assert_int_equal(locked_int(&srv.token_reqs), 2);
}

static void test_401_forces_one_refresh(void **state)
{
    struct ctx *c = *state;
    struct gcp_pubsub *ps = gcp_pubsub_create(c->http, c->auth, fake_http_url(fake), NULL);
    struct done d1 = {0}, d2 = {0};

    fake_http_lock(fake);
    srv.reject_below = 2; /* tok-1 is revoked server-side */
    fake_http_unlock(fake);
    assert_int_equal(gcp_pubsub_topic_get(ps, "projects/p/topics/t", on_done, &d1), 0);
    assert_int_equal(fake_loop_wait(c->loop, &d1.calls, 1, 60), 0);
    assert_int_equal(d1.code, 0);
    assert_int_equal(locked_int(&srv.token_reqs), 2);
    assert_int_equal(locked_int(&srv.api_reqs), 2);

    /* Every token rejected: one refresh, one retry, then GCP_EAUTH. */
    fake_http_lock(fake);
    srv.reject_below = 1000;
    fake_http_unlock(fake);
    assert_int_equal(gcp_pubsub_topic_get(ps, "projects/p/topics/t", on_done, &d2), 0);
    assert_int_equal(fake_loop_wait(c->loop, &d2.calls, 1, 60), 0);
    assert_int_equal(d2.code, GCP_EAUTH);
    assert_int_equal(locked_int(&srv.token_reqs), 3);
    assert_int_equal(locked_int(&srv.api_reqs), 4);
    assert_non_null(strstr(d2.msg, "401"));
    assert_null(strstr(d2.msg, "tok-")); /* never the token */
    gcp_pubsub_destroy(ps);
}

static void test_metadata_server(void **state)
{
    struct ctx *c = *state;
    struct gcp_error err = {0};
    struct gcp_auth *md;
    struct tok t = {0}, t2 = {0};
    char host[64];

    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    snprintf(host, sizeof host, "127.0.0.1:%d", fake_http_port(fake));
    setenv("GCE_METADATA_HOST", host, 1);
    md = gcp_auth_create(c->http, NULL, &err);
    assert_non_null(md);
    assert_int_equal(gcp_auth_token(md, 0, on_tok, &t), 0);
    assert_int_equal(fake_loop_wait(c->loop, &t.calls, 1, 60), 0);
    assert_int_equal(t.code, 0);
    assert_string_equal(t.token, "tok-1");
    assert_int_equal(locked_int(&srv.md_reqs), 1);
    assert_int_equal(locked_int(&srv.md_flavor_in), 1);
    assert_int_equal(locked_int(&srv.token_reqs), 0);

    /* Something that is not a metadata server is refused. */
    fake_http_lock(fake);
    srv.md_flavor_out = 0;
    fake_http_unlock(fake);
    assert_int_equal(gcp_auth_token(md, 1, on_tok, &t2), 0);
    assert_int_equal(fake_loop_wait(c->loop, &t2.calls, 1, 60), 0);
    assert_int_equal(t2.code, GCP_EAUTH);
    assert_non_null(strstr(t2.msg, "Metadata-Flavor"));
    gcp_auth_destroy(md);
}

static void test_bad_credentials(void **state)
{
    struct ctx *c = *state;
    struct gcp_error err = {0};
    char path[] = "/tmp/wiggly-badkey-XXXXXX";
    int fd = mkstemp(path);
    static const char au[] = "{\"type\":\"authorized_user\",\"client_id\":\"x\"}";

    assert_true(fd >= 0);
    assert_int_equal(write(fd, au, sizeof au - 1), (ssize_t)(sizeof au - 1));
    close(fd);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
    assert_null(gcp_auth_create(c->http, NULL, &err));
    assert_int_equal(err.code, GCP_EAUTH);
    assert_non_null(strstr(err.msg, "authorized_user"));
    setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json", 1);
    memset(&err, 0, sizeof err);
    assert_null(gcp_auth_create(c->http, NULL, &err));
    assert_int_equal(err.code, GCP_EAUTH);
    assert_non_null(strstr(err.msg, "/nonexistent/key.json"));
    unlink(path);
}

static int group_setup(void **state)
{
    BIO *b;
    char *pem;
    long n;
    json_t *k;
    char uri[128];
    int fd;

    (void)state;
    key = EVP_RSA_gen(2048);
    if (!key)
        return -1;
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    n = BIO_get_mem_data(b, &pem);
    {
        unsigned char *der = NULL;
        int dl = i2d_PUBKEY(key, &der);
        const unsigned char *p = der;

        srv.pub = d2i_PUBKEY(NULL, &p, dl);
        OPENSSL_free(der);
    }
    fake = fake_http_start(handler, NULL);
    if (!fake)
        return -1;
    snprintf(uri, sizeof uri, "%s/token", fake_http_url(fake));
    k = json_pack("{s:s, s:s, s:s, s:s#, s:s, s:s}", "type", "service_account", "project_id", "p",
                  "private_key_id", "key-1", "private_key", pem, (int)n, "client_email", EMAIL,
                  "token_uri", uri);
    BIO_free(b);
    snprintf(keyfile, sizeof keyfile, "/tmp/wiggly-key-XXXXXX");
    fd = mkstemp(keyfile);
    if (fd < 0)
        return -1;
    close(fd);
    json_dump_file(k, keyfile, 0);
    json_decref(k);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fake_http_stop(fake);
    unlink(keyfile);
    EVP_PKEY_free(key);
    EVP_PKEY_free(srv.pub);
    json_decref(srv.claims);
    json_decref(srv.header);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_jwt_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_flight_50, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_before_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_401_forces_one_refresh, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metadata_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_credentials, setup, teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_object_seed(0);
    unsetenv("PUBSUB_EMULATOR_HOST");
    rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
