/* httpd.c: /healthz, /readyz and /metrics on libmicrohttpd (MHD), hardened
 * against hostile and careless clients (issue 11, finding 4).
 *
 * MHD runs in epoll mode without its internal thread: one thread of ours
 * polls MHD's epoll fd, calls MHD_run and then sweeps its own list of
 * connections. Owning the loop is what makes the per-connection deadline
 * possible: MHD's connection timeout counts inactivity only, so a client
 * sending one byte every few seconds would keep its slot forever, and MHD's
 * internal thread offers no hook to enforce anything else.
 *
 * Every connection has a struct conn (a fixed array of slots, one per
 * connection MHD may hold), linked oldest first by `since`: when it was
 * accepted or when its last response completed.
 *  - Limit: when more than `keep` connections are open, the oldest one that
 *    is not in the middle of a request is shut down (shutdown(2): MHD sees
 *    the hang-up on its next turn and closes it). A probe is never locked
 *    out by idle connections; at worst it evicts one.
 *  - Deadline: a connection whose `since` is SVC_HTTPD_REQUEST_TIMEOUT_S
 *    old is shut down, busy or not: a request and its answer must fit in
 *    that time. MHD's own inactivity timeout (twice as long) is a backstop.
 *  - MHD's connection limit (`hard` = 2 * keep) bounds what is open while
 *    evictions settle; both shrink to fit a quarter of the fd limit.
 *  - Out of descriptors with no connection open, MHD would retry accept()
 *    in a busy loop; the loop pauses ACCEPT_PAUSE_S between tries instead.
 * Logs: MHD's messages (MHD_OPTION_EXTERNAL_LOGGER) and the evictions go
 * through log_slot: at most one line per second, then a count of the
 * lines suppressed with the last of them.
 *
 * Locks: log_mu guards the rate limiter only (MHD may log from the creating
 * thread as well). The connection list, the counters and the handlers are
 * touched by the server's thread alone, and by destroy after it joined. */
#include "service/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "service/log.h"
#include "service/metrics.h"

#define LOG_LINE_MAX   256
#define ACCEPT_PAUSE_S 0.1

/* Linux's default fs.nr_open: the most a soft limit of "unlimited" can be. */
#define NOFILE_CEILING 1048576

struct conn {
    struct conn *prev, *next; /* h->head .. h->tail, oldest `since` first */
    int fd;
    double since;
    int busy;    /* the handler took a request whose answer is not done */
    int served;  /* answered at least one request (keep-alive) */
    int closing; /* shut down by us; MHD closes it on its next turn */
};

struct svc_httpd {
    struct MHD_Daemon *d;
    struct svc_metrics *m;
    int port;
    int epoll_fd; /* MHD's */
    int wake[2];  /* destroy -> the thread */
    pthread_t thread;
    int running;
    atomic_int stop;

    /* The server's thread only. */
    struct conn *slots, *free_list, *head, *tail;
    unsigned keep, hard, n_open, n_closing;
    unsigned long long closed_limit, closed_timeout; /* totals, for /metrics */
    unsigned long long new_limit, new_timeout;       /* not yet logged */
    double pause_until; /* out of descriptors: do not retry accept() before */

    pthread_mutex_t log_mu;
    double log_last;
    unsigned long log_suppressed;
    char log_suppressed_last[LOG_LINE_MAX];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- logs ------------------------------------------------------------------ */

/* The one line per second: 1 if it is free, with how many lines were
 * suppressed since the last one and the last of them (in `last`); else 0.
 * A suppressed line is counted only when `text` is given. */
static int log_slot(struct svc_httpd *h, const char *text, unsigned long *suppressed,
                    char last[LOG_LINE_MAX])
{
    double now = now_s();
    int free_slot;
    pthread_mutex_lock(&h->log_mu);
    free_slot = now - h->log_last >= 1.0;
    if (free_slot) {
        *suppressed = h->log_suppressed;
        memcpy(last, h->log_suppressed_last, LOG_LINE_MAX);
        h->log_suppressed = 0;
        h->log_last = now;
    } else if (text) {
        h->log_suppressed++;
        snprintf(h->log_suppressed_last, LOG_LINE_MAX, "%s", text);
    }
    pthread_mutex_unlock(&h->log_mu);
    return free_slot;
}

static void log_line(const char *msg, unsigned long suppressed, const char *last)
{
    if (suppressed)
        svc_log(SVC_WARNING, SVC_LOG_FIELDS_NONE,
                "httpd: %s (%lu more httpd lines suppressed, the last: %s)", msg, suppressed, last);
    else
        svc_log(SVC_WARNING, SVC_LOG_FIELDS_NONE, "httpd: %s", msg);
}

/* One line through the limiter: written, or counted as suppressed. */
__attribute__((format(printf, 2, 3))) static void log_limited(struct svc_httpd *h, const char *fmt,
                                                              ...)
{
    char msg[LOG_LINE_MAX], last[LOG_LINE_MAX];
    unsigned long suppressed = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_slot(h, msg, &suppressed, last))
        log_line(msg, suppressed, last);
}

