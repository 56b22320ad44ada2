/* cli.h: the `wiggly` program (cli/), one function per verb; main.c
 * dispatches to them. Each parses its own arguments (argv[0] is the verb),
 * prints --help, and returns the process exit code: 0 success, 1 the work
 * failed, 2 bad usage. The verbs use the libraries (service/, audio/, gcp/,
 * config/); no library uses them (docs/architecture.md "Module map"). */
#ifndef WIGGLY_CLI_CLI_H
#define WIGGLY_CLI_CLI_H

#include <stddef.h>

int cli_process(int argc, char **argv);
int cli_gen(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_publish(int argc, char **argv);
int cli_verify(int argc, char **argv);
int cli_status(int argc, char **argv);
int cli_new(int argc, char **argv);
int cli_test(int argc, char **argv);
int cli_deadletters(int argc, char **argv);

struct cfg_job;
/* The job config at path, its locations checked by their storage schemes;
 * NULL after printing why (`wiggly VERB: ...`). Release: cfg_job_destroy. */
struct cfg_job *cli_job_load(const char *verb, const char *path);
/* The subscription `wiggly verify --create` makes on the job's
 * dead_letter_topic (which must be set): projects/P/topics/T ->
 * projects/P/subscriptions/T. */
void cli_dead_letter_sub(const struct cfg_job *cfg, char *out, size_t len);

#endif
