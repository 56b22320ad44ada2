/* test_fault_proxy.c: wiggly-fault-proxy over real sockets.
 *
 * Two upstreams: an in-test echo server (a thread per connection; it counts
 * the requests it sees and answers the request body back, chunked on
 * request), so byte-exact relaying and "errors never reach the upstream" can
 * be checked without Java; and the official Pub/Sub emulator (skipped when
 * it is not installed), to show real Pub/Sub traffic passes unchanged. The
 * client is libcurl's blocking easy API. Shares of injected faults are
 * checked with wide bounds around the configured rates; with a fixed seed and
 * a sequential client the run is deterministic. No timing assertions. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "fault_proxy.h"
#include "pubsub_emulator.h"

/* ---- in-test echo upstream ---- */

struct echo {
    int lfd, port;
    pthread_t accept_thread;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int active, stop;
    long seen; /* complete requests received */
};

static struct echo echo_srv;

/* The proxy of the running test; teardown stops it (and the echo upstream)
 * when an assertion ended the test early. */
static struct tproxy cur_proxy = {.pid = -1};
static int echo_running;

/* The header line "\r\nName:" inside the head (case-insensitive), or NULL. */
static const char *hdr_find(const char *head, const char *body, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p && p < body; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':')
            return p + 3 + nl;
    return NULL;
}

static int echo_read_head(int fd, char *head, size_t cap, size_t *used, char **body_start)
{
    for (;;) {
        char *end = NULL;
        if (*used >= 4) {
            head[*used] = '\0';
            end = strstr(head, "\r\n\r\n");
        }
        if (end) {
            *body_start = end + 4;
            return 0;
        }
        if (*used >= cap - 1)
            return -1;
        ssize_t n = recv(fd, head + *used, cap - 1 - *used, 0);
        if (n <= 0)
            return -1;
        *used += (size_t)n;
    }
}

static int sendall(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Serves one connection, keep-alive: reads a Content-Length or chunked body
 * and answers it back, chunked when the request has X-Reply-Chunked. */
static void *echo_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t cap = 8 << 20;
    char *buf = malloc(cap);
    size_t used = 0;
    while (buf) {
        char *body = NULL;
        if (echo_read_head(fd, buf, 65536, &used, &body) < 0)
            break;
        size_t head_len = (size_t)(body - buf);
        const char *cl = hdr_find(buf, body, "Content-Length");
        const char *te = hdr_find(buf, body, "Transfer-Encoding");
        size_t want = cl ? strtoul(cl, NULL, 10) : 0;
        int chunked_in = te && strncmp(te, " chunked", 8) == 0;
        int chunked_out = hdr_find(buf, body, "X-Reply-Chunked") != NULL;
        /* Collect the body into out. */
        char *out = malloc(cap);
        size_t out_len = 0, pos = head_len;
        int ok = out != NULL;
        if (ok && chunked_in) {
            for (;;) {
                char *nl;
                while (!(nl = memchr(buf + pos, '\n', used - pos))) {
                    ssize_t n = used < cap ? recv(fd, buf + used, cap - used, 0) : -1;
                    if (n <= 0)
                        goto bad;
                    used += (size_t)n;
                }
                size_t sz = strtoul(buf + pos, NULL, 16);
                pos = (size_t)(nl - buf) + 1;
                while (used - pos < sz + 2) {
                    ssize_t n = used < cap ? recv(fd, buf + used, cap - used, 0) : -1;
                    if (n <= 0)
                        goto bad;
                    used += (size_t)n;
                }
                memcpy(out + out_len, buf + pos, sz);
                out_len += sz;
                pos += sz + 2;
                if (sz == 0)
                    break;
            }
        } else if (ok) {
            while (used - pos < want) {
                ssize_t n = used < cap ? recv(fd, buf + used, cap - used, 0) : -1;
                if (n <= 0)
                    goto bad;
                used += (size_t)n;
            }
            memcpy(out, buf + pos, want);
            out_len = want;
            pos += want;
        }
        pthread_mutex_lock(&echo_srv.lock);
        long seen = ++echo_srv.seen;
        pthread_mutex_unlock(&echo_srv.lock);
        char hdr[256];
        int hl;
        if (chunked_out) {
            hl = snprintf(hdr, sizeof(hdr),
                          "HTTP/1.1 200 OK\r\nX-Seen: %ld\r\nTransfer-Encoding: chunked\r\n\r\n",
                          seen);
            if (sendall(fd, hdr, (size_t)hl) < 0)
                goto bad;
            for (size_t off = 0; off < out_len;) { /* uneven chunks */
                size_t n = out_len - off < 7777 ? out_len - off : 7777;
                hl = snprintf(hdr, sizeof(hdr), "%zx\r\n", n);
                if (sendall(fd, hdr, (size_t)hl) < 0 || sendall(fd, out + off, n) < 0 ||
                    sendall(fd, "\r\n", 2) < 0)
                    goto bad;
                off += n;
            }
            if (sendall(fd, "0\r\nX-Trailer: t\r\n\r\n", 19) < 0)
                goto bad;
        } else {
            hl = snprintf(hdr, sizeof(hdr),
                          "HTTP/1.1 200 OK\r\nX-Seen: %ld\r\nContent-Type: "
                          "application/octet-stream\r\nContent-Length: %zu\r\n\r\n",
                          seen, out_len);
            if (sendall(fd, hdr, (size_t)hl) < 0 || sendall(fd, out, out_len) < 0)
                goto bad;
        }
        free(out);
        memmove(buf, buf + pos, used - pos);
        used -= pos;
        continue;
    bad:
        free(out);
        break;
    }
    free(buf);
    close(fd);
    pthread_mutex_lock(&echo_srv.lock);
    echo_srv.active--;
    pthread_cond_broadcast(&echo_srv.idle);
    pthread_mutex_unlock(&echo_srv.lock);
    return NULL;
}

