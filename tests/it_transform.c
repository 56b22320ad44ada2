/* it_transform.c: user transforms (docs/transforms.md) end to end and on
 * every failure path, with real processes: the `wiggly` binary runs jobs
 * whose transform is tests/transforms/misbehave.py (protocol v1 spoken
 * directly, Python + NumPy), which misbehaves by element name. Outputs are
 * read back and checked against the test's own computation from the input
 * (per-channel mean and RMS, decoded here with libsndfile), outcomes from the
 * batch summary, the exit code, the log and the dead-letter topic, and
 * leftovers from /proc: every child carries a marker argument unique to its
 * job, and this process is a child subreaper, so a child wiggly did not reap
 * (or a grandchild its transform left) becomes ours, where it shows.
 *
 * One executable, four groups (one ctest entry each, run in parallel):
 *   batch    file:// batch mode: outputs, rerun skip, partial outputs, crash
 *            mid-track, garbage on fd 4, stdout flood, missing output,
 *            non-retryable and retryable errors
 *   crash    a poison element among several (transform_crashed); a hang
 *            (transform_timeout, process group killed, nothing left)
 *   startup  slow hello, no hello, a wrong protocol
 *   pubsub   the Pub/Sub and GCS emulators: outputs in GCS, the poison one
 *            on the dead-letter topic, SIGTERM during a slow track, SIGKILL
 *            of wiggly (skipped without the Pub/Sub emulator)
 * Every wait is bounded generously; the assertions are on outcomes. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <sndfile.h>

#include "gcp/error.h"
#include "support/svc_it.h"
#include "support/svc_util.h"

#define SECONDS   1.5
#define RATE      16000
#define MAX_CH    8
#define MAX_PIDS  64
#define RUN_LIMIT 180.0 /* seconds any one `wiggly run` may take before the test gives up */
#define TOL       1e-6  /* the child computes in float64 from float32 samples */

static char root[256];
static char marker_base[64];

/* ---- small helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path)
{
    char *s = svc_test_read_file(path, NULL);
    return s ? s : strdup("");
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* Lines holding `needle`; every one must also hold `also`. */
static int lines_with(const char *text, const char *needle, const char *also)
{
    int n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        const char *bol = p, *eol = strchr(p, '\n');
        char *line;
        while (bol > text && bol[-1] != '\n')
            bol--;
        line = strndup(bol, eol ? (size_t)(eol - bol) : strlen(bol));
        if (!strstr(line, also))
            fail_msg("a line with \"%s\" lacks \"%s\": %s", needle, also, line);
        free(line);
        n++;
    }
    return n;
}

/* The pids logged after `needle` and "(pid " on one line ("started ...
 * (pid N)"), or after `needle` itself when it ends in "pid ". */
static int log_pids(const char *log, const char *needle, pid_t *pids, int cap)
{
    int n = 0;
    size_t nl = strlen(needle);
    int direct = nl >= 4 && strcmp(needle + nl - 4, "pid ") == 0;
    for (const char *p = log; (p = strstr(p, needle)) != NULL && n < cap; p += nl) {
        const char *eol = strchr(p, '\n'), *q = direct ? p + nl : strstr(p, "(pid ");
        if (!q || (eol && q > eol))
            continue;
        pid_t pid = (pid_t)atoi(direct ? q : q + 5);
        int dup = 0;
        for (int i = 0; i < n; i++)
            dup |= pids[i] == pid;
        if (pid > 0 && !dup)
            pids[n++] = pid;
    }
    return n;
}

/* /proc/PID/stat: state and parent; 0, or -1 when there is no such process. */
static int proc_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[512];
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *rp = strrchr(buf, ')'); /* comm may hold spaces */
    int pp = 0;
    if (!rp || sscanf(rp + 1, " %c %d", state, &pp) != 2)
        return -1;
    *ppid = (pid_t)pp;
    return 0;
}

/* Live processes whose command line has `marker` as one argument. */
static int marked(const char *marker, pid_t *pids, int cap)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL) {
        char path[300], buf[8192];
        int fd;
        ssize_t len;
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
        if ((fd = open(path, O_RDONLY)) < 0)
            continue;
        len = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (len <= 0)
            continue; /* a zombie, or a kernel thread */
        buf[len] = '\0';
        for (ssize_t i = 0; i < len; i += (ssize_t)strlen(buf + i) + 1) {
            if (strcmp(buf + i, marker) == 0) {
                if (pids && n < cap)
                    pids[n] = (pid_t)atoi(e->d_name);
                n++;
                break;
            }
        }
    }
    closedir(d);
    return n;
}

/* Wait up to limit_s for no live process to carry the marker. */
static int wait_unmarked(const char *marker, double limit_s)
{
    double end = now_s() + limit_s;
    int n;
    while ((n = marked(marker, NULL, 0)) > 0 && now_s() < end)
        svc_test_sleep(0.1);
    return n;
}

/* A process wiggly started (pid from its log) must be gone: not alive with
 * the marker, not a zombie handed to us because wiggly exited without
 * reaping it. Then no live process may carry the marker at all. */
static void assert_nothing_left(const char *marker, const pid_t *children, int n_children)
{
    int left = wait_unmarked(marker, 15.0);
    if (left != 0) {
        pid_t pids[16];
        int n = marked(marker, pids, 16);
        for (int i = 0; i < n && i < 16; i++)
            kill(pids[i], SIGKILL);
        fail_msg("%d processes with marker %s are left (first pid %d)", left, marker,
                 n > 0 ? (int)pids[0] : -1);
    }
    for (int i = 0; i < n_children; i++) {
        char st;
        pid_t pp;
        if (proc_stat(children[i], &st, &pp) == 0 && st == 'Z' && pp == getpid()) {
            waitpid(children[i], NULL, 0);
            fail_msg("transform child %d was left a zombie: wiggly did not reap it",
                     (int)children[i]);
        }
    }
}

/* A grandchild the transform forked dies with its process group and, being
 * orphaned, is handed to us (the subreaper): reap it and say how it ended. */
static int reap_orphan(pid_t pid, double limit_s, int *status)
{
    double end = now_s() + limit_s;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 || now_s() > end)
            return -1;
        svc_test_sleep(0.05);
    }
}

/* ---- audio in, numbers out ---- */

struct expect {
    int channels;
    long frames;
    double mean[MAX_CH], rms[MAX_CH];
};

/* Decoded with libsndfile (not wiggly's chain): the mean and RMS of each
 * channel, which is what the transform must have computed when the job's
 * steps keep rate and channels. */
