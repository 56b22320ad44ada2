/* emu_server.c: libmicrohttpd glue for the GCS emulator. One thread per
 * connection (MHD_USE_THREAD_PER_CONNECTION), so injected latency only
 * stalls its own connection. The URI log callback allocates the request and
 * keeps the raw request target: MHD would otherwise percent-decode the path
 * and turn an object name's %2F into a separator. Bodies stream into a sink
 * chosen by emu_api_begin (memory up to 1 MiB, a temporary file, or the
 * resumable upload's file). The completion callback logs one line per
 * request and frees it.
 *
 * Connections: MHD's default cap is FD_SETSIZE - 4 = 1020 even with poll(),
 * and past it MHD accepts and closes each new connection without a word.
 * The cap here is set explicitly (emu_server.h), MHD_USE_POLL keeps every
 * thread off select() so descriptors above 1023 work, and the accept policy
 * callback enforces the cap itself so that each refusal is counted and
 * logged (rate-limited). MHD cannot combine thread-per-connection with
 * epoll, and a shared epoll thread would let --latency-ms stall every
 * connection, so the threading model stays as it was.
 *
 * Locks: log_lock serialises writes to the log and the libmicrohttpd
 * message limiter. The open count is atomic: MHD notifies a connection's
 * start on the listening thread but its close on the connection's own
 * thread. The accept callback runs on the listening thread only, so the
 * refusal counters need no lock; emu_server_stop reads them after MHD has
 * joined that thread. */
#include "emulator/emu_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "emulator/emu_server_int.h"

struct emu_server {
    struct MHD_Daemon *d;
    struct emu_store *store;
    struct emu_fault fault;
    FILE *log;
    pthread_mutex_t log_lock;
    char host[64];
    int port;
    uint64_t chunk_persist_max;

    /* Connection cap; listening thread only (see the top of the file). */
    unsigned max_connections;
    atomic_uint open; /* connections MHD holds (its notifications come from
                         connection threads too) */
    uint64_t refused_total, refused_pending;
    uint64_t refused_first_us;  /* first refusal not yet reported */
    uint64_t refused_report_us; /* last report line */

    /* libmicrohttpd's own messages: at most one line a second (log_lock). */
    uint64_t mhd_report_us;
    uint64_t mhd_suppressed;
};

/* Seconds between two log lines about refusals, or about MHD messages. */
#define REPORT_INTERVAL_US 1000000u

uint64_t emu_req_chunk_persist_max(const struct emu_req *r)
{
    return r->srv->chunk_persist_max;
}

const char *emu_req_query(const struct emu_req *r, const char *key)
{
    for (size_t i = 0; i < r->nq; i++)
        if (strcmp(r->qk[i], key) == 0)
            return r->qv[i];
    return NULL;
}