static void *echo_accept(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd p = {.fd = echo_srv.lfd, .events = POLLIN};
        int r = poll(&p, 1, 100);
        pthread_mutex_lock(&echo_srv.lock);
        int stop = echo_srv.stop;
        pthread_mutex_unlock(&echo_srv.lock);
        if (stop)
            return NULL;
        if (r <= 0)
            continue;
        int fd = accept(echo_srv.lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_t th;
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&echo_srv.lock);
        echo_srv.active++;
        pthread_mutex_unlock(&echo_srv.lock);
        if (pthread_create(&th, &a, echo_conn, (void *)(intptr_t)fd) != 0) {
            close(fd);
            pthread_mutex_lock(&echo_srv.lock);
            echo_srv.active--;
            pthread_mutex_unlock(&echo_srv.lock);
        }
        pthread_attr_destroy(&a);
    }
}

static int echo_start(void)
{
    memset(&echo_srv, 0, sizeof(echo_srv));
    pthread_mutex_init(&echo_srv.lock, NULL);
    pthread_cond_init(&echo_srv.idle, NULL);
    echo_srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (echo_srv.lfd < 0 || bind(echo_srv.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(echo_srv.lfd, 64) < 0 || getsockname(echo_srv.lfd, (struct sockaddr *)&a, &al) < 0)
        return -1;
    echo_srv.port = ntohs(a.sin_port);
    echo_running = 1;
    return pthread_create(&echo_srv.accept_thread, NULL, echo_accept, NULL) == 0 ? 0 : -1;
}

/* Call after the proxy is stopped: its connections close, threads end. */
static void echo_stop(void)
{
    echo_running = 0;
    pthread_mutex_lock(&echo_srv.lock);
    echo_srv.stop = 1;
    pthread_mutex_unlock(&echo_srv.lock);
    pthread_join(echo_srv.accept_thread, NULL);
    pthread_mutex_lock(&echo_srv.lock);
    while (echo_srv.active > 0)
        pthread_cond_wait(&echo_srv.idle, &echo_srv.lock);
    pthread_mutex_unlock(&echo_srv.lock);
    close(echo_srv.lfd);
    pthread_mutex_destroy(&echo_srv.lock);
    pthread_cond_destroy(&echo_srv.idle);
}

static long echo_seen(void)
{
    pthread_mutex_lock(&echo_srv.lock);
    long s = echo_srv.seen;
    pthread_mutex_unlock(&echo_srv.lock);
    return s;
}

/* ---- curl client ---- */

struct resp {
    long status;
    char *body;
    size_t len;
    CURLcode rc;
    long connects;
};

static size_t write_cb(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    char *nb = realloc(r->body, r->len + sz * n + 1);
    if (!nb)
        return 0;
    memcpy(nb + r->len, p, sz * n);
    r->body = nb;
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

struct upload {
    const char *p;
    size_t len, off;
};

static size_t read_cb(char *buf, size_t sz, size_t n, void *ud)
{
    struct upload *u = ud;
    size_t take = sz * n < 3000 ? sz * n : 3000; /* many small chunks */
    if (take > u->len - u->off)
        take = u->len - u->off;
    memcpy(buf, u->p + u->off, take);
    u->off += take;
    return take;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    memset(r, 0, sizeof(*r));
}

/* One request on handle h (reused, so keep-alive is exercised). */
static void do_req(CURL *h, const char *method, const char *url, const void *body, size_t len,
                   int chunked_up, int chunked_reply, struct resp *r)
{
    struct curl_slist *hs = NULL;
    struct upload up = {body, len, 0};
    memset(r, 0, sizeof(*r));
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    hs = curl_slist_append(hs, "Content-Type: application/json");
    if (chunked_reply)
        hs = curl_slist_append(hs, "X-Reply-Chunked: 1");
    if (body && chunked_up) {
        hs = curl_slist_append(hs, "Transfer-Encoding: chunked");
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(h, CURLOPT_READDATA, &up);
    } else if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    r->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &r->connects);
    curl_slist_free_all(hs);
}

static char *random_bytes(size_t n, uint32_t seed)
{
    char *p = malloc(n);
    for (size_t i = 0; p && i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (char)(seed >> 24);
    }
    return p;
}

/* ---- tests against the echo upstream ---- */

static int teardown_test(void **state)
{
    (void)state;
    tproxy_stop(&cur_proxy);
    if (echo_running)
        echo_stop();
    return 0;
}

static void start_echo_proxy(struct tproxy *p, const char *const *args)
{
    assert_int_equal(echo_start(), 0);
    char up[64];
    snprintf(up, sizeof(up), "127.0.0.1:%d", echo_srv.port);
    assert_int_equal(tproxy_start(p, up, args), 0);
    assert_true(p->port > 0);
}

static void test_echo_passthrough(void **state)
{
    (void)state;
    start_echo_proxy(&cur_proxy, NULL);
    char url[128];
    snprintf(url, sizeof(url), "http://%s/v1/echo", cur_proxy.host);
    CURL *h = curl_easy_init();
    struct resp r;

    /* Binary bodies (NULs, high bytes), Content-Length and chunked both ways. */
    const size_t sizes[] = {0, 1, 4096, 300000, 2 * 1024 * 1024 + 17};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        for (int mode = 0; mode < 4; mode++) {
            int chunked_up = mode & 1, chunked_reply = (mode >> 1) & 1;
            if (sizes[i] == 0 && chunked_up)
                continue;
            char *body = random_bytes(sizes[i] ? sizes[i] : 1, (uint32_t)(i * 4 + mode + 1));
            do_req(h, "POST", url, body, sizes[i], chunked_up, chunked_reply, &r);
            assert_int_equal(r.rc, CURLE_OK);
            assert_int_equal(r.status, 200);
            assert_int_equal(r.len, sizes[i]);
            if (sizes[i])
                assert_memory_equal(r.body, body, sizes[i]);
            resp_free(&r);
            free(body);
        }
    }
    long seen = echo_seen();
    /* Keep-alive through the proxy: a further request reuses the connection. */
    do_req(h, "GET", url, NULL, 0, 0, 0, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.connects, 0);
    assert_int_equal(echo_seen(), seen + 1);
    resp_free(&r);

    curl_easy_cleanup(h);
    tproxy_stop(&cur_proxy);
    echo_stop();
}