static void expect_of(const char *wav, struct expect *x)
{
    SF_INFO info = {0};
    SNDFILE *sf = sf_open(wav, SFM_READ, &info);
    double buf[4096 * MAX_CH], sum[MAX_CH] = {0}, sq[MAX_CH] = {0};
    sf_count_t got;
    if (!sf)
        fail_msg("%s: %s", wav, sf_strerror(NULL));
    assert_true(info.channels >= 1 && info.channels <= MAX_CH);
    x->channels = info.channels;
    x->frames = 0;
    while ((got = sf_readf_double(sf, buf, 4096)) > 0) {
        for (sf_count_t i = 0; i < got; i++)
            for (int c = 0; c < info.channels; c++) {
                double v = buf[i * info.channels + c];
                sum[c] += v;
                sq[c] += v * v;
            }
        x->frames += (long)got;
    }
    sf_close(sf);
    assert_int_equal(x->frames, (long)info.frames);
    for (int c = 0; c < x->channels; c++) {
        x->mean[c] = sum[c] / (double)x->frames;
        x->rms[c] = sqrt(sq[c] / (double)x->frames);
    }
}

/* A .npy of float64, shape (rows, cols), C order, into out. */
static void read_npy_f8(const char *path, int rows, int cols, double *out)
{
    size_t len = 0;
    char *b = svc_test_read_file(path, &len), want[64];
    if (!b)
        fail_msg("cannot read %s", path);
    if (len < 10 || memcmp(b, "\x93NUMPY\x01\x00", 8) != 0)
        fail_msg("%s is not a .npy 1.0 file", path);
    size_t hl = (size_t)(unsigned char)b[8] | (size_t)(unsigned char)b[9] << 8;
    if (10 + hl > len)
        fail_msg("%s: a header of %zu bytes in %zu", path, hl, len);
    char *h = strndup(b + 10, hl);
    snprintf(want, sizeof(want), "'shape': (%d, %d)", rows, cols);
    if (!strstr(h, "'descr': '<f8'") || !strstr(h, "'fortran_order': False") || !strstr(h, want))
        fail_msg("%s: header %s, wanted <f8, C order, %s", path, h, want);
    free(h);
    if (len - 10 - hl != (size_t)rows * (size_t)cols * sizeof(double))
        fail_msg("%s: %zu data bytes for shape (%d, %d)", path, len - 10 - hl, rows, cols);
    memcpy(out, b + 10 + hl, (size_t)rows * (size_t)cols * sizeof(double));
    free(b);
}

/* The transform's two outputs of one element, checked numerically; returns
 * the attempt and the child's pid from the summary. */
static void check_outputs(const char *stats_path, const char *summary_path, const char *element,
                          const struct expect *x, int *attempt, long *child_pid)
{
    double st[MAX_CH * 2];
    json_error_t jerr;
    json_t *j;
    read_npy_f8(stats_path, x->channels, 2, st);
    for (int c = 0; c < x->channels; c++) {
        if (fabs(st[2 * c] - x->mean[c]) > TOL || fabs(st[2 * c + 1] - x->rms[c]) > TOL)
            fail_msg("%s channel %d: mean %.9f rms %.9f, expected %.9f %.9f", element, c, st[2 * c],
                     st[2 * c + 1], x->mean[c], x->rms[c]);
    }
    /* Not a constant: the RMS of generated noise is well above zero. */
    assert_true(x->rms[0] > 0.01);
    if (!(j = json_load_file(summary_path, 0, &jerr)))
        fail_msg("%s: %s", summary_path, jerr.text);
    assert_string_equal(json_string_value(json_object_get(j, "element")), element);
    assert_int_equal(json_integer_value(json_object_get(j, "frames")), x->frames);
    assert_int_equal(json_integer_value(json_object_get(j, "channels")), x->channels);
    assert_int_equal(json_integer_value(json_object_get(j, "rate")), RATE);
    assert_string_equal(json_string_value(json_object_get(j, "protocol_env")), "1");
    if (attempt)
        *attempt = (int)json_integer_value(json_object_get(j, "attempt"));
    if (child_pid)
        *child_pid = (long)json_integer_value(json_object_get(j, "pid"));
    json_decref(j);
}

/* A noise WAV at RATE, made by `wiggly gen`; a different seed per element. */
static void gen_wav(const char *path, int channels, double seconds, int seed)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "%s gen %s --seconds %g --rate %d --channels %d --signal noise --seed %d "
             ">/dev/null",
             WIGGLY_BIN, path, seconds, RATE, channels, seed);
    if (system(cmd) != 0)
        fail_msg("%s failed", cmd);
}

/* root/in/ELEMENT.wav, once. */
static void input(const char *element, struct expect *x)
{
    char p[512];
    struct stat sb;
    unsigned seed = 7;
    for (const char *s = element; *s; s++)
        seed = seed * 31 + (unsigned char)*s;
    snprintf(p, sizeof(p), "%s/in/%s.wav", root, element);
    if (stat(p, &sb) != 0)
        gen_wav(p, 1 + (int)(seed % 2) + 1, SECONDS, (int)(seed % 100000)); /* 2 or 3 channels */
    if (x)
        expect_of(p, x);
}

/* ---- batch jobs (file://) ---- */

struct job {
    char name[32];
    char marker[96];
    char cfg[512];
    char out[512]; /* output dir */
    char tmp[512]; /* runtime.temp_dir */
    char ids[512];
    char sum[512]; /* stdout: the summary */
    char log[512]; /* stderr: the JSON log */
    pid_t pid;
    double took;
    int status;
};

/* args: extra transform.command arguments (",\"--x\",\"1\""); tf: extra
 * transform keys (",\"timeout_s\":2"); rt: runtime keys besides temp_dir
 * and workers (default max_attempts 5); top: extra top-level keys. */
