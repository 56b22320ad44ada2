/* e2e_harness.c: see e2e_harness.h. Pods get their endpoints through the
 * environment of the child only (set between fork and exec), so the test
 * process keeps talking to the emulators directly. */
/* nftw() needs X/Open. */
#define _XOPEN_SOURCE 700

#include "support/e2e_harness.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <ev.h>
#include <jansson.h>

#include "gcp/gcs.h"
#include "gcp/http.h"
#include "support/svc_it.h"
#include "support/svc_util.h"

#ifndef WIGGLY_BIN
#error "WIGGLY_BIN must name the wiggly binary"
#endif

double e2e_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void e2e_sleep(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int cloud_renew(struct e2e *e)
{
    tcloud_destroy(e->cloud);
    setenv("PUBSUB_EMULATOR_HOST", e->ps.host, 1);
    setenv("STORAGE_EMULATOR_HOST", e->gcs.url, 1);
    e->cloud = tcloud_create();
    return e->cloud ? 0 : -1;
}

int e2e_start(struct e2e *e)
{
    int rc;
    memset(e, 0, sizeof(*e));
    rc = tpubsub_start(&e->ps);
    if (rc != 0) {
        fprintf(stderr, "e2e: Pub/Sub emulator: %s\n", tpubsub_why());
        return rc > 0 ? 1 : -1;
    }
    if (tgcs_start(&e->gcs, NULL) != 0) {
        fprintf(stderr, "e2e: wiggly-gcs-emulator did not start\n");
        tpubsub_stop(&e->ps);
        return -1;
    }
    snprintf(e->pod_ps_host, sizeof(e->pod_ps_host), "%s", e->ps.host);
    if (svc_test_tmpdir(e->dir, sizeof(e->dir), "e2e") != 0 || cloud_renew(e) != 0 ||
        tcloud_bucket(e->cloud, E2E_BUCKET) != 0) {
        fprintf(stderr, "e2e: setup failed\n");
        e2e_stop(e);
        return -1;
    }
    return 0;
}

void e2e_stop(struct e2e *e)
{
    tcloud_destroy(e->cloud);
    e->cloud = NULL;
    tproxy_stop(&e->proxy);
    tgcs_stop(&e->gcs);
    tpubsub_stop(&e->ps);
    if (e->dir[0] && !getenv("WIGGLY_KEEP_TEST_DIR"))
        svc_test_rmtree(e->dir);
    e->dir[0] = 0;
}

int e2e_faults_on(struct e2e *e, const char *const *gcs_args, const char *const *proxy_args)
{
    if (gcs_args && tgcs_restart(&e->gcs, gcs_args) != 0)
        return -1;
    if (proxy_args) {
        const char *args[40];
        char log[300];
        size_t n = 0;
        for (; proxy_args[n] && n < 36; n++)
            args[n] = proxy_args[n];
        snprintf(log, sizeof(log), "%s/proxy.log", e->dir);
        args[n++] = "--log";
        args[n++] = log;
        args[n] = NULL;
        if (tproxy_start(&e->proxy, e->ps.host, args) != 0)
            return -1;
        snprintf(e->pod_ps_host, sizeof(e->pod_ps_host), "%s", e->proxy.host);
    }
    e->faults = 1;
    return cloud_renew(e);
}

int e2e_faults_off(struct e2e *e)
{
    tproxy_stop(&e->proxy);
    memset(&e->proxy, 0, sizeof(e->proxy));
    snprintf(e->pod_ps_host, sizeof(e->pod_ps_host), "%s", e->ps.host);
    if (tgcs_restart(&e->gcs, NULL) != 0)
        return -1;
    e->faults = 0;
    return cloud_renew(e);
}

const char *e2e_topic(const char *name)
{
    return svc_it_topic(name); /* same project */
}

const char *e2e_sub(const char *name)
{
    return svc_it_sub(name);
}

int e2e_topic_observed(struct e2e *e, const char *name)
{
    char check[128];
    snprintf(check, sizeof(check), "%s-check", name);
    if (tcloud_topic(e->cloud, e2e_topic(name)) != 0)
        return -1;
    return tcloud_sub(e->cloud, e2e_sub(check), e2e_topic(name), 60, NULL, 0) == 0 ? 0 : -1;
}

const char *e2e_pod_tmp(struct e2e *e, const char *name)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "%s/tmp-%s", e->dir, name);
    return buf;
}

