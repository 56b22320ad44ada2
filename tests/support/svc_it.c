/* svc_it.c: see svc_it.h. */
#include "support/svc_it.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support/svc_util.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int svc_it_start(struct svc_it *it)
{
    int rc;
    char url[160];
    memset(it, 0, sizeof(*it));
    rc = tpubsub_start(&it->ps);
    if (rc != 0) {
        fprintf(stderr, "svc_it: Pub/Sub emulator: %s\n", tpubsub_why());
        return rc > 0 ? 1 : -1;
    }
    if (tgcs_start(&it->gcs, NULL) != 0) {
        fprintf(stderr, "svc_it: wiggly-gcs-emulator did not start\n");
        tpubsub_stop(&it->ps);
        return -1;
    }
    setenv("PUBSUB_EMULATOR_HOST", it->ps.host, 1);
    snprintf(url, sizeof(url), "%s", it->gcs.url);
    setenv("STORAGE_EMULATOR_HOST", url, 1);
    if (svc_test_tmpdir(it->dir, sizeof(it->dir), "it") != 0 || !(it->cloud = tcloud_create()) ||
        tcloud_bucket(it->cloud, SVC_IT_BUCKET) != 0) {
        fprintf(stderr, "svc_it: setup failed\n");
        svc_it_stop(it);
        return -1;
    }
    it->started = 1;
    return 0;
}

void svc_it_stop(struct svc_it *it)
{
    tcloud_destroy(it->cloud);
    it->cloud = NULL;
    tgcs_stop(&it->gcs);
    tpubsub_stop(&it->ps);
    if (it->dir[0] && !getenv("WIGGLY_KEEP_TEST_DIR"))
        svc_test_rmtree(it->dir);
    it->started = 0;
}

int svc_it_group_setup(struct svc_it *it, int *skipped, const char *const *topics,
                       const struct svc_it_sub_spec *subs)
{
    int rc = svc_it_start(it);
    if (rc == 1) {
        *skipped = 1;
        return 1;
    }
    if (rc != 0)
        return -1;
    for (size_t i = 0; topics && topics[i]; i++)
        if (tcloud_topic(it->cloud, svc_it_topic(topics[i])) != 0)
            return -1;
    for (size_t i = 0; subs && subs[i].sub; i++)
        if (tcloud_sub(it->cloud, svc_it_sub(subs[i].sub), svc_it_topic(subs[i].topic),
                       subs[i].ack_deadline_s, NULL, 0) != 0)
            return -1;
    return 0;
}

int svc_it_group_teardown(struct svc_it *it, int skipped, struct svc_job_proc *const *jobs,
                          double limit_s)
{
    if (skipped)
        return 0;
    for (size_t i = 0; jobs && jobs[i]; i++)
        svc_it_job_stop(jobs[i], limit_s);
    svc_it_stop(it);
    return 0;
}

static const char *ring(const char *kind, const char *name)
{
    static char buf[16][256];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof(buf[k]), "projects/%s/%s/%s", SVC_IT_PROJECT, kind, name);
    return buf[k];
}

const char *svc_it_topic(const char *name)
{
    return ring("topics", name);
}

const char *svc_it_sub(const char *name)
{
    return ring("subscriptions", name);
}

int svc_it_job(struct svc_it *it, struct svc_job_proc *j, const char *name, const char *json)
{
    memset(j, 0, sizeof(*j));
    snprintf(j->name, sizeof(j->name), "%s", name);
    snprintf(j->cfg, sizeof(j->cfg), "%s/%s.json", it->dir, name);
    snprintf(j->log, sizeof(j->log), "%s/%s.log", it->dir, name);
    return svc_test_write_file(j->cfg, json, strlen(json));
}

