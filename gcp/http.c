/* http.c: the async HTTP engine. One curl multi handle driven by the
 * caller's libev loop (curl multi_socket API): one ev_io per socket, one
 * ev_timer for curl's single timeout, and a per-request ev_timer for retry
 * backoff. curl is called only from watcher callbacks and API calls, never
 * from inside curl's socket or timer callbacks (docs/gcp.md "curl on
 * libev").
 *
 * A request goes WAIT_AUTH -> RUNNING -> (BACKOFF -> WAIT_AUTH ...) -> done.
 * It is unlinked before its callback fires, so the callback may start new
 * requests, and its easy handle is cleaned up after the callback returns.
 * Loop thread only; no locks. */
#include "gcp/http.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>
#include <jansson.h>

#include "gcp/auth.h"
#include "gcp/gcp_int.h"

enum req_state { ST_WAIT_AUTH, ST_RUNNING, ST_BACKOFF, ST_DONE };

/* Connections curl may open at once, per host and in all. Beyond them a
 * request waits in curl's queue (its timeout runs meanwhile) instead of
 * opening a socket the server, a proxy or the fd limit would refuse: a
 * large max_in_flight then queues instead of failing (docs/gcp.md). The
 * connection cache holds as many, so a queued request takes over the
 * connection of one that finished instead of curl closing it (a cache
 * smaller than the connections in use closes one on every return). */
#define MAX_HOST_CONNECTIONS  256L
#define MAX_TOTAL_CONNECTIONS 512L

struct sockctx {
    ev_io io;
    curl_socket_t fd;
    struct gcp_http *h;
};

struct gcp__req {
    struct gcp_http *h;
    struct gcp__req *prev, *next;
    struct gcp__group *group;
    struct gcp__req *gprev, *gnext;
    unsigned gen;
    int tag;
    enum req_state state;
    char *method, *url, *what, *content_type;
    char **headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    int has_body;
    long timeout_ms;
    size_t max_body;
    enum gcp__retry retry;
    int accept_308;
    struct gcp_auth *auth;
    gcp__sink_fn sink;
    gcp__sink_reset_fn sink_reset;
    void *sink_ud;
    gcp__req_cb cb;
    void *ud;

    CURL *easy;
    struct curl_slist *slist;
    char errbuf[CURL_ERROR_SIZE];
    struct gcp__buf rbody, rhdrs;
    int attempt;       /* retries done */
    int refreshed_401; /* the one forced refresh was used */
    int force_token;
    int auth_pending; /* gcp_auth_token callback outstanding */
    int sink_err, toobig;
    int in_submit, submit_failed;
    struct gcp_error submit_err;
    ev_timer backoff;
};

struct gcp_http {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer;
    int running;
    struct gcp_http_opts opts;
    struct gcp__req *head;
    size_t pending;
    int closing;
    struct sockctx **socks; /* indexed by fd; avoids curl_multi_assign */
    size_t n_socks;
    uint64_t rng;
};

/* ---- small helpers shared by the module ---- */