const char *emu_req_header(const struct emu_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void emu_req_base(const struct emu_req *r, char *out, size_t cap)
{
    const char *host = emu_req_header(r, "Host");
    int ok = host && *host && strlen(host) < 200;
    for (const char *p = host; ok && *p; p++)
        if (*p <= ' ' || *p == '/' || *p == '"' || *p == '\\')
            ok = 0;
    if (ok)
        snprintf(out, cap, "http://%s", host);
    else if (strchr(r->srv->host, ':'))
        snprintf(out, cap, "http://[%s]:%d", r->srv->host, r->srv->port);
    else
        snprintf(out, cap, "http://%s:%d", r->srv->host, r->srv->port);
}

enum MHD_Result emu_req_queue(struct emu_req *r, int status, struct MHD_Response *resp)
{
    enum MHD_Result ret;
    if (!resp)
        return MHD_NO;
    r->status = status;
    ret = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result emu_req_json(struct emu_req *r, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    struct MHD_Response *resp;
    json_decref(body);
    if (!text)
        return MHD_NO;
    r->bytes = strlen(text);
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json; charset=UTF-8");
    return emu_req_queue(r, status, resp);
}

enum MHD_Result emu_req_error(struct emu_req *r, const struct emu_err *e)
{
    json_t *item, *body;
    if (e->status == 304)
        return emu_req_empty(r, 304);
    item = json_pack("{s:s, s:s, s:s}", "message", e->message, "domain", "global", "reason",
                     e->reason ? e->reason : "invalid");
    if (item && e->status == 412) {
        json_object_set_new(item, "locationType", json_string("header"));
        json_object_set_new(item, "location", json_string("If-Match"));
    }
    body = json_pack("{s:{s:i, s:s, s:[o]}}", "error", "code", e->status, "message", e->message,
                     "errors", item);
    if (!body)
        return MHD_NO;
    return emu_req_json(r, e->status, body);
}

enum MHD_Result emu_req_errorf(struct emu_req *r, int status, const char *reason, const char *fmt,
                               ...)
{
    struct emu_err e;
    va_list ap;
    e.status = status;
    e.reason = reason;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    return emu_req_error(r, &e);
}

enum MHD_Result emu_req_empty(struct emu_req *r, int status)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    r->bytes = 0;
    return emu_req_queue(r, status, resp);
}

/* ---- query parsing ---- */

/* Takes ownership of k and v; drops both if either is NULL. */
static void push_query(struct emu_req *r, char *k, char *v)
{
    if (k && v) {
        r->qk[r->nq] = k;
        r->qv[r->nq] = v;
        r->nq++;
        return;
    }
    free(k);
    free(v);
}

/* Query strings use form encoding: '+' is a space (gcloud sends
 * prefix=dir%2Fa+b for "dir/a b"); a literal '+' arrives as %2B. */
static void parse_query(struct emu_req *r, const char *raw)
{
    size_t n = 1;
    char *q0 = strdup(raw), *q = q0;
    if (!q0)
        return;
    for (char *p = q0; *p; p++)
        if (*p == '+')
            *p = ' ';
    for (const char *p = q; *p; p++)
        n += *p == '&';
    r->qk = calloc(n, sizeof(char *));
    r->qv = calloc(n, sizeof(char *));
    if (!r->qk || !r->qv) {
        free(q0);
        return;
    }
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t len = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        if (len > 0) {
            size_t vlen = 0;
            char *k = emu_pct_decode(q, klen, NULL);
            char *v = eq ? emu_pct_decode(eq + 1, len - klen - 1, &vlen) : strdup("");
            if (v && vlen != strlen(v))
                r->bad_query = 1; /* %00 would silently truncate the value */
            if (!k || !v) {
                /* A malformed escape makes the value unusable; keep it raw. */
                free(k);
                free(v);
                k = strndup(q, klen);
                v = eq ? strndup(eq + 1, len - klen - 1) : strdup("");
            }
            push_query(r, k, v);
        }
        q += len;
        if (*q == '&')
            q++;
    }
    free(q0);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct emu_server *s = cls;
    struct emu_req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->srv = s;
    r->store = s->store;
    r->conn = conn;
    r->uri = strdup(uri ? uri : "");
    r->fd = -1;
    r->fault = EMU_FAULT_NONE;
    r->start_us = emu_now_usec();
    return r;
}

static void req_free(struct emu_req *r)
{
    for (size_t i = 0; i < r->nq; i++) {
        free(r->qk[i]);
        free(r->qv[i]);
    }
    free(r->qk);
    free(r->qv);
    for (size_t i = 0; i < r->nseg; i++)
        free(r->seg[i]);
    free(r->seg);
    free(r->body);
    if (r->fd >= 0)
        close(r->fd);
    if (r->mode == EMU_BODY_FILE && r->tmp_path[0])
        unlink(r->tmp_path);
    if (r->hashing)
        emu_hasher_cleanup(&r->hasher);
    free(r->uri);
    free(r);
}

