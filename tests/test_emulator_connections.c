/* test_emulator_connections.c: wiggly-gcs-emulator under many concurrent
 * connections (issue 11, finding 5: it used to close every connection past
 * 1020, silently). A plain-socket client opens N connections to a real
 * emulator process, sends every request head with half of its body, then
 * every second half, so the emulator holds all N uploads at once; each must
 * answer 200 and every object must read back. A second test caps the
 * emulator with --max-connections and checks that what it refuses is
 * logged with a count.
 *
 * N is 1500 (WIGGLY_TEST_CONNECTIONS overrides it). The test raises its
 * RLIMIT_NOFILE soft limit to the hard limit and skips when the hard limit
 * cannot hold N connections in both processes. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "gcs_emulator.h"
#include "gcs_emulator_http.h"

#define BODY_LEN 4096

/* Raises the soft RLIMIT_NOFILE to the hard limit; the emulator inherits
 * it. Returns the new soft limit, or 0 when the hard limit is below need. */
static rlim_t raise_nofile(rlim_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 0;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        return 0;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return 0;
    }
    return rl.rlim_cur;
}

static void make_bucket(const struct tgcs *e, const char *name)
{
    static const char *const H[] = {"Content-Type: application/json", NULL};
    char u[256], body[128];
    struct thttp r;
    snprintf(u, sizeof(u), "%s/storage/v1/b?project=p", e->url);
    snprintf(body, sizeof(body), "{\"name\":\"%s\"}", name);
    thttp_do(&r, "POST", u, H, body, strlen(body), -1);
    thttp_free(&r);
    assert_int_equal(r.status, 200);
}

/* Object i's bytes: its index, then a pattern that differs per object. */
static void fill_body(char *b, int i)
{
    int n = snprintf(b, BODY_LEN, "object %d\n", i);
    for (int k = n; k < BODY_LEN; k++)
        b[k] = (char)('a' + (k * 7 + i) % 26);
}

