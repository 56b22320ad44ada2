/* status.c: `wiggly status -c JOB.json|DIR [--metrics URL] [--interval S]
 * [--json]`: how far a run has come, one line per job. From Cloud
 * Monitoring (gcp/monitoring.h, the same credentials as everything else):
 * the backlog of the job's subscription (subscription/
 * num_undelivered_messages), the age of its oldest unacked message, and the
 * same for the dead-letter subscription (`verify --create` names it after
 * the dead-letter topic). With --metrics, a pod's /metrics read twice,
 * --interval seconds apart: processed, skipped and failed per second.
 *
 * What cannot be known is "unknown" (null in --json), never 0: Pub/Sub's
 * emulator has no Monitoring, a query can fail, a metric can have no point
 * in the last ten minutes. All queries run at once on one private loop
 * (service/sync.h); the whole verb is single-threaded. */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ev.h>
#include <jansson.h>

#include "cli/cli.h"
#include "config/config.h"
#include "gcp/auth.h"
#include "gcp/http.h"
#include "gcp/monitoring.h"
#include "service/metrics.h"
#include "service/sync.h"

#define WINDOW_S         600  /* look back this far for the newest point */
#define MONITORING_LIMIT 60.0 /* seconds for all Monitoring answers */
#define SCRAPE_TIMEOUT   10000L
#define SCRAPE_MAX_BODY  (4u << 20)
#define MAX_JOBS         256

/* One value from Monitoring. */
struct val {
    int known;
    int failed; /* asked, and the answer was an error */
    double v;
    struct job *job;
    struct tally *tally;
};

/* Monitoring answers still awaited; done when the last one came. */
struct tally {
    int pending, done;
};

struct job {
    char config[PATH_MAX];
    char name[128];
    int loaded, batch;
    char sub[512], dead_sub[512]; /* dead_sub "" = no dead-letter topic */
    char why[1024];               /* the first Monitoring error */
    struct val backlog, age, dead, dead_age;
};

/* The outcomes --metrics reports; "failed" is every permanent failure. */
enum { R_PROCESSED, R_SKIPPED, R_FAILED, R_RETRIED, R_COUNT };
static const char *const rate_names[R_COUNT] = {"processed", "skipped", "failed", "retried"};

struct scrape {
    int done, ok;
    double t;
    double v[R_COUNT];
    char why[1024];
};

static void st_usage(FILE *f)
{
    fprintf(f,
            "usage: wiggly status -c JOB.json|DIR [--metrics URL] [--interval S] [--json]\n\n"
            "How far a run has come: one line per job (JOB.json, or every *.json job config\n"
            "in DIR): the subscription's backlog and the age of its oldest unacked message,\n"
            "and the dead letters waiting on the dead-letter subscription, read from Cloud\n"
            "Monitoring (credentials as for run). A batch (events.file) job says \"batch job\".\n"
            "  --metrics URL   a pod's /metrics (http://HOST:8080/metrics): processed,\n"
            "                  skipped and failed per second, from two samples\n"
            "  --interval S    seconds between the two samples (default 5)\n"
            "  --json          one JSON object for scripts; unknown values are null\n"
            "What cannot be known is \"unknown\", never 0: against the emulators\n"
            "(PUBSUB_EMULATOR_HOST set) unless WIGGLY_MONITORING_ENDPOINT names a stand-in,\n"
            "or when a query fails. Exit 0 when every value asked for was read (or cannot\n"
            "exist on the emulators), 1 when a config did not load or a query failed.\n");
}

/* ---- jobs ---- */