static int status_allowed(long s)
{
    return s == 500 || s == 503 || s == 429;
}

static void check_error_body(const struct resp *r)
{
    json_error_t je;
    json_t *root = json_loadb(r->body ? r->body : "", r->len, 0, &je);
    assert_non_null(root);
    json_t *err = json_object_get(root, "error");
    assert_non_null(err);
    assert_int_equal(json_integer_value(json_object_get(err, "code")), r->status);
    const char *st = json_string_value(json_object_get(err, "status"));
    assert_non_null(st);
    const char *want = r->status == 429   ? "RESOURCE_EXHAUSTED"
                       : r->status == 500 ? "INTERNAL"
                                          : "UNAVAILABLE";
    assert_string_equal(st, want);
    assert_non_null(json_string_value(json_object_get(err, "message")));
    json_decref(root);
}

/* Counts the proxy's log lines containing what. */
static int log_count(const char *path, const char *what)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;
    while (f && fgets(line, sizeof(line), f))
        n += strstr(line, what) != NULL;
    if (f)
        fclose(f);
    return n;
}

static void test_echo_fault_shares(void **state)
{
    (void)state;
    char logpath[] = "/tmp/wiggly-fault-proxy-log.XXXXXX";
    int lfd = mkstemp(logpath);
    assert_true(lfd >= 0);
    close(lfd);
    const char *args[] = {"--error-rate", "0.3",         "--error-statuses",
                          "500,503,429",  "--drop-rate", "0.1",
                          "--seed",       "42",          "--log",
                          logpath,        NULL};
    start_echo_proxy(&cur_proxy, args);
    char url[128];
    snprintf(url, sizeof(url), "http://%s/v1/projects/p/topics/t:publish", cur_proxy.host);
    CURL *h = curl_easy_init();
    const int n = 400;
    int ok = 0, errors = 0, closed = 0, seen_status[3] = {0};
    const char body[] = "{\"messages\":[{\"data\":\"aGVsbG8=\"}]}";
    for (int i = 0; i < n; i++) {
        struct resp r;
        do_req(h, "POST", url, body, sizeof(body) - 1, 0, 0, &r);
        if (r.rc != CURLE_OK) {
            /* A drop curl did not retry: closed without an answer. */
            assert_true(r.rc == CURLE_GOT_NOTHING || r.rc == CURLE_RECV_ERROR ||
                        r.rc == CURLE_SEND_ERROR || r.rc == CURLE_PARTIAL_FILE);
            closed++;
        } else if (r.status == 200) {
            assert_int_equal(r.len, sizeof(body) - 1);
            assert_memory_equal(r.body, body, r.len);
            ok++;
        } else {
            assert_true(status_allowed(r.status));
            check_error_body(&r);
            seen_status[r.status == 500 ? 0 : r.status == 503 ? 1 : 2]++;
            errors++;
        }
        resp_free(&r);
    }
    curl_easy_cleanup(h);
    tproxy_stop(&cur_proxy);
    long upstream = echo_seen();
    echo_stop();
    /* curl silently retries a request whose reused connection closed without
     * an answer, so the proxy's log is the count of what it decided. */
    int l_fwd = log_count(logpath, "-> forward 200"), l_err = log_count(logpath, "-> error "),
        l_before = log_count(logpath, "-> drop-before"),
        l_after = log_count(logpath, "-> drop-after");
    int total = l_fwd + l_err + l_before + l_after;
    printf("# log %s\n", logpath);
    printf("# client: %d ok, %d errors (500:%d 503:%d 429:%d), %d closed; proxy: %d forwarded, "
           "%d errors, %d dropped before, %d after; upstream saw %ld\n",
           ok, errors, seen_status[0], seen_status[1], seen_status[2], closed, l_fwd, l_err,
           l_before, l_after, upstream);
    assert_int_equal(ok, l_fwd);
    assert_int_equal(errors, l_err);
    assert_int_equal(ok + errors + closed, n);
    /* Errors and early drops never reach the upstream; late drops do. */
    assert_int_equal(upstream, l_fwd + l_after);
    /* Expected shares: errors 0.30, drops 0.7 x 0.1 = 0.07, half of them
     * before forwarding. Bounds are about 4 standard deviations wide. */
    assert_in_range(l_err, (uintmax_t)(0.20 * total), (uintmax_t)(0.40 * total));
    assert_in_range(l_before + l_after, (uintmax_t)(0.02 * total), (uintmax_t)(0.13 * total));
    assert_true(l_before > 0 && l_after > 0);
    for (int i = 0; i < 3; i++)
        assert_true(seen_status[i] > 0);
    unlink(logpath); /* kept for inspection when an assertion failed */
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct tproxy p;
    const char *bad_rate[] = {"--error-rate", "1.5", NULL};
    assert_int_equal(tproxy_start(&p, "127.0.0.1:9", bad_rate), -1);
    const char *bad_status[] = {"--error-statuses", "200", NULL};
    assert_int_equal(tproxy_start(&p, "127.0.0.1:9", bad_status), -1);
    assert_int_equal(tproxy_start(&p, "localhost", NULL), -1);
    tproxy_stop(&p);
}