int e2e_job_json(struct e2e *e, char *out, size_t len, const char *name, const char *sub,
                 const char *in, const char *in_sfx, const char *outp, const char *out_sfx,
                 const char *out_topic, const char *steps, const char *runtime, const char *extra)
{
    char topics[300] = "";
    const char *tmp = e2e_pod_tmp(e, name);
    size_t rl = strlen(runtime);
    int n;
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -1;
    if (out_topic)
        snprintf(topics, sizeof(topics), "\"%s\"", e2e_topic(out_topic));
    /* runtime without its closing brace, then temp_dir. */
    if (rl < 2 || runtime[rl - 1] != '}')
        return -1;
    n = snprintf(out, len,
                 "{\"job\":\"%s\",\"project\":\"" E2E_PROJECT "\","
                 "\"events\":{\"subscription\":\"%s\"},"
                 "\"input\":{\"location\":\"gs://" E2E_BUCKET "/%s/\",\"suffix\":\"%s\"},"
                 "\"output\":{\"location\":\"gs://" E2E_BUCKET "/%s/\",\"suffix\":\"%s\","
                 "\"topics\":[%s]},\"steps\":%s,"
                 "\"runtime\":%.*s%s\"temp_dir\":\"%s\"}%s}",
                 name, e2e_sub(sub), in, in_sfx, outp, out_sfx, topics, steps, (int)(rl - 1),
                 runtime, rl > 2 ? "," : "", tmp, extra);
    return n > 0 && (size_t)n < len ? 0 : -1;
}

int e2e_pod_init(struct e2e *e, struct e2e_pod *p, const char *name, const char *json)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->cfg, sizeof(p->cfg), "%s/%s.json", e->dir, name);
    snprintf(p->log, sizeof(p->log), "%s/%s.log", e->dir, name);
    return svc_test_write_file(p->cfg, json, strlen(json));
}

