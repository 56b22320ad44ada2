/* metrics.c: counters, gauges and histograms as relaxed C11 atomics, and
 * their Prometheus text rendering. Sums of seconds are kept in integer
 * microseconds so they can be atomic without a lock. No locks. */
#include "service/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/svc_error.h"

static const double bucket_le[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1,   2.5,
                                   5,    10,   30,  60,   120, 300, 600};
#define N_BUCKETS (sizeof(bucket_le) / sizeof(bucket_le[0]))

struct histogram {
    atomic_uint_fast64_t bucket[N_BUCKETS]; /* non-cumulative; summed at render */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
};

struct svc_metrics {
    atomic_uint_fast64_t outcome[SVC_OUT_COUNT];
    struct histogram stage[SVC_STAGE_COUNT];
    atomic_uint_fast64_t audio_ms;
    atomic_uint_fast64_t bytes[2];
    atomic_int_fast64_t in_flight;
    atomic_int_fast64_t queue_depth;
    atomic_int_fast64_t workers_busy;
    atomic_int ready;
    atomic_int tf_on;
    struct histogram tf_latency;
    atomic_uint_fast64_t tf_result[SVC_TF_COUNT];
    atomic_int_fast64_t tf_in_flight, tf_ready;
    atomic_uint_fast64_t tf_restarts;
};

static const char *const tf_result_names[SVC_TF_COUNT] = {
    "done", "error", "error_permanent", "crashed", "timeout", "output_missing", "canceled"};

static const char *const outcome_names[SVC_OUT_COUNT] = {
    "processed", "skipped",       "pinged",  "triggered_parent",
    "dropped",   "dead_lettered", "retried", "missing"};
static const char *const stage_names[SVC_STAGE_COUNT] = {"download", "process", "upload"};

const char *svc_outcome_name(enum svc_outcome o)
{
    return (unsigned)o < SVC_OUT_COUNT ? outcome_names[o] : "unknown";
}

const char *svc_stage_name(enum svc_stage s)
{
    return (unsigned)s < SVC_STAGE_COUNT ? stage_names[s] : "unknown";
}

struct svc_metrics *svc_metrics_create(void)
{
    struct svc_metrics *m = calloc(1, sizeof(*m));
    return m; /* all-zero atomics are valid initial states */
}

void svc_metrics_destroy(struct svc_metrics *m)
{
    free(m);
}

void svc_metrics_outcome(struct svc_metrics *m, enum svc_outcome o)
{
    if (m && (unsigned)o < SVC_OUT_COUNT)
        atomic_fetch_add_explicit(&m->outcome[o], 1, memory_order_relaxed);
}

uint64_t svc_metrics_outcome_count(const struct svc_metrics *m, enum svc_outcome o)
{
    if (!m || (unsigned)o >= SVC_OUT_COUNT)
        return 0;
    return atomic_load_explicit(&((struct svc_metrics *)m)->outcome[o], memory_order_relaxed);
}

static void observe(struct histogram *h, double seconds)
{
    size_t i;
    if (!(seconds >= 0))
        seconds = 0;
    for (i = 0; i < N_BUCKETS && seconds > bucket_le[i]; i++)
        ;
    if (i < N_BUCKETS)
        atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(seconds * 1e6 + 0.5), memory_order_relaxed);
}

void svc_metrics_stage(struct svc_metrics *m, enum svc_stage s, double seconds)
{
    if (m && (unsigned)s < SVC_STAGE_COUNT)
        observe(&m->stage[s], seconds);
}

void svc_metrics_transform_call(struct svc_metrics *m, enum svc_tf_result r, double seconds)
{
    if (!m || (unsigned)r >= SVC_TF_COUNT)
        return;
    atomic_fetch_add_explicit(&m->tf_result[r], 1, memory_order_relaxed);
    if (r == SVC_TF_DONE)
        observe(&m->tf_latency, seconds);
}

void svc_metrics_transform_gauges(struct svc_metrics *m, int64_t in_flight, uint64_t restarts,
                                  int64_t ready)
{
    if (!m)
        return;
    atomic_store_explicit(&m->tf_in_flight, in_flight, memory_order_relaxed);
    atomic_store_explicit(&m->tf_restarts, restarts, memory_order_relaxed);
    atomic_store_explicit(&m->tf_ready, ready, memory_order_relaxed);
    atomic_store_explicit(&m->tf_on, 1, memory_order_relaxed);
}

void svc_metrics_audio_seconds(struct svc_metrics *m, double seconds)
{
    if (m && seconds > 0)
        atomic_fetch_add_explicit(&m->audio_ms, (uint64_t)(seconds * 1e3 + 0.5),
                                  memory_order_relaxed);
}