/* ---- tests against the official Pub/Sub emulator ---- */

static struct tpubsub emu;
static int emu_state; /* 0 not tried, 1 running, -1 unavailable */

static int emulator_up(void)
{
    if (emu_state == 0) {
        int rc = tpubsub_start(&emu);
        emu_state = rc == 0 ? 1 : -1;
        if (rc != 0)
            printf("# Pub/Sub emulator unavailable: %s\n", tpubsub_why());
    }
    return emu_state == 1;
}

static void test_pubsub_passthrough(void **state)
{
    (void)state;
    if (!emulator_up())
        skip();
    assert_int_equal(tproxy_start(&cur_proxy, emu.host, NULL), 0);
    CURL *h = curl_easy_init();
    struct resp r, direct;
    char url[256];

    snprintf(url, sizeof(url), "http://%s/v1/projects/wiggly-fp/topics/fproxy-topic-1",
             cur_proxy.host);
    do_req(h, "PUT", url, "{}", 2, 0, 0, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    snprintf(url, sizeof(url), "http://%s/v1/projects/wiggly-fp/subscriptions/fproxy-sub-1",
             cur_proxy.host);
    const char sub[] =
        "{\"topic\":\"projects/wiggly-fp/topics/fproxy-topic-1\",\"ackDeadlineSeconds\":30}";
    do_req(h, "PUT", url, sub, sizeof(sub) - 1, 0, 0, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);

    /* The same GET straight and through the proxy: identical bytes. */
    snprintf(url, sizeof(url), "http://%s/v1/projects/wiggly-fp/subscriptions/fproxy-sub-1",
             cur_proxy.host);
    do_req(h, "GET", url, NULL, 0, 0, 0, &r);
    snprintf(url, sizeof(url), "http://%s/v1/projects/wiggly-fp/subscriptions/fproxy-sub-1",
             emu.host);
    do_req(h, "GET", url, NULL, 0, 0, 0, &direct);
    assert_int_equal(r.status, 200);
    assert_int_equal(direct.status, 200);
    assert_int_equal(r.len, direct.len);
    assert_memory_equal(r.body, direct.body, r.len);
    resp_free(&r);
    resp_free(&direct);

    /* Publish through the proxy (chunked upload too), pull back the data. */
    const char pub[] = "{\"messages\":[{\"data\":\"d2lnZ2x5LWZhdWx0LXByb3h5\","
                       "\"attributes\":{\"k\":\"v\"}}]}";
    snprintf(url, sizeof(url), "http://%s/v1/projects/wiggly-fp/topics/fproxy-topic-1:publish",
             cur_proxy.host);
    do_req(h, "POST", url, pub, sizeof(pub) - 1, 1, 0, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "messageIds"));
    resp_free(&r);
    snprintf(url, sizeof(url), "http://%s/v1/projects/wiggly-fp/subscriptions/fproxy-sub-1:pull",
             cur_proxy.host);
    const char pull[] = "{\"maxMessages\":10,\"returnImmediately\":false}";
    int got = 0;
    for (int i = 0; i < 20 && !got; i++) {
        do_req(h, "POST", url, pull, sizeof(pull) - 1, 0, 0, &r);
        assert_int_equal(r.status, 200);
        got = r.body && strstr(r.body, "\"d2lnZ2x5LWZhdWx0LXByb3h5\"") != NULL;
        resp_free(&r);
    }
    assert_true(got);

    curl_easy_cleanup(h);
    tproxy_stop(&cur_proxy);
}

