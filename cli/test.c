/* test.c: `wiggly test -c JOB.json FILE... [--out DIR]`: the job's whole
 * chain on local files, no cloud (Klio's `job test` and `job profile` in
 * one verb). The job's own processor (service/processor.h: the transform
 * when the job has one, else the audio chain) runs on each file as the
 * service would run it on a downloaded input, writing every declared output
 * to DIR/ELEMENT+SUFFIX; per file it prints what was written and how long
 * each stage took, and at the end the peak RSS of wiggly and of the
 * transform's processes. Exit 1 if any file failed. */
#define _DEFAULT_SOURCE /* usleep */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "config/config.h"
#include "service/log.h"
#include "service/processor.h"
#include "service/svc_error.h"

static void test_usage(FILE *f)
{
    fprintf(f, "usage: wiggly test -c JOB.json FILE... [--out DIR] [--verbose]\n\n"
               "Run the job's whole chain on local audio files, without any cloud: decode,\n"
               "the steps (channels, rate), the transform when the job has one, and every\n"
               "output the job declares, written to DIR/ELEMENT+SUFFIX (default DIR:\n"
               "wiggly-test; ELEMENT is the file name without input.suffix or its\n"
               "extension). Prints per file what was written and how long each stage took,\n"
               "then the peak memory (RSS) of wiggly and of the transform's processes. The\n"
               "transform's errors are shown with their traceback. --verbose also shows the\n"
               "log (the transform's stdout and stderr lines). Exit 0 when every file\n"
               "succeeded, 1 when one failed, 2 on bad usage.\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The element a file stands for: its name without the job's input suffix
 * (or, failing that, its extension). */
static void element_of(const char *path, const char *suffix, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, n, "%s", base);
    size_t l = strlen(out), sl = strlen(suffix);
    if (sl && l > sl && strcmp(out + l - sl, suffix) == 0) {
        out[l - sl] = '\0';
        return;
    }
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

static void human(double bytes, char *out, size_t n)
{
    if (bytes < 1024)
        snprintf(out, n, "%.0f B", bytes);
    else if (bytes < 1024 * 1024)
        snprintf(out, n, "%.1f KiB", bytes / 1024);
    else
        snprintf(out, n, "%.1f MiB", bytes / (1024 * 1024));
}

/* Waits for a processor with a status op (a transform's hello). */
static int wait_ready(const struct svc_processor *proc, void *state, double limit_s)
{
    char why[512];
    double end = now_s() + limit_s;
    if (!proc->status)
        return 0;
    for (;;) {
        int st = proc->status(state, why, sizeof(why));
        if (st == SVC_PROC_READY)
            return 0;
        if (st == SVC_PROC_FAILED) {
            fprintf(stderr, "wiggly test: the transform cannot start: %s\n", why);
            return -1;
        }
        if (now_s() > end) {
            fprintf(stderr, "wiggly test: the transform said no hello within %.0f s\n", limit_s);
            return -1;
        }
        usleep(20000);
    }
}

static int run_one(const struct svc_processor *proc, void *state,
                   const struct svc_output_decl *outs, size_t n_outs, const struct cfg_job *cfg,
                   const char *file, const char *dir)
{
    char element[1024];
    char *paths[SVC_PROC_MAX_OUTPUTS] = {0};
    struct svc_proc_result res;
    atomic_int cancel = 0;
    int failed = 0;
    element_of(file, cfg->input.suffix ? cfg->input.suffix : "", element, sizeof(element));
    printf("%s (element %s)\n", file, element);
    if (access(file, R_OK) != 0) {
        printf("  FAILED   cannot read %s: %s\n", file, strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < n_outs; i++) {
        size_t len = strlen(dir) + strlen(element) + strlen(outs[i].suffix) + 2;
        int fd;
        if (!(paths[i] = malloc(len))) {
            printf("  FAILED   out of memory\n");
            failed = 1;
            goto out;
        }
        snprintf(paths[i], len, "%s/%s%s", dir, element, outs[i].suffix);
        if ((fd = open(paths[i], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
            printf("  FAILED   cannot create %s: %s\n", paths[i], strerror(errno));
            failed = 1;
            goto out;
        }
        close(fd);
    }
    memset(&res, 0, sizeof(res));
    struct svc_proc_track t = {.in_path = file, .element = element, .attempt = 1};
    double t0 = now_s();
    proc->run(state, &t, paths, &cancel, &res);
    double took = now_s() - t0;
    if (res.transform_s > 0)
        printf("  time     %.3f s: audio chain %.3f s, transform %.3f s\n", took, res.audio_s,
               res.transform_s);
    else
        printf("  time     %.3f s\n", took);
    if (res.code != 0) {
        enum svc_reason r = res.reason != SVC_R_NONE  ? res.reason
                            : res.retry != SVC_R_NONE ? res.retry
                                                      : proc->retry_reason;
        printf("  FAILED   [%s%s] %s\n", svc_reason_name(r),
               res.reason != SVC_R_NONE ? ", permanent" : ", a retry may help", res.msg);
        failed = 1;
        goto out;
    }
    for (size_t i = 0; i < n_outs; i++) {
        struct stat sb;
        char size[32];
        if (stat(paths[i], &sb) != 0 || sb.st_size == 0) {
            printf("  FAILED   %s is empty: the service would dead-letter it as empty_output\n",
                   paths[i]);
            failed = 1;
            continue;
        }
        human((double)sb.st_size, size, sizeof(size));
        printf("  wrote    %s (%s)\n", paths[i], size);
    }
    if (res.seconds > 0)
        printf("  audio    %.3f s after the steps\n", res.seconds);
out:
    for (size_t i = 0; i < n_outs; i++) {
        struct stat sb;
        if (failed && paths[i] && stat(paths[i], &sb) == 0 && sb.st_size == 0)
            unlink(paths[i]); /* leave no empty file behind */
        free(paths[i]);
    }
    return failed;
}

int cli_test(int argc, char **argv)
{
    const char *config = NULL, *dir = "wiggly-test";
    const char **files = calloc((size_t)argc, sizeof(char *));
    int n_files = 0, failed = 0, verbose = 0, rc = 1;
    struct cfg_job *cfg = NULL;
    void *state = NULL;
    struct svc_output_decl outs[SVC_PROC_MAX_OUTPUTS];
    size_t n_outs = 0;
    struct svc_error err = {0};
    if (!files) {
        fprintf(stderr, "wiggly test: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            test_usage(stdout);
            free(files);
            return 0;
        } else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
            config = argv[++i];
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
            verbose = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "wiggly test: unexpected argument '%s' (try wiggly test --help)\n",
                    argv[i]);
            free(files);
            return 2;
        } else {
            files[n_files++] = argv[i];
        }
    }
    if (!config || n_files == 0) {
        fprintf(stderr, "wiggly test: -c JOB.json and at least one FILE are required (try wiggly "
                        "test --help)\n");
        free(files);
        return 2;
    }
    /* warnings show what the transform printed on stderr (a traceback) */
    svc_log_init(SVC_LOG_TEXT, stderr, verbose ? SVC_INFO : SVC_WARNING);
    if (!(cfg = cli_job_load("test", config)))
        goto done;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "wiggly test: cannot create %s: %s\n", dir, strerror(errno));
        goto done;
    }
    const struct svc_processor *proc = svc_processor_for(cfg);
    struct svc_proc_env env = {.cfg = cfg};
    if (proc->create(&env, &state, outs, &n_outs, &err) != 0) {
        fprintf(stderr, "wiggly test: %s\n", err.msg);
        goto done;
    }
    printf("job %s: %s processor, %zu output%s per track, into %s/\n", cfg->name, proc->name,
           n_outs, n_outs == 1 ? "" : "s", dir);
    if (wait_ready(proc, state,
                   cfg->transform.enabled ? cfg->transform.startup_timeout_s + 1.0 : 0) != 0) {
        proc->destroy(state);
        goto done;
    }
    for (int i = 0; i < n_files; i++)
        failed += run_one(proc, state, outs, n_outs, cfg, files[i], dir);
    proc->destroy(state); /* the transform's children are reaped here */
    {
        struct rusage self, kids;
        getrusage(RUSAGE_SELF, &self);
        getrusage(RUSAGE_CHILDREN, &kids);
        printf("peak RSS: wiggly %.1f MiB", self.ru_maxrss / 1024.0);
        if (cfg->transform.enabled)
            printf(", transform %.1f MiB (its largest process)", kids.ru_maxrss / 1024.0);
        printf("\n%d of %d file%s succeeded\n", n_files - failed, n_files, n_files == 1 ? "" : "s");
    }
    rc = failed ? 1 : 0;
done:
    cfg_job_destroy(cfg);
    free(files);
    return rc;
}