static void log_line(struct emu_server *s, struct emu_req *r, int dropped)
{
    uint64_t ms = (emu_now_usec() - r->start_us) / 1000u;
    pthread_mutex_lock(&s->log_lock);
    if (dropped)
        fprintf(s->log, "%s %s drop 0 %llu FAULT\n", r->method[0] ? r->method : "-", r->uri,
                (unsigned long long)ms);
    else
        fprintf(s->log, "%s %s %d %llu %llu%s\n", r->method[0] ? r->method : "-", r->uri, r->status,
                (unsigned long long)r->bytes, (unsigned long long)ms,
                r->fault > 0 || r->corrupted ? " FAULT" : "");
    fflush(s->log);
    pthread_mutex_unlock(&s->log_lock);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct emu_server *s = cls;
    struct emu_req *r = *con_cls;
    if (!r)
        return;
    if (r->started && r->fault == EMU_FAULT_NONE)
        emu_api_complete(r, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    log_line(s, r, r->fault == EMU_FAULT_DROP);
    req_free(r);
    *con_cls = NULL;
}

static const char *fault_reason(int status)
{
    switch (status) {
    case 429:
        return "rateLimitExceeded";
    case 408:
        return "requestTimeout";
    case 500:
        return "internalError";
    default:
        return "backendError";
    }
}

static void body_write(struct emu_req *r, const char *data, size_t size)
{
    switch (r->mode) {
    case EMU_BODY_DISCARD:
        break;
    case EMU_BODY_MEMORY:
        if (r->body_too_big || r->body_len + size > EMU_BODY_MAX) {
            r->body_too_big = 1;
            break;
        }
        {
            char *nb = realloc(r->body, r->body_len + size + 1);
            if (!nb) {
                r->body_too_big = 1;
                break;
            }
            r->body = nb;
            memcpy(r->body + r->body_len, data, size);
            r->body_len += size;
            r->body[r->body_len] = '\0';
        }
        break;
    case EMU_BODY_FILE:
    case EMU_BODY_CHUNK:
        if (r->mode == EMU_BODY_CHUNK && r->skip) {
            size_t k = size < r->skip ? size : (size_t)r->skip;
            r->skip -= k;
            data += k;
            size -= k;
        }
        if (r->hashing)
            emu_hasher_update(&r->hasher, data, size);
        while (size > 0 && !r->write_failed && r->fd >= 0) {
            ssize_t w = pwrite(r->fd, data, size, (off_t)r->write_off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                r->write_failed = 1;
                break;
            }
            r->write_off += (uint64_t)w;
            data += w;
            size -= (size_t)w;
        }
        break;
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct emu_server *s = cls;
    struct emu_req *r = *con_cls;
    if (!r)
        return MHD_NO;
    if (!r->started) {
        const char *q;
        r->started = 1;
        r->conn = conn;
        snprintf(r->method, sizeof(r->method), "%s", method);
        q = strchr(r->uri, '?');
        if (q)
            parse_query(r, q + 1);
        if (emu_fault_applies(&s->fault, r->uri) && s->fault.latency_ms) {
            struct timespec ts = {(time_t)(s->fault.latency_ms / 1000u),
                                  (long)(s->fault.latency_ms % 1000u) * 1000000L};
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        }
        r->fault = emu_fault_pick(&s->fault, r->uri);
        if (r->fault == EMU_FAULT_CORRUPT) {
            /* Handled normally; do_media flips a byte of the bytes served. */
            r->fault = EMU_FAULT_NONE;
            r->corrupt = 1;
        }
        if (r->fault == EMU_FAULT_DROP)
            return MHD_NO;
        if (r->fault == EMU_FAULT_NONE)
            emu_api_begin(r);
        return MHD_YES;
    }
    if (*upload_data_size) {
        r->received += *upload_data_size;
        if (r->fault == EMU_FAULT_NONE)
            body_write(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->status)
        return MHD_YES;
    if (r->fault > 0)
        return emu_req_errorf(r, r->fault, fault_reason(r->fault), "Injected fault %d.", r->fault);
    return emu_api_finish(r);
}

/* ---- connection cap and diagnostics ---- */

static uint64_t mono_usec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void log_text(struct emu_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void log_text(struct emu_server *s, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&s->log_lock);
    va_start(ap, fmt);
    vfprintf(s->log, fmt, ap);
    va_end(ap);
    fflush(s->log);
    pthread_mutex_unlock(&s->log_lock);
}

/* One line for the refusals since the last one. Listening thread, or stop
 * after MHD has joined it. */
static void report_refused(struct emu_server *s, uint64_t now)
{
    if (!s->refused_pending)
        return;
    log_text(s,
             "wiggly-gcs-emulator: refused %llu connection%s in %.1f s (%llu since start): "
             "the limit is %u at once (--max-connections, open files limit)\n",
             (unsigned long long)s->refused_pending, s->refused_pending == 1 ? "" : "s",
             (double)(now - s->refused_first_us) / 1e6, (unsigned long long)s->refused_total,
             s->max_connections);
    s->refused_pending = 0;
    s->refused_report_us = now;
}

/* Pending refusals are reported once a second has passed since the last
 * report, at the next event on the listening thread (or at stop). */
static void maybe_report_refused(struct emu_server *s)
{
    uint64_t now;
    if (!s->refused_pending)
        return;
    now = mono_usec();
    if (!s->refused_report_us || now - s->refused_report_us >= REPORT_INTERVAL_US)
        report_refused(s, now);
}

/* MHD's accept policy callback, called for each accepted socket before MHD
 * counts it; MHD_NO makes MHD close it. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct emu_server *s = cls;
    (void)addr;
    (void)addrlen;
    if (atomic_load(&s->open) < s->max_connections) {
        maybe_report_refused(s);
        return MHD_YES;
    }
    if (!s->refused_pending++)
        s->refused_first_us = mono_usec();
    s->refused_total++;
    maybe_report_refused(s);
    return MHD_NO;
}

/* STARTED once a connection is counted, CLOSED when MHD frees it (both on
 * the listening thread). */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct emu_server *s = cls;
    (void)conn;
    (void)socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&s->open, 1);
    else
        atomic_fetch_sub(&s->open, 1);
    maybe_report_refused(s);
}

/* MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's diagnostics (a thread that
 * could not be created, accept() failing for lack of descriptors, a client
 * gone mid-request), from any thread. At most one line a second; the others
 * are counted and the count rides on the next line. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct emu_server *s = cls;
    char msg[512];
    size_t n;
    uint64_t now = mono_usec();
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    pthread_mutex_lock(&s->log_lock);
    if (s->mhd_report_us && now - s->mhd_report_us < REPORT_INTERVAL_US) {
        s->mhd_suppressed++;
    } else {
        if (s->mhd_suppressed)
            fprintf(s->log,
                    "wiggly-gcs-emulator: libmicrohttpd: %s (%llu earlier messages not shown)\n",
                    msg, (unsigned long long)s->mhd_suppressed);
        else
            fprintf(s->log, "wiggly-gcs-emulator: libmicrohttpd: %s\n", msg);
        fflush(s->log);
        s->mhd_suppressed = 0;
        s->mhd_report_us = now;
    }
    pthread_mutex_unlock(&s->log_lock);
}

/* The cap: the one asked for (or the default), lowered so that every
 * connection can hold two descriptors. */
static unsigned connection_cap(unsigned want, rlim_t *soft)
{
    struct rlimit rl;
    if (!want)
        want = EMU_MAX_CONNECTIONS;
    *soft = RLIM_INFINITY;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        rlim_t fit = rl.rlim_cur > 2 * EMU_FD_RESERVE ? (rl.rlim_cur - EMU_FD_RESERVE) / 2 : 32;
        *soft = rl.rlim_cur;
        if (fit < want)
            want = (unsigned)fit;
    }
    return want;
}