static void job_init(struct job *j, const char *name, const char *args, const char *tf,
                     const char *rt, const char *top)
{
    char json[4096];
    memset(j, 0, sizeof(*j));
    snprintf(j->name, sizeof(j->name), "%s", name);
    snprintf(j->marker, sizeof(j->marker), "%s-%s", marker_base, name);
    snprintf(j->cfg, sizeof(j->cfg), "%s/%s.json", root, name);
    snprintf(j->out, sizeof(j->out), "%s/out-%s", root, name);
    snprintf(j->tmp, sizeof(j->tmp), "%s/tmp-%s", root, name);
    snprintf(j->ids, sizeof(j->ids), "%s/%s.ids", root, name);
    snprintf(j->sum, sizeof(j->sum), "%s/%s.summary.txt", root, name);
    snprintf(j->log, sizeof(j->log), "%s/%s.log", root, name);
    mkdir(j->tmp, 0777);
    snprintf(json, sizeof(json),
             "{\"job\":\"%s\",\"events\":{\"file\":\"%s\"},"
             "\"input\":{\"location\":\"file://%s/in/\",\"suffix\":\".wav\"},"
             "\"output\":{\"location\":\"file://%s/\"},"
             "\"transform\":{\"command\":[\"%s\",\"%s\",\"--marker\",\"%s\"%s],"
             "\"outputs\":{\"stats\":\".stats.npy\",\"summary\":\".summary.json\"}%s},"
             "\"runtime\":{\"workers\":2,\"temp_dir\":\"%s\"%s},"
             "\"listen\":\"\"%s}\n",
             name, j->ids, root, j->out, WIGGLY_TEST_PYTHON, WIGGLY_TF_SCRIPT, j->marker,
             args ? args : "", tf ? tf : "", j->tmp, rt ? rt : ",\"max_attempts\":5",
             top ? top : "");
    assert_int_equal(svc_test_write_file(j->cfg, json, strlen(json)), 0);
}

static void job_ids(struct job *j, const char *const *ids, size_t n)
{
    FILE *f = fopen(j->ids, "w");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s\n", ids[i]);
        input(ids[i], NULL);
    }
    fclose(f);
}