void gcp__seterr(struct gcp_error *err, int code, int http_status, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    err->code = code;
    err->http_status = http_status;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

int gcp__buf_add(struct gcp__buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (cap < b->len + len + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p)
            return -1;
        b->p = p;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

int gcp__buf_printf(struct gcp__buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *big;
    int rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    big = malloc((size_t)n + 1);
    if (!big)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rc = gcp__buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

void gcp__buf_free(struct gcp__buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *gcp__escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s), i, o = 0;
    char *out = malloc(n * 3 + 1);

    if (!out)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- response headers ---- */

static void headers_each(const char *block, const char *name,
                         int (*fn)(void *ud, const char *v, size_t n), void *ud)
{
    size_t nl = strlen(name);
    const char *p = block;

    while (p && *p) {
        const char *eol = strchr(p, '\n');
        size_t linelen = eol ? (size_t)(eol - p) : strlen(p);

        if (linelen > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            const char *end = p + linelen;

            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            if (fn(ud, v, (size_t)(end - v)))
                return;
        }
        p = eol ? eol + 1 : NULL;
    }
}

struct hdr_copy {
    char *out;
    size_t outsz;
    int found;
};

static int hdr_copy_fn(void *ud, const char *v, size_t n)
{
    struct hdr_copy *c = ud;

    if (n >= c->outsz)
        n = c->outsz - 1;
    memcpy(c->out, v, n);
    c->out[n] = '\0';
    c->found = 1;
    return 1;
}

int gcp__resp_header(const struct gcp__resp *r, const char *name, char *out, size_t outsz)
{
    struct hdr_copy c = {out, outsz, 0};

    if (!r->headers || outsz == 0)
        return -1;
    headers_each(r->headers, name, hdr_copy_fn, &c);
    return c.found ? 0 : -1;
}

struct hdr_visit {
    void (*fn)(void *ud, const char *value);
    void *ud;
};

static int hdr_visit_fn(void *ud, const char *v, size_t n)
{
    struct hdr_visit *hv = ud;
    char tmp[512];

    if (n >= sizeof tmp)
        n = sizeof tmp - 1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    hv->fn(hv->ud, tmp);
    return 0;
}

void gcp__resp_headers_each(const struct gcp__resp *r, const char *name,
                            void (*fn)(void *ud, const char *value), void *ud)
{
    struct hdr_visit hv = {fn, ud};

    if (r->headers)
        headers_each(r->headers, name, hdr_visit_fn, &hv);
}

/* ---- engine ---- */

static uint64_t rng_next(struct gcp_http *h)
{
    /* xorshift64*: jitter only, not security. */
    h->rng ^= h->rng >> 12;
    h->rng ^= h->rng << 25;
    h->rng ^= h->rng >> 27;
    return h->rng * 2685821657736338717ULL;
}

double gcp__http_backoff(const struct gcp_http *hc, int n)
{
    struct gcp_http *h = (struct gcp_http *)hc;
    double cap = h->opts.backoff_initial_s;
    int i;

    for (i = 0; i < n && cap < h->opts.backoff_max_s; i++)
        cap *= 2.0;
    if (cap > h->opts.backoff_max_s)
        cap = h->opts.backoff_max_s;
    /* Full jitter: uniform in [0, cap). */
    return cap * ((double)(rng_next(h) >> 11) / 9007199254740992.0);
}

const struct gcp_http_opts *gcp__http_opts(const struct gcp_http *h)
{
    return &h->opts;
}

struct ev_loop *gcp__http_loop(const struct gcp_http *h)
{
    return h->loop;
}

static void check_done(struct gcp_http *h);

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sockctx *c = (struct sockctx *)w;
    struct gcp_http *h = c->h;
    int action = 0;

    (void)loop;
    if (revents & EV_READ)
        action |= CURL_CSELECT_IN;
    if (revents & EV_WRITE)
        action |= CURL_CSELECT_OUT;
    curl_multi_socket_action(h->multi, c->fd, action, &h->running);
    check_done(h);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gcp_http *h = w->data;

    (void)loop;
    (void)revents;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &h->running);
    check_done(h);
}

/* CURLMOPT_SOCKETFUNCTION: map curl's interest onto one ev_io per socket.
 * No curl calls in here. */
static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct gcp_http *h = userp;
    struct sockctx *c;

    (void)e;
    (void)socketp;
    if (s < 0)
        return 0;
    c = (size_t)s < h->n_socks ? h->socks[s] : NULL;
    if (what == CURL_POLL_REMOVE) {
        if (c) {
            ev_io_stop(h->loop, &c->io);
            free(c);
            h->socks[s] = NULL;
        }
        return 0;
    }
    if (!c) {
        if ((size_t)s >= h->n_socks) {
            size_t n = h->n_socks ? h->n_socks : 64;
            struct sockctx **ns;

            while (n <= (size_t)s)
                n *= 2;
            ns = realloc(h->socks, n * sizeof *ns);
            if (!ns)
                return -1;
            memset(ns + h->n_socks, 0, (n - h->n_socks) * sizeof *ns);
            h->socks = ns;
            h->n_socks = n;
        }
        c = calloc(1, sizeof *c);
        if (!c)
            return -1;
        c->fd = s;
        c->h = h;
        ev_init(&c->io, on_io);
        h->socks[s] = c;
    }
    ev_io_stop(h->loop, &c->io);
    ev_io_set(&c->io, s,
              (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0));
    ev_io_start(h->loop, &c->io);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: re-arm the single timer; -1 deletes it. Seconds
 * as a double: timeout_ms / 1000.0, never integer division. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct gcp_http *h = userp;

    (void)multi;
    ev_timer_stop(h->loop, &h->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&h->timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(h->loop, &h->timer);
    }
    return 0;
}

