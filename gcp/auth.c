/* auth.c: OAuth2 access tokens by Application Default Credentials.
 *
 * Order (docs/gcp.md "Authentication order"): a service-account key named by
 * GOOGLE_APPLICATION_CREDENTIALS (an RS256 JWT signed with OpenSSL,
 * exchanged at the key's token_uri), else the metadata server
 * (GCE_METADATA_HOST, legacy GCE_METADATA_ROOT, else
 * metadata.google.internal). Emulator endpoints never come here.
 *
 * One token is cached. It is refreshed in the background 5 min (minus up to
 * 30 s of jitter) before expiry, and synchronously once it is about to
 * expire; only one refresh is ever in flight and every caller waiting for a
 * token joins it. The token is never logged or put into an error message.
 * Loop thread only. */
#include "gcp/auth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "gcp/gcp_int.h"

#define DEFAULT_SCOPE   "https://www.googleapis.com/auth/cloud-platform"
#define REFRESH_EARLY_S 300.0
#define EXPIRY_MARGIN_S 10.0

struct waiter {
    gcp_auth_cb cb;
    void *ud;
};

struct gcp_auth {
    struct gcp_http *http;
    char *scope;
    int use_key;
    /* service-account key */
    char *client_email, *key_id, *token_uri;
    EVP_PKEY *pkey;
    /* metadata server */
    char *md_host;
    /* state */
    char *token;
    double expiry, refresh_at; /* ev_now() seconds */
    int ready;
    struct gcp__req *inflight;
    char *form; /* body of the in-flight token exchange */
    struct waiter *waiters;
    size_t n_waiters, cap_waiters;
    unsigned seed;
};

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int load_key(struct gcp_auth *a, const char *path, struct gcp_error *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    const char *type, *pem;
    BIO *bio;

    if (!root) {
        gcp__seterr(err, GCP_EAUTH, 0, "GOOGLE_APPLICATION_CREDENTIALS %s: %s", path, je.text);
        return -1;
    }
    type = json_string_value(json_object_get(root, "type"));
    if (!type || strcmp(type, "service_account") != 0) {
        gcp__seterr(err, GCP_EAUTH, 0,
                    "GOOGLE_APPLICATION_CREDENTIALS %s: type is \"%s\", only service_account "
                    "keys are supported",
                    path, type ? type : "(missing)");
        json_decref(root);
        return -1;
    }
    a->client_email = dupstr(json_string_value(json_object_get(root, "client_email")));
    a->key_id = dupstr(json_string_value(json_object_get(root, "private_key_id")));
    a->token_uri = dupstr(json_string_value(json_object_get(root, "token_uri")));
    if (!a->token_uri)
        a->token_uri = strdup("https://oauth2.googleapis.com/token");
    pem = json_string_value(json_object_get(root, "private_key"));
    if (!a->client_email || !pem || !a->token_uri) {
        gcp__seterr(err, GCP_EAUTH, 0, "GOOGLE_APPLICATION_CREDENTIALS %s: %s missing", path,
                    !a->client_email ? "client_email" : "private_key");
        json_decref(root);
        return -1;
    }
    bio = BIO_new_mem_buf(pem, -1);
    a->pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    json_decref(root);
    if (!a->pkey) {
        gcp__seterr(err, GCP_EAUTH, 0,
                    "GOOGLE_APPLICATION_CREDENTIALS %s: private_key is not a PEM private key",
                    path);
        return -1;
    }
    return 0;
}

struct gcp_auth *gcp_auth_create(struct gcp_http *http, const char *scope, struct gcp_error *err)
{
    struct gcp_auth *a;
    const char *keyfile = getenv("GOOGLE_APPLICATION_CREDENTIALS");

    if (!http) {
        gcp__seterr(err, GCP_EINVAL, 0, "gcp_auth_create: http is NULL");
        return NULL;
    }
    a = calloc(1, sizeof *a);
    if (!a) {
        gcp__seterr(err, GCP_ENOMEM, 0, "gcp_auth_create: out of memory");
        return NULL;
    }
    a->http = http;
    a->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)a;
    a->scope = strdup(scope ? scope : DEFAULT_SCOPE);
    if (!a->scope)
        goto nomem;
    if (keyfile && keyfile[0]) {
        a->use_key = 1;
        if (load_key(a, keyfile, err) < 0) {
            gcp_auth_destroy(a);
            return NULL;
        }
    } else {
        const char *h = getenv("GCE_METADATA_HOST");

        if (!h || !h[0])
            h = getenv("GCE_METADATA_ROOT");
        if (!h || !h[0])
            h = "metadata.google.internal";
        a->md_host = strdup(h);
        if (!a->md_host)
            goto nomem;
    }
    return a;