void svc_metrics_bytes(struct svc_metrics *m, int out, uint64_t n)
{
    if (m)
        atomic_fetch_add_explicit(&m->bytes[out ? 1 : 0], n, memory_order_relaxed);
}

void svc_metrics_in_flight(struct svc_metrics *m, int64_t n)
{
    if (m)
        atomic_store_explicit(&m->in_flight, n, memory_order_relaxed);
}

void svc_metrics_queue_depth(struct svc_metrics *m, int64_t n)
{
    if (m)
        atomic_store_explicit(&m->queue_depth, n, memory_order_relaxed);
}

void svc_metrics_workers_busy(struct svc_metrics *m, int64_t n)
{
    if (m)
        atomic_store_explicit(&m->workers_busy, n, memory_order_relaxed);
}

void svc_metrics_set_ready(struct svc_metrics *m, int ready)
{
    if (m)
        atomic_store_explicit(&m->ready, ready ? 1 : 0, memory_order_relaxed);
}

int svc_metrics_ready(const struct svc_metrics *m)
{
    return m ? atomic_load_explicit(&((struct svc_metrics *)m)->ready, memory_order_relaxed) : 0;
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* label: "" or "name=\"value\"," (the le label follows). */
static void render_histogram(FILE *f, const char *name, const char *label, struct histogram *h)
{
    uint64_t cum = 0, count = LOAD(h->count);
    size_t ll = strlen(label);
    for (size_t i = 0; i < N_BUCKETS; i++) {
        cum += LOAD(h->bucket[i]);
        fprintf(f, "%s_bucket{%sle=\"%g\"} %llu\n", name, label, bucket_le[i],
                (unsigned long long)cum);
    }
    if (count < cum) /* a concurrent update between the loads */
        count = cum;
    fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, label, (unsigned long long)count);
    /* _sum and _count carry the label without its trailing comma */
    fprintf(f, "%s_sum%s%.*s%s %.6f\n", name, ll ? "{" : "", ll ? (int)ll - 1 : 0, label,
            ll ? "}" : "", (double)LOAD(h->sum_us) / 1e6);
    fprintf(f, "%s_count%s%.*s%s %llu\n", name, ll ? "{" : "", ll ? (int)ll - 1 : 0, label,
            ll ? "}" : "", (unsigned long long)count);
}

int svc_metrics_render(const struct svc_metrics *cm, char **out, size_t *len)
{
    struct svc_metrics *m = (struct svc_metrics *)cm; /* atomic loads need non-const */
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (!f)
        return SVC_ENOMEM;
    fprintf(f, "# HELP wiggly_messages_total Messages handled, by outcome.\n"
               "# TYPE wiggly_messages_total counter\n");
    for (int o = 0; o < SVC_OUT_COUNT; o++)
        fprintf(f, "wiggly_messages_total{outcome=\"%s\"} %llu\n", outcome_names[o],
                (unsigned long long)LOAD(m->outcome[o]));
    fprintf(f, "# HELP wiggly_stage_seconds Time spent per message in each stage.\n"
               "# TYPE wiggly_stage_seconds histogram\n");
    for (int s = 0; s < SVC_STAGE_COUNT; s++) {
        char label[64];
        snprintf(label, sizeof(label), "stage=\"%s\",", stage_names[s]);
        render_histogram(f, "wiggly_stage_seconds", label, &m->stage[s]);
    }
    fprintf(f,
            "# HELP wiggly_audio_seconds_total Seconds of audio written.\n"
            "# TYPE wiggly_audio_seconds_total counter\n"
            "wiggly_audio_seconds_total %.3f\n",
            (double)LOAD(m->audio_ms) / 1e3);
    fprintf(f,
            "# HELP wiggly_bytes_total Bytes downloaded (in) and uploaded (out).\n"
            "# TYPE wiggly_bytes_total counter\n"
            "wiggly_bytes_total{direction=\"in\"} %llu\n"
            "wiggly_bytes_total{direction=\"out\"} %llu\n",
            (unsigned long long)LOAD(m->bytes[0]), (unsigned long long)LOAD(m->bytes[1]));
    fprintf(f,
            "# HELP wiggly_in_flight Messages currently being handled.\n"
            "# TYPE wiggly_in_flight gauge\n"
            "wiggly_in_flight %lld\n"
            "# HELP wiggly_worker_queue_depth Jobs waiting for a worker thread.\n"
            "# TYPE wiggly_worker_queue_depth gauge\n"
            "wiggly_worker_queue_depth %lld\n"
            "# HELP wiggly_workers_busy Worker threads running a job (also one whose message "
            "already timed out, until it stops at its next chunk).\n"
            "# TYPE wiggly_workers_busy gauge\n"
            "wiggly_workers_busy %lld\n",
            (long long)LOAD(m->in_flight), (long long)LOAD(m->queue_depth),
            (long long)LOAD(m->workers_busy));
    if (LOAD(m->tf_on)) {
        fprintf(f, "# HELP wiggly_transform_requests_total Requests to the transform, by result.\n"
                   "# TYPE wiggly_transform_requests_total counter\n");
        for (int r = 0; r < SVC_TF_COUNT; r++)
            fprintf(f, "wiggly_transform_requests_total{result=\"%s\"} %llu\n", tf_result_names[r],
                    (unsigned long long)LOAD(m->tf_result[r]));
        fprintf(f, "# HELP wiggly_transform_seconds Time from request to done reply.\n"
                   "# TYPE wiggly_transform_seconds histogram\n");
        render_histogram(f, "wiggly_transform_seconds", "", &m->tf_latency);
        fprintf(f,
                "# HELP wiggly_transform_in_flight Requests sent to the transform and not "
                "answered.\n"
                "# TYPE wiggly_transform_in_flight gauge\n"
                "wiggly_transform_in_flight %lld\n"
                "# HELP wiggly_transform_workers_ready Transform processes that said hello.\n"
                "# TYPE wiggly_transform_workers_ready gauge\n"
                "wiggly_transform_workers_ready %lld\n"
                "# HELP wiggly_transform_restarts_total Transform processes started again.\n"
                "# TYPE wiggly_transform_restarts_total counter\n"
                "wiggly_transform_restarts_total %llu\n",
                (long long)LOAD(m->tf_in_flight), (long long)LOAD(m->tf_ready),
                (unsigned long long)LOAD(m->tf_restarts));
    }
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return SVC_ENOMEM;
    }
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

