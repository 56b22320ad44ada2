/* test_service_httpd.c: the health/metrics server (service/httpd.h) under
 * hostile and careless clients (issue 11, finding 4) and its listen
 * addresses (finding 6).
 *
 * The flood tests run the server in a forked child process, so its file
 * descriptors and its fd limit are its own, as in a pod. The test process is
 * the attacker and the prober:
 *  - a flood thread keeps N connections open to the server, idle or sending
 *    one byte of an endless request header every 2 s (slowloris), and opens
 *    a new one for every connection the server closes (at most 1000 a second);
 *  - the prober GETs /healthz and /metrics with libcurl on fresh connections,
 *    like the kubelet, each sample with a 3 s timeout.
 * Figures are printed (samples answered, connections the server closed, CPU
 * used); the assertions are about availability, not speed: no endpoint
 * misses PROBE_FAILURES_MAX samples in a row (the liveness probe's
 * failureThreshold is 3), the server's stderr is JSON lines only and at most
 * about one line per second, the server leaves file descriptors to the rest
 * of the process, a lone slowloris connection is closed at all (within 30 s,
 * six times the deadline), and a server out of descriptors does not spin (it
 * uses less than half a core, where a busy loop uses all of one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "service/httpd.h"
#include "service/metrics.h"
#include "support/svc_util.h"

#define PROBE_TIMEOUT_MS   3000
#define PROBE_FAILURES_MAX 3    /* in a row: what makes the kubelet restart a pod */
#define REOPEN_PER_S       1000 /* the attacker's reconnect rate */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The test's own fd limit, for the attacker's connections: soft = hard.
 * Returns the hard limit. */
static rlim_t raise_own_nofile(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        return 0;
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
    return r.rlim_max;
}

/* --- the server in a child process ------------------------------------- */

struct child {
    pid_t pid;
    int port;
    int cmd_w;  /* to the child: one command byte (child_main); EOF = exit */
    int resp_r; /* from the child: the port, then one int per command */
    char log_path[256];
    double started;
};

#define FD_PROBE 200

/* What the service's own code would do during a flood: open sockets (curl
 * connections to Pub/Sub and Storage). Returns how many it could open. */
static int child_try_fds(int n)
{
    int fds[FD_PROBE], ok = 0;
    for (int i = 0; i < n && i < FD_PROBE; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] >= 0)
            ok++;
    }
    for (int i = 0; i < n && i < FD_PROBE; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return ok;
}

/* Commands: 'f' try to open FD_PROBE sockets and close them again, 'x' take
 * every free descriptor (a service leaking them), 'r' give them back. Each
 * answers with a count. */