int e2e_pod_start(struct e2e *e, struct e2e_pod *p)
{
    char listen[64];
    double end;
    pid_t parent = getpid();
    p->port = svc_test_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", p->port);
    char *argv[] = {WIGGLY_BIN, "run",          "-c",   p->cfg, "--listen",
                    listen,     "--log-format", "json", NULL};
    fflush(NULL);
    p->pid = fork();
    if (p->pid < 0)
        return -1;
    if (p->pid == 0) {
        FILE *f;
        /* A failed test longjmps past the pod's stop: die with the test. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        f = freopen(p->log, "a", stdout);
        if (f)
            dup2(fileno(stdout), 2);
        setenv("PUBSUB_EMULATOR_HOST", e->pod_ps_host, 1);
        setenv("STORAGE_EMULATOR_HOST", e->gcs.url, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    end = e2e_now() + 60;
    while (e2e_now() < end) {
        if (e2e_pod_http(p, "/healthz") == 200)
            return 0;
        if (!e2e_pod_alive(p)) {
            fprintf(stderr, "e2e: pod %s exited early (see %s)\n", p->name, p->log);
            return -1;
        }
        e2e_sleep(0.1);
    }
    return -1;
}

int e2e_pod_stop(struct e2e_pod *p, int sig, double limit_s, double *took_s)
{
    int status = -1;
    double t0 = e2e_now();
    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    for (;;) {
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid)
            break;
        if (r < 0) {
            status = -1;
            break;
        }
        if (e2e_now() - t0 > limit_s) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            status = -1;
            break;
        }
        e2e_sleep(0.02);
    }
    if (took_s)
        *took_s = e2e_now() - t0;
    p->pid = 0;
    return status;
}

int e2e_pod_alive(struct e2e_pod *p)
{
    int status;
    if (p->pid <= 0)
        return 0;
    if (waitpid(p->pid, &status, WNOHANG) == 0)
        return 1;
    p->pid = 0;
    return 0;
}

static size_t discard(char *d, size_t sz, size_t n, void *ud)
{
    (void)d;
    (void)ud;
    return sz * n;
}

int e2e_pod_http(const struct e2e_pod *p, const char *path)
{
    CURL *c = curl_easy_init();
    char url[160];
    long code = -1;
    if (!c)
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", p->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return (int)code;
}

double e2e_pod_metric(const struct e2e_pod *p, const char *series)
{
    return svc_test_metric(p->port, series);
}

const char *e2e_element(int i)
{
    static char buf[16][32];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof(buf[k]), "t%03d", i);
    return buf[k];
}

int e2e_upload_tracks(struct e2e *e, const char *prefix, const char *suffix, int n, int rate,
                      int channels, double seconds)
{
    char path[512];
    struct audio_gen_spec g = {0};
    struct audio_error err = {0};
    g.signal = AUDIO_SIG_SINE;
    g.freq = 440;
    g.seconds = seconds;
    g.rate = rate;
    g.channels = channels;
    g.seed = 1;
    snprintf(path, sizeof(path), "%s/upload%s", e->dir, suffix);
    if (audio_gen_file(path, &g, &err) != 0) {
        fprintf(stderr, "e2e: generate %s: %s\n", path, err.msg);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s/%s%s", prefix, e2e_element(i), suffix);
        if (tcloud_upload(e->cloud, E2E_BUCKET, name, path) != 0) {
            fprintf(stderr, "e2e: upload %s failed\n", name);
            unlink(path);
            return -1;
        }
    }
    unlink(path);
    return 0;
}

int e2e_upload_bytes(struct e2e *e, const char *name, const void *data, size_t len)
{
    char p[512];
    int rc;
    snprintf(p, sizeof(p), "%s/upload.bin", e->dir);
    if (svc_test_write_file(p, data, len) != 0)
        return -1;
    rc = tcloud_upload(e->cloud, E2E_BUCKET, name, p);
    unlink(p);
    return rc;
}

int e2e_publish_range(struct e2e *e, const char *topic, int from, int to)
{
    static char buf[100][32];
    const char *msgs[100];
    while (from < to) {
        size_t n = 0;
        for (; from < to && n < 100; from++, n++) {
            snprintf(buf[n], sizeof(buf[n]), "%s", e2e_element(from));
            msgs[n] = buf[n];
        }
        if (tcloud_publish(e->cloud, topic, msgs, n) != 0)
            return -1;
    }
    return 0;
}

/* The element of a downstream message (JSON) or of a plain ID. */
static int element_index(const char *data)
{
    json_error_t je;
    json_t *j = json_loads(data, 0, &je);
    const char *el = data;
    int k = -1;
    char tail;
    if (j && json_is_object(j))
        el = json_string_value(json_object_get(j, "element"));
    if (el && sscanf(el, "t%d%c", &k, &tail) != 1)
        k = -1;
    json_decref(j);
    return k;
}

int e2e_collect(struct e2e *e, const char *sub, int n, double limit_s, int *seen, int *other)
{
    enum { CAP = 100 };
    static struct tmsg m[CAP];
    int distinct = 0;
    double end = e2e_now() + limit_s;
    for (int i = 0; i < n; i++)
        distinct += seen[i] > 0;
    while (distinct < n && e2e_now() < end) {
        /* Ask for what is missing, so the pull returns once it is all here. */
        size_t want = (size_t)(n - distinct) < CAP ? (size_t)(n - distinct) : CAP;
        size_t got = tcloud_pull(e->cloud, sub, want, 2.0, m, CAP);
        for (size_t i = 0; i < got; i++) {
            int k = m[i].data ? element_index(m[i].data) : -1;
            if (k >= 0 && k < n) {
                if (seen[k]++ == 0)
                    distinct++;
            } else if (other) {
                (*other)++;
            }
        }
        tmsg_cleanup(m, got);
    }
    return distinct;
}

/* ---- listing: a private loop around gcp_gcs_list ---- */

struct lister {
    char **names;
    size_t n, cap;
    char token[512];
    int done, code, more;
};

static void on_list(void *ud, const struct gcp_error *err, const struct gcp_gcs_object *objs,
                    size_t n, const char *const *prefixes, size_t n_prefixes,
                    const char *next_page_token)
{
    struct lister *l = ud;
    (void)prefixes;
    (void)n_prefixes;
    l->done = 1;
    l->code = err ? (err->code ? err->code : -1) : 0;
    if (err)
        return;
    for (size_t i = 0; i < n; i++) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 256;
            char **nn = realloc(l->names, cap * sizeof(*nn));
            if (!nn) {
                l->code = -1;
                return;
            }
            l->names = nn;
            l->cap = cap;
        }
        l->names[l->n++] = strdup(objs[i].name);
    }
    l->more = next_page_token && *next_page_token;
    snprintf(l->token, sizeof(l->token), "%s", l->more ? next_page_token : "");
}

int e2e_list(struct e2e *e, const char *prefix, char ***names, size_t *n)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct gcp_http *http = loop ? gcp_http_create(loop, NULL) : NULL;
    struct gcp_error ge = {0};
    struct gcp_gcs *gcs = http ? gcp_gcs_create(http, NULL, e->gcs.url, &ge) : NULL;
    struct lister l = {0};
    int rc = -1;
    if (gcs) {
        do {
            double end = ev_time() + 120;
            l.done = 0;
            if (gcp_gcs_list(gcs, E2E_BUCKET, prefix, NULL, l.token[0] ? l.token : NULL, 1000,
                             on_list, &l) != 0)
                break;
            while (!l.done && ev_time() < end)
                ev_run(loop, EVRUN_ONCE);
            if (!l.done || l.code != 0)
                break;
        } while (l.more);
        rc = l.done && l.code == 0 && !l.more ? 0 : (l.code ? l.code : -1);
    }
    if (http)
        gcp_http_cancel_all(http);
    gcp_gcs_destroy(gcs);
    gcp_http_destroy(http);
    if (loop)
        ev_loop_destroy(loop);
    if (rc != 0) {
        e2e_names_free(l.names, l.n);
        return rc;
    }
    *names = l.names;
    *n = l.n;
    return 0;
}

