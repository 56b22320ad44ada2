/* svc_cloud_sync.c: see svc_cloud_sync.h. Each call runs the private loop
 * until its callback sets a flag; a guard timer ends waits that hang, and
 * the caller then sees an error (tests assert outcomes, never times). */
#include "support/svc_util.h"
#include "support/svc_cloud_sync.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>

#include "gcp/gcs.h"
#include "gcp/http.h"
#include "gcp/pubsub.h"

struct tcloud {
    struct ev_loop *loop;
    struct gcp_http *http;
    struct gcp_pubsub *ps;
    struct gcp_gcs *gcs;
};

struct wait {
    int done;
    int code;
    int64_t generation;
    uint64_t size;
};

static void run_until(struct tcloud *t, int *flag, double limit_s)
{
    double end = ev_time() + limit_s;
    while (!*flag && ev_time() < end)
        ev_run(t->loop, EVRUN_ONCE);
}

struct tcloud *tcloud_create(void)
{
    struct tcloud *t = calloc(1, sizeof(*t));
    struct gcp_error e = {0};
    if (!t)
        return NULL;
    t->loop = ev_loop_new(EVFLAG_AUTO);
    t->http = gcp_http_create(t->loop, NULL);
    t->ps = t->http ? gcp_pubsub_create(t->http, NULL, NULL, &e) : NULL;
    t->gcs = t->http ? gcp_gcs_create(t->http, NULL, NULL, &e) : NULL;
    if (!t->ps || !t->gcs) {
        fprintf(stderr, "tcloud: %s\n", e.msg);
        tcloud_destroy(t);
        return NULL;
    }
    return t;
}

void tcloud_destroy(struct tcloud *t)
{
    if (!t)
        return;
    if (t->http)
        gcp_http_cancel_all(t->http);
    gcp_gcs_destroy(t->gcs);
    gcp_pubsub_destroy(t->ps);
    gcp_http_destroy(t->http);
    if (t->loop)
        ev_loop_destroy(t->loop);
    free(t);
}

static void on_done(void *ud, const struct gcp_error *err)
{
    struct wait *w = ud;
    w->code = err ? err->code : 0;
    w->done = 1;
}

static int finish(struct tcloud *t, struct wait *w, int rc)
{
    if (rc != 0)
        return rc;
    run_until(t, &w->done, 120);
    if (!w->done)
        return GCP_ETIMEOUT;
    return w->code == GCP_EEXISTS ? 0 : w->code;
}

int tcloud_topic(struct tcloud *t, const char *topic)
{
    struct wait w = {0};
    return finish(t, &w, gcp_pubsub_topic_create(t->ps, topic, on_done, &w));
}

int tcloud_sub(struct tcloud *t, const char *sub, const char *topic, int ack_deadline_s,
               const char *dead_letter_topic, int max_delivery_attempts)
{
    struct wait w = {0};
    struct gcp_pubsub_sub_spec spec = {.topic = topic,
                                       .ack_deadline_s = ack_deadline_s,
                                       .dead_letter_topic = dead_letter_topic,
                                       .max_delivery_attempts = max_delivery_attempts};
    return finish(t, &w, gcp_pubsub_subscription_create(t->ps, sub, &spec, on_done, &w));
}

static void on_published(void *ud, const struct gcp_error *err, const char *const *ids, size_t n)
{
    (void)ids;
    (void)n;
    on_done(ud, err);
}

int tcloud_publish(struct tcloud *t, const char *topic, const char *const *data, size_t n)
{
    struct wait w = {0};
    struct gcp_pubsub_message *m = calloc(n, sizeof(*m));
    int rc;
    if (!m)
        return GCP_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        m[i].data = data[i];
        m[i].len = strlen(data[i]);
    }
    rc = finish(t, &w, gcp_pubsub_publish(t->ps, topic, m, n, on_published, &w));
    free(m);
    return rc;
}

void tmsg_cleanup(struct tmsg *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].data);
        for (size_t k = 0; k < m[i].n_attrs; k++) {
            free(m[i].attrs[k][0]);
            free(m[i].attrs[k][1]);
        }
        memset(&m[i], 0, sizeof(m[i]));
    }
}

const char *tmsg_attr(const struct tmsg *m, const char *key)
{
    for (size_t k = 0; k < m->n_attrs; k++)
        if (!strcmp(m->attrs[k][0], key))
            return m->attrs[k][1];
    return NULL;
}