struct gcp_http *gcp_http_create(struct ev_loop *loop, const struct gcp_http_opts *opts)
{
    struct gcp_http *h;

    if (!loop)
        return NULL;
    h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->loop = loop;
    if (opts)
        h->opts = *opts;
    if (h->opts.connect_timeout_ms <= 0)
        h->opts.connect_timeout_ms = 10000;
    if (h->opts.timeout_ms <= 0)
        h->opts.timeout_ms = 60000;
    if (h->opts.max_body == 0)
        h->opts.max_body = 16u << 20;
    if (h->opts.max_retries <= 0)
        h->opts.max_retries = 6;
    if (h->opts.backoff_initial_s <= 0)
        h->opts.backoff_initial_s = 0.5;
    if (h->opts.backoff_max_s <= 0)
        h->opts.backoff_max_s = 32;
    h->rng = ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)h;
    if (h->rng == 0)
        h->rng = 88172645463325252ULL;
    h->multi = curl_multi_init();
    if (!h->multi) {
        free(h);
        return NULL;
    }
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, MAX_TOTAL_CONNECTIONS);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, MAX_HOST_CONNECTIONS);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, MAX_TOTAL_CONNECTIONS);
    ev_init(&h->timer, on_timer);
    h->timer.data = h;
    return h;
}

int gcp_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : GCP_ENOMEM;
}

void gcp_http_global_cleanup(void)
{
    curl_global_cleanup();
}

size_t gcp_http_pending(const struct gcp_http *h)
{
    return h ? h->pending : 0;
}

static void req_free(struct gcp__req *r)
{
    size_t i;

    free(r->method);
    free(r->url);
    free(r->what);
    free(r->content_type);
    for (i = 0; i < r->n_headers; i++)
        free(r->headers[i]);
    free(r->headers);
    gcp__buf_free(&r->rbody);
    gcp__buf_free(&r->rhdrs);
    free(r);
}

static void unlink_req(struct gcp__req *r)
{
    struct gcp_http *h = r->h;

    if (r->prev)
        r->prev->next = r->next;
    else
        h->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    h->pending--;
    if (r->group) {
        if (r->gprev)
            r->gprev->gnext = r->gnext;
        else
            r->group->head = r->gnext;
        if (r->gnext)
            r->gnext->gprev = r->gprev;
        r->gprev = r->gnext = NULL;
        r->group = NULL;
    }
}

static void drop_easy(struct gcp__req *r)
{
    if (r->easy) {
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    if (r->slist) {
        curl_slist_free_all(r->slist);
        r->slist = NULL;
    }
}

/* Unlink, call back once, then release the easy handle and the request. */
static void complete(struct gcp__req *r, const struct gcp_error *err, long status, int curl_code)
{
    struct gcp__resp resp;

    unlink_req(r);
    r->state = ST_DONE;
    memset(&resp, 0, sizeof resp);
    resp.status = status;
    resp.body = r->rbody.p;
    resp.body_len = r->rbody.len;
    resp.headers = r->rhdrs.p;
    resp.curl_code = curl_code;
    r->cb(r->ud, err, &resp);
    drop_easy(r);
    if (!r->auth_pending)
        req_free(r);
}

static const char *what_of(const struct gcp__req *r)
{
    return r->what;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct gcp__req *r = userdata;
    size_t n = size * nmemb;
    long status = 0;

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (r->sink && status >= 200 && status < 300) {
        int rc = r->sink(r->sink_ud, ptr, n);

        if (rc < 0) {
            r->sink_err = rc;
            return 0;
        }
        return n;
    }
    if (r->rbody.len + n > r->max_body) {
        r->toobig = 1;
        return 0;
    }
    if (gcp__buf_add(&r->rbody, ptr, n) < 0) {
        r->sink_err = GCP_ENOMEM;
        return 0;
    }
    return n;
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct gcp__req *r = userdata;
    size_t n = size * nitems;

    /* A new status line (after 100 Continue or a redirect) starts over. */
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0)
        r->rhdrs.len = 0;
    if (r->rhdrs.len + n > 256 * 1024)
        return 0;
    if (gcp__buf_add(&r->rhdrs, buf, n) < 0)
        return 0;
    return n;
}

static void start_attempt(struct gcp__req *r);