static int connect_to(int port)
{
    struct sockaddr_in a;
    struct timeval tv = {60, 0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* A hung emulator fails the test instead of hanging it. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* Sends all of buf; 0 or -errno (MSG_NOSIGNAL: a closed peer is EPIPE). */
static int send_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EPIPE;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Reads a response up to EOF (the request said Connection: close) and
 * returns its status, or -errno, or 0 for an empty or unparsable reply. */
static int read_status(int fd)
{
    char buf[8192];
    size_t got = 0;
    int status = 0;
    for (;;) {
        ssize_t r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        got += (size_t)r;
        if (got == sizeof(buf) - 1)
            got = 64; /* keep the status line, drop the rest */
    }
    buf[got] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1)
        return 0;
    return status;
}

/* Counts outcomes of one phase for the report. */
struct tally {
    int ok, failed;
    int first_err;
};

static void tally_err(struct tally *t, int err)
{
    t->failed++;
    if (!t->first_err)
        t->first_err = err;
}

static void test_concurrent_uploads(void **state)
{
    const char *env = getenv("WIGGLY_TEST_CONNECTIONS");
    int n = env ? atoi(env) : 1500;
    /* The client holds n sockets; the emulator holds n sockets plus a file
     * per upload (and serves at most (soft limit - 64) / 2 connections). */
    rlim_t need = 2 * (rlim_t)n + 256;
    struct tgcs e;
    int *fd, *status;
    char *head, *body, u[256];
    struct tally conn = {0}, sent = {0}, answered = {0};
    int stored = 0, http_errors = 0;
    (void)state;
    assert_true(n > 0);
    if (!raise_nofile(need)) {
        print_message("skipped: RLIMIT_NOFILE hard limit is below %lu, too low for %d "
                      "concurrent connections in the test and in the emulator\n",
                      (unsigned long)need, n);
        skip();
    }
    assert_int_equal(tgcs_start(&e, NULL), 0);
    make_bucket(&e, "conns");
    fd = calloc((size_t)n, sizeof(*fd));
    status = calloc((size_t)n, sizeof(*status));
    head = malloc(512);
    body = malloc(BODY_LEN);
    assert_non_null(fd);
    assert_non_null(status);
    assert_non_null(head);
    assert_non_null(body);

    /* 1. Connect every socket before any request is sent. */
    for (int i = 0; i < n; i++) {
        fd[i] = connect_to(e.port);
        if (fd[i] < 0)
            tally_err(&conn, -fd[i]);
        else
            conn.ok++;
    }
    /* The emulator accepts in arrival order: once a later connection has
     * been answered (or refused), each of the n has been accepted or
     * refused too. */
    {
        static const char probe[] = "GET /storage/v1/b/conns HTTP/1.1\r\nHost: x\r\n"
                                    "Connection: close\r\n\r\n";
        int pfd = connect_to(e.port);
        assert_true(pfd >= 0);
        if (send_all(pfd, probe, strlen(probe)) == 0)
            read_status(pfd);
        close(pfd);
    }
    /* 2. Every head and the first half of every body: no upload can finish
     * before all n are in the emulator's hands. */
    for (int i = 0; i < n; i++) {
        int len, rc;
        if (fd[i] < 0)
            continue;
        len = snprintf(head, 512,
                       "POST /upload/storage/v1/b/conns/o?uploadType=media&name=obj-%05d "
                       "HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/octet-stream"
                       "\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
                       i, e.port, BODY_LEN);
        fill_body(body, i);
        rc = send_all(fd[i], head, (size_t)len);
        if (rc == 0)
            rc = send_all(fd[i], body, BODY_LEN / 2);
        if (rc < 0) {
            status[i] = rc;
            tally_err(&sent, -rc);
        }
    }
    /* 3. The second halves. */
    for (int i = 0; i < n; i++) {
        int rc;
        if (fd[i] < 0 || status[i] < 0)
            continue;
        fill_body(body, i);
        rc = send_all(fd[i], body + BODY_LEN / 2, BODY_LEN - BODY_LEN / 2);
        if (rc < 0) {
            status[i] = rc;
            tally_err(&sent, -rc);
        } else {
            sent.ok++;
        }
    }
    /* 4. Every answer. */
    for (int i = 0; i < n; i++) {
        if (fd[i] < 0)
            continue;
        if (status[i] == 0) {
            status[i] = read_status(fd[i]);
            if (status[i] == 200)
                answered.ok++;
            else if (status[i] <= 0)
                tally_err(&answered, status[i] < 0 ? -status[i] : EPIPE);
            else
                http_errors++;
        }
        close(fd[i]);
    }
    /* 5. What was stored, read back. */
    for (int i = 0; i < n; i++) {
        struct thttp r;
        if (status[i] != 200)
            continue;
        snprintf(u, sizeof(u), "%s/storage/v1/b/conns/o/obj-%05d?alt=media", e.url, i);
        fill_body(body, i);
        thttp_do(&r, "GET", u, NULL, NULL, 0, -1);
        stored += r.status == 200 && r.len == BODY_LEN && memcmp(r.body, body, BODY_LEN) == 0;
        thttp_free(&r);
    }
    printf("emulator_connections: %d of %d concurrent uploads succeeded and read back "
           "(connect failed %d%s%s, send failed %d%s%s, no answer %d%s%s, HTTP errors %d); "
           "emulator log: %d 'refused' lines\n",
           stored, n, conn.failed, conn.first_err ? ": " : "",
           conn.first_err ? strerror(conn.first_err) : "", sent.failed, sent.first_err ? ": " : "",
           sent.first_err ? strerror(sent.first_err) : "", answered.failed,
           answered.first_err ? ": " : "", answered.first_err ? strerror(answered.first_err) : "",
           http_errors, tgcs_log_count(&e, "refused", NULL));
    fflush(stdout);
    assert_int_equal(stored, n);
    assert_int_equal(tgcs_log_count(&e, "refused", NULL), 0);
    free(fd);
    free(status);
    free(head);
    free(body);
    assert_int_equal(tgcs_stop_status(&e), 0);
}

/* Sum of N over the log's "refused N connection" lines. */
static long refused_in_log(const struct tgcs *e)
{
    FILE *f = fopen(e->log, "r");
    char line[1024];
    long sum = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        const char *p = strstr(line, "refused ");
        long v;
        if (p && sscanf(p, "refused %ld connection", &v) == 1)
            sum += v;
    }
    fclose(f);
    return sum;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* At the limit the emulator closes new connections at once and logs them,
 * rate-limited: the first at once, the rest as one count once a second has
 * passed and something happens on the listening thread (here: a held
 * connection closes). */
static void test_refusals_logged(void **state)
{
    enum { LIMIT = 8, EXTRA = 12 };
    static const char *const args[] = {"--max-connections", "8", NULL};
    static const char req[] = "GET /storage/v1/b HTTP/1.1\r\nHost: x\r\n\r\n";
    struct tgcs e;
    int held[LIMIT], extra[EXTRA], closed = 0;
    long sum = -1;
    (void)state;
    assert_int_equal(tgcs_start(&e, args), 0);
    /* Fill the limit with keep-alive connections that have been answered,
     * so the emulator has surely accepted them. */
    for (int i = 0; i < LIMIT; i++) {
        char buf[4096];
        held[i] = connect_to(e.port);
        assert_true(held[i] >= 0);
        assert_int_equal(send_all(held[i], req, strlen(req)), 0);
        assert_true(recv(held[i], buf, sizeof(buf), 0) > 0);
    }
    /* Each further connection is accepted and closed: EOF or a reset. */
    for (int i = 0; i < EXTRA; i++) {
        char c;
        extra[i] = connect_to(e.port);
        assert_true(extra[i] >= 0);
        closed += recv(extra[i], &c, 1, 0) <= 0;
        close(extra[i]);
    }
    assert_int_equal(closed, EXTRA);
    sleep_ms(1100);
    close(held[0]);
    for (int i = 0; i < 1000 && (sum = refused_in_log(&e)) < EXTRA; i++)
        sleep_ms(10);
    assert_int_equal(sum, EXTRA);
    assert_true(tgcs_log_count(&e, "refused 1 connection ", "the limit is 8") >= 1);
    for (int i = 1; i < LIMIT; i++)
        close(held[i]);
    assert_int_equal(tgcs_stop_status(&e), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_uploads),
        cmocka_unit_test(test_refusals_logged),
    };
    int rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
