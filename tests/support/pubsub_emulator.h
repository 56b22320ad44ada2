/* pubsub_emulator.h: starts and stops the official Pub/Sub emulator for a
 * test executable (one process per executable).
 *
 * The script is found through $WIGGLY_PUBSUB_EMULATOR, else
 * `dpkg -L google-cloud-cli-pubsub-emulator`. It runs in its own process
 * group on 127.0.0.1 and a free ephemeral port, with a temporary data dir,
 * and is ready when GET / answers 200. tpubsub_stop kills the whole group
 * (the script spawns java) and removes the data dir. */
#ifndef WIGGLY_TESTS_PUBSUB_EMULATOR_H
#define WIGGLY_TESTS_PUBSUB_EMULATOR_H

#include <sys/types.h>

struct tpubsub {
    pid_t pid;
    int port;
    char host[64]; /* "127.0.0.1:PORT", the value for PUBSUB_EMULATOR_HOST */
    char dir[256];
};

/* 0 when running; 1 when the emulator or Java is not installed (the reason
 * is printed; tests should skip()); -1 when it failed to start. */
int tpubsub_start(struct tpubsub *e);
/* Stops and cleans up; safe on a struct that never started. */
void tpubsub_stop(struct tpubsub *e);
/* Why the last tpubsub_start returned nonzero. */
const char *tpubsub_why(void);

#endif