static void fail_now(struct gcp__req *r, int code, const char *why)
{
    struct gcp_error e;

    gcp__seterr(&e, code, 0, "%s %s: %s", r->method, what_of(r), why);
    if (r->in_submit) {
        /* Still inside gcp__http_request: report by its return value. */
        r->submit_err = e;
        r->submit_failed = 1;
        return;
    }
    complete(r, &e, 0, 0);
}

static void launch(struct gcp__req *r, const char *token)
{
    struct gcp_http *h = r->h;
    CURL *e;
    struct curl_slist *sl = NULL;
    char line[4096];
    size_t i;

    r->rbody.len = 0;
    if (r->rbody.p)
        r->rbody.p[0] = '\0';
    r->rhdrs.len = 0;
    if (r->rhdrs.p)
        r->rhdrs.p[0] = '\0';
    r->sink_err = 0;
    r->toobig = 0;
    r->errbuf[0] = '\0';
    if (r->sink_reset)
        r->sink_reset(r->sink_ud);

    e = curl_easy_init();
    if (!e) {
        fail_now(r, GCP_ENOMEM, "curl_easy_init failed");
        return;
    }
    if (token) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", token);
        sl = curl_slist_append(sl, line);
    }
    if (r->has_body) {
        snprintf(line, sizeof line, "Content-Type: %s",
                 r->content_type ? r->content_type : "application/json");
        sl = curl_slist_append(sl, line);
    }
    sl = curl_slist_append(sl, "Expect:");
    for (i = 0; i < r->n_headers; i++)
        sl = curl_slist_append(sl, r->headers[i]);
    if (!sl) {
        curl_easy_cleanup(e);
        fail_now(r, GCP_ENOMEM, "out of memory");
        return;
    }
    r->easy = e;
    r->slist = sl;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, h->opts.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    if (r->sink) /* a download: fewer, larger reads (curl's default is 16 KiB) */
        curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, sl);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "wiggly-gcp/0.1");
    if (r->has_body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        if (strcmp(r->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    r->state = ST_RUNNING;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        r->state = ST_WAIT_AUTH;
        fail_now(r, GCP_ENOMEM, "curl_multi_add_handle failed");
    }
}

static void on_token(void *ud, const struct gcp_error *err, const char *token)
{
    struct gcp__req *r = ud;

    r->auth_pending = 0;
    if (r->state == ST_DONE) {
        req_free(r); /* canceled while waiting; its callback already fired */
        return;
    }
    if (err) {
        struct gcp_error e;

        gcp__seterr(&e, err->code == GCP_ECANCELED ? GCP_ECANCELED : GCP_EAUTH, err->http_status,
                    "%s %s: no access token: %s", r->method, what_of(r), err->msg);
        complete(r, &e, 0, 0);
        return;
    }
    launch(r, token);
}

static void start_attempt(struct gcp__req *r)
{
    int force = r->force_token;

    r->force_token = 0;
    r->state = ST_WAIT_AUTH;
    if (!r->auth) {
        launch(r, NULL);
        return;
    }
    r->auth_pending = 1;
    if (gcp_auth_token(r->auth, force, on_token, r) < 0) {
        r->auth_pending = 0;
        fail_now(r, GCP_EAUTH, "no credentials");
    }
}

static void on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct gcp__req *r = w->data;

    (void)loop;
    (void)revents;
    start_attempt(r);
}

static int code_of_status(long status, const char *rpc)
{
    if (status == 400)
        return rpc && strcmp(rpc, "FAILED_PRECONDITION") == 0 ? GCP_EPRECONDITION : GCP_EINVAL;
    if (status == 401)
        return GCP_EAUTH;
    if (status == 403)
        return GCP_EPERM;
    if (status == 404 || status == 410)
        return GCP_ENOTFOUND;
    if (status == 408)
        return GCP_ETIMEOUT;
    if (status == 409)
        return rpc && strcmp(rpc, "ABORTED") == 0 ? GCP_EUNAVAILABLE : GCP_EEXISTS;
    if (status == 412)
        return GCP_EPRECONDITION;
    if (status == 413)
        return GCP_ETOOBIG;
    if (status == 429)
        return GCP_ERATELIMIT;
    if (status == 499 || status >= 500)
        return GCP_EUNAVAILABLE;
    return GCP_EHTTP;
}