static void test_pubsub_error_share(void **state)
{
    (void)state;
    if (!emulator_up())
        skip();
    const char *args[] = {
        "--error-rate", "0.25", "--error-statuses", "503,429", "--seed", "7", NULL};
    assert_int_equal(tproxy_start(&cur_proxy, emu.host, args), 0);
    CURL *h = curl_easy_init();
    char url[256];
    struct resp r;
    snprintf(url, sizeof(url), "http://%s/v1/projects/wiggly-fp/topics/fproxy-topic-2", emu.host);
    do_req(h, "PUT", url, "{}", 2, 0, 0, &r);
    assert_true(r.status == 200 || r.status == 409);
    resp_free(&r);
    struct resp direct;
    do_req(h, "GET", url, NULL, 0, 0, 0, &direct);
    assert_int_equal(direct.status, 200);

    snprintf(url, sizeof(url), "http://%s/v1/projects/wiggly-fp/topics/fproxy-topic-2",
             cur_proxy.host);
    const int n = 200;
    int errors = 0;
    for (int i = 0; i < n; i++) {
        do_req(h, "GET", url, NULL, 0, 0, 0, &r);
        assert_int_equal(r.rc, CURLE_OK);
        if (r.status == 200) {
            assert_int_equal(r.len, direct.len);
            assert_memory_equal(r.body, direct.body, r.len);
        } else {
            assert_true(r.status == 503 || r.status == 429);
            check_error_body(&r);
            errors++;
        }
        resp_free(&r);
    }
    resp_free(&direct);
    printf("# pubsub: %d of %d requests answered with an injected error\n", errors, n);
    /* Expected 0.25 x 200 = 50, sd about 6. */
    assert_in_range(errors, 25, 80);
    curl_easy_cleanup(h);
    tproxy_stop(&cur_proxy);
}

static int teardown_all(void **state)
{
    (void)state;
    if (emu_state == 1)
        tpubsub_stop(&emu);
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *filter = getenv("TEST_FILTER"); /* e.g. TEST_FILTER='test_echo*' */
    if (filter && filter[0])
        cmocka_set_test_filter(filter);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test_teardown(test_echo_passthrough, teardown_test),
        cmocka_unit_test_teardown(test_echo_fault_shares, teardown_test),
        cmocka_unit_test_teardown(test_pubsub_passthrough, teardown_test),
        cmocka_unit_test_teardown(test_pubsub_error_share, teardown_test),
    };
    int rc = cmocka_run_group_tests(tests, NULL, teardown_all);
    curl_global_cleanup();
    return rc;
}