/* Once a second has passed, report the lines suppressed since the last one. */
static void log_flush(struct svc_httpd *h)
{
    char last[LOG_LINE_MAX];
    unsigned long n = 0;
    pthread_mutex_lock(&h->log_mu);
    if (h->log_suppressed && now_s() - h->log_last >= 1.0) {
        n = h->log_suppressed;
        h->log_suppressed = 0;
        h->log_last = now_s();
        memcpy(last, h->log_suppressed_last, sizeof(last));
    }
    pthread_mutex_unlock(&h->log_mu);
    if (n)
        svc_log(SVC_WARNING, SVC_LOG_FIELDS_NONE, "httpd: %lu lines suppressed, the last: %s", n,
                last);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct svc_httpd *h = cls;
    char msg[LOG_LINE_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = 0; /* MHD ends its messages with one */
    /* accept() failed for want of descriptors while MHD holds no connection:
     * MHD then leaves the listen socket in its epoll set ("will try busy
     * waiting", daemon.c), so the loop would spin a core until the process
     * frees one. The loop waits ACCEPT_PAUSE_S instead. MHD says so only in
     * this message; should its wording change, the loop spins but still logs
     * once a second. */
    if (strstr(msg, "resource limit at FIRST connection"))
        h->pause_until = now_s() + ACCEPT_PAUSE_S;
    log_limited(h, "%s", msg);
}

/* --- connections ------------------------------------------------------------ */

static void conn_unlink(struct svc_httpd *h, struct conn *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        h->head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        h->tail = k->prev;
    k->prev = k->next = NULL;
}

static void conn_append(struct svc_httpd *h, struct conn *k)
{
    k->prev = h->tail;
    k->next = NULL;
    if (h->tail)
        h->tail->next = k;
    else
        h->head = k;
    h->tail = k;
}

/* MHD notices the hang-up on its next turn, closes the socket and tells
 * on_connection (MHD_CONNECTION_NOTIFY_CLOSED). */
static void conn_shut(struct svc_httpd *h, struct conn *k)
{
    shutdown(k->fd, SHUT_RDWR);
    k->closing = 1;
    h->n_closing++;
}

/* Over the limit: evict the oldest connections not in a request, never
 * `fresh` (the one just accepted). */
static void enforce_limit(struct svc_httpd *h, const struct conn *fresh)
{
    struct conn *k = h->head;
    while (h->n_open - h->n_closing > h->keep) {
        while (k && (k == fresh || k->busy || k->closing))
            k = k->next;
        if (!k)
            return; /* all busy: MHD's own limit (hard) bounds the rest */
        conn_shut(h, k);
        h->closed_limit++;
        h->new_limit++;
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct svc_httpd *h = cls;
    struct conn *k = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        k = h->free_list;
        if (!k || !fd) { /* cannot happen: one slot per connection MHD may hold */
            if (fd)
                shutdown(fd->connect_fd, SHUT_RDWR);
            return;
        }
        h->free_list = k->next;
        memset(k, 0, sizeof(*k));
        k->fd = fd->connect_fd;
        k->since = now_s();
        conn_append(h, k);
        h->n_open++;
        *socket_context = k;
        enforce_limit(h, k);
        return;
    }
    if (!k)
        return;
    if (k->closing)
        h->n_closing--;
    conn_unlink(h, k);
    h->n_open--;
    k->next = h->free_list;
    h->free_list = k;
    *socket_context = NULL;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct svc_httpd *h = cls;
    struct conn *k = *con_cls;
    (void)c;
    (void)toe;
    if (!k)
        return;
    k->busy = 0;
    k->served = 1;
    k->since = now_s();
    conn_unlink(h, k);
    conn_append(h, k);
    *con_cls = NULL;
}

/* Shut down what is past its deadline; log the evictions of the last second
 * that concern connections which never sent a complete request (keep-alive
 * connections closed between scrapes are normal and not logged). */
static void sweep(struct svc_httpd *h, double now)
{
    unsigned long suppressed = 0;
    char last[LOG_LINE_MAX];
    for (struct conn *k = h->head; k && now - k->since >= SVC_HTTPD_REQUEST_TIMEOUT_S;
         k = k->next) {
        if (k->closing)
            continue;
        conn_shut(h, k);
        h->closed_timeout++;
        if (!k->served)
            h->new_timeout++;
    }
    /* Evictions add up until the log has a free second for them. */
    if ((h->new_limit || h->new_timeout) && log_slot(h, NULL, &suppressed, last)) {
        char msg[256], lim[96] = "", tmo[128] = "";
        if (h->new_limit)
            snprintf(lim, sizeof(lim), "%llu connection%s over the limit of %u", h->new_limit,
                     h->new_limit == 1 ? "" : "s", h->keep);
        if (h->new_timeout)
            snprintf(tmo, sizeof(tmo), "%llu connection%s that sent no complete request in %d s",
                     h->new_timeout, h->new_timeout == 1 ? "" : "s", SVC_HTTPD_REQUEST_TIMEOUT_S);
        snprintf(msg, sizeof(msg), "closed %s%s%s; %u open", lim, lim[0] && tmo[0] ? " and " : "",
                 tmo, h->n_open - h->n_closing);
        log_line(msg, suppressed, last);
        h->new_limit = h->new_timeout = 0;
    }
    log_flush(h);
}

static void *httpd_main(void *arg)
{
    struct svc_httpd *h = arg;
    struct pollfd p[2] = {{.fd = h->epoll_fd, .events = POLLIN},
                          {.fd = h->wake[0], .events = POLLIN}};
    while (!atomic_load(&h->stop)) {
        MHD_UNSIGNED_LONG_LONG mhd_ms;
        int rc;
        double now = now_s(), wait = 1.0; /* the sweep and the log flush run at least this often */
        for (struct conn *k = h->head; k; k = k->next) {
            if (!k->closing) {
                double left = k->since + SVC_HTTPD_REQUEST_TIMEOUT_S - now;
                wait = left < wait ? (left > 0 ? left : 0) : wait;
                break;
            }
        }
        if (MHD_get_timeout(h->d, &mhd_ms) == MHD_YES && (double)mhd_ms / 1e3 < wait)
            wait = (double)mhd_ms / 1e3;
        p[0].revents = p[1].revents = 0;
        if (h->pause_until > now) /* only the wake-up pipe until then */
            rc = poll(p + 1, 1, (int)((h->pause_until - now) * 1e3 + 0.999));
        else
            rc = poll(p, 2, (int)(wait * 1e3 + 0.999));
        if (rc < 0 && errno != EINTR) {
            log_limited(h, "poll: %s", strerror(errno));
            h->pause_until = now + ACCEPT_PAUSE_S;
            continue;
        }
        if (p[1].revents)
            break;
        MHD_run(h->d);
        sweep(h, now_s());
    }
    return NULL;
}

/* --- requests --------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    enum MHD_Result ret;
    if (!r) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", ctype);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* svc_metrics plus the server's own series. */
static int render_metrics(struct svc_httpd *h, char **out, size_t *len)
{
    char tail[1024], *body, *grown;
    size_t n;
    int k;
    if (svc_metrics_render(h->m, &body, &n) != 0)
        return -1;
    k = snprintf(tail, sizeof(tail),
                 "# HELP wiggly_http_connections Connections open on the health/metrics port.\n"
                 "# TYPE wiggly_http_connections gauge\n"
                 "wiggly_http_connections %u\n"
                 "# HELP wiggly_http_connections_closed_total Connections the health/metrics "
                 "server closed: over its connection limit, or past its request deadline.\n"
                 "# TYPE wiggly_http_connections_closed_total counter\n"
                 "wiggly_http_connections_closed_total{reason=\"limit\"} %llu\n"
                 "wiggly_http_connections_closed_total{reason=\"timeout\"} %llu\n",
                 h->n_open, h->closed_limit, h->closed_timeout);
    if (k < 0 || (size_t)k >= sizeof(tail) || !(grown = realloc(body, n + (size_t)k + 1))) {
        free(body);
        return -1;
    }
    memcpy(grown + n, tail, (size_t)k + 1);
    *out = grown;
    *len = n + (size_t)k;
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls)
{
    struct svc_httpd *h = cls;
    (void)version;
    (void)upload;
    if (!*con_cls) {
        /* First call for this request: it is in progress until on_completed. */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        struct conn *k = ci ? ci->socket_context : NULL;
        if (k) {
            k->busy = 1;
            *con_cls = k;
        }
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply(c, 405, "text/plain", "method not allowed\n", 19, MHD_RESPMEM_PERSISTENT);
    if (*upload_len) {
        *upload_len = 0;
        return MHD_YES;
    }
    if (!strcmp(url, "/healthz"))
        return reply(c, 200, "text/plain", "ok\n", 3, MHD_RESPMEM_PERSISTENT);
    if (!strcmp(url, "/readyz")) {
        if (svc_metrics_ready(h->m))
            return reply(c, 200, "text/plain", "ready\n", 6, MHD_RESPMEM_PERSISTENT);
        return reply(c, 503, "text/plain", "not ready\n", 10, MHD_RESPMEM_PERSISTENT);
    }
    if (!strcmp(url, "/metrics")) {
        char *body;
        size_t len;
        if (render_metrics(h, &body, &len) != 0)
            return reply(c, 500, "text/plain", "render failed\n", 14, MHD_RESPMEM_PERSISTENT);
        return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    return reply(c, 404, "text/plain", "not found\n", 10, MHD_RESPMEM_PERSISTENT);
}

/* --- setup ------------------------------------------------------------------ */

/* "host:port" -> a socket address; see httpd.h for the forms. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *ss_len,
                        struct svc_error *err)
{
    char host[64];
    const char *h0 = spec, *h1, *port_s, *p;
    long port = 0;
    if (spec[0] == '[') {
        h0 = spec + 1;
        h1 = strchr(h0, ']');
        if (!h1 || h1[1] != ':')
            return svc_error_set(err, SVC_EINVAL, "listen address '%s' is not host:port", spec);
        port_s = h1 + 2;
    } else {
        h1 = strrchr(spec, ':');
        if (!h1)
            return svc_error_set(err, SVC_EINVAL, "listen address '%s' is not host:port", spec);
        port_s = h1 + 1;
        if (memchr(h0, ':', (size_t)(h1 - h0)))
            return svc_error_set(err, SVC_EINVAL,
                                 "listen address '%s': an IPv6 address needs brackets, as in "
                                 "\"[::1]:8080\"",
                                 spec);
    }
    if ((size_t)(h1 - h0) >= sizeof(host))
        return svc_error_set(err, SVC_EINVAL, "listen address '%s': host too long", spec);
    memcpy(host, h0, (size_t)(h1 - h0));
    host[h1 - h0] = 0;
    for (p = port_s; *p >= '0' && *p <= '9' && port <= 65535; p++)
        port = port * 10 + (*p - '0');
    if (*p || p == port_s || port > 65535)
        return svc_error_set(err, SVC_EINVAL, "listen address '%s': bad port", spec);

    memset(ss, 0, sizeof(*ss));
    if (spec[0] == '[') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return svc_error_set(err, SVC_EINVAL,
                                 "listen address '%s': '[%s]' is not an IPv6 address", spec, host);
        *ss_len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        if (!host[0] || !strcmp(host, "*"))
            s4->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (!strcmp(host, "localhost"))
            s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return svc_error_set(err, SVC_EINVAL,
                                 "listen address '%s': host must be an IPv4 address or an IPv6 "
                                 "address in brackets",
                                 spec);
        *ss_len = sizeof(*s4);
    }
    return 0;
}

/* "0.0.0.0:8080", "[::1]:8080" */
static void format_addr(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char a[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        snprintf(out, n, "[%s]:%u", a, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        snprintf(out, n, "%s:%u", a, ntohs(s4->sin_port));
    }
}

/* Bound by us rather than by MHD, so that a failure names the address and
 * the reason ("Address already in use", "Permission denied"). */
static int listen_socket(const char *spec, int *port, struct svc_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char addr[INET6_ADDRSTRLEN + 16];
    int fd, one = 1;
    if (parse_listen(spec, &ss, &len, err) != 0)
        return -1;
    format_addr(&ss, addr, sizeof(addr));
    fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        svc_error_set(err, SVC_EIO, "cannot listen on %s: socket: %s", addr, strerror(errno));
        return -1;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, SOMAXCONN) != 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
        svc_error_set(err, SVC_EIO, "cannot listen on %s: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        svc_error_set(err, SVC_EIO, "cannot listen on %s: getsockname: %s", addr, strerror(errno));
        close(fd);
        return -1;
    }
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* Raise the soft fd limit to the hard one, and return the connections the
 * server may hold: a quarter of the limit at most, the rest is the
 * service's (Pub/Sub and Storage connections, files). */
static unsigned fd_budget(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        return 2 * SVC_HTTPD_MAX_CONNECTIONS;
    if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < r.rlim_max) {
        rlim_t was = r.rlim_cur;
        r.rlim_cur = r.rlim_max == RLIM_INFINITY ? NOFILE_CEILING : r.rlim_max;
        if (r.rlim_cur > was && setrlimit(RLIMIT_NOFILE, &r) == 0)
            svc_log(SVC_INFO, SVC_LOG_FIELDS_NONE, "raised the open-file limit from %llu to %llu",
                    (unsigned long long)was, (unsigned long long)r.rlim_cur);
        else
            r.rlim_cur = was;
    }
    if (r.rlim_cur == RLIM_INFINITY || r.rlim_cur / 4 >= 2 * SVC_HTTPD_MAX_CONNECTIONS)
        return 2 * SVC_HTTPD_MAX_CONNECTIONS;
    return r.rlim_cur / 4 < 8 ? 8 : (unsigned)(r.rlim_cur / 4);
}

static int start_thread(struct svc_httpd *h)
{
    sigset_t all, old;
    int rc;
    /* Signals stay with the service's loop (SIGTERM is an ev_signal there). */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&h->thread, NULL, httpd_main, h);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

struct svc_httpd *svc_httpd_create(const char *listen, struct svc_metrics *m, struct svc_error *err)
{
    struct svc_httpd *h;
    const union MHD_DaemonInfo *info;
    int fd, port = 0;

    fd = listen_socket(listen, &port, err);
    if (fd < 0)
        return NULL;
    h = calloc(1, sizeof(*h));
    if (!h) {
        close(fd);
        svc_error_set(err, SVC_ENOMEM, "out of memory");
        return NULL;
    }
    h->m = m;
    h->port = port;
    h->wake[0] = h->wake[1] = -1;
    h->log_last = -1e9;
    pthread_mutex_init(&h->log_mu, NULL);
    h->hard = fd_budget();
    h->keep = h->hard / 2;
    if (h->keep < SVC_HTTPD_MAX_CONNECTIONS)
        svc_log(SVC_NOTICE, SVC_LOG_FIELDS_NONE,
                "the open-file limit leaves the health/metrics server %u connections (not %d)",
                h->keep, SVC_HTTPD_MAX_CONNECTIONS);
    h->slots = calloc(h->hard, sizeof(*h->slots));
    if (!h->slots || pipe(h->wake) != 0) {
        svc_error_set(err, SVC_ENOMEM, "cannot start the health/metrics server: %s",
                      h->slots ? strerror(errno) : "out of memory");
        close(fd);
        goto fail;
    }
    for (unsigned i = 0; i < h->hard; i++) {
        h->slots[i].next = h->free_list;
        h->free_list = &h->slots[i];
    }
    fcntl(h->wake[0], F_SETFD, FD_CLOEXEC);
    fcntl(h->wake[1], F_SETFD, FD_CLOEXEC);
    /* The logger first: MHD reports options given before it on stderr. */
    h->d = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (strchr(listen, '[') ? MHD_USE_IPv6 : 0),
        (uint16_t)port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, h->hard,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(2 * SVC_HTTPD_REQUEST_TIMEOUT_S),
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        h, MHD_OPTION_END);
    if (!h->d) {
        svc_error_set(err, SVC_EIO, "cannot start the health/metrics server on %s", listen);
        close(fd);
        goto fail;
    }
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    h->epoll_fd = info ? info->epoll_fd : -1;
    if (h->epoll_fd < 0 || start_thread(h) != 0) {
        svc_error_set(err, SVC_EIO, "cannot start the health/metrics server's thread");
        goto fail;
    }
    h->running = 1;
    return h;
fail:
    svc_httpd_destroy(h);
    return NULL;
}

void svc_httpd_destroy(struct svc_httpd *h)
{
    if (!h)
        return;
    if (h->running) {
        atomic_store(&h->stop, 1);
        while (write(h->wake[1], "x", 1) < 0 && errno == EINTR)
            ;
        pthread_join(h->thread, NULL);
    }
    if (h->d)
        MHD_stop_daemon(h->d); /* closes the listen socket and every connection */
    if (h->wake[0] >= 0)
        close(h->wake[0]);
    if (h->wake[1] >= 0)
        close(h->wake[1]);
    pthread_mutex_destroy(&h->log_mu);
    free(h->slots);
    free(h);
}

int svc_httpd_port(const struct svc_httpd *h)
{
    return h ? h->port : 0;
}