void e2e_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int e2e_probe(struct e2e *e, const char *name, struct audio_info *info)
{
    char p[512];
    struct audio_error err = {0};
    int rc;
    snprintf(p, sizeof(p), "%s/probe", e->dir);
    rc = tcloud_download(e->cloud, E2E_BUCKET, name, p);
    if (rc == 0) {
        rc = audio_probe_file(p, info, &err);
        if (rc != 0)
            fprintf(stderr, "e2e: probe %s: %s\n", name, err.msg);
    }
    unlink(p);
    return rc;
}

static int n_files;

static int count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)sb;
    (void)ftw;
    if (flag == FTW_F || flag == FTW_SL)
        n_files++;
    return 0;
}

int e2e_count_files(const char *dir)
{
    n_files = 0;
    if (nftw(dir, count_entry, 16, FTW_PHYS) != 0)
        return -1;
    return n_files;
}

int e2e_chain_start(struct e2e *e, int ack_deadline_s, int n, double seconds)
{
    int rc = e2e_start(e);
    if (rc != 0)
        return rc;
    if (tcloud_topic(e->cloud, e2e_topic("A-in")) || e2e_topic_observed(e, "A-out") ||
        e2e_topic_observed(e, "B-out") || e2e_topic_observed(e, "A-dead") ||
        e2e_topic_observed(e, "B-dead") ||
        tcloud_sub(e->cloud, e2e_sub("A-sub"), e2e_topic("A-in"), ack_deadline_s, NULL, 0) ||
        tcloud_sub(e->cloud, e2e_sub("B-sub"), e2e_topic("A-out"), ack_deadline_s, NULL, 0) ||
        e2e_upload_tracks(e, "src", ".flac", n, 44100, 2, seconds))
        return -1;
    return 0;
}

int e2e_chain_pod(struct e2e *e, struct e2e_pod *p, const char *pod, int job_b, const char *steps_a,
                  const char *runtime)
{
    char json[4096];
    if (job_b)
        return e2e_job_json(e, json, sizeof(json), "B", "B-sub", "a", ".flac", "b", ".wav", "B-out",
                            "{\"channels\":\"mono\",\"rate\":8000,\"format\":\"wav\"}", runtime,
                            ",\"dead_letter_topic\":\"projects/p/topics/B-dead\"") ||
               e2e_pod_init(e, p, pod, json);
    return e2e_job_json(e, json, sizeof(json), "A", "A-sub", "src", ".flac", "a", ".flac", "A-out",
                        steps_a, runtime, ",\"dead_letter_topic\":\"projects/p/topics/A-dead\"") ||
           e2e_pod_init(e, p, pod, json);
}

int e2e_pod_stop_clean(struct e2e_pod *p, double limit_s)
{
    int st = e2e_pod_stop(p, SIGTERM, limit_s, NULL);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "e2e: pod %s did not exit 0 on SIGTERM (status %d; log %s)\n", p->name, st,
                p->log);
        return -1;
    }
    return 0;
}

size_t e2e_drain_sub(struct e2e *e, const char *sub, double wait_s)
{
    static struct tmsg m[16];
    size_t got = tcloud_pull(e->cloud, sub, 16, wait_s, m, 16);
    tmsg_cleanup(m, got);
    return got;
}

void e2e_explain(const struct e2e_pod *pods, int n, const char *element)
{
    char want[96];
    snprintf(want, sizeof(want), "\"element\":\"%s\"", element);
    for (int i = 0; i < n; i++) {
        char line[4096];
        int shown = 0;
        FILE *f = fopen(pods[i].log, "r");
        if (!f)
            continue;
        while (fgets(line, sizeof(line), f) && shown < 40)
            if (strstr(line, want) || strstr(line, "\"severity\":\"WARNING\"") ||
                strstr(line, "\"severity\":\"ERROR\"")) {
                printf("e2e: %s: %s", pods[i].name, line);
                shown++;
            }
        fclose(f);
    }
    fflush(stdout);
}

int e2e_dups(const int *seen, int n)
{
    int d = 0;
    for (int i = 0; i < n; i++)
        d += seen[i] > 1 ? seen[i] - 1 : 0;
    return d;
}