static void child_main(const char *listen, rlim_t nofile, int cmd_r, int resp_w,
                       const char *log_path)
{
    struct svc_error err = {0};
    struct svc_metrics *m;
    struct svc_httpd *h;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int port, held[1024], n_held = 0;
    char c;
    if (fd >= 0) {
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
    if (nofile) {
        struct rlimit r = {nofile, nofile};
        setrlimit(RLIMIT_NOFILE, &r);
    }
    m = svc_metrics_create();
    h = svc_httpd_create(listen, m, &err);
    port = h ? svc_httpd_port(h) : -1;
    if (!h)
        fprintf(stderr, "child: %s\n", err.msg);
    if (write(resp_w, &port, sizeof(port)) != sizeof(port))
        _exit(1);
    while (h && read(cmd_r, &c, 1) == 1) {
        int n = 0;
        if (c == 'f') {
            n = child_try_fds(FD_PROBE);
        } else if (c == 'x') {
            while (n_held < 1024 && (held[n_held] = socket(AF_INET, SOCK_STREAM, 0)) >= 0)
                n_held++;
            n = n_held;
        } else if (c == 'r') {
            n = n_held;
            while (n_held > 0)
                close(held[--n_held]);
        }
        if (write(resp_w, &n, sizeof(n)) != sizeof(n))
            break;
    }
    svc_httpd_destroy(h);
    svc_metrics_destroy(m);
    _exit(0);
}

/* nofile: the child's soft and hard fd limit (0 = inherit). */
static void child_start(struct child *ch, rlim_t nofile)
{
    int cmd[2], resp[2];
    const char *tmp = getenv("TMPDIR");
    memset(ch, 0, sizeof(*ch));
    ch->pid = -1;
    snprintf(ch->log_path, sizeof(ch->log_path), "%s/wiggly-httpd-log-%d",
             tmp && tmp[0] ? tmp : "/tmp", (int)getpid());
    assert_int_equal(pipe(cmd), 0);
    assert_int_equal(pipe(resp), 0);
    fflush(NULL);
    ch->pid = fork();
    assert_true(ch->pid >= 0);
    if (ch->pid == 0) {
        close(cmd[1]);
        close(resp[0]);
        child_main("127.0.0.1:0", nofile, cmd[0], resp[1], ch->log_path);
    }
    close(cmd[0]);
    close(resp[1]);
    ch->cmd_w = cmd[1];
    ch->resp_r = resp[0];
    ch->started = now_s();
    assert_int_equal(read(ch->resp_r, &ch->port, sizeof(ch->port)), (ssize_t)sizeof(ch->port));
    assert_true(ch->port > 0);
}

static int child_cmd(struct child *ch, char c)
{
    int n = -1;
    assert_int_equal(write(ch->cmd_w, &c, 1), 1);
    assert_int_equal(read(ch->resp_r, &n, sizeof(n)), (ssize_t)sizeof(n));
    return n;
}

/* CPU seconds the child has used so far (utime + stime from /proc). */
static double child_cpu_s(const struct child *ch)
{
    char path[64], buf[1024];
    unsigned long ut = 0, st = 0;
    FILE *f;
    char *p;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)ch->pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    p = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (!p || !(p = strrchr(buf, ')')))
        return -1;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void child_stop(struct child *ch)
{
    int status;
    if (ch->pid <= 0)
        return;
    close(ch->cmd_w);
    close(ch->resp_r);
    for (int i = 0; i < 100; i++) {
        if (waitpid(ch->pid, &status, WNOHANG) == ch->pid) {
            ch->pid = -1;
            return;
        }
        svc_test_sleep(0.05);
    }
    kill(ch->pid, SIGKILL);
    waitpid(ch->pid, &status, 0);
    ch->pid = -1;
}

/* The child's stderr: every line must be one JSON object, and there must be
 * at most about one per second (plus the start and stop lines). Returns 0
 * or -1 with the reason in why. */
static int check_child_log(struct child *ch, const char *what, char *why, size_t why_len)
{
    size_t len = 0, lines = 0, bad = 0;
    char *text = svc_test_read_file(ch->log_path, &len);
    double elapsed = now_s() - ch->started;
    char *save = NULL;
    const char *first_bad = NULL;
    assert_non_null(text);
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *o = json_loads(l, 0, &je);
        lines++;
        if (!json_is_object(o) || !json_is_string(json_object_get(o, "severity"))) {
            bad++;
            if (!first_bad)
                first_bad = l;
        }
        json_decref(o);
    }
    printf("  %s: server stderr %zu lines in %.0f s, %zu not JSON%s%.200s\n", what, lines, elapsed,
           bad, first_bad ? ", first: " : "", first_bad ? first_bad : "");
    if (bad)
        snprintf(why, why_len, "%zu of %zu stderr lines are not JSON, first: %.200s", bad, lines,
                 first_bad);
    else if ((double)lines > 2 * elapsed + 10)
        snprintf(why, why_len, "%zu stderr lines in %.0f s: the server's logs are not rate-limited",
                 lines, elapsed);
    free(text);
    unlink(ch->log_path);
    return bad || (double)lines > 2 * elapsed + 10 ? -1 : 0;
}