static void job_from_config(struct job *j, const char *path)
{
    struct cfg_job *cfg;
    const char *base = strrchr(path, '/');

    snprintf(j->config, sizeof j->config, "%s", path);
    snprintf(j->name, sizeof j->name, "%s", base ? base + 1 : path);
    cfg = cli_job_load("status", path);
    if (!cfg)
        return;
    j->loaded = 1;
    snprintf(j->name, sizeof j->name, "%s", cfg->name);
    if (cfg->events.kind != CFG_EVENTS_PUBSUB) {
        j->batch = 1;
    } else {
        snprintf(j->sub, sizeof j->sub, "%s", cfg->events.subscription);
        if (cfg->dead_letter_topic) {
            const char *t = strstr(cfg->dead_letter_topic, "/topics/");

            if (t)
                snprintf(j->dead_sub, sizeof j->dead_sub, "%.*s/subscriptions/%s",
                         (int)(t - cfg->dead_letter_topic), cfg->dead_letter_topic, t + 8);
        }
    }
    cfg_job_destroy(cfg);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.json in dir, sorted; NULL-terminated, malloc'd. */
static char **list_configs(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = calloc(MAX_JOBS + 1, sizeof *v);

    *n = 0;
    if (!d || !v) {
        if (d)
            closedir(d);
        free(v);
        return NULL;
    }
    while ((e = readdir(d)) && *n < MAX_JOBS) {
        size_t l = strlen(e->d_name);
        struct stat sb;
        char p[PATH_MAX];

        if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0 || e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", e->d_name);
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode) || !(v[*n] = strdup(p)))
            continue;
        (*n)++;
    }
    closedir(d);
    qsort(v, *n, sizeof *v, by_name);
    return v;
}

/* ---- Monitoring ---- */

static void on_point(void *ud, const struct gcp_error *err, const struct gcp_monitoring_point *pt)
{
    struct val *x = ud;

    if (err) {
        x->failed = 1;
        if (!x->job->why[0])
            snprintf(x->job->why, sizeof x->job->why, "%s",
                     err->msg[0] ? err->msg : gcp_strerror(err->code));
    } else if (pt->found) {
        x->known = 1;
        x->v = pt->value;
    } else if (!x->job->why[0]) {
        snprintf(x->job->why, sizeof x->job->why,
                 "Cloud Monitoring has no point in the last %d minutes", WINDOW_S / 60);
    }
    if (--x->tally->pending == 0)
        x->tally->done = 1;
}

static void ask(struct gcp_monitoring *m, struct job *j, struct val *x, const char *sub,
                const char *metric, struct tally *t)
{
    int rc;

    x->job = j;
    x->tally = t;
    rc = gcp_monitoring_subscription_latest(m, sub, metric, WINDOW_S, on_point, x);
    if (rc == 0) {
        t->pending++;
        return;
    }
    x->failed = 1;
    if (!j->why[0])
        snprintf(j->why, sizeof j->why, "%s: %s", sub, gcp_strerror(rc));
}

/* ---- /metrics ---- */

static void on_scrape(void *ud, const struct gcp_error *err, const char *body, size_t len)
{
    static const struct {
        int r;
        const char *outcome;
    } map[] = {{R_PROCESSED, "processed"},
               {R_SKIPPED, "skipped"},
               {R_FAILED, "dead_lettered"},
               {R_FAILED, "missing"},
               {R_RETRIED, "retried"}};
    struct scrape *s = ud;
    int any = 0;

    s->t = ev_time();
    s->done = 1;
    if (err) {
        snprintf(s->why, sizeof s->why, "%s", err->msg[0] ? err->msg : gcp_strerror(err->code));
        return;
    }
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        double v;

        if (svc_metrics_text_value(body, len, "wiggly_messages_total", "outcome", map[i].outcome,
                                   &v) == 0) {
            s->v[map[i].r] += v;
            any = 1;
        }
    }
    if (!any)
        snprintf(s->why, sizeof s->why, "no wiggly_messages_total series in the answer");
    s->ok = any;
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    *(int *)w->data = 1;
}

/* Two samples, interval_s apart (from the first answer). */
static void scrape_twice(struct svc_sync *sy, struct gcp_http *http, const char *url,
                         double interval_s, struct scrape s[2])
{
    for (int i = 0; i < 2; i++) {
        int rc;

        if (i == 1) {
            ev_timer t;
            int fired = 0;

            if (!s[0].ok)
                return;
            ev_timer_init(&t, on_tick, interval_s, 0);
            t.data = &fired;
            ev_timer_start(sy->loop, &t);
            svc_sync_wait(sy, &fired, interval_s + 1);
            ev_timer_stop(sy->loop, &t);
        }
        rc = gcp_http_get(http, url, SCRAPE_MAX_BODY, SCRAPE_TIMEOUT, on_scrape, &s[i]);
        if (rc != 0) {
            snprintf(s[i].why, sizeof s[i].why, "GET %s: %s", url, gcp_strerror(rc));
            return;
        }
        if (svc_sync_wait(sy, &s[i].done, SCRAPE_TIMEOUT / 1000.0 * 4) != 0) {
            snprintf(s[i].why, sizeof s[i].why, "GET %s: no answer", url);
            return;
        }
    }
}