struct pull {
    struct tcloud *t;
    struct tmsg *out;
    size_t cap, got;
    char **ack_ids;
    size_t n_ack;
    int done;
};

static void on_pulled(void *ud, const struct gcp_error *err, const struct gcp_pubsub_received *msgs,
                      size_t n)
{
    struct pull *p = ud;
    p->done = 1;
    if (err || n == 0)
        return;
    p->ack_ids = calloc(n, sizeof(*p->ack_ids));
    for (size_t i = 0; i < n; i++) {
        if (p->ack_ids && (p->ack_ids[p->n_ack] = strdup(msgs[i].ack_id)))
            p->n_ack++;
        if (p->got < p->cap) {
            struct tmsg *m = &p->out[p->got++];
            m->data = malloc(msgs[i].data_len + 1);
            if (m->data) {
                memcpy(m->data, msgs[i].data, msgs[i].data_len);
                m->data[msgs[i].data_len] = 0;
            }
            m->len = msgs[i].data_len;
            for (size_t k = 0; k < msgs[i].n_attrs && k < 8; k++) {
                m->attrs[k][0] = strdup(msgs[i].attrs[k].key);
                m->attrs[k][1] = strdup(msgs[i].attrs[k].value);
                m->n_attrs++;
            }
        }
    }
}

size_t tcloud_pull(struct tcloud *t, const char *sub, size_t want, double limit_s, struct tmsg *out,
                   size_t cap)
{
    struct pull p = {.t = t, .out = out, .cap = cap};
    double end = ev_time() + limit_s;
    /* returnImmediately and a short pause between empty answers: a long poll
     * cut short at the limit stays open on the server (~90 s), which hands
     * it messages published meanwhile, and they come back only after the
     * subscription's ack deadline (a test then waits for an element that
     * is in limbo: the faults_crash stall of issue 11). */
    while (p.got < want && ev_time() < end) {
        size_t before = p.got;
        p.done = 0;
        if (gcp_pubsub_pull_now(t->ps, sub, (int)(want - p.got), on_pulled, &p) != 0)
            break;
        run_until(t, &p.done, 60);
        if (p.n_ack) {
            struct wait w = {0};
            if (gcp_pubsub_ack(t->ps, sub, (const char *const *)p.ack_ids, p.n_ack, on_done, &w) ==
                0)
                run_until(t, &w.done, 60);
        }
        for (size_t i = 0; i < p.n_ack; i++)
            free(p.ack_ids[i]);
        free(p.ack_ids);
        p.ack_ids = NULL;
        p.n_ack = 0;
        if (p.got == before && p.got < want && ev_time() < end)
            svc_test_sleep(0.1);
    }
    return p.got;
}

int tcloud_publish_msgs(struct tcloud *t, const char *topic, const struct tmsg *msgs, size_t n)
{
    struct wait w = {0};
    struct gcp_pubsub_message *m = calloc(n ? n : 1, sizeof(*m));
    struct gcp_pubsub_attr *a = calloc(n ? n * 8 : 1, sizeof(*a));
    int rc = GCP_ENOMEM;
    if (m && a) {
        for (size_t i = 0; i < n; i++) {
            m[i].data = msgs[i].data;
            m[i].len = msgs[i].len;
            m[i].attrs = &a[8 * i];
            m[i].n_attrs = msgs[i].n_attrs;
            for (size_t k = 0; k < msgs[i].n_attrs && k < 8; k++)
                a[8 * i + k] = (struct gcp_pubsub_attr){msgs[i].attrs[k][0], msgs[i].attrs[k][1]};
        }
        rc = finish(t, &w, gcp_pubsub_publish(t->ps, topic, m, n, on_published, &w));
    }
    free(a);
    free(m);
    return rc;
}

struct nack {
    char **ack_ids;
    size_t n;
    int done;
};

static void on_pulled_nack(void *ud, const struct gcp_error *err,
                           const struct gcp_pubsub_received *msgs, size_t n)
{
    struct nack *k = ud;
    k->done = 1;
    if (err || n == 0 || !(k->ack_ids = calloc(n, sizeof(*k->ack_ids))))
        return;
    for (size_t i = 0; i < n; i++)
        if ((k->ack_ids[k->n] = strdup(msgs[i].ack_id)))
            k->n++;
}

