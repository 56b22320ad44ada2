/* fault_proxy.h: starts and stops wiggly-fault-proxy (fault_proxy_main.c)
 * for a test: a fault-injecting HTTP/1.1 proxy on 127.0.0.1 and an
 * ephemeral port, in front of an upstream such as the Pub/Sub emulator.
 *
 * The executable is found through $WIGGLY_FAULT_PROXY, else the path cmake
 * built it at. Not thread-safe; one struct per proxy process. */
#ifndef WIGGLY_TESTS_FAULT_PROXY_H
#define WIGGLY_TESTS_FAULT_PROXY_H

#include <sys/types.h>

struct tproxy {
    pid_t pid;
    int port;
    char host[64]; /* "127.0.0.1:PORT", e.g. for PUBSUB_EMULATOR_HOST */
};

/* upstream_hostport: "127.0.0.1:PORT". extra_args: NULL or a NULL-terminated
 * list of further options ("--error-rate", "0.2", "--seed", "7", ...).
 * Returns 0 once the proxy listens, -1 (reason on stderr) otherwise. */
int tproxy_start(struct tproxy *p, const char *upstream_hostport, const char *const *extra_args);
/* SIGTERM, then SIGKILL after 5 s; safe on a struct that never started. */
void tproxy_stop(struct tproxy *p);

#endif