/* GCS answers 404 for a missing bucket and for a missing object alike; only
 * the message tells them apart ("The specified bucket does not exist.", in
 * the JSON error and in the text body of a media download). A missing
 * bucket is a configuration problem, never "the object is not there": the
 * service must not ack work on it (docs/service.md "Missing buckets"). */
static int code_of_answer(long status, const char *rpc, const char *msg)
{
    int code = code_of_status(status, rpc);

    if (code == GCP_ENOTFOUND && strstr(msg, "bucket does not exist"))
        return GCP_ENOBUCKET;
    return code;
}

static int retry_allowed(enum gcp__retry pol, long status, const char *rpc, int transport,
                         int timeout)
{
    int aborted = status == 409 && rpc && strcmp(rpc, "ABORTED") == 0;

    switch (pol) {
    case GCP__RETRY_NEVER:
        return 0;
    case GCP__RETRY_IDEMPOTENT:
        return transport || timeout || status == 408 || status == 429 || status >= 500;
    case GCP__RETRY_PS_PUBLISH:
        return transport || timeout || aborted || status == 429 || status == 499 || status == 500 ||
               status == 502 || status == 503 || status == 504;
    case GCP__RETRY_PS_PULL:
        return transport || aborted || status == 500 || status == 502 || status == 503;
    case GCP__RETRY_PS_ACK:
        return transport || timeout || status == 502 || status == 503;
    case GCP__RETRY_PS_ADMIN:
        return transport || timeout || aborted || status == 500 || status == 502 || status == 503;
    }
    return 0;
}

/* Pulls message and status string out of a google.rpc.Status / GCS / OAuth
 * error body; falls back to the first line of a text body (gcp_int.h). */
void gcp__http_parse_error_body(const char *body, size_t len, char *msg, size_t msgsz, char *rpc,
                                size_t rpcsz)
{
    json_t *root, *e;

    msg[0] = '\0';
    rpc[0] = '\0';
    if (!body || len == 0)
        return;
    root = json_loadb(body, len, 0, NULL);
    if (root) {
        e = json_object_get(root, "error");
        if (json_is_object(e)) {
            const char *m = json_string_value(json_object_get(e, "message"));
            const char *s = json_string_value(json_object_get(e, "status"));

            snprintf(msg, msgsz, "%s", m ? m : "");
            snprintf(rpc, rpcsz, "%s", s ? s : "");
        } else if (json_is_string(e)) {
            const char *d = json_string_value(json_object_get(root, "error_description"));

            snprintf(rpc, rpcsz, "%s", json_string_value(e));
            snprintf(msg, msgsz, "%s", d ? d : "");
        }
        json_decref(root);
        if (msg[0] || rpc[0])
            return;
    }
    {
        size_t i, o = 0;

        for (i = 0; i < len && o + 1 < msgsz && i < 120; i++) {
            unsigned char c = (unsigned char)body[i];

            if (c == '\n' || c == '\r')
                break;
            msg[o++] = isprint(c) ? (char)c : '?';
        }
        msg[o] = '\0';
    }
}

static double retry_after_s(struct gcp__req *r)
{
    struct gcp__resp tmp;
    char v[64];

    memset(&tmp, 0, sizeof tmp);
    tmp.headers = r->rhdrs.p;
    if (gcp__resp_header(&tmp, "Retry-After", v, sizeof v) == 0) {
        char *end;
        double s = strtod(v, &end);

        if (end != v && s >= 0)
            return s > 120 ? 120 : s;
        {
            time_t t = curl_getdate(v, NULL);

            if (t > 0) {
                double d = difftime(t, time(NULL));

                return d < 0 ? 0 : d > 120 ? 120 : d;
            }
        }
    }
    return 0;
}

static void schedule_retry(struct gcp__req *r)
{
    double d = gcp__http_backoff(r->h, r->attempt);
    double ra = retry_after_s(r);

    if (ra > d)
        d = ra;
    r->attempt++;
    r->state = ST_BACKOFF;
    ev_timer_init(&r->backoff, on_backoff, d, 0.);
    r->backoff.data = r;
    ev_timer_start(r->h->loop, &r->backoff);
}

