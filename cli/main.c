/* main.c: the `wiggly` program: dispatch to one verb. */
#include <stdio.h>
#include <string.h>

#include "audio/audio.h"
#include "cli/cli.h"

#ifndef WIGGLY_VERSION
#define WIGGLY_VERSION "0.0.0"
#endif

struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

/* `wiggly version [--libs]`: --libs also loads the libraries the audio side
 * opens only when a track needs them (FFmpeg, Chromaprint, aubio) and says
 * whether each loads: exit 1 when one does not (a broken image). */
static int cli_version(int argc, char **argv)
{
    int libs = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--libs")) {
            libs = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: wiggly version [--libs]\n\n"
                   "Print the version. With --libs, also load the libraries wiggly opens\n"
                   "only when a track needs them (FFmpeg for the formats libsndfile does\n"
                   "not read, Chromaprint for fingerprints, aubio for tempo and onsets)\n"
                   "and print whether each loads; exit 1 if one does not.\n");
            return 0;
        } else {
            fprintf(stderr, "wiggly version: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    printf("wiggly %s\n", WIGGLY_VERSION);
    if (!libs)
        return 0;
    char buf[2048];
    int rc = audio_lazy_report(buf, sizeof(buf));
    fputs(buf, stdout);
    return rc ? 1 : 0;
}

static const struct verb verbs[] = {
    {"run", cli_run, "run a job: pull work, process, publish downstream"},
    {"publish", cli_publish, "publish track IDs to a job's input topic"},
    {"verify", cli_verify, "check a job config and its topics and buckets (--create)"},
    {"status", cli_status, "backlog, dead letters and rates of one job or a directory of jobs"},
    {"deadletters", cli_deadletters, "summarise a job's dead letters; --replay sends them back"},
    {"process", cli_process, "process one audio file through the chain"},
    {"test", cli_test, "run a job's whole chain (and transform) on local files"},
    {"gen", cli_gen, "generate synthetic test audio"},
    {"new", cli_new, "scaffold a new job config and Kubernetes overlay"},
    {"version", cli_version, "print the version"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: wiggly VERB [options]   (wiggly VERB --help for details)\n\n"
               "Parallel audio processing on Pub/Sub, Cloud Storage and Kubernetes.\n\n"
               "verbs:\n");
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        fprintf(f, "  %-11s %s\n", verbs[i].name, verbs[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version"))
        return cli_version(0, NULL);
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (!strcmp(argv[1], verbs[i].name))
            return verbs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "wiggly: unknown verb '%s' (try wiggly --help)\n", argv[1]);
    return 2;
}