nomem:
    gcp__seterr(err, GCP_ENOMEM, 0, "gcp_auth_create: out of memory");
    gcp_auth_destroy(a);
    return NULL;
}

static void fire_waiters(struct gcp_auth *a, const struct gcp_error *err)
{
    struct waiter *w = a->waiters;
    size_t i, n = a->n_waiters;

    /* Detach first: a callback may ask for a token again. */
    a->waiters = NULL;
    a->n_waiters = a->cap_waiters = 0;
    for (i = 0; i < n; i++)
        w[i].cb(w[i].ud, err, err ? NULL : a->token);
    free(w);
}

void gcp_auth_destroy(struct gcp_auth *a)
{
    if (!a)
        return;
    if (a->inflight)
        gcp__req_cancel(a->inflight); /* fires the waiters with GCP_ECANCELED */
    if (a->n_waiters) {
        struct gcp_error e;

        gcp__seterr(&e, GCP_ECANCELED, 0, "auth: destroyed");
        fire_waiters(a, &e);
    }
    free(a->waiters);
    free(a->scope);
    free(a->client_email);
    free(a->key_id);
    free(a->token_uri);
    EVP_PKEY_free(a->pkey);
    free(a->md_host);
    if (a->token) {
        memset(a->token, 0, strlen(a->token));
        free(a->token);
    }
    free(a->form);
    free(a);
}

int gcp_auth_ready(const struct gcp_auth *a)
{
    return a && a->ready;
}

static double now_s(struct gcp_auth *a)
{
    struct ev_loop *loop = gcp__http_loop(a->http);

    ev_now_update(loop);
    return ev_now(loop);
}

/* expires_in as a JSON number or a string that is a number entirely; -1
 * when it is neither, or not a finite number. */
static double parse_expires_in(json_t *v)
{
    double x;

    if (json_is_number(v)) {
        x = json_number_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;

        x = strtod(s, &end);
        if (end == s || *end)
            return -1;
    } else {
        return -1;
    }
    return isfinite(x) ? x : -1;
}

/* RFC 6749 §7.1: a client must not use a token whose type it does not
 * understand; the engine sends "Authorization: Bearer". */
static int is_bearer(const char *t)
{
    static const char want[] = "bearer";
    size_t i;

    for (i = 0; i < sizeof want; i++) {
        char c = t[i] >= 'A' && t[i] <= 'Z' ? (char)(t[i] - 'A' + 'a') : t[i];

        if (c != want[i])
            return 0;
    }
    return 1;
}

int gcp__auth_parse_token(const char *body, size_t len, struct gcp__token *out,
                          struct gcp_error *err)
{
    json_t *root, *jtype;
    const char *tok, *p;
    double exp_in;

    memset(out, 0, sizeof *out);
    root = body ? json_loadb(body, len, 0, NULL) : NULL;
    tok = json_string_value(json_object_get(root, "access_token"));
    exp_in = parse_expires_in(json_object_get(root, "expires_in"));
    jtype = json_object_get(root, "token_type");
    if (!tok || !tok[0] || exp_in <= 0) {
        gcp__seterr(err, GCP_EPROTO, 0, "response has no access_token/expires_in");
        goto bad;
    }
    /* The token goes verbatim into a header line: visible ASCII only (a CR
     * or LF would end the header), and short enough for the engine's line. */
    for (p = tok; *p; p++)
        if (*p < 0x21 || *p > 0x7e) {
            gcp__seterr(err, GCP_EPROTO, 0, "access_token has a byte that is not visible ASCII");
            goto bad;
        }
    if ((size_t)(p - tok) > GCP__TOKEN_MAX) {
        gcp__seterr(err, GCP_EPROTO, 0, "access_token is longer than %d bytes", GCP__TOKEN_MAX);
        goto bad;
    }
    if (jtype && !json_is_null(jtype) &&
        (!json_is_string(jtype) || !is_bearer(json_string_value(jtype)))) {
        gcp__seterr(err, GCP_EPROTO, 0, "token_type is not Bearer");
        goto bad;
    }
    /* Google's tokens live an hour (12 h at most); a longer claim would only
     * pin a token the server may have forgotten. */
    if (exp_in > GCP__TOKEN_MAX_LIFE_S)
        exp_in = GCP__TOKEN_MAX_LIFE_S;
    out->access_token = strdup(tok);
    json_decref(root);
    if (!out->access_token) {
        gcp__seterr(err, GCP_ENOMEM, 0, "out of memory");
        return GCP_ENOMEM;
    }
    out->expires_in = exp_in;
    return 0;
bad:
    json_decref(root);
    return GCP_EPROTO;
}

