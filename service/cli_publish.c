/* cli_publish.c: `wiggly publish` (not built yet). */
#include <stdio.h>

#include "service/cli.h"

int cli_publish(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wiggly publish: not available in this build yet\n");
    return 2;
}
