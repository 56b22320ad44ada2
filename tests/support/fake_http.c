/* fake_http.c: see fake_http.h. */
#include "fake_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <microhttpd.h>

struct fake_http {
    struct MHD_Daemon *d;
    fake_handler h;
    void *ud;
    int port;
    char url[64];
    pthread_mutex_t mu;
};

struct conn_body {
    char *p;
    size_t len;
};

const char *fake_req_header(const struct fake_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *fake_req_arg(const struct fake_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct fake_http *f = cls;
    struct conn_body *b = *con_cls;
    struct fake_req req;
    struct fake_resp resp;
    struct MHD_Response *mr;
    enum MHD_Result rc;
    int i;

    (void)version;
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b)
            return MHD_NO;
        *con_cls = b;
        return MHD_YES;
    }
    if (*upload_data_size) {
        char *p = realloc(b->p, b->len + *upload_data_size + 1);

        if (!p)
            return MHD_NO;
        memcpy(p + b->len, upload_data, *upload_data_size);
        b->p = p;
        b->len += *upload_data_size;
        b->p[b->len] = '\0';
        *upload_data_size = 0;
        return MHD_YES;
    }
    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    req.method = method;
    req.path = url;
    req.body = b->p ? b->p : "";
    req.body_len = b->len;
    req.conn = conn;
    pthread_mutex_lock(&f->mu);
    f->h(f->ud, &req, &resp);
    pthread_mutex_unlock(&f->mu);
    if (resp.status == 0) {
        free(resp.body);
        return MHD_NO; /* drops the connection */
    }
    if (resp.body && resp.body_len == 0)
        resp.body_len = strlen(resp.body);
    mr =
        MHD_create_response_from_buffer(resp.body_len, resp.body ? resp.body : (void *)"",
                                        resp.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!mr) {
        free(resp.body);
        return MHD_NO;
    }
    if (resp.content_type)
        MHD_add_response_header(mr, "Content-Type", resp.content_type);
    for (i = 0; i < 4; i++)
        if (resp.hdr_name[i])
            MHD_add_response_header(mr, resp.hdr_name[i], resp.hdr_value[i]);
    rc = MHD_queue_response(conn, (unsigned)resp.status, mr);
    MHD_destroy_response(mr);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn_body *b = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (b) {
        free(b->p);
        free(b);
        *con_cls = NULL;
    }
}

struct fake_http *fake_http_start(fake_handler h, void *ud)
{
    struct fake_http *f = calloc(1, sizeof *f);
    const union MHD_DaemonInfo *info;
    struct sockaddr_in a;

    if (!f)
        return NULL;
    f->h = h;
    f->ud = ud;
    pthread_mutex_init(&f->mu, NULL);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    f->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            on_request, f, MHD_OPTION_SOCK_ADDR, &a, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, f, MHD_OPTION_CONNECTION_LIMIT, 200u, MHD_OPTION_END);
    if (!f->d) {
        pthread_mutex_destroy(&f->mu);
        free(f);
        return NULL;
    }
    info = MHD_get_daemon_info(f->d, MHD_DAEMON_INFO_BIND_PORT);
    f->port = info ? info->port : 0;
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d", f->port);
    return f;
}

void fake_http_stop(struct fake_http *f)
{
    if (!f)
        return;
    MHD_stop_daemon(f->d);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

int fake_http_port(const struct fake_http *f)
{
    return f->port;
}

const char *fake_http_url(const struct fake_http *f)
{
    return f->url;
}

void fake_http_lock(struct fake_http *f)
{
    pthread_mutex_lock(&f->mu);
}

void fake_http_unlock(struct fake_http *f)
{
    pthread_mutex_unlock(&f->mu);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(int *)w->data = 1;
    ev_break(loop, EVBREAK_ONE);
}

int fake_loop_wait(struct ev_loop *loop, const int *flag, int target, double limit_s)
{
    ev_timer guard;
    int expired = 0;

    ev_timer_init(&guard, on_guard, limit_s, 0.);
    guard.data = &expired;
    ev_timer_start(loop, &guard);
    while (*flag < target && !expired)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &guard);
    return *flag >= target ? 0 : -1;
}

void fake_loop_sleep(struct ev_loop *loop, double s)
{
    int never = 0;

    fake_loop_wait(loop, &never, 1, s);
}
