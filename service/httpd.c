/* httpd.c: /healthz, /readyz and /metrics on libmicrohttpd's internal
 * polling thread. The handler reads metrics atomics only; no locks. */
#include "service/httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "service/metrics.h"

struct svc_httpd {
    struct MHD_Daemon *d;
    struct svc_metrics *m;
    int port;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                             void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
    enum MHD_Result ret;
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **con_cls)
{
    struct svc_httpd *h = cls;
    (void)version;
    (void)upload;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply(c, 405, "text/plain", "method not allowed\n", 19, MHD_RESPMEM_PERSISTENT);
    if (*upload_len) {
        *upload_len = 0;
        return MHD_YES;
    }
    (void)con_cls;
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
        if (svc_metrics_render(h->m, &body, &len) != 0)
            return reply(c, 500, "text/plain", "render failed\n", 14, MHD_RESPMEM_PERSISTENT);
        return reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", body, len,
                     MHD_RESPMEM_MUST_FREE);
    }
    return reply(c, 404, "text/plain", "not found\n", 10, MHD_RESPMEM_PERSISTENT);
}

struct svc_httpd *svc_httpd_create(const char *listen, struct svc_metrics *m, struct svc_error *err)
{
    struct svc_httpd *h;
    struct sockaddr_in sa;
    const char *colon = strrchr(listen, ':');
    char host[64];
    char *end;
    long port;
    const union MHD_DaemonInfo *info;

    if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
        svc_error_set(err, SVC_EINVAL, "listen address '%s' is not host:port", listen);
        return NULL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = 0;
    port = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || port < 0 || port > 65535) {
        svc_error_set(err, SVC_EINVAL, "listen address '%s': bad port", listen);
        return NULL;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!host[0] || !strcmp(host, "*"))
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    else if (!strcmp(host, "localhost"))
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        svc_error_set(err, SVC_EINVAL, "listen address '%s': host must be an IPv4 address", listen);
        return NULL;
    }
    h = calloc(1, sizeof(*h));
    if (!h) {
        svc_error_set(err, SVC_ENOMEM, "out of memory");
        return NULL;
    }
    h->m = m;
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!h->d) {
        svc_error_set(err, SVC_EIO, "cannot listen on %s (port in use or not permitted)", listen);
        free(h);
        return NULL;
    }
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : (int)port;
    return h;
}

void svc_httpd_destroy(struct svc_httpd *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}

int svc_httpd_port(const struct svc_httpd *h)
{
    return h ? h->port : 0;
}
