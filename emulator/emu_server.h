/* emu_server.h: the GCS emulator's HTTP server (libmicrohttpd, one thread
 * per connection). start returns once the socket is bound and listening;
 * stop closes it and joins the threads. At most max_connections are open at
 * once; the server closes any further one as it arrives and logs how many it
 * refused (rate-limited). */
#ifndef WIGGLY_EMU_SERVER_H
#define WIGGLY_EMU_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "emulator/emu_fault.h"

struct emu_options {
    const char *root;
    const char *host; /* IPv4 or IPv6 literal, default 127.0.0.1 */
    int port;         /* 0 = ephemeral */
    double fault_rate;
    int fault_statuses[EMU_FAULT_MAX_STATUS];
    size_t n_fault_statuses;
    const char *fault_route;
    unsigned latency_ms;
    uint64_t seed;
    uint64_t chunk_persist_max; /* 0, or a multiple of 262144 */
    unsigned max_connections;   /* 0 = EMU_MAX_CONNECTIONS; capped by the fd limit */
    FILE *log;                  /* one line per request; borrowed */
};

/* Default cap on connections open at once. One thread per connection, so
 * this is also the thread count. A connection keeps at most two file
 * descriptors open (its socket and an upload or download file), so the cap
 * is lowered to (RLIMIT_NOFILE soft limit - EMU_FD_RESERVE) / 2; the
 * reserve covers the listening socket, the log and the short-lived files
 * the store opens under its lock. */
#define EMU_MAX_CONNECTIONS 10000
#define EMU_FD_RESERVE      64

struct emu_server;

int emu_server_start(struct emu_server **out, const struct emu_options *o, char *err,
                     size_t errcap);
int emu_server_port(const struct emu_server *s);
/* Connections open now; 0 once every request has been answered, its
 * completion run and its socket closed (tests, the fuzz harness). */
unsigned emu_server_connections(struct emu_server *s);
void emu_server_stop(struct emu_server *s);

#endif