static void attempt_done(struct gcp__req *r, CURLcode rc)
{
    long status = 0;
    struct gcp_error e;
    int can_retry = r->attempt < r->h->opts.max_retries;
    char msg[160], rpc[48];

    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        int timeout = rc == CURLE_OPERATION_TIMEDOUT;

        if (r->sink_err || r->toobig) {
            int code = r->toobig ? GCP_ETOOBIG : r->sink_err;

            gcp__seterr(&e, code, (int)status, "%s %s: %s", r->method, what_of(r),
                        r->toobig ? "response body larger than the cap" : gcp_strerror(code));
            complete(r, &e, status, rc);
            return;
        }
        if (can_retry && retry_allowed(r->retry, 0, NULL, !timeout, timeout)) {
            drop_easy(r);
            schedule_retry(r);
            return;
        }
        gcp__seterr(&e, timeout ? GCP_ETIMEOUT : GCP_ETRANSPORT, 0, "%s %s: %s (after %d tries)",
                    r->method, what_of(r), r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc),
                    r->attempt + 1);
        complete(r, &e, 0, rc);
        return;
    }
    if ((status >= 200 && status < 300) || (status == 308 && r->accept_308)) {
        complete(r, NULL, status, rc);
        return;
    }
    if (status == 401 && r->auth && !r->refreshed_401) {
        r->refreshed_401 = 1;
        r->force_token = 1;
        drop_easy(r);
        start_attempt(r);
        return;
    }
    gcp__http_parse_error_body(r->rbody.p, r->rbody.len, msg, sizeof msg, rpc, sizeof rpc);
    if (can_retry && retry_allowed(r->retry, status, rpc, 0, 0)) {
        drop_easy(r);
        schedule_retry(r);
        return;
    }
    gcp__seterr(&e, code_of_answer(status, rpc, msg), (int)status, "%s %s: HTTP %ld%s%s: %s",
                r->method, what_of(r), status, rpc[0] ? " " : "", rpc, msg[0] ? msg : "(no body)");
    complete(r, &e, status, rc);
}

static void check_done(struct gcp_http *h)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(h->multi, &left))) {
        struct gcp__req *r = NULL;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        {
            CURLcode rc = m->data.result;

            curl_multi_remove_handle(h->multi, m->easy_handle);
            attempt_done(r, rc);
        }
    }
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *what_from_url(const char *url)
{
    const char *p = strstr(url, "://");
    const char *q;
    size_t n;
    char *out;

    p = p ? strchr(p + 3, '/') : url;
    if (!p)
        p = url;
    q = strchr(p, '?');
    n = q ? (size_t)(q - p) : strlen(p);
    out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}

struct gcp__req *gcp__http_request(struct gcp_http *h, const struct gcp__req_spec *spec,
                                   gcp__req_cb cb, void *ud, struct gcp_error *err)
{
    struct gcp__req *r;
    size_t i, n = 0;

    if (!h || !spec || !spec->url || !spec->method || !cb) {
        gcp__seterr(err, GCP_EINVAL, 0, "http request: missing argument");
        return NULL;
    }
    if (h->closing) {
        gcp__seterr(err, GCP_ECANCELED, 0, "%s %s: http engine is shutting down", spec->method,
                    spec->what ? spec->what : spec->url);
        return NULL;
    }
    r = calloc(1, sizeof *r);
    if (!r)
        goto nomem;
    r->h = h;
    r->method = strdup(spec->method);
    r->url = strdup(spec->url);
    r->what = spec->what ? strdup(spec->what) : what_from_url(spec->url);
    r->content_type = dup_or_null(spec->content_type);
    if (!r->method || !r->url || !r->what || (spec->content_type && !r->content_type))
        goto nomem;
    if (spec->headers)
        while (spec->headers[n])
            n++;
    if (n) {
        r->headers = calloc(n, sizeof *r->headers);
        if (!r->headers)
            goto nomem;
        for (i = 0; i < n; i++) {
            r->headers[i] = strdup(spec->headers[i]);
            if (!r->headers[i])
                goto nomem;
            r->n_headers++;
        }
    }
    r->body = spec->body;
    r->body_len = spec->body_len;
    r->has_body = spec->has_body || spec->body;
    r->timeout_ms = spec->timeout_ms > 0 ? spec->timeout_ms : h->opts.timeout_ms;
    r->max_body = spec->max_body ? spec->max_body : h->opts.max_body;
    r->retry = spec->retry;
    r->accept_308 = spec->accept_308;
    r->auth = spec->auth;
    r->sink = spec->sink;
    r->sink_reset = spec->sink_reset;
    r->sink_ud = spec->sink_ud;
    r->cb = cb;
    r->ud = ud;

    r->next = h->head;
    if (h->head)
        h->head->prev = r;
    h->head = r;
    h->pending++;
    if (spec->group) {
        r->group = spec->group;
        r->gen = spec->group->gen;
        r->tag = spec->tag;
        r->gnext = spec->group->head;
        if (r->gnext)
            r->gnext->gprev = r;
        spec->group->head = r;
    }

    r->in_submit = 1;
    if (r->auth) {
        /* The token may come synchronously (cached) or later. A failure to
         * even ask is reported by the return value, not the callback. */
        r->state = ST_WAIT_AUTH;
        r->auth_pending = 1;
        if (gcp_auth_token(r->auth, 0, on_token, r) < 0) {
            r->auth_pending = 0;
            fail_now(r, GCP_EAUTH, "no credentials");
        }
    } else {
        launch(r, NULL);
    }
    r->in_submit = 0;
    if (r->submit_failed) {
        if (err)
            *err = r->submit_err;
        if (r->easy) {
            curl_multi_remove_handle(h->multi, r->easy);
            drop_easy(r);
        }
        unlink_req(r);
        if (r->auth_pending)
            r->state = ST_DONE; /* freed by on_token */
        else
            req_free(r);
        return NULL;
    }
    return r;

nomem:
    if (r)
        req_free(r);
    gcp__seterr(err, GCP_ENOMEM, 0, "http request: out of memory");
    return NULL;
}

