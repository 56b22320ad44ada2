/* cli_run.c: `wiggly run` (not built yet). */
#include <stdio.h>

#include "service/cli.h"

int cli_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wiggly run: not available in this build yet\n");
    return 2;
}
