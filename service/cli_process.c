/* cli_process.c: `wiggly process` (not built yet). */
#include <stdio.h>

#include "service/cli.h"

int cli_process(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "wiggly process: not available in this build yet\n");
    return 2;
}