static void job_spawn(struct job *j)
{
    unlink(j->sum);
    unlink(j->log);
    j->took = now_s();
    j->pid = fork();
    assert_true(j->pid >= 0);
    if (j->pid == 0) {
        int o = open(j->sum, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(j->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int n = open("/dev/null", O_RDONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (o < 0 || e < 0 || n < 0)
            _exit(126);
        dup2(n, 0);
        dup2(o, 1);
        dup2(e, 2);
        execl(WIGGLY_BIN, WIGGLY_BIN, "run", "-c", j->cfg, (char *)NULL);
        _exit(127);
    }
}

/* 1 when it exited (status in j), 0 while running. */
static int job_poll(struct job *j)
{
    pid_t r = waitpid(j->pid, &j->status, WNOHANG);
    assert_true(r >= 0);
    if (r == j->pid) {
        j->took = now_s() - j->took;
        j->pid = 0;
        return 1;
    }
    return 0;
}

/* Wait for the exit; the exit code. */
static int job_wait(struct job *j, double limit_s)
{
    double end = now_s() + limit_s;
    while (!job_poll(j)) {
        if (now_s() > end) {
            kill(j->pid, SIGKILL);
            waitpid(j->pid, NULL, 0);
            j->pid = 0;
            fail_msg("wiggly run -c %s did not end within %.0f s (log %s)", j->cfg, limit_s,
                     j->log);
        }
        svc_test_sleep(0.05);
    }
    if (!WIFEXITED(j->status))
        fail_msg("wiggly run -c %s ended by signal %d (log %s)", j->cfg,
                 WIFSIGNALED(j->status) ? WTERMSIG(j->status) : -1, j->log);
    return WEXITSTATUS(j->status);
}

/* Run to the end; print the summary; then nothing of the transform may be
 * left and the scratch directory must be empty. The exit code. */
static int job_run(struct job *j, const char *const *ids, size_t n)
{
    int rc;
    char *s, *log;
    pid_t kids[MAX_PIDS];
    job_ids(j, ids, n);
    job_spawn(j);
    rc = job_wait(j, RUN_LIMIT);
    s = slurp(j->sum);
    printf("[%s] exit %d in %.1f s: %s", j->name, rc, j->took, s);
    free(s);
    log = slurp(j->log);
    assert_nothing_left(j->marker, kids, log_pids(log, "started ", kids, MAX_PIDS));
    free(log);
    if (svc_test_count_files(j->tmp) != 0)
        fail_msg("scratch files left in %s", j->tmp);
    return rc;
}

static void path_of(char *out, size_t n, const struct job *j, const char *element,
                    const char *suffix)
{
    snprintf(out, n, "%s/%s%s", j->out, element, suffix);
}

static void check_element(const struct job *j, const char *element, int *attempt, long *pid)
{
    char a[600], b[600];
    struct expect x;
    input(element, &x);
    path_of(a, sizeof(a), j, element, ".stats.npy");
    path_of(b, sizeof(b), j, element, ".summary.json");
    check_outputs(a, b, element, &x, attempt, pid);
}

static void assert_no_outputs(const struct job *j, const char *element)
{
    char p[600];
    path_of(p, sizeof(p), j, element, ".stats.npy");
    if (access(p, F_OK) == 0)
        fail_msg("%s exists", p);
    path_of(p, sizeof(p), j, element, ".summary.json");
    if (access(p, F_OK) == 0)
        fail_msg("%s exists", p);
}

static void assert_contains(const char *path, const char *needle)
{
    char *s = slurp(path);
    if (!strstr(s, needle))
        fail_msg("%s lacks \"%s\":\n%s", path, needle, s);
    free(s);
}

static void assert_lacks(const char *path, const char *needle)
{
    char *s = slurp(path);
    if (strstr(s, needle))
        fail_msg("%s has \"%s\":\n%s", path, needle, s);
    free(s);
}

/* A permanent failure: the summary's line, one attempt, no output. */
static void assert_failed_at_once(const struct job *j, const char *element, const char *line)
{
    char again[256];
    assert_contains(j->sum, line);
    snprintf(again, sizeof(again), "misbehave: %s attempt 2", element);
    assert_lacks(j->log, again);
    assert_no_outputs(j, element);
}

/* ---- group batch ---- */

/* N good tracks: outputs right to the last digit, features merged; a rerun
 * skips them all and touches nothing; with one of the two outputs of an
 * element deleted, the rerun writes exactly the missing one. */
static void test_outputs_rerun_partial(void **state)
{
    static const char *const ids[] = {"good/a", "good/b", "good/c", "good/d"};
    struct job j;
    char p[600], q[600], top[600];
    struct stat before[4][2], after;
    char *keep_a_summary, *keep_b_stats;
    size_t la, lb, n;
    (void)state;
    snprintf(p, sizeof(p), "%s/in/good", root);
    mkdir(p, 0777);
    snprintf(top, sizeof(top), ",\"features\":{\"enabled\":true,\"location\":\"file://%s/feat/\"}",
             root);
    job_init(&j, "good", NULL, ",\"workers\":2", NULL, top);
    assert_int_equal(job_run(&j, ids, 4), 0);
    assert_contains(j.sum, "4 tracks");
    assert_contains(j.sum, "4 processed, 0 skipped, 0 failed");
    for (int i = 0; i < 4; i++) {
        int attempt;
        json_t *f;
        struct expect x;
        check_element(&j, ids[i], &attempt, NULL);
        assert_int_equal(attempt, 1);
        /* The done reply's features are merged into the features JSON. */
        snprintf(p, sizeof(p), "%s/feat/%s.json", root, ids[i]);
        f = json_load_file(p, 0, NULL);
        assert_non_null(f);
        input(ids[i], &x);
        assert_int_equal(json_integer_value(json_object_get(f, "misbehave_frames")), x.frames);
        assert_true(fabs(json_real_value(json_object_get(f, "misbehave_rms0")) - x.rms[0]) < TOL);
        json_decref(f);
        path_of(p, sizeof(p), &j, ids[i], ".stats.npy");
        assert_int_equal(stat(p, &before[i][0]), 0);
        path_of(p, sizeof(p), &j, ids[i], ".summary.json");
        assert_int_equal(stat(p, &before[i][1]), 0);
    }

    /* Rerun: every declared output exists, so nothing is processed. */
    assert_int_equal(job_run(&j, ids, 4), 0);
    assert_contains(j.sum, "0 processed, 4 skipped, 0 failed");
    assert_lacks(j.log, "misbehave: good/"); /* no request reached a child */
    for (int i = 0; i < 4; i++) {
        path_of(p, sizeof(p), &j, ids[i], ".stats.npy");
        assert_int_equal(stat(p, &after), 0);
        assert_int_equal(after.st_ino, before[i][0].st_ino);
        assert_true(after.st_mtim.tv_sec == before[i][0].st_mtim.tv_sec &&
                    after.st_mtim.tv_nsec == before[i][0].st_mtim.tv_nsec);
    }

    /* Partial outputs: good/a loses its stats, good/b its summary (the
     * done marker). The summary holds a nonce and the child's pid, so a
     * rewrite of a kept file would show in its bytes. */
    path_of(p, sizeof(p), &j, "good/a", ".summary.json");
    keep_a_summary = svc_test_read_file(p, &la);
    path_of(q, sizeof(q), &j, "good/b", ".stats.npy");
    keep_b_stats = svc_test_read_file(q, &lb);
    assert_non_null(keep_a_summary);
    assert_non_null(keep_b_stats);
    path_of(p, sizeof(p), &j, "good/a", ".stats.npy");
    assert_int_equal(unlink(p), 0);
    path_of(p, sizeof(p), &j, "good/b", ".summary.json");
    assert_int_equal(unlink(p), 0);
    assert_int_equal(job_run(&j, ids, 4), 0);
    assert_contains(j.sum, "2 processed, 2 skipped, 0 failed");
    {
        char *s;
        path_of(p, sizeof(p), &j, "good/a", ".summary.json");
        s = svc_test_read_file(p, &n);
        assert_non_null(s);
        assert_true(n == la && memcmp(s, keep_a_summary, n) == 0);
        free(s);
        assert_int_equal(stat(p, &after), 0);
        assert_int_equal(after.st_ino, before[0][1].st_ino);
        path_of(q, sizeof(q), &j, "good/b", ".stats.npy");
        s = svc_test_read_file(q, &n);
        assert_non_null(s);
        assert_true(n == lb && memcmp(s, keep_b_stats, n) == 0);
        free(s);
        assert_int_equal(stat(q, &after), 0);
        assert_int_equal(after.st_ino, before[1][0].st_ino);
    }
    free(keep_a_summary);
    free(keep_b_stats);
    /* The missing ones are back, right: a's stats from this run (checked
     * against a summary of the first run), b's summary anew. */
    check_element(&j, "good/a", NULL, NULL);
    check_element(&j, "good/b", NULL, NULL);
    for (int i = 2; i < 4; i++) { /* c and d untouched */
        path_of(p, sizeof(p), &j, ids[i], ".summary.json");
        assert_int_equal(stat(p, &after), 0);
        assert_int_equal(after.st_ino, before[i][1].st_ino);
    }
}

/* crash-1 kills its child mid-track (after writing half an output) on its
 * first attempt: the track is retried, not acked, and completes on attempt
 * 2 in a new child; the half-written file never becomes an output. */
static void test_crash_mid_track(void **state)
{
    static const char *const ids[] = {"m0", "crash-1", "m1"};
    struct job j;
    int attempt, n;
    long pid;
    char *log;
    pid_t kids[MAX_PIDS], crashed[MAX_PIDS];
    (void)state;
    job_init(&j, "crashmid", NULL, NULL, NULL, NULL);
    assert_int_equal(job_run(&j, ids, 3), 0);
    assert_contains(j.sum, "3 processed, 0 skipped, 0 failed");
    check_element(&j, "crash-1", &attempt, &pid);
    assert_int_equal(attempt, 2);
    check_element(&j, "m0", NULL, NULL);
    check_element(&j, "m1", NULL, NULL);
    assert_contains(j.log, "exited with status 3");
    assert_contains(j.log, "attempt 1 failed (transform_crashed)");
    log = slurp(j.log);
    assert_true(log_pids(log, "started ", kids, MAX_PIDS) >= 2); /* restarted */
    /* Attempt 2 ran in a new child, not in the one that died. */
    n = log_pids(log, "misbehave: crash-1 attempt 1 pid ", crashed, MAX_PIDS);
    free(log);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++)
        assert_true(pid != (long)crashed[i]);
}

/* A line that is not JSON on fd 4: a precise protocol violation in the
 * log, the child killed and restarted, the track retried; everything
 * completes. */
static void test_garbage_on_fd4(void **state)
{
    static const char *const ids[] = {"garbage-1", "g0", "g1"};
    struct job j;
    int attempt;
    char *log;
    pid_t kids[MAX_PIDS];
    (void)state;
    job_init(&j, "garbage", NULL, NULL, NULL, NULL);
    assert_int_equal(job_run(&j, ids, 3), 0);
    assert_contains(j.sum, "3 processed, 0 skipped, 0 failed");
    assert_contains(j.log, "protocol violation, killing the worker: not JSON");
    assert_contains(j.log, "stopped (protocol violation)");
    log = slurp(j.log);
    assert_true(log_pids(log, "started ", kids, MAX_PIDS) >= 2);
    free(log);
    check_element(&j, "garbage-1", &attempt, NULL);
    assert_int_equal(attempt, 2);
    check_element(&j, "g0", NULL, NULL);
    check_element(&j, "g1", NULL, NULL);
}

/* 100000 lines on the child's stdout: they reach wiggly's log (rate
 * limited, the rest counted), never the protocol; the tracks complete. */
static void test_print_flood(void **state)
{
    static const char *const ids[] = {"flood-1", "f0"};
    struct job j;
    char *log;
    int lines;
    (void)state;
    job_init(&j, "flood", NULL, NULL, NULL, NULL);
    assert_int_equal(job_run(&j, ids, 2), 0);
    assert_contains(j.sum, "2 processed, 0 skipped, 0 failed");
    log = slurp(j.log);
    lines = count_of(log, "stdout: flood line ");
    printf("[flood] %d of 100000 stdout lines in the log\n", lines);
    assert_true(lines > 0 && lines < 100000);
    assert_non_null(strstr(log, "stdout lines dropped"));
    free(log);
    check_element(&j, "flood-1", NULL, NULL);
    check_element(&j, "f0", NULL, NULL);
}

/* done without writing: transform_output_missing at once (not retried),
 * and no output object for that element. */
static void test_missing_output(void **state)
{
    static const char *const ids[] = {"noout-1", "n0"};
    struct job j;
    (void)state;
    job_init(&j, "noout", NULL, NULL, NULL, NULL);
    assert_int_equal(job_run(&j, ids, 2), 1);
    assert_contains(j.sum, "1 processed, 0 skipped, 1 failed");
    assert_failed_at_once(&j, "noout-1",
                          "failed noout-1 [transform_output_missing] the transform said done but "
                          "its output \"stats\" is empty");
    check_element(&j, "n0", NULL, NULL);
}

/* A non-retryable error: transform_error with the child's message, one
 * attempt. A retryable one on attempt 1: retried, processed on attempt 2. */
static void test_errors(void **state)
{
    static const char *const ids[] = {"perm-1", "flaky-1"};
    struct job j;
    int attempt;
    (void)state;
    job_init(&j, "errors", NULL, NULL, NULL, NULL);
    assert_int_equal(job_run(&j, ids, 2), 1);
    assert_contains(j.sum, "1 processed, 0 skipped, 1 failed");
    assert_failed_at_once(&j, "perm-1",
                          "failed perm-1 [transform_error] transform error: misbehave: perm-1 is "
                          "permanently bad");
    assert_contains(j.log, "attempt 1 failed (transform), retrying");
    assert_contains(j.log, "misbehave: flaky-1 fails on attempt 1");
    check_element(&j, "flaky-1", &attempt, NULL);
    assert_int_equal(attempt, 2);
}

/* ---- group crash ---- */

/* One poison element among several, two tracks in flight in one child:
 * every other element completes, the poison one fails transform_crashed
 * (three crashes alone in a child), and it wrote nothing. */
static void test_poison(void **state)
{
    static const char *const ids[] = {"p0", "p1", "poison-1", "p2", "p3", "p4"};
    struct job j;
    char *log;
    pid_t kids[MAX_PIDS];
    (void)state;
    job_init(&j, "poison", NULL, ",\"workers\":1,\"max_in_flight\":2", NULL, NULL);
    assert_int_equal(job_run(&j, ids, 6), 1);
    assert_contains(j.sum, "5 processed, 0 skipped, 1 failed");
    assert_contains(j.sum, "failed poison-1 [transform_crashed] transform worker 0 exited with "
                           "status 3 with this track alone in flight (3 in a row)");
    for (int i = 0; i < 6; i++)
        if (strcmp(ids[i], "poison-1") != 0)
            check_element(&j, ids[i], NULL, NULL);
    assert_no_outputs(&j, "poison-1");
    log = slurp(j.log);
    assert_true(log_pids(log, "started ", kids, MAX_PIDS) >= 4); /* 3 crashes, 3 restarts */
    /* Only the poison one was ever blamed and retried. */
    assert_true(lines_with(log, "failed (transform_crashed)", "\"element\":\"poison-1\"") >= 2);
    free(log);
}

/* A track that hangs (ignoring SIGTERM, with a grandchild in its process
 * group): killed after timeout_s (SIGTERM, then SIGKILL), retried, failed
 * transform_timeout; the other track completes. Each dead child is reaped
 * before its replacement starts (checked while wiggly runs), and after the
 * run nothing with the marker is alive and every grandchild died of
 * SIGKILL with its group. */
static void test_hang(void **state)
{
    static const char *const ids[] = {"hang-1", "h0"};
    struct job j;
    pid_t kids[MAX_PIDS], grand[MAX_PIDS];
    int n_kids = 0, n_grand, checked = 0, exited = 0;
    double end;
    char *log;
    (void)state;
    job_init(&j, "hang", NULL, ",\"workers\":1,\"timeout_s\":2", ",\"max_attempts\":2", NULL);
    job_ids(&j, ids, 2);
    job_spawn(&j);
    end = now_s() + RUN_LIMIT;
    /* The first child's pid; once a second child has started, the first
     * must be reaped already (gone from /proc, not a zombie of wiggly's). */
    while (!exited && now_s() < end) {
        exited = job_poll(&j);
        log = slurp(j.log);
        n_kids = log_pids(log, "started ", kids, MAX_PIDS);
        free(log);
        if (n_kids >= 2 && !checked) {
            char st;
            pid_t pp;
            if (proc_stat(kids[0], &st, &pp) == 0 && (pp == j.pid || pp == getpid()))
                fail_msg("the first child (pid %d, state %c) was not reaped before its "
                         "replacement started",
                         (int)kids[0], st);
            checked = 1;
        }
        if (!exited)
            svc_test_sleep(0.05);
    }
    if (!checked)
        fail_msg("no second child started (log %s)", j.log);
    if (!exited)
        job_wait(&j, 1);
    assert_true(WIFEXITED(j.status));
    assert_int_equal(WEXITSTATUS(j.status), 1);
    {
        char *s = slurp(j.sum);
        printf("[%s] exit 1 in %.1f s: %s", j.name, j.took, s);
        free(s);
    }
    assert_contains(j.sum, "1 processed, 0 skipped, 1 failed");
    assert_contains(j.sum, "failed hang-1 [transform_timeout] the transform took longer than "
                           "timeout_s (2 s); its worker was killed");
    assert_contains(j.log, "hang-1 took longer than timeout_s (2 s): killing the worker's process "
                           "group");
    assert_contains(j.log, "stopped (timeout) and was killed by signal 9");
    assert_contains(j.log, "attempt 1 failed (transform_timeout)");
    check_element(&j, "h0", NULL, NULL);
    assert_no_outputs(&j, "hang-1");
    log = slurp(j.log);
    n_kids = log_pids(log, "started ", kids, MAX_PIDS);
    n_grand = log_pids(log, "grandchild pid ", grand, MAX_PIDS);
    free(log);
    assert_int_equal(n_grand, 2); /* one per attempt */
    assert_nothing_left(j.marker, kids, n_kids);
    for (int i = 0; i < n_grand; i++) {
        int status = 0;
        if (reap_orphan(grand[i], 15.0, &status) != 0)
            fail_msg("grandchild %d was not handed to the subreaper", (int)grand[i]);
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
    }
    assert_int_equal(svc_test_count_files(j.tmp), 0);
}

/* ---- group startup ---- */

/* A hello after 3 s, with startup_timeout_s 10: the track is processed. */
static void test_slow_startup(void **state)
{
    static const char *const ids[] = {"s0"};
    struct job j;
    char *log;
    const char *ready;
    (void)state;
    job_init(&j, "slowstart", ",\"--startup-delay\",\"3\"", ",\"startup_timeout_s\":10", NULL,
             NULL);
    assert_int_equal(job_run(&j, ids, 1), 0);
    assert_contains(j.sum, "1 processed, 0 skipped, 0 failed");
    log = slurp(j.log);
    ready = strstr(log, "transform misbehave 1 ready in ");
    assert_non_null(ready);
    assert_true(strtod(ready + strlen("transform misbehave 1 ready in "), NULL) >= 3.0);
    free(log);
    check_element(&j, "s0", NULL, NULL);
}

/* Never a hello, startup_timeout_s 2: after a bounded number of starts
 * `wiggly run` exits non-zero with the reason on stderr, nothing left. */
static void test_no_hello(void **state)
{
    static const char *const ids[] = {"s1"};
    struct job j;
    (void)state;
    job_init(&j, "nohello", ",\"--no-hello\"", ",\"startup_timeout_s\":2", NULL, NULL);
    assert_int_equal(job_run(&j, ids, 1), 1);
    assert_contains(j.log, "wiggly run: the transform cannot start: transform worker 0: 5 starts "
                           "in a row ended before hello; the last was stopped (no hello in time)");
    assert_no_outputs(&j, "s1");
}

/* Protocol 2 in the hello: exits non-zero at once (well before the 60 s
 * startup timeout could), naming the protocol. */
static void test_wrong_protocol(void **state)
{
    static const char *const ids[] = {"s2"};
    struct job j;
    (void)state;
    job_init(&j, "protocol", ",\"--protocol\",\"2\"", ",\"startup_timeout_s\":60", NULL, NULL);
    assert_int_equal(job_run(&j, ids, 1), 1);
    assert_true(j.took < 50.0);
    assert_contains(j.log, "wiggly run: the transform cannot start: the transform speaks protocol "
                           "2; this wiggly speaks protocol 1");
    assert_no_outputs(&j, "s2");
}

/* ---- group pubsub ---- */

static struct svc_it it;
static int ps_skipped;

static int ps_setup(void **state)
{
    int rc;
    (void)state;
    rc = svc_it_start(&it);
    if (rc == 1) {
        ps_skipped = 1;
        return 0;
    }
    if (rc != 0)
        return -1;
    const char *topics[] = {"tf-in", "tf-dead", "tf2-in", "tf3-in"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++)
        if (tcloud_topic(it.cloud, svc_it_topic(topics[i])) != 0)
            return -1;
    if (tcloud_sub(it.cloud, svc_it_sub("tf-sub"), svc_it_topic("tf-in"), 20, NULL, 0) ||
        tcloud_sub(it.cloud, svc_it_sub("tf-dead-check"), svc_it_topic("tf-dead"), 60, NULL, 0) ||
        tcloud_sub(it.cloud, svc_it_sub("tf2-sub"), svc_it_topic("tf2-in"), 20, NULL, 0) ||
        tcloud_sub(it.cloud, svc_it_sub("tf3-sub"), svc_it_topic("tf3-in"), 20, NULL, 0))
        return -1;
    return 0;
}

static int ps_teardown(void **state)
{
    (void)state;
    if (!ps_skipped)
        svc_it_stop(&it);
    return 0;
}

/* Upload root/in/ELEMENT.wav to gs://wbkt/src/ELEMENT.wav. */
static void ps_input(const char *element, struct expect *x)
{
    char p[512], name[256];
    input(element, x);
    snprintf(p, sizeof(p), "%s/in/%s.wav", root, element);
    snprintf(name, sizeof(name), "src/%s.wav", element);
    assert_int_equal(tcloud_upload(it.cloud, SVC_IT_BUCKET, name, p), 0);
}

static void ps_job(struct svc_job_proc *j, const char *name, const char *sub, const char *out,
                   const char *marker, const char *tf, const char *rt, const char *top)
{
    char json[4096], tmp[512];
    snprintf(tmp, sizeof(tmp), "%s/tmp-%s", root, name);
    mkdir(tmp, 0777);
    snprintf(json, sizeof(json),
             "{\"job\":\"%s\",\"project\":\"p\","
             "\"events\":{\"subscription\":\"projects/p/subscriptions/%s\"},"
             "\"input\":{\"location\":\"gs://wbkt/src/\",\"suffix\":\".wav\"},"
             "\"output\":{\"location\":\"gs://wbkt/%s/\"},"
             "\"transform\":{\"command\":[\"%s\",\"%s\",\"--marker\",\"%s\"],"
             "\"outputs\":{\"stats\":\".stats.npy\",\"summary\":\".summary.json\"}%s},"
             "\"runtime\":{\"workers\":2,\"max_in_flight\":4,\"max_attempts\":5,"
             "\"ack_deadline_s\":20,\"temp_dir\":\"%s\"%s}%s}",
             name, sub, out, WIGGLY_TEST_PYTHON, WIGGLY_TF_SCRIPT, marker, tf ? tf : "", tmp,
             rt ? rt : "", top ? top : "");
    assert_int_equal(svc_it_job(&it, j, name, json), 0);
}

static void ps_publish(const char *topic, const char *const *ids, size_t n)
{
    assert_int_equal(tcloud_publish(it.cloud, svc_it_topic(topic), ids, n), 0);
}

/* Download gs://wbkt/PREFIX/ELEMENT{.stats.npy,.summary.json} (waiting up
 * to limit_s for the summary) and check them. */
static void ps_check(const char *prefix, const char *element, double limit_s, int *attempt)
{
    char name[256], a[512], b[512];
    struct expect x;
    input(element, &x);
    snprintf(name, sizeof(name), "%s/%s.summary.json", prefix, element);
    if (tcloud_wait_object(it.cloud, SVC_IT_BUCKET, name, limit_s) != 0)
        fail_msg("gs://%s/%s did not appear within %.0f s", SVC_IT_BUCKET, name, limit_s);
    snprintf(b, sizeof(b), "%s/dl-%s-%s.summary.json", root, prefix, "x");
    assert_int_equal(tcloud_download(it.cloud, SVC_IT_BUCKET, name, b), 0);
    snprintf(name, sizeof(name), "%s/%s.stats.npy", prefix, element);
    snprintf(a, sizeof(a), "%s/dl-%s-%s.stats.npy", root, prefix, "x");
    assert_int_equal(tcloud_download(it.cloud, SVC_IT_BUCKET, name, a), 0);
    check_outputs(a, b, element, &x, attempt, NULL);
    unlink(a);
    unlink(b);
}

static void wait_log(const char *log, const char *needle, double limit_s)
{
    double end = now_s() + limit_s;
    for (;;) {
        char *s = slurp(log);
        int found = strstr(s, needle) != NULL;
        free(s);
        if (found)
            return;
        if (now_s() > end)
            fail_msg("\"%s\" did not appear in %s within %.0f s", needle, log, limit_s);
        svc_test_sleep(0.1);
    }
}

/* Good tracks' outputs land in GCS, right to the last digit; a retryable
 * error on attempt 1 is redelivered and the request then says attempt 2
 * (the subscription has no dead-letter policy, so wiggly counts); the
 * poison one reaches the dead-letter topic with
 * wiggly_reason=transform_crashed and writes nothing; SIGTERM then exits 0
 * with nothing left. */
static void test_ps_outputs_and_dead_letter(void **state)
{
    static const char *const ids[] = {"q0", "q1", "poison-q", "q2", "flaky-q", "q3"};
    struct svc_job_proc j;
    struct tmsg m[4];
    char marker[96], *log;
    int64_t gen;
    uint64_t size;
    pid_t kids[MAX_PIDS];
    int st, n_kids;
    size_t got;
    (void)state;
    if (ps_skipped)
        skip();
    memset(m, 0, sizeof(m)); /* tcloud_pull fills, tmsg_cleanup frees */
    for (size_t i = 0; i < 6; i++)
        ps_input(ids[i], NULL);
    snprintf(marker, sizeof(marker), "%s-ps", marker_base);
    ps_job(&j, "tfps", "tf-sub", "tf", marker, ",\"workers\":1,\"max_in_flight\":2",
           ",\"shutdown_grace_s\":10", ",\"dead_letter_topic\":\"projects/p/topics/tf-dead\"");
    assert_int_equal(svc_it_job_start(&it, &j), 0);
    ps_publish("tf-in", ids, 6);
    for (size_t i = 0; i < 6; i++) {
        int attempt;
        if (strcmp(ids[i], "poison-q") == 0)
            continue;
        ps_check("tf", ids[i], 120, &attempt); /* flaky-q: one redelivery, 10 s */
        assert_int_equal(attempt, strcmp(ids[i], "flaky-q") == 0 ? 2 : 1);
    }
    /* Three crashes alone in a child, two Pub/Sub redeliveries (10 s, 20 s). */
    got = tcloud_pull(it.cloud, svc_it_sub("tf-dead-check"), 1, 150, m, 4);
    assert_int_equal(got, 1);
    assert_string_equal(m[0].data, "poison-q");
    assert_string_equal(tmsg_attr(&m[0], "wiggly_reason"), "transform_crashed");
    assert_string_equal(tmsg_attr(&m[0], "wiggly_element"), "poison-q");
    assert_non_null(strstr(tmsg_attr(&m[0], "wiggly_error"), "(3 in a row)"));
    tmsg_cleanup(m, got);
    assert_int_equal(tcloud_stat(it.cloud, SVC_IT_BUCKET, "tf/poison-q.summary.json", &gen, &size),
                     GCP_ENOTFOUND);
    assert_int_equal(tcloud_stat(it.cloud, SVC_IT_BUCKET, "tf/poison-q.stats.npy", &gen, &size),
                     GCP_ENOTFOUND);
    assert_true(svc_it_metric(&j, "wiggly_messages_total{outcome=\"processed\"}") >= 5);
    st = svc_it_job_stop(&j, 60);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    log = slurp(j.log);
    n_kids = log_pids(log, "started ", kids, MAX_PIDS);
    free(log);
    assert_true(n_kids >= 4);
    assert_nothing_left(marker, kids, n_kids);
}

/* SIGTERM while a slow track is in the child: wiggly exits 0 within its
 * grace, the child is gone, no scratch file is left, and the message was
 * nacked: a second wiggly (its transform fast now) takes it and writes the
 * outputs. */
static void test_ps_sigterm_redelivers(void **state)
{
    static const char *const ids[] = {"slow-1"};
    struct svc_job_proc j, k;
    char marker[96], marker2[96], tmp[512], *log;
    pid_t kids[MAX_PIDS];
    int st, n_kids;
    double t0;
    (void)state;
    if (ps_skipped)
        skip();
    ps_input("slow-1", NULL);
    snprintf(marker, sizeof(marker), "%s-term", marker_base);
    ps_job(&j, "tfterm", "tf2-sub", "tf2", marker, ",\"params\":{\"slow_s\":120}",
           ",\"shutdown_grace_s\":4", NULL);
    assert_int_equal(svc_it_job_start(&it, &j), 0);
    ps_publish("tf2-in", ids, 1);
    wait_log(j.log, "misbehave: slow-1 attempt 1", 60);
    /* Bounded by the grace plus the 20 s that docs/deploy.md keeps between
     * it and terminationGracePeriodSeconds (past it, SIGKILL and -1). */
    t0 = now_s();
    st = svc_it_job_stop(&j, 4 + 20);
    printf("[sigterm] wiggly exited in %.1f s after SIGTERM (grace 4 s)\n", now_s() - t0);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_contains(j.log, "nacked at shutdown");
    log = slurp(j.log);
    n_kids = log_pids(log, "started ", kids, MAX_PIDS);
    free(log);
    assert_int_equal(n_kids, 1);
    assert_nothing_left(marker, kids, n_kids);
    snprintf(tmp, sizeof(tmp), "%s/tmp-tfterm", root);
    assert_int_equal(svc_test_count_files(tmp), 0);
    assert_int_equal(tcloud_stat(it.cloud, SVC_IT_BUCKET, "tf2/slow-1.summary.json", NULL, NULL),
                     GCP_ENOTFOUND);
    /* Redelivered: another wiggly on the same subscription completes it. */
    snprintf(marker2, sizeof(marker2), "%s-term2", marker_base);
    ps_job(&k, "tfterm2", "tf2-sub", "tf2", marker2, ",\"params\":{\"slow_s\":0.2}",
           ",\"shutdown_grace_s\":4", NULL);
    assert_int_equal(svc_it_job_start(&it, &k), 0);
    ps_check("tf2", "slow-1", 90, NULL);
    st = svc_it_job_stop(&k, 60);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_nothing_left(marker2, NULL, 0);
}

/* SIGKILL of wiggly with two children (one busy with a slow track): the
 * children die with it (PR_SET_PDEATHSIG) and, orphaned, are handed to us
 * dead of SIGKILL. */
static void test_ps_sigkill_children_die(void **state)
{
    static const char *const ids[] = {"slow-2"};
    struct svc_job_proc j;
    char marker[96];
    pid_t pids[16];
    int n = 0, status;
    double end;
    (void)state;
    if (ps_skipped)
        skip();
    ps_input("slow-2", NULL);
    snprintf(marker, sizeof(marker), "%s-kill", marker_base);
    ps_job(&j, "tfkill", "tf3-sub", "tf3", marker, ",\"workers\":2,\"params\":{\"slow_s\":120}",
           NULL, NULL);
    assert_int_equal(svc_it_job_start(&it, &j), 0);
    ps_publish("tf3-in", ids, 1);
    wait_log(j.log, "misbehave: slow-2 attempt 1", 60);
    end = now_s() + 60;
    while ((n = marked(marker, pids, 16)) < 2 && now_s() < end)
        svc_test_sleep(0.1);
    assert_int_equal(n, 2);
    for (int i = 0; i < n; i++) {
        char st;
        pid_t pp;
        assert_int_equal(proc_stat(pids[i], &st, &pp), 0);
        assert_int_equal(pp, j.pid); /* wiggly's own children */
    }
    assert_int_equal(kill(j.pid, SIGKILL), 0);
    assert_int_equal(waitpid(j.pid, &status, 0), j.pid);
    j.pid = 0;
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    if (wait_unmarked(marker, 15.0) != 0)
        fail_msg("the transform's children outlived a SIGKILLed wiggly");
    for (int i = 0; i < n; i++) {
        int cs = 0;
        if (reap_orphan(pids[i], 15.0, &cs) != 0)
            fail_msg("child %d was not handed to the subreaper", (int)pids[i]);
        assert_true(WIFSIGNALED(cs));
        assert_int_equal(WTERMSIG(cs), SIGKILL);
    }
}

/* ---- main ---- */

static int setup_root(void **state)
{
    char p[512];
    (void)state;
    if (svc_test_tmpdir(root, sizeof(root), "tf") != 0)
        return -1;
    snprintf(p, sizeof(p), "%s/in", root);
    return mkdir(p, 0777);
}

static int teardown_root(void **state)
{
    (void)state;
    if (!getenv("WIGGLY_KEEP_TEST_DIR"))
        svc_test_rmtree(root);
    else
        printf("kept %s\n", root);
    return 0;
}

static int group_setup_ps(void **state)
{
    return setup_root(state) != 0 ? -1 : ps_setup(state);
}

static int group_teardown_ps(void **state)
{
    ps_teardown(state);
    return teardown_root(state);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest batch[] = {
        cmocka_unit_test(test_outputs_rerun_partial), cmocka_unit_test(test_crash_mid_track),
        cmocka_unit_test(test_garbage_on_fd4),        cmocka_unit_test(test_print_flood),
        cmocka_unit_test(test_missing_output),        cmocka_unit_test(test_errors),
    };
    const struct CMUnitTest crash[] = {
        cmocka_unit_test(test_poison),
        cmocka_unit_test(test_hang),
    };
    const struct CMUnitTest startup[] = {
        cmocka_unit_test(test_slow_startup),
        cmocka_unit_test(test_no_hello),
        cmocka_unit_test(test_wrong_protocol),
    };
    const struct CMUnitTest pubsub[] = {
        cmocka_unit_test(test_ps_outputs_and_dead_letter),
        cmocka_unit_test(test_ps_sigterm_redelivers),
        cmocka_unit_test(test_ps_sigkill_children_die),
    };
    const char *group = argc > 1 ? argv[1] : "";
    char cmd[1024];
    int rc;
    if (access(WIGGLY_TEST_PYTHON, X_OK) != 0) {
        printf("it_transform: %s is not there; skipped\n", WIGGLY_TEST_PYTHON);
        return 77;
    }
    snprintf(cmd, sizeof(cmd), "%s -c 'import numpy' 2>/dev/null", WIGGLY_TEST_PYTHON);
    if (system(cmd) != 0) {
        printf("it_transform: %s has no numpy (python3-numpy); skipped\n", WIGGLY_TEST_PYTHON);
        return 77;
    }
    /* Orphans of our descendants become ours: a child wiggly did not reap,
     * or a grandchild a transform forked, shows up here. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        perror("PR_SET_CHILD_SUBREAPER");
        return 1;
    }
    snprintf(marker_base, sizeof(marker_base), "wiggly-tfit-%d", (int)getpid());
    curl_global_init(CURL_GLOBAL_DEFAULT);
    json_object_seed(0);
    if (strcmp(group, "batch") == 0)
        rc = cmocka_run_group_tests_name("transform_batch", batch, setup_root, teardown_root);
    else if (strcmp(group, "crash") == 0)
        rc = cmocka_run_group_tests_name("transform_crash", crash, setup_root, teardown_root);
    else if (strcmp(group, "startup") == 0)
        rc = cmocka_run_group_tests_name("transform_startup", startup, setup_root, teardown_root);
    else if (strcmp(group, "pubsub") == 0) {
        rc = cmocka_run_group_tests_name("transform_pubsub", pubsub, group_setup_ps,
                                         group_teardown_ps);
        if (rc == 0 && ps_skipped)
            rc = 77;
    } else {
        fprintf(stderr, "usage: it_transform batch|crash|startup|pubsub\n");
        rc = 2;
    }
    curl_global_cleanup();
    return rc;
}
