/* fault_proxy_main.c: wiggly-fault-proxy, a fault-injecting HTTP/1.1 proxy
 * for tests, put in front of the official Pub/Sub emulator (or any HTTP/1.1
 * upstream) to see how clients cope with errors, dropped connections and
 * latency.
 *
 *   wiggly-fault-proxy --upstream 127.0.0.1:PORT [--port 0]
 *       [--error-rate 0.15] [--error-statuses 500,503,429] [--drop-rate 0.05]
 *       [--latency-ms 200] [--seed N] [--log FILE]
 *
 * The first line on stdout is "wiggly-fault-proxy listening on
 * http://127.0.0.1:PORT". For each request, in order: wait latency-ms; with
 * probability error-rate answer one of error-statuses with a google.rpc.Status
 * JSON body without forwarding (the upstream never sees the request); else
 * with probability drop-rate drop the connection, half of the time before
 * forwarding and half after the upstream answered (the upstream saw the
 * request, the client gets a closed connection: what produces duplicates);
 * else forward and relay the answer. One log line per request.
 *
 * One detached thread per client connection, blocking sockets with poll()
 * timeouts, one upstream connection per client connection (keep-alive on both
 * sides). Request bodies (Content-Length or chunked) are read whole, capped,
 * so a request can be resent once when a kept-alive upstream connection turns
 * out to be closed; responses are streamed. Locks: one mutex for the random
 * generator (decisions are drawn in request order, so a seed reproduces a
 * run for a sequential client), one for the log. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX      (64 * 1024)
#define BODY_MAX      (64 * 1024 * 1024)
#define IO_TIMEOUT_MS (300 * 1000)
#define STATUS_MAX    16

struct options {
    char up_host[64];
    int up_port;
    int port;
    double error_rate, drop_rate;
    int statuses[STATUS_MAX];
    int n_statuses;
    int latency_ms;
    uint64_t seed;
    FILE *log;
};

static struct options opt;
static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t rng_state;
static unsigned long conn_counter;

/* splitmix64: tiny, good enough, and the same sequence everywhere. */
static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double rng_unit(void)
{
    return (double)(rng_next() >> 11) / 9007199254740992.0;
}

enum action { ACT_FORWARD, ACT_ERROR, ACT_DROP_BEFORE, ACT_DROP_AFTER };

static enum action decide(int *status)
{
    pthread_mutex_lock(&rng_lock);
    double e = rng_unit(), d = rng_unit(), side = rng_unit();
    uint64_t pick = rng_next();
    pthread_mutex_unlock(&rng_lock);
    if (e < opt.error_rate && opt.n_statuses > 0) {
        *status = opt.statuses[pick % (uint64_t)opt.n_statuses];
        return ACT_ERROR;
    }
    if (d < opt.drop_rate)
        return side < 0.5 ? ACT_DROP_BEFORE : ACT_DROP_AFTER;
    return ACT_FORWARD;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&log_lock);
    fprintf(opt.log, "%s.%03ldZ ", stamp, ts.tv_nsec / 1000000);
    vfprintf(opt.log, fmt, ap);
    fputc('\n', opt.log);
    fflush(opt.log);
    pthread_mutex_unlock(&log_lock);
    va_end(ap);
}

/* Buffered reader over a blocking socket. */
struct rd {
    int fd;
    char buf[16384];
    size_t off, len;
};

/* 1 = more bytes, 0 = EOF, -1 = error or timeout. */
static int rd_fill(struct rd *r)
{
    if (r->off < r->len)
        return 1;
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    int n = poll(&p, 1, IO_TIMEOUT_MS);
    if (n <= 0)
        return -1;
    ssize_t got;
    do
        got = recv(r->fd, r->buf, sizeof(r->buf), 0);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return -1;
    r->off = 0;
    r->len = (size_t)got;
    return got > 0;
}

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Growable byte buffer with a cap. */
struct buf {
    char *p;
    size_t len, cap;
};

static int buf_add(struct buf *b, const void *data, size_t len, size_t max)
{
    if (len > max || b->len > max - len)
        return -1;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return 0;
}

/* Reads one line including its LF into b. 1 = line, 0 = EOF before any
 * byte, -1 = error, too long or EOF mid-line. */
