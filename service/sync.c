/* sync.c: blocking wrappers for CLI verbs. svc_sync_sub_topic does its own
 * GET with libcurl because gcp_pubsub_subscription_get reports only
 * success or failure, not the subscription's fields. */
#include "service/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <ev.h>
#include <jansson.h>

#include "gcp/auth.h"

int svc_sync_init(struct svc_sync *s, int want_pubsub, int want_gcs, struct svc_error *err)
{
    memset(s, 0, sizeof(*s));
    s->loop = ev_loop_new(EVFLAG_AUTO);
    if (!s->loop)
        return svc_error_set(err, SVC_ENOMEM, "cannot create an event loop");
    if (svc_cloud_init(&s->cloud, s->loop, want_pubsub, want_gcs, err) != 0) {
        ev_loop_destroy(s->loop);
        s->loop = NULL;
        return err ? err->code : SVC_EREMOTE;
    }
    return 0;
}

void svc_sync_cleanup(struct svc_sync *s)
{
    svc_cloud_cleanup(&s->cloud);
    if (s->loop)
        ev_loop_destroy(s->loop);
    s->loop = NULL;
}

int svc_sync_wait(struct svc_sync *s, int *flag, double limit_s)
{
    double end = ev_time() + limit_s;
    while (!*flag && ev_time() < end)
        ev_run(s->loop, EVRUN_ONCE);
    return *flag ? 0 : SVC_ETIMEOUT;
}

struct tok {
    int done;
    char token[4096];
    struct gcp_error err;
};

static void on_token(void *ud, const struct gcp_error *err, const char *token)
{
    struct tok *t = ud;
    if (err)
        t->err = *err;
    else
        snprintf(t->token, sizeof(t->token), "%s", token);
    t->done = 1;
}

struct body {
    char *p;
    size_t n;
};

static size_t on_body(char *d, size_t sz, size_t n, void *ud)
{
    struct body *b = ud;
    size_t k = sz * n;
    char *np;
    if (b->n + k > (1u << 20))
        return 0; /* a subscription is small; cap the body */
    np = realloc(b->p, b->n + k + 1);
    if (!np)
        return 0;
    b->p = np;
    memcpy(b->p + b->n, d, k);
    b->n += k;
    b->p[b->n] = 0;
    return k;
}

int svc_sync_sub_topic(struct svc_sync *s, const char *subscription, char *topic, size_t len,
                       struct svc_error *err)
{
    const char *emu = getenv("PUBSUB_EMULATOR_HOST");
    char url[1024], auth[4200];
    struct curl_slist *hdr = NULL;
    struct body b = {0};
    CURL *c;
    CURLcode cc;
    long status = 0;
    json_t *j;
    const char *t;
    int rc = 0;

    if (emu && emu[0])
        snprintf(url, sizeof(url), "http://%s/v1/%s", emu, subscription);
    else
        snprintf(url, sizeof(url), "https://pubsub.googleapis.com/v1/%s", subscription);
    if (s->cloud.auth) {
        struct tok tk = {0};
        if (gcp_auth_token(s->cloud.auth, 0, on_token, &tk) != 0 ||
            svc_sync_wait(s, &tk.done, 60) != 0 || tk.err.code)
            return svc_error_set(err, SVC_EREMOTE, "no access token: %s", tk.err.msg);
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tk.token);
        hdr = curl_slist_append(hdr, auth);
    }
    c = curl_easy_init();
    if (!c) {
        curl_slist_free_all(hdr);
        return svc_error_set(err, SVC_ENOMEM, "out of memory");
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdr);
    if (cc != CURLE_OK) {
        free(b.p);
        return svc_error_set(err, SVC_ETRANSIENT, "GET %s: %s", subscription,
                             curl_easy_strerror(cc));
    }
    if (status != 200) {
        free(b.p);
        return svc_error_set(err, status == 404 ? SVC_ENOTFOUND : SVC_EREMOTE, "GET %s: HTTP %ld",
                             subscription, status);
    }
    j = b.p ? json_loads(b.p, 0, NULL) : NULL;
    t = json_string_value(json_object_get(j, "topic"));
    if (!t)
        rc = svc_error_set(err, SVC_EREMOTE, "GET %s: no topic in the answer", subscription);
    else
        snprintf(topic, len, "%s", t);
    json_decref(j);
    free(b.p);
    return rc;
}