/* ---- reading an exposition back ---- */

static int name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* One label value after its opening quote, unescaped into v (NUL-terminated,
 * cut to vsz); *pp ends after the closing quote. -1 when unterminated. */
static int label_value(const char **pp, char *v, size_t vsz)
{
    const char *p = *pp;
    size_t n = 0;

    for (; *p && *p != '"'; p++) {
        char c = *p;

        if (c == '\\') {
            p++;
            c = *p == 'n' ? '\n' : *p;
            if (!c)
                return -1;
        }
        if (n + 1 < vsz)
            v[n++] = c;
    }
    if (*p != '"')
        return -1;
    v[n] = '\0';
    *pp = p + 1;
    return 0;
}

/* A sample line: does it belong to name (and label=value), and its value. */
static int sample_match(const char *line, const char *name, const char *label, const char *value,
                        double *out)
{
    size_t nl = strlen(name);
    const char *p = line;
    int hit = label == NULL;
    char *end;

    if (strncmp(p, name, nl) != 0 || name_char(p[nl], 0))
        return 0;
    p += nl;
    if (*p == '{') {
        p++;
        while (*p == ' ')
            p++;
        while (*p != '}') {
            char k[128], v[512];
            size_t kl = 0;

            while (name_char(*p, kl == 0) && kl + 1 < sizeof k)
                k[kl++] = *p++;
            k[kl] = '\0';
            while (*p == ' ')
                p++;
            if (!kl || *p++ != '=')
                return 0;
            while (*p == ' ')
                p++;
            if (*p++ != '"' || label_value(&p, v, sizeof v) < 0)
                return 0;
            if (label && !strcmp(k, label) && !strcmp(v, value))
                hit = 1;
            while (*p == ' ')
                p++;
            if (*p == ',')
                p++;
            else if (*p != '}')
                return 0;
            while (*p == ' ')
                p++;
        }
        p++;
    }
    if (*p != ' ' && *p != '\t')
        return 0;
    *out = strtod(p, &end);
    if (end == p || (*end && *end != ' ' && *end != '\t' && *end != '\r'))
        return 0;
    return hit;
}

int svc_metrics_text_value(const char *text, size_t len, const char *name, const char *label,
                           const char *value, double *out)
{
    char line[4096];
    size_t i = 0;
    int found = 0;
    double sum = 0;

    if (!name || (label && !value))
        return SVC_EINVAL;
    while (text && i < len) {
        const char *nlp = memchr(text + i, '\n', len - i);
        size_t ll = nlp ? (size_t)(nlp - (text + i)) : len - i;
        double v;

        if (ll < sizeof line && !memchr(text + i, '\0', ll)) {
            memcpy(line, text + i, ll);
            line[ll] = '\0';
            if (line[0] != '#' && sample_match(line, name, label, value, &v)) {
                sum += v;
                found = 1;
            }
        }
        i += ll + 1;
    }
    if (!found)
        return SVC_ENOTFOUND;
    *out = sum;
    return 0;
}
