/* audio_bench.c: CPU time and peak RSS of `wiggly process` against the
 * baseline loop (baseline_resample.c), measured on children with wait4().
 *   audio_bench WIGGLY BASELINE WORKDIR [--no-long]
 * Generates a 3.5-minute 44.1 kHz stereo FLAC "music" track, processes it to
 * 16 kHz mono FLAC three times with each program (interleaved), prints the
 * minimum CPU seconds (user + system) of each and their ratio, then the peak
 * RSS of wiggly on that track and on a 60-minute one. Prints figures, never
 * fails on them. */
/* wait4() is BSD, not POSIX: it gives one child's own rusage. */
#define _DEFAULT_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

struct usage {
    double cpu;  /* seconds, user + system */
    long rss_kb; /* peak resident set */
    int status;
};

static struct usage run(char *const argv[])
{
    struct usage u = {0, 0, -1};
    fflush(stdout); /* else the child inherits and repeats buffered output */
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    struct rusage ru;
    int st;
    if (pid < 0 || wait4(pid, &st, 0, &ru) != pid)
        return u;
    u.cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
            ru.ru_stime.tv_usec / 1e6;
    u.rss_kb = ru.ru_maxrss;
    u.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    return u;
}

static int gen(const char *wiggly, const char *out, const char *seconds)
{
    char *argv[] = {(char *)wiggly, "gen",   (char *)out,  "--seconds", (char *)seconds,
                    "--rate",       "44100", "--channels", "2",         "--signal",
                    "music",        NULL};
    struct usage u = run(argv);
    printf("generated %s (%s s): cpu %.2f s, peak rss %.1f MiB\n", out, seconds, u.cpu,
           u.rss_kb / 1024.0);
    return u.status;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: audio_bench WIGGLY BASELINE WORKDIR [--no-long]\n");
        return 2;
    }
    const char *wiggly = argv[1], *baseline = argv[2], *dir = argv[3];
    int long_track = !(argc > 4 && !strcmp(argv[4], "--no-long"));
    char track[512], out_w[512], out_b[512], long_in[512], long_out[512];
    snprintf(track, sizeof(track), "%s/track-3m30.flac", dir);
    snprintf(out_w, sizeof(out_w), "%s/out-wiggly.flac", dir);
    snprintf(out_b, sizeof(out_b), "%s/out-baseline.flac", dir);
    snprintf(long_in, sizeof(long_in), "%s/track-60m.flac", dir);
    snprintf(long_out, sizeof(long_out), "%s/out-60m.flac", dir);
    if (gen(wiggly, track, "210") != 0) {
        fprintf(stderr, "audio_bench: wiggly gen failed\n");
        return 1;
    }
    char *wargv[] = {(char *)wiggly, "process", track,       out_w,  "--rate", "16000",
                     "--channels",   "mono",    "--quality", "high", NULL};
    char *bargv[] = {(char *)baseline, track, out_b, "16000", NULL};
    double wmin = 1e30, bmin = 1e30;
    long wrss = 0, brss = 0;
    for (int i = 0; i < 3; i++) {
        struct usage w = run(wargv), b = run(bargv);
        if (w.status || b.status) {
            fprintf(stderr, "audio_bench: a run failed (wiggly %d, baseline %d)\n", w.status,
                    b.status);
            return 1;
        }
        printf("run %d: wiggly %.3f s cpu, baseline %.3f s cpu\n", i + 1, w.cpu, b.cpu);
        wmin = w.cpu < wmin ? w.cpu : wmin;
        bmin = b.cpu < bmin ? b.cpu : bmin;
        wrss = w.rss_kb > wrss ? w.rss_kb : wrss;
        brss = b.rss_kb > brss ? b.rss_kb : brss;
    }
    printf("3.5-min 44.1 kHz stereo FLAC -> 16 kHz mono FLAC, soxr high, min of 3:\n");
    printf("  wiggly   cpu %.3f s/track   peak rss %.1f MiB\n", wmin, wrss / 1024.0);
    printf("  baseline cpu %.3f s/track   peak rss %.1f MiB\n", bmin, brss / 1024.0);
    printf("  ratio wiggly/baseline %.3f (target <= 1.05)\n", wmin / bmin);
    if (long_track) {
        if (gen(wiggly, long_in, "3600") != 0)
            return 1;
        char *largv[] = {(char *)wiggly, "process", long_in,     long_out, "--rate", "16000",
                         "--channels",   "mono",    "--quality", "high",   NULL};
        struct usage l = run(largv);
        printf("60-min track: wiggly cpu %.2f s, peak rss %.1f MiB (3.5-min: %.1f MiB; target "
               "<= 16 MiB, equal)\n",
               l.cpu, l.rss_kb / 1024.0, wrss / 1024.0);
        remove(long_in);
        remove(long_out);
    }
    remove(track);
    remove(out_w);
    remove(out_b);
    return 0;
}
