/* e2e_group.h: the cmocka group of a fault-suite file whose tests run on the
 * two-job chain of e2e_harness.h (it_faults_chain.c, _crash.c, _drain.c):
 * the group set-up starts the emulators and the chain, the tear-down stops
 * them, and main() is one call. Kept apart from e2e_harness.c so that the
 * end-to-end benchmark, which shares the harness, needs no cmocka.
 *
 * One group per process; call from the test's main thread. The struct and
 * what it points to are borrowed for the whole run. */
#ifndef WIGGLY_TESTS_E2E_GROUP_H
#define WIGGLY_TESTS_E2E_GROUP_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "support/e2e_harness.h"

struct e2e_chain_group {
    struct e2e *e;      /* the file's harness */
    int *skipped;       /* set to 1 when the emulators are not installed (each
                           test then skips), else 0 */
    int ack_deadline_s; /* of A-sub and B-sub */
    int n_tracks;       /* tracks src/ID.flac uploaded */
    double seconds;     /* length of each track */
};

/* curl_global_init; the tests as one cmocka group with
 * e2e_chain_start(g->e, g->ack_deadline_s, g->n_tracks, g->seconds) as its
 * set-up (a skip is not a failure) and e2e_stop (unless skipped) as its
 * tear-down; curl_global_cleanup. Returns what cmocka_run_group_tests
 * returns. E2E_CHAIN_GROUP_RUN(tests, g) passes an array's name and size. */
int e2e_chain_group_run(const char *name, const struct CMUnitTest *tests, size_t n_tests,
                        struct e2e_chain_group *g);
#define E2E_CHAIN_GROUP_RUN(tests, g)                                                              \
    e2e_chain_group_run(#tests, (tests), sizeof(tests) / sizeof((tests)[0]), (g))

#endif
