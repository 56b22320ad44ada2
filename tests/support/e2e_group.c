/* e2e_group.c: see e2e_group.h. cmocka's group fixtures take no argument, so
 * the running group is kept in one file-level pointer for their duration. */
#include "support/e2e_group.h"

#include <curl/curl.h>

static struct e2e_chain_group *group; /* the group being run */

static int chain_setup(void **state)
{
    int rc;
    (void)state;
    rc = e2e_chain_start(group->e, group->ack_deadline_s, group->n_tracks, group->seconds);
    *group->skipped = rc == 1;
    return rc < 0 ? -1 : 0;
}

static int chain_teardown(void **state)
{
    (void)state;
    if (!*group->skipped)
        e2e_stop(group->e);
    return 0;
}

int e2e_chain_group_run(const char *name, const struct CMUnitTest *tests, size_t n_tests,
                        struct e2e_chain_group *g)
{
    int rc;
    group = g;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = _cmocka_run_group_tests(name, tests, n_tests, chain_setup, chain_teardown);
    curl_global_cleanup();
    group = NULL;
    return rc;
}