void gcp__auth_token_cleanup(struct gcp__token *t)
{
    if (!t)
        return;
    if (t->access_token) {
        memset(t->access_token, 0, strlen(t->access_token));
        free(t->access_token);
    }
    memset(t, 0, sizeof *t);
}

static void on_token_resp(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct gcp_auth *a = ud;
    struct gcp_error e, pe;
    struct gcp__token t;
    double exp_in;

    a->inflight = NULL;
    free(a->form);
    a->form = NULL;
    if (err) {
        e = *err;
        goto fail;
    }
    if (!a->use_key) {
        char flavor[32];

        if (gcp__resp_header(resp, "Metadata-Flavor", flavor, sizeof flavor) < 0 ||
            strcmp(flavor, "Google") != 0) {
            gcp__seterr(&e, GCP_EAUTH, (int)resp->status,
                        "metadata server %s: response lacks Metadata-Flavor: Google", a->md_host);
            goto fail;
        }
    }
    if (gcp__auth_parse_token(resp->body, resp->body_len, &t, &pe) < 0) {
        gcp__seterr(&e, pe.code, pe.code == GCP_ENOMEM ? 0 : (int)resp->status,
                    "token endpoint: %s", pe.msg);
        goto fail;
    }
    if (a->token) {
        memset(a->token, 0, strlen(a->token));
        free(a->token);
    }
    a->token = t.access_token; /* steals it */
    exp_in = t.expires_in;
    {
        double now = now_s(a);
        double span = exp_in > REFRESH_EARLY_S ? (exp_in - REFRESH_EARLY_S) / 2 : 0;
        double jitter = (span < 30.0 ? span : 30.0) * (double)(rand_r(&a->seed) % 1000) / 1000.0;

        a->expiry = now + exp_in;
        /* Refresh 5 min early, spread by up to 30 s across pods; a token
         * that lives less than 5 min is refreshed at half its life. */
        a->refresh_at =
            exp_in > REFRESH_EARLY_S ? a->expiry - REFRESH_EARLY_S - jitter : now + exp_in / 2;
    }
    a->ready = 1;
    fire_waiters(a, NULL);
    return;
fail:
    if (a->n_waiters)
        fire_waiters(a, &e);
}

static char *make_jwt(struct gcp_auth *a, struct gcp_error *err)
{
    json_t *hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
    json_t *cl;
    char *hs = NULL, *cs = NULL, *h64 = NULL, *c64 = NULL, *s64 = NULL, *out = NULL;
    struct gcp__buf in = {0};
    unsigned char sig[1024];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *ctx = NULL;
    time_t now = time(NULL);

    if (hdr && a->key_id)
        json_object_set_new(hdr, "kid", json_string(a->key_id));
    cl = json_pack("{s:s, s:s, s:s, s:I, s:I}", "iss", a->client_email, "scope", a->scope, "aud",
                   a->token_uri, "iat", (json_int_t)now, "exp", (json_int_t)now + 3600);
    if (!hdr || !cl)
        goto out;
    hs = json_dumps(hdr, JSON_COMPACT);
    cs = json_dumps(cl, JSON_COMPACT);
    if (!hs || !cs)
        goto out;
    h64 = gcp__b64_encode(hs, strlen(hs), 1);
    c64 = gcp__b64_encode(cs, strlen(cs), 1);
    if (!h64 || !c64 || gcp__buf_printf(&in, "%s.%s", h64, c64) < 0)
        goto out;
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, a->pkey) != 1 ||
        EVP_DigestSignUpdate(ctx, in.p, in.len) != 1 ||
        EVP_DigestSignFinal(ctx, NULL, &siglen) != 1 || siglen > sizeof sig ||
        EVP_DigestSignFinal(ctx, sig, &siglen) != 1) {
        gcp__seterr(err, GCP_EAUTH, 0, "auth: signing the JWT failed (is the key RSA?)");
        goto out;
    }
    s64 = gcp__b64_encode(sig, siglen, 1);
    if (s64 && gcp__buf_printf(&in, ".%s", s64) == 0) {
        out = in.p;
        in.p = NULL;
    }
