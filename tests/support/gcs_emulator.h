/* gcs_emulator.h: starts and stops a real wiggly-gcs-emulator process for
 * tests. Each instance gets a fresh temporary directory (DIR/root holds the
 * state, DIR/requests.log the request log), binds an ephemeral port on
 * 127.0.0.1 and dies with the test process (PR_SET_PDEATHSIG).
 *
 * Not thread-safe: start/stop from the test's main thread. */
#ifndef WIGGLY_TESTS_GCS_EMULATOR_H
#define WIGGLY_TESTS_GCS_EMULATOR_H

#include <sys/types.h>

struct tgcs {
    pid_t pid;
    int port;
    char url[128];  /* "http://127.0.0.1:PORT", usable as STORAGE_EMULATOR_HOST */
    char root[256]; /* state directory (--root) */
    char log[256];  /* request log (--log), one line per request */
};

/* Starts the emulator. extra_args: further command-line arguments, NULL-
 * terminated, or NULL. Returns 0, or -1 with a message on stderr. */
int tgcs_start(struct tgcs *e, const char *const *extra_args);

/* Stops the process (SIGTERM, then SIGKILL after 10 s) and starts it again
 * on the same root and log with extra_args, on the same port when it can be
 * bound again (else on a new one: e->port and e->url are updated). Returns
 * 0, or -1 when the restart failed or the old process did not exit with
 * status 0. */
int tgcs_restart(struct tgcs *e, const char *const *extra_args);

/* Stops the process and removes the temporary directory. Safe on a zeroed
 * or already stopped struct. */
void tgcs_stop(struct tgcs *e);

/* Same, returning the emulator's exit status: 0 after a clean SIGTERM exit,
 * non-zero if it crashed or a sanitizer reported an error (leaks included). */
int tgcs_stop_status(struct tgcs *e);

/* Counts log lines containing every one of the (up to two, NULL to skip)
 * substrings. Returns -1 if the log cannot be read. */
int tgcs_log_count(const struct tgcs *e, const char *a, const char *b);

#endif