/* ---- output ---- */

static void fmt_count(const struct val *x, char *out, size_t n)
{
    if (x->known)
        snprintf(out, n, "%.0f", x->v);
    else
        snprintf(out, n, "unknown");
}

static void fmt_age(const struct val *x, char *out, size_t n)
{
    long s;

    if (!x->known) {
        snprintf(out, n, "unknown");
        return;
    }
    s = x->v > 0 ? (long)(x->v + 0.5) : 0;
    if (s < 60)
        snprintf(out, n, "%lds", s);
    else if (s < 3600)
        snprintf(out, n, "%ldm%02lds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, n, "%ldh%02ldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, n, "%ldd%02ldh", s / 86400, s % 86400 / 3600);
}

static int have_rates(const struct scrape s[2])
{
    return s[0].ok && s[1].ok && s[1].t > s[0].t;
}

/* Appends v padded to width and a blank; put_line drops trailing blanks. */
static void add(char *line, size_t n, int width, const char *v)
{
    size_t l = strlen(line);

    if (l < n)
        snprintf(line + l, n - l, "%-*s ", width, v);
}

static void put_line(char *line)
{
    size_t l = strlen(line);

    while (l > 0 && line[l - 1] == ' ')
        line[--l] = '\0';
    printf("%s\n", line);
}

static void print_text(const struct job *jobs, size_t n, const char *metrics,
                       const struct scrape s[2])
{
    char line[1024] = "";

    static const char *const head[] = {"JOB",          "BACKLOG",     "OLDEST UNACKED",
                                       "DEAD LETTERS", "DEAD OLDEST", "PROCESSED/S",
                                       "SKIPPED/S",    "FAILED/S"};
    static const int width[] = {24, 10, 14, 12, 12, 12, 10, 10};

    for (int c = 0; c < (metrics ? 8 : 5); c++)
        add(line, sizeof line, width[c], head[c]);
    put_line(line);
    for (size_t i = 0; i < n; i++) {
        const struct job *j = &jobs[i];
        char a[32], b[32], c[32], d[32];

        line[0] = '\0';
        add(line, sizeof line, width[0], j->name);
        if (!j->loaded) {
            snprintf(a, sizeof a, "config does not load:");
            add(line, sizeof line, 0, a);
            add(line, sizeof line, 0, j->config);
            put_line(line);
            continue;
        }
        if (j->batch) {
            add(line, sizeof line, width[1] + width[2] + width[3] + width[4] + 3, "batch job");
        } else {
            fmt_count(&j->backlog, a, sizeof a);
            fmt_age(&j->age, b, sizeof b);
            if (j->dead_sub[0]) {
                fmt_count(&j->dead, c, sizeof c);
                fmt_age(&j->dead_age, d, sizeof d);
            } else {
                snprintf(c, sizeof c, "-");
                snprintf(d, sizeof d, "-");
            }
            add(line, sizeof line, width[1], a);
            add(line, sizeof line, width[2], b);
            add(line, sizeof line, width[3], c);
            add(line, sizeof line, width[4], d);
        }
        for (int r = 0; metrics && r <= R_FAILED; r++) {
            if (have_rates(s))
                snprintf(a, sizeof a, "%.2f", (s[1].v[r] - s[0].v[r]) / (s[1].t - s[0].t));
            else
                snprintf(a, sizeof a, "unknown");
            add(line, sizeof line, width[5 + r], a);
        }
        put_line(line);
    }
}

static json_t *jval(const struct val *x)
{
    return x->known ? json_real(x->v) : json_null();
}

static json_t *json_rates(const char *url, const struct scrape s[2])
{
    json_t *o = json_pack("{s:s}", "url", url);

    if (!have_rates(s)) {
        json_object_set_new(o, "interval_s", json_null());
        json_object_set_new(o, "error",
                            json_string(s[0].why[0]   ? s[0].why
                                        : s[1].why[0] ? s[1].why
                                                      : "?"));
        for (int r = 0; r < R_COUNT; r++)
            json_object_set_new(o, rate_names[r], json_null());
        return o;
    }
    json_object_set_new(o, "interval_s", json_real(s[1].t - s[0].t));
    for (int r = 0; r < R_COUNT; r++)
        json_object_set_new(o, rate_names[r],
                            json_pack("{s:f, s:f, s:f}", "first", s[0].v[r], "last", s[1].v[r],
                                      "per_s", (s[1].v[r] - s[0].v[r]) / (s[1].t - s[0].t)));
    return o;
}

