/* emu_fault.h: fault injection (statuses, dropped connections, latency) for
 * the GCS emulator. Decisions come from one seeded PRNG under a mutex, so a
 * fixed --seed gives the same sequence of decisions for the same sequence of
 * requests. Thread-safe. */
#ifndef WIGGLY_EMU_FAULT_H
#define WIGGLY_EMU_FAULT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_FAULT_DROP       0 /* close the connection without a response */
#define EMU_FAULT_NONE       (-1)
#define EMU_FAULT_CORRUPT    1 /* serve media with one byte flipped */
#define EMU_FAULT_MAX_STATUS 16

struct emu_fault {
    double rate;
    int statuses[EMU_FAULT_MAX_STATUS];
    size_t n_statuses;
    const char *route; /* borrowed; NULL = every request */
    unsigned latency_ms;
    uint64_t rng;
    pthread_mutex_t lock;
};

/* Parses "503,429,500,drop,corrupt" (statuses 100..599, "drop", "corrupt").
 * Returns 0 or -1. */
int emu_fault_parse_statuses(const char *list, int *out, size_t cap, size_t *n);

void emu_fault_init(struct emu_fault *f, uint64_t seed);
void emu_fault_cleanup(struct emu_fault *f);

/* Whether the request URI is subject to faults and latency. */
int emu_fault_applies(const struct emu_fault *f, const char *uri);

/* Draws a decision: EMU_FAULT_NONE, EMU_FAULT_DROP, EMU_FAULT_CORRUPT or an
 * HTTP status. */
int emu_fault_pick(struct emu_fault *f, const char *uri);

#endif