static int rd_line(struct rd *r, struct buf *b, size_t max)
{
    size_t start = b->len;
    for (;;) {
        int f = rd_fill(r);
        if (f <= 0)
            return f == 0 && b->len == start ? 0 : -1;
        char *nl = memchr(r->buf + r->off, '\n', r->len - r->off);
        size_t take = nl ? (size_t)(nl - (r->buf + r->off)) + 1 : r->len - r->off;
        if (buf_add(b, r->buf + r->off, take, max) < 0)
            return -1;
        r->off += take;
        if (nl)
            return 1;
    }
}

/* Copies n bytes from r to fd (fd < 0: discard; out != NULL: append). */
static int rd_copy(struct rd *r, uint64_t n, int fd, struct buf *out)
{
    while (n) {
        if (rd_fill(r) <= 0)
            return -1;
        size_t take = r->len - r->off;
        if (take > n)
            take = (size_t)n;
        if (fd >= 0 && send_all(fd, r->buf + r->off, take) < 0)
            return -1;
        if (out && buf_add(out, r->buf + r->off, take, BODY_MAX) < 0)
            return -1;
        r->off += take;
        n -= take;
    }
    return 0;
}

/* Case-insensitive header lookup in a header block ("Name: value\r\n"...).
 * Copies the trimmed value into val; 1 if found. */
static int header_get(const char *head, const char *name, char *val, size_t val_len)
{
    size_t nl = strlen(name);
    const char *line = strchr(head, '\n'); /* skip the start line */
    while (line && line[1]) {
        line++;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t l = strcspn(v, "\r\n");
            while (l && (v[l - 1] == ' ' || v[l - 1] == '\t'))
                l--;
            if (l >= val_len)
                l = val_len - 1;
            memcpy(val, v, l);
            val[l] = '\0';
            return 1;
        }
        line = strchr(line, '\n');
    }
    return 0;
}

static int has_token(const char *value, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = value; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        size_t l = strcspn(p, ",");
        size_t t = l;
        while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
            t--;
        if (t == tl && strncasecmp(p, token, tl) == 0)
            return 1;
        p += l;
    }
    return 0;
}

/* Reads a header block (start line + headers + blank line) into b. */
static int read_head(struct rd *r, struct buf *b)
{
    b->len = 0;
    for (;;) {
        size_t before = b->len;
        int rc = rd_line(r, b, HEAD_MAX);
        if (rc <= 0)
            return before == 0 && rc == 0 ? 0 : -1;
        const char *l = b->p + before;
        if (before == 0 && (strcmp(l, "\r\n") == 0 || strcmp(l, "\n") == 0)) {
            b->len = 0; /* tolerate stray CRLF between requests (RFC 9112 2.2) */
            continue;
        }
        if (strcmp(l, "\r\n") == 0 || strcmp(l, "\n") == 0)
            return 1;
    }
}

/* Parses a Content-Length value; -1 if absent, -2 if invalid. */
static int64_t content_length(const char *head)
{
    char v[64];
    if (!header_get(head, "Content-Length", v, sizeof(v)))
        return -1;
    if (!v[0])
        return -2;
    int64_t n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || n > (INT64_MAX - 9) / 10)
            return -2;
        n = n * 10 + (*p - '0');
    }
    return n;
}

static int is_chunked(const char *head)
{
    char v[256];
    return header_get(head, "Transfer-Encoding", v, sizeof(v)) && has_token(v, "chunked");
}

/* Relays a chunked body from r: to fd (if >= 0) and/or into out. */
static int copy_chunked(struct rd *r, int fd, struct buf *out)
{
    struct buf line = {0};
    int rc = -1;
    for (;;) {
        line.len = 0;
        if (rd_line(r, &line, 4096) <= 0)
            goto out;
        char *end;
        errno = 0;
        unsigned long long size = strtoull(line.p, &end, 16);
        if (end == line.p || errno || size > BODY_MAX)
            goto out;
        if (fd >= 0 && send_all(fd, line.p, line.len) < 0)
            goto out;
        if (out && buf_add(out, line.p, line.len, BODY_MAX) < 0)
            goto out;
        if (size == 0)
            break;
        if (rd_copy(r, size + 2, fd, out) < 0) /* data + CRLF */
            goto out;
    }
    for (;;) { /* trailers, up to the blank line */
        line.len = 0;
        if (rd_line(r, &line, 4096) <= 0)
            goto out;
        if (fd >= 0 && send_all(fd, line.p, line.len) < 0)
            goto out;
        if (out && buf_add(out, line.p, line.len, BODY_MAX) < 0)
            goto out;
        if (strcmp(line.p, "\r\n") == 0 || strcmp(line.p, "\n") == 0)
            break;
    }
    rc = 0;
out:
    free(line.p);
    return rc;
}