size_t tcloud_nack_all(struct tcloud *t, const char *sub, double quiet_s, double limit_s)
{
    size_t total = 0;
    double end = ev_time() + limit_s, quiet = ev_time();
    while (ev_time() < end && ev_time() - quiet < quiet_s) {
        struct nack k = {0};
        if (gcp_pubsub_pull_now(t->ps, sub, 100, on_pulled_nack, &k) != 0)
            break;
        run_until(t, &k.done, 60);
        if (k.n) {
            struct wait w = {0};
            if (gcp_pubsub_modack(t->ps, sub, (const char *const *)k.ack_ids, k.n, 0, on_done,
                                  &w) == 0)
                run_until(t, &w.done, 60);
            total += k.n;
            quiet = ev_time();
        } else {
            svc_test_sleep(0.1);
        }
        for (size_t i = 0; i < k.n; i++)
            free(k.ack_ids[i]);
        free(k.ack_ids);
    }
    return total;
}

int tcloud_bucket(struct tcloud *t, const char *bucket)
{
    struct wait w = {0};
    return finish(t, &w, gcp_gcs_bucket_create(t->gcs, "test-project", bucket, on_done, &w));
}

static void on_object(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *obj)
{
    struct wait *w = ud;
    w->code = err ? err->code : 0;
    if (obj) {
        w->generation = obj->generation;
        w->size = obj->size;
    }
    w->done = 1;
}

int tcloud_upload(struct tcloud *t, const char *bucket, const char *name, const char *path)
{
    struct wait w = {0};
    struct gcp_gcs_write_opts o = {.if_generation_match = GCP_GCS_NO_PRECONDITION};
    return finish(t, &w, gcp_gcs_upload_file(t->gcs, bucket, name, path, &o, on_object, &w));
}

int tcloud_stat(struct tcloud *t, const char *bucket, const char *name, int64_t *generation,
                uint64_t *size)
{
    struct wait w = {0};
    int rc = finish(t, &w, gcp_gcs_stat(t->gcs, bucket, name, on_object, &w));
    if (rc == 0) {
        if (generation)
            *generation = w.generation;
        if (size)
            *size = w.size;
    }
    return rc;
}

int tcloud_download(struct tcloud *t, const char *bucket, const char *name, const char *path)
{
    struct wait w = {0};
    return finish(t, &w, gcp_gcs_download_file(t->gcs, bucket, name, path, NULL, on_object, &w));
}

int tcloud_wait_object(struct tcloud *t, const char *bucket, const char *name, double limit_s)
{
    double end = ev_time() + limit_s;
    for (;;) {
        int rc = tcloud_stat(t, bucket, name, NULL, NULL);
        if (rc == 0)
            return 0;
        if (ev_time() >= end)
            return rc;
        svc_test_sleep(0.2);
    }
}

pid_t svc_test_spawn(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd;
        /* A test that fails (or dies) must not leave its pods running. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    return pid;
}

int svc_test_stop(pid_t pid, int sig, double limit_s)
{
    int status;
    double end;
    if (pid <= 0)
        return -1;
    kill(pid, sig);
    end = ev_time() + limit_s;
    while (ev_time() < end) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -1;
        svc_test_sleep(0.05);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int svc_test_free_port(void)
{
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

struct buf {
    char *p;
    size_t n;
};

static size_t on_body(char *d, size_t sz, size_t n, void *ud)
{
    struct buf *b = ud;
    char *np = realloc(b->p, b->n + sz * n + 1);
    if (!np)
        return 0;
    b->p = np;
    memcpy(b->p + b->n, d, sz * n);
    b->n += sz * n;
    b->p[b->n] = 0;
    return sz * n;
}

double svc_test_metric(int port, const char *series)
{
    CURL *c = curl_easy_init();
    struct buf b = {0};
    char url[128];
    double v = -1;
    if (!c)
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(c) == CURLE_OK && b.p) {
        size_t n = strlen(series);
        for (char *line = b.p; line && *line;) {
            char *nl = strchr(line, '\n');
            if (!strncmp(line, series, n) && line[n] == ' ') {
                v = strtod(line + n + 1, NULL);
                break;
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    free(b.p);
    curl_easy_cleanup(c);
    return v;
}