static void print_json(const struct job *jobs, size_t n, const char *metrics,
                       const struct scrape s[2])
{
    json_t *arr = json_array();
    json_t *root = json_pack("{s:o}", "jobs", arr);
    char *text;

    for (size_t i = 0; i < n; i++) {
        const struct job *j = &jobs[i];
        json_t *o = json_pack("{s:s, s:s}", "job", j->name, "config", j->config);

        json_array_append_new(arr, o);
        if (!j->loaded) {
            json_object_set_new(o, "kind", json_null());
            json_object_set_new(o, "error", json_string("the config does not load"));
            continue;
        }
        json_object_set_new(o, "kind", json_string(j->batch ? "batch" : "pubsub"));
        if (!j->batch) {
            json_object_set_new(o, "subscription", json_string(j->sub));
            json_object_set_new(o, "backlog", jval(&j->backlog));
            json_object_set_new(o, "oldest_unacked_s", jval(&j->age));
            json_object_set_new(o, "dead_letter_subscription",
                                j->dead_sub[0] ? json_string(j->dead_sub) : json_null());
            json_object_set_new(o, "dead_letters", jval(&j->dead));
            json_object_set_new(o, "dead_letters_oldest_s", jval(&j->dead_age));
            json_object_set_new(o, "error", j->why[0] ? json_string(j->why) : json_null());
        }
        if (metrics)
            json_object_set_new(o, "metrics", json_rates(metrics, s));
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(root);
}

/* ---- the verb ---- */

static int env_set(const char *name)
{
    const char *v = getenv(name);

    return v && v[0];
}

/* Starts every Monitoring query; t counts the answers awaited. */
static void monitoring_start(struct gcp_monitoring *mon, struct job *jobs, size_t n,
                             struct tally *t)
{
    for (size_t i = 0; i < n; i++) {
        struct job *j = &jobs[i];

        if (!j->loaded || j->batch)
            continue;
        ask(mon, j, &j->backlog, j->sub, "subscription/num_undelivered_messages", t);
        ask(mon, j, &j->age, j->sub, "subscription/oldest_unacked_message_age", t);
        if (j->dead_sub[0]) {
            ask(mon, j, &j->dead, j->dead_sub, "subscription/num_undelivered_messages", t);
            ask(mon, j, &j->dead_age, j->dead_sub, "subscription/oldest_unacked_message_age", t);
        }
    }
}

static int parse_args(int argc, char **argv, const char **config, const char **metrics,
                      double *interval, int *as_json)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            st_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            *as_json = 1;
        } else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && i + 1 < argc) {
            *config = argv[++i];
        } else if (!strcmp(a, "--metrics") && i + 1 < argc) {
            *metrics = argv[++i];
        } else if (!strcmp(a, "--interval") && i + 1 < argc) {
            char *end;

            *interval = strtod(argv[++i], &end);
            if (*end || !(*interval > 0 && *interval <= 300)) {
                fprintf(stderr, "wiggly status: --interval takes seconds in (0, 300]\n");
                return 2;
            }
        } else {
            fprintf(stderr, "wiggly status: unexpected argument '%s' (try wiggly status --help)\n",
                    a);
            return 2;
        }
    }
    if (!*config) {
        fprintf(stderr, "wiggly status: -c JOB.json|DIR is required (try wiggly status --help)\n");
        return 2;
    }
    if (*metrics && strncmp(*metrics, "http://", 7) && strncmp(*metrics, "https://", 8)) {
        fprintf(stderr, "wiggly status: --metrics takes an http:// or https:// URL\n");
        return 2;
    }
    return -1;
}