static const char *rpc_status(int code)
{
    switch (code) {
    case 400:
        return "INVALID_ARGUMENT";
    case 401:
        return "UNAUTHENTICATED";
    case 403:
        return "PERMISSION_DENIED";
    case 404:
        return "NOT_FOUND";
    case 409:
        return "ABORTED";
    case 429:
        return "RESOURCE_EXHAUSTED";
    case 499:
        return "CANCELLED";
    case 500:
        return "INTERNAL";
    case 501:
        return "UNIMPLEMENTED";
    case 503:
        return "UNAVAILABLE";
    case 504:
        return "DEADLINE_EXCEEDED";
    default:
        return "UNKNOWN";
    }
}

static const char *reason(int code)
{
    switch (code) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 409:
        return "Conflict";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}

static int send_error(int fd, int code, int keep_alive)
{
    char body[256], msg[512];
    int bl = snprintf(body, sizeof(body),
                      "{\"error\":{\"code\":%d,\"message\":\"fault injected by "
                      "wiggly-fault-proxy\",\"status\":\"%s\"}}\n",
                      code, rpc_status(code));
    int ml = snprintf(msg, sizeof(msg),
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=UTF-8\r\n"
                      "Content-Length: %d\r\nConnection: %s\r\n\r\n%s",
                      code, reason(code), bl, keep_alive ? "keep-alive" : "close", body);
    return send_all(fd, msg, (size_t)ml);
}

static int upstream_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.up_port)};
    if (inet_pton(AF_INET, opt.up_host, &a.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* Copies the request head minus "Expect" (the proxy answers 100-continue
 * itself, having read the whole body before forwarding). */
static int head_forwardable(const struct buf *in, struct buf *out)
{
    out->len = 0;
    const char *p = in->p;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) + 1 : strlen(p);
        if (strncasecmp(p, "Expect:", 7) != 0 && buf_add(out, p, l, HEAD_MAX + 64) < 0)
            return -1;
        p += l;
    }
    return 0;
}

struct exchange {
    int status;       /* final status from upstream, 0 if none */
    int close_client; /* response is close-delimited or says close */
    /* For the log line, written before the client sees the answer so that a
     * client that got an answer finds its line in the log. */
    unsigned long conn, req;
    const char *method, *target;
    double t0;
};

/* Sends the request and relays one response (after any 1xx) from the
 * upstream to the client (client_fd < 0: read and discard). Returns 0, -1 if
 * the upstream failed before sending any byte (safe to retry on a fresh
 * connection), -2 if it failed mid-response. */
static int exchange(int up, struct rd *ur, const struct buf *head, const struct buf *body,
                    int is_head, int client_fd, struct exchange *x)
{
    struct buf rh = {0};
    int rc = -1;
    x->status = x->close_client = 0;
    if (send_all(up, head->p, head->len) < 0 || (body->len && send_all(up, body->p, body->len)))
        goto out;
    for (;;) {
        int h = read_head(ur, &rh);
        if (h <= 0)
            goto out; /* nothing of this response arrived yet */
        rc = -2;
        int status = 0;
        if (sscanf(rh.p, "HTTP/%*d.%*d %d", &status) != 1 || status < 100 || status > 999)
            goto out;
        if (status >= 100 && status < 200) {
            if (client_fd >= 0 && send_all(client_fd, rh.p, rh.len) < 0)
                goto out;
            rc = -1;
            continue;
        }
        x->status = status;
        if (client_fd >= 0)
            log_line("conn=%lu req=%lu %s %s -> forward %d %.1fms", x->conn, x->req, x->method,
                     x->target, status, now_ms() - x->t0);
        if (client_fd >= 0 && send_all(client_fd, rh.p, rh.len) < 0)
            goto out;
        char conn[128];
        if (header_get(rh.p, "Connection", conn, sizeof(conn)) && has_token(conn, "close"))
            x->close_client = 1;
        if (strncmp(rh.p, "HTTP/1.0", 8) == 0 &&
            !(header_get(rh.p, "Connection", conn, sizeof(conn)) && has_token(conn, "keep-alive")))
            x->close_client = 1;
        int64_t cl = content_length(rh.p);
        if (is_head || status == 204 || status == 304) {
            rc = 0;
        } else if (is_chunked(rh.p)) {
            rc = copy_chunked(ur, client_fd, NULL) == 0 ? 0 : -2;
        } else if (cl >= 0) {
            rc = rd_copy(ur, (uint64_t)cl, client_fd, NULL) == 0 ? 0 : -2;
        } else if (cl == -2) {
            rc = -2;
        } else { /* close-delimited */
            x->close_client = 1;
            for (;;) {
                int f = rd_fill(ur);
                if (f < 0)
                    goto out;
                if (f == 0)
                    break;
                if (client_fd >= 0 && send_all(client_fd, ur->buf + ur->off, ur->len - ur->off) < 0)
                    goto out;
                ur->off = ur->len;
            }
            rc = 0;
        }
        goto out;
    }
out:
    free(rh.p);
    return rc;
}

