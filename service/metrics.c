/* metrics.c: counters, gauges and histograms as relaxed C11 atomics, and
 * their Prometheus text rendering. Sums of seconds are kept in integer
 * microseconds so they can be atomic without a lock. No locks. */
#include "service/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

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
};

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

void svc_metrics_stage(struct svc_metrics *m, enum svc_stage s, double seconds)
{
    struct histogram *h;
    size_t i;
    if (!m || (unsigned)s >= SVC_STAGE_COUNT)
        return;
    if (!(seconds >= 0))
        seconds = 0;
    h = &m->stage[s];
    for (i = 0; i < N_BUCKETS && seconds > bucket_le[i]; i++)
        ;
    if (i < N_BUCKETS)
        atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(seconds * 1e6 + 0.5), memory_order_relaxed);
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
        struct histogram *h = &m->stage[s];
        uint64_t cum = 0, count = LOAD(h->count);
        for (size_t i = 0; i < N_BUCKETS; i++) {
            cum += LOAD(h->bucket[i]);
            fprintf(f, "wiggly_stage_seconds_bucket{stage=\"%s\",le=\"%g\"} %llu\n", stage_names[s],
                    bucket_le[i], (unsigned long long)cum);
        }
        if (count < cum) /* a concurrent update between the loads */
            count = cum;
        fprintf(f, "wiggly_stage_seconds_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n", stage_names[s],
                (unsigned long long)count);
        fprintf(f, "wiggly_stage_seconds_sum{stage=\"%s\"} %.6f\n", stage_names[s],
                (double)LOAD(h->sum_us) / 1e6);
        fprintf(f, "wiggly_stage_seconds_count{stage=\"%s\"} %llu\n", stage_names[s],
                (unsigned long long)count);
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
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return SVC_ENOMEM;
    }
    *out = buf;
    if (len)
        *len = n;
    return 0;
}