int svc_it_job_start(struct svc_it *it, struct svc_job_proc *j)
{
    char listen[64];
    double end;
    (void)it;
    j->port = svc_test_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", j->port);
    char *argv[] = {WIGGLY_BIN, "run",          "-c",   j->cfg, "--listen",
                    listen,     "--log-format", "json", NULL};
    j->pid = svc_test_spawn(argv, j->log);
    if (j->pid <= 0)
        return -1;
    end = now() + 60;
    while (now() < end) {
        int status;
        if (svc_test_metric(j->port, "wiggly_in_flight") >= 0)
            return 0;
        if (waitpid(j->pid, &status, WNOHANG) == j->pid) {
            fprintf(stderr, "svc_it: %s exited early (see %s)\n", j->name, j->log);
            j->pid = 0;
            return -1;
        }
        svc_test_sleep(0.1);
    }
    return -1;
}

int svc_it_job_stop(struct svc_job_proc *j, double limit_s)
{
    int st = -1;
    if (j->pid > 0)
        st = svc_test_stop(j->pid, SIGTERM, limit_s);
    j->pid = 0;
    return st;
}

double svc_it_metric(const struct svc_job_proc *j, const char *series)
{
    return svc_test_metric(j->port, series);
}

int svc_it_upload_wav_to(struct svc_it *it, const char *bucket, const char *name, int rate,
                         int channels, double seconds)
{
    char p[512];
    int rc;
    snprintf(p, sizeof(p), "%s/upload-%d.wav", it->dir, (int)getpid());
    if (svc_test_write_wav(p, rate, channels, seconds, 330.0) != 0)
        return -1;
    rc = tcloud_upload(it->cloud, bucket, name, p);
    unlink(p);
    return rc;
}

int svc_it_upload_wav(struct svc_it *it, const char *name, int rate, int channels, double seconds)
{
    return svc_it_upload_wav_to(it, SVC_IT_BUCKET, name, rate, channels, seconds);
}

int svc_it_upload_wavs(struct svc_it *it, const char *prefix, int width, const char *suffix, int n,
                       int rate, int channels, double seconds)
{
    for (int i = 0; i < n; i++) {
        char name[256];
        snprintf(name, sizeof(name), "%s%0*d%s", prefix, width, i, suffix);
        if (svc_it_upload_wav(it, name, rate, channels, seconds) != 0)
            return -1;
    }
    return 0;
}

int svc_it_upload_bytes(struct svc_it *it, const char *name, const void *data, size_t len)
{
    char p[512];
    int rc;
    snprintf(p, sizeof(p), "%s/upload-%d.bin", it->dir, (int)getpid());
    if (svc_test_write_file(p, data, len) != 0)
        return -1;
    rc = tcloud_upload(it->cloud, SVC_IT_BUCKET, name, p);
    unlink(p);
    return rc;
}

int svc_it_probe(struct svc_it *it, const char *name, struct audio_info *info)
{
    char p[512];
    struct audio_error err = {0};
    int rc;
    snprintf(p, sizeof(p), "%s/probe-%d", it->dir, (int)getpid());
    rc = tcloud_download(it->cloud, SVC_IT_BUCKET, name, p);
    if (rc == 0) {
        rc = audio_probe_file(p, info, &err);
        if (rc != 0)
            fprintf(stderr, "svc_it: probe %s: %s\n", name, err.msg);
    }
    unlink(p);
    return rc;
}

int svc_it_gcs_restart(struct svc_it *it, const char *const *extra_args)
{
    tcloud_destroy(it->cloud);
    it->cloud = NULL;
    if (tgcs_restart(&it->gcs, extra_args) != 0)
        return -1;
    setenv("STORAGE_EMULATOR_HOST", it->gcs.url, 1);
    it->cloud = tcloud_create();
    return it->cloud ? 0 : -1;
}

long svc_it_gcs_log_lines(struct svc_it *it)
{
    size_t len = 0;
    long n = 0;
    char *text = svc_test_read_file(it->gcs.log, &len);
    if (!text)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n')
            n++;
    free(text);
    return n;
}

void svc_it_gcs_quiet(struct svc_it *it, double quiet_s, double limit_s)
{
    double end = now() + limit_s, since = now();
    long last = svc_it_gcs_log_lines(it);
    while (now() < end) {
        long n;
        svc_test_sleep(0.2);
        n = svc_it_gcs_log_lines(it);
        if (n != last) {
            last = n;
            since = now();
        } else if (now() - since >= quiet_s) {
            return;
        }
    }
}