struct conn {
    int fd;
    unsigned long id;
};

static void *on_connection(void *arg)
{
    struct conn *c = arg;
    struct rd *cr = calloc(1, sizeof(*cr));
    struct rd *ur = calloc(1, sizeof(*ur));
    struct buf head = {0}, fwd = {0}, body = {0};
    int up = -1;
    if (!cr || !ur)
        goto out;
    cr->fd = c->fd;
    for (unsigned long n = 1;; n++) {
        if (read_head(cr, &head) <= 0)
            break;
        double t0 = now_ms();
        char method[16] = "", target[512] = "";
        if (sscanf(head.p, "%15s %511s", method, target) != 2) {
            log_line("conn=%lu req=%lu - - -> bad-request", c->id, n);
            send_error(c->fd, 400, 0);
            break;
        }
        char conn_hdr[128];
        int keep = !(header_get(head.p, "Connection", conn_hdr, sizeof(conn_hdr)) &&
                     has_token(conn_hdr, "close")) &&
                   strstr(head.p, "HTTP/1.0\r\n") == NULL;
        char expect[64];
        if (header_get(head.p, "Expect", expect, sizeof(expect)) &&
            strcasecmp(expect, "100-continue") == 0 &&
            send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
            break;
        body.len = 0;
        int64_t cl = content_length(head.p);
        int body_ok;
        if (is_chunked(head.p))
            body_ok = copy_chunked(cr, -1, &body) == 0;
        else if (cl == -2 || cl > BODY_MAX)
            body_ok = 0;
        else
            body_ok = cl <= 0 || rd_copy(cr, (uint64_t)cl, -1, &body) == 0;
        if (!body_ok) {
            log_line("conn=%lu req=%lu %s %s -> bad-body", c->id, n, method, target);
            send_error(c->fd, 400, 0);
            break;
        }
        if (opt.latency_ms > 0) {
            struct timespec ts = {opt.latency_ms / 1000, (opt.latency_ms % 1000) * 1000000L};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        }
        int status = 0;
        enum action act = decide(&status);
        if (act == ACT_ERROR) {
            log_line("conn=%lu req=%lu %s %s -> error %d (not forwarded) %.1fms", c->id, n, method,
                     target, status, now_ms() - t0);
            int sent = send_error(c->fd, status, keep);
            if (sent < 0 || !keep)
                break;
            continue;
        }
        if (act == ACT_DROP_BEFORE) {
            log_line("conn=%lu req=%lu %s %s -> drop-before (not forwarded) %.1fms", c->id, n,
                     method, target, now_ms() - t0);
            break;
        }
        if (head_forwardable(&head, &fwd) < 0)
            break;
        struct exchange x = {.conn = c->id, .req = n, .method = method, .target = target, .t0 = t0};
        int rc = -1, is_head = strcmp(method, "HEAD") == 0;
        int client = act == ACT_DROP_AFTER ? -1 : c->fd;
        for (int attempt = 0; attempt < 2 && rc == -1; attempt++) {
            if (up < 0 || attempt > 0) {
                if (up >= 0)
                    close(up);
                ur->off = ur->len = 0;
                up = upstream_connect();
                if (up < 0)
                    break;
                ur->fd = up;
            }
            rc = exchange(up, ur, &fwd, &body, is_head, client, &x);
        }
        if (rc != 0) {
            log_line("conn=%lu req=%lu %s %s -> upstream-failed %.1fms", c->id, n, method, target,
                     now_ms() - t0);
            if (rc == -1 && act != ACT_DROP_AFTER)
                send_error(c->fd, 502, 0);
            break;
        }
        if (act == ACT_DROP_AFTER) {
            log_line("conn=%lu req=%lu %s %s -> drop-after (upstream answered %d) %.1fms", c->id, n,
                     method, target, x.status, now_ms() - t0);
            break;
        }
        if (x.close_client || !keep)
            break;
    }
out:
    if (up >= 0)
        close(up);
    close(c->fd);
    free(head.p);
    free(fwd.p);
    free(body.p);
    free(cr);
    free(ur);
    free(c);
    return NULL;
}

static void usage(FILE *f)
{
    fputs("usage: wiggly-fault-proxy --upstream HOST:PORT [--port N] [--error-rate P]\n"
          "       [--error-statuses 500,503,429] [--drop-rate P] [--latency-ms MS]\n"
          "       [--seed N] [--log FILE]\n"
          "HOST is a numeric IPv4 address; P is a probability in [0,1].\n",
          f);
}

static int parse_rate(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0.0 && v <= 1.0))
        return -1;
    *out = v;
    return 0;
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv)
{
    long v;
    opt.log = stderr;
    opt.statuses[0] = 503;
    opt.n_statuses = 1;
    opt.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "wiggly-fault-proxy: %s needs a value\n", a);
            return -1;
        }
        const char *val = argv[++i];
        if (strcmp(a, "--upstream") == 0) {
            const char *colon = strrchr(val, ':');
            if (!colon || colon == val || (size_t)(colon - val) >= sizeof(opt.up_host) ||
                parse_int(colon + 1, 1, 65535, &v) < 0)
                goto bad;
            memcpy(opt.up_host, val, (size_t)(colon - val));
            opt.up_host[colon - val] = '\0';
            struct in_addr tmp;
            if (inet_pton(AF_INET, opt.up_host, &tmp) != 1)
                goto bad;
            opt.up_port = (int)v;
        } else if (strcmp(a, "--port") == 0) {
            if (parse_int(val, 0, 65535, &v) < 0)
                goto bad;
            opt.port = (int)v;
        } else if (strcmp(a, "--error-rate") == 0) {
            if (parse_rate(val, &opt.error_rate) < 0)
                goto bad;
        } else if (strcmp(a, "--drop-rate") == 0) {
            if (parse_rate(val, &opt.drop_rate) < 0)
                goto bad;
        } else if (strcmp(a, "--latency-ms") == 0) {
            if (parse_int(val, 0, 600000, &v) < 0)
                goto bad;
            opt.latency_ms = (int)v;
        } else if (strcmp(a, "--seed") == 0) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(val, &end, 10);
            if (errno || end == val || *end)
                goto bad;
            opt.seed = s;
        } else if (strcmp(a, "--error-statuses") == 0) {
            opt.n_statuses = 0;
            char tmp[256];
            snprintf(tmp, sizeof(tmp), "%s", val);
            char *save = NULL;
            for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (opt.n_statuses == STATUS_MAX || parse_int(t, 400, 599, &v) < 0)
                    goto bad;
                opt.statuses[opt.n_statuses++] = (int)v;
            }
            if (opt.n_statuses == 0)
                goto bad;
        } else if (strcmp(a, "--log") == 0) {
            FILE *f = fopen(val, "a");
            if (!f) {
                fprintf(stderr, "wiggly-fault-proxy: cannot open %s: %s\n", val, strerror(errno));
                return -1;
            }
            opt.log = f;
        } else {
            fprintf(stderr, "wiggly-fault-proxy: unknown option %s\n", a);
            usage(stderr);
            return -1;
        }
        continue;
    bad:
        fprintf(stderr, "wiggly-fault-proxy: bad value for %s: '%s'\n", a, val);
        return -1;
    }
    if (!opt.up_port) {
        fprintf(stderr, "wiggly-fault-proxy: --upstream HOST:PORT is required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0)
        return 2;
    rng_state = opt.seed;
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof(a);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 128) < 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &al) < 0) {
        fprintf(stderr, "wiggly-fault-proxy: cannot listen: %s\n", strerror(errno));
        return 1;
    }
    printf("wiggly-fault-proxy listening on http://127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    log_line("start upstream=%s:%d error-rate=%g drop-rate=%g latency-ms=%d seed=%llu", opt.up_host,
             opt.up_port, opt.error_rate, opt.drop_rate, opt.latency_ms,
             (unsigned long long)opt.seed);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE) { /* wait for a thread to close one */
                struct timespec ts = {0, 50 * 1000000L};
                nanosleep(&ts, NULL);
                continue;
            }
            fprintf(stderr, "wiggly-fault-proxy: accept: %s\n", strerror(errno));
            return 1;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct conn *c = malloc(sizeof(*c));
        pthread_t th;
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->id = ++conn_counter;
        if (pthread_create(&th, &attr, on_connection, c) != 0) {
            close(fd);
            free(c);
        }
    }
}
