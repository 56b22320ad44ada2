/* e2e_bench.c: end-to-end benchmark of `wiggly run` on loopback against the
 * official Pub/Sub emulator and wiggly-gcs-emulator, next to the audio floor
 * (bench/baseline_resample.c) measured in the same run.
 *   e2e_bench BASELINE N
 * N copies of a generated 3.5-minute 44.1 kHz stereo FLAC "music" track go
 * through a 16 kHz mono FLAC job (workers 2, max_in_flight 4), first with one
 * process, then with two on one subscription. Prints CPU seconds per track of
 * the whole service process (utime + stime from /proc/PID/stat once the queue
 * is drained) against the baseline's (wait4, median of 6), tracks per second
 * and the drain time for 1 and 2 processes, peak RSS (VmHWM) per process, and
 * the cores 100 million such tracks in 24 hours would need. Prints figures,
 * never fails on them (exit 1 only when the run itself breaks). */
/* wait4() is BSD, not POSIX. */
#define _DEFAULT_SOURCE

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "support/e2e_harness.h"

#define SECONDS 210.0

static struct e2e e;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double baseline_cpu(const char *baseline, const char *in, const char *out)
{
    char *argv[] = {(char *)baseline, (char *)in, (char *)out, "16000", NULL};
    struct rusage ru;
    int st;
    pid_t pid;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of a live process, seconds. */
static double proc_cpu(pid_t pid)
{
    char path[64], buf[2048], *p;
    unsigned long ut = 0, stime = 0;
    FILE *f;
    size_t n;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stime) != 2)
        return -1;
    return (double)(ut + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* VmHWM of a live process, MiB. */
static double proc_hwm(pid_t pid)
{
    char path[64], line[256];
    double kb = -1;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %lf kB", &kb) == 1)
            break;
    fclose(f);
    return kb / 1024.0;
}

struct run {
    int pods;
    double seconds; /* publish until the last output message */
    double cpu[2], hwm[2];
    double stage[3]; /* download, process, upload: seconds summed over pods */
    int done;
};

static int run_job(int n, int pods, const char *tag, struct run *r)
{
    struct e2e_pod p[2];
    char json[4096], topic[32], sub[32], out[32], check[48];
    int *seen = calloc((size_t)n, sizeof(*seen));
    double t0;
    if (!seen)
        return -1;
    memset(r, 0, sizeof(*r));
    r->pods = pods;
    snprintf(topic, sizeof(topic), "in-%s", tag);
    snprintf(sub, sizeof(sub), "sub-%s", tag);
    snprintf(out, sizeof(out), "out-%s", tag);
    snprintf(check, sizeof(check), "%s-check", out);
    if (tcloud_topic(e.cloud, e2e_topic(topic)) || e2e_topic_observed(&e, out) ||
        tcloud_sub(e.cloud, e2e_sub(sub), e2e_topic(topic), 60, NULL, 0) ||
        e2e_job_json(&e, json, sizeof(json), "bench", sub, "src", ".flac", out, ".flac", out,
                     "{\"channels\":\"mono\",\"rate\":16000,\"quality\":\"high\"}",
                     "{\"workers\":2,\"max_in_flight\":4,\"ack_deadline_s\":60}", "")) {
        free(seen);
        return -1;
    }
    for (int i = 0; i < pods; i++) {
        char name[32];
        snprintf(name, sizeof(name), "%s-%d", tag, i);
        if (e2e_pod_init(&e, &p[i], name, json) != 0 || e2e_pod_start(&e, &p[i]) != 0) {
            fprintf(stderr, "e2e_bench: pod %s did not start\n", name);
            free(seen);
            return -1;
        }
    }
    t0 = e2e_now();
    if (e2e_publish_range(&e, e2e_topic(topic), 0, n) != 0) {
        free(seen);
        return -1;
    }
    r->done = e2e_collect(&e, e2e_sub(check), n, 3600, seen, NULL);
    r->seconds = e2e_now() - t0;
    /* Let the last acks go out, then read the counters of the live processes. */
    e2e_sleep(1.0);
    for (int i = 0; i < pods; i++) {
        static const char *const stages[3] = {"download", "process", "upload"};
        for (int k = 0; k < 3; k++) {
            char series[96];
            snprintf(series, sizeof(series), "wiggly_stage_seconds_sum{stage=\"%s\"}", stages[k]);
            r->stage[k] += e2e_pod_metric(&p[i], series);
        }
        r->cpu[i] = proc_cpu(p[i].pid);
        r->hwm[i] = proc_hwm(p[i].pid);
        e2e_pod_stop(&p[i], SIGTERM, 120, NULL);
    }
    free(seen);
    return r->done == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *baseline;
    double bsamp[6];
    int nb = 0;
    int n, rc = 1;
    char track[600], bout[600];
    struct audio_gen_spec g = {0};
    struct audio_error err = {0};
    double base = -1, t;
    struct run one, two;
    if (argc != 3 || (n = atoi(argv[2])) <= 0) {
        fprintf(stderr, "usage: e2e_bench BASELINE N\n");
        return 2;
    }
    baseline = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (e2e_start(&e) != 0) {
        fprintf(stderr, "e2e_bench: emulators did not start\n");
        return 1;
    }
    snprintf(track, sizeof(track), "%s/track.flac", e.dir);
    snprintf(bout, sizeof(bout), "%s/baseline-out.flac", e.dir);
    g.signal = AUDIO_SIG_MUSIC;
    g.seconds = SECONDS;
    g.rate = 44100;
    g.channels = 2;
    g.seed = 1;
    if (audio_gen_file(track, &g, &err) != 0) {
        fprintf(stderr, "e2e_bench: %s\n", err.msg);
        goto out;
    }
    /* The baseline is sampled 3 times before and 3 times after the service
     * runs, so neither the emulators' start-up (JIT) nor a quiet spell
     * decides it alone; the ratio uses the median of the 6. */
    for (int i = 0; i < 3; i++)
        bsamp[nb++] = baseline_cpu(baseline, track, bout);
    t = e2e_now();
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof(name), "src/%s.flac", e2e_element(i));
        if (tcloud_upload(e.cloud, E2E_BUCKET, name, track) != 0) {
            fprintf(stderr, "e2e_bench: upload %s failed\n", name);
            goto out;
        }
    }
    printf("uploaded %d tracks in %.1f s\n", n, e2e_now() - t);
    fflush(stdout);
    if (run_job(n, 1, "p1", &one) != 0 || run_job(n, 2, "p2", &two) != 0) {
        fprintf(stderr, "e2e_bench: a run did not finish (logs in %s)\n", e.dir);
        goto out;
    }
    for (int i = 0; i < 3; i++)
        bsamp[nb++] = baseline_cpu(baseline, track, bout);
    qsort(bsamp, (size_t)nb, sizeof(bsamp[0]), cmp_double);
    if (bsamp[0] < 0) {
        fprintf(stderr, "e2e_bench: the baseline failed to run\n");
        goto out;
    }
    base = (bsamp[nb / 2 - 1] + bsamp[nb / 2]) / 2.0;
    printf("baseline_resample: %.3f s cpu per track (median of %d, 3 before and 3 after; min "
           "%.3f, max %.3f)\n",
           base, nb, bsamp[0], bsamp[nb - 1]);
    {
        double cpu1 = one.cpu[0] / n, cpu2 = (two.cpu[0] + two.cpu[1]) / n;
        printf("\n%d x 3.5-min 44.1 kHz stereo FLAC -> 16 kHz mono FLAC, wiggly run "
               "(workers 2, max_in_flight 4) on loopback emulators:\n",
               n);
        printf("  %-34s %10s %10s\n", "", "1 process", "2 processes");
        printf("  %-34s %10.3f %10.3f   (baseline %.3f)\n", "cpu s/track (whole process)", cpu1,
               cpu2, base);
        printf("  %-34s %10.2f %10.2f   (target <= 1.15)\n", "ratio to baseline", cpu1 / base,
               cpu2 / base);
        printf("  %-34s %10.2f %10.2f\n", "tracks/s", n / one.seconds, n / two.seconds);
        printf("  %-34s %10.1f %10.1f\n", "queue drain time s", one.seconds, two.seconds);
        printf("  %-34s %10.1f %6.1f/%.1f  (target <= 64)\n", "peak RSS MiB (VmHWM) per process",
               one.hwm[0], two.hwm[0], two.hwm[1]);
        printf("  %-34s %4.2f/%4.2f/%4.2f %4.2f/%4.2f/%4.2f\n", "mean s/track download/DSP/upload",
               one.stage[0] / n, one.stage[1] / n, one.stage[2] / n, two.stage[0] / n,
               two.stage[1] / n, two.stage[2] / n);
        printf("  cores for 100 million tracks in 24 h: %.0f (at %.3f cpu s/track; baseline "
               "floor %.0f)\n",
               1e8 * cpu1 / 86400.0, cpu1, 1e8 * base / 86400.0);
    }
    rc = 0;
out:
    e2e_stop(&e);
    curl_global_cleanup();
    return rc;
}