/* Leave escapes alone: the URI log callback keeps the raw target, and
 * emu_api decodes each path segment and query value itself. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

int emu_server_start(struct emu_server **out, const struct emu_options *o, char *err, size_t errcap)
{
    struct emu_server *s = calloc(1, sizeof(*s));
    struct emu_err e = {0};
    struct sockaddr_storage ss;
    socklen_t sslen;
    const union MHD_DaemonInfo *info;
    rlim_t soft;
    /* MHD_USE_POLL: connection threads poll() their socket; select() would
     * refuse descriptors above FD_SETSIZE. MHD_USE_ERROR_LOG: diagnostics
     * go to on_mhd_log. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG;
    memset(&ss, 0, sizeof(ss));
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->log_lock, NULL);
    s->log = o->log ? o->log : stderr;
    snprintf(s->host, sizeof(s->host), "%s", o->host ? o->host : "127.0.0.1");
    emu_fault_init(&s->fault, o->seed);
    s->fault.rate = o->fault_rate;
    if (o->n_fault_statuses) {
        memcpy(s->fault.statuses, o->fault_statuses, sizeof(s->fault.statuses));
        s->fault.n_statuses = o->n_fault_statuses;
    }
    s->fault.route = o->fault_route;
    s->fault.latency_ms = o->latency_ms;
    s->chunk_persist_max = o->chunk_persist_max;
    s->max_connections = connection_cap(o->max_connections, &soft);
    if (emu_store_open(&s->store, o->root, &e) < 0) {
        snprintf(err, errcap, "%s", e.message);
        goto fail;
    }
    if (strchr(s->host, ':')) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET6, s->host, &a6->sin6_addr) != 1) {
            snprintf(err, errcap, "--host %s: not an IP address", s->host);
            goto fail;
        }
        sslen = sizeof(*a6);
        flags |= MHD_USE_IPv6;
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET, s->host, &a4->sin_addr) != 1) {
            snprintf(err, errcap, "--host %s: not an IPv4/IPv6 address", s->host);
            goto fail;
        }
        sslen = sizeof(*a4);
    }
    (void)sslen;
    /* The logger goes first, or MHD prints its complaints about the options
     * that precede it to stderr. MHD's own cap sits above ours, so on_accept
     * decides every refusal. */
    s->d = MHD_start_daemon(
        flags, (uint16_t)o->port, on_accept, s, on_request, s, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_URI_LOG_CALLBACK,
        on_uri, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, s, MHD_OPTION_CONNECTION_LIMIT, s->max_connections + 16u,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(256 * 1024), MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errcap, "cannot listen on %s:%d: %s", s->host, o->port, strerror(errno));
        goto fail;
    }
    info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : o->port;
    if (soft == RLIM_INFINITY)
        log_text(s, "wiggly-gcs-emulator: at most %u connections at once (open files: unlimited)\n",
                 s->max_connections);
    else
        log_text(s, "wiggly-gcs-emulator: at most %u connections at once (open files: %llu)\n",
                 s->max_connections, (unsigned long long)soft);
    *out = s;
    return 0;
fail:
    emu_server_stop(s);
    return -1;
}

unsigned emu_server_connections(struct emu_server *s)
{
    return atomic_load(&s->open);
}

int emu_server_port(const struct emu_server *s)
{
    return s->port;
}

void emu_server_stop(struct emu_server *s)
{
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d);
    /* MHD's threads are gone: report what is still pending. */
    report_refused(s, mono_usec());
    if (s->mhd_suppressed)
        fprintf(s->log, "wiggly-gcs-emulator: libmicrohttpd: %llu more messages not shown\n",
                (unsigned long long)s->mhd_suppressed);
    emu_store_destroy(s->store);
    emu_fault_cleanup(&s->fault);
    pthread_mutex_destroy(&s->log_lock);
    free(s);
}