out:
    if (!out && err && err->code == 0)
        gcp__seterr(err, GCP_ENOMEM, 0, "auth: out of memory building the JWT");
    EVP_MD_CTX_free(ctx);
    json_decref(hdr);
    json_decref(cl);
    free(hs);
    free(cs);
    free(h64);
    free(c64);
    free(s64);
    gcp__buf_free(&in);
    return out;
}

static int start_refresh(struct gcp_auth *a, struct gcp_error *err)
{
    struct gcp__req_spec s;
    struct gcp__buf url = {0};
    const char *const md_hdr[] = {"Metadata-Flavor: Google", NULL};

    memset(&s, 0, sizeof s);
    s.retry = GCP__RETRY_IDEMPOTENT;
    s.max_body = 64 * 1024;
    if (a->use_key) {
        char *jwt;

        if (err)
            err->code = 0;
        jwt = make_jwt(a, err);
        if (!jwt)
            return -1;
        free(a->form);
        a->form = NULL;
        {
            struct gcp__buf f = {0};

            if (gcp__buf_printf(&f,
                                "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Ajwt-"
                                "bearer&assertion=%s",
                                jwt) < 0) {
                free(jwt);
                gcp__buf_free(&f);
                gcp__seterr(err, GCP_ENOMEM, 0, "auth: out of memory");
                return -1;
            }
            a->form = f.p;
            memset(jwt, 0, strlen(jwt));
            free(jwt);
            s.body = a->form;
            s.body_len = f.len;
        }
        s.method = "POST";
        s.url = a->token_uri;
        s.what = a->token_uri;
        s.has_body = 1;
        s.content_type = "application/x-www-form-urlencoded";
    } else {
        const char *scheme = strstr(a->md_host, "://") ? "" : "http://";
        char *sc = gcp__escape(a->scope);

        if (!sc || gcp__buf_printf(&url,
                                   "%s%s/computeMetadata/v1/instance/service-accounts/default/"
                                   "token?scopes=%s",
                                   scheme, a->md_host, sc) < 0) {
            free(sc);
            gcp__buf_free(&url);
            gcp__seterr(err, GCP_ENOMEM, 0, "auth: out of memory");
            return -1;
        }
        free(sc);
        s.method = "GET";
        s.url = url.p;
        s.what = "metadata token";
        s.headers = md_hdr;
        s.timeout_ms = 10000;
    }
    a->inflight = gcp__http_request(a->http, &s, on_token_resp, a, err);
    gcp__buf_free(&url);
    if (!a->inflight) {
        free(a->form);
        a->form = NULL;
        return -1;
    }
    return 0;
}

int gcp_auth_token(struct gcp_auth *a, int force, gcp_auth_cb cb, void *ud)
{
    struct gcp_error e;

    if (!a || !cb)
        return GCP_EINVAL;
    if (!force && a->token) {
        double now = now_s(a);

        if (now < a->expiry - EXPIRY_MARGIN_S) {
            if (now >= a->refresh_at && !a->inflight)
                start_refresh(a, NULL); /* background; the cached token is still good */
            cb(ud, NULL, a->token);
            return 0;
        }
    }
    if (a->n_waiters == a->cap_waiters) {
        size_t n = a->cap_waiters ? a->cap_waiters * 2 : 8;
        struct waiter *w = realloc(a->waiters, n * sizeof *w);

        if (!w)
            return GCP_ENOMEM;
        a->waiters = w;
        a->cap_waiters = n;
    }
    a->waiters[a->n_waiters].cb = cb;
    a->waiters[a->n_waiters].ud = ud;
    a->n_waiters++;
    if (!a->inflight) {
        if (force && a->token) {
            memset(a->token, 0, strlen(a->token));
            free(a->token);
            a->token = NULL;
        }
        if (start_refresh(a, &e) < 0) {
            a->n_waiters--;
            return e.code ? e.code : GCP_EAUTH;
        }
    }
    return 0;
}