void gcp__req_cancel(struct gcp__req *r)
{
    struct gcp_error e;

    if (!r || r->state == ST_DONE)
        return;
    if (r->state == ST_RUNNING && r->easy)
        curl_multi_remove_handle(r->h->multi, r->easy);
    if (r->state == ST_BACKOFF)
        ev_timer_stop(r->h->loop, &r->backoff);
    gcp__seterr(&e, GCP_ECANCELED, 0, "%s %s: canceled", r->method, r->what);
    complete(r, &e, 0, 0);
}

void gcp__group_cancel(struct gcp__group *g, int tag)
{
    unsigned gen;
    struct gcp__req *r;

    if (!g)
        return;
    gen = ++g->gen;
again:
    for (r = g->head; r; r = r->gnext) {
        if (r->gen < gen && (tag < 0 || r->tag == tag)) {
            gcp__req_cancel(r);
            goto again;
        }
    }
}

void gcp_http_cancel_all(struct gcp_http *h)
{
    if (!h)
        return;
    /* Callbacks may start new requests; those are canceled too, unless the
     * engine is closing, in which case new requests are refused. */
    while (h->head)
        gcp__req_cancel(h->head);
}

void gcp_http_destroy(struct gcp_http *h)
{
    size_t i;

    if (!h)
        return;
    h->closing = 1;
    gcp_http_cancel_all(h);
    curl_multi_cleanup(h->multi); /* may still call socket_cb */
    ev_timer_stop(h->loop, &h->timer);
    for (i = 0; i < h->n_socks; i++) {
        if (h->socks[i]) {
            ev_io_stop(h->loop, &h->socks[i]->io);
            free(h->socks[i]);
        }
    }
    free(h->socks);
    free(h);
}

/* ---- a plain GET ---- */

struct get_op {
    gcp_http_get_cb cb;
    void *ud;
};

static void on_get(void *ud, const struct gcp_error *err, struct gcp__resp *resp)
{
    struct get_op *op = ud;

    if (err)
        op->cb(op->ud, err, NULL, 0);
    else
        op->cb(op->ud, NULL, resp->body, resp->body ? resp->body_len : 0);
    free(op);
}

int gcp_http_get(struct gcp_http *h, const char *url, size_t max_body, long timeout_ms,
                 gcp_http_get_cb cb, void *ud)
{
    struct gcp__req_spec s;
    struct gcp_error e;
    struct get_op *op;

    if (!h || !url || !cb)
        return GCP_EINVAL;
    op = calloc(1, sizeof *op);
    if (!op)
        return GCP_ENOMEM;
    op->cb = cb;
    op->ud = ud;
    memset(&s, 0, sizeof s);
    s.method = "GET";
    s.url = url;
    s.max_body = max_body;
    s.timeout_ms = timeout_ms;
    s.retry = GCP__RETRY_IDEMPOTENT;
    if (!gcp__http_request(h, &s, on_get, op, &e)) {
        free(op);
        return e.code ? e.code : GCP_ENOMEM;
    }
    return 0;
}