/* --- the attacker ------------------------------------------------------- */

struct flood {
    int port;
    int n;
    double drip_s; /* 0: idle; else one byte per connection every drip_s */
    int *fd;
    size_t *sent;
    pthread_t thread;
    int running;
    atomic_int stop;
    atomic_ulong opened, closed_by_server;
};

static const char slow_request[] = "GET /metrics HTTP/1.1\r\nHost: wiggly\r\nX-Slow: ";

static int connect_nb(int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void flood_close(struct flood *f, int i, int by_server)
{
    close(f->fd[i]);
    f->fd[i] = -1;
    f->sent[i] = 0;
    if (by_server)
        atomic_fetch_add(&f->closed_by_server, 1);
}

static void *flood_main(void *arg)
{
    struct flood *f = arg;
    struct pollfd *p = calloc((size_t)f->n, sizeof(*p));
    double next_drip = now_s() + f->drip_s, last = now_s(), allowance = 0;
    if (!p)
        abort(); /* no cmocka asserts off the test's thread */
    while (!atomic_load(&f->stop)) {
        double t = now_s();
        allowance += (t - last) * REOPEN_PER_S;
        if (allowance > REOPEN_PER_S / 10)
            allowance = REOPEN_PER_S / 10;
        last = t;
        for (int i = 0; i < f->n; i++) {
            p[i].fd = f->fd[i];
            p[i].events = POLLIN;
            p[i].revents = 0;
        }
        poll(p, (nfds_t)f->n, 100);
        for (int i = 0; i < f->n; i++) {
            char buf[4096];
            ssize_t k;
            if (f->fd[i] < 0 || !p[i].revents)
                continue;
            while ((k = recv(f->fd[i], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                ; /* an error page: read it, wait for the close */
            if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                flood_close(f, i, 1);
        }
        if (f->drip_s > 0 && now_s() >= next_drip) {
            next_drip += f->drip_s;
            for (int i = 0; i < f->n; i++) {
                char c;
                if (f->fd[i] < 0)
                    continue;
                c = f->sent[i] < sizeof(slow_request) - 1 ? slow_request[f->sent[i]] : 'a';
                if (send(f->fd[i], &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
                    f->sent[i]++;
                else if (errno == EPIPE || errno == ECONNRESET)
                    flood_close(f, i, 1);
            }
        }
        for (int i = 0; i < f->n && allowance >= 1; i++) {
            if (f->fd[i] >= 0)
                continue;
            f->fd[i] = connect_nb(f->port);
            if (f->fd[i] >= 0)
                atomic_fetch_add(&f->opened, 1);
            allowance -= 1;
        }
        if (allowance < 1)
            svc_test_sleep(0.01);
    }
    free(p);
    return NULL;
}

static void flood_start(struct flood *f, int port, int n, double drip_s)
{
    memset(f, 0, sizeof(*f));
    f->port = port;
    f->n = n;
    f->drip_s = drip_s;
    f->fd = malloc((size_t)n * sizeof(*f->fd));
    f->sent = calloc((size_t)n, sizeof(*f->sent));
    assert_non_null(f->fd);
    assert_non_null(f->sent);
    for (int i = 0; i < n; i++) {
        f->fd[i] = connect_nb(port);
        if (f->fd[i] >= 0)
            atomic_fetch_add(&f->opened, 1);
    }
    assert_int_equal(pthread_create(&f->thread, NULL, flood_main, f), 0);
    f->running = 1;
}

static int flood_open(const struct flood *f)
{
    int n = 0;
    for (int i = 0; i < f->n; i++)
        n += f->fd[i] >= 0;
    return n;
}

static void flood_stop(struct flood *f)
{
    if (!f->running)
        return;
    atomic_store(&f->stop, 1);
    pthread_join(f->thread, NULL);
    f->running = 0;
    for (int i = 0; i < f->n; i++)
        if (f->fd[i] >= 0)
            close(f->fd[i]);
    free(f->fd);
    free(f->sent);
    f->fd = NULL;
    f->sent = NULL;
}

/* --- the prober --------------------------------------------------------- */

/* One GET on a fresh connection; the HTTP status, or -CURLcode. */
static long get_url(const char *url, long timeout_ms, struct svc_test_body *b)
{
    CURL *c = svc_test_http_easy(url, b);
    long status = 0;
    CURLcode rc;
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    else
        status = -(long)rc;
    curl_easy_cleanup(c);
    return status;
}

static int valid_body(const char *path, const struct svc_test_body *b)
{
    if (!strcmp(path, "/healthz"))
        return !strcmp(b->buf, "ok\n");
    return strstr(b->buf, "# TYPE wiggly_messages_total counter\n") && b->len > 0 &&
           b->buf[b->len - 1] == '\n';
}

struct probe_stats {
    const char *path;
    int samples, ok, run, worst_run; /* run: failures in a row */
    long last_error;
};

static void probe(int port, struct probe_stats *s)
{
    static struct svc_test_body b;
    char url[128];
    long st;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, s->path);
    st = get_url(url, PROBE_TIMEOUT_MS, &b);
    s->samples++;
    if (st == 200 && valid_body(s->path, &b)) {
        s->ok++;
        s->run = 0;
        return;
    }
    s->last_error = st;
    if (++s->run > s->worst_run)
        s->worst_run = s->run;
}

/* The value of a sample line "name value" in a /metrics body; -1 if absent. */
static double metric_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = strstr(text, name); p; p = strstr(p + 1, name))
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return atof(p + n + 1);
    return -1;
}

/* What the server says it did (new code only: wiggly_http_*). */
static void print_server_side(const char *what, int port)
{
    static struct svc_test_body b;
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    if (get_url(url, PROBE_TIMEOUT_MS, &b) != 200 ||
        metric_value(b.buf, "wiggly_http_connections") < 0) {
        printf("  %s: the server reports no wiggly_http_* series\n", what);
        return;
    }
    printf("  %s: the server closed %.0f connections over its limit and %.0f past the request "
           "deadline; %.0f open after the flood\n",
           what, metric_value(b.buf, "wiggly_http_connections_closed_total{reason=\"limit\"}"),
           metric_value(b.buf, "wiggly_http_connections_closed_total{reason=\"timeout\"}"),
           metric_value(b.buf, "wiggly_http_connections"));
}

static void print_stats(const char *what, const struct probe_stats *s)
{
    printf("  %s: %s answered %d of %d samples, at most %d failures in a row", what, s->path, s->ok,
           s->samples, s->worst_run);
    if (s->ok < s->samples)
        printf(" (last failure: %s %ld)", s->last_error < 0 ? "curl error" : "HTTP",
               s->last_error < 0 ? -s->last_error : s->last_error);
    printf("\n");
}

/* --- fixtures ----------------------------------------------------------- */

static struct child g_child;
static struct flood g_flood;

static int teardown_flood(void **state)
{
    (void)state;
    flood_stop(&g_flood);
    child_stop(&g_child);
    return 0;
}

/* Probe /healthz and /metrics `rounds` times, spacing_s apart, under a flood
 * of n connections (drip_s: slowloris) and assert availability. */
static void flood_and_probe(const char *what, int n, double drip_s, int rounds, double spacing_s,
                            rlim_t child_nofile, int check_fds)
{
    struct probe_stats hz = {.path = "/healthz"}, me = {.path = "/metrics"};
    rlim_t hard = raise_own_nofile();
    double cpu0, cpu1, t0;
    int held, fds = -1, after, log_ok;
    char why[512] = "";
    if (hard < (rlim_t)n + 256) {
        printf("  %s: skipped: the hard fd limit %llu is below %d\n", what,
               (unsigned long long)hard, n + 256);
        skip();
    }
    child_start(&g_child, child_nofile);
    cpu0 = child_cpu_s(&g_child);
    t0 = now_s();
    flood_start(&g_flood, g_child.port, n, drip_s);
    svc_test_sleep(1.0); /* let the flood reach the server */
    for (int r = 0; r < rounds; r++) {
        probe(g_child.port, &hz);
        probe(g_child.port, &me);
        svc_test_sleep(spacing_s);
    }
    if (check_fds)
        fds = child_cmd(&g_child, 'f');
    held = flood_open(&g_flood);
    cpu1 = child_cpu_s(&g_child);
    flood_stop(&g_flood);
    printf("  %s: %d connections, %lu opened, %lu closed by the server, %d open at the end; "
           "server CPU %.1f s in %.1f s\n",
           what, n, (unsigned long)atomic_load(&g_flood.opened),
           (unsigned long)atomic_load(&g_flood.closed_by_server), held, cpu1 - cpu0, now_s() - t0);
    print_stats(what, &hz);
    print_stats(what, &me);
    if (check_fds)
        printf("  %s: the server's process could open %d of %d sockets during the flood\n", what,
               fds, FD_PROBE);
    print_server_side(what, g_child.port);
    /* Both endpoints answer once the flood is over. */
    {
        struct probe_stats after_hz = {.path = "/healthz"}, after_me = {.path = "/metrics"};
        for (int i = 0; i < PROBE_FAILURES_MAX && (after_hz.ok == 0 || after_me.ok == 0); i++) {
            probe(g_child.port, &after_hz);
            probe(g_child.port, &after_me);
        }
        after = after_hz.ok && after_me.ok;
    }
    child_stop(&g_child);
    log_ok = check_child_log(&g_child, what, why, sizeof(why)) == 0;
    if (hz.worst_run >= PROBE_FAILURES_MAX || me.worst_run >= PROBE_FAILURES_MAX)
        fail_msg("%s: /healthz failed %d and /metrics %d samples in a row (the liveness probe "
                 "restarts the pod at %d)",
                 what, hz.worst_run, me.worst_run, PROBE_FAILURES_MAX);
    if (!after)
        fail_msg("%s: the endpoints do not answer after the flood", what);
    if (check_fds && fds != FD_PROBE)
        fail_msg("%s: the server's process could open only %d of %d sockets during the flood", what,
                 fds, FD_PROBE);
    if (!log_ok)
        fail_msg("%s: %s", what, why);
}

/* (a) 2000 idle connections, reopened as the server closes them. */
static void test_idle_flood(void **state)
{
    (void)state;
    flood_and_probe("idle", 2000, 0, 20, 0.5, 0, 0);
}

/* (b) 1100 slowloris connections, one byte every 2 s each. */
static void test_slowloris(void **state)
{
    (void)state;
    flood_and_probe("slowloris", 1100, 2.0, 20, 0.75, 0, 0);
}

/* The server's process has a low fd limit that it cannot raise (soft = hard
 * = 400): 2000 idle connections must not take the descriptors the service
 * needs for its own sockets. */
static void test_fd_budget(void **state)
{
    (void)state;
    flood_and_probe("fd limit 400", 2000, 0, 8, 0.25, 400, 1);
}

/* The process has run out of descriptors (a leak elsewhere in the service)
 * while the server holds no connection: a client waiting to be accepted must
 * not make the server's thread spin a core retrying accept(), and the server
 * serves again once descriptors are free. */
static void test_fd_exhausted(void **state)
{
    struct probe_stats hz = {.path = "/healthz"};
    double cpu0, cpu1, t0, elapsed;
    int taken, fd, log_ok;
    char why[512] = "";
    (void)state;
    child_start(&g_child, 64);
    taken = child_cmd(&g_child, 'x');
    cpu0 = child_cpu_s(&g_child);
    t0 = now_s();
    fd = connect_nb(g_child.port);
    assert_true(fd >= 0);
    svc_test_sleep(3.0);
    cpu1 = child_cpu_s(&g_child);
    elapsed = now_s() - t0;
    child_cmd(&g_child, 'r');
    close(fd);
    for (int i = 0; i < PROBE_FAILURES_MAX && !hz.ok; i++)
        probe(g_child.port, &hz);
    printf("  no fds: took %d descriptors; with a client waiting the server used %.2f s CPU in "
           "%.1f s; /healthz after the release: %s\n",
           taken, cpu1 - cpu0, elapsed, hz.ok ? "200" : "no answer");
    child_stop(&g_child);
    log_ok = check_child_log(&g_child, "no fds", why, sizeof(why)) == 0;
    if (cpu1 - cpu0 > elapsed / 2)
        fail_msg("the server spun %.2f s CPU in %.1f s retrying accept()", cpu1 - cpu0, elapsed);
    if (!hz.ok)
        fail_msg("/healthz does not answer once descriptors are free again");
    if (!log_ok)
        fail_msg("no fds: %s", why);
}

/* One slowloris connection alone: the server closes it within a bounded
 * time although it never stays silent long enough for an idle timeout. */
static void test_request_deadline(void **state)
{
    struct svc_metrics *m = svc_metrics_create();
    struct svc_error err = {0};
    struct svc_httpd *h = svc_httpd_create("127.0.0.1:0", m, &err);
    double t0 = now_s(), closed_at = -1;
    size_t sent = 0;
    int fd;
    (void)state;
    assert_non_null(h);
    fd = connect_nb(svc_httpd_port(h));
    assert_true(fd >= 0);
    while (now_s() - t0 < 30) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char c = sent < sizeof(slow_request) - 1 ? slow_request[sent] : 'a', buf[512];
        if (send(fd, &c, 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
            sent++;
        if (poll(&p, 1, 1000) == 1) {
            ssize_t k = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (k <= 0 && !(k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
                closed_at = now_s() - t0;
                break;
            }
        }
    }
    close(fd);
    printf("  deadline: a connection sending a byte a second was closed after %.1f s (%zu bytes)\n",
           closed_at, sent);
    svc_httpd_destroy(h);
    svc_metrics_destroy(m);
    if (closed_at < 0)
        fail_msg("a connection that sends one byte a second was still open after 30 s");
}

/* --- listen addresses --------------------------------------------------- */

static int have_ipv6_loopback(void)
{
    struct sockaddr_in6 sa;
    int fd = socket(AF_INET6, SOCK_STREAM, 0), ok;
    if (fd < 0)
        return 0;
    memset(&sa, 0, sizeof(sa));
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* (c) "[::1]:0" serves on the IPv6 loopback. */
static void test_listen_ipv6(void **state)
{
    struct svc_metrics *m = svc_metrics_create();
    struct svc_error err = {0};
    struct svc_httpd *h;
    static struct svc_test_body b;
    char url[128];
    (void)state;
    if (!have_ipv6_loopback()) {
        printf("  ipv6: skipped: this host has no IPv6 loopback\n");
        svc_metrics_destroy(m);
        skip();
    }
    h = svc_httpd_create("[::1]:0", m, &err);
    if (!h)
        fail_msg("[::1]:0: %s", err.msg);
    assert_true(svc_httpd_port(h) > 0);
    snprintf(url, sizeof(url), "http://[::1]:%d/healthz", svc_httpd_port(h));
    assert_int_equal(get_url(url, 10000, &b), 200);
    assert_string_equal(b.buf, "ok\n");
    snprintf(url, sizeof(url), "http://[::1]:%d/metrics", svc_httpd_port(h));
    assert_int_equal(get_url(url, 10000, &b), 200);
    assert_true(valid_body("/metrics", &b));
    svc_httpd_destroy(h);
    /* "[::]:0" (every address) answers on ::1 too. */
    h = svc_httpd_create("[::]:0", m, &err);
    if (!h)
        fail_msg("[::]:0: %s", err.msg);
    snprintf(url, sizeof(url), "http://[::1]:%d/healthz", svc_httpd_port(h));
    assert_int_equal(get_url(url, 10000, &b), 200);
    svc_httpd_destroy(h);
    svc_metrics_destroy(m);
}

/* (d) A port in use: the error names the address and the errno text. */
static void test_listen_in_use(void **state)
{
    struct svc_metrics *m = svc_metrics_create();
    struct svc_error err = {0};
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    char addr[64], want[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    (void)state;
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sa.sin_port));
    assert_null(svc_httpd_create(addr, m, &err));
    printf("  in use: %s\n", err.msg);
    snprintf(want, sizeof(want), ":%d", ntohs(sa.sin_port));
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "Address already in use"));
    close(fd);
    svc_metrics_destroy(m);
}

static void test_listen_parse(void **state)
{
    static const struct {
        const char *listen, *want;
    } bad[] = {
        {"::1:8080", "brackets"},    {"[::1]", "host:port"},     {"[::1]8080", "host:port"},
        {"[::1:8080", "host:port"},  {"[nope]:80", "IPv6"},      {"[::1]:", "bad port"},
        {"127.0.0.1:x", "bad port"}, {"example.com:80", "IPv4"}, {"[::1]:65536", "bad port"},
        {"256.1.1.1:80", "IPv4"},
    };
    struct svc_metrics *m = svc_metrics_create();
    struct svc_error err = {0};
    struct svc_httpd *h;
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err.msg[0] = 0;
        h = svc_httpd_create(bad[i].listen, m, &err);
        if (h || !strstr(err.msg, bad[i].want))
            fail_msg("'%s': want an error with '%s', got %s '%s'", bad[i].listen, bad[i].want,
                     h ? "a server" : "", err.msg);
    }
    /* Empty host, "*" and "localhost" mean what they say. */
    h = svc_httpd_create(":0", m, &err);
    assert_non_null(h);
    svc_httpd_destroy(h);
    h = svc_httpd_create("localhost:0", m, &err);
    assert_non_null(h);
    svc_httpd_destroy(h);
    svc_metrics_destroy(m);
}

/* The server raises the soft fd limit to the hard one. */
static void test_fd_limit_raised(void **state)
{
    struct svc_metrics *m = svc_metrics_create();
    struct svc_error err = {0};
    struct svc_httpd *h;
    struct rlimit r, saved;
    (void)state;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    if (saved.rlim_max <= 256) {
        printf("  fd limit: skipped: the hard limit is %llu\n", (unsigned long long)saved.rlim_max);
        svc_metrics_destroy(m);
        skip();
    }
    r = saved;
    r.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &r), 0);
    h = svc_httpd_create("127.0.0.1:0", m, &err);
    assert_non_null(h);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &r), 0);
    printf("  fd limit: soft 256 -> %llu (hard %llu)\n", (unsigned long long)r.rlim_cur,
           (unsigned long long)r.rlim_max);
    assert_true(r.rlim_cur == r.rlim_max || r.rlim_cur >= 1048576);
    svc_httpd_destroy(h);
    setrlimit(RLIMIT_NOFILE, &saved);
    svc_metrics_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_parse),
        cmocka_unit_test(test_listen_in_use),
        cmocka_unit_test(test_listen_ipv6),
        cmocka_unit_test(test_fd_limit_raised),
        cmocka_unit_test(test_request_deadline),
        cmocka_unit_test_teardown(test_idle_flood, teardown_flood),
        cmocka_unit_test_teardown(test_slowloris, teardown_flood),
        cmocka_unit_test_teardown(test_fd_budget, teardown_flood),
        cmocka_unit_test_teardown(test_fd_exhausted, teardown_flood),
    };
    int rc;
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