int cli_status(int argc, char **argv)
{
    const char *config = NULL, *metrics = NULL;
    double interval = 5;
    int as_json = 0, bad = 0, rc;
    struct tally tally = {0};
    struct job *jobs = NULL;
    size_t n = 0;
    struct stat sb;
    struct svc_sync sy;
    struct svc_error se = {0};
    struct gcp_http *http = NULL;
    struct gcp_auth *auth = NULL;
    struct gcp_monitoring *mon = NULL;
    struct scrape s[2];
    struct gcp_http_opts ho = {
        .connect_timeout_ms = 5000, .timeout_ms = 20000, .max_retries = 2, .backoff_max_s = 2};

    rc = parse_args(argc, argv, &config, &metrics, &interval, &as_json);
    if (rc >= 0)
        return rc;
    memset(s, 0, sizeof s);
    memset(&sy, 0, sizeof sy);
    gcp_http_global_init();
    json_object_seed(0);
    if (stat(config, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        char **paths = list_configs(config, &n);

        if (!paths) {
            fprintf(stderr, "wiggly status: cannot read %s: %s\n", config, strerror(errno));
            gcp_http_global_cleanup();
            return 1;
        }
        if (n > 1 && metrics) {
            fprintf(stderr, "wiggly status: --metrics is one pod of one job; %s holds %zu jobs\n",
                    config, n);
            for (size_t i = 0; i < n; i++)
                free(paths[i]);
            free(paths);
            gcp_http_global_cleanup();
            return 2;
        }
        jobs = calloc(n ? n : 1, sizeof *jobs);
        for (size_t i = 0; i < n; i++) {
            if (jobs)
                job_from_config(&jobs[i], paths[i]);
            free(paths[i]);
        }
        free(paths);
        if (n == 0)
            fprintf(stderr, "wiggly status: no *.json job config in %s\n", config);
    } else {
        n = 1;
        jobs = calloc(1, sizeof *jobs);
        if (jobs)
            job_from_config(&jobs[0], config);
    }
    if (!jobs || svc_sync_init(&sy, 0, 0, &se) != 0 || !(http = gcp_http_create(sy.loop, &ho))) {
        fprintf(stderr, "wiggly status: out of memory\n");
        bad = 1;
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        bad |= !jobs[i].loaded;

    if (env_set("PUBSUB_EMULATOR_HOST") && !env_set("WIGGLY_MONITORING_ENDPOINT")) {
        fprintf(stderr, "wiggly status: PUBSUB_EMULATOR_HOST is set and the emulator has no "
                        "Cloud Monitoring: backlogs and ages are unknown\n");
    } else {
        struct gcp_error ge = {0};

        if (!env_set("WIGGLY_MONITORING_ENDPOINT"))
            auth = gcp_auth_create(http, NULL, &ge);
        mon = gcp_monitoring_create(http, auth, NULL, &ge);
        if (!mon) {
            fprintf(stderr, "wiggly status: Cloud Monitoring: %s\n",
                    ge.msg[0] ? ge.msg : gcp_strerror(ge.code));
            bad = 1;
        } else {
            monitoring_start(mon, jobs, n, &tally);
        }
    }
    if (metrics)
        scrape_twice(&sy, http, metrics, interval, s);
    if (tally.pending > 0 && svc_sync_wait(&sy, &tally.done, MONITORING_LIMIT) != 0)
        gcp_http_cancel_all(http); /* the callbacks fire now, while jobs live */
    for (size_t i = 0; i < n; i++) {
        struct job *j = &jobs[i];

        if (!j->loaded || j->batch || !mon)
            continue;
        if (j->backlog.failed || j->age.failed || j->dead.failed || j->dead_age.failed)
            bad = 1;
        if (j->why[0])
            fprintf(stderr, "wiggly status: %s: %s\n", j->name, j->why);
    }
    if (metrics && !have_rates(s)) {
        fprintf(stderr, "wiggly status: --metrics %s: %s\n", metrics,
                s[0].why[0]   ? s[0].why
                : s[1].why[0] ? s[1].why
                              : "no two samples of /metrics");
        bad = 1;
    }
    if (as_json)
        print_json(jobs, n, metrics, s);
    else
        print_text(jobs, n, metrics, s);
out:
    gcp_monitoring_destroy(mon);
    gcp_auth_destroy(auth);
    gcp_http_destroy(http);
    svc_sync_cleanup(&sy);
    free(jobs);
    gcp_http_global_cleanup();
    return bad ? 1 : 0;
}
