/* main.c: the `wiggly` program: dispatch to one verb. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

#ifndef WIGGLY_VERSION
#define WIGGLY_VERSION "0.0.0"
#endif

struct verb {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static int cli_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("wiggly %s\n", WIGGLY_VERSION);
    return 0;
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
